/*
 * test_verify.c - from mod_ssl's verification result and the tables of
 * the enclosing scopes to a decision, and how a refusal is named.
 */
#include <string.h>

#include <apr_strings.h>

#include "tests.h"

START_TEST(classify)
{
    static const struct {
        const char *verify;
        certmap_reason_e want;
    } cases[] = {
        {"SUCCESS", CERTMAP_MAPPED},
        {"NONE", CERTMAP_CERT_REQUIRED},
        {"", CERTMAP_CERT_REQUIRED},
        {"GENEROUS", CERTMAP_CERT_UNTRUSTED},
        {"FAILED:certificate has expired", CERTMAP_CERT_EXPIRED},
        {"FAILED:certificate is not yet valid", CERTMAP_CERT_EXPIRED},
        {"FAILED:certificate revoked", CERTMAP_CERT_REVOKED},
        {"FAILED:unable to verify the first certificate",
         CERTMAP_CERT_UNTRUSTED},
        {"FAILED:Certificate Chain too long", CERTMAP_CERT_UNTRUSTED},
        {"FAILED:self-signed certificate", CERTMAP_CERT_UNTRUSTED},
        {"FAILED:", CERTMAP_CERT_UNTRUSTED},
        {"FAILED", CERTMAP_CERT_UNTRUSTED},
        {"junk", CERTMAP_CERT_UNTRUSTED},
        /* Only the exact word may map: no prefix, no case folding. */
        {"SUCCESSFUL", CERTMAP_CERT_UNTRUSTED},
        {"SUCCESS ", CERTMAP_CERT_UNTRUSTED},
        {"success", CERTMAP_CERT_UNTRUSTED},
        {"SUCCES", CERTMAP_CERT_UNTRUSTED},
        {"NONEXISTENT", CERTMAP_CERT_UNTRUSTED},
    };
    size_t i;

    ck_assert_int_eq(certmap_verify_classify(NULL), CERTMAP_CERT_REQUIRED);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        certmap_reason_e got = certmap_verify_classify(cases[i].verify);

        ck_assert_msg(got == cases[i].want, "\"%s\": %s, expected %s",
                      cases[i].verify, certmap_reason_name(got),
                      certmap_reason_name(cases[i].want));
    }
}
END_TEST

START_TEST(reason_names)
{
    static const char *const names[CERTMAP_REASON_COUNT] = {
        [CERTMAP_MAPPED] = "mapped",
        [CERTMAP_TLS_REQUIRED] = "tls-required",
        [CERTMAP_CERT_REQUIRED] = "cert-required",
        [CERTMAP_CERT_UNTRUSTED] = "cert-untrusted",
        [CERTMAP_CERT_EXPIRED] = "cert-expired",
        [CERTMAP_CERT_REVOKED] = "cert-revoked",
        [CERTMAP_CERT_UNMAPPED] = "cert-unmapped",
        [CERTMAP_CERT_DENIED] = "cert-denied",
        [CERTMAP_CERT_MISMATCH] = "cert-mismatch",
        [CERTMAP_DIRECTORY_AMBIGUOUS] = "directory-ambiguous",
        [CERTMAP_DIRECTORY_UNAVAILABLE] = "directory-unavailable",
    };
    int r;

    for (r = 0; r < CERTMAP_REASON_COUNT; r++) {
        ck_assert_ptr_nonnull(names[r]); /* every reason has a row here */
        ck_assert_pstr_eq(certmap_reason_name((certmap_reason_e)r), names[r]);
    }
}
END_TEST

