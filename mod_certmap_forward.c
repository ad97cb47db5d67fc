/*
 * mod_certmap_forward.c - sending the verified certificate and the mapped
 * account to a backend, and making sure no client can forge them.
 *
 *   CertMapForward FORMAT [HEADER]   per directory: adds the header(s) in
 *                                    fixups, after mod_ssl (renegotiation)
 *                                    and before mod_headers;
 *   CertMapForwardUser [HEADER]      the mapped account;
 *   CertMapScrubHeader NAME...       per virtual host.
 *
 * Forgery: in every virtual host where a mod_certmap directive appears,
 * post_read_request (really first: before "RequestHeader ... early",
 * mod_setenvif and everything else) removes every client-sent header of
 * the family in certmap_fwd_scrub_family, every configured header name
 * and every CertMapScrubHeader name, letter case and '-'/'_' ignored.
 * In the same virtual hosts mod_ssl's certificate variables read empty
 * through ap_ssl_var_lookup() unless the certificate verified, so neither
 * mod_proxy_ajp (which sends SSL_CLIENT_CERT whatever the verification
 * said) nor a hand-written RequestHeader passes on an unverified one; and
 * the fixups take them out of the CGI environment too.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_expr.h"

#include "apr_lib.h"
#include "apr_strings.h"

#include "mod_certmap.h"

APLOG_USE_MODULE(certmap);

#define DEFAULT_USER_HEADER "X-Remote-User"

/* Header names longer than this are never scrubbed by name (none of the
 * family is near it; configured names are refused above it). */
#define MAX_HEADER_NAME 128

/* How many certificates after the client's own are read for a chain. */
#define MAX_CHAIN 10

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

/* Fold a name into buf (see certmap_fwd_header_fold); 0 when it is too
 * long to be one we scrub. */
static int fold_into(char *buf, const char *name)
{
    apr_size_t i;

    for (i = 0; name[i] != '\0'; i++) {
        if (i == MAX_HEADER_NAME) {
            return 0;
        }
        buf[i] = name[i] == '_' ? '-' : apr_tolower(name[i]);
    }
    buf[i] = '\0';
    return 1;
}

/* Names that frame or route the request itself.  Scrubbing one would make
 * httpd read a body as the next request on the connection; filling one
 * would break the proxied request. */
static const char *const framing_headers[] = {"content-length",
                                              "transfer-encoding",
                                              "host",
                                              "connection",
                                              "keep-alive",
                                              "proxy-connection",
                                              "te",
                                              "trailer",
                                              "upgrade",
                                              "expect",
                                              "http2-settings",
                                              NULL};

/* What fills a header (a format's certificate or the account) and where
 * it was said.  One header name means one thing in a configuration,
 * whatever section fills it: a backend reading X-Remote-User must never
 * get a certificate there because a parent section forwards one. */
typedef struct header_fill {
    const char *what;
    const char *where;
} header_fill;

static apr_hash_t *fills; /* folded name -> header_fill, per config read */

static int forget_fills(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    fills = apr_hash_make(pconf);
    return OK;
}

/* Add a header name to the virtual host's scrub list. */
static const char *scrub_name(cmd_parms *cmd, const char *name)
{
    certmap_server_conf *sc = certmap_server_config(cmd->server);
    const char *folded = certmap_fwd_header_fold(cmd->pool, name);
    const char *const *f;

    if (folded == NULL) {
        return apr_psprintf(cmd->pool, "'%s' is not a valid header name", name);
    }
    if (strlen(folded) > MAX_HEADER_NAME) {
        return apr_psprintf(cmd->pool,
                            "the header name '%s' is longer than %d "
                            "characters",
                            name, MAX_HEADER_NAME);
    }
    for (f = framing_headers; *f != NULL; f++) {
        if (strcmp(folded, *f) == 0) {
            return apr_psprintf(cmd->pool,
                                "'%s' cannot be scrubbed or filled: it "
                                "frames or routes the HTTP request itself",
                                name);
        }
    }
    apr_hash_set(sc->scrub, folded, APR_HASH_KEY_STRING, folded);
    certmap_mark_server(cmd);
    return NULL;
}

