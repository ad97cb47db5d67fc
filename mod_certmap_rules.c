/*
 * mod_certmap_rules.c - what maps a certificate that no table names
 * (CertMapRule, CertMapUPNDomain, IIS's "many-to-one" and Active
 * Directory mappings) and CertMapPassword, which asks the mapped account
 * for its password too.
 *
 * Rules are httpd expressions (ap_expr, the language of <If> and
 * Require expr) parsed once at startup.  They may read only what the
 * client cannot make up: the verified certificate (SSL_*), the client's
 * address and the time.  Evaluation happens after mod_certmap.c's
 * evaluate() established that mod_ssl verified the certificate.
 *
 * Passwords are checked by httpd's authentication providers (the names
 * given with AuthBasicProvider, which this module reads alongside
 * mod_auth_basic), never by reading password files here.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"
#include "ap_provider.h"
#include "mod_auth.h"

#include "apr_lib.h"
#include "apr_strings.h"

#include "mod_certmap.h"

APLOG_USE_MODULE(certmap);

/* The realm of the Basic challenge when the scope has no AuthName. */
#define CERTMAP_DEFAULT_REALM "Password for the certificate's account"

/* The authentication provider used when no AuthBasicProvider applies:
 * mod_auth_basic's default too. */
#define CERTMAP_DEFAULT_PROVIDER "file"

/* One CertMapRule line. */
typedef struct {
    ap_expr_info_t *cond;
    ap_expr_info_t *template; /* ACCOUNT with %{VAR} or $N, or NULL */
    const char *account;      /* a literal ACCOUNT, or NULL */
    int deny;
    const char *source; /* "file:line" */
} certmap_rule;

/* One CertMapUPNDomain line. */
typedef struct {
    const char *suffix; /* the UPN's part after '@', compared without case */
    const char *domain;
    const char *source; /* "upn:file:line", for CERTMAP_MATCH */
} certmap_upn_domain;

/* ------------------------------------------------------------------ */
/* Configuration                                                      */

static int name_is(const char *name, const char *const *list)
{
    for (; *list != NULL; list++) {
        if (ap_cstr_casecmp(name, *list) == 0) {
            return 1;
        }
    }
    return 0;
}

/* What a rule may use.  Request headers, the URL, environment variables,
 * notes and files are refused: a client controls them (or they have
 * nothing to do with a certificate), and a rule that read them would let
 * a client choose its own account. */
static int rule_lookup(ap_expr_lookup_parms *parms)
{
    /* Variables besides SSL_*: the connection and the clock. */
    static const char *const vars[] = {
        "REMOTE_ADDR", "CONN_REMOTE_ADDR", "HTTPS",     "TIME",
        "TIME_YEAR",   "TIME_MON",         "TIME_DAY",  "TIME_HOUR",
        "TIME_MIN",    "TIME_SEC",         "TIME_WDAY", NULL};
    /* String functions that only transform their argument, and mod_ssl's
     * %{SSL:VAR}. */
    static const char *const funcs[] = {
        "tolower", "toupper", "escape", "unescape", "base64", "unbase64",
        "sha1",    "md5",     "ldap",   "SSL",      NULL};
    /* -n -z -T, and -R (the client's address in a subnet). */
    static const char *const unary[] = {"n", "z", "T", "R", NULL};
    static const char *const binary[] = {"ipmatch", "fnmatch", "strmatch",
                                         "strcmatch", NULL};
    static const char *const lists[] = {"PeerExtList", NULL};
    const char *what = NULL;

    switch (parms->type) {
    case AP_EXPR_FUNC_VAR:
        if (strncmp(parms->name, "SSL_", 4) != 0
            && !name_is(parms->name, vars)) {
            what =
                apr_psprintf(parms->ptemp, "the variable %%{%s}", parms->name);
        }
        break;
    case AP_EXPR_FUNC_STRING:
        if (!name_is(parms->name, funcs)) {
            what = apr_psprintf(parms->ptemp, "the function %s", parms->name);
        }
        break;
    case AP_EXPR_FUNC_LIST:
        if (!name_is(parms->name, lists)) {
            what = apr_psprintf(parms->ptemp, "the function %s", parms->name);
        }
        break;
    case AP_EXPR_FUNC_OP_UNARY:
        if (!name_is(parms->name, unary)) {
            what = apr_psprintf(parms->ptemp, "the operator -%s", parms->name);
        }
        break;
    case AP_EXPR_FUNC_OP_BINARY:
        if (!name_is(parms->name, binary)) {
            what = apr_psprintf(parms->ptemp, "the operator -%s", parms->name);
        }
        break;
    default:
        what = "this kind of expression";
        break;
    }
    if (what != NULL) {
        *parms->err = apr_psprintf(
            parms->ptemp,
            "%s cannot be used in a rule; rules may read the certificate "
            "(SSL_* variables, SSL:, PeerExtList), REMOTE_ADDR and the "
            "time, nothing a client sends",
            what);
        return !OK;
    }
    return ap_expr_lookup_default(parms);
}

