/*
 * test_cert.c - parsing certificates: the PEM mod_ssl hands over, the
 * files an administrator configures, fingerprints, dates and certmap_hex;
 * the key and Active Directory strong forms (SPKI, SHA-1 of the key, SKI,
 * issuer and serial) and UPNs, against independent computations and a
 * vector made with the openssl CLI.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "tests.h"

/* Everything the engine keeps must match the independent computation. */
static void assert_same_cert(const certmap_cert_t *cert, const fx_cert_t *c)
{
    ck_assert_ptr_nonnull(cert);
    ck_assert_mem_eq(cert->sha256, c->sha256, CERTMAP_SHA256_LEN);
    ck_assert_mem_eq(cert->sha1, c->sha1, CERTMAP_SHA1_LEN);
    ck_assert_msg(cert->not_before == c->not_before,
                  "not_before %" APR_TIME_T_FMT ", expected %" APR_TIME_T_FMT,
                  cert->not_before, c->not_before);
    ck_assert_msg(cert->not_after == c->not_after,
                  "not_after %" APR_TIME_T_FMT ", expected %" APR_TIME_T_FMT,
                  cert->not_after, c->not_after);
    ck_assert_ptr_nonnull(cert->subject);
}

/* certmap_cert_from_bytes() must fail on `data`; returns the message. */
static const char *from_bytes_error(const void *data, apr_size_t len)
{
    certmap_cert_t *cert = NULL;
    const char *err;

    ASSERT_ERROR(err, certmap_cert_from_bytes(test_pool, data, len, &cert));
    return err;
}

START_TEST(from_pem_as_mod_ssl_gives_it)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "certuser");
    certmap_cert_t *cert = NULL;

    ASSERT_OK(certmap_cert_from_pem(test_pool, c->pem, c->pem_len, &cert));
    assert_same_cert(cert, c);
    ck_assert_str_eq(cert->subject, "CN=certuser,O=mod_certmap tests");
}
END_TEST

START_TEST(from_pem_reads_only_len_bytes)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "exact");
    /* An exact-size heap copy without a terminating NUL, so that reading
     * past `len` is caught by the address sanitizer. */
    char *exact = malloc(c->pem_len);
    certmap_cert_t *cert = NULL;
    const char *err;

    ck_assert_ptr_nonnull(exact);
    memcpy(exact, c->pem, c->pem_len);
    err = certmap_cert_from_pem(test_pool, exact, c->pem_len, &cert);
    free(exact);
    ASSERT_OK(err);
    assert_same_cert(cert, c);
}
END_TEST

START_TEST(from_pem_garbage)
{
    certmap_cert_t *cert = NULL;
    const char *err;
    fx_cert_t *c = fx_cert_simple(test_pool, "x");

    ASSERT_ERROR(err, certmap_cert_from_pem(test_pool, "", 0, &cert));
    ASSERT_ERROR(err, certmap_cert_from_pem(test_pool, "hello", 5, &cert));
    /* Cut in the middle of the base64. */
    ASSERT_ERROR(
        err, certmap_cert_from_pem(test_pool, c->pem, c->pem_len / 2, &cert));
}
END_TEST

START_TEST(from_bytes_pem_and_der)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "bytes");
    certmap_cert_t *cert = NULL;

    ASSERT_OK(certmap_cert_from_bytes(test_pool, (const unsigned char *)c->pem,
                                      c->pem_len, &cert));
    assert_same_cert(cert, c);
    ck_assert_str_eq(cert->subject, "CN=bytes,O=mod_certmap tests");

    cert = NULL;
    ASSERT_OK(certmap_cert_from_bytes(test_pool, c->der, c->der_len, &cert));
    assert_same_cert(cert, c);
    ck_assert_str_eq(cert->subject, "CN=bytes,O=mod_certmap tests");
}
END_TEST

START_TEST(from_bytes_windows_crlf_pem)
{
    /* Windows' "Base-64 encoded X.509 (.CER)" export ends lines in CRLF. */
    fx_cert_t *c = fx_cert_simple(test_pool, "windows");
    char *crlf = apr_palloc(test_pool, c->pem_len * 2 + 1);
    apr_size_t i, n = 0;
    certmap_cert_t *cert = NULL;

    for (i = 0; i < c->pem_len; i++) {
        if (c->pem[i] == '\n') {
            crlf[n++] = '\r';
        }
        crlf[n++] = c->pem[i];
    }
    ASSERT_OK(
        certmap_cert_from_bytes(test_pool, (unsigned char *)crlf, n, &cert));
    assert_same_cert(cert, c);
}
END_TEST

START_TEST(ca_signed_certificate)
{
    fx_cert_t *ca = fx_cert_simple(test_pool, "Test CA");
    fx_cert_t *c = fx_cert_make(test_pool, "leaf", -60, 3600, ca);
    certmap_cert_t *cert = NULL;

    ASSERT_OK(certmap_cert_from_pem(test_pool, c->pem, c->pem_len, &cert));
    assert_same_cert(cert, c);
    ck_assert_str_eq(cert->subject, "CN=leaf,O=mod_certmap tests");
    /* The CA is a different certificate. */
    ck_assert_int_ne(memcmp(cert->sha256, ca->sha256, 32), 0);
}
END_TEST

START_TEST(subject_escapes_specials_and_controls)
{
    fx_cert_t *comma = fx_cert_simple(test_pool, "evil,CN=admin");
    fx_cert_t *ctrl =
        fx_cert_simple(test_pool, "evil\r\nX-Injected: 1\x01\x7f");
    certmap_cert_t *cert = NULL;

    /* RFC 2253: a ',' inside a value is escaped, so it cannot pose as a
     * second RDN. */
    ASSERT_OK(
        certmap_cert_from_pem(test_pool, comma->pem, comma->pem_len, &cert));
    ck_assert_str_eq(cert->subject, "CN=evil\\,CN=admin,O=mod_certmap tests");

    cert = NULL;
    ASSERT_OK(
        certmap_cert_from_pem(test_pool, ctrl->pem, ctrl->pem_len, &cert));
    ck_assert_msg(!fx_has_control_char(cert->subject),
                  "control character in subject \"%s\"", cert->subject);
    ck_assert_msg(strstr(cert->subject, "X-Injected") != NULL,
                  "subject lost its text: %s", cert->subject);
}
END_TEST