/* Record that this directive fills a (valid) header with `what` ("the
 * account", "the pem certificate"); refused when another section fills
 * it with something else. */
static const char *claim_header(cmd_parms *cmd, const char *name,
                                const char *what)
{
    const char *folded = certmap_fwd_header_fold(cmd->pool, name);
    header_fill *fill = apr_hash_get(fills, folded, APR_HASH_KEY_STRING);

    if (fill == NULL) {
        fill = apr_palloc(cmd->pool, sizeof(*fill));
        fill->what = what;
        fill->where = certmap_directive_source(cmd);
        apr_hash_set(fills, folded, APR_HASH_KEY_STRING, fill);
    }
    else if (strcmp(fill->what, what) != 0) {
        return apr_psprintf(cmd->pool,
                            "the header '%s' already carries %s (%s); one "
                            "header cannot carry two things",
                            name, fill->what, fill->where);
    }
    return NULL;
}

/* Two CertMapForward lines of one section may not fill the same header. */
static const char *check_unique(cmd_parms *cmd, const certmap_dir_conf *conf,
                                const char *header)
{
    const char *folded = certmap_fwd_header_fold(cmd->temp_pool, header);
    int i;

    for (i = 0; conf->forwards && i < conf->forwards->nelts; i++) {
        const certmap_forward_spec *f =
            &APR_ARRAY_IDX(conf->forwards, i, certmap_forward_spec);
        const char *h[2] = {f->header, f->chain_header};
        int j;

        for (j = 0; j < 2; j++) {
            if (h[j] != NULL
                && strcmp(certmap_fwd_header_fold(cmd->temp_pool, h[j]), folded)
                       == 0) {
                return apr_psprintf(cmd->pool,
                                    "the header '%s' is already filled by "
                                    "CertMapForward %s in this section",
                                    header, certmap_fwd_format_name(f->format));
            }
        }
    }
    if (conf->forward_user != NULL && *conf->forward_user != '\0'
        && strcmp(certmap_fwd_header_fold(cmd->temp_pool, conf->forward_user),
                  folded)
               == 0) {
        return apr_psprintf(cmd->pool,
                            "the header '%s' is already filled by "
                            "CertMapForwardUser in this section",
                            header);
    }
    return NULL;
}

const char *certmap_cmd_forward(cmd_parms *cmd, void *dconf, const char *fmt,
                                const char *header)
{
    certmap_dir_conf *conf = dconf;
    certmap_forward_spec *spec;
    certmap_fwd_format_e format;
    const char *err;

    /* "none": an empty list, which replaces the inherited one. */
    if (strcasecmp(fmt, "none") == 0) {
        if (header != NULL || conf->forwards != NULL) {
            return certmap_cmd_error(cmd, "'none' stands alone: it turns "
                                          "off the forwarding this section "
                                          "inherits");
        }
        conf->forwards = apr_array_make(cmd->pool, 1, sizeof(*spec));
        certmap_mark_server(cmd);
        return NULL;
    }
    if (conf->forwards != NULL && conf->forwards->nelts == 0) {
        return certmap_cmd_error(cmd, "this section already says "
                                      "'CertMapForward none'");
    }
    err = certmap_fwd_format_parse(cmd->temp_pool, fmt, &format);
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    if (header == NULL) {
        header = certmap_fwd_default_header(format);
    }
    err = scrub_name(cmd, header);
    if (err == NULL) {
        err = check_unique(cmd, conf, header);
    }
    if (err == NULL) {
        err = claim_header(cmd, header,
                           apr_psprintf(cmd->pool, "the %s certificate",
                                        certmap_fwd_format_name(format)));
    }
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    if (conf->forwards == NULL) {
        conf->forwards = apr_array_make(cmd->pool, 2, sizeof(*spec));
    }
    spec = apr_array_push(conf->forwards);
    spec->format = format;
    spec->header = header;
    spec->chain_header = NULL;
    if (format == CERTMAP_FWD_RFC9440) {
        const char *chain = apr_pstrcat(cmd->pool, header, "-Chain", NULL);

        err = scrub_name(cmd, chain);
        if (err == NULL) {
            err = check_unique(cmd, conf, chain);
        }
        if (err == NULL) {
            err = claim_header(cmd, chain, "the rfc9440 certificate chain");
        }
        if (err != NULL) {
            conf->forwards->nelts--;
            return certmap_cmd_error(cmd, err);
        }
        spec->chain_header = chain;
    }
    return NULL;
}

