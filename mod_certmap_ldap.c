/*
 * mod_certmap_ldap.c - mappings from a directory (CertMapLDAP*), through
 * mod_ldap.
 *
 * Asked only when the local tables and rules left a verified certificate
 * unmapped.  The search goes through mod_ldap's optional functions: its
 * connection pool and its shared search cache, which keeps hits for
 * LDAPCacheTTL.  Misses are kept here, in a negative cache shared by
 * every process (socache + global mutex), so that a stream of unknown
 * certificates costs the directory at most one search per certificate
 * per CertMapLDAPNegativeTTL.  Exactly one entry maps; two refuse
 * (directory-ambiguous); any LDAP error refuses with 503
 * (directory-unavailable), never "not found".
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "util_ldap.h"
#include "util_mutex.h"
#include "ap_provider.h"
#include "ap_socache.h"

#include "apr_atomic.h"
#include "apr_global_mutex.h"
#include "apr_ldap_url.h"
#include "apr_strings.h"

#include <openssl/evp.h>

#include "certmap_ldap.h"
#include "mod_certmap.h"

APLOG_USE_MODULE(certmap);

#define MUTEX_TYPE "certmap-ldap-cache"
/* A search in progress is marked in the negative cache for this long;
 * other requests for the same filter wait for it meanwhile. */
#define INFLIGHT_TTL apr_time_from_sec(5)
#define INFLIGHT_POLL apr_time_from_msec(20)
/* A keep-alive connection reuses its certificate's mapping from the
 * directory for this long without asking mod_ldap again. */
#define CONNECTION_REUSE apr_time_from_sec(1)
/* directory-unavailable is logged at error level once per interval. */
#define UNAVAILABLE_LOG_INTERVAL 30

/* What CertMapLDAPURL gave, parsed. */
typedef struct {
    const char *url;  /* as configured: mod_ldap's cache label */
    const char *host; /* "host[:port] ..." as in the URL: mod_ldap connects
                       * to this string (its port argument is not used) */
    int port;
    int secure; /* APR_LDAP_NONE, _SSL, _STARTTLS */
    const char *basedn;
    int scope;
    const char *attr;   /* the account attribute */
    const char *filter; /* parenthesised */
} ldap_url;

struct certmap_ldap_conf {
    const ldap_url *url; /* NULL: inherit; &url_none: CertMapLDAPURL none */
    certmap_ldap_match_t match; /* mode 0: inherit */
    const char *binddn;         /* NULL: inherit; "": anonymous */
    const char *bindpw;
    int domain_set;
    const char *domain;      /* CertMapLDAPDomain NAME */
    const char *domain_attr; /* CertMapLDAPDomain attr:ATTR */
};

static const ldap_url url_none;

/* A connection's last mapping from the directory (certmap_conn_cache's
 * `ldap`, dropped when the certificate changes): for the same settings,
 * until `until`. */
typedef struct {
    apr_pool_t *pool;
    certmap_ldap_conf conf;
    apr_time_t until;
    const char *account;
    const char *dn;
} conn_answer;

/* Server-wide settings and state (one negative cache per server). */
static int ldap_used;
static int negative_ttl;
static const char *cache_spec; /* CertMapLDAPCache, NULL: shmcb */
static const ap_socache_provider_t *cache_provider;
static ap_socache_instance_t *cache;
static apr_global_mutex_t *cache_mutex;
static apr_uint32_t last_unavailable_log;

static APR_OPTIONAL_FN_TYPE(uldap_connection_find) * ldap_find;
static APR_OPTIONAL_FN_TYPE(uldap_connection_close) * ldap_close;
static APR_OPTIONAL_FN_TYPE(uldap_cache_getuserdn) * ldap_getuserdn;

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

static certmap_ldap_conf *own_conf(cmd_parms *cmd, certmap_dir_conf *conf)
{
    certmap_mark_server(cmd);
    if (conf->ldap == NULL) {
        conf->ldap = apr_pcalloc(cmd->pool, sizeof(*conf->ldap));
    }
    return conf->ldap;
}

