/*
 * test_ldap.c - LDAP filter building and RFC 4515 escaping.
 *
 * Expected filters are written out by hand (escaping included) or built
 * here from OpenSSL's view of the certificate, never by the engine.
 */
#include <string.h>

#include <apr_strings.h>
#include <openssl/sha.h>

#include "certmap_ldap.h"
#include "tests.h"

/* The issuer CN of the escaping tests: every character RFC 4515, RFC
 * 4514 and GSER treat specially. */
#define EDGE_CN "Edge, (Dev) CA\\ \"x\" *"

static certmap_cert_t *engine_cert(const fx_cert_t *c)
{
    certmap_cert_t *cert;

    ASSERT_OK(certmap_cert_from_bytes(test_pool, c->der, c->der_len, &cert));
    return cert;
}

static certmap_ldap_match_t match(const char *mode, const char *attr)
{
    certmap_ldap_match_t m;

    ASSERT_OK(certmap_ldap_match_parse(test_pool, mode, attr, &m));
    return m;
}

static uint64_t serial_of(const fx_cert_t *c)
{
    uint64_t v;

    ck_assert_int_eq(
        ASN1_INTEGER_get_uint64(&v, X509_get0_serialNumber(c->x509)), 1);
    return v;
}

/* ------------------------------------------------------------------ */

START_TEST(escape_specials)
{
    static const char in[] = "a*b(c)d\\e\0f\x01g\x7f\xc3\xa9 h=i";
    const char *out = certmap_ldap_escape(test_pool, in, sizeof(in) - 1);

    ck_assert_str_eq(out, "a\\2ab\\28c\\29d\\5ce\\00f\\01g\\7f\\c3\\a9 h=i");
    ck_assert_str_eq(certmap_ldap_escape(test_pool, "", 0), "");
    ck_assert_str_eq(certmap_ldap_escape(test_pool, "plain", 5), "plain");
}
END_TEST

START_TEST(match_modes_and_defaults)
{
    certmap_ldap_match_t m;
    const char *err;

    m = match("altsecid", NULL);
    ck_assert_int_eq(m.mode, CERTMAP_LDAP_ALTSECID);
    ck_assert_str_eq(m.attr, "altSecurityIdentities");
    m = match("Certificate", NULL);
    ck_assert_int_eq(m.mode, CERTMAP_LDAP_CERTIFICATE);
    ck_assert_str_eq(m.attr, "userCertificate;binary");
    m = match("certificate", "userCertificate");
    ck_assert_str_eq(m.attr, "userCertificate");
    m = match("FINGERPRINT", "certmapFingerprint");
    ck_assert_int_eq(m.mode, CERTMAP_LDAP_FINGERPRINT);
    m = match("upn", NULL);
    ck_assert_int_eq(m.mode, CERTMAP_LDAP_UPN);
    ck_assert_str_eq(m.attr, "userPrincipalName");
    m = match("upn", "1.3.6.1.4.1.311.20.2.3;x-y");
    ck_assert_str_eq(m.attr, "1.3.6.1.4.1.311.20.2.3;x-y");

    ASSERT_ERROR(err, certmap_ldap_match_parse(test_pool, "subject", NULL, &m));
    ck_assert(strstr(err, "subject") != NULL);
    ASSERT_ERROR(err,
                 certmap_ldap_match_parse(test_pool, "fingerprint", NULL, &m));
    ASSERT_ERROR(err, certmap_ldap_match_parse(test_pool, "altsecid", "x", &m));
    ASSERT_ERROR(err, certmap_ldap_match_parse(test_pool, "upn", "a(b", &m));
    ck_assert_int_eq(m.mode, 0);
}
END_TEST