const char *certmap_cmd_forward_user(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    certmap_dir_conf *conf = dconf;
    const char *header = ap_getword_conf(cmd->pool, &args);
    const char *err;

    if (*args != '\0') {
        return certmap_cmd_error(cmd, "takes at most one header name");
    }
    if (strcasecmp(header, "none") == 0) {
        conf->forward_user = "";
        certmap_mark_server(cmd);
        return NULL;
    }
    if (*header == '\0') {
        header = DEFAULT_USER_HEADER;
    }
    err = scrub_name(cmd, header);
    if (err == NULL) {
        /* Compare with the forwards only, not with an earlier
         * CertMapForwardUser, which this one replaces. */
        conf->forward_user = NULL;
        err = check_unique(cmd, conf, header);
    }
    if (err == NULL) {
        err = claim_header(cmd, header, "the account");
    }
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    conf->forward_user = header;
    return NULL;
}

const char *certmap_cmd_scrub(cmd_parms *cmd, void *dconf, const char *args)
{
    (void)dconf;
    if (*args == '\0') {
        return certmap_cmd_error(cmd, "takes at least one header name");
    }
    /* Split here: httpd's ITERATE would stop at an empty word and
     * silently drop the names after it. */
    while (*args != '\0') {
        const char *err =
            scrub_name(cmd, ap_getword_conf(cmd->temp_pool, &args));

        if (err != NULL) {
            return certmap_cmd_error(cmd, err);
        }
    }
    return NULL;
}

/* A section with CertMapForward lines (or "none") replaces what it
 * inherits; so does CertMapForwardUser. */
void certmap_forward_merge(apr_pool_t *p, certmap_dir_conf *conf,
                           const certmap_dir_conf *base,
                           const certmap_dir_conf *add)
{
    (void)p;
    conf->forwards = add->forwards ? add->forwards : base->forwards;
    conf->forward_user =
        add->forward_user ? add->forward_user : base->forward_user;
}

/* ------------------------------------------------------------------ */
/* Scrubbing                                                          */

static int is_scrubbed(const certmap_server_conf *sc, const char *name)
{
    char folded[MAX_HEADER_NAME + 1];

    return fold_into(folded, name)
           && apr_hash_get(sc->scrub, folded, APR_HASH_KEY_STRING) != NULL;
}

static int scrub_request(request_rec *r)
{
    const certmap_server_conf *sc = certmap_server_config(r->server);
    const apr_array_header_t *arr;
    const apr_table_entry_t *e;
    apr_array_header_t *doomed = NULL;
    int i;

    if (!sc->active) {
        return DECLINED;
    }
    arr = apr_table_elts(r->headers_in);
    e = (const apr_table_entry_t *)arr->elts;
    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && is_scrubbed(sc, e[i].key)) {
            if (doomed == NULL) {
                doomed = apr_array_make(r->pool, 2, sizeof(const char *));
            }
            APR_ARRAY_PUSH(doomed, const char *) = e[i].key;
        }
    }
    for (i = 0; doomed && i < doomed->nelts; i++) {
        const char *name = APR_ARRAY_IDX(doomed, i, const char *);

        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "CERTMAP0010: removed the client-sent request header "
                      "'%s' (certificate and identity headers come only "
                      "from mod_certmap)",
                      name);
        apr_table_unset(r->headers_in, name);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* Hiding unverified certificates from other modules                  */

/* SSL_CLIENT_* except SSL_CLIENT_VERIFY: everything mod_ssl tells about
 * the client's certificate. */
