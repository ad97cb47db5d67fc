/*
 * certmap_cert.c - certificates and the ways an administrator names one.
 */
#include "certmap.h"

#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

/* Windows' certificate dialog copies an invisible U+200E LEFT-TO-RIGHT
 * MARK (UTF-8 E2 80 8E) with a thumbprint; it is skipped wherever it is. */
#define LEFT_TO_RIGHT_MARK "\xe2\x80\x8e"

/* A configured certificate file larger than this is not a certificate. */
#define CERTMAP_CERT_FILE_MAX (1024 * 1024)

/* 0 when the time does not parse: the caller must not guess a date. */
static int asn1_time_to_apr(const ASN1_TIME *t, apr_time_t *out)
{
    struct tm tm;

    if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
        ERR_clear_error();
        return 0;
    }
    /* ASN1_TIME_to_tm gives UTC; timegm avoids the local zone. */
    *out = apr_time_from_sec(timegm(&tm));
    return 1;
}

static const char *name_to_text(apr_pool_t *p, const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    const char *text;

    if (bio == NULL) {
        return "";
    }
    /* RFC 2253 flags escape control characters and the DN specials, so
     * the text is safe for a log line. */
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    len = BIO_get_mem_data(bio, &data);
    text = apr_pstrmemdup(p, data, len > 0 ? (apr_size_t)len : 0);
    BIO_free(bio);
    return text;
}

/* Fill a certmap_cert_t from an X509 (which the caller frees).  Errors
 * are predicates, like those of certmap_cert_from_bytes(). */
static const char *cert_from_x509(apr_pool_t *p, X509 *x, certmap_cert_t **out)
{
    certmap_cert_t *cert = apr_pcalloc(p, sizeof(*cert));
    unsigned int n = 0;

    if (!X509_digest(x, EVP_sha256(), cert->sha256, &n)
        || n != CERTMAP_SHA256_LEN
        || !X509_digest(x, EVP_sha1(), cert->sha1, &n)
        || n != CERTMAP_SHA1_LEN) {
        return "could not be fingerprinted";
    }
    if (!asn1_time_to_apr(X509_get0_notBefore(x), &cert->not_before)
        || !asn1_time_to_apr(X509_get0_notAfter(x), &cert->not_after)) {
        return "has validity dates that do not parse";
    }
    cert->subject = name_to_text(p, X509_get_subject_name(x));
    cert->upns = apr_array_make(p, 0, sizeof(const char *));
    {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);

        if (len <= 0) {
            ERR_clear_error();
            return "could not be encoded";
        }
        cert->der = apr_pmemdup(p, der, len);
        cert->der_len = (apr_size_t)len;
        OPENSSL_free(der);
    }
    *out = cert;
    return NULL;
}

