/*
 * fuzz_ldap.c - LDAP filter building (certmap_ldap.h).
 *
 * The input is escaped with certmap_ldap_escape() (the output holds no
 * '*', '(', ')', NUL, control or non-ASCII byte, every '\' starts a
 * "\xx", and unescaping it here gives back the input); up to its first
 * NUL it is a CertMapLDAPURL filter (accepted ones are one balanced
 * parenthesised filter), an attribute name and a match mode; and, when
 * it parses as a certificate, the term of every CertMapLDAPMatch mode is
 * built from it: each is well-formed (balanced parentheses, no
 * unescaped special byte) and the final filter wraps it.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/err.h>

#include "certmap_ldap.h"
#include "fuzz.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&root, NULL);
    return 0;
}

/* Checks an escaped value and decodes it into out (its length). */
static size_t unescape(const char *s, unsigned char *out)
{
    size_t n = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        FUZZ_CHECK(c >= 0x20 && c < 0x7f);
        FUZZ_CHECK(c != '*' && c != '(' && c != ')');
        if (c == '\\') {
            FUZZ_CHECK(fuzz_hex_value(s[1]) >= 0 && fuzz_hex_value(s[2]) >= 0);
            out[n++] = (unsigned char)(fuzz_hex_value(s[1]) * 16
                                       + fuzz_hex_value(s[2]));
            s += 2;
        }
        else {
            out[n++] = c;
        }
    }
    return n;
}

/* A filter: one parenthesised whole, parentheses balanced outside
 * escapes, every '\' a "\xx", no control byte. */
static void check_filter(const char *f)
{
    int depth = 0;
    const char *c;

    FUZZ_CHECK(f[0] == '(');
    for (c = f; *c; c++) {
        FUZZ_CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
        if (*c == '\\') {
            FUZZ_CHECK(fuzz_hex_value(c[1]) >= 0 && fuzz_hex_value(c[2]) >= 0);
            c += 2;
        }
        else if (*c == '(') {
            depth++;
        }
        else if (*c == ')') {
            depth--;
            FUZZ_CHECK(depth > 0 || c[1] == '\0');
        }
    }
    FUZZ_CHECK(depth == 0);
}

/* A match term: also no unescaped '*' (every value is an exact one) and
 * no byte outside printable ASCII. */
static void check_term(const char *t)
{
    const char *c;

    check_filter(t);
    for (c = t; *c; c++) {
        FUZZ_CHECK(*c != '*' && (unsigned char)*c < 0x7f);
    }
}

static void check_cert(apr_pool_t *p, const certmap_cert_t *cert)
{
    static const char *const modes[][2] = {{"altsecid", NULL},
                                           {"certificate", NULL},
                                           {"fingerprint", "fp"},
                                           {"upn", NULL}};
    certmap_ldap_match_t m;
    const char *term, *filter, *err;
    size_t i;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        FUZZ_CHECK(certmap_ldap_match_parse(p, modes[i][0], modes[i][1], &m)
                   == NULL);
        err = certmap_ldap_match_term(p, &m, cert, &term);
        if (err != NULL) {
            FUZZ_CHECK(term == NULL && *err != '\0');
            continue;
        }
        if (term == NULL) {
            FUZZ_CHECK(m.mode == CERTMAP_LDAP_UPN && cert->upns->nelts != 1);
            continue;
        }
        check_term(term);
        FUZZ_CHECK(certmap_ldap_filter(p, "(objectClass=*)", &m, cert, &filter)
                   == NULL);
        check_filter(filter);
        FUZZ_CHECK(
            strcmp(filter, apr_pstrcat(p, "(&(objectClass=*)", term, ")", NULL))
            == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text;
    unsigned char *back;
    const char *esc, *f, *err;
    certmap_cert_t *cert;
    certmap_ldap_match_t m;
    const char *c;

    if (size > 64 * 1024) {
        return 0;
    }
    apr_pool_create(&p, root);

    esc = certmap_ldap_escape(p, (const char *)data, size);
    back = apr_palloc(p, size + 1);
    FUZZ_CHECK(unescape(esc, back) == size);
    FUZZ_CHECK(size == 0 || memcmp(back, data, size) == 0);

    text = apr_pstrmemdup(p, (const char *)data, size);
    err = certmap_ldap_url_filter(p, text, &f);
    if (err == NULL) {
        check_filter(f);
    }
    else {
        FUZZ_CHECK(f == NULL && *err != '\0');
    }
    if (certmap_ldap_attr_check(p, text) == NULL) {
        for (c = text; *c; c++) {
            FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                              "UVWXYZ0123456789.;-",
                              *c)
                       != NULL);
        }
        FUZZ_CHECK(certmap_ldap_match_parse(p, "fingerprint", text, &m)
                   == NULL);
        FUZZ_CHECK(strcmp(m.attr, text) == 0);
    }
    if (certmap_ldap_match_parse(p, text, NULL, &m) != NULL) {
        FUZZ_CHECK(m.mode == 0);
    }

    if (certmap_cert_from_bytes(p, data, size, &cert) == NULL) {
        check_cert(p, cert);
    }
    ERR_clear_error();
    apr_pool_destroy(p);
    return 0;
}