static int is_client_cert_var(const char *name)
{
    return strncmp(name, "SSL_CLIENT_", 11) == 0
           && strcmp(name + 11, "VERIFY") != 0;
}

static int client_cert_verified(request_rec *r)
{
    return certmap_verify_classify(certmap_ssl_var(r, "SSL_CLIENT_VERIFY"))
           == CERTMAP_MAPPED;
}

/* Runs before mod_ssl's own lookup: a non-NULL answer ends the lookup. */
static const char *mask_ssl_var(apr_pool_t *p, server_rec *s, conn_rec *c,
                                request_rec *r, const char *name)
{
    if (name == NULL || !is_client_cert_var(name) || certmap_in_own_lookup()) {
        return NULL;
    }
    if (r != NULL) {
        s = r->server;
        c = r->connection;
    }
    if (s == NULL || c == NULL || !certmap_server_config(s)->active
        || certmap_verify_classify(
               certmap_ssl_conn_var(p, s, c, r, "SSL_CLIENT_VERIFY"))
               == CERTMAP_MAPPED) {
        return NULL;
    }
    return "";
}

/* The same for %{SSL_CLIENT_...} in httpd expressions (<If>, Require
 * expr, RequestHeader "expr=..."), which mod_ssl answers through its
 * own expression hook rather than ap_ssl_var_lookup(). */
static const char *expr_client_var(ap_expr_eval_ctx_t *ctx, const void *data)
{
    const char *name = data;
    server_rec *s = ctx->r ? ctx->r->server : ctx->s;
    const char *value;

    if (ctx->c == NULL || s == NULL) {
        return NULL;
    }
    value = certmap_ssl_conn_var(ctx->p, s, ctx->c, ctx->r, name);
    if (value != NULL && certmap_server_config(s)->active
        && certmap_verify_classify(certmap_ssl_conn_var(
               ctx->p, s, ctx->c, ctx->r, "SSL_CLIENT_VERIFY"))
               != CERTMAP_MAPPED) {
        return "";
    }
    return value;
}

static int expr_lookup(ap_expr_lookup_parms *parms)
{
    if (parms->type == AP_EXPR_FUNC_VAR && is_client_cert_var(parms->name)) {
        *parms->func = expr_client_var;
        *parms->data = parms->name;
        return OK;
    }
    return DECLINED;
}

/* mod_ssl's fixups (SSLOptions +StdEnvVars/+ExportCertData) put the
 * certificate into the CGI environment whatever the verification said. */
static void unexport_unverified(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *doomed = NULL;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key != NULL && is_client_cert_var(e[i].key)) {
            if (doomed == NULL) {
                doomed = apr_array_make(r->pool, 8, sizeof(const char *));
            }
            APR_ARRAY_PUSH(doomed, const char *) = e[i].key;
        }
    }
    for (i = 0; doomed && i < doomed->nelts; i++) {
        apr_table_unset(r->subprocess_env,
                        APR_ARRAY_IDX(doomed, i, const char *));
    }
}

/* ------------------------------------------------------------------ */
/* Adding the headers                                                 */

/* The encoded values for one certificate, kept with it in the
 * connection cache: a keep-alive connection encodes once. */
typedef struct {
    apr_pool_t *pool; /* the connection cache's, or the request's */
    const certmap_cert_t *cert;
    int chain_read;
    apr_array_header_t *chain; /* certmap_der_t */
    const char *value[CERTMAP_FWD_FORMAT_COUNT];
    const char *chain_value;
    int chain_done;
} forward_values;

static forward_values *values_for(request_rec *r, const certmap_cert_t *cert)
{
    certmap_conn_cache *cache = certmap_connection_cache(r->connection);
    /* The cache holds the verified certificate by now; the values live
     * in its pool, which is cleared when the certificate changes. */
    int cached = cache != NULL && cache->cert == cert;
    forward_values *v;

    if (cached && cache->forward != NULL) {
        return cache->forward;
    }
    v = apr_pcalloc(cached ? cache->pool : r->pool, sizeof(*v));
    v->pool = cached ? cache->pool : r->pool;
    v->cert = cert;
    if (cached) {
        cache->forward = v;
    }
    return v;
}