/* An ACCOUNT that ap_expr has to expand: %{VAR} or $0..$9. */
static int is_template(const char *account)
{
    const char *s;

    for (s = account; *s != '\0'; s++) {
        if ((s[0] == '%' && s[1] == '{')
            || (s[0] == '$' && s[1] >= '0' && s[1] <= '9')) {
            return 1;
        }
    }
    return 0;
}

/* ap_expr's string syntax reads '\' as an escape; an account template is
 * written the way accounts look (CONTOSO\%{SSL_CLIENT_S_DN_CN},
 * CONTOSO\$1), so every backslash is doubled to stay itself. */
static const char *double_backslashes(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    for (c = s; *c != '\0'; c++) {
        n += *c == '\\' ? 2 : 1;
    }
    out = o = apr_palloc(p, n + 1);
    for (c = s; *c != '\0'; c++) {
        *o++ = *c;
        if (*c == '\\') {
            *o++ = '\\';
        }
    }
    *o = '\0';
    return out;
}

const char *certmap_cmd_rule(cmd_parms *cmd, void *dconf, const char *args)
{
    certmap_dir_conf *conf = dconf;
    certmap_rule *rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    const char *expr, *account, *err = NULL;

    expr = ap_getword_conf(cmd->pool, &args);
    account = ap_getword_conf(cmd->pool, &args);
    if (*expr == '\0' || *account == '\0') {
        return certmap_cmd_error(
            cmd, "takes an expression and an account or 'deny' "
                 "(CertMapRule \"%{SSL_CLIENT_S_DN_O} == 'Contoso'\" "
                 "\"CONTOSO\\%{SSL_CLIENT_S_DN_CN}\")");
    }
    if (*args != '\0') {
        return certmap_cmd_error(
            cmd, "takes only an expression and an account or 'deny'; put "
                 "the expression in double quotes");
    }
    rule->cond = ap_expr_parse_cmd(cmd, expr, 0, &err, rule_lookup);
    if (err != NULL) {
        return certmap_cmd_error(
            cmd, apr_psprintf(cmd->pool,
                              "the condition \"%s\" is not a valid httpd "
                              "expression: %s",
                              expr, err));
    }
    if (strcasecmp(account, "deny") == 0) {
        rule->deny = 1;
    }
    else if (is_template(account)) {
        rule->template =
            ap_expr_parse_cmd(cmd, double_backslashes(cmd->temp_pool, account),
                              AP_EXPR_FLAG_STRING_RESULT, &err, rule_lookup);
        if (err != NULL) {
            return certmap_cmd_error(
                cmd, apr_psprintf(cmd->pool,
                                  "the account \"%s\" is not a valid "
                                  "httpd string expression: %s",
                                  account, err));
        }
    }
    else {
        err = certmap_account_check(cmd->temp_pool, account);
        if (err != NULL) {
            return certmap_cmd_error(cmd, err);
        }
        rule->account = account;
    }
    rule->source = certmap_directive_source(cmd);
    certmap_mark_server(cmd);
    if (conf->rules == NULL) {
        conf->rules =
            apr_array_make(cmd->pool, 4, sizeof(const certmap_rule *));
    }
    APR_ARRAY_PUSH(conf->rules, const certmap_rule *) = rule;
    return NULL;
}

