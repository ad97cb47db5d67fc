/*
 * tests.h - shared declarations of the engine's unit tests (Check).
 *
 * Every test file exports one make_*_suite(); fixtures.c makes the
 * certificates, keys and files the tests need at run time, so nothing
 * generated is kept in the repository.
 */
#ifndef CERTMAP_UNIT_TESTS_H
#define CERTMAP_UNIT_TESTS_H

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <apr_pools.h>
#include <apr_time.h>

#include "certmap.h"

/* ------------------------------------------------------------------ */
/* Suites                                                             */

Suite *make_key_suite(void);
Suite *make_cert_suite(void);
Suite *make_account_suite(void);
Suite *make_table_suite(void);
Suite *make_verify_suite(void);
Suite *make_forward_suite(void);
Suite *make_index_suite(void);
Suite *make_ldap_suite(void);

/* ------------------------------------------------------------------ */
/* Per-test pool                                                      */

/* Created by test_pool_setup() and destroyed by test_pool_teardown(),
 * both meant for tcase_add_checked_fixture(). */
extern apr_pool_t *test_pool;

void test_pool_setup(void);
void test_pool_teardown(void);

/* ------------------------------------------------------------------ */
/* Temporary files                                                    */

/* One directory under /tmp for the whole run (main.c makes it before the
 * suites run and removes it, with everything in it, at the end), so that
 * a test that fails half-way still leaves nothing behind. */
void fx_tmp_root_create(void);
void fx_tmp_root_remove(void);

/* A fresh, empty directory for one test, below the run's root. */
const char *fx_tmpdir(apr_pool_t *p);

/* Make dir/name (creating missing parent directories of name) holding
 * exactly `len` bytes of `data`; returns the full path. */
const char *fx_write_file(apr_pool_t *p, const char *dir, const char *name,
                          const void *data, apr_size_t len);
const char *fx_write_text(apr_pool_t *p, const char *dir, const char *name,
                          const char *text);

/* ------------------------------------------------------------------ */
/* Certificates                                                       */

/* A generated certificate and what the tests expect of it, computed
 * here with OpenSSL independently of the engine. */
typedef struct fx_cert_t {
    X509 *x509;
    EVP_PKEY *pkey;
    const char *pem; /* "-----BEGIN CERTIFICATE-----..." */
    apr_size_t pem_len;
    const unsigned char *der;
    apr_size_t der_len;
    const char *key_pem; /* PKCS#8 "PRIVATE KEY" */
    unsigned char sha256[CERTMAP_SHA256_LEN];
    unsigned char sha1[CERTMAP_SHA1_LEN];
    apr_time_t not_before; /* what was written into the certificate */
    apr_time_t not_after;
} fx_cert_t;

/* A certificate for subject "CN=<cn>, O=mod_certmap tests" (UTF-8 CN),
 * valid from now + not_before_offset to now + not_after_offset seconds,
 * signed by `issuer` or self-signed when issuer is NULL.  Every call makes
 * a new key, so two calls never give the same certificate.  The OpenSSL
 * objects are freed with the pool. */
fx_cert_t *fx_cert_make(apr_pool_t *p, const char *cn, long not_before_offset,
                        long not_after_offset, const fx_cert_t *issuer);

/* Self-signed, valid from an hour ago for a year. */
fx_cert_t *fx_cert_simple(apr_pool_t *p, const char *cn);

/* The certificate's private key in other PEM spellings. */
const char *fx_key_pem_traditional(apr_pool_t *p, const fx_cert_t *c);
const char *fx_key_pem_encrypted(apr_pool_t *p, const fx_cert_t *c);

/* A DER PKCS#12 bundle of the certificate, with or without its key. */
const unsigned char *fx_pkcs12(apr_pool_t *p, const fx_cert_t *c, int with_key,
                               apr_size_t *len);

/* Hex of a digest written independently of certmap_hex(): upper or lower
 * case, with `sep` between bytes (0: none). */
const char *fx_hex(apr_pool_t *p, const unsigned char *d, apr_size_t n,
                   int upper, char sep);

/* "sha256:<hex>" / "sha1:<hex>" of a certificate, lower case. */
const char *fx_sha256_spec(apr_pool_t *p, const fx_cert_t *c);
const char *fx_sha1_spec(apr_pool_t *p, const fx_cert_t *c);

/* A certmap_cert_t as the engine would make it (digests, dates), for
 * lookups without parsing. */
certmap_cert_t *fx_lookup_cert(apr_pool_t *p, const fx_cert_t *c);

/* Concatenation of two byte strings, from the pool. */
const unsigned char *fx_concat(apr_pool_t *p, const void *a, apr_size_t alen,
                               const void *b, apr_size_t blen, apr_size_t *len);

/* ------------------------------------------------------------------ */
/* Assertions                                                         */

/* 1 when `needle` occurs in `haystack`, ignoring ASCII case. */
int fx_contains_nocase(const char *haystack, const char *needle);

/* 1 when s holds a byte below 0x20 or 0x7f. */
int fx_has_control_char(const char *s);

/* An engine call that must succeed; its message is shown if it does not. */
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        const char *ok_err_ = (expr);                                          \
        ck_assert_msg(ok_err_ == NULL, "%s: unexpected error: %s", #expr,      \
                      ok_err_);                                                \
    } while (0)

/* An engine call that must fail: its message lands in `var`.  An error
 * sentence goes to a person (and a log), so it must not be empty and must
 * not carry control characters taken from the input. */
#define ASSERT_ERROR(var, expr)                                                \
    do {                                                                       \
        (var) = (expr);                                                        \
        ck_assert_msg((var) != NULL, "%s succeeded, expected an error",        \
                      #expr);                                                  \
        ck_assert_msg((var)[0] != '\0', "%s: empty error message", #expr);     \
        ck_assert_msg(!fx_has_control_char(var),                               \
                      "%s: control character in error message \"%s\"", #expr,  \
                      (var));                                                  \
    } while (0)

/* sha256:/sha1: keys of a fixture certificate, made by hand. */
certmap_key_t fx_sha256_key(const fx_cert_t *c);
certmap_key_t fx_sha1_key(const fx_cert_t *c);

#endif /* CERTMAP_UNIT_TESTS_H */