const char *certmap_cmd_ldap_url(cmd_parms *cmd, void *dconf, const char *arg,
                                 const char *mode)
{
    apr_ldap_url_desc_t *urld;
    apr_ldap_err_t *result;
    ldap_url *u;
    const char *err;

    if (strcasecmp(arg, "none") == 0 && mode == NULL) {
        own_conf(cmd, dconf)->url = &url_none;
        return NULL;
    }
    if (ap_find_linked_module("util_ldap.c") == NULL) {
        return certmap_cmd_error(cmd, "needs mod_ldap: put 'LoadModule "
                                      "ldap_module modules/mod_ldap.so' "
                                      "before this line");
    }
    if (apr_ldap_url_parse(cmd->temp_pool, arg, &urld, &result)
        != APR_SUCCESS) {
        return certmap_cmd_error(
            cmd, apr_psprintf(cmd->pool, "'%s' is not an LDAP URL: %s", arg,
                              result->reason));
    }
    if (urld->lud_exts != NULL) {
        return certmap_cmd_error(cmd, "LDAP URL extensions are not supported");
    }
    if (urld->lud_attrs != NULL && urld->lud_attrs[0] != NULL
        && urld->lud_attrs[1] != NULL) {
        return certmap_cmd_error(cmd, "names more than one attribute; give "
                                      "only the one that holds the account "
                                      "(and CertMapLDAPDomain attr:ATTR for "
                                      "a domain)");
    }
    u = apr_pcalloc(cmd->pool, sizeof(*u));
    u->url = apr_pstrdup(cmd->pool, arg);
    u->host =
        apr_pstrdup(cmd->pool, urld->lud_host ? urld->lud_host : "localhost");
    u->basedn = apr_pstrdup(cmd->pool, urld->lud_dn ? urld->lud_dn : "");
    u->attr = apr_pstrdup(cmd->pool, urld->lud_attrs && urld->lud_attrs[0]
                                         ? urld->lud_attrs[0]
                                         : "uid");
    /* As AuthLDAPURL: "one" is one level, anything else the subtree. */
    u->scope = urld->lud_scope == LDAP_SCOPE_ONELEVEL ? LDAP_SCOPE_ONELEVEL
                                                      : LDAP_SCOPE_SUBTREE;
    err = certmap_ldap_attr_check(cmd->temp_pool, u->attr);
    if (err == NULL) {
        err = certmap_ldap_url_filter(cmd->pool, urld->lud_filter, &u->filter);
    }
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    if (strncasecmp(arg, "ldaps:", 6) == 0) {
        u->secure = APR_LDAP_SSL;
        u->port = urld->lud_port ? urld->lud_port : LDAPS_PORT;
    }
    else {
        u->secure = APR_LDAP_NONE;
        u->port = urld->lud_port ? urld->lud_port : LDAP_PORT;
    }
    if (mode == NULL || strcasecmp(mode, "NONE") == 0) {
        /* the URL's scheme decides */
    }
    else if (strcasecmp(mode, "SSL") == 0) {
        u->secure = APR_LDAP_SSL;
    }
    else if (strcasecmp(mode, "TLS") == 0
             || strcasecmp(mode, "STARTTLS") == 0) {
        u->secure = APR_LDAP_STARTTLS;
    }
    else {
        return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                                   "the connection mode must "
                                                   "be NONE, SSL, TLS or "
                                                   "STARTTLS, not '%s'",
                                                   mode));
    }
    ldap_used = 1;
    own_conf(cmd, dconf)->url = u;
    return NULL;
}

const char *certmap_cmd_ldap_match(cmd_parms *cmd, void *dconf,
                                   const char *mode, const char *attr)
{
    certmap_ldap_match_t match;
    const char *err = certmap_ldap_match_parse(cmd->pool, mode, attr, &match);

    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    own_conf(cmd, dconf)->match = match;
    return NULL;
}

const char *certmap_cmd_ldap_bind_dn(cmd_parms *cmd, void *dconf,
                                     const char *dn)
{
    own_conf(cmd, dconf)->binddn = apr_pstrdup(cmd->pool, dn);
    return NULL;
}