START_TEST(attribute_names)
{
    static const char *const good[] = {"uid",     "sAMAccountName",
                                       "a-1",     "userCertificate;binary",
                                       "2.5.4.3", "cn;lang-en;x"};
    static const char *const bad[] = {"",   "1a",   "-a",   "a b", "a(",
                                      "a*", "a;",   "2.5.", ".2",  "a=b",
                                      "é",  "a;;b", "uid\n"};
    const char *err;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(certmap_ldap_attr_check(test_pool, good[i]) == NULL,
                      "%s refused", good[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_ERROR(err, certmap_ldap_attr_check(test_pool, bad[i]));
    }
}
END_TEST

START_TEST(url_filters)
{
    const char *f, *err;

    ASSERT_OK(certmap_ldap_url_filter(test_pool, NULL, &f));
    ck_assert_str_eq(f, "(objectClass=*)");
    ASSERT_OK(certmap_ldap_url_filter(test_pool, "", &f));
    ck_assert_str_eq(f, "(objectClass=*)");
    ASSERT_OK(certmap_ldap_url_filter(test_pool, "objectClass=person", &f));
    ck_assert_str_eq(f, "(objectClass=person)");
    ASSERT_OK(certmap_ldap_url_filter(
        test_pool, "(&(objectClass=user)(!(cn=a\\29b)))", &f));
    ck_assert_str_eq(f, "(&(objectClass=user)(!(cn=a\\29b)))");

    ASSERT_ERROR(err, certmap_ldap_url_filter(test_pool, "((cn=x)", &f));
    ck_assert_ptr_null(f);
    ASSERT_ERROR(err, certmap_ldap_url_filter(test_pool, "(cn=x))", &f));
    ASSERT_ERROR(err, certmap_ldap_url_filter(test_pool, "(cn=x)(cn=y)", &f));
    ck_assert(strstr(err, "(&") != NULL);
    ASSERT_ERROR(err, certmap_ldap_url_filter(test_pool, "(cn=a\\2)", &f));
    ASSERT_ERROR(err, certmap_ldap_url_filter(test_pool, "(cn=\x01)", &f));
}
END_TEST

START_TEST(certificate_assertion_escaped)
{
    fx_cert_t *ca = fx_cert_make(test_pool, EDGE_CN, -3600, 3600, NULL);
    fx_cert_t *c = fx_cert_make(test_pool, "user", -3600, 3600, ca);
    certmap_ldap_match_t m = match("certificate", NULL);
    const char *cea, *term, *want;
    apr_uint64_t serial = serial_of(c);

    /* RFC 4514 by hand: ',' '\' '"' escaped with '\', last RDN first;
     * then GSER doubles every '"'. */
    ASSERT_OK(certmap_ldap_cert_assertion(test_pool, engine_cert(c), &cea));
    want = apr_psprintf(test_pool,
                        "{ serialNumber %" APR_UINT64_T_FMT
                        ", issuer rdnSequence:\"CN=Edge\\, "
                        "(Dev) CA\\\\ \\\"\"x\\\"\" *,O=mod_certmap tests\" }",
                        serial);
    ck_assert_str_eq(cea, want);
    /* ... then RFC 4515 for the filter: '\' '(' ')' '*' as \xx. */
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, engine_cert(c), &term));
    want = apr_psprintf(
        test_pool,
        "(userCertificate;binary={ serialNumber %" APR_UINT64_T_FMT ", issuer "
        "rdnSequence:\"CN=Edge\\5c, \\28Dev\\29 CA\\5c\\5c "
        "\\5c\"\"x\\5c\"\" \\2a,O=mod_certmap tests\" })",
        serial);
    ck_assert_str_eq(term, want);
}
END_TEST

/* The SHA-1 of the subjectPublicKey bits, from OpenSSL. */
static const char *pukey_sha1_hex(const fx_cert_t *c)
{
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(c->x509);
    unsigned char md[SHA_DIGEST_LENGTH];

    SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
    return fx_hex(test_pool, md, sizeof(md), 0, 0);
}

START_TEST(altsecid_strong_forms_escaped)
{
    fx_cert_t *ca = fx_cert_make(test_pool, EDGE_CN, -3600, 3600, NULL);
    fx_cert_t *c = fx_cert_make(test_pool, "user", -3600, 3600, ca);
    certmap_ldap_match_t m = match("altsecid", NULL);
    uint64_t serial = serial_of(c);
    unsigned char be[9];
    int n = 0, i;
    char *sr = "";
    const char *term, *want, *filter;

    /* AD's <SR>: the DER INTEGER's content bytes (sign byte included),
     * last byte first, upper-case hex. */
    for (i = 7; i >= 0; i--) {
        unsigned char b = (unsigned char)(serial >> (8 * i));

        if (n > 0 || b != 0) {
            if (n == 0 && (b & 0x80)) {
                be[n++] = 0;
            }
            be[n++] = b;
        }
    }
    for (i = n - 1; i >= 0; i--) {
        sr = apr_psprintf(test_pool, "%s%02X", sr, be[i]);
    }
    /* Windows' issuer: encoded order, the CN quoted (it holds ',' and
     * '"'), inner quotes doubled; then RFC 4515.  No SKI: no term. */
    want = apr_pstrcat(
        test_pool,
        "(|(altSecurityIdentities=X509:<I>O=mod_certmap tests,CN=\"Edge, "
        "\\28Dev\\29 CA\\5c \"\"x\"\" \\2a\"<SR>",
        sr, ")(altSecurityIdentities=X509:<SHA1-PUKEY>", pukey_sha1_hex(c),
        "))", NULL);
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, engine_cert(c), &term));
    ck_assert_str_eq(term, want);
    ASSERT_OK(certmap_ldap_filter(test_pool, "(objectClass=user)", &m,
                                  engine_cert(c), &filter));
    ck_assert_str_eq(filter, apr_pstrcat(test_pool, "(&(objectClass=user)",
                                         want, ")", NULL));
}
END_TEST

