/*
 * certmap_iis.c - translate IIS client certificate mappings
 * (system.webServer/security/authentication/
 * iisClientCertificateMappingAuthentication) into CertMap* configuration.
 *
 * One-to-one mappings become CertMapUser sha256:HEX ACCOUNT, the
 * fingerprint computed by the engine from the base64 DER that IIS keeps.
 * Many-to-one mappings become CertMapRule "EXPR" ACCOUNT|deny, EXPR an
 * httpd expression over mod_ssl's SSL_CLIENT_S_DN_* / SSL_CLIENT_I_DN_*
 * variables.  What cannot be translated faithfully is printed as a
 * comment that says why, never as a directive that would match more
 * than IIS did.  Passwords are never printed.
 */
#include "certmap_iis.h"
#include "certmap.h"
#include "../engine/certmap_internal.h"

#include <stdarg.h>
#include <string.h>

#include <apr_base64.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_xml.h>

/* applicationHost.config is rarely more than a few megabytes. */
#define IIS_FILE_MAX (64 * 1024 * 1024)

#define SECTION "iisClientCertificateMappingAuthentication"

typedef struct out_t {
    apr_pool_t *p;
    apr_array_header_t *lines;    /* const char * */
    apr_array_header_t *warnings; /* const char * */
    const char *indent;
    const char *where; /* "<location path=...>" or "the global section" */
    int in_location;
    int passwords; /* mappings of this section with a password */
    int ou_note;   /* the first-OU note was printed */
} out_t;

/* ------------------------------------------------------------------ */
/* Output                                                             */

