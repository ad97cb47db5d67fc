/*
 * test_key.c - certmap_key_parse(): what CertMapUser and CertMapDeny
 * accept as the name of a certificate.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "tests.h"

/* The bytes of U+200E LEFT-TO-RIGHT MARK, which Windows' certificate
 * dialog puts in front of a thumbprint copied from it. */
#define LRM "\xE2\x80\x8E"

static void assert_sha256_key(const certmap_key_t *key, const fx_cert_t *c)
{
    ck_assert_int_eq(key->type, CERTMAP_KEY_SHA256);
    ck_assert_mem_eq(key->digest, c->sha256, CERTMAP_SHA256_LEN);
}

static void assert_sha1_key(const certmap_key_t *key, const fx_cert_t *c)
{
    ck_assert_int_eq(key->type, CERTMAP_KEY_SHA1);
    ck_assert_mem_eq(key->digest, c->sha1, CERTMAP_SHA1_LEN);
}

/* Parse `spec` into a key that starts out full of junk, so that a field
 * the parser forgets to set shows. */
static const char *parse(const char *spec, const char *base_dir,
                         certmap_key_t *key)
{
    memset(key, 0xA5, sizeof(*key));
    return certmap_key_parse(test_pool, spec, base_dir, key);
}

START_TEST(sha256_lower_upper_mixed_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *lower = fx_hex(test_pool, c->sha256, 32, 0, 0);
    const char *upper = fx_hex(test_pool, c->sha256, 32, 1, 0);
    char *mixed = apr_pstrdup(test_pool, lower);
    certmap_key_t key;
    int i;

    /* Upper-case every other hex letter. */
    for (i = 0; mixed[i]; i += 2) {
        mixed[i] = (char)apr_toupper(mixed[i]);
    }
    ck_assert_str_ne(mixed, lower);
    ck_assert_str_ne(mixed, upper);

    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", lower, NULL), NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 0);
    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", upper, NULL), NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", mixed, NULL), NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(sha1_lower_upper_mixed_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *lower = fx_hex(test_pool, c->sha1, 20, 0, 0);
    const char *upper = fx_hex(test_pool, c->sha1, 20, 1, 0);
    char *mixed = apr_pstrdup(test_pool, upper);
    certmap_key_t key;
    int i;

    for (i = 1; mixed[i]; i += 2) {
        mixed[i] = (char)apr_tolower(mixed[i]);
    }

    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", lower, NULL), NULL, &key));
    assert_sha1_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 0);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", upper, NULL), NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", mixed, NULL), NULL, &key));
    assert_sha1_key(&key, c);
}
END_TEST

START_TEST(separators_colon_and_space)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    /* openssl x509 -fingerprint prints AB:CD:..., Windows "ab cd ...". */
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 1, ':'), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 1, ':'), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 0, ' '), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(windows_left_to_right_mark_after_prefix)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    /* The administrator types "sha1:" and pastes the thumbprint from the
     * Details tab: the mark the dialog copies lands after the prefix. */
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:" LRM,
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:" LRM,
                                fx_hex(test_pool, c->sha256, 32, 0, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(windows_left_to_right_mark_before_prefix)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    ASSERT_OK(parse(apr_pstrcat(test_pool, LRM "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, LRM "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 1, ':'), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(prefix_in_any_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    ASSERT_OK(parse(apr_pstrcat(test_pool, "SHA256:",
                                fx_hex(test_pool, c->sha256, 32, 1, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "Sha256:",
                                fx_hex(test_pool, c->sha256, 32, 0, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "SHA1:",
                                fx_hex(test_pool, c->sha1, 20, 1, 0), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sHa1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ':'), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
}
END_TEST

START_TEST(wrong_length)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *sha256 = fx_hex(test_pool, c->sha256, 32, 0, 0);
    const char *sha1 = fx_hex(test_pool, c->sha1, 20, 0, 0);
    certmap_key_t key;
    const char *err;

    /* One digit short, one byte short, one digit and one byte too many. */
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:",
                                   apr_pstrndup(test_pool, sha256, 63), NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:",
                                   apr_pstrndup(test_pool, sha256, 62), NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:", sha256, "0", NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:", sha256, "00", NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha1:",
                                   apr_pstrndup(test_pool, sha1, 38), NULL),
                       NULL, &key));
    ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha1:", sha1, "ab", NULL),
                            NULL, &key));
    /* A SHA-256 value under the sha1: prefix and the other way round. */
    ASSERT_ERROR(
        err, parse(apr_pstrcat(test_pool, "sha1:", sha256, NULL), NULL, &key));
    ASSERT_ERROR(
        err, parse(apr_pstrcat(test_pool, "sha256:", sha1, NULL), NULL, &key));
}
END_TEST

START_TEST(bad_characters)
{
    /* Each one inserted into an otherwise valid value, so that only the
     * character is wrong; only ':' and ' ' separate. */
    static const char *const bad[] = {
        "g", "z", "x", "-", ".", ";", "\t", "\r\n", "\xc3\xa9", "\"",
    };
    const char *zeros64 = apr_pstrndup(test_pool,
                                       "0000000000000000"
                                       "0000000000000000"
                                       "0000000000000000"
                                       "0000000000000000",
                                       64);
    const char *zeros32 = apr_pstrndup(test_pool, zeros64, 32);
    const char *zeros20 = apr_pstrndup(test_pool, zeros64, 20);
    certmap_key_t key;
    const char *err;
    size_t i;

    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", zeros64, NULL), NULL, &key));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha256:", zeros32,
                                            bad[i], zeros32, NULL),
                                NULL, &key));
        ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha1:", zeros20, bad[i],
                                            zeros20, NULL),
                                NULL, &key));
    }
    /* Replaced rather than inserted: first and last digit. */
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:g", zeros64 + 1, NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha1:", zeros64 + 25, "G", NULL),
                       NULL, &key));
}
END_TEST