START_TEST(out_of_date)
{
    fx_cert_t *c = fx_cert_make(test_pool, "dates", -3600, 3600, NULL);
    fx_cert_t *expired = fx_cert_make(test_pool, "expired", -7200, -3600, NULL);
    fx_cert_t *future = fx_cert_make(test_pool, "future", 3600, 7200, NULL);
    certmap_cert_t *cert = NULL;
    apr_time_t one_sec = apr_time_from_sec(1);

    ASSERT_OK(certmap_cert_from_pem(test_pool, c->pem, c->pem_len, &cert));
    ck_assert_int_eq(certmap_cert_out_of_date(cert, apr_time_now()), 0);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, c->not_before), 0);
    /* RFC 5280: the period runs from notBefore through notAfter,
     * inclusive. */
    ck_assert_int_eq(certmap_cert_out_of_date(cert, c->not_after), 0);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, c->not_before - one_sec),
                     1);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, c->not_after + one_sec), 1);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, 0), 1);

    ASSERT_OK(certmap_cert_from_pem(test_pool, expired->pem, expired->pem_len,
                                    &cert));
    assert_same_cert(cert, expired);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, apr_time_now()), 1);

    ASSERT_OK(
        certmap_cert_from_pem(test_pool, future->pem, future->pem_len, &cert));
    assert_same_cert(cert, future);
    ck_assert_int_eq(certmap_cert_out_of_date(cert, apr_time_now()), 1);
}
END_TEST

START_TEST(dates_beyond_2050)
{
    /* Past 2049 notAfter is a GeneralizedTime, not a UTCTime. */
    fx_cert_t *c =
        fx_cert_make(test_pool, "long", -60, 40L * 366 * 86400, NULL);
    certmap_cert_t *cert = NULL;

    ASSERT_OK(certmap_cert_from_pem(test_pool, c->pem, c->pem_len, &cert));
    assert_same_cert(cert, c);
}
END_TEST

START_TEST(private_key_refused)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "with key");
    const char *keys[3];
    const char *err;
    apr_size_t len;
    const unsigned char *data;
    int i;

    keys[0] = c->key_pem;
    keys[1] = fx_key_pem_traditional(test_pool, c);
    keys[2] = fx_key_pem_encrypted(test_pool, c);
    ck_assert_ptr_nonnull(strstr(keys[0], "BEGIN PRIVATE KEY"));
    ck_assert_ptr_nonnull(strstr(keys[1], "BEGIN EC PRIVATE KEY"));
    ck_assert_ptr_nonnull(strstr(keys[2], "BEGIN ENCRYPTED PRIVATE KEY"));

    for (i = 0; i < 3; i++) {
        /* Certificate then key, key then certificate, key alone. */
        data = fx_concat(test_pool, c->pem, c->pem_len, keys[i],
                         strlen(keys[i]), &len);
        err = from_bytes_error(data, len);
        ck_assert_msg(fx_contains_nocase(err, "private"),
                      "key %d after cert: error does not say why: %s", i, err);
        data = fx_concat(test_pool, keys[i], strlen(keys[i]), c->pem,
                         c->pem_len, &len);
        err = from_bytes_error(data, len);
        ck_assert_msg(fx_contains_nocase(err, "private"),
                      "key %d before cert: error does not say why: %s", i, err);
        err = from_bytes_error(keys[i], strlen(keys[i]));
        ck_assert_msg(fx_contains_nocase(err, "private"),
                      "key %d alone: error does not say why: %s", i, err);
    }
}
END_TEST

START_TEST(private_key_block_that_does_not_decode_refused)
{
    /* The key material is in the file whether or not OpenSSL can decode
     * the block: one damaged base64 character must not let it through. */
    fx_cert_t *c = fx_cert_simple(test_pool, "with key");
    char *damaged = apr_pstrdup(test_pool, c->key_pem);
    char *body = strchr(damaged, '\n') + 1;
    const unsigned char *data;
    apr_size_t len;
    const char *err;

    body[10] = '!';
    data = fx_concat(test_pool, c->pem, c->pem_len, damaged, strlen(damaged),
                     &len);
    err = from_bytes_error(data, len);
    ck_assert_msg(fx_contains_nocase(err, "private"),
                  "error does not mention the private key: %s", err);
}
END_TEST

START_TEST(private_key_file_refused_with_path)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "with key");
    const char *dir = fx_tmpdir(test_pool);
    const char *path =
        fx_write_text(test_pool, dir, "cert-and-key.pem",
                      apr_pstrcat(test_pool, c->pem, c->key_pem, NULL));
    certmap_cert_t *cert = NULL;
    const char *err;

    ASSERT_ERROR(err, certmap_cert_load_file(test_pool, path, &cert));
    ck_assert_msg(fx_contains_nocase(err, "private"),
                  "error does not mention the private key: %s", err);
    ck_assert_msg(strstr(err, path) != NULL, "error does not name %s: %s", path,
                  err);
}
END_TEST

START_TEST(pkcs12_refused)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "p12");
    apr_size_t len;
    const unsigned char *p12;

    p12 = fx_pkcs12(test_pool, c, 1, &len);
    from_bytes_error(p12, len);
    p12 = fx_pkcs12(test_pool, c, 0, &len);
    from_bytes_error(p12, len);
}
END_TEST

START_TEST(two_certificates_refused)
{
    fx_cert_t *a = fx_cert_simple(test_pool, "first");
    fx_cert_t *b = fx_cert_simple(test_pool, "second");
    const unsigned char *data;
    apr_size_t len;

    data = fx_concat(test_pool, a->pem, a->pem_len, b->pem, b->pem_len, &len);
    from_bytes_error(data, len);
    /* The same certificate twice is still two. */
    data = fx_concat(test_pool, a->pem, a->pem_len, a->pem, a->pem_len, &len);
    from_bytes_error(data, len);
    /* DER followed by a second DER certificate: d2i_X509() alone would
     * stop after the first and ignore the rest. */
    data = fx_concat(test_pool, a->der, a->der_len, b->der, b->der_len, &len);
    from_bytes_error(data, len);
}
END_TEST

START_TEST(no_certificate_or_garbage)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "x");
    unsigned char noise[512];
    const char *broken;
    unsigned int seed = 12345;
    size_t i;

    for (i = 0; i < sizeof(noise); i++) {
        seed = seed * 1103515245u + 12345u;
        noise[i] = (unsigned char)(seed >> 16);
    }
    from_bytes_error("hello, world\n", 13);
    from_bytes_error(noise, sizeof(noise));
    /* A PEM armour around base64 that is not a certificate. */
    broken = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n"
             "-----END CERTIFICATE-----\n";
    from_bytes_error(broken, strlen(broken));
    /* A truncated DER certificate. */
    from_bytes_error(c->der, c->der_len - 10);
    /* Empty. */
    from_bytes_error("", 0);
}
END_TEST

