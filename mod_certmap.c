/*
 * mod_certmap.c - map a client certificate that mod_ssl verified to an
 * account (DOMAIN\user), the way IIS's client certificate mapping does.
 *
 * This file is the httpd glue: configuration, hooks and logging; the
 * forwarding to backends is in mod_certmap_forward.c and the rules, UPN
 * and password checks in mod_certmap_rules.c.  The mapping itself
 * (certificates, fingerprints, tables, map files) is the engine in
 * engine/ and include/, which knows nothing of httpd.
 *
 * Request flow:
 *   access checker (after mod_ssl's, which may renegotiate for a
 *   per-directory SSLVerifyClient): certificate -> table -> r->user, or
 *   403 with CERTMAP_REASON;
 *   check_authn: answers for AuthType Certificate (or none) when a
 *   Require needs a user that no certificate gave;
 *   fixups: AUTH_TYPE "Certificate" for CGI and backends, and the
 *   CertMapForward headers.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "mod_auth.h"
#include "mod_core.h"

#include "apr_optional_hooks.h"
#include "apr_strings.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mod_certmap.h"

#define CERTMAP_AUTH_TYPE "Certificate"

/* Set while this thread looks up a mod_ssl variable for mod_certmap
 * itself: the ssl_var_lookup hook of mod_certmap_forward.c, which hides
 * unverified certificates from other modules, lets these through. */
static _Thread_local int own_lookup;

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    certmap_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)dir;
    conf->layers = apr_array_make(p, 1, sizeof(const certmap_table_t *));
    conf->password = -1;
    return conf;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    certmap_dir_conf *base = basev, *add = addv;
    certmap_dir_conf *conf = apr_palloc(p, sizeof(*conf));

    conf->mode = add->mode != CERTMAP_MODE_UNSET ? add->mode : base->mode;
    conf->domain = add->domain != NULL ? add->domain : base->domain;
    conf->table = add->table;
    conf->transient = base->transient || add->transient;
    /* This runs per request for <Location> sections: share the lists
     * when one side is empty, join them (inner first) otherwise. */
    if (base->layers->nelts == 0) {
        conf->layers = add->layers;
    }
    else if (add->layers->nelts == 0) {
        conf->layers = base->layers;
    }
    else {
        conf->layers = apr_array_append(p, add->layers, base->layers);
    }
    certmap_forward_merge(p, conf, base, add);
    certmap_rules_merge(p, conf, base, add);
    certmap_ldap_merge(p, conf, base, add);
    return conf;
}

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    certmap_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    const char *const *name;

    (void)s;
    conf->scrub = apr_hash_make(p);
    for (name = certmap_fwd_scrub_family; *name != NULL; name++) {
        const char *folded = certmap_fwd_header_fold(p, *name);

        apr_hash_set(conf->scrub, folded, APR_HASH_KEY_STRING, folded);
    }
    return conf;
}

/* A virtual host scrubs what the main server scrubs, and more. */
static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    certmap_server_conf *base = basev, *add = addv;
    certmap_server_conf *conf = apr_palloc(p, sizeof(*conf));

    conf->active = base->active || add->active;
    conf->scrub = apr_hash_overlay(p, add->scrub, base->scrub);
    return conf;
}

certmap_server_conf *certmap_server_config(server_rec *s)
{
    return ap_get_module_config(s->module_config, &certmap_module);
}

void certmap_mark_server(cmd_parms *cmd)
{
    /* Not from .htaccess (parsed per request, where pool == temp_pool):
     * the server configuration is shared by every thread by then. */
    if (cmd->pool != cmd->temp_pool) {
        certmap_server_config(cmd->server)->active = 1;
    }
}