/* PASSWORD, exec:/path [args] (its first line of output) or env:VAR. */
const char *certmap_cmd_ldap_bind_password(cmd_parms *cmd, void *dconf,
                                           const char *arg)
{
    const char *pw = arg;

    if (strncmp(arg, "exec:", 5) == 0) {
        char **argv;

        if (apr_tokenize_to_argv(arg + 5, &argv, cmd->temp_pool) != APR_SUCCESS
            || argv[0] == NULL) {
            return certmap_cmd_error(cmd, "exec: needs a program to run");
        }
        argv[0] = ap_server_root_relative(cmd->temp_pool, argv[0]);
        pw = argv[0] ? ap_get_exec_line(cmd->pool, argv[0],
                                        (const char *const *)argv)
                     : NULL;
        if (pw == NULL) {
            return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                                       "cannot read the "
                                                       "password from '%s'",
                                                       arg + 5));
        }
    }
    else if (strncmp(arg, "env:", 4) == 0) {
        pw = getenv(arg + 4);
        if (pw == NULL) {
            return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                                       "the environment "
                                                       "variable %s is not "
                                                       "set",
                                                       arg + 4));
        }
    }
    if (*pw == '\0') {
        return certmap_cmd_error(cmd, "the password is empty (leave "
                                      "CertMapLDAPBindDN and "
                                      "CertMapLDAPBindPassword out for an "
                                      "anonymous bind)");
    }
    own_conf(cmd, dconf)->bindpw = apr_pstrdup(cmd->pool, pw);
    return NULL;
}

const char *certmap_cmd_ldap_domain(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    certmap_ldap_conf *lc = own_conf(cmd, dconf);
    const char *err;

    lc->domain_set = 1;
    if (strncasecmp(arg, "attr:", 5) == 0) {
        err = certmap_ldap_attr_check(cmd->temp_pool, arg + 5);
        lc->domain_attr = apr_pstrdup(cmd->pool, arg + 5);
    }
    else {
        err = certmap_domain_check(cmd->temp_pool, arg);
        lc->domain = apr_pstrdup(cmd->pool, arg);
    }
    return err ? certmap_cmd_error(cmd, err) : NULL;
}

const char *certmap_cmd_ldap_negative_ttl(cmd_parms *cmd, void *dconf,
                                          const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long ttl;

    (void)dconf;
    if (err != NULL) {
        return err;
    }
    ttl = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || ttl < 0 || ttl > 86400) {
        return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                                   "must be a number of "
                                                   "seconds from 0 to 86400, "
                                                   "not '%s'",
                                                   arg));
    }
    negative_ttl = (int)ttl;
    return NULL;
}

const char *certmap_cmd_ldap_cache(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = arg, *sep = strchr(arg, ':');

    (void)dconf;
    if (err != NULL) {
        return err;
    }
    if (sep != NULL) {
        name = apr_pstrmemdup(cmd->temp_pool, arg, sep - arg);
    }
    if (ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                           AP_SOCACHE_PROVIDER_VERSION)
        == NULL) {
        return certmap_cmd_error(cmd, apr_psprintf(cmd->pool,
                                                   "there is no socache "
                                                   "provider '%s' (load "
                                                   "mod_socache_%s first)",
                                                   name, name));
    }
    cache_spec = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

void certmap_ldap_merge(apr_pool_t *p, certmap_dir_conf *conf,
                        const certmap_dir_conf *base,
                        const certmap_dir_conf *add)
{
    const certmap_ldap_conf *b = base->ldap, *a = add->ldap;
    certmap_ldap_conf *c;

    if (a == NULL || b == NULL) {
        conf->ldap = a ? add->ldap : base->ldap;
        return;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->url = a->url ? a->url : b->url;
    c->match = a->match.mode ? a->match : b->match;
    c->binddn = a->binddn ? a->binddn : b->binddn;
    c->bindpw = a->bindpw ? a->bindpw : b->bindpw;
    c->domain_set = a->domain_set || b->domain_set;
    c->domain = a->domain_set ? a->domain : b->domain;
    c->domain_attr = a->domain_set ? a->domain_attr : b->domain_attr;
    conf->ldap = c;
}

/* ------------------------------------------------------------------ */
/* The negative cache                                                 */

/* Values kept under a filter's key. */
#define NEG_NOT_FOUND 'N'
#define NEG_AMBIGUOUS 'A'
#define NEG_SEARCHING 'S'

#define KEY_LEN 32

/* The key of one search: SHA-256 of mod_ldap's cache label and the
 * filter. */
static void negative_key(const char *label, const char *filter,
                         unsigned char *key)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, label, strlen(label) + 1);
    EVP_DigestUpdate(ctx, filter, strlen(filter));
    EVP_DigestFinal_ex(ctx, key, NULL);
    EVP_MD_CTX_free(ctx);
}