const char *certmap_cmd_upn_domain(cmd_parms *cmd, void *dconf,
                                   const char *suffix, const char *domain)
{
    certmap_dir_conf *conf = dconf;
    certmap_upn_domain *u = apr_pcalloc(cmd->pool, sizeof(*u));
    const char *err, *s;

    for (s = suffix; *s != '\0'; s++) {
        if (*s == '@' || *s == '\\' || apr_isspace(*s) || apr_iscntrl(*s)) {
            break;
        }
    }
    if (*suffix == '\0' || *s != '\0') {
        return certmap_cmd_error(
            cmd, apr_psprintf(cmd->pool,
                              "the UPN suffix '%s' must be a domain name "
                              "such as contoso.com (the part after '@', "
                              "without the '@')",
                              suffix));
    }
    err = certmap_domain_check(cmd->temp_pool, domain);
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    u->suffix = suffix;
    u->domain = domain;
    u->source =
        apr_pstrcat(cmd->pool, "upn:", certmap_directive_source(cmd), NULL);
    certmap_mark_server(cmd);
    if (conf->upn_domains == NULL) {
        conf->upn_domains =
            apr_array_make(cmd->pool, 2, sizeof(const certmap_upn_domain *));
    }
    APR_ARRAY_PUSH(conf->upn_domains, const certmap_upn_domain *) = u;
    return NULL;
}

const char *certmap_cmd_password(cmd_parms *cmd, void *dconf, int on)
{
    certmap_dir_conf *conf = dconf;

    certmap_mark_server(cmd);
    conf->password = on;
    return NULL;
}

/* mod_auth_basic's AuthBasicProvider, read here too: httpd hands a
 * directive to every module that declares it, so mod_auth_basic still
 * gets it.  Not a mod_certmap directive: it does not make the virtual
 * host a mod_certmap one. */
const char *certmap_cmd_basic_provider(cmd_parms *cmd, void *dconf,
                                       const char *args)
{
    certmap_dir_conf *conf = dconf;
    const char *name;

    while (*(name = ap_getword_conf(cmd->pool, &args)) != '\0') {
        const authn_provider *prov = ap_lookup_provider(
            AUTHN_PROVIDER_GROUP, name, AUTHN_PROVIDER_VERSION);

        if (prov == NULL || prov->check_password == NULL) {
            return apr_psprintf(cmd->pool,
                                "AuthBasicProvider: no authentication "
                                "provider '%s' that checks passwords is "
                                "loaded (is mod_authn_%s loaded?)",
                                name, name);
        }
        if (conf->basic_providers == NULL) {
            conf->basic_providers =
                apr_array_make(cmd->pool, 2, sizeof(const char *));
        }
        APR_ARRAY_PUSH(conf->basic_providers, const char *) = name;
    }
    return NULL;
}

static apr_array_header_t *join(apr_pool_t *p, apr_array_header_t *first,
                                apr_array_header_t *then)
{
    if (first == NULL || first->nelts == 0) {
        return then;
    }
    if (then == NULL || then->nelts == 0) {
        return first;
    }
    return apr_array_append(p, first, then);
}

void certmap_rules_merge(apr_pool_t *p, certmap_dir_conf *conf,
                         const certmap_dir_conf *base,
                         const certmap_dir_conf *add)
{
    /* Rules: the enclosing scope's first, in the order written.  UPN
     * suffixes: the inner scope's first, so that it can give a suffix
     * another domain. */
    conf->rules = join(p, base->rules, add->rules);
    conf->upn_domains = join(p, add->upn_domains, base->upn_domains);
    conf->password = add->password != -1 ? add->password : base->password;
    /* As mod_auth_basic does: an inner AuthBasicProvider replaces. */
    conf->basic_providers =
        add->basic_providers ? add->basic_providers : base->basic_providers;
}