/* Where a directive stands, "file:line", for CERTMAP_MATCH. */
const char *certmap_directive_source(cmd_parms *cmd)
{
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

certmap_table_t *certmap_own_table(cmd_parms *cmd, certmap_dir_conf *conf)
{
    certmap_mark_server(cmd);
    if (conf->table == NULL) {
        conf->transient = cmd->pool == cmd->temp_pool;
        conf->table = certmap_table_make(cmd->pool);
        APR_ARRAY_PUSH(conf->layers, const certmap_table_t *) = conf->table;
    }
    return conf->table;
}

const char *certmap_cmd_error(cmd_parms *cmd, const char *err)
{
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
}

static const char *set_mode(cmd_parms *cmd, void *dconf, const char *arg)
{
    certmap_dir_conf *conf = dconf;

    certmap_mark_server(cmd);
    if (strcasecmp(arg, "On") == 0) {
        conf->mode = CERTMAP_MODE_ON;
    }
    else if (strcasecmp(arg, "Off") == 0) {
        conf->mode = CERTMAP_MODE_OFF;
    }
    else if (strcasecmp(arg, "Optional") == 0) {
        conf->mode = CERTMAP_MODE_OPTIONAL;
    }
    else {
        return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                           "must be On, Off or Optional, "
                                           "not '%s'",
                                           arg));
    }
    return NULL;
}

/* Parses its own arguments so that an explicitly empty account ("")
 * gets a sentence of its own rather than httpd's "takes two arguments". */
static const char *add_user(cmd_parms *cmd, void *dconf, const char *args)
{
    const char *spec, *account;
    certmap_key_t key;
    const char *err;

    spec = ap_getword_conf(cmd->temp_pool, &args);
    if (*spec == '\0' || *args == '\0') {
        return certmap_cmd_error(cmd, "takes a certificate and an account "
                              "(CertMapUser CERT ACCOUNT)");
    }
    account = ap_getword_conf(cmd->pool, &args);
    if (*args != '\0') {
        return certmap_cmd_error(cmd, "takes only a certificate and an account; "
                              "quote a value that contains blanks");
    }
    err = certmap_key_parse(cmd->temp_pool, spec, ap_server_root, &key);
    if (err == NULL) {
        err = certmap_account_check(cmd->temp_pool, account);
    }
    if (err == NULL) {
        certmap_table_t *t = certmap_own_table(cmd, dconf);

        err = certmap_table_add(t, &key, account,
                                certmap_directive_source(cmd));
        if (err == NULL) {
            err = certmap_table_check_key(cmd->temp_pool, t, &key, account);
        }
    }
    return err ? certmap_cmd_error(cmd, err) : NULL;
}

static const char *add_deny(cmd_parms *cmd, void *dconf, const char *spec)
{
    certmap_key_t key;
    const char *err =
        certmap_key_parse(cmd->temp_pool, spec, ap_server_root, &key);

    if (err == NULL) {
        err = certmap_table_add(certmap_own_table(cmd, dconf), &key, NULL,
                                certmap_directive_source(cmd));
    }
    return err ? certmap_cmd_error(cmd, err) : NULL;
}

static const char *set_domain(cmd_parms *cmd, void *dconf, const char *arg)
{
    certmap_dir_conf *conf = dconf;
    const char *err = certmap_domain_check(cmd->temp_pool, arg);

    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    certmap_mark_server(cmd);
    conf->domain = arg;
    return NULL;
}