START_TEST(iis_substatus)
{
    static const int substatus[CERTMAP_REASON_COUNT] = {
        [CERTMAP_MAPPED] = -1, /* not a refusal: not checked */
        [CERTMAP_TLS_REQUIRED] = 4,    [CERTMAP_CERT_REQUIRED] = 7,
        [CERTMAP_CERT_UNTRUSTED] = 16, [CERTMAP_CERT_EXPIRED] = 17,
        [CERTMAP_CERT_REVOKED] = 13,   [CERTMAP_CERT_UNMAPPED] = 12,
        [CERTMAP_CERT_DENIED] = 12,    [CERTMAP_CERT_MISMATCH] = 12,
        [CERTMAP_DIRECTORY_AMBIGUOUS] = 12,
        [CERTMAP_DIRECTORY_UNAVAILABLE] = 0, /* a 503, not a 403 */
    };
    int r;

    for (r = CERTMAP_TLS_REQUIRED; r < CERTMAP_REASON_COUNT; r++) {
        ck_assert_msg(
            certmap_reason_iis_substatus((certmap_reason_e)r) == substatus[r],
            "%s: 403.%d, expected 403.%d",
            certmap_reason_name((certmap_reason_e)r),
            certmap_reason_iis_substatus((certmap_reason_e)r), substatus[r]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* certmap_decide                                                     */

/* Decide for c over tables[0..n-1] (innermost first), starting from a
 * decision full of junk so that unset fields show. */
static certmap_decision_t decide(certmap_table_t **tables, int n,
                                 const fx_cert_t *c)
{
    certmap_decision_t d;

    memset(&d, 0xA5, sizeof(d));
    certmap_decide((const certmap_table_t *const *)tables, n,
                   fx_lookup_cert(test_pool, c), test_pool, &d);
    return d;
}

START_TEST(decide_inner_mapping_wins)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool); /* <Location /app> */
    tables[1] = certmap_table_make(test_pool); /* server */
    ASSERT_OK(certmap_table_add(tables[0], &k, "APP\\alice", "inner.conf:4"));
    ASSERT_OK(certmap_table_add(tables[1], &k, "CORP\\alice", "outer.conf:9"));

    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_pstr_eq(d.account, "APP\\alice");
    ck_assert_pstr_eq(d.source, "inner.conf:4");
}
END_TEST

START_TEST(decide_outer_mapping_when_inner_has_none)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    fx_cert_t *other = fx_cert_simple(test_pool, "other");
    certmap_key_t k = fx_sha1_key(c), ko = fx_sha256_key(other);
    certmap_table_t *tables[3];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    tables[2] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &ko, "someone", "a.conf:1"));
    ASSERT_OK(
        certmap_table_add(tables[2], &k, "W2K3TEST\\certuser", "c.conf:2"));

    d = decide(tables, 3, c);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_pstr_eq(d.account, "W2K3TEST\\certuser");
    ck_assert_pstr_eq(d.source, "c.conf:2");
}
END_TEST

START_TEST(decide_outer_deny_beats_inner_mapping)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k, "alice", "inner.conf:4"));
    ASSERT_OK(certmap_table_add(tables[1], &k, NULL, "outer.conf:1"));

    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "outer.conf:1");
}
END_TEST

START_TEST(decide_inner_deny_beats_outer_mapping)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k, NULL, "inner.conf:2"));
    ASSERT_OK(certmap_table_add(tables[1], &k, "alice", "outer.conf:3"));

    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "inner.conf:2");
}
END_TEST

START_TEST(decide_deny_and_map_in_one_table)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c);
    certmap_table_t *tables[1];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(tables[0], &k, NULL, "x.conf:2"));

    d = decide(tables, 1, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "x.conf:2");
}
END_TEST

START_TEST(decide_sha1_deny_beats_sha256_mapping_same_table)
{
    /* "deny sha1:<thumbprint>" pasted from Windows must hold even when
     * the same table maps the certificate by its SHA-256. */
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k256 = fx_sha256_key(c), k1 = fx_sha1_key(c);
    certmap_table_t *tables[1];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k256, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(tables[0], &k1, NULL, "x.conf:2"));
    d = decide(tables, 1, c);
    ck_assert_msg(d.reason == CERTMAP_CERT_DENIED,
                  "%s (account %s), expected cert-denied",
                  certmap_reason_name(d.reason),
                  d.reason == CERTMAP_MAPPED ? d.account : "-");
    ck_assert_pstr_eq(d.source, "x.conf:2");
}
END_TEST

START_TEST(decide_sha1_deny_beats_sha256_mapping_outer_table)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k256 = fx_sha256_key(c), k1 = fx_sha1_key(c);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k256, "alice", "inner.conf:1"));
    ASSERT_OK(certmap_table_add(tables[1], &k1, NULL, "outer.conf:2"));
    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "outer.conf:2");
}
END_TEST

