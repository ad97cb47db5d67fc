/*
 * fuzz_cert.c - certmap_cert_from_bytes() (configured certificates: PEM
 * or DER, keys and PKCS#12 refused) and certmap_cert_from_pem() (what
 * mod_ssl hands over) on the same bytes.
 *
 * On success: a subject is set and holds no control character (the
 * header promises they are escaped), the validity dates are set, and the
 * digests are not all zero.  A parse error is a readable sentence.
 */
#include <string.h>

#include <apr_general.h>
#include <openssl/err.h>

#include "certmap.h"
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

static int all_zero(const unsigned char *d, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (d[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static void check_cert(const certmap_cert_t *cert)
{
    const unsigned char *s;

    FUZZ_CHECK(cert != NULL);
    FUZZ_CHECK(cert->subject != NULL);
    for (s = (const unsigned char *)cert->subject; *s; s++) {
        FUZZ_CHECK(*s >= 0x20 && *s != 0x7f);
    }
    FUZZ_CHECK(cert->not_before != 0);
    FUZZ_CHECK(cert->not_after != 0);
    FUZZ_CHECK(!all_zero(cert->sha256, sizeof(cert->sha256)));
    FUZZ_CHECK(!all_zero(cert->sha1, sizeof(cert->sha1)));
}

static void check_error(const char *err)
{
    const unsigned char *s;

    FUZZ_CHECK(*err != '\0');
    for (s = (const unsigned char *)err; *s; s++) {
        FUZZ_CHECK(*s >= 0x20 && *s != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    certmap_cert_t *cert;
    const char *err;

    if (size > 64 * 1024) {
        return 0;
    }
    apr_pool_create(&p, root);

    cert = NULL;
    err = certmap_cert_from_bytes(p, data, size, &cert);
    if (err == NULL) {
        check_cert(cert);
    }
    else {
        check_error(err);
    }
    /* The engine promises to leave OpenSSL's error queue empty (mod_ssl
     * shares the thread). */
    FUZZ_CHECK(ERR_peek_error() == 0);

    cert = NULL;
    err = certmap_cert_from_pem(p, (const char *)data, size, &cert);
    if (err == NULL) {
        check_cert(cert);
    }
    else {
        check_error(err);
    }
    FUZZ_CHECK(ERR_peek_error() == 0);

    apr_pool_destroy(p);
    return 0;
}
