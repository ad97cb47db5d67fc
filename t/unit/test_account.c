/*
 * test_account.c - which account strings may reach r->user, a log line
 * or a header, and how bare accounts get their domain.
 */
#include <string.h>

#include <apr_strings.h>

#include "tests.h"

/* A string of n copies of c, from the test pool. */
static const char *repeat(char c, apr_size_t n)
{
    char *s = apr_palloc(test_pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(account_ok)
{
    static const char *const good[] = {
        "W2K3TEST\\certuser",
        "bob",
        "alice@contoso.com",
        "CONTOSO\\alice@contoso.com",
        "CONTOSO\\Jane Doe",
        "CORP\\PC01$",
        "MÜNCHEN\\jürgen",          /* UTF-8 */
        "\xe7\x94\xa8\xe6\x88\xb7", /* U+7528 U+6237, "user" in Chinese */
        "x",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *err = certmap_account_check(test_pool, good[i]);

        ck_assert_msg(err == NULL, "\"%s\" refused: %s", good[i], err);
    }
}
END_TEST

START_TEST(account_errors)
{
    static const char *const bad[] = {
        "",          "bob\r",        "bob\nX-Injected: 1",
        "\rbob",     "DOM\\bob\r\n", "bob\tsmith",
        "bob\x01",   "\x1b[31mbob",  "bob\x7f",
        "DOM\\\x1f", "\\user",       "DOM\\",
        "\\",        "A\\B\\C",      "DOM\\\\user",
    };
    const char *err;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = certmap_account_check(test_pool, bad[i]);
        ck_assert_msg(err != NULL, "bad account #%u accepted", (unsigned)i);
        ck_assert_msg(!fx_has_control_char(err),
                      "bad account #%u: control character in error \"%s\"",
                      (unsigned)i, err);
    }
}
END_TEST

START_TEST(account_unicode_controls_and_bad_utf8)
{
    /* What would split or disguise a line beyond the ASCII controls: C1
     * controls (NEL, CSI), line/paragraph separators, zero-width and
     * bidi marks, BOM, and byte sequences that are not UTF-8. */
    static const struct {
        const char *account;
        const char *says;
    } bad[] = {
        {"W2K3TEST\\bo\xc2\x85"
         "b",
         "U+0085"}, /* NEL */
        {"W2K3TEST\\\xc2\x9b"
         "31m",
         "U+009B"}, /* CSI */
        {"W2K3TEST\\bo\xe2\x80\xa8"
         "b",
         "U+2028"},
        {"W2K3TEST\\bo\xe2\x80\xa9"
         "b",
         "U+2029"},
        {"W2K3TEST\\\xe2\x80\xae"
         "nimda",
         "U+202E"},
        {"W2K3TEST\\bo\xe2\x80\x8b"
         "b",
         "U+200B"},
        {"\xef\xbb\xbf"
         "bob",
         "U+FEFF"},
        {"bo\x85"
         "b",
         "UTF-8"},                        /* a lone C1 byte */
        {"bob\xc0\xaf", "UTF-8"},         /* overlong '/' */
        {"bob\xed\xa0\x80", "UTF-8"},     /* a surrogate */
        {"bob\xf4\x90\x80\x80", "UTF-8"}, /* beyond U+10FFFF */
        {"bob\xe2\x80", "UTF-8"},         /* cut short */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = certmap_account_check(test_pool, bad[i].account);

        ck_assert_msg(err != NULL, "bad account #%u accepted", (unsigned)i);
        ck_assert_msg(strstr(err, bad[i].says) != NULL,
                      "bad account #%u: \"%s\" does not say %s", (unsigned)i,
                      err, bad[i].says);
    }
    ck_assert_ptr_nonnull(certmap_domain_check(test_pool, "CON\xc2\x85TOSO"));
}
END_TEST

START_TEST(account_length)
{
    const char *err;
    const char *max = repeat('a', CERTMAP_ACCOUNT_MAX);
    const char *qualified_max = apr_pstrcat(
        test_pool, "DOM\\", repeat('u', CERTMAP_ACCOUNT_MAX - 4), NULL);

    ck_assert_uint_eq(strlen(max), CERTMAP_ACCOUNT_MAX);
    ck_assert_uint_eq(strlen(qualified_max), CERTMAP_ACCOUNT_MAX);
    ASSERT_OK(certmap_account_check(test_pool, max));
    ASSERT_OK(certmap_account_check(test_pool, qualified_max));
    ASSERT_ERROR(err, certmap_account_check(
                          test_pool, repeat('a', CERTMAP_ACCOUNT_MAX + 1)));
    ASSERT_ERROR(
        err, certmap_account_check(
                 test_pool, apr_pstrcat(test_pool, qualified_max, "u", NULL)));
    ASSERT_ERROR(err,
                 certmap_account_check(test_pool, repeat('a', 1024 * 1024)));
    /* The bound is in bytes: 128 two-byte characters fit, 129 do not. */
    {
        char utf8[2 * 129 + 1];
        int i;

        for (i = 0; i < 129; i++) {
            utf8[2 * i] = '\xc3';
            utf8[2 * i + 1] = '\xa9';
        }
        utf8[2 * 129] = '\0';
        ASSERT_ERROR(err, certmap_account_check(test_pool, utf8));
        utf8[2 * 128] = '\0';
        ASSERT_OK(certmap_account_check(test_pool, utf8));
    }
}
END_TEST

START_TEST(domain_check)
{
    const char *err;

    ASSERT_OK(certmap_domain_check(test_pool, "W2K3TEST"));
    ASSERT_OK(certmap_domain_check(test_pool, "contoso.com"));
    ASSERT_OK(certmap_domain_check(test_pool, "MÜNCHEN"));
    ASSERT_OK(
        certmap_domain_check(test_pool, repeat('D', CERTMAP_ACCOUNT_MAX)));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, ""));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "A\\B"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "DOM\\"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "\\DOM"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "DOM\r\n"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "DOM\t"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "DOM\x7f"));
    ASSERT_ERROR(err, certmap_domain_check(test_pool, "\x01"));
    ASSERT_ERROR(err, certmap_domain_check(
                          test_pool, repeat('D', CERTMAP_ACCOUNT_MAX + 1)));
}
END_TEST