START_TEST(load_file_pem_and_der)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "file");
    const char *dir = fx_tmpdir(test_pool);
    const char *pem = fx_write_text(test_pool, dir, "c.pem", c->pem);
    const char *der =
        fx_write_file(test_pool, dir, "c.cer", c->der, c->der_len);
    certmap_cert_t *cert = NULL;

    ASSERT_OK(certmap_cert_load_file(test_pool, pem, &cert));
    assert_same_cert(cert, c);
    cert = NULL;
    ASSERT_OK(certmap_cert_load_file(test_pool, der, &cert));
    assert_same_cert(cert, c);
    ck_assert_str_eq(cert->subject, "CN=file,O=mod_certmap tests");
}
END_TEST

START_TEST(load_file_errors_name_path)
{
    fx_cert_t *a = fx_cert_simple(test_pool, "first");
    fx_cert_t *b = fx_cert_simple(test_pool, "second");
    const char *dir = fx_tmpdir(test_pool);
    const char *files[5];
    certmap_cert_t *cert = NULL;
    const char *err;
    int i;

    files[0] = fx_write_text(test_pool, dir, "empty.pem", "");
    files[1] = fx_write_text(test_pool, dir, "garbage.pem", "not a cert\n");
    files[2] = fx_write_text(test_pool, dir, "two.pem",
                             apr_pstrcat(test_pool, a->pem, b->pem, NULL));
    files[3] = apr_pstrcat(test_pool, dir, "/missing.pem", NULL);
    files[4] = dir; /* a directory cannot be read as a file */
    for (i = 0; i < 5; i++) {
        ASSERT_ERROR(err, certmap_cert_load_file(test_pool, files[i], &cert));
        ck_assert_msg(strstr(err, files[i]) != NULL,
                      "error does not name %s: %s", files[i], err);
    }
}
END_TEST

START_TEST(load_file_unreadable)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "secret");
    const char *dir = fx_tmpdir(test_pool);
    const char *path = fx_write_text(test_pool, dir, "c.pem", c->pem);
    const char *through_file = apr_pstrcat(test_pool, path, "/x.pem", NULL);
    certmap_cert_t *cert = NULL;
    const char *err;

    /* A path that runs through a regular file (ENOTDIR). */
    ASSERT_ERROR(err, certmap_cert_load_file(test_pool, through_file, &cert));
    ck_assert_msg(strstr(err, through_file) != NULL,
                  "error does not name %s: %s", through_file, err);

    /* Mode 000; root reads it anyway, so only for other users. */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(path, 0), 0);
        ASSERT_ERROR(err, certmap_cert_load_file(test_pool, path, &cert));
        ck_assert_msg(strstr(err, path) != NULL, "error does not name %s: %s",
                      path, err);
    }
}
END_TEST

START_TEST(hex)
{
    static const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80,
                                          0xab, 0xcd, 0xef, 0xff};
    fx_cert_t *c = fx_cert_simple(test_pool, "hex");

    ck_assert_str_eq(certmap_hex(test_pool, bytes, sizeof(bytes)),
                     "00017f80abcdefff");
    ck_assert_str_eq(certmap_hex(test_pool, bytes, 1), "00");
    ck_assert_str_eq(certmap_hex(test_pool, bytes, 0), "");
    ck_assert_str_eq(certmap_hex(test_pool, c->sha256, CERTMAP_SHA256_LEN),
                     fx_hex(test_pool, c->sha256, CERTMAP_SHA256_LEN, 0, 0));
    ck_assert_str_eq(certmap_hex(test_pool, c->sha1, CERTMAP_SHA1_LEN),
                     fx_hex(test_pool, c->sha1, CERTMAP_SHA1_LEN, 0, 0));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Key and strong forms: SPKI, SHA-1 of the key, SKI, issuer and serial */
/* as Active Directory writes them, UPNs                               */

/* These helpers are also used by test_table.c (declared there). */

static apr_status_t st_free_x509(void *data)
{
    X509_free(data);
    return APR_SUCCESS;
}

static apr_status_t st_free_pkey(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

/* A new P-256 key, freed with the pool. */
EVP_PKEY *st_key(apr_pool_t *p)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");

    ck_assert_ptr_nonnull(k);
    apr_pool_cleanup_register(p, k, st_free_pkey, apr_pool_cleanup_null);
    return k;
}

/* A certificate for "O=W2K3TEST, CN=<cn>" issued (in name: the engine
 * does not verify signatures) by `issuer` (NULL: itself), with `serial`
 * (NULL: a fresh small one), public key `key` (NULL: a new one), a
 * SubjectKeyIdentifier extension holding `ski` when ski_len > 0, and
 * `sans` as SubjectAlternativeName when not NULL.  Freed with the pool. */
X509 *st_x509(apr_pool_t *p, const char *cn, const X509_NAME *issuer,
              const BIGNUM *serial, EVP_PKEY *key, const unsigned char *ski,
              size_t ski_len, GENERAL_NAMES *sans)
{
    static uint64_t counter;
    X509 *x = X509_new();
    X509_NAME *name;
    time_t now = time(NULL);

    ck_assert_ptr_nonnull(x);
    apr_pool_cleanup_register(p, x, st_free_x509, apr_pool_cleanup_null);
    if (key == NULL) {
        key = st_key(p);
    }
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    if (serial != NULL) {
        ck_assert_ptr_nonnull(
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)));
    }
    else {
        ck_assert_int_eq(
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), ++counter + 77),
            1);
    }
    ck_assert_ptr_nonnull(
        X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now));
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, &now));
    name = X509_get_subject_name(x);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(
                         name, "O", MBSTRING_UTF8,
                         (const unsigned char *)"W2K3TEST", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1,
                                                -1, 0),
                     1);
    ck_assert_int_eq(X509_set_issuer_name(x, issuer ? issuer : name), 1);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    if (ski_len > 0) {
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

        ck_assert_int_eq(ASN1_OCTET_STRING_set(os, ski, (int)ski_len), 1);
        ck_assert_int_eq(
            X509_add1_ext_i2d(x, NID_subject_key_identifier, os, 0, 0), 1);
        ASN1_OCTET_STRING_free(os);
    }
    if (sans != NULL) {
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, 0),
                         1);
    }
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    return x;
}