static const command_rec certmap_cmds[] = {
    AP_INIT_TAKE1("CertMap", set_mode, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                  "On (every request needs a mapped certificate), Optional "
                  "(map when possible) or Off; default Off"),
    AP_INIT_RAW_ARGS("CertMapUser", add_user, NULL,
                     RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                     "CERT ACCOUNT: map one certificate (a PEM/DER file "
                     "relative to ServerRoot, sha256:HEX, sha1:HEX, "
                     "spki-sha256:HEX or an AD strong form X509:<I>..<SR>.., "
                     "X509:<SKI>HEX, X509:<SHA1-PUKEY>HEX) to DOMAIN\\user "
                     "or a bare user; no default"),
    AP_INIT_TAKE1("CertMapDeny", add_deny, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                  "CERT (any form CertMapUser takes): refuse this "
                  "certificate even where another entry maps it; no "
                  "default"),
    AP_INIT_TAKE1("CertMapDomain", set_domain, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                  "NAME: the domain given to bare accounts in this scope; "
                  "default none (bare accounts stay bare)"),
    AP_INIT_TAKE1("CertMapFile", certmap_cmd_file, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                  "PATH: a map file (relative to ServerRoot) with lines "
                  "'CERT ACCOUNT' or 'deny CERT'; compiled to a shared "
                  "index, changes take effect within seconds; no default"),
    AP_INIT_RAW_ARGS("CertMapRule", certmap_cmd_rule, NULL,
                     RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                     "EXPR ACCOUNT|deny: map (or refuse) every certificate "
                     "for which the httpd expression is true; ACCOUNT may "
                     "use %{VAR} and $1..$9; no default"),
    AP_INIT_TAKE2("CertMapUPNDomain", certmap_cmd_upn_domain, NULL,
                  RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                  "SUFFIX DOMAIN: map the certificate's UPN user@SUFFIX to "
                  "DOMAIN\\user; no default"),
    AP_INIT_FLAG("CertMapPassword", certmap_cmd_password, NULL,
                 RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                 "On: the mapped account must also give its password "
                 "(HTTP Basic, checked by AuthBasicProvider); default Off"),
    /* mod_auth_basic's directive: httpd hands it to both modules, so
     * CertMapPassword uses the providers the scope names. */
    AP_INIT_RAW_ARGS("AuthBasicProvider", certmap_cmd_basic_provider, NULL,
                     OR_AUTHCFG,
                     "PROVIDER...: also the providers that check "
                     "CertMapPassword's passwords; default file"),
    AP_INIT_TAKE12("CertMapForward", certmap_cmd_forward, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "FORMAT [HEADER]: send the verified certificate to the "
                   "backend; FORMAT rfc9440, tomcat, pem, xfcc or arr; "
                   "repeatable; default none"),
    AP_INIT_RAW_ARGS("CertMapForwardUser", certmap_cmd_forward_user, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "[HEADER]: send the mapped account to the backend "
                   "(default header X-Remote-User); 'none' turns an "
                   "inherited one off; default off"),
    AP_INIT_RAW_ARGS("CertMapScrubHeader", certmap_cmd_scrub, NULL, RSRC_CONF,
                    "NAME...: more request header names to remove from "
                    "every request of this virtual host; default none"),
    /* Never from .htaccess: its author must not point mapping at a
     * directory of their own. */
    AP_INIT_TAKE12("CertMapLDAPURL", certmap_cmd_ldap_url, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "ldap[s]://host[:port]/basedn?attr?scope?filter "
                   "[NONE|SSL|TLS|STARTTLS], or none: ask this directory "
                   "(through mod_ldap) when nothing local maps the "
                   "certificate; attr holds the account (default uid); "
                   "server config, virtual host, directory; default none"),
    AP_INIT_TAKE12("CertMapLDAPMatch", certmap_cmd_ldap_match, NULL,
                   RSRC_CONF | ACCESS_CONF,
                   "altsecid | certificate [ATTR] | fingerprint ATTR | upn "
                   "[ATTR]: how the directory entry is found; server "
                   "config, virtual host, directory; default altsecid"),
    AP_INIT_TAKE1("CertMapLDAPBindDN", certmap_cmd_ldap_bind_dn, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "DN: bind as this DN to search; server config, virtual "
                  "host, directory; default anonymous"),
    AP_INIT_TAKE1("CertMapLDAPBindPassword", certmap_cmd_ldap_bind_password,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "PASSWORD | \"exec:/path [args]\" | env:VAR: the bind "
                  "DN's password; server config, virtual host, directory; "
                  "default none"),
    AP_INIT_TAKE1("CertMapLDAPDomain", certmap_cmd_ldap_domain, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "NAME | attr:ATTRIBUTE: the domain of accounts found in "
                  "the directory; server config, virtual host, directory; "
                  "default none (CertMapDomain applies)"),
    AP_INIT_TAKE1("CertMapLDAPNegativeTTL", certmap_cmd_ldap_negative_ttl,
                  NULL, RSRC_CONF,
                  "SECONDS: how long a certificate the directory does not "
                  "know is not asked for again (0: always ask); server "
                  "config only; default 60"),
    AP_INIT_TAKE1("CertMapLDAPCache", certmap_cmd_ldap_cache, NULL, RSRC_CONF,
                  "PROVIDER[:ARGS]: the socache for the directory's negative "
                  "cache; server config only; default shmcb"),
    {NULL}};

/* ------------------------------------------------------------------ */
/* Requests                                                           */

/* The verified client certificate of this connection, parsed once per
 * distinct certificate. */
const char *certmap_ssl_conn_var(apr_pool_t *p, server_rec *s, conn_rec *c,
                                 request_rec *r, const char *name)
{
    const char *value;

    own_lookup = 1;
    value = ap_ssl_var_lookup(p, s, c, r, name);
    own_lookup = 0;
    return value;
}

