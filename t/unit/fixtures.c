/*
 * fixtures.c - test certificates, keys and files made at run time.
 *
 * Everything the engine is tested against is generated here with the
 * OpenSSL 3.0 API; the expected fingerprints and dates are computed here
 * too, so a test compares the engine with an independent computation.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include <apr_strings.h>

#include "tests.h"

apr_pool_t *test_pool;

void test_pool_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&test_pool, NULL), APR_SUCCESS);
}

void test_pool_teardown(void)
{
    apr_pool_destroy(test_pool);
    test_pool = NULL;
}

/* ------------------------------------------------------------------ */
/* Temporary files                                                    */

static char tmp_root[64];

void fx_tmp_root_create(void)
{
    strcpy(tmp_root, "/tmp/certmap-unit-XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        perror(path);
    }
    return 0;
}

void fx_tmp_root_remove(void)
{
    if (tmp_root[0] != '\0') {
        nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        tmp_root[0] = '\0';
    }
}

const char *fx_tmpdir(apr_pool_t *p)
{
    char *dir = apr_pstrcat(p, tmp_root, "/t-XXXXXX", NULL);

    ck_assert_msg(tmp_root[0] != '\0', "fx_tmp_root_create() not called");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

/* mkdir -p for the directories above `path` inside `dir`. */
static void make_parents(apr_pool_t *p, const char *dir, const char *name)
{
    char *rel = apr_pstrdup(p, name);
    char *slash;

    for (slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
        const char *sub;

        *slash = '\0';
        sub = apr_pstrcat(p, dir, "/", rel, NULL);
        ck_assert_msg(mkdir(sub, 0700) == 0 || errno == EEXIST, "mkdir %s: %s",
                      sub, strerror(errno));
        *slash = '/';
    }
}

const char *fx_write_file(apr_pool_t *p, const char *dir, const char *name,
                          const void *data, apr_size_t len)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    FILE *f;

    make_parents(p, dir, name);
    f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

const char *fx_write_text(apr_pool_t *p, const char *dir, const char *name,
                          const char *text)
{
    return fx_write_file(p, dir, name, text, strlen(text));
}

/* ------------------------------------------------------------------ */
/* Certificates                                                       */

static apr_status_t free_cert(void *data)
{
    fx_cert_t *c = data;

    X509_free(c->x509);
    EVP_PKEY_free(c->pkey);
    return APR_SUCCESS;
}

/* The contents of a memory BIO as a pool string; frees the BIO. */
static const char *bio_to_string(apr_pool_t *p, BIO *bio, apr_size_t *len)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    const char *s;

    ck_assert_int_gt(n, 0);
    s = apr_pstrmemdup(p, data, (apr_size_t)n);
    if (len) {
        *len = (apr_size_t)n;
    }
    BIO_free(bio);
    return s;
}

fx_cert_t *fx_cert_make(apr_pool_t *p, const char *cn, long not_before_offset,
                        long not_after_offset, const fx_cert_t *issuer)
{
    static uint64_t serial;
    fx_cert_t *c = apr_pcalloc(p, sizeof(*c));
    time_t now = time(NULL);
    X509_NAME *name;
    unsigned char *der = NULL;
    int der_len;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;
    BIO *bio;

    /* P-256 keys take microseconds to make; RSA would slow the run. */
    c->pkey = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(c->pkey);
    c->x509 = X509_new();
    ck_assert_ptr_nonnull(c->x509);
    apr_pool_cleanup_register(p, c, free_cert, apr_pool_cleanup_null);

    ck_assert_int_eq(X509_set_version(c->x509, X509_VERSION_3), 1);
    ck_assert_int_eq(ASN1_INTEGER_set_uint64(X509_get_serialNumber(c->x509),
                                             ++serial + 1000),
                     1);
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(c->x509), 0,
                                           not_before_offset, &now));
    ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(c->x509), 0,
                                           not_after_offset, &now));
    c->not_before = apr_time_from_sec((apr_time_t)now + not_before_offset);
    c->not_after = apr_time_from_sec((apr_time_t)now + not_after_offset);

    name = X509_get_subject_name(c->x509);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(
                         name, "O", MBSTRING_UTF8,
                         (const unsigned char *)"mod_certmap tests", -1, -1, 0),
                     1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn,
                                                (int)strlen(cn), -1, 0),
                     1);
    ck_assert_int_eq(
        X509_set_issuer_name(
            c->x509, issuer ? X509_get_subject_name(issuer->x509) : name),
        1);
    ck_assert_int_eq(X509_set_pubkey(c->x509, c->pkey), 1);
    ck_assert_int_gt(
        X509_sign(c->x509, issuer ? issuer->pkey : c->pkey, EVP_sha256()), 0);

    der_len = i2d_X509(c->x509, &der);
    ck_assert_int_gt(der_len, 0);
    c->der = apr_pmemdup(p, der, (apr_size_t)der_len);
    c->der_len = (apr_size_t)der_len;
    OPENSSL_free(der);

    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_X509(bio, c->x509), 1);
    c->pem = bio_to_string(p, bio, &c->pem_len);

    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(
        PEM_write_bio_PrivateKey(bio, c->pkey, NULL, NULL, 0, NULL, NULL), 1);
    c->key_pem = bio_to_string(p, bio, NULL);

    /* Fingerprints over the DER bytes with plain EVP, cross-checked with
     * X509_digest(), so the expectation does not hinge on one API. */
    ck_assert_int_eq(
        EVP_Digest(c->der, c->der_len, c->sha256, &md_len, EVP_sha256(), NULL),
        1);
    ck_assert_uint_eq(md_len, CERTMAP_SHA256_LEN);
    ck_assert_int_eq(X509_digest(c->x509, EVP_sha256(), md, &md_len), 1);
    ck_assert_mem_eq(md, c->sha256, CERTMAP_SHA256_LEN);
    ck_assert_int_eq(
        EVP_Digest(c->der, c->der_len, c->sha1, &md_len, EVP_sha1(), NULL), 1);
    ck_assert_uint_eq(md_len, CERTMAP_SHA1_LEN);
    ck_assert_int_eq(X509_digest(c->x509, EVP_sha1(), md, &md_len), 1);
    ck_assert_mem_eq(md, c->sha1, CERTMAP_SHA1_LEN);
    return c;
}