/* The engine's view of x, through the PEM path mod_ssl uses. */
certmap_cert_t *st_parse(apr_pool_t *p, X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long n;
    certmap_cert_t *cert = NULL;

    ck_assert_int_eq(PEM_write_bio_X509(bio, x), 1);
    n = BIO_get_mem_data(bio, &data);
    ASSERT_OK(certmap_cert_from_pem(p, data, (apr_size_t)n, &cert));
    BIO_free(bio);
    ck_assert_ptr_nonnull(cert);
    return cert;
}

/* SHA-256 of the SubjectPublicKeyInfo, from the key object (i2d_PUBKEY),
 * not from the certificate's structure. */
void st_expected_spki(EVP_PKEY *key, unsigned char *out)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    unsigned int n;

    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(EVP_Digest(der, (size_t)len, out, &n, EVP_sha256(), NULL),
                     1);
    OPENSSL_free(der);
}

/* SHA-1 of the bare public key (EC point / PKCS#1 RSAPublicKey), from
 * i2d_PublicKey: the subjectPublicKey bits without the SPKI around. */
void st_expected_pukey(EVP_PKEY *key, unsigned char *out)
{
    unsigned char *der = NULL;
    int len = i2d_PublicKey(key, &der);
    unsigned int n;

    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(EVP_Digest(der, (size_t)len, out, &n, EVP_sha1(), NULL),
                     1);
    OPENSSL_free(der);
}

/* The <SR> bytes of a serial, computed from its value with BIGNUM: the
 * big-endian two's-complement bytes DER uses, reversed. */
static apr_size_t st_expected_serial(const X509 *x, unsigned char *out)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    unsigned char be[CERTMAP_SERIAL_MAX + 2];
    int n, i;
    apr_size_t len;

    ck_assert_ptr_nonnull(bn);
    if (BN_is_negative(bn)) {
        /* Two's complement of |v| in the fewest bytes whose top bit is
         * set: invert, add one. */
        BN_set_negative(bn, 0);
        n = BN_num_bytes(bn);
        ck_assert_int_eq(BN_bn2binpad(bn, be + 1, n), n);
        be[0] = 0;
        for (i = n; i >= 1; i--) {
            be[i] = (unsigned char)~be[i];
        }
        for (i = n; i >= 1; i--) {
            if (++be[i] != 0) {
                break;
            }
        }
        /* -0x80 is 80, -0x81 is FF 7F. */
        if (be[1] & 0x80) {
            memmove(be, be + 1, (size_t)n);
            len = (apr_size_t)n;
        }
        else {
            be[0] = 0xff;
            len = (apr_size_t)n + 1;
        }
    }
    else {
        n = BN_num_bytes(bn);
        be[0] = 0x00;
        BN_bn2bin(bn, be + 1);
        if (n == 0 || (be[1] & 0x80)) {
            len = (apr_size_t)n + 1; /* keep the 00 */
        }
        else {
            memmove(be, be + 1, (size_t)n);
            len = (apr_size_t)n;
        }
    }
    BN_free(bn);
    for (i = 0; i < (int)len; i++) {
        out[i] = be[len - 1 - (apr_size_t)i];
    }
    return len;
}

static apr_status_t st_free_bn(void *data)
{
    BN_free(data);
    return APR_SUCCESS;
}

static BIGNUM *st_bn(apr_pool_t *p, const char *hex)
{
    BIGNUM *bn = NULL;

    ck_assert_int_gt(BN_hex2bn(&bn, hex), 0);
    apr_pool_cleanup_register(p, bn, st_free_bn, apr_pool_cleanup_null);
    return bn;
}

/* X509_NAME_add_entry_by_txt that must work; `rdn` -1 appends a new
 * RDN, 0 adds to the last one (a multi-valued RDN). */
static void st_name_add(X509_NAME *name, const char *field, int type,
                        const char *value, int len, int rdn)
{
    /* OpenSSL's `set`: 0 makes a new RDN, -1 joins the previous one. */
    ck_assert_msg(X509_NAME_add_entry_by_txt(name, field, type,
                                             (const unsigned char *)value, len,
                                             -1, rdn == -1 ? 0 : -1)
                      == 1,
                  "cannot add %s", field);
}

static apr_status_t st_free_name(void *data)
{
    X509_NAME_free(data);
    return APR_SUCCESS;
}

static X509_NAME *st_name(apr_pool_t *p)
{
    X509_NAME *n = X509_NAME_new();

    ck_assert_ptr_nonnull(n);
    apr_pool_cleanup_register(p, n, st_free_name, apr_pool_cleanup_null);
    return n;
}

/* The engine accepts each of its own spec forms, and each one names the
 * certificate: it decides MAPPED in a table holding only that form. */
void st_assert_forms_map(apr_pool_t *p, const certmap_cert_t *cert)
{
    apr_array_header_t *forms = certmap_cert_spec_forms(p, cert);
    int i;

    for (i = 0; i < forms->nelts; i++) {
        const char *spec = APR_ARRAY_IDX(forms, i, const char *);
        certmap_table_t *t = certmap_table_make(p);
        const certmap_table_t *chain[1];
        certmap_key_t key;
        certmap_decision_t d;

        ck_assert_msg(certmap_key_parse(p, spec, NULL, &key) == NULL,
                      "own form refused: %s: %s", spec,
                      certmap_key_parse(p, spec, NULL, &key));
        ASSERT_OK(certmap_table_add(t, &key, "DOM\\owner", "forms:1"));
        chain[0] = t;
        certmap_decide(chain, 1, cert, p, &d);
        ck_assert_msg(d.reason == CERTMAP_MAPPED, "own form %s does not map",
                      spec);
        ck_assert_str_eq(d.form, certmap_key_form(&key));
        /* A map-file line with the quoted form works as well. */
        t = certmap_table_make(p);
        ASSERT_OK(certmap_table_add_line(
            t, apr_pstrcat(p, certmap_map_quote(p, spec), " DOM\\owner", NULL),
            NULL, "forms:2"));
        chain[0] = t;
        certmap_decide(chain, 1, cert, p, &d);
        ck_assert_msg(d.reason == CERTMAP_MAPPED,
                      "own form %s does not map from a map file", spec);
    }
}