const char *certmap_cert_from_pem(apr_pool_t *p, const char *pem,
                                  apr_size_t len, certmap_cert_t **cert)
{
    BIO *bio;
    X509 *x;
    const char *err;

    if (pem == NULL || len == 0 || len > CERTMAP_CERT_FILE_MAX) {
        return "no certificate";
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return "out of memory";
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (x == NULL) {
        /* Leave no error behind in this thread's queue for mod_ssl. */
        ERR_clear_error();
        return "the certificate is not valid PEM";
    }
    err = cert_from_x509(p, x, cert);
    X509_free(x);
    return err ? apr_pstrcat(p, "the certificate ", err, NULL) : NULL;
}

static int is_private_key_label(const char *name)
{
    return strstr(name, "PRIVATE KEY") != NULL;
}

static int is_certificate_label(const char *name)
{
    return strcmp(name, "CERTIFICATE") == 0
           || strcmp(name, "X509 CERTIFICATE") == 0
           || strcmp(name, "TRUSTED CERTIFICATE") == 0;
}

/* Count the "-----BEGIN LABEL-----" lines, and those of private keys, in
 * the raw text: a key block must be refused even when it does not
 * decode. */
static void count_pem_labels(const unsigned char *data, apr_size_t len,
                             int *labels, int *keys)
{
    const unsigned char *s = data, *end = data + len;

    *labels = *keys = 0;
    while ((s = memmem(s, end - s, "-----BEGIN ", 11)) != NULL) {
        const unsigned char *eol = memchr(s, '\n', end - s);
        apr_size_t n = (eol ? eol : end) - s;

        (*labels)++;
        if (memmem(s, n, "PRIVATE KEY", 11) != NULL) {
            (*keys)++;
        }
        s += 11;
    }
}

static const char *cert_from_pem_blocks(apr_pool_t *p,
                                        const unsigned char *data,
                                        apr_size_t len, certmap_cert_t **out)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    int certs = 0, keys = 0, blocks = 0, labels, key_labels;
    X509 *x = NULL;
    const char *err = NULL;

    if (bio == NULL) {
        return "out of memory";
    }
    count_pem_labels(data, len, &labels, &key_labels);
    while (PEM_read_bio(bio, &name, &header, &der, &der_len)) {
        blocks++;
        if (is_private_key_label(name)) {
            keys++;
        }
        else if (is_certificate_label(name)) {
            certs++;
            if (x == NULL) {
                const unsigned char *q = der;
                /* TRUSTED CERTIFICATE carries trust settings after the
                 * certificate; d2i_X509_AUX reads both. */
                x = strcmp(name, "TRUSTED CERTIFICATE") == 0
                        ? d2i_X509_AUX(NULL, &q, der_len)
                        : d2i_X509(NULL, &q, der_len);
                if (x == NULL) {
                    err = "holds a CERTIFICATE block that does not decode";
                }
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
    }
    BIO_free(bio);
    ERR_clear_error();

    if (keys > 0 || key_labels > 0) {
        err = "holds a private key; only the public certificate belongs "
              "in the configuration (export it without the key, e.g. as "
              "a .cer file)";
    }
    else if (err != NULL) {
        /* keep it */
    }
    else if (blocks != labels) {
        err = "holds a damaged PEM block (a BEGIN line without a matching, "
              "decodable END)";
    }
    else if (certs == 0) {
        err = blocks ? "holds no certificate (only other PEM blocks)"
                     : "holds no certificate: the PEM block is damaged";
    }
    else if (certs > 1) {
        err = apr_psprintf(p,
                           "holds %d certificates; give exactly one "
                           "certificate per file",
                           certs);
    }
    else {
        err = cert_from_x509(p, x, out);
    }
    X509_free(x);
    return err;
}

static const char *cert_from_der(apr_pool_t *p, const unsigned char *data,
                                 apr_size_t len, certmap_cert_t **out)
{
    const unsigned char *q = data;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    const char *err;

    if (x != NULL && q == data + len) {
        err = cert_from_x509(p, x, out);
        X509_free(x);
        return err;
    }
    if (x != NULL) {
        X509_free(x);
        return "holds data after the certificate; give exactly one "
               "certificate per file";
    }
    ERR_clear_error();
    q = data;
    {
        PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)len);
        if (p12 != NULL) {
            PKCS12_free(p12);
            ERR_clear_error();
            return "is a PKCS#12 (.pfx/.p12) bundle, which carries a private "
                   "key; only the public certificate belongs in the "
                   "configuration (export it as a .cer file)";
        }
    }
    q = data;
    {
        EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &q, (long)len);
        if (key != NULL) {
            EVP_PKEY_free(key);
            ERR_clear_error();
            return "holds a private key; only the public certificate "
                   "belongs in the configuration";
        }
    }
    ERR_clear_error();
    return "is not a certificate (neither PEM nor DER X.509)";
}

const char *certmap_cert_from_bytes(apr_pool_t *p, const unsigned char *data,
                                    apr_size_t len, certmap_cert_t **cert)
{
    if (len == 0) {
        return "is empty";
    }
    if (len > CERTMAP_CERT_FILE_MAX) {
        return "is too large to be a certificate";
    }
    /* PEM is text with "-----BEGIN"; anything else is tried as DER. */
    if (memmem(data, len, "-----BEGIN", 10) != NULL) {
        return cert_from_pem_blocks(p, data, len, cert);
    }
    return cert_from_der(p, data, len, cert);
}