/* NEG_NOT_FOUND or NEG_AMBIGUOUS when the negative cache answers;
 * otherwise 0, and this request is the one to search: it marked the key
 * NEG_SEARCHING.  While another request's search is marked, wait for its
 * answer rather than search too. */
static int negative_begin(request_rec *r, const unsigned char *key)
{
    unsigned char value[1];
    unsigned int len;
    apr_status_t rv;

    for (;;) {
        len = sizeof(value);
        apr_global_mutex_lock(cache_mutex);
        rv = cache_provider->retrieve(cache, r->server, key, KEY_LEN, value,
                                      &len, r->pool);
        if (rv != APR_SUCCESS) {
            value[0] = NEG_SEARCHING;
            cache_provider->store(cache, r->server, key, KEY_LEN,
                                  apr_time_now() + INFLIGHT_TTL, value, 1,
                                  r->pool);
        }
        apr_global_mutex_unlock(cache_mutex);
        if (rv != APR_SUCCESS) {
            return 0;
        }
        if (value[0] != NEG_SEARCHING) {
            return value[0];
        }
        apr_sleep(INFLIGHT_POLL);
    }
}

/* After this request's search: keep a miss (NEG_NOT_FOUND,
 * NEG_AMBIGUOUS), else drop the mark. */
static void negative_end(request_rec *r, const unsigned char *key, int answer)
{
    unsigned char value[1] = {(unsigned char)answer};

    apr_global_mutex_lock(cache_mutex);
    if (answer == NEG_NOT_FOUND || answer == NEG_AMBIGUOUS) {
        cache_provider->store(cache, r->server, key, KEY_LEN,
                              apr_time_now() + apr_time_from_sec(negative_ttl),
                              value, 1, r->pool);
    }
    else {
        cache_provider->remove(cache, r->server, key, KEY_LEN, r->pool);
    }
    apr_global_mutex_unlock(cache_mutex);
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */

/* What an LDAP result code means to an administrator (libldap's own
 * ldap_err2string would make the module link libldap, which mod_ldap
 * hides from it). */
static const char *ldap_result_text(int rc)
{
    switch (rc) {
    case LDAP_SERVER_DOWN:
        return "cannot contact the LDAP server";
    case LDAP_CONNECT_ERROR:
        return "cannot connect to the LDAP server";
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
        return "the LDAP server did not answer in time";
    case LDAP_INVALID_CREDENTIALS:
        return "the bind DN or its password was refused";
    case LDAP_INSUFFICIENT_ACCESS:
        return "the bind DN may not search there";
    case LDAP_NO_SUCH_OBJECT:
        return "the base DN does not exist or may not be read";
    case LDAP_UNWILLING_TO_PERFORM:
        return "the LDAP server is unwilling to perform the search";
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
        return "the LDAP server is busy or unavailable";
    default:
        return "the LDAP request failed";
    }
}

/* directory-unavailable: the LDAP error at error level once per
 * UNAVAILABLE_LOG_INTERVAL in this process, at debug level otherwise. */
static void log_unavailable(request_rec *r, const ldap_url *u, int rc,
                            const char *reason)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(r->request_time);
    apr_uint32_t last = apr_atomic_read32(&last_unavailable_log);
    int level = APLOG_DEBUG;

    if (now - last >= UNAVAILABLE_LOG_INTERVAL
        && apr_atomic_cas32(&last_unavailable_log, now, last) == last) {
        level = APLOG_ERR;
    }
    ap_log_rerror(APLOG_MARK, level, 0, r,
                  "CERTMAP0040: the directory %s cannot be asked: %s (%s, "
                  "LDAP result %d); refusing with 503 until it answers%s",
                  u->url, ldap_result_text(rc),
                  reason ? reason : "no reason given", rc,
                  level == APLOG_ERR ? " (logged once per 30 s)" : "");
}