int certmap_in_own_lookup(void)
{
    return own_lookup;
}

const char *certmap_ssl_var(request_rec *r, const char *name)
{
    return certmap_ssl_conn_var(r->pool, r->server, r->connection, r, name);
}

certmap_conn_cache *certmap_connection_cache(conn_rec *c)
{
    return ap_get_module_config(c->conn_config, &certmap_module);
}

static certmap_conn_cache *conn_cache(conn_rec *c)
{
    certmap_conn_cache *cache = certmap_connection_cache(c);

    if (cache == NULL) {
        cache = apr_pcalloc(c->pool, sizeof(*cache));
        apr_pool_create(&cache->pool, c->pool);
        apr_pool_tag(cache->pool, "certmap_conn_cache");
        ap_set_module_config(c->conn_config, &certmap_module, cache);
    }
    return cache;
}

/* mod_ssl's optional hook "pre_handshake" (declared in mod_ssl_openssl.h,
 * which Debian's apache2-dev does not ship) hands over each connection's
 * SSL before its handshake.  With it, a keep-alive request finds its
 * certificate by pointer instead of asking mod_ssl to write the PEM. */
static int note_ssl(conn_rec *c, SSL *ssl, int is_proxy)
{
    if (!is_proxy) {
        conn_cache(c)->ssl = ssl;
    }
    return DECLINED;
}

static apr_status_t release_x509(void *x509)
{
    X509_free(x509);
    return APR_SUCCESS;
}

static void cache_reset(certmap_conn_cache *cache)
{
    apr_pool_clear(cache->pool);
    cache->cert = NULL;
    cache->x509 = NULL;
    cache->pem = NULL;
    cache->pem_len = 0;
    cache->forward = NULL;
    cache->ldap = NULL;
    cache->dpool = NULL; /* destroyed with its parent's clear */
}

static const certmap_cert_t *cert_parsed(request_rec *r,
                                         certmap_conn_cache *cache,
                                         const char *err)
{
    if (err != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0004: cannot parse the client certificate "
                      "mod_ssl gave: %s",
                      err);
        cache->cert = NULL;
    }
    return cache->cert;
}

/* The client certificate of this connection (verified or not), parsed
 * once per distinct certificate. */
static const certmap_cert_t *connection_cert(request_rec *r)
{
    conn_rec *c = r->connection;
    certmap_conn_cache *cache = conn_cache(c);
    /* An HTTP/2 stream's TLS is its master connection's. */
    certmap_conn_cache *tls =
        c->master ? certmap_connection_cache(c->master) : cache;
    const char *pem;
    apr_size_t len;

    if (tls != NULL && tls->ssl != NULL) {
        X509 *peer = SSL_get0_peer_certificate(tls->ssl);
        const char *err;

        if (peer == NULL) {
            return NULL;
        }
        if (cache->cert != NULL && cache->x509 == peer) {
            return cache->cert;
        }
        cache_reset(cache);
        /* Straight from OpenSSL's object: decoding the DER again would
         * decode the public key again, the dearest part of a new
         * connection's work here. */
        err = certmap_cert_from_x509(cache->pool, peer, &cache->cert);
        if (err == NULL) {
            X509_up_ref(peer);
            cache->x509 = peer;
            apr_pool_cleanup_register(cache->pool, peer, release_x509,
                                      apr_pool_cleanup_null);
        }
        return cert_parsed(r, cache, err);
    }
    pem = certmap_ssl_var(r, "SSL_CLIENT_CERT");
    len = pem ? strlen(pem) : 0;
    if (len == 0) {
        return NULL;
    }
    if (cache->cert != NULL && cache->pem_len == len
        && memcmp(cache->pem, pem, len) == 0) {
        return cache->cert;
    }
    cache_reset(cache);
    if (cert_parsed(r, cache,
                    certmap_cert_from_pem(cache->pool, pem, len, &cache->cert))
        != NULL) {
        cache->pem = apr_pstrmemdup(cache->pool, pem, len);
        cache->pem_len = len;
    }
    return cache->cert;
}

/* The tables' decision, kept per connection: a keep-alive request with
 * the same certificate, the same tables and the same map-file indexes
 * (certmap_file_generation) gets the previous one without a lookup.
 * Only the tables' part is kept; rules may read the time and run on
 * every request. */
