/*
 * fuzz_account.c - the account and domain checks and their helpers.
 *
 * The input up to its first NUL byte is the account; what follows that
 * NUL (if anything) is a domain, so the fuzzer explores both.  The rules
 * are re-derived here from the header: not empty, at most
 * CERTMAP_ACCOUNT_MAX bytes, no control character, at most one '\' with
 * something on each side (a domain: none).
 */
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

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

static int has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* 1 when the header's rules accept `s` as an account (domain: `domain`
 * set, no '\' at all). */
static int expect_ok(const char *s, int domain)
{
    size_t len = strlen(s);
    const char *sep = strchr(s, '\\');

    if (len == 0 || len > CERTMAP_ACCOUNT_MAX || has_control(s)) {
        return 0;
    }
    if (sep == NULL) {
        return 1;
    }
    if (domain) {
        return 0;
    }
    return sep > s && sep[1] != '\0' && strchr(sep + 1, '\\') == NULL;
}

static void check_text(const char *s)
{
    FUZZ_CHECK(s != NULL);
    /* Error sentences quote the input, so they may carry what it
     * carries; only make sure they are terminated and readable. */
    (void)strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *buf;
    const char *account, *domain = NULL, *err, *q, *d;
    size_t alen;
    int ok;

    if (size > 4096) {
        return 0;
    }
    buf = malloc(size + 2);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    account = buf;
    alen = strlen(account);
    if (alen < size) {
        domain = buf + alen + 1;
    }

    apr_pool_create(&p, root);

    /* Account */
    err = certmap_account_check(p, account);
    ok = expect_ok(account, 0);
    FUZZ_CHECK((err == NULL) == ok);
    if (err != NULL) {
        check_text(err);
    }
    else {
        FUZZ_CHECK(!has_control(account));
        FUZZ_CHECK(strlen(account) <= CERTMAP_ACCOUNT_MAX);

        if (strchr(account, '\\') == NULL) {
            q = certmap_account_qualify(p, account, "D");
            FUZZ_CHECK(strcmp(q, apr_pstrcat(p, "D\\", account, NULL)) == 0);
            FUZZ_CHECK(strcmp(certmap_account_domain(p, q), "D") == 0);
            FUZZ_CHECK(*certmap_account_domain(p, account) == '\0');
            /* No domain: the account stays as it is. */
            FUZZ_CHECK(
                strcmp(certmap_account_qualify(p, account, NULL), account)
                == 0);
            FUZZ_CHECK(strcmp(certmap_account_qualify(p, account, ""), account)
                       == 0);
        }
        else {
            /* Already qualified: stays as it is, domain is the part
             * before the '\'. */
            q = certmap_account_qualify(p, account, "D");
            FUZZ_CHECK(strcmp(q, account) == 0);
            d = certmap_account_domain(p, account);
            FUZZ_CHECK(strlen(d) == (size_t)(strchr(account, '\\') - account));
            FUZZ_CHECK(strncmp(d, account, strlen(d)) == 0);
            FUZZ_CHECK(certmap_domain_check(p, d) == NULL);
        }
    }
    /* "D\x" has domain "D" whatever x is. */
    d = certmap_account_domain(p, apr_pstrcat(p, "D\\", account, NULL));
    FUZZ_CHECK(strcmp(d, "D") == 0);

    /* Domain */
    if (domain != NULL) {
        err = certmap_domain_check(p, domain);
        ok = expect_ok(domain, 1);
        FUZZ_CHECK((err == NULL) == ok);
        if (err != NULL) {
            check_text(err);
        }
        else if (certmap_account_check(p, account) == NULL
                 && strchr(account, '\\') == NULL) {
            /* A checked domain and a checked bare account qualify to
             * DOMAIN\account, whose domain part is the domain. */
            q = certmap_account_qualify(p, account, domain);
            FUZZ_CHECK(strcmp(q, apr_pstrcat(p, domain, "\\", account, NULL))
                       == 0);
            FUZZ_CHECK(!has_control(q));
            FUZZ_CHECK(strcmp(certmap_account_domain(p, q), domain) == 0);
        }
    }

    apr_pool_destroy(p);
    free(buf);
    return 0;
}