/* An account (and domain) read from the entry `dn`: NULL, or why it
 * cannot be used. */
static const char *entry_account(request_rec *r, const certmap_ldap_conf *lc,
                                 const char *dn, const char **vals,
                                 const char **account)
{
    const char *name = vals[0], *domain = lc->domain, *err;
    const char *c;

    for (c = dn; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return "its DN holds a control character";
        }
    }
    if (name == NULL) {
        return apr_psprintf(r->pool, "it has no %s", lc->url->attr);
    }
    /* mod_ldap joins several values with "; ". */
    if (strstr(name, "; ") != NULL) {
        return apr_psprintf(r->pool, "its %s has several values",
                            lc->url->attr);
    }
    if ((err = certmap_account_check(r->pool, name)) != NULL) {
        return apr_psprintf(r->pool, "its %s: %s", lc->url->attr, err);
    }
    if (lc->domain_attr != NULL) {
        domain = vals[1];
        if (domain == NULL) {
            return apr_psprintf(r->pool, "it has no %s (CertMapLDAPDomain)",
                                lc->domain_attr);
        }
        if ((err = certmap_domain_check(r->pool, domain)) != NULL
            || (strstr(domain, "; ") != NULL
                && (err = "it has several values") != NULL)) {
            return apr_psprintf(r->pool, "its %s: %s", lc->domain_attr, err);
        }
    }
    *account = certmap_account_qualify(r->pool, name, domain);
    return NULL;
}

/* The label mod_ldap keys its search cache with (with the filter): the
 * URL; with a bind DN, that DN and a digest of its password, so that what
 * one identity may read is never served to a scope that binds as another
 * or with a wrong password; and the domain attribute, which changes the
 * values kept. */
static const char *cache_label(request_rec *r, const certmap_ldap_conf *lc,
                               const char *binddn)
{
    const char *pw = lc->bindpw ? lc->bindpw : "";
    const char *label = lc->url->url;
    unsigned char md[EVP_MAX_MD_SIZE];

    if (binddn != NULL) {
        EVP_Digest(pw, strlen(pw), md, NULL, EVP_sha256(), NULL);
        label = apr_pstrcat(r->pool, label, " bind=", binddn, " ",
                            certmap_hex(r->pool, md, 8), NULL);
    }
    if (lc->domain_attr != NULL) {
        label = apr_pstrcat(r->pool, label, " domain=", lc->domain_attr, NULL);
    }
    return label;
}

static int same_conf(const certmap_ldap_conf *a, const certmap_ldap_conf *b)
{
    return a->url == b->url && a->match.mode == b->match.mode
           && a->match.attr == b->match.attr && a->binddn == b->binddn
           && a->bindpw == b->bindpw && a->domain == b->domain
           && a->domain_attr == b->domain_attr;
}

/* This connection's answer for the certificate under these settings, if
 * it is recent enough (every field compared is configuration memory,
 * which outlives the connection). */
static conn_answer *connection_answer(request_rec *r,
                                      const certmap_ldap_conf *lc,
                                      const certmap_cert_t *cert, int fresh)
{
    certmap_conn_cache *cache = certmap_connection_cache(r->connection);
    conn_answer *ca;

    if (cache == NULL || cache->cert != cert) {
        return NULL;
    }
    ca = cache->ldap;
    if (!fresh) {
        return ca && same_conf(&ca->conf, lc) && r->request_time < ca->until
                   ? ca
                   : NULL;
    }
    if (ca == NULL) {
        ca = cache->ldap = apr_pcalloc(cache->pool, sizeof(*ca));
        apr_pool_create(&ca->pool, cache->pool);
    }
    else {
        apr_pool_clear(ca->pool);
    }
    ca->conf = *lc;
    ca->until = r->request_time + CONNECTION_REUSE;
    return ca;
}

