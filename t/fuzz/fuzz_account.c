/*
 * fuzz_account.c - the account and domain checks and their helpers.
 *
 * The input up to its first NUL byte is the account; what follows that
 * NUL (if anything) is a domain, so the fuzzer explores both.  The rules
 * are re-derived here from the header: not empty, at most
 * CERTMAP_ACCOUNT_MAX bytes, well-formed UTF-8 (checked against the
 * Unicode standard's table of well-formed byte sequences, not the
 * engine's decoder), no control or invisible formatting character, at
 * most one '\' with something on each side (a domain: none).
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

/* Unicode 15, table 3-7: the well-formed UTF-8 byte sequences, as
 * (first byte range, second byte range); later bytes are 80..BF. */
static int sequence_length(const unsigned char *s)
{
    static const struct {
        unsigned char lo, hi, lo2, hi2;
        int len;
    } rows[] = {
        {0xc2, 0xdf, 0x80, 0xbf, 2}, {0xe0, 0xe0, 0xa0, 0xbf, 3},
        {0xe1, 0xec, 0x80, 0xbf, 3}, {0xed, 0xed, 0x80, 0x9f, 3},
        {0xee, 0xef, 0x80, 0xbf, 3}, {0xf0, 0xf0, 0x90, 0xbf, 4},
        {0xf1, 0xf3, 0x80, 0xbf, 4}, {0xf4, 0xf4, 0x80, 0x8f, 4},
    };
    size_t r;
    int i;

    if (s[0] < 0x80) {
        return 1;
    }
    for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (s[0] < rows[r].lo || s[0] > rows[r].hi) {
            continue;
        }
        if (s[1] < rows[r].lo2 || s[1] > rows[r].hi2) {
            return 0;
        }
        for (i = 2; i < rows[r].len; i++) {
            if (s[i] < 0x80 || s[i] > 0xbf) {
                return 0;
            }
        }
        return rows[r].len;
    }
    return 0;
}

/* 1 when `s` is ill-formed UTF-8 or holds a character the header
 * forbids. */
static int has_control(const char *s)
{
    const unsigned char *c = (const unsigned char *)s;

    while (*c) {
        int n = sequence_length(c), i;
        unsigned long cp;

        if (n == 0) {
            return 1;
        }
        cp = n == 1 ? c[0] : (unsigned long)(c[0] & (0x7f >> n));
        for (i = 1; i < n; i++) {
            cp = (cp << 6) | (c[i] & 0x3f);
        }
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)
            || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e)
            || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff) {
            return 1;
        }
        c += n;
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