START_TEST(account_qualify)
{
    ck_assert_str_eq(certmap_account_qualify(test_pool, "bob", "CONTOSO"),
                     "CONTOSO\\bob");
    ck_assert_str_eq(
        certmap_account_qualify(test_pool, "W2K3TEST\\certuser", "CONTOSO"),
        "W2K3TEST\\certuser");
    ck_assert_str_eq(certmap_account_qualify(test_pool, "bob", NULL), "bob");
    ck_assert_str_eq(
        certmap_account_qualify(test_pool, "W2K3TEST\\certuser", NULL),
        "W2K3TEST\\certuser");
    ck_assert_str_eq(certmap_account_qualify(test_pool, "jürgen", "MÜNCHEN"),
                     "MÜNCHEN\\jürgen");
}
END_TEST

START_TEST(account_domain)
{
    ck_assert_str_eq(certmap_account_domain(test_pool, "W2K3TEST\\certuser"),
                     "W2K3TEST");
    ck_assert_str_eq(certmap_account_domain(test_pool, "bob"), "");
    ck_assert_str_eq(certmap_account_domain(test_pool, "alice@contoso.com"),
                     "");
    ck_assert_str_eq(certmap_account_domain(test_pool, "MÜNCHEN\\jürgen"),
                     "MÜNCHEN");
    /* Round trip with qualify. */
    ck_assert_str_eq(
        certmap_account_domain(
            test_pool, certmap_account_qualify(test_pool, "bob", "CONTOSO")),
        "CONTOSO");
}
END_TEST

Suite *make_account_suite(void)
{
    Suite *s = suite_create("account");
    TCase *tc = tcase_create("account");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, account_ok);
    tcase_add_test(tc, account_errors);
    tcase_add_test(tc, account_unicode_controls_and_bad_utf8);
    tcase_add_test(tc, account_length);
    tcase_add_test(tc, domain_check);
    tcase_add_test(tc, account_qualify);
    tcase_add_test(tc, account_domain);
    suite_add_tcase(s, tc);
    return s;
}
