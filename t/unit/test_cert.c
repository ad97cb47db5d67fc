/*
 * test_cert.c - parsing certificates: the PEM mod_ssl hands over, the
 * files an administrator configures, fingerprints, dates and certmap_hex.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

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

Suite *make_cert_suite(void)
{
    Suite *s = suite_create("cert");
    TCase *parse = tcase_create("parse");
    TCase *refuse = tcase_create("refuse");
    TCase *files = tcase_create("files");

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
    return s;
}