/* A certificate made with the openssl CLI (kept here, no key anywhere):
 *   issuer: DC=com, DC=contoso, O=Edge, "Dev" + Co, and one RDN with
 *           OU=R\D + CN=Issuing CA 1 (encoded in that order)
 *   serial: C40102030405060708090A0B0C0D0E0F (high bit: DER adds 00)
 *   SKI:    subjectKeyIdentifier=hash
 *   SAN:    msUPN UTF8 alice@contoso.com, email, msUPN as IA5STRING,
 *           1.2.3.4 UTF8, msUPN UTF8 alice2@corp.contoso.com
 * Expected values, from the CLI:
 *   openssl x509 -noout -fingerprint -sha256 / -sha1
 *   openssl x509 -noout -serial -ext subjectKeyIdentifier
 *   openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER
 *     | sha256sum                      (SPKI)
 *     | tail -c 65 | sha1sum           (the P-256 point = the key bits)
 * and the AD forms written by hand from `-issuer -nameopt RFC2253`. */
static const char cli_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICljCCAjygAwIBAgIRAMQBAgMEBQYHCAkKCwwNDg8wCgYIKoZIzj0EAwIwbDET\n"
    "MBEGCgmSJomT8ixkARkWA2NvbTEXMBUGCgmSJomT8ixkARkWB2NvbnRvc28xGTAX\n"
    "BgNVBAoMEEVkZ2UsICJEZXYiICsgQ28xITAKBgNVBAsMA1JcRDATBgNVBAMMDElz\n"
    "c3VpbmcgQ0EgMTAgFw0yNjExMjUyMjAzMjRaGA8yMTI2MTEwMTIyMDMyNFowIzER\n"
    "MA8GA1UECgwIVzJLM1RFU1QxDjAMBgNVBAMMBWFsaWNlMFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAECBTCz5EU+mx2pThIV2XysMAtMVS/5rNZQGXw+/+aJxZGXCCe\n"
    "f2g1OgCot7OnkgMSDyFT92J8SP8AUaU6fZ7otKOCAQQwggEAMAwGA1UdEwEB/wQC\n"
    "MAAwHQYDVR0OBBYEFEOYf4CHR4bz0o84D11B4IfMsEXdMB8GA1UdIwQYMBaAFG5r\n"
    "hagHWXccIC/Df+uIMJNcvciJMIGvBgNVHREEgacwgaSgIQYKKwYBBAGCNxQCA6AT\n"
    "DBFhbGljZUBjb250b3NvLmNvbYERYWxpY2VAY29udG9zby5jb22gIwYKKwYBBAGC\n"
    "NxQCA6AVFhNub3R1dGY4QGNvbnRvc28uY29toB4GAyoDBKAXDBVvdGhlci1vaWRA\n"
    "Y29udG9zby5jb22gJwYKKwYBBAGCNxQCA6AZDBdhbGljZTJAY29ycC5jb250b3Nv\n"
    "LmNvbTAKBggqhkjOPQQDAgNIADBFAiA5bQkvC1cBYOW/+NPdp92Nj4cbXjAat6gv\n"
    "SM1tB9KOvgIhAOyi96eTnM975g+kiCIroZXx9JvUqnKfF51O6pri2KV1\n"
    "-----END CERTIFICATE-----\n";

START_TEST(fixed_vector_from_openssl_cli)
{
    static const char *const want_forms[] = {
        "sha256:dd9548efcad0f06627cab3ca5f859a4da9e8f334a517fa123ac0b5a092ea"
        "8ae0",
        "sha1:735da7bec920031ebfd3632ee079ef1a0ac198bc",
        "spki-sha256:02465dc69a927f36a89539cd7df6d5230cf0ed5b435fccf592085cf6"
        "f4e09c6f",
        /* Issuer in encoded order; O quoted for ',', '"' and '+' with the
         * inner quotes doubled; the backslash as it is; the multi-valued
         * RDN's values separated by a blank.  Serial C401...0F is DER
         * 00 C4 01 .. 0F: reversed, the 00 comes last. */
        "X509:<I>DC=com,DC=contoso,O=\"Edge, \"\"Dev\"\" + Co\",OU=R\\D "
        "CN=Issuing CA 1<SR>0F0E0D0C0B0A090807060504030201C400",
        "X509:<SKI>43987f80874786f3d28f380f5d41e087ccb045dd",
        "X509:<SHA1-PUKEY>43987f80874786f3d28f380f5d41e087ccb045dd",
    };
    certmap_cert_t *cert = NULL;
    apr_array_header_t *forms;
    size_t i;

    ASSERT_OK(
        certmap_cert_from_pem(test_pool, cli_pem, strlen(cli_pem), &cert));
    forms = certmap_cert_spec_forms(test_pool, cert);
    ck_assert_int_eq(forms->nelts, 6);
    for (i = 0; i < 6; i++) {
        ck_assert_str_eq(APR_ARRAY_IDX(forms, i, const char *), want_forms[i]);
    }
    ck_assert_str_eq(cert->issuer_ad,
                     "DC=com,DC=contoso,O=\"Edge, \"\"Dev\"\" + Co\","
                     "OU=R\\D CN=Issuing CA 1");
    ck_assert_uint_eq(cert->serial_ad_len, 17);
    ck_assert_uint_eq(cert->serial_ad[16], 0x00);
    ck_assert_uint_eq(cert->serial_ad[15], 0xC4);
    ck_assert_uint_eq(cert->serial_ad[0], 0x0F);
    ck_assert_uint_eq(cert->ski_len, 20);
    /* Only the two UTF8String UPNs, in order. */
    ck_assert_int_eq(cert->upns->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(cert->upns, 0, const char *),
                     "alice@contoso.com");
    ck_assert_str_eq(APR_ARRAY_IDX(cert->upns, 1, const char *),
                     "alice2@corp.contoso.com");
    st_assert_forms_map(test_pool, cert);
}
END_TEST