static void decide_cached(request_rec *r, const certmap_dir_conf *conf,
                          const certmap_cert_t *cert, certmap_decision_t *d)
{
    certmap_conn_cache *cache = certmap_connection_cache(r->connection);
    const apr_array_header_t *layers = conf->layers;
    apr_size_t size = sizeof(const certmap_table_t *) * layers->nelts;
    apr_uint32_t generation = certmap_file_generation();
    int cacheable = cache != NULL && cache->cert == cert && !conf->transient;

    if (cacheable && cache->dpool != NULL
        && cache->decided_generation == generation
        && cache->decided_layers->nelts == layers->nelts
        && memcmp(cache->decided_layers->elts, layers->elts, size) == 0) {
        *d = cache->decision;
        return;
    }
    certmap_decide((const certmap_table_t *const *)layers->elts,
                   layers->nelts, cert, r->pool, d);
    if (!cacheable) {
        return;
    }
    if (cache->dpool == NULL) {
        apr_pool_create(&cache->dpool, cache->pool);
    }
    else {
        apr_pool_clear(cache->dpool);
    }
    /* Copies: an account may point into an index that a reload unmaps. */
    cache->decided_layers = apr_array_copy(cache->dpool, layers);
    cache->decided_generation = generation;
    cache->decision = *d;
    cache->decision.account =
        d->account ? apr_pstrdup(cache->dpool, d->account) : NULL;
    cache->decision.source =
        d->source ? apr_pstrdup(cache->dpool, d->source) : NULL;
    cache->decision.conflict =
        d->conflict ? apr_pstrdup(cache->dpool, d->conflict) : NULL;
}

/* Decide for this request: CERTMAP_MAPPED with the decision filled in, or
 * the reason for refusing. */
static certmap_reason_e evaluate(request_rec *r, const certmap_dir_conf *conf,
                                 const certmap_cert_t **cert,
                                 certmap_decision_t *d)
{
    const char *verify;
    certmap_reason_e reason;

    *cert = NULL;
    if (!ap_ssl_conn_is_ssl(r->connection)) {
        return CERTMAP_TLS_REQUIRED;
    }
    verify = certmap_ssl_var(r, "SSL_CLIENT_VERIFY");
    reason = certmap_verify_classify(verify);
    if (reason == CERTMAP_CERT_REQUIRED) {
        return reason;
    }
    *cert = connection_cert(r);
    if (reason != CERTMAP_MAPPED) {
        return reason;
    }
    if (*cert == NULL) {
        /* Verified yet unreadable: logged above; never map it. */
        return CERTMAP_CERT_UNTRUSTED;
    }
    /* mod_ssl's verdict is kept for a resumed session or a long
     * keep-alive connection; the dates are checked on every request. */
    if (certmap_cert_out_of_date(*cert, r->request_time)) {
        return CERTMAP_CERT_EXPIRED;
    }
    decide_cached(r, conf, *cert, d);
    if (d->reason == CERTMAP_CERT_UNMAPPED && d->conflict == NULL) {
        certmap_rules_decide(r, conf, *cert, d);
    }
    /* The directory only when nothing local decided. */
    if (d->reason == CERTMAP_CERT_UNMAPPED && d->conflict == NULL
        && conf->ldap != NULL) {
        certmap_ldap_decide(r, conf, *cert, d);
    }
    return d->reason;
}

/* The reasons that come after mod_ssl verified the certificate. */
static int reason_is_verified(certmap_reason_e reason)
{
    return reason == CERTMAP_MAPPED || reason == CERTMAP_CERT_UNMAPPED
           || reason == CERTMAP_CERT_DENIED || reason == CERTMAP_CERT_MISMATCH
           || reason == CERTMAP_DIRECTORY_AMBIGUOUS
           || reason == CERTMAP_DIRECTORY_UNAVAILABLE;
}

const certmap_cert_t *certmap_verified_cert(request_rec *r)
{
    certmap_request_state *st =
        ap_get_module_config(r->request_config, &certmap_module);
    const certmap_cert_t *cert;

    if (st != NULL) {
        return reason_is_verified(st->reason) ? st->cert : NULL;
    }
    if (!ap_ssl_conn_is_ssl(r->connection)
        || certmap_verify_classify(certmap_ssl_var(r, "SSL_CLIENT_VERIFY"))
               != CERTMAP_MAPPED) {
        return NULL;
    }
    cert = connection_cert(r);
    if (cert == NULL || certmap_cert_out_of_date(cert, r->request_time)) {
        return NULL;
    }
    return cert;
}