START_TEST(decide_sha256_and_sha1_disagree_same_table)
{
    /* Two fingerprints of one certificate mapped to two accounts cannot be
     * caught at startup; the decision refuses instead of choosing. */
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k256 = fx_sha256_key(c), k1 = fx_sha1_key(c);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k1, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(tables[0], &k256, "bob", "x.conf:2"));
    ASSERT_OK(certmap_table_add(tables[1], &k256, "carol", "outer.conf:1"));
    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_ptr_null(d.account);
    ck_assert_pstr_eq(d.source, "x.conf:2");
    ck_assert_pstr_eq(d.conflict, "x.conf:1");

    /* the same account by both digests is no conflict */
    tables[0] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &k1, "alice", "y.conf:1"));
    ASSERT_OK(certmap_table_add(tables[0], &k256, "alice", "y.conf:2"));
    d = decide(tables, 1, c);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_str_eq(d.account, "alice");
    ck_assert_ptr_null(d.conflict);
}
END_TEST

START_TEST(decide_unmapped)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    fx_cert_t *other = fx_cert_simple(test_pool, "c"); /* same subject */
    certmap_key_t ko = fx_sha256_key(other), ko1 = fx_sha1_key(other);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &ko, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(tables[1], &ko1, NULL, "y.conf:1"));

    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_ptr_null(d.account);
    ck_assert_ptr_null(d.source);

    /* No tables at all. */
    d = decide(tables, 0, c);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_ptr_null(d.account);
    ck_assert_ptr_null(d.source);

    /* The other certificate is mapped by the same chain. */
    d = decide(tables, 1, other);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_pstr_eq(d.account, "alice");
    d = decide(tables, 2, other);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "y.conf:1");
}
END_TEST

START_TEST(decide_deny_only_entry_inner_then_mapping_outer)
{
    /* An inner table that only denies other certificates must not stop
     * the search for this one. */
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    fx_cert_t *bad = fx_cert_simple(test_pool, "bad");
    certmap_key_t k = fx_sha256_key(c), kb = fx_sha256_key(bad);
    certmap_table_t *tables[2];
    certmap_decision_t d;

    tables[0] = certmap_table_make(test_pool);
    tables[1] = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(tables[0], &kb, NULL, "inner.conf:1"));
    ASSERT_OK(certmap_table_add(tables[1], &k, "alice", "outer.conf:1"));

    d = decide(tables, 2, c);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_pstr_eq(d.account, "alice");
    ck_assert_pstr_eq(d.source, "outer.conf:1");
    d = decide(tables, 2, bad);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_pstr_eq(d.source, "inner.conf:1");
}
END_TEST

Suite *make_verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *reasons = tcase_create("reasons");
    TCase *decisions = tcase_create("decide");

    tcase_add_checked_fixture(reasons, test_pool_setup, test_pool_teardown);
    tcase_add_test(reasons, classify);
    tcase_add_test(reasons, reason_names);
    tcase_add_test(reasons, iis_substatus);
    suite_add_tcase(s, reasons);

    tcase_add_checked_fixture(decisions, test_pool_setup, test_pool_teardown);
    tcase_add_test(decisions, decide_inner_mapping_wins);
    tcase_add_test(decisions, decide_outer_mapping_when_inner_has_none);
    tcase_add_test(decisions, decide_outer_deny_beats_inner_mapping);
    tcase_add_test(decisions, decide_inner_deny_beats_outer_mapping);
    tcase_add_test(decisions, decide_deny_and_map_in_one_table);
    tcase_add_test(decisions, decide_sha1_deny_beats_sha256_mapping_same_table);
    tcase_add_test(decisions,
                   decide_sha1_deny_beats_sha256_mapping_outer_table);
    tcase_add_test(decisions, decide_sha256_and_sha1_disagree_same_table);
    tcase_add_test(decisions, decide_unmapped);
    tcase_add_test(decisions, decide_deny_only_entry_inner_then_mapping_outer);
    suite_add_tcase(s, decisions);
    return s;
}
