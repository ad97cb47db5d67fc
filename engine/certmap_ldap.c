/*
 * certmap_ldap.c - LDAP search filters for a certificate.
 *
 * Every value placed in a filter goes through certmap_ldap_escape(): an
 * issuer such as "CN=Edge, (Dev) CA" must neither break the filter nor
 * change what it asks.
 */
#include "certmap_ldap.h"

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

static const struct {
    const char *name;
    const char *form;
    const char *attr;
} modes[] = {
    [CERTMAP_LDAP_ALTSECID] = {"altsecid", "ldap-altsecid",
                               "altSecurityIdentities"},
    [CERTMAP_LDAP_CERTIFICATE] = {"certificate", "ldap-certificate",
                                  "userCertificate;binary"},
    [CERTMAP_LDAP_FINGERPRINT] = {"fingerprint", "ldap-fingerprint", NULL},
    [CERTMAP_LDAP_UPN] = {"upn", "ldap-upn", "userPrincipalName"},
};

#define MODE_COUNT ((int)(sizeof(modes) / sizeof(modes[0])))

const char *certmap_ldap_default_attr(certmap_ldap_match_e mode)
{
    return mode > 0 && (int)mode < MODE_COUNT ? modes[mode].attr : NULL;
}

const char *certmap_ldap_form(certmap_ldap_match_e mode)
{
    return mode > 0 && (int)mode < MODE_COUNT ? modes[mode].form : "ldap";
}

/* Past an RFC 4512 keystring (a letter, then letters, digits, '-') or
 * numericoid at c; NULL when there is neither. */
static const char *skip_oid_or_name(const char *c)
{
    if (apr_isalpha(*c)) {
        while (apr_isalnum(*c) || *c == '-') {
            c++;
        }
        return c;
    }
    for (;;) {
        if (!apr_isdigit(*c)) {
            return NULL;
        }
        while (apr_isdigit(*c)) {
            c++;
        }
        if (*c != '.') {
            return c;
        }
        c++;
    }
}

const char *certmap_ldap_attr_check(apr_pool_t *p, const char *attr)
{
    const char *c = skip_oid_or_name(attr);

    /* options: *( ";" 1*(letter / digit / "-") ) */
    while (c != NULL && *c == ';') {
        if (!apr_isalnum(c[1]) && c[1] != '-') {
            c = NULL;
            break;
        }
        for (c++; apr_isalnum(*c) || *c == '-'; c++) {
        }
    }
    if (c == NULL || *c != '\0') {
        return apr_psprintf(p,
                            "'%s' is not an LDAP attribute name (a letter "
                            "followed by letters, digits and '-', or an "
                            "OID, then ;options)",
                            certmap_ldap_escape(p, attr, strlen(attr)));
    }
    return NULL;
}

const char *certmap_ldap_match_parse(apr_pool_t *p, const char *mode,
                                     const char *attr,
                                     certmap_ldap_match_t *match)
{
    int m;

    memset(match, 0, sizeof(*match));
    for (m = 1; m < MODE_COUNT; m++) {
        if (strcasecmp(mode, modes[m].name) == 0) {
            break;
        }
    }
    if (m == MODE_COUNT) {
        return apr_psprintf(p,
                            "the match must be altsecid, certificate, "
                            "fingerprint or upn, not '%s'",
                            certmap_ldap_escape(p, mode, strlen(mode)));
    }
    if (attr == NULL) {
        attr = modes[m].attr;
        if (attr == NULL) {
            return "fingerprint needs the attribute that holds the "
                   "certificates' SHA-256 fingerprints (CertMapLDAPMatch "
                   "fingerprint ATTR)";
        }
    }
    else if (m == CERTMAP_LDAP_ALTSECID) {
        return "altsecid takes no attribute: Active Directory keeps these "
               "mappings in altSecurityIdentities";
    }
    else {
        const char *err = certmap_ldap_attr_check(p, attr);

        if (err != NULL) {
            return err;
        }
    }
    match->mode = (certmap_ldap_match_e)m;
    match->attr = apr_pstrdup(p, attr);
    return NULL;
}

/* Moves past a filter's "\xx" or other character; NULL at a '\' that is
 * not followed by two hex digits. */
static const char *filter_char(const char *c)
{
    if (*c != '\\') {
        return c + 1;
    }
    return apr_isxdigit(c[1]) && apr_isxdigit(c[2]) ? c + 3 : NULL;
}

const char *certmap_ldap_url_filter(apr_pool_t *p, const char *filter,
                                    const char **out)
{
    const char *c;
    int depth = 0;

    *out = NULL;
    if (filter == NULL || *filter == '\0') {
        *out = "(objectClass=*)";
        return NULL;
    }
    if (*filter != '(') {
        filter = apr_pstrcat(p, "(", filter, ")", NULL);
    }
    for (c = filter; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return "the filter holds a control character";
        }
    }
    for (c = filter; *c; c = filter_char(c)) {
        if (*c == '(') {
            depth++;
        }
        else if (*c == ')' && --depth == 0 && c[1] != '\0') {
            return apr_psprintf(p,
                                "the filter %s has text after its closing "
                                "parenthesis (combine filters with "
                                "(&(...)(...)))",
                                filter);
        }
        if (depth < 0 || filter_char(c) == NULL) {
            break;
        }
    }
    if (*c != '\0' || depth != 0) {
        return apr_psprintf(p,
                            "the filter %s is not valid: its parentheses do "
                            "not balance or a '\\' is not followed by two hex "
                            "digits",
                            filter);
    }
    *out = filter;
    return NULL;
}