START_TEST(altsecid_with_ski)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "ski");
    certmap_cert_t *cert = engine_cert(c);
    certmap_ldap_match_t m = match("altsecid", NULL);
    static const unsigned char ski[] = {0xab, 0x01, 0x2a, 0x28};
    const char *term;

    /* The engine's SKI, set by hand: the term follows <I><SR>. */
    cert->ski = ski;
    cert->ski_len = sizeof(ski);
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, cert, &term));
    ck_assert_msg(strstr(term, "<SR>") != NULL, "%s", term);
    ck_assert_msg(strstr(term, ")(altSecurityIdentities=X509:<SKI>ab012a28)"
                               "(altSecurityIdentities=X509:<SHA1-PUKEY>")
                      != NULL,
                  "%s", term);
}
END_TEST

START_TEST(fingerprint_term)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "fp");
    certmap_ldap_match_t m = match("fingerprint", "certmapFingerprint");
    const char *term;

    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, engine_cert(c), &term));
    ck_assert_str_eq(term, apr_pstrcat(test_pool, "(certmapFingerprint=",
                                       fx_hex(test_pool, c->sha256, 32, 0, 0),
                                       ")", NULL));
}
END_TEST

START_TEST(upn_term_only_with_one_upn)
{
    certmap_cert_t *cert = engine_cert(fx_cert_simple(test_pool, "upn"));
    certmap_ldap_match_t m = match("upn", NULL);
    const char *term, *filter;

    ck_assert_int_eq(cert->upns->nelts, 0);
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, cert, &term));
    ck_assert_ptr_null(term);
    ASSERT_OK(
        certmap_ldap_filter(test_pool, "(objectClass=*)", &m, cert, &filter));
    ck_assert_ptr_null(filter);

    APR_ARRAY_PUSH(cert->upns, const char *) = "fr*nk(x)@contoso.com";
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, cert, &term));
    ck_assert_str_eq(term, "(userPrincipalName=fr\\2ank\\28x\\29@contoso.com)");

    APR_ARRAY_PUSH(cert->upns, const char *) = "other@contoso.com";
    ASSERT_OK(certmap_ldap_match_term(test_pool, &m, cert, &term));
    ck_assert_ptr_null(term);
}
END_TEST

START_TEST(forms_and_reasons)
{
    ck_assert_str_eq(certmap_ldap_form(CERTMAP_LDAP_ALTSECID), "ldap-altsecid");
    ck_assert_str_eq(certmap_ldap_form(CERTMAP_LDAP_CERTIFICATE),
                     "ldap-certificate");
    ck_assert_str_eq(certmap_ldap_form(CERTMAP_LDAP_FINGERPRINT),
                     "ldap-fingerprint");
    ck_assert_str_eq(certmap_ldap_form(CERTMAP_LDAP_UPN), "ldap-upn");
    ck_assert_str_eq(certmap_reason_name(CERTMAP_DIRECTORY_AMBIGUOUS),
                     "directory-ambiguous");
    ck_assert_str_eq(certmap_reason_name(CERTMAP_DIRECTORY_UNAVAILABLE),
                     "directory-unavailable");
    ck_assert_int_eq(certmap_reason_iis_substatus(CERTMAP_DIRECTORY_AMBIGUOUS),
                     12);
    ck_assert_int_eq(
        certmap_reason_iis_substatus(CERTMAP_DIRECTORY_UNAVAILABLE), 0);
}
END_TEST

Suite *make_ldap_suite(void)
{
    Suite *s = suite_create("ldap");
    TCase *tc = tcase_create("filters");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, escape_specials);
    tcase_add_test(tc, match_modes_and_defaults);
    tcase_add_test(tc, attribute_names);
    tcase_add_test(tc, url_filters);
    tcase_add_test(tc, certificate_assertion_escaped);
    tcase_add_test(tc, altsecid_strong_forms_escaped);
    tcase_add_test(tc, altsecid_with_ski);
    tcase_add_test(tc, fingerprint_term);
    tcase_add_test(tc, upn_term_only_with_one_upn);
    tcase_add_test(tc, forms_and_reasons);
    suite_add_tcase(s, tc);
    return s;
}