/* ------------------------------------------------------------------ */
/* Mapping                                                            */

/* A rule's account, checked as the module will use it (qualified with
 * CertMapDomain); NULL and logged when it must not be used. */
static const char *rule_account(request_rec *r, const certmap_dir_conf *conf,
                                const certmap_rule *rule, ap_regmatch_t *pm,
                                const char **src)
{
    const char *account = rule->account, *err = NULL;

    if (rule->template != NULL) {
        account = ap_expr_str_exec_re(r, rule->template, AP_MAX_REG_MATCH, pm,
                                      src, &err);
        if (err != NULL || account == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "CERTMAP0008: rule at %s matched but its account "
                          "could not be evaluated: %s; not mapping the "
                          "certificate",
                          rule->source, err ? err : "no value");
            return NULL;
        }
    }
    err = certmap_account_check(r->pool, account);
    if (err == NULL) {
        err = certmap_account_check(
            r->pool, certmap_account_qualify(r->pool, account, conf->domain));
    }
    if (err != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0007: rule at %s gave an invalid account: %s",
                      rule->source, err);
        return NULL;
    }
    return account;
}

/* The first rule whose condition holds decides.  Returns 1 when a rule
 * matched (even one whose account turned out unusable: the certificate
 * then stays unmapped; later rules and UPN are not tried). */
static int decide_by_rules(request_rec *r, const certmap_dir_conf *conf,
                           certmap_decision_t *d)
{
    int i;

    if (conf->rules == NULL) {
        return 0;
    }
    for (i = 0; i < conf->rules->nelts; i++) {
        const certmap_rule *rule =
            APR_ARRAY_IDX(conf->rules, i, const certmap_rule *);
        ap_regmatch_t pm[AP_MAX_REG_MATCH];
        const char *src = NULL, *err = NULL, *account;
        int rc =
            ap_expr_exec_re(r, rule->cond, AP_MAX_REG_MATCH, pm, &src, &err);

        /* Fail closed: a rule that cannot be evaluated may be a deny, so
         * no later rule (or UPN) may map the certificate either. */
        if (rc < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "CERTMAP0008: rule at %s could not be evaluated: "
                          "%s; the certificate is not mapped",
                          rule->source, err ? err : "unknown error");
            return 1;
        }
        if (rc == 0) {
            continue;
        }
        if (rule->deny) {
            d->reason = CERTMAP_CERT_DENIED;
            d->account = NULL;
            d->source = rule->source;
            d->form = "rule";
            return 1;
        }
        account = rule_account(r, conf, rule, pm, &src);
        if (account != NULL) {
            d->reason = CERTMAP_MAPPED;
            d->account = account;
            d->source = rule->source;
            d->form = "rule";
        }
        return 1;
    }
    return 0;
}

/* The certificate's single UPN user@suffix -> DOMAIN\user.  (httpd
 * escapes what modules write to the error log: a UPN or a user name sent
 * by a client is logged as it is.) */