START_TEST(kb5014754_example_issuer_and_serial)
{
    /* Microsoft's example: serial 2B0000000011AC0000000012 of
     * DC=com,DC=contoso,CN=CONTOSO-DC-CA is written
     * X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>1200000000AC11000000002B */
    X509_NAME *issuer = st_name(test_pool);
    X509 *x;
    certmap_cert_t *cert;
    apr_array_header_t *forms;

    st_name_add(issuer, "DC", MBSTRING_ASC, "com", -1, -1);
    st_name_add(issuer, "DC", MBSTRING_ASC, "contoso", -1, -1);
    st_name_add(issuer, "CN", MBSTRING_ASC, "CONTOSO-DC-CA", -1, -1);
    x = st_x509(test_pool, "kb", issuer,
                st_bn(test_pool, "2B0000000011AC0000000012"), NULL, NULL, 0,
                NULL);
    cert = st_parse(test_pool, x);
    ck_assert_str_eq(cert->issuer_ad, "DC=com,DC=contoso,CN=CONTOSO-DC-CA");
    forms = certmap_cert_spec_forms(test_pool, cert);
    /* No SKI: five forms. */
    ck_assert_int_eq(forms->nelts, 5);
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 3, const char *),
                     "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA"
                     "<SR>1200000000AC11000000002B");
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 4, const char *),
                     apr_pstrcat(test_pool, "X509:<SHA1-PUKEY>",
                                 fx_hex(test_pool, cert->pukey_sha1, 20, 0, 0),
                                 NULL));
    ck_assert_ptr_null(cert->ski);
    st_assert_forms_map(test_pool, cert);
}
END_TEST

START_TEST(spki_and_public_key_hashes_independent)
{
    EVP_PKEY *ec = st_key(test_pool);
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    unsigned char want[CERTMAP_SHA256_LEN];
    EVP_PKEY *keys[2];
    int i;

    ck_assert_ptr_nonnull(rsa);
    apr_pool_cleanup_register(test_pool, rsa, st_free_pkey,
                              apr_pool_cleanup_null);
    keys[0] = ec;
    keys[1] = rsa; /* RSA: the SPKI carries NULL parameters */
    for (i = 0; i < 2; i++) {
        X509 *x =
            st_x509(test_pool, "keys", NULL, NULL, keys[i], NULL, 0, NULL);
        certmap_cert_t *cert = st_parse(test_pool, x);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n;

        st_expected_spki(keys[i], want);
        ck_assert_mem_eq(cert->spki_sha256, want, CERTMAP_SHA256_LEN);
        st_expected_pukey(keys[i], want);
        ck_assert_mem_eq(cert->pukey_sha1, want, CERTMAP_SHA1_LEN);
        /* OpenSSL's own key identifier (RFC 5280 method 1) agrees. */
        ck_assert_int_eq(X509_pubkey_digest(x, EVP_sha1(), md, &n), 1);
        ck_assert_mem_eq(cert->pukey_sha1, md, CERTMAP_SHA1_LEN);
        /* Neither is a certificate fingerprint. */
        ck_assert_int_ne(memcmp(cert->spki_sha256, cert->sha256, 32), 0);
        ck_assert_int_ne(memcmp(cert->pukey_sha1, cert->sha1, 20), 0);
    }
}
END_TEST

START_TEST(renewed_certificate_keeps_key_forms)
{
    EVP_PKEY *key = st_key(test_pool);
    X509_NAME *issuer = st_name(test_pool);
    static const unsigned char ski[] = {1, 2, 3, 4, 5, 6, 7, 8};
    certmap_cert_t *old, *renewed, *other;

    st_name_add(issuer, "CN", MBSTRING_ASC, "Renewal CA", -1, -1);
    old = st_parse(test_pool, st_x509(test_pool, "user", issuer, NULL, key, ski,
                                      sizeof(ski), NULL));
    renewed = st_parse(test_pool, st_x509(test_pool, "user", issuer, NULL, key,
                                          ski, sizeof(ski), NULL));
    other = st_parse(test_pool, st_x509(test_pool, "user", issuer, NULL, NULL,
                                        NULL, 0, NULL));
    ck_assert_int_ne(memcmp(old->sha256, renewed->sha256, 32), 0);
    ck_assert_mem_eq(old->spki_sha256, renewed->spki_sha256, 32);
    ck_assert_mem_eq(old->pukey_sha1, renewed->pukey_sha1, 20);
    ck_assert_uint_eq(renewed->ski_len, sizeof(ski));
    ck_assert_mem_eq(renewed->ski, ski, sizeof(ski));
    /* A SKI chosen by the CA is not the hash of the key. */
    ck_assert_int_ne(memcmp(old->pukey_sha1, ski, sizeof(ski)), 0);
    /* New serial, so the issuer/serial form does not follow. */
    ck_assert_int_ne(
        old->serial_ad_len == renewed->serial_ad_len
            && memcmp(old->serial_ad, renewed->serial_ad, old->serial_ad_len)
                   == 0,
        1);
    ck_assert_int_ne(memcmp(old->spki_sha256, other->spki_sha256, 32), 0);
    ck_assert_int_ne(memcmp(old->pukey_sha1, other->pukey_sha1, 20), 0);
}
END_TEST

START_TEST(serial_bytes_reversed_with_sign_byte)
{
    static const char *const serials[] = {
        "1",
        "7F",
        "80", /* 00 80 */
        "FF", /* 00 FF */
        "0",  /* 00 */
        "1234",
        "2B0000000011AC0000000012",
        "C40102030405060708090A0B0C0D0E0F",         /* 00 C4 ... */
        "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", /* 20 bytes */
        "8000000000000000000000000000000000000000", /* 21 with the 00 */
        "-80",                                      /* 80 */
        "-81",                                      /* FF 7F */
        "-1",                                       /* FF */
    };
    size_t i;

    for (i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
        X509 *x = st_x509(test_pool, "serial", NULL,
                          st_bn(test_pool, serials[i]), NULL, NULL, 0, NULL);
        certmap_cert_t *cert = st_parse(test_pool, x);
        unsigned char want[CERTMAP_SERIAL_MAX + 2];
        apr_size_t n = st_expected_serial(x, want);

        ck_assert_msg(cert->serial_ad_len == n,
                      "serial %s: %u bytes, expected %u", serials[i],
                      (unsigned)cert->serial_ad_len, (unsigned)n);
        ck_assert_mem_eq(cert->serial_ad, want, n);
    }
    /* Spot checks written out by hand. */
    {
        X509 *x = st_x509(test_pool, "s", NULL, st_bn(test_pool, "80"), NULL,
                          NULL, 0, NULL);
        certmap_cert_t *cert = st_parse(test_pool, x);

        ck_assert_uint_eq(cert->serial_ad_len, 2);
        ck_assert_uint_eq(cert->serial_ad[0], 0x80);
        ck_assert_uint_eq(cert->serial_ad[1], 0x00);
    }
}
END_TEST