void certmap_ldap_decide(request_rec *r, const certmap_dir_conf *conf,
                         const certmap_cert_t *cert, certmap_decision_t *d)
{
    const certmap_ldap_conf *lc = conf->ldap;
    const ldap_url *u = lc->url;
    certmap_ldap_match_t match = lc->match;
    const char *filter, *dn = NULL, **vals = NULL, *reason, *err;
    const char *account = NULL;
    const char *binddn = lc->binddn && *lc->binddn ? lc->binddn : NULL;
    char *attrs[3];
    const char *label;
    unsigned char key[KEY_LEN];
    util_ldap_connection_t *ldc;
    int rc, answer = 0;
    conn_answer *ca;

    if (u == NULL || u == &url_none) {
        return;
    }
    if (match.mode == 0) {
        match.mode = CERTMAP_LDAP_ALTSECID;
        match.attr = certmap_ldap_default_attr(match.mode);
    }
    if ((ca = connection_answer(r, lc, cert, 0)) != NULL) {
        d->reason = CERTMAP_MAPPED;
        d->account = ca->account;
        d->source = ca->dn;
        d->form = certmap_ldap_form(match.mode);
        return;
    }
    err = certmap_ldap_filter(r->pool, u->filter, &match, cert, &filter);
    if (err != NULL || filter == NULL) {
        ap_log_rerror(APLOG_MARK, err ? APLOG_ERR : APLOG_DEBUG, 0, r,
                      "CERTMAP0045: \"%s\" is not looked up in the directory "
                      "(%s): %s",
                      cert->subject, certmap_ldap_form(match.mode),
                      err ? err : "it does not carry exactly one UPN");
        return;
    }
    label = cache_label(r, lc, binddn);
    if (cache != NULL) {
        negative_key(label, filter, key);
        answer = negative_begin(r, key);
        if (answer != 0) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          "CERTMAP0044: %s %s (negative cache)", filter,
                          answer == NEG_AMBIGUOUS ? "is ambiguous"
                                                  : "found nothing");
            d->reason = answer == NEG_AMBIGUOUS ? CERTMAP_DIRECTORY_AMBIGUOUS
                                                : CERTMAP_CERT_UNMAPPED;
            return;
        }
    }

    attrs[0] = (char *)u->attr;
    attrs[1] = (char *)lc->domain_attr;
    attrs[2] = NULL;
    /* The directive made sure mod_ldap is loaded (which registers its
     * functions when loaded). */
    ldc = ldap_find ? ldap_find(r, u->host, u->port, binddn, lc->bindpw, always,
                                u->secure)
                    : NULL;
    if (ldc == NULL) {
        rc = LDAP_OTHER;
        reason = "mod_ldap has no connection to give";
    }
    else {
        rc = ldap_getuserdn(r, ldc, label, u->basedn, u->scope, attrs, filter,
                            &dn, &vals);
        reason = ldc->reason;
        ldap_close(ldc);
    }

    /* mod_ldap reports zero or several entries as LDAP_NO_SUCH_OBJECT
     * with its own reason; anything else is an error, never "none". */
    if (rc == LDAP_SUCCESS) {
        answer = 0;
    }
    else if (rc == LDAP_NO_SUCH_OBJECT && reason != NULL
             && strcmp(reason, "User not found") == 0) {
        answer = NEG_NOT_FOUND;
    }
    else if (rc == LDAP_NO_SUCH_OBJECT && reason != NULL
             && strncmp(reason, "User is not unique", 18) == 0) {
        answer = NEG_AMBIGUOUS;
    }
    else {
        answer = NEG_SEARCHING; /* not kept */
    }
    if (cache != NULL) {
        negative_end(r, key, answer);
    }

    switch (answer) {
    case NEG_NOT_FOUND:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "CERTMAP0043: no entry in %s matches %s", u->url, filter);
        d->reason = CERTMAP_CERT_UNMAPPED;
        return;
    case NEG_AMBIGUOUS:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0042: \"%s\" matches more than one entry in %s "
                      "(%s: %s); refusing rather than choosing",
                      cert->subject, u->url, filter, reason);
        d->reason = CERTMAP_DIRECTORY_AMBIGUOUS;
        return;
    case NEG_SEARCHING:
        log_unavailable(r, u, rc, reason);
        d->reason = CERTMAP_DIRECTORY_UNAVAILABLE;
        return;
    }
    err = entry_account(r, lc, dn, vals, &account);
    if (err != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0041: \"%s\" matches the directory entry %s, "
                      "which does not map: %s",
                      cert->subject, dn, err);
        d->reason = CERTMAP_CERT_UNMAPPED;
        return;
    }
    d->reason = CERTMAP_MAPPED;
    d->account = account;
    d->source = dn;
    d->form = certmap_ldap_form(match.mode);
    if ((ca = connection_answer(r, lc, cert, 1)) != NULL) {
        ca->account = apr_pstrdup(ca->pool, account);
        ca->dn = apr_pstrdup(ca->pool, dn);
    }
}