static void decide_by_upn(request_rec *r, const certmap_dir_conf *conf,
                          const certmap_cert_t *cert, certmap_decision_t *d)
{
    const char *upn, *at, *user, *account, *err;
    int i;

    if (conf->upn_domains == NULL || cert->upns == NULL
        || cert->upns->nelts == 0) {
        return;
    }
    if (cert->upns->nelts > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "CERTMAP0020: not mapping \"%s\" by UPN: it carries "
                      "%d UPNs, and CertMapUPNDomain maps only a "
                      "certificate with exactly one",
                      cert->subject, cert->upns->nelts);
        return;
    }
    upn = APR_ARRAY_IDX(cert->upns, 0, const char *);
    at = strrchr(upn, '@');
    if (at == NULL || at == upn || at[1] == '\0' || strchr(upn, '@') != at) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "CERTMAP0020: not mapping \"%s\" by UPN: '%s' is not "
                      "of the form user@suffix",
                      cert->subject, upn);
        return;
    }
    for (i = 0; i < conf->upn_domains->nelts; i++) {
        const certmap_upn_domain *u =
            APR_ARRAY_IDX(conf->upn_domains, i, const certmap_upn_domain *);

        if (ap_cstr_casecmp(u->suffix, at + 1) != 0) {
            continue;
        }
        user = apr_pstrmemdup(r->pool, upn, at - upn);
        account = apr_pstrcat(r->pool, u->domain, "\\", user, NULL);
        err = certmap_account_check(r->pool, account);
        if (err != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "CERTMAP0020: not mapping \"%s\" by UPN (%s): "
                          "'%s' gives an invalid account: %s",
                          cert->subject, u->source, upn, err);
            return;
        }
        d->reason = CERTMAP_MAPPED;
        d->account = account;
        d->source = u->source;
        d->form = "upn";
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "CERTMAP0020: no CertMapUPNDomain for the UPN '%s' of \"%s\"",
                  upn, cert->subject);
}

void certmap_rules_decide(request_rec *r, const certmap_dir_conf *conf,
                          const certmap_cert_t *cert, certmap_decision_t *d)
{
    if (!decide_by_rules(r, conf, d)) {
        decide_by_upn(r, conf, cert, d);
    }
}

/* ------------------------------------------------------------------ */
/* CertMapPassword                                                    */

static int is_proxy(const request_rec *r)
{
    return r->proxyreq == PROXYREQ_PROXY;
}

/* The request is not authenticated after all: no identity for the logs,
 * the CGI environment or the backend. */
static void forget_account(request_rec *r, const char *reason)
{
    apr_table_unset(r->subprocess_env, "CERTMAP_USER");
    apr_table_unset(r->subprocess_env, "CERTMAP_DOMAIN");
    apr_table_unset(r->subprocess_env, "CERTMAP_MATCH");
    if (reason != NULL) {
        apr_table_setn(r->subprocess_env, "CERTMAP_REASON", reason);
    }
}

/* 401 (407 for a forward proxy) with a Basic challenge.  Set here rather
 * than through ap_note_basic_auth_failure(), which needs AuthType Basic;
 * the realm is AuthName's, or a default. */
static int challenge(request_rec *r, certmap_request_state *st,
                     const char *reason)
{
    const char *realm = ap_auth_name(r);
    char *q, *o;
    const char *c;

    if (realm == NULL || *realm == '\0') {
        realm = CERTMAP_DEFAULT_REALM;
    }
    /* A quoted-string: escape '"' and '\'. */
    q = o = apr_palloc(r->pool, 2 * strlen(realm) + 1);
    for (c = realm; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
        }
        *o++ = apr_iscntrl(*c) ? ' ' : *c;
    }
    *o = '\0';
    apr_table_setn(r->err_headers_out,
                   is_proxy(r) ? "Proxy-Authenticate" : "WWW-Authenticate",
                   apr_pstrcat(r->pool, "Basic realm=\"", q, "\"", NULL));
    forget_account(r, reason);
    st->password_status =
        is_proxy(r) ? HTTP_PROXY_AUTHENTICATION_REQUIRED : HTTP_UNAUTHORIZED;
    return st->password_status;
}

/* The account a Basic user name stands for: "DOMAIN\user" as given (the
 * domain spelt as the mapped account's when they differ only in case),
 * a bare "user" in the mapped account's domain.  NULL when the name
 * is no valid account. */
