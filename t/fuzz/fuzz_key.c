/*
 * fuzz_key.c - certmap_key_parse() on "sha256:HEX" and "sha1:HEX".
 *
 * Only inputs that name a digest are parsed (anything else would be
 * opened as a certificate file).  The result is compared with a decoder
 * written here from the header's description: hex digits in any case,
 * ':' and ' ' as separators, U+200E ignored (also before the prefix).
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>

#include "certmap.h"
#include "fuzz.h"

#define LRM "\xe2\x80\x8e"

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

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Decode into out (at most `want` bytes kept); returns the number of hex
 * digits, or -1 when a character is neither digit, separator nor LRM. */
static long decode(const char *s, unsigned char *out, size_t want)
{
    long digits = 0;

    for (; *s; s++) {
        int v;
        if (*s == ':' || *s == ' ') {
            continue;
        }
        if (strncmp(s, LRM, 3) == 0) {
            s += 2;
            continue;
        }
        v = hexval((unsigned char)*s);
        if (v < 0) {
            return -1;
        }
        if ((size_t)digits < 2 * want) {
            out[digits / 2] = (unsigned char)((out[digits / 2] << 4) | v);
        }
        digits++;
    }
    return digits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *spec;
    const char *s, *err;
    certmap_key_t key;
    unsigned char want_digest[CERTMAP_SHA256_LEN];
    size_t want;
    long digits;
    certmap_key_type_e type;

    if (size > 4096 || memchr(data, '\0', size) != NULL) {
        return 0;
    }
    spec = malloc(size + 1);
    if (spec == NULL) {
        return 0;
    }
    memcpy(spec, data, size);
    spec[size] = '\0';

    s = spec;
    if (strncmp(s, LRM, 3) == 0) {
        s += 3;
    }
    if (strncasecmp(s, "sha256:", 7) == 0) {
        type = CERTMAP_KEY_SHA256;
        want = CERTMAP_SHA256_LEN;
        s += 7;
    }
    else if (strncasecmp(s, "sha1:", 5) == 0) {
        type = CERTMAP_KEY_SHA1;
        want = CERTMAP_SHA1_LEN;
        s += 5;
    }
    else {
        /* A file name: not for this target. */
        free(spec);
        return 0;
    }

    memset(want_digest, 0, sizeof(want_digest));
    digits = decode(s, want_digest, want);

    apr_pool_create(&p, root);
    memset(&key, 0xa5, sizeof(key));
    err = certmap_key_parse(p, spec, NULL, &key);
    if (err == NULL) {
        FUZZ_CHECK(digits == (long)(2 * want));
        FUZZ_CHECK(key.type == type);
        FUZZ_CHECK(key.has_sha1 == 0);
        FUZZ_CHECK(memcmp(key.digest, want_digest, want) == 0);
    }
    else {
        FUZZ_CHECK(digits != (long)(2 * want));
        /* An error is a sentence for a person: printable. */
        for (s = err; *s; s++) {
            FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
        }
    }
    apr_pool_destroy(p);
    free(spec);
    return 0;
}