/* 403.x with the reason; 503 when the directory could not be asked. */
static int refuse(request_rec *r, certmap_request_state *st)
{
    const char *name = certmap_reason_name(st->reason);
    int status = st->reason == CERTMAP_DIRECTORY_UNAVAILABLE
                     ? HTTP_SERVICE_UNAVAILABLE
                     : HTTP_FORBIDDEN;
    const char *code =
        status == HTTP_FORBIDDEN
            ? apr_psprintf(r->pool, "403.%d",
                           certmap_reason_iis_substatus(st->reason))
            : "503";
    const char *about = "";

    apr_table_setn(r->subprocess_env, "CERTMAP_REASON", name);
    if (st->cert != NULL) {
        about = apr_psprintf(
            r->pool, " (subject \"%s\", sha256 %s)", st->cert->subject,
            certmap_hex(r->pool, st->cert->sha256, CERTMAP_SHA256_LEN));
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "CERTMAP0001: refused %s: %s, %s (%s)%s",
                  r->uri, name,
                  certmap_reason_text(st->reason), code, about);
    /* Tell the client why, as IIS's 403.x pages do, unless the
     * administrator has an ErrorDocument for the status. */
    if (ap_response_code_string(r, ap_index_of_response(status)) == NULL) {
        const char *title = status == HTTP_FORBIDDEN ? "Forbidden"
                                                     : "Service Unavailable";
        const char *what = status == HTTP_FORBIDDEN ? "Access is denied"
                                                    : "Try again later";

        ap_custom_response(
            r, status,
            apr_psprintf(r->pool,
                         "<!DOCTYPE html>\n<html><head><title>%s "
                         "%s</title></head><body>\n<h1>%s "
                         "%s</h1>\n<p>%s: %s (%s).</p>\n</body></html>\n",
                         code, title, code, title, what,
                         certmap_reason_text(st->reason), name));
    }
    st->refused = status;
    return status;
}

static int certmap_check_access(request_rec *r)
{
    certmap_dir_conf *conf =
        ap_get_module_config(r->per_dir_config, &certmap_module);
    certmap_request_state *st;
    certmap_decision_t d = {.reason = CERTMAP_CERT_UNMAPPED};

    if (conf->mode != CERTMAP_MODE_ON && conf->mode != CERTMAP_MODE_OPTIONAL) {
        return DECLINED;
    }
    st = apr_pcalloc(r->pool, sizeof(*st));
    ap_set_module_config(r->request_config, &certmap_module, st);
    st->reason = evaluate(r, conf, &st->cert, &d);

    if (st->reason == CERTMAP_MAPPED) {
        /* Copied: an account from a CertMapFile index points into a
         * mapping that a reload unmaps after a grace period, and r->user
         * lives as long as the request (the access log reads it last). */
        st->account = certmap_account_qualify(
            r->pool, apr_pstrdup(r->pool, d.account), conf->domain);
        r->user = (char *)st->account;
        apr_table_setn(r->subprocess_env, "CERTMAP_USER", st->account);
        apr_table_setn(r->subprocess_env, "CERTMAP_DOMAIN",
                       certmap_account_domain(r->pool, st->account));
        apr_table_setn(r->subprocess_env, "CERTMAP_MATCH", d.source);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "CERTMAP0002: mapped \"%s\" to %s (%s %s)",
                      st->cert->subject, st->account, d.form, d.source);
        if (conf->password == 1) {
            int status = certmap_password_check(r, conf, st);

            if (status == HTTP_FORBIDDEN) {
                r->user = NULL;
                return refuse(r, st);
            }
            if (status != OK) {
                r->user = NULL;
                return status;
            }
        }
        return OK;
    }
    if (d.conflict != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0006: \"%s\" is mapped to two accounts in one "
                      "scope, by its %s (%s) and its %s (%s); refusing "
                      "rather than choosing",
                      st->cert->subject, d.form, d.source, d.conflict_form,
                      d.conflict);
    }
    /* An identity someone else set before us (SSLUserName reads even an
     * unverified certificate) must not outlive a failed mapping. */
    if (r->user != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "CERTMAP0005: clearing the user '%s' set before "
                      "mod_certmap (SSLUserName?): the certificate did not "
                      "map (%s)",
                      r->user,
                      certmap_reason_name(st->reason));
        r->user = NULL;
    }
    /* A deny is an explicit refusal, even where mapping is optional; so
     * are a directory's two entries for one certificate and a directory
     * that could not be asked (never anonymous by outage). */
    if (conf->mode == CERTMAP_MODE_ON || st->reason == CERTMAP_CERT_DENIED
        || st->reason == CERTMAP_DIRECTORY_AMBIGUOUS
        || st->reason == CERTMAP_DIRECTORY_UNAVAILABLE) {
        return refuse(r, st);
    }
    apr_table_setn(r->subprocess_env, "CERTMAP_REASON",
                   certmap_reason_name(st->reason));
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "CERTMAP0003: not mapped (%s); CertMap Optional lets the "
                  "request go on",
                  certmap_reason_name(st->reason));
    return DECLINED;
}