static const char *sent_account(request_rec *r, const char *sent,
                                const char *mapped)
{
    const char *mapped_domain = certmap_account_domain(r->pool, mapped);
    const char *sep;

    if (certmap_account_check(r->pool, sent) != NULL) {
        return NULL;
    }
    sep = strchr(sent, '\\');
    if (sep == NULL) {
        return *mapped_domain != '\0'
                   ? apr_pstrcat(r->pool, mapped_domain, "\\", sent, NULL)
                   : sent;
    }
    if (strlen(mapped_domain) == (apr_size_t)(sep - sent)
        && ap_cstr_casecmpn(sent, mapped_domain, sep - sent) == 0) {
        return apr_pstrcat(r->pool, mapped_domain, sep, NULL);
    }
    return sent;
}

/* The first provider that knows the account decides, as in
 * mod_auth_basic. */
static authn_status check_password(request_rec *r, const certmap_dir_conf *conf,
                                   const char *account, const char *password,
                                   const char **provider)
{
    static const char *const fallback[] = {CERTMAP_DEFAULT_PROVIDER};
    const char *const *names = fallback;
    int n = 1, i;
    authn_status res = AUTH_USER_NOT_FOUND;

    if (conf->basic_providers != NULL && conf->basic_providers->nelts > 0) {
        names = (const char *const *)conf->basic_providers->elts;
        n = conf->basic_providers->nelts;
    }
    for (i = 0; i < n; i++) {
        const authn_provider *prov = ap_lookup_provider(
            AUTHN_PROVIDER_GROUP, names[i], AUTHN_PROVIDER_VERSION);

        *provider = names[i];
        if (prov == NULL || prov->check_password == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "CERTMAP0024: CertMapPassword: no authentication "
                          "provider '%s' that checks passwords is loaded "
                          "(load mod_authn_%s or set AuthBasicProvider)",
                          names[i], names[i]);
            return AUTH_GENERAL_ERROR;
        }
        apr_table_setn(r->notes, AUTHN_PROVIDER_NAME_NOTE, names[i]);
        res = prov->check_password(r, account, password);
        apr_table_unset(r->notes, AUTHN_PROVIDER_NAME_NOTE);
        if (res != AUTH_USER_NOT_FOUND) {
            break;
        }
    }
    return res;
}

int certmap_password_check(request_rec *r, const certmap_dir_conf *conf,
                           certmap_request_state *st)
{
    const char *user = NULL, *password = NULL, *account, *provider = NULL;
    authn_status res;

    if (ap_get_basic_auth_components(r, &user, &password) != APR_SUCCESS
        || *user == '\0') {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "CERTMAP0021: %s needs the password of %s too "
                      "(CertMapPassword On); asking for it",
                      r->uri, st->account);
        return challenge(r, st, "password-required");
    }
    account = sent_account(r, user, st->account);
    if (account == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0022: the user name '%s' sent with the "
                      "password is not a valid account (the certificate "
                      "maps to %s)",
                      user, st->account);
        return challenge(r, st, "password-wrong");
    }
    /* Another account's name is refused before any password is checked:
     * a certificate holder must not be able to test other accounts'
     * passwords here. */
    if (strcmp(account, st->account) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0023: the credentials sent name '%s', but "
                      "the certificate maps to %s",
                      account, st->account);
        forget_account(r, NULL);
        st->reason = CERTMAP_CERT_MISMATCH;
        return HTTP_FORBIDDEN;
    }
    res = check_password(r, conf, account, password, &provider);
    if (res == AUTH_GRANTED) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "CERTMAP0025: the password of %s was accepted by "
                      "the provider '%s'",
                      account, provider);
        return OK;
    }
    if (res == AUTH_GENERAL_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "CERTMAP0024: the authentication provider '%s' "
                      "failed to check the password of %s",
                      provider, account);
        forget_account(r, NULL);
        st->password_status = HTTP_INTERNAL_SERVER_ERROR;
        return st->password_status;
    }
    ap_log_rerror(
        APLOG_MARK, APLOG_ERR, 0, r,
        "CERTMAP0022: wrong password for %s (%s, provider '%s')", account,
        res == AUTH_USER_NOT_FOUND ? "no such user" : "denied", provider);
    return challenge(r, st, "password-wrong");
}