fx_cert_t *fx_cert_simple(apr_pool_t *p, const char *cn)
{
    return fx_cert_make(p, cn, -3600, 365L * 24 * 3600, NULL);
}

const char *fx_key_pem_traditional(apr_pool_t *p, const fx_cert_t *c)
{
    BIO *bio = BIO_new(BIO_s_mem());

    ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(bio, c->pkey, NULL,
                                                          NULL, 0, NULL, NULL),
                     1);
    return bio_to_string(p, bio, NULL);
}

const char *fx_key_pem_encrypted(apr_pool_t *p, const fx_cert_t *c)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char pass[] = "secret";

    ck_assert_int_eq(
        PEM_write_bio_PKCS8PrivateKey(bio, c->pkey, EVP_aes_128_cbc(), pass,
                                      (int)strlen(pass), NULL, NULL),
        1);
    return bio_to_string(p, bio, NULL);
}

const unsigned char *fx_pkcs12(apr_pool_t *p, const fx_cert_t *c, int with_key,
                               apr_size_t *len)
{
    PKCS12 *p12 = PKCS12_create("secret", "test", with_key ? c->pkey : NULL,
                                c->x509, NULL, 0, 0, 0, 0, 0);
    unsigned char *der = NULL;
    const unsigned char *copy;
    int n;

    ck_assert_ptr_nonnull(p12);
    n = i2d_PKCS12(p12, &der);
    ck_assert_int_gt(n, 0);
    copy = apr_pmemdup(p, der, (apr_size_t)n);
    *len = (apr_size_t)n;
    OPENSSL_free(der);
    PKCS12_free(p12);
    return copy;
}

const char *fx_hex(apr_pool_t *p, const unsigned char *d, apr_size_t n,
                   int upper, char sep)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *out = apr_palloc(p, n * 3 + 1);
    char *o = out;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        if (sep && i > 0) {
            *o++ = sep;
        }
        *o++ = digits[d[i] >> 4];
        *o++ = digits[d[i] & 0x0f];
    }
    *o = '\0';
    return out;
}

const char *fx_sha256_spec(apr_pool_t *p, const fx_cert_t *c)
{
    return apr_pstrcat(
        p, "sha256:", fx_hex(p, c->sha256, CERTMAP_SHA256_LEN, 0, 0), NULL);
}

const char *fx_sha1_spec(apr_pool_t *p, const fx_cert_t *c)
{
    return apr_pstrcat(p, "sha1:", fx_hex(p, c->sha1, CERTMAP_SHA1_LEN, 0, 0),
                       NULL);
}

certmap_cert_t *fx_lookup_cert(apr_pool_t *p, const fx_cert_t *c)
{
    certmap_cert_t *cert = apr_pcalloc(p, sizeof(*cert));

    memcpy(cert->sha256, c->sha256, CERTMAP_SHA256_LEN);
    memcpy(cert->sha1, c->sha1, CERTMAP_SHA1_LEN);
    cert->not_before = c->not_before;
    cert->not_after = c->not_after;
    cert->subject = "CN=lookup only";
    return cert;
}

const unsigned char *fx_concat(apr_pool_t *p, const void *a, apr_size_t alen,
                               const void *b, apr_size_t blen, apr_size_t *len)
{
    unsigned char *out = apr_palloc(p, alen + blen + 1);

    memcpy(out, a, alen);
    memcpy(out + alen, b, blen);
    out[alen + blen] = '\0';
    *len = alen + blen;
    return out;
}

/* ------------------------------------------------------------------ */
/* Assertions                                                         */

int fx_contains_nocase(const char *haystack, const char *needle)
{
    apr_size_t n = strlen(needle);

    for (; *haystack; haystack++) {
        if (strncasecmp(haystack, needle, n) == 0) {
            return 1;
        }
    }
    return n == 0;
}

int fx_has_control_char(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* Keys built by hand from the independent digests, so that the table and
 * the decisions are tested apart from certmap_key_parse(). */
certmap_key_t fx_sha256_key(const fx_cert_t *c)
{
    certmap_key_t key;

    memset(&key, 0, sizeof(key));
    key.type = CERTMAP_KEY_SHA256;
    memcpy(key.digest, c->sha256, CERTMAP_SHA256_LEN);
    return key;
}

certmap_key_t fx_sha1_key(const fx_cert_t *c)
{
    certmap_key_t key;

    memset(&key, 0, sizeof(key));
    key.type = CERTMAP_KEY_SHA1;
    memcpy(key.digest, c->sha1, CERTMAP_SHA1_LEN);
    return key;
}