/* r->user is still the account this module mapped (no other module has
 * replaced it since). */
static int user_is_mapped(const request_rec *r, const certmap_request_state *st)
{
    return st->reason == CERTMAP_MAPPED && r->user != NULL
           && strcmp(r->user, st->account) == 0;
}

/* Runs when a Require needs a user the access checker did not give.
 * Under AuthType Certificate (or none), no other module will
 * authenticate: answer 403 with the reason instead of httpd's 500. */
static int certmap_check_authn(request_rec *r)
{
    /* Present only where the access checker ran, i.e. CertMap is On or
     * Optional here. */
    certmap_request_state *st =
        ap_get_module_config(r->request_config, &certmap_module);
    const char *type = ap_auth_type(r);

    if (st == NULL) {
        return DECLINED;
    }
    if (st->password_status != 0) {
        return st->password_status;
    }
    if (type != NULL && strcasecmp(type, CERTMAP_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    if (user_is_mapped(r, st)) {
        return OK;
    }
    return refuse(r, st);
}

/* The auth type is set after authorization: with it set, mod_authz_core
 * would answer a mapped user that a Require refuses with 401, which asks
 * for credentials a certificate user cannot give; 403 is right. */
static int certmap_fixups(request_rec *r)
{
    certmap_request_state *st =
        ap_get_module_config(r->request_config, &certmap_module);

    /* Under "Satisfy Any" httpd lets a Require grant what the access
     * checker refused; CertMap On and CertMapDeny are not negotiable. */
    if (st != NULL && st->refused) {
        return st->refused;
    }
    if (st != NULL && st->password_status != 0) {
        return st->password_status;
    }

    if (st != NULL && user_is_mapped(r, st)) {
        r->ap_auth_type = CERTMAP_AUTH_TYPE;
    }
    certmap_forward_fixups(
        r, ap_get_module_config(r->per_dir_config, &certmap_module), st);
    return DECLINED;
}

static void certmap_register_hooks(apr_pool_t *p)
{
    /* After mod_ssl's access hook, which renegotiates or asks for a
     * post-handshake certificate for a per-directory SSLVerifyClient. */
    static const char *const after_ssl[] = {"mod_ssl.c", NULL};

    apr_optional_hook_add("pre_handshake", (void (*)(void))note_ssl, NULL, NULL,
                          APR_HOOK_MIDDLE);
    ap_hook_check_access(certmap_check_access, after_ssl, NULL, APR_HOOK_MIDDLE,
                         AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(certmap_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    /* After mod_ssl's fixups, which export SSL_* variables to CGI. */
    ap_hook_fixups(certmap_fixups, after_ssl, NULL, APR_HOOK_MIDDLE);
    certmap_forward_register_hooks(p);
    certmap_file_register_hooks(p);
    certmap_ldap_register_hooks(p);
}

AP_DECLARE_MODULE(certmap) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,        /* per-directory config */
    merge_dir_conf,         /* merge per-directory */
    create_server_conf,     /* per-server config */
    merge_server_conf,      /* merge per-server */
    certmap_cmds,           /* directives */
    certmap_register_hooks, /* hooks */
    AP_MODULE_FLAG_NONE     /* flags */
};