/* A byte RFC 4515 makes us write as \XX (and NUL, control and non-ASCII
 * bytes, which we never send raw). */
static int escaped_in_filter(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || strchr("*()\\", c) != NULL;
}

char *certmap_ldap_escape(apr_pool_t *p, const char *value, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *v = (const unsigned char *)value;
    apr_size_t i, n = 0;
    char *out, *o;

    for (i = 0; i < len; i++) {
        n += escaped_in_filter(v[i]) ? 3 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (i = 0; i < len; i++) {
        if (escaped_in_filter(v[i])) {
            *o++ = '\\';
            *o++ = hex[v[i] >> 4];
            *o++ = hex[v[i] & 0x0f];
        }
        else {
            *o++ = (char)v[i];
        }
    }
    *o = '\0';
    return out;
}

/* s with every '"' doubled (GSER string). */
static const char *gser_quote(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s), quotes = 0, i;
    char *out, *o;

    for (i = 0; i < n; i++) {
        quotes += s[i] == '"';
    }
    o = out = apr_palloc(p, n + quotes + 1);
    for (i = 0; i < n; i++) {
        *o++ = s[i];
        if (s[i] == '"') {
            *o++ = '"';
        }
    }
    *o = '\0';
    return out;
}

const char *certmap_ldap_cert_assertion(apr_pool_t *p,
                                        const certmap_cert_t *cert,
                                        const char **out)
{
    const unsigned char *der = cert->der;
    X509 *x = d2i_X509(NULL, &der, (long)cert->der_len);
    BIGNUM *bn = NULL;
    char *serial = NULL, *issuer = NULL;
    BIO *bio = NULL;
    long len = 0;

    *out = NULL;
    if (x != NULL) {
        bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        serial = bn ? BN_bn2dec(bn) : NULL;
        bio = BIO_new(BIO_s_mem());
    }
    /* RFC 4514: RFC 2253's order and escaping, UTF-8 kept as it is. */
    if (serial != NULL && bio != NULL
        && X509_NAME_print_ex(bio, X509_get_issuer_name(x), 0,
                              XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
               >= 0) {
        len = BIO_get_mem_data(bio, &issuer);
    }
    if (issuer != NULL) {
        *out = apr_pstrcat(
            p, "{ serialNumber ", serial, ", issuer rdnSequence:\"",
            gser_quote(p, apr_pstrmemdup(p, issuer, len)), "\" }", NULL);
    }
    BIO_free(bio);
    OPENSSL_free(serial);
    BN_free(bn);
    X509_free(x);
    ERR_clear_error();
    return *out ? NULL
                : "cannot write the certificate's serial number and "
                  "issuer as an RFC 4523 assertion";
}

static const char *term(apr_pool_t *p, const char *attr, const char *value)
{
    return apr_pstrcat(p, "(", attr, "=",
                       certmap_ldap_escape(p, value, strlen(value)), ")", NULL);
}

const char *certmap_ldap_match_term(apr_pool_t *p,
                                    const certmap_ldap_match_t *match,
                                    const certmap_cert_t *cert,
                                    const char **out)
{
    const apr_array_header_t *forms;
    const char *value, *err;
    int i;

    *out = NULL;
    switch (match->mode) {
    case CERTMAP_LDAP_ALTSECID:
        /* The engine's own X509: strong forms, exactly as CertMapUser
         * takes them (the weak forms are never asked for). */
        forms = certmap_cert_spec_forms(p, cert);
        *out = "(|";
        for (i = 0; i < forms->nelts; i++) {
            value = APR_ARRAY_IDX(forms, i, const char *);
            if (strncmp(value, "X509:", 5) == 0) {
                *out = apr_pstrcat(p, *out, term(p, match->attr, value), NULL);
            }
        }
        *out = apr_pstrcat(p, *out, ")", NULL);
        return NULL;
    case CERTMAP_LDAP_CERTIFICATE:
        err = certmap_ldap_cert_assertion(p, cert, &value);
        if (err == NULL) {
            *out = term(p, match->attr, value);
        }
        return err;
    case CERTMAP_LDAP_FINGERPRINT:
        *out = term(p, match->attr,
                    certmap_hex(p, cert->sha256, CERTMAP_SHA256_LEN));
        return NULL;
    case CERTMAP_LDAP_UPN:
        if (cert->upns->nelts == 1) {
            *out = term(p, match->attr,
                        APR_ARRAY_IDX(cert->upns, 0, const char *));
        }
        return NULL;
    }
    return "unknown CertMapLDAPMatch mode";
}

const char *certmap_ldap_filter(apr_pool_t *p, const char *url_filter,
                                const certmap_ldap_match_t *match,
                                const certmap_cert_t *cert, const char **filter)
{
    const char *t;
    const char *err = certmap_ldap_match_term(p, match, cert, &t);

    *filter = t ? apr_pstrcat(p, "(&", url_filter, t, ")", NULL) : NULL;
    return err;
}