static void emit(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(out_t *o, const char *fmt, ...)
{
    va_list ap;
    char *s;
    apr_size_t n;

    va_start(ap, fmt);
    s = apr_pvsprintf(o->p, fmt, ap);
    va_end(ap);
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    /* httpd joins a line that ends in a backslash with the next one, a
     * comment too: no line may end so. */
    if (n > 0 && s[n - 1] == '\\') {
        s = apr_pstrcat(o->p, s, " .", NULL);
    }
    APR_ARRAY_PUSH(o->lines, const char *) =
        *s ? apr_pstrcat(o->p, o->indent, s, NULL) : "";
}

#define note(o, ...) emit((o), "# " __VA_ARGS__)

static void warn(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(out_t *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    APR_ARRAY_PUSH(o->warnings, const char *) = apr_pvsprintf(o->p, fmt, ap);
    va_end(ap);
}

/* A value from the XML file, shown in a comment or a message: in double
 * quotes, with every byte that is not valid UTF-8 and every character
 * that could split or disguise a line (controls, bidi and zero-width
 * marks, line separators) as \xHH, so that it can neither end the
 * comment's line nor end in a backslash. */
static const char *show(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    const char *end = s + n;
    char *out = apr_palloc(p, 4 * n + 3), *o = out;

    *o++ = '"';
    while (s < end) {
        unsigned long cp;
        apr_size_t len = certmap_utf8_sequence((const unsigned char *)s,
                                               (apr_size_t)(end - s), &cp);

        if (len == 0 || certmap_char_forbidden(cp)) {
            apr_size_t i, bad = len ? len : 1;

            for (i = 0; i < bad; i++) {
                o += sprintf(o, "\\x%02x", (unsigned char)s[i]);
            }
            s += bad;
        }
        else if (*s == '"') {
            *o++ = '\\';
            *o++ = '"';
            s++;
        }
        else {
            memcpy(o, s, len);
            o += len;
            s += len;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* One double-quoted httpd configuration argument that ap_getword_conf()
 * reads back as `s`: it turns \\ into \ and \" into ", and keeps every
 * other backslash, so only those get doubled (CONTOSO\sales stays). */
static const char *conf_quote(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 2 * n + 3), *o = out;

    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"') {
            *o++ = '\\';
        }
        else if (*s == '\\' && (s[1] == '\\' || s[1] == '"' || s[1] == '\0')) {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* mod_ssl prints name values with OpenSSL's ASN1_STRFLGS_ESC_CTRL, which
 * also writes a backslash as two: SSL_CLIENT_S_DN_CN of "a\b" is "a\\b".
 * A backslash in an IIS matchCriteria therefore has to match two. */

/* Inside an ap_expr string '...': a backslash before ' \ " $ and %, so
 * that none is read as the end of the string, an escape, a capture ($1)
 * or a variable (%{...}); conf_quote() then adds what the configuration
 * parser needs.  "${" would be replaced by httpd's own ${VAR} expansion
 * before any parsing, so that '$' is written as the octal escape \044
 * ('{' follows, so no digit can lengthen the escape). */
static const char *expr_string(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 4 * n + 1), *o = out;

    for (; *s; s++) {
        if (*s == '$' && s[1] == '{') {
            memcpy(o, "\\044", 4);
            o += 4;
            continue;
        }
        if (*s == '\\') {
            memcpy(o, "\\\\\\\\", 4); /* two, as mod_ssl shows one */
            o += 4;
            continue;
        }
        if (strchr("'\"$%", *s) != NULL) {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* A regular expression matching `s` exactly, with IIS's '*' wildcard as
 * ".*".  The expression parser takes the text up to the next '/' as it
 * is and PCRE reads the escapes: metacharacters get a backslash, and
 * '/', '"', '%', '$', '\' and control characters are written \xHH so
 * that neither the expression nor the configuration parser sees them. */
static const char *expr_regex(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 8 * n + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '*') {
            *o++ = '.';
            *o++ = '*';
        }
        else if (apr_isalnum(c) || c >= 0x80 || strchr(" -_,=@:;!~&'<>#", c)) {
            *o++ = (char)c;
        }
        else if (strchr("^.|?+()[]{}", c)) {
            *o++ = '\\';
            *o++ = (char)c;
        }
        else if (c == '\\') {
            memcpy(o, "\\x5c\\x5c", 8); /* two, as mod_ssl shows one */
            o += 8;
        }
        else {
            o += sprintf(o, "\\x%02x", c);
        }
    }
    *o = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* XML                                                                */

static const char *attr_get(const apr_xml_elem *e, const char *name)
{
    const apr_xml_attr *a;

    for (a = e->attr; a != NULL; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            return a->value;
        }
    }
    return NULL;
}

static const apr_xml_elem *child_get(const apr_xml_elem *e, const char *name)
{
    const apr_xml_elem *c;

    for (c = e ? e->first_child : NULL; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

/* The attributes of `e` that are not in `known` (NULL-terminated) and are
 * not IIS's configuration-locking attributes, as a list for a comment,
 * or NULL. */
static const char *other_attrs(apr_pool_t *p, const apr_xml_elem *e,
                               const char *const *known)
{
    const apr_xml_attr *a;
    const char *list = NULL;

    for (a = e->attr; a != NULL; a = a->next) {
        const char *const *k;
        for (k = known; *k && strcmp(*k, a->name) != 0; k++) {
        }
        if (*k != NULL || strncmp(a->name, "lock", 4) == 0) {
            continue;
        }
        /* APR keeps attributes in reverse order: prepend to restore it. */
        list = apr_psprintf(p, "%s=%s%s%s", a->name, show(p, a->value),
                            list ? " " : "", list ? list : "");
    }
    return list;
}

/* IIS writes booleans as true/false.  Returns -1 for anything else. */
static int parse_bool(const char *v, int dflt)
{
    if (v == NULL) {
        return dflt;
    }
    if (strcasecmp(v, "true") == 0) {
        return 1;
    }
    if (strcasecmp(v, "false") == 0) {
        return 0;
    }
    return -1;
}

static const char *read_file(apr_pool_t *p, const char *path, char **data,
                             apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    char ebuf[128];

    rv = apr_file_open(&f, path, APR_READ | APR_BINARY | APR_FOPEN_NONBLOCK,
                       APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
        if (rv == APR_SUCCESS && finfo.filetype != APR_REG) {
            apr_file_close(f);
            return apr_psprintf(p, "%s is not a regular file", path);
        }
        if (rv == APR_SUCCESS && finfo.size > IIS_FILE_MAX) {
            apr_file_close(f);
            return apr_psprintf(p,
                                "%s is larger than 64 MB: not an IIS "
                                "configuration file",
                                path);
        }
    }
    if (rv == APR_SUCCESS) {
        *len = (apr_size_t)finfo.size;
        *data = apr_palloc(p, *len + 1);
        rv = apr_file_read_full(f, *data, *len, len);
        apr_file_close(f);
        if (rv == APR_EOF) {
            rv = APR_SUCCESS;
        }
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    (*data)[*len] = '\0';
    return NULL;
}

/* Parse with APR-util's XML parser.  It reports no line numbers, so the
 * file is fed to it a line at a time: the line it stops in is where the
 * error was found (at or after the mistake). */
static const char *parse_xml(apr_pool_t *p, const char *path, apr_xml_doc **doc)
{
    apr_xml_parser *parser;
    char *data = NULL, ebuf[256];
    const char *s, *end, *err;
    apr_size_t len;
    unsigned int line = 1;

    err = read_file(p, path, &data, &len);
    if (err != NULL) {
        return err;
    }
    if (len == 0) {
        return apr_psprintf(p, "%s is empty: not an IIS configuration file",
                            path);
    }
    parser = apr_xml_parser_create(p);
    for (s = data; s < data + len; s = end, line++) {
        const char *nl = memchr(s, '\n', data + len - s);
        end = nl ? nl + 1 : data + len;
        if (apr_xml_parser_feed(parser, s, end - s) != APR_SUCCESS) {
            apr_xml_parser_geterror(parser, ebuf, sizeof(ebuf));
            return apr_psprintf(p,
                                "%s is not well-formed XML: the parser "
                                "stopped in line %u: %s",
                                path, line, ebuf);
        }
    }
    if (apr_xml_parser_done(parser, doc) != APR_SUCCESS) {
        apr_xml_parser_geterror(parser, ebuf, sizeof(ebuf));
        return apr_psprintf(p,
                            "%s is not well-formed XML: the parser "
                            "stopped at the end of the file: %s",
                            path, ebuf);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Accounts and certificates                                          */

/* Why `account` cannot be written as the ACCOUNT of a directive, or
 * NULL.  `rule`: for CertMapRule, whose ACCOUNT is a template. */
static const char *account_problem(apr_pool_t *p, const char *account, int rule)
{
    const char *err = certmap_account_check(p, account);
    const char *s;

    if (err != NULL) {
        return err;
    }
    if (strstr(account, "${") != NULL) {
        return "the account contains '${', which httpd reads as a variable";
    }
    if (!rule) {
        return NULL;
    }
    if (strstr(account, "%{") != NULL) {
        return "the account contains '%{', which CertMapRule reads as a "
               "variable";
    }
    for (s = strchr(account, '$'); s; s = strchr(s + 1, '$')) {
        if (apr_isdigit(s[1])) {
            return "the account contains '$' and a digit, which CertMapRule "
                   "reads as a regular-expression capture";
        }
    }
    if (strcasecmp(account, "deny") == 0) {
        return "the account is 'deny', which CertMapRule reads as a refusal";
    }
    return NULL;
}

/* IIS keeps a one-to-one certificate as base64 DER. */
static const char *decode_cert(apr_pool_t *p, const char *b64,
                               certmap_cert_t **cert)
{
    apr_size_t n = strlen(b64), k = 0, i, pad = 0;
    char *clean = apr_palloc(p, n + 1);
    unsigned char *der;
    int len;
    const char *err;

    if (strstr(b64, "-----BEGIN") != NULL) {
        err = certmap_cert_from_bytes(p, (const unsigned char *)b64, n, cert);
        return err ? apr_pstrcat(p, "holds PEM that ", err, NULL) : NULL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];
        if (apr_isspace(c)) {
            continue;
        }
        if (c == '=') {
            pad++;
        }
        else if (pad > 0 || !(apr_isalnum(c) || c == '+' || c == '/')) {
            unsigned long cp;
            apr_size_t len = certmap_utf8_sequence(
                (const unsigned char *)b64 + i, n - i, &cp);

            return apr_psprintf(
                p, "is not base64 (character %s at position %" APR_SIZE_T_FMT
                   ")",
                show(p, apr_pstrmemdup(p, b64 + i, len ? len : 1)), i + 1);
        }
        clean[k++] = (char)c;
    }
    clean[k] = '\0';
    if (k == 0) {
        return "is empty";
    }
    if (pad > 2 || k % 4 != 0) {
        return "is not base64 (its length is not a multiple of 4)";
    }
    der = apr_palloc(p, apr_base64_decode_len(clean) + 1);
    len = apr_base64_decode_binary(der, clean);
    if (len <= 0) {
        return "is not base64";
    }
    err = certmap_cert_from_bytes(p, der, (apr_size_t)len, cert);
    return err ? apr_pstrcat(p, "decodes to data that ", err, NULL) : NULL;
}

/* ------------------------------------------------------------------ */
/* Mappings                                                           */

/* IIS subfield -> mod_ssl DN component.  IIS's S is the state or
 * province, which mod_ssl calls ST: mod_ssl's S is the surname. */
static const struct {
    const char *iis;
    const char *ssl;
} subfields[] = {
    {"CN", "CN"},       /* common name */
    {"O", "O"},         /* organization */
    {"OU", "OU"},       /* organizational unit (mod_ssl: the first) */
    {"C", "C"},         /* country */
    {"S", "ST"},        /* state or province, NOT mod_ssl's S (surname) */
    {"ST", "ST"},       /* the same, as others spell it */
    {"L", "L"},         /* locality */
    {"E", "Email"},     /* e-mail address */
    {"Email", "Email"}, /* the same */
    {"T", "T"},         /* title */
    {"G", "G"},         /* given name */
    {"SN", "S"},        /* surname */
    {"I", "I"},         /* initials */
    {"D", "D"},         /* description */
    {NULL, NULL},
};

static const char *const rule_attrs[] = {"certificateField",
                                         "certificateSubField", "matchCriteria",
                                         "compareCaseSensitive", NULL};

/* A rule as IIS has it, for comments: its attributes in the order IIS
 * Manager shows them, then any others. */
static const char *rule_text(apr_pool_t *p, const apr_xml_elem *r)
{
    const char *s = "", *other;
    int i;

    for (i = 0; rule_attrs[i]; i++) {
        const char *v = attr_get(r, rule_attrs[i]);
        if (v != NULL) {
            s = apr_psprintf(p, "%s%s%s=%s", s, *s ? " " : "", rule_attrs[i],
                             show(p, v));
        }
    }
    other = other_attrs(p, r, rule_attrs);
    if (other != NULL) {
        s = apr_pstrcat(p, s, *s ? " " : "", other, NULL);
    }
    return *s ? s : "(no attributes)";
}

/* The condition for one many-to-one rule, or NULL with *why set. */
static const char *rule_expr(out_t *o, const apr_xml_elem *r, int *ou,
                             const char **why)
{
    apr_pool_t *p = o->p;
    const char *field = attr_get(r, "certificateField");
    const char *sub = attr_get(r, "certificateSubField");
    const char *crit = attr_get(r, "matchCriteria");
    const char *other = other_attrs(p, r, rule_attrs);
    int cs = parse_bool(attr_get(r, "compareCaseSensitive"), 1);
    const char *var, *ssl = NULL;
    char which;
    int i;

    if (other != NULL) {
        *why = apr_psprintf(p,
                            "it has attributes certmap does not know "
                            "(%s)",
                            other);
        return NULL;
    }
    if (field == NULL || sub == NULL || crit == NULL) {
        *why = apr_psprintf(p, "it has no %s",
                            field == NULL ? "certificateField"
                            : sub == NULL ? "certificateSubField"
                                          : "matchCriteria");
        return NULL;
    }
    if (strcasecmp(field, "Subject") == 0) {
        which = 'S';
    }
    else if (strcasecmp(field, "Issuer") == 0) {
        which = 'I';
    }
    else {
        *why = apr_psprintf(p,
                            "certificateField %s is neither Subject nor "
                            "Issuer",
                            show(p, field));
        return NULL;
    }
    for (i = 0; subfields[i].iis; i++) {
        if (strcasecmp(sub, subfields[i].iis) == 0) {
            ssl = subfields[i].ssl;
        }
    }
    if (ssl == NULL) {
        *why = apr_psprintf(p,
                            "certificateSubField %s has no mod_ssl "
                            "variable (known: CN, O, OU, C, S, L, E, T, G, "
                            "SN, I, D)",
                            show(p, sub));
        return NULL;
    }
    for (i = 0; crit[i]; i++) {
        if ((unsigned char)crit[i] < 0x20 || crit[i] == 0x7f) {
            *why = "its matchCriteria contains a control character";
            return NULL;
        }
    }
    if (cs < 0) {
        *why = apr_psprintf(p,
                            "compareCaseSensitive %s is neither true nor "
                            "false",
                            show(p, attr_get(r, "compareCaseSensitive")));
        return NULL;
    }
    if (strcmp(ssl, "OU") == 0) {
        *ou = 1;
    }
    var = apr_psprintf(p, "%%{SSL_CLIENT_%c_DN_%s}", which, ssl);
    if (cs && strchr(crit, '*') == NULL) {
        return apr_psprintf(p, "%s == '%s'", var, expr_string(p, crit));
    }
    return apr_psprintf(p, "%s =~ /^%s$/%s", var, expr_regex(p, crit),
                        cs ? "" : "i");
}

static const char *const many_attrs[] = {
    "name",     "description", "enabled", "permissionMode",
    "userName", "password",    NULL};

static void many_to_one(out_t *o, const apr_xml_elem *m, int kind_on)
{
    apr_pool_t *p = o->p;
    const char *name = attr_get(m, "name");
    const char *desc = attr_get(m, "description");
    const char *mode = attr_get(m, "permissionMode");
    const char *user = attr_get(m, "userName");
    const char *other = other_attrs(p, m, many_attrs);
    int enabled = parse_bool(attr_get(m, "enabled"), 1);
    apr_array_header_t *problems = apr_array_make(p, 2, sizeof(char *));
    apr_array_header_t *conds = apr_array_make(p, 4, sizeof(char *));
    apr_array_header_t *rules = apr_array_make(p, 4, sizeof(char *));
    const apr_xml_elem *c, *r;
    const char *expr = NULL, *directive, *why = NULL;
    int deny = 0, ou = 0, i;

    emit(o, "%s", "");
    note(o, "many-to-one mapping %s%s%s%s", name ? show(p, name) : "(no name)",
         desc ? " (" : "", desc ? show(p, desc) : "", desc ? ")" : "");
    if (other != NULL) {
        note(o, "  not translated: %s", other);
    }
    if (attr_get(m, "password") != NULL) {
        o->passwords++;
    }
    if (enabled < 0) {
        APR_ARRAY_PUSH(problems, const char *) =
            apr_psprintf(p, "enabled %s is neither true nor false",
                         show(p, attr_get(m, "enabled")));
    }
    if (mode == NULL || strcasecmp(mode, "Allow") == 0) {
        deny = 0;
    }
    else if (strcasecmp(mode, "Deny") == 0) {
        deny = 1;
    }
    else {
        APR_ARRAY_PUSH(problems, const char *) = apr_psprintf(
            p, "permissionMode %s is neither Allow nor Deny", show(p, mode));
    }
    for (c = m->first_child; c != NULL; c = c->next) {
        if (strcmp(c->name, "rules") != 0) {
            APR_ARRAY_PUSH(problems, const char *) =
                apr_psprintf(p, "it holds a <%s> element", c->name);
            continue;
        }
        for (r = c->first_child; r != NULL; r = r->next) {
            if (strcmp(r->name, "clear") == 0) {
                continue; /* a mapping inherits no rules */
            }
            if (strcmp(r->name, "add") != 0) {
                APR_ARRAY_PUSH(problems, const char *) =
                    apr_psprintf(p, "its rules hold a <%s> element", r->name);
                continue;
            }
            APR_ARRAY_PUSH(rules, const char *) = rule_text(p, r);
            expr = rule_expr(o, r, &ou, &why);
            if (expr == NULL) {
                APR_ARRAY_PUSH(problems, const char *) =
                    apr_psprintf(p, "rule %d: %s", rules->nelts, why);
            }
            else {
                APR_ARRAY_PUSH(conds, const char *) = expr;
            }
        }
    }
    if (rules->nelts == 0 && problems->nelts == 0) {
        APR_ARRAY_PUSH(problems, const char *) =
            "it has no rules; write by hand what it should match";
    }
    if (!deny) {
        why = user ? account_problem(p, user, 1)
                   : "it has no userName (the account)";
        if (why != NULL) {
            APR_ARRAY_PUSH(problems, const char *) = why;
        }
    }
    if (problems->nelts > 0) {
        for (i = 0; i < problems->nelts; i++) {
            note(o, "  not translated: %s",
                 APR_ARRAY_IDX(problems, i, const char *));
        }
        for (i = 0; i < rules->nelts; i++) {
            note(o, "  IIS rule %d: %s", i + 1,
                 APR_ARRAY_IDX(rules, i, const char *));
        }
        if (deny) {
            note(o, "  IIS permissionMode=\"Deny\"");
        }
        else {
            note(o, "  IIS userName=%s", user ? show(p, user) : "(none)");
        }
        return;
    }
    for (i = 0, expr = ""; i < conds->nelts; i++) {
        expr = apr_pstrcat(p, expr, i ? " && " : "",
                           APR_ARRAY_IDX(conds, i, const char *), NULL);
    }
    directive = apr_pstrcat(p, "CertMapRule ", conf_quote(p, expr), " ",
                            deny ? "deny" : conf_quote(p, user), NULL);
    if (ou && !o->ou_note) {
        note(o, "  (mod_ssl's ..._DN_OU is the first OU of the name; the "
                "second is ..._DN_OU_1)");
        o->ou_note = 1;
    }
    if (enabled == 0 || !kind_on) {
        note(o, "  disabled in IIS (%s); remove the '# ' to use it:",
             enabled == 0 ? "enabled=\"false\""
                          : "manyToOneCertificateMappingsEnabled=\"false\"");
        note(o, "%s", directive);
    }
    else {
        emit(o, "%s", directive);
    }
}

static const char *const one_attrs[] = {"certificate", "userName", "password",
                                        "enabled", NULL};

static void one_to_one(out_t *o, const apr_xml_elem *m, int kind_on)
{
    apr_pool_t *p = o->p;
    const char *b64 = attr_get(m, "certificate");
    const char *user = attr_get(m, "userName");
    const char *other = other_attrs(p, m, one_attrs);
    int enabled = parse_bool(attr_get(m, "enabled"), 1);
    certmap_cert_t *cert = NULL;
    const char *why = NULL, *directive;

    if (attr_get(m, "password") != NULL) {
        o->passwords++;
    }
    if (b64 == NULL) {
        why = "it has no certificate";
    }
    else if ((why = decode_cert(p, b64, &cert)) != NULL) {
        why = apr_pstrcat(p, "its certificate ", why, NULL);
    }
    else if (user == NULL) {
        why = "it has no userName (the account)";
    }
    else if (enabled < 0) {
        why = apr_psprintf(p, "enabled %s is neither true nor false",
                           show(p, attr_get(m, "enabled")));
    }
    else {
        why = account_problem(p, user, 0);
    }
    if (cert != NULL) {
        note(o, "%s, IIS thumbprint %s", show(p, cert->subject),
             certmap_hex(p, cert->sha1, CERTMAP_SHA1_LEN));
    }
    if (other != NULL) {
        note(o, "  not translated: %s", other);
    }
    if (why != NULL) {
        note(o, "one-to-one mapping%s%s not translated: %s",
             user ? " for " : "", user ? show(p, user) : "", why);
        return;
    }
    directive = apr_psprintf(p, "CertMapUser sha256:%s %s",
                             certmap_hex(p, cert->sha256, CERTMAP_SHA256_LEN),
                             conf_quote(p, user));
    if (enabled == 0 || !kind_on) {
        note(o, "  disabled in IIS (%s); remove the '# ' to use it:",
             enabled == 0 ? "enabled=\"false\""
                          : "oneToOneCertificateMappingsEnabled=\"false\"");
        note(o, "%s", directive);
    }
    else {
        emit(o, "%s", directive);
    }
}

/* <clear/> and <remove .../> take inherited mappings away in IIS; a
 * <Location> always inherits, so say so. */
static void not_inherited(out_t *o, const apr_xml_elem *e, const char *kind)
{
    apr_pool_t *p = o->p;
    const char *b64 = attr_get(e, "certificate");
    const char *name = attr_get(e, "name");
    certmap_cert_t *cert;

    if (strcmp(e->name, "clear") == 0) {
        note(o,
             "IIS <clear/>: %s mappings inherited from enclosing levels do "
             "not apply here in IIS, but httpd sections inherit the "
             "entries of enclosing ones; review them",
             kind);
        if (o->in_location) {
            warn(o,
                 "%s clears the inherited %s mappings, which httpd "
                 "cannot do: see the comment in the output",
                 o->where, kind);
        }
        return;
    }
    if (b64 != NULL && decode_cert(p, b64, &cert) == NULL) {
        note(o,
             "IIS <remove>: the inherited one-to-one mapping of %s does "
             "not apply here in IIS; httpd cannot take an inherited "
             "entry away (CertMapDeny sha256:%s would refuse it)",
             show(p, cert->subject),
             certmap_hex(p, cert->sha256, CERTMAP_SHA256_LEN));
    }
    else {
        note(o,
             "IIS <remove%s%s>: an inherited %s mapping does not apply "
             "here in IIS; httpd cannot take an inherited entry away",
             name ? " name=" : "", name ? show(p, name) : "", kind);
    }
    warn(o,
         "%s removes an inherited %s mapping, which httpd cannot do: "
         "see the comment in the output",
         o->where, kind);
}

static const char *const section_attrs[] = {
    "enabled",
    "oneToOneCertificateMappingsEnabled",
    "manyToOneCertificateMappingsEnabled",
    "defaultLogonDomain",
    "logonMethod",
    NULL};

static void translate_section(out_t *o, const apr_xml_elem *sec)
{
    apr_pool_t *p = o->p;
    const char *v, *other, *err;
    const apr_xml_elem *list, *c;
    int enabled = parse_bool(attr_get(sec, "enabled"), -2);
    int one_on =
        parse_bool(attr_get(sec, "oneToOneCertificateMappingsEnabled"), 1);
    int many_on =
        parse_bool(attr_get(sec, "manyToOneCertificateMappingsEnabled"), 1);

    o->passwords = 0;
    if (enabled == 1) {
        emit(o, "CertMap On");
    }
    else if (enabled == 0) {
        note(o, "IIS enabled=\"false\": certificate mapping is off here");
        emit(o, "CertMap Off");
    }
    else if (enabled == -1) {
        note(o, "not translated: enabled=%s is neither true nor false",
             show(p, attr_get(sec, "enabled")));
    }
    v = attr_get(sec, "defaultLogonDomain");
    if (v != NULL && *v != '\0') {
        err = certmap_domain_check(p, v);
        if (err == NULL && strstr(v, "${") != NULL) {
            err = "it contains '${', which httpd reads as a variable";
        }
        if (err != NULL) {
            note(o, "not translated: defaultLogonDomain=%s: %s", show(p, v),
                 err);
        }
        else {
            emit(o, "CertMapDomain %s", conf_quote(p, v));
        }
    }
    v = attr_get(sec, "logonMethod");
    if (v != NULL) {
        note(o,
             "IIS logonMethod=%s is how IIS logs on to Windows; httpd has "
             "no equivalent and needs none",
             show(p, v));
    }
    if (one_on < 0 || many_on < 0) {
        note(o,
             "not translated: %s is neither true nor false; those "
             "mappings are printed disabled",
             one_on < 0 ? "oneToOneCertificateMappingsEnabled"
                        : "manyToOneCertificateMappingsEnabled");
    }
    other = other_attrs(p, sec, section_attrs);
    if (other != NULL) {
        note(o, "not translated: %s", other);
    }
    for (list = sec->first_child; list != NULL; list = list->next) {
        int one = strcmp(list->name, "oneToOneMappings") == 0;
        int many = strcmp(list->name, "manyToOneMappings") == 0;
        if (!one && !many) {
            note(o, "not translated: a <%s> element", list->name);
            continue;
        }
        if (one && list->first_child != NULL) {
            emit(o, "%s", "");
            note(o, "one-to-one mappings");
        }
        for (c = list->first_child; c != NULL; c = c->next) {
            if (strcmp(c->name, "add") == 0) {
                if (one) {
                    one_to_one(o, c, one_on == 1);
                }
                else {
                    many_to_one(o, c, many_on == 1);
                }
            }
            else if (strcmp(c->name, "clear") == 0
                     || strcmp(c->name, "remove") == 0) {
                not_inherited(o, c, one ? "one-to-one" : "many-to-one");
            }
            else {
                note(o, "not translated: a <%s> element in <%s>", c->name,
                     list->name);
            }
        }
    }
    if (o->passwords > 0) {
        emit(o, "%s", "");
        note(o,
             "IIS keeps a password with %d of these mappings (not "
             "copied here) to log on to Windows; httpd needs none.",
             o->passwords);
        note(o, "CertMapPassword On would make the client give the "
                "account's password as well.");
    }
}

/* ------------------------------------------------------------------ */
/* Scopes                                                             */

/* The mapping section under a system.webServer element, or NULL. */
static const apr_xml_elem *find_section(const apr_xml_elem *ws)
{
    const apr_xml_elem *sec = child_get(ws, "security");

    return child_get(child_get(sec, "authentication"), SECTION);
}

/* The sslFlags of system.webServer/security/access, or NULL. */
static const char *find_ssl_flags(const apr_xml_elem *ws)
{
    const apr_xml_elem *access = child_get(child_get(ws, "security"), "access");

    return access ? attr_get(access, "sslFlags") : NULL;
}

typedef struct scope_t {
    const char *path; /* the <location> path, NULL for the global section */
    const char *site;
    const char *url;
    const apr_xml_elem *ws;
    const apr_xml_elem *section;
} scope_t;

/* "Default Web Site/app/x" -> site "Default Web Site", URL "/app/x". */
static void split_location(apr_pool_t *p, const char *path, scope_t *s)
{
    const char *slash = strchr(path, '/');
    char *url;
    apr_size_t n;

    s->path = path;
    s->site = slash ? apr_pstrmemdup(p, path, slash - path) : path;
    url = apr_pstrdup(p, slash ? slash : "/");
    n = strlen(url);
    while (n > 1 && url[n - 1] == '/') {
        url[--n] = '\0';
    }
    s->url = url;
}

static void translate_scope(out_t *o, const scope_t *s, int wrap)
{
    apr_pool_t *p = o->p;
    const char *flags = find_ssl_flags(s->ws);

    emit(o, "%s", "");
    if (s->path == NULL) {
        o->where = "the global section";
        o->in_location = 0;
        note(o, "IIS: the global section (every site): server "
                "configuration or each <VirtualHost>");
    }
    else {
        o->where = apr_psprintf(p, "<location path=%s>", show(p, s->path));
        o->in_location = 1;
        note(o, "IIS: <location path=%s>%s%s", show(p, s->path),
             wrap ? "" : ", inside the <VirtualHost> of site ",
             wrap ? "" : show(p, s->site));
        if (strstr(s->url, "${") != NULL
            || strpbrk(s->url, "\r\n\t\"") != NULL) {
            note(o, "not translated: the location's path cannot be written "
                    "as a <Location>");
            warn(o,
                 "%s: the path cannot be written as a <Location>; "
                 "left out",
                 o->where);
            return;
        }
        emit(o, "<Location %s>", conf_quote(p, s->url));
        o->indent = "    ";
    }
    if (flags != NULL) {
        note(o,
             "IIS sslFlags=%s: mod_ssl asks for the certificate with "
             "SSLVerifyClient (optional lets mod_certmap answer 403.7 "
             "without one)",
             show(p, flags));
    }
    translate_section(o, s->section);
    o->indent = "";
    if (s->path != NULL) {
        emit(o, "</Location>");
    }
}

const char *certmap_iis_import(apr_pool_t *p, const char *path,
                               const char *site, apr_array_header_t **lines,
                               apr_array_header_t **warnings)
{
    apr_xml_doc *doc;
    const apr_xml_elem *e, *ws;
    apr_array_header_t *scopes = apr_array_make(p, 8, sizeof(scope_t));
    const char *err, *sites = NULL;
    out_t o;
    int i, printed = 0, located = 0;

    err = parse_xml(p, path, &doc);
    if (err != NULL) {
        return err;
    }
    if (doc->root == NULL || strcmp(doc->root->name, "configuration") != 0) {
        return apr_psprintf(p,
                            "%s is not an IIS configuration file: its root "
                            "element is <%s>, not <configuration>",
                            path, doc->root ? doc->root->name : "");
    }
    for (e = doc->root->first_child; e != NULL; e = e->next) {
        int is_location = strcmp(e->name, "location") == 0;
        const char *lpath = is_location ? attr_get(e, "path") : NULL;

        if (!is_location && strcmp(e->name, "system.webServer") != 0) {
            continue;
        }
        for (ws = is_location ? e->first_child : e; ws != NULL;
             ws = is_location ? ws->next : NULL) {
            scope_t *s;
            const apr_xml_elem *sec;
            if (strcmp(ws->name, "system.webServer") != 0
                || (sec = find_section(ws)) == NULL) {
                continue;
            }
            s = apr_array_push(scopes);
            memset(s, 0, sizeof(*s));
            s->ws = ws;
            s->section = sec;
            /* path "" or "." is the level of the file itself */
            if (lpath != NULL && *lpath != '\0' && strcmp(lpath, ".") != 0) {
                split_location(p, lpath, s);
            }
        }
    }
    if (scopes->nelts == 0) {
        return apr_psprintf(p,
                            "%s has no %s section "
                            "(system.webServer/security/authentication): "
                            "nothing to translate",
                            path, SECTION);
    }

    o.p = p;
    o.lines = apr_array_make(p, 64, sizeof(const char *));
    o.warnings = apr_array_make(p, 4, sizeof(const char *));
    o.indent = "";
    o.ou_note = 0;
    note(&o, "CertMap* configuration for the IIS client certificate "
             "mappings in");
    note(&o, "%s, written by certmap import-iis%s%s.", show(p, path),
         site ? " for site " : "", site ? show(p, site) : "");
    note(&o, "Review it before use; see certmap(1) for what is translated "
             "and how.");
    for (i = 0; i < scopes->nelts; i++) {
        scope_t *s = &APR_ARRAY_IDX(scopes, i, scope_t);
        if (s->path != NULL && site != NULL && strcasecmp(s->site, site) != 0) {
            if (sites == NULL || strstr(sites, show(p, s->site)) == NULL) {
                sites = apr_pstrcat(p, sites ? sites : "", sites ? ", " : "",
                                    show(p, s->site), NULL);
            }
            continue;
        }
        translate_scope(&o, s, site != NULL);
        printed++;
        located += s->path != NULL;
    }
    if (printed == 0) {
        return apr_psprintf(p,
                            "%s has no %s section for IIS site %s (sites "
                            "that have one: %s)",
                            path, SECTION, show(p, site),
                            sites ? sites : "none");
    }
    if (site != NULL && located == 0) {
        warn(&o,
             "no <location> of IIS site %s has an %s section; only the "
             "global section was printed",
             show(p, site), SECTION);
    }
    *lines = o.lines;
    *warnings = o.warnings;
    return NULL;
}