START_TEST(empty)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse("", NULL, &key));
    ASSERT_ERROR(err, parse("sha256:", NULL, &key));
    ASSERT_ERROR(err, parse("sha1:", NULL, &key));
    ASSERT_ERROR(err, parse("sha1:" LRM, NULL, &key));
    ASSERT_ERROR(err, parse("sha256: : ", NULL, &key));
}
END_TEST

START_TEST(unknown_prefix_is_a_path)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err,
                 parse("md5:0123456789abcdef0123456789abcdef", NULL, &key));
    ck_assert_msg(strstr(err, "md5:0123456789abcdef0123456789abcdef") != NULL,
                  "error does not name the path: %s", err);
}
END_TEST

START_TEST(missing_file_names_path)
{
    const char *dir = fx_tmpdir(test_pool);
    const char *path = apr_pstrcat(test_pool, dir, "/no-such.pem", NULL);
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse(path, NULL, &key));
    ck_assert_msg(strstr(err, path) != NULL, "error does not name %s: %s", path,
                  err);
    ASSERT_ERROR(err, parse("no-such.pem", dir, &key));
    ck_assert_msg(strstr(err, "no-such.pem") != NULL,
                  "error does not name the file: %s", err);
}
END_TEST

START_TEST(pem_file)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "pem file");
    const char *dir = fx_tmpdir(test_pool);
    const char *path = fx_write_text(test_pool, dir, "c.pem", c->pem);
    certmap_key_t key;

    ASSERT_OK(parse(path, NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);
}
END_TEST

START_TEST(der_file)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "der file");
    const char *dir = fx_tmpdir(test_pool);
    const char *path =
        fx_write_file(test_pool, dir, "c.cer", c->der, c->der_len);
    certmap_key_t key;

    ASSERT_OK(parse(path, NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);
}
END_TEST

START_TEST(relative_path_uses_base_dir)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "relative");
    const char *dir = fx_tmpdir(test_pool);
    const char *other = fx_tmpdir(test_pool);
    const char *abs = fx_write_text(test_pool, dir,
                                    "certs/certmap-relative-test.pem", c->pem);
    certmap_key_t key;
    const char *err;

    ASSERT_OK(parse("certs/certmap-relative-test.pem", dir, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);

    /* Not found relative to another directory, nor to the cwd. */
    ASSERT_ERROR(err, parse("certs/certmap-relative-test.pem", other, &key));
    ASSERT_ERROR(err, parse("certs/certmap-relative-test.pem", NULL, &key));

    /* An absolute path ignores base_dir. */
    ASSERT_OK(parse(abs, other, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(file_with_private_key_refused)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "with key");
    const char *dir = fx_tmpdir(test_pool);
    const char *path =
        fx_write_text(test_pool, dir, "c.pem",
                      apr_pstrcat(test_pool, c->pem, c->key_pem, NULL));
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse(path, NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "private"),
                  "error does not mention the private key: %s", err);
}
END_TEST

Suite *make_key_suite(void)
{
    Suite *s = suite_create("key");
    TCase *tc = tcase_create("key_parse");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, sha256_lower_upper_mixed_case);
    tcase_add_test(tc, sha1_lower_upper_mixed_case);
    tcase_add_test(tc, separators_colon_and_space);
    tcase_add_test(tc, windows_left_to_right_mark_after_prefix);
    tcase_add_test(tc, windows_left_to_right_mark_before_prefix);
    tcase_add_test(tc, prefix_in_any_case);
    tcase_add_test(tc, wrong_length);
    tcase_add_test(tc, bad_characters);
    tcase_add_test(tc, empty);
    tcase_add_test(tc, unknown_prefix_is_a_path);
    tcase_add_test(tc, missing_file_names_path);
    tcase_add_test(tc, pem_file);
    tcase_add_test(tc, der_file);
    tcase_add_test(tc, relative_path_uses_base_dir);
    tcase_add_test(tc, file_with_private_key_refused);
    suite_add_tcase(s, tc);
    return s;
}