START_TEST(issuer_in_windows_spelling)
{
    X509_NAME *n = st_name(test_pool);
    certmap_cert_t *cert;

    st_name_add(n, "C", MBSTRING_ASC, "DE", -1, -1);
    st_name_add(n, "ST", MBSTRING_ASC, "Bayern", -1, -1);
    st_name_add(n, "L", MBSTRING_UTF8, "M\xc3\xbcnchen", -1, -1);
    st_name_add(n, "street", MBSTRING_ASC, "Main St. 1; Rear", -1, -1);
    st_name_add(n, "O", MBSTRING_ASC, "Edge, \"Dev\" + Co", -1, -1);
    st_name_add(n, "OU", MBSTRING_ASC, "R\\D", -1, -1);
    st_name_add(n, "CN", MBSTRING_ASC, "Sub CA", -1, 0); /* same RDN */
    st_name_add(n, "emailAddress", MBSTRING_ASC, "ca@example.com", -1, -1);
    st_name_add(n, "UID", MBSTRING_ASC, "4700", -1, -1);
    st_name_add(n, "businessCategory", MBSTRING_ASC, "a=b", -1, -1);
    /* A PrintableString cannot hold '#': write it as UTF8String. */
    st_name_add(n, "serialNumber", V_ASN1_UTF8STRING, "#12", -1, -1);
    st_name_add(n, "title", MBSTRING_ASC, " lead ", -1, -1);
    st_name_add(n, "GN", MBSTRING_ASC, "<x>", -1, -1);
    st_name_add(n, "SN", V_ASN1_UTF8STRING, "", 0, -1);
    st_name_add(n, "DC", MBSTRING_ASC, "corp", -1, -1);
    cert = st_parse(test_pool,
                    st_x509(test_pool, "names", n, NULL, NULL, NULL, 0, NULL));
    ck_assert_pstr_eq(cert->issuer_ad, "C=DE,S=Bayern,L=M\xc3\xbcnchen,"
                                       "STREET=\"Main St. 1; Rear\","
                                       "O=\"Edge, \"\"Dev\"\" + Co\","
                                       "OU=R\\D CN=Sub CA,"
                                       "E=ca@example.com,"
                                       "OID.0.9.2342.19200300.100.1.1=4700,"
                                       "OID.2.5.4.15=\"a=b\","
                                       "SERIALNUMBER=\"#12\","
                                       "T=\" lead \","
                                       "G=\"<x>\","
                                       "SN=\"\","
                                       "DC=corp");
    st_assert_forms_map(test_pool, cert);
}
END_TEST

START_TEST(issuer_not_representable)
{
    X509_NAME *ctl = st_name(test_pool), *octets = st_name(test_pool);
    X509_NAME *empty = st_name(test_pool);
    certmap_cert_t *cert;
    apr_array_header_t *forms;
    int i;

    /* A control character in a value, a value that is no character
     * string (a BIT STRING, which OpenSSL accepts in a name), an empty
     * issuer: no X509:<I> form, the others stay. */
    st_name_add(ctl, "CN", MBSTRING_ASC, "bad\nCA", -1, -1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(octets, "CN", V_ASN1_BIT_STRING,
                                                (const unsigned char *)"ab", 2,
                                                -1, 0),
                     1);
    {
        X509_NAME *names[3];
        names[0] = ctl;
        names[1] = octets;
        names[2] = empty;
        for (i = 0; i < 3; i++) {
            cert = st_parse(test_pool, st_x509(test_pool, "x", names[i], NULL,
                                               NULL, NULL, 0, NULL));
            ck_assert_ptr_null(cert->issuer_ad);
            forms = certmap_cert_spec_forms(test_pool, cert);
            ck_assert_int_eq(forms->nelts, 4);
            ck_assert_ptr_null(
                strstr(APR_ARRAY_IDX(forms, 3, const char *), "<I>"));
            st_assert_forms_map(test_pool, cert);
        }
    }
}
END_TEST

/* An otherName UPN whose value is given as raw content of `type`. */
static void st_add_upn(GENERAL_NAMES *names, int type, const char *v, int len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_TYPE *val = ASN1_TYPE_new();
    ASN1_STRING *s = ASN1_STRING_type_new(type);

    ck_assert_int_eq(ASN1_STRING_set(s, v, len), 1);
    ASN1_TYPE_set(val, type, s);
    ck_assert_int_eq(
        GENERAL_NAME_set0_othername(gn, OBJ_nid2obj(NID_ms_upn), val), 1);
    sk_GENERAL_NAME_push(names, gn);
}

START_TEST(upns_in_order_only_clean_utf8_strings)
{
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    GENERAL_NAME *dns = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    certmap_cert_t *cert;

    st_add_upn(names, V_ASN1_UTF8STRING, "first@contoso.com", -1);
    ck_assert_int_eq(ASN1_STRING_set(ia5, "host.contoso.com", -1), 1);
    GENERAL_NAME_set0_value(dns, GEN_DNS, ia5);
    sk_GENERAL_NAME_push(names, dns);
    st_add_upn(names, V_ASN1_IA5STRING, "ia5@contoso.com", -1);
    st_add_upn(names, V_ASN1_UTF8STRING, "nul@contoso.com\0.evil", 21);
    st_add_upn(names, V_ASN1_UTF8STRING, "bad\xc3(utf8@contoso.com", -1);
    st_add_upn(names, V_ASN1_UTF8STRING, "ctl\n@contoso.com", -1);
    st_add_upn(names, V_ASN1_UTF8STRING, "j\xc3\xbcrgen@contoso.com", -1);
    st_add_upn(names, V_ASN1_UTF8STRING, "", 0);
    cert = st_parse(
        test_pool, st_x509(test_pool, "upn", NULL, NULL, NULL, NULL, 0, names));
    GENERAL_NAMES_free(names);
    ck_assert_int_eq(cert->upns->nelts, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(cert->upns, 0, const char *),
                     "first@contoso.com");
    ck_assert_str_eq(APR_ARRAY_IDX(cert->upns, 1, const char *),
                     "j\xc3\xbcrgen@contoso.com");
    ck_assert_str_eq(APR_ARRAY_IDX(cert->upns, 2, const char *), "");
}
END_TEST