/* What the client sent after its own certificate (empty on a resumed
 * TLS session: mod_ssl does not keep it). */
static const apr_array_header_t *chain_of(request_rec *r, forward_values *v)
{
    int i;

    if (v->chain_read) {
        return v->chain;
    }
    v->chain = apr_array_make(v->pool, 2, sizeof(certmap_der_t));
    for (i = 0; i < MAX_CHAIN; i++) {
        const char *pem = certmap_ssl_var(
            r, apr_psprintf(r->pool, "SSL_CLIENT_CERT_CHAIN_%d", i));
        certmap_der_t der;
        const char *err;

        if (pem == NULL || *pem == '\0') {
            break;
        }
        err = certmap_fwd_pem_to_der(v->pool, pem, strlen(pem), &der);
        if (err != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "CERTMAP0011: chain certificate %d of the client "
                          "is left out of the forwarded chain: %s",
                          i, err);
            break;
        }
        *(certmap_der_t *)apr_array_push(v->chain) = der;
    }
    v->chain_read = 1;
    return v->chain;
}

static const char *value_of(request_rec *r, forward_values *v,
                            certmap_fwd_format_e format)
{
    certmap_der_t leaf;
    const apr_array_header_t *chain = NULL;
    const char *err;

    if (v->value[format] != NULL) {
        return v->value[format];
    }
    leaf.data = v->cert->der;
    leaf.len = v->cert->der_len;
    if (format == CERTMAP_FWD_XFCC) {
        chain = chain_of(r, v);
    }
    err = certmap_fwd_encode(v->pool, format, &leaf, chain, &v->value[format]);
    if (err != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0012: cannot encode the client certificate "
                      "as %s: %s",
                      certmap_fwd_format_name(format), err);
        v->value[format] = NULL;
    }
    return v->value[format];
}

static const char *chain_value_of(request_rec *r, forward_values *v)
{
    if (!v->chain_done) {
        const char *err =
            certmap_fwd_encode_chain(v->pool, chain_of(r, v), &v->chain_value);

        if (err != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "CERTMAP0012: cannot encode the client's "
                          "certificate chain: %s",
                          err);
            v->chain_value = NULL;
        }
        v->chain_done = 1;
    }
    return v->chain_value;
}

void certmap_forward_fixups(request_rec *r, const certmap_dir_conf *conf,
                            const certmap_request_state *st)
{
    const certmap_cert_t *cert;
    int i;

    if (certmap_server_config(r->server)->active
        && ap_ssl_conn_is_ssl(r->connection) && !client_cert_verified(r)) {
        unexport_unverified(r);
    }
    if ((conf->forwards == NULL || conf->forwards->nelts == 0)
        && (conf->forward_user == NULL || *conf->forward_user == '\0')) {
        return;
    }
    cert = certmap_verified_cert(r);
    if (cert != NULL && conf->forwards != NULL) {
        forward_values *v = values_for(r, cert);

        for (i = 0; i < conf->forwards->nelts; i++) {
            const certmap_forward_spec *f =
                &APR_ARRAY_IDX(conf->forwards, i, certmap_forward_spec);
            const char *value = value_of(r, v, f->format);

            if (value != NULL) {
                apr_table_setn(r->headers_in, f->header, value);
            }
            if (f->chain_header != NULL) {
                value = chain_value_of(r, v);
                if (value != NULL) {
                    apr_table_setn(r->headers_in, f->chain_header, value);
                }
            }
        }
    }
    if (conf->forward_user != NULL && *conf->forward_user != '\0' && st != NULL
        && st->reason == CERTMAP_MAPPED && r->user != NULL
        && strcmp(r->user, st->account) == 0) {
        apr_table_setn(r->headers_in, conf->forward_user, st->account);
    }
}

void certmap_forward_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(forget_fills, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(scrub_request, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_ssl_var_lookup(mask_ssl_var, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_expr_lookup(expr_lookup, NULL, NULL, APR_HOOK_REALLY_FIRST);
}