const char *certmap_cert_load_file(apr_pool_t *p, const char *path,
                                   certmap_cert_t **cert)
{
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    unsigned char *buf;
    apr_size_t len;
    const char *err;
    char ebuf[128];

    rv = apr_file_open(&f, path, APR_READ | APR_BINARY, APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read certificate file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && finfo.filetype != APR_REG) {
        apr_file_close(f);
        return apr_psprintf(p, "certificate file %s is not a regular file",
                            path);
    }
    if (rv != APR_SUCCESS || finfo.size > CERTMAP_CERT_FILE_MAX) {
        apr_file_close(f);
        return apr_psprintf(p,
                            "certificate file %s is too large to be "
                            "a certificate",
                            path);
    }
    len = (apr_size_t)finfo.size;
    buf = apr_palloc(p, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read certificate file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    err = certmap_cert_from_bytes(p, buf, len, cert);
    if (err != NULL) {
        return apr_psprintf(p, "certificate file %s %s", path, err);
    }
    return NULL;
}

int certmap_cert_out_of_date(const certmap_cert_t *cert, apr_time_t now)
{
    return now < cert->not_before || now > cert->not_after;
}

const char *certmap_hex(apr_pool_t *p, const unsigned char *d, apr_size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        s[2 * i] = digits[d[i] >> 4];
        s[2 * i + 1] = digits[d[i] & 0x0f];
    }
    s[2 * n] = '\0';
    return s;
}

/* ------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decode hex with optional ':' or ' ' separators into exactly `want`
 * bytes. */
static const char *parse_hex_digest(apr_pool_t *p, const char *hex,
                                    const char *form, unsigned char *out,
                                    apr_size_t want)
{
    apr_size_t digits = 0;
    const char *s;

    for (s = hex; *s; s++) {
        int v;
        if (*s == ':' || *s == ' ') {
            continue;
        }
        if (strncmp(s, LEFT_TO_RIGHT_MARK, 3) == 0) {
            s += 2;
            continue;
        }
        v = hex_value(*s);
        if (v < 0) {
            if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) {
                return apr_psprintf(p,
                                    "%s fingerprint has a character "
                                    "that is not a hex digit (byte 0x%02x)",
                                    form, (unsigned char)*s);
            }
            return apr_psprintf(p,
                                "%s fingerprint has a character that is "
                                "not a hex digit: '%c'",
                                form, *s);
        }
        if (digits < 2 * want) {
            if (digits % 2 == 0) {
                out[digits / 2] = (unsigned char)(v << 4);
            }
            else {
                out[digits / 2] |= (unsigned char)v;
            }
        }
        digits++;
    }
    if (digits != 2 * want) {
        return apr_psprintf(p,
                            "%s fingerprint must have %d hex digits, "
                            "not %" APR_SIZE_T_FMT,
                            form, (int)(2 * want), digits);
    }
    return NULL;
}

const char *certmap_key_parse(apr_pool_t *p, const char *spec,
                              const char *base_dir, certmap_key_t *key)
{
    const char *path;
    certmap_cert_t *cert;
    const char *err;

    memset(key, 0, sizeof(*key));
    if (spec == NULL || *spec == '\0') {
        return "the certificate is empty: give a file, sha256:HEX or "
               "sha1:HEX";
    }
    if (strncmp(spec, LEFT_TO_RIGHT_MARK, 3) == 0) {
        spec += 3;
    }
    if (strncasecmp(spec, "sha256:", 7) == 0) {
        key->type = CERTMAP_KEY_SHA256;
        return parse_hex_digest(p, spec + 7, "sha256:", key->digest,
                                CERTMAP_SHA256_LEN);
    }
    if (strncasecmp(spec, "sha1:", 5) == 0) {
        key->type = CERTMAP_KEY_SHA1;
        return parse_hex_digest(p, spec + 5, "sha1:", key->digest,
                                CERTMAP_SHA1_LEN);
    }

    path = spec;
    if (base_dir != NULL && *base_dir != '\0') {
        char *merged;
        if (apr_filepath_merge(&merged, base_dir, spec, APR_FILEPATH_TRUENAME,
                               p)
            != APR_SUCCESS) {
            return apr_psprintf(p,
                                "cannot read certificate file %s: "
                                "invalid path",
                                spec);
        }
        path = merged;
    }
    err = certmap_cert_load_file(p, path, &cert);
    if (err != NULL) {
        return err;
    }
    key->type = CERTMAP_KEY_SHA256;
    memcpy(key->digest, cert->sha256, CERTMAP_SHA256_LEN);
    key->has_sha1 = 1;
    memcpy(key->sha1, cert->sha1, CERTMAP_SHA1_LEN);
    return NULL;
}