/* ------------------------------------------------------------------ */
/* Hooks                                                              */

static void retrieve_ldap_functions(void)
{
    ldap_find = APR_RETRIEVE_OPTIONAL_FN(uldap_connection_find);
    ldap_close = APR_RETRIEVE_OPTIONAL_FN(uldap_connection_close);
    ldap_getuserdn = APR_RETRIEVE_OPTIONAL_FN(uldap_cache_getuserdn);
}

static int ldap_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    ldap_used = 0;
    negative_ttl = 60;
    cache_spec = NULL;
    cache = NULL;
    cache_mutex = NULL;
    return ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static apr_status_t destroy_cache(void *data)
{
    (void)data;
    if (cache != NULL) {
        cache_provider->destroy(cache, NULL);
        cache = NULL;
    }
    return APR_SUCCESS;
}

static int ldap_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    static struct ap_socache_hints hints = {KEY_LEN, 1, 60 * APR_USEC_PER_SEC};
    const char *spec = cache_spec ? cache_spec : "shmcb";
    const char *sep = strchr(spec, ':'), *name = spec, *err;
    apr_status_t rv;

    (void)plog;
    if (!ldap_used) {
        return OK;
    }
    if (negative_ttl == 0) {
        return OK;
    }
    if (sep != NULL) {
        name = apr_pstrmemdup(ptemp, spec, sep - spec);
    }
    cache_provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                        AP_SOCACHE_PROVIDER_VERSION);
    if (cache_provider == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "CERTMAP0046: the directory's negative cache needs the "
                     "socache provider '%s' (LoadModule socache_%s_module, "
                     "or set CertMapLDAPCache or CertMapLDAPNegativeTTL 0)",
                     name, name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    err = cache_provider->create(&cache, sep ? sep + 1 : NULL, ptemp, pconf);
    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "CERTMAP0046: CertMapLDAPCache %s: %s", spec, err);
        cache = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    hints.expiry_interval = apr_time_from_sec(negative_ttl);
    rv = ap_global_mutex_create(&cache_mutex, NULL, MUTEX_TYPE, NULL, s, pconf,
                                0);
    if (rv == APR_SUCCESS) {
        rv = cache_provider->init(cache, "certmap-ldap", &hints, s, pconf);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "CERTMAP0046: cannot set up the directory's negative "
                     "cache (%s)",
                     spec);
        cache = NULL;
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_pool_cleanup_register(pconf, NULL, destroy_cache,
                              apr_pool_cleanup_null);
    return OK;
}

static void ldap_child_init(apr_pool_t *p, server_rec *s)
{
    if (cache_mutex != NULL
        && apr_global_mutex_child_init(
               &cache_mutex, apr_global_mutex_lockfile(cache_mutex), p)
               != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "CERTMAP0046: cannot attach to the directory's negative "
                     "cache lock; the directory is asked without it");
        cache = NULL;
    }
}

void certmap_ldap_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(retrieve_ldap_functions, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_pre_config(ldap_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ldap_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(ldap_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