START_TEST(damaged_extensions_do_not_break_parsing)
{
    X509 *x = st_x509(test_pool, "damaged", NULL, NULL, NULL, NULL, 0, NULL);
    ASN1_OCTET_STRING *junk = ASN1_OCTET_STRING_new();
    X509_EXTENSION *san, *ski;
    certmap_cert_t *cert;
    EVP_PKEY *key = st_key(test_pool);

    /* A SAN and a SKI whose contents are not what they claim. */
    ck_assert_int_eq(
        ASN1_OCTET_STRING_set(
            junk, (const unsigned char *)"\x30\x05\xa0\x03\x06\x01", 6),
        1);
    san = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, junk);
    ski =
        X509_EXTENSION_create_by_NID(NULL, NID_subject_key_identifier, 0, junk);
    ck_assert_int_eq(X509_add_ext(x, san, -1), 1);
    ck_assert_int_eq(X509_add_ext(x, ski, -1), 1);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(ski);
    ASN1_OCTET_STRING_free(junk);
    cert = st_parse(test_pool, x);
    ck_assert_int_eq(cert->upns->nelts, 0);
    ck_assert_ptr_null(cert->ski);
    ck_assert_int_eq(ERR_peek_error(), 0);
    st_assert_forms_map(test_pool, cert);
}
END_TEST

START_TEST(two_ski_extensions_give_no_ski)
{
    static const unsigned char a[] = {0xaa, 0xbb}, b[] = {0xcc};
    X509 *x = st_x509(test_pool, "two", NULL, NULL, NULL, a, sizeof(a), NULL);
    EVP_PKEY *key = st_key(test_pool);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    certmap_cert_t *cert;

    ck_assert_int_eq(ASN1_OCTET_STRING_set(os, b, sizeof(b)), 1);
    /* X509V3_ADD_APPEND: a second SubjectKeyIdentifier extension. */
    ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_key_identifier, os, 0,
                                       X509V3_ADD_APPEND),
                     1);
    ASN1_OCTET_STRING_free(os);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    cert = st_parse(test_pool, x);
    ck_assert_ptr_null(cert->ski);
}
END_TEST

START_TEST(spec_forms_for_generated_certificates)
{
    static const unsigned char ski[20] = {0xde, 0xad, 0xbe, 0xef};
    fx_cert_t *c = fx_cert_simple(test_pool, "forms");
    certmap_cert_t *cert = NULL;
    apr_array_header_t *forms;
    unsigned char want[CERTMAP_SHA256_LEN];

    ASSERT_OK(certmap_cert_from_pem(test_pool, c->pem, c->pem_len, &cert));
    forms = certmap_cert_spec_forms(test_pool, cert);
    ck_assert_int_eq(forms->nelts, 5);
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 0, const char *),
                     fx_sha256_spec(test_pool, c));
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 1, const char *),
                     fx_sha1_spec(test_pool, c));
    st_expected_spki(c->pkey, want);
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 2, const char *),
                     apr_pstrcat(test_pool, "spki-sha256:",
                                 fx_hex(test_pool, want, 32, 0, 0), NULL));
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 3, const char *),
                     apr_pstrcat(test_pool,
                                 "X509:<I>O=mod_certmap tests,CN=forms<SR>",
                                 fx_hex(test_pool, cert->serial_ad,
                                        cert->serial_ad_len, 1, 0),
                                 NULL));
    st_expected_pukey(c->pkey, want);
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 4, const char *),
                     apr_pstrcat(test_pool, "X509:<SHA1-PUKEY>",
                                 fx_hex(test_pool, want, 20, 0, 0), NULL));
    st_assert_forms_map(test_pool, cert);

    cert = st_parse(test_pool, st_x509(test_pool, "ski", NULL, NULL, NULL, ski,
                                       sizeof(ski), NULL));
    forms = certmap_cert_spec_forms(test_pool, cert);
    ck_assert_int_eq(forms->nelts, 6);
    ck_assert_str_eq(APR_ARRAY_IDX(forms, 4, const char *),
                     apr_pstrcat(test_pool, "X509:<SKI>",
                                 fx_hex(test_pool, ski, 20, 0, 0), NULL));
    st_assert_forms_map(test_pool, cert);
}
END_TEST

Suite *make_cert_suite(void)
{
    Suite *s = suite_create("cert");
    TCase *parse = tcase_create("parse");
    TCase *refuse = tcase_create("refuse");
    TCase *files = tcase_create("files");
    TCase *strong = tcase_create("strong");

    tcase_add_checked_fixture(parse, test_pool_setup, test_pool_teardown);
    tcase_add_test(parse, from_pem_as_mod_ssl_gives_it);
    tcase_add_test(parse, from_pem_reads_only_len_bytes);
    tcase_add_test(parse, from_pem_garbage);
    tcase_add_test(parse, from_bytes_pem_and_der);
    tcase_add_test(parse, from_bytes_windows_crlf_pem);
    tcase_add_test(parse, ca_signed_certificate);
    tcase_add_test(parse, subject_escapes_specials_and_controls);
    tcase_add_test(parse, out_of_date);
    tcase_add_test(parse, dates_beyond_2050);
    tcase_add_test(parse, hex);
    suite_add_tcase(s, parse);

    tcase_add_checked_fixture(refuse, test_pool_setup, test_pool_teardown);
    tcase_add_test(refuse, private_key_refused);
    tcase_add_test(refuse, private_key_block_that_does_not_decode_refused);
    tcase_add_test(refuse, pkcs12_refused);
    tcase_add_test(refuse, two_certificates_refused);
    tcase_add_test(refuse, no_certificate_or_garbage);
    suite_add_tcase(s, refuse);

    tcase_add_checked_fixture(files, test_pool_setup, test_pool_teardown);
    tcase_add_test(files, load_file_pem_and_der);
    tcase_add_test(files, private_key_file_refused_with_path);
    tcase_add_test(files, load_file_errors_name_path);
    tcase_add_test(files, load_file_unreadable);
    suite_add_tcase(s, files);

    tcase_add_checked_fixture(strong, test_pool_setup, test_pool_teardown);
    tcase_add_test(strong, fixed_vector_from_openssl_cli);
    tcase_add_test(strong, kb5014754_example_issuer_and_serial);
    tcase_add_test(strong, spki_and_public_key_hashes_independent);
    tcase_add_test(strong, renewed_certificate_keeps_key_forms);
    tcase_add_test(strong, serial_bytes_reversed_with_sign_byte);
    tcase_add_test(strong, issuer_in_windows_spelling);
    tcase_add_test(strong, issuer_not_representable);
    tcase_add_test(strong, upns_in_order_only_clean_utf8_strings);
    tcase_add_test(strong, damaged_extensions_do_not_break_parsing);
    tcase_add_test(strong, two_ski_extensions_give_no_ski);
    tcase_add_test(strong, spec_forms_for_generated_certificates);
    suite_add_tcase(s, strong);
    return s;
}
