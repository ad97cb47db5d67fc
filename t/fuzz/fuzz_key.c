/*
 * fuzz_key.c - certmap_key_parse() on "sha256:HEX", "sha1:HEX",
 * "spki-sha256:HEX" and the "X509:" forms of altSecurityIdentities.
 *
 * Only inputs that name a digest or an X509: form are parsed (anything
 * else would be opened as a certificate file).  Digests, X509:<SKI> and
 * X509:<SHA1-PUKEY> are compared with a decoder written here from the
 * header's description: hex digits in any case, ':' and ' ' as
 * separators, U+200E ignored (also before the prefix).  For
 * X509:<I>...<SR>..., whose issuer grammar is not re-implemented here:
 * the issuer kept is printable UTF-8-free of controls, the serial comes
 * from the text after the last <SR>, and writing the key back as
 * "X509:<I>" + issuer + "<SR>" + hex parses to the same key (the
 * rewritten spelling is a fixed point), also through a map-file line
 * quoted with certmap_map_quote().  Every refused input leaves a zeroed
 * key and a printable sentence.
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>

#include <apr_strings.h>

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
        v = fuzz_hex_value((unsigned char)*s);
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

static void check_printable(const char *err)
{
    const char *s;

    FUZZ_CHECK(err != NULL && *err != '\0');
    for (s = err; *s; s++) {
        FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
    }
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (c[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static const char *find_last_nocase(const char *s, const char *tag)
{
    size_t n = strlen(tag), len = strlen(s);
    const char *q;

    if (len < n) {
        return NULL;
    }
    for (q = s + len - n;; q--) {
        if (strncasecmp(q, tag, n) == 0) {
            return q;
        }
        if (q == s) {
            return NULL;
        }
    }
}

/* X509:<I>...<SR>...: invariants, and the rewritten form parses back to
 * the same key. */
static void check_issuer_serial(apr_pool_t *p, const char *spec,
                                const certmap_key_t *key)
{
    const char *sr = find_last_nocase(spec, "<SR>"), *s;
    unsigned char want[64];
    long digits;
    char *again;
    certmap_key_t key2;
    certmap_table_t *t;
    certmap_cert_t cert;
    const certmap_table_t *chain[1];
    certmap_decision_t d;

    FUZZ_CHECK(sr != NULL);
    FUZZ_CHECK(key->issuer != NULL && *key->issuer != '\0');
    for (s = key->issuer; *s; s++) {
        FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
    }
    memset(want, 0, sizeof(want));
    digits = decode(sr + 4, want, sizeof(want));
    FUZZ_CHECK(digits > 0 && digits % 2 == 0 && digits <= 128);
    FUZZ_CHECK(key->bytes_len == (size_t)digits / 2);
    FUZZ_CHECK(memcmp(key->bytes, want, key->bytes_len) == 0);

    again = apr_pstrcat(p, "X509:<I>", key->issuer, "<SR>",
                        certmap_hex(p, key->bytes, key->bytes_len), NULL);
    memset(&key2, 0xa5, sizeof(key2));
    FUZZ_CHECK(certmap_key_parse(p, again, NULL, &key2) == NULL);
    FUZZ_CHECK(key2.type == CERTMAP_KEY_ISSUER_SERIAL);
    FUZZ_CHECK(strcmp(key2.issuer, key->issuer) == 0);
    FUZZ_CHECK(key2.bytes_len == key->bytes_len
               && memcmp(key2.bytes, key->bytes, key->bytes_len) == 0);

    /* As a map-file line, it maps a certificate with that issuer and
     * serial. */
    t = certmap_table_make(p);
    FUZZ_CHECK(certmap_table_add_line(
                   t,
                   apr_pstrcat(p, certmap_map_quote(p, spec), " DOM\\u", NULL),
                   NULL, "fuzz:1")
               == NULL);
    memset(&cert, 0, sizeof(cert));
    cert.subject = "";
    cert.issuer_ad = key->issuer;
    cert.serial_ad = key->bytes;
    cert.serial_ad_len = key->bytes_len;
    chain[0] = t;
    certmap_decide(chain, 1, &cert, NULL, &d);
    FUZZ_CHECK(d.reason == CERTMAP_MAPPED);
    FUZZ_CHECK(strcmp(d.account, "DOM\\u") == 0);
    FUZZ_CHECK(strcmp(d.form, CERTMAP_FORM_ISSUER_SERIAL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *spec;
    const char *s, *err;
    certmap_key_t key;
    unsigned char want_digest[64];
    size_t want;
    long digits;
    certmap_key_type_e type;
    int x509 = 0;

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
    else if (strncasecmp(s, "spki-sha256:", 12) == 0) {
        type = CERTMAP_KEY_SPKI_SHA256;
        want = CERTMAP_SHA256_LEN;
        s += 12;
    }
    else if (strncasecmp(s, "X509:<SHA1-PUKEY>", 17) == 0) {
        type = CERTMAP_KEY_SHA1_PUKEY;
        want = CERTMAP_SHA1_LEN;
        s += 17;
    }
    else if (strncasecmp(s, "X509:<SKI>", 10) == 0) {
        type = CERTMAP_KEY_SKI;
        want = 0; /* 1 to 64 bytes */
        s += 10;
    }
    else if (strncasecmp(s, "X509:", 5) == 0) {
        type = CERTMAP_KEY_ISSUER_SERIAL;
        want = 0;
        x509 = 1;
    }
    else {
        /* A file name: not for this target. */
        free(spec);
        return 0;
    }

    apr_pool_create(&p, root);
    memset(&key, 0xa5, sizeof(key));
    err = certmap_key_parse(p, spec, NULL, &key);
    if (err != NULL) {
        check_printable(err);
        /* Nothing half-made is left behind. */
        FUZZ_CHECK(all_zero(&key, sizeof(key)));
    }
    if (x509) {
        /* <I>...<SR>... or a refused form. */
        if (err == NULL) {
            FUZZ_CHECK(key.type == CERTMAP_KEY_ISSUER_SERIAL);
            FUZZ_CHECK(strncasecmp(s + 5, "<I>", 3) == 0);
            check_issuer_serial(p, spec, &key);
        }
        else if (strncasecmp(s + 5, "<S>", 3) == 0
                 || strncasecmp(s + 5, "<RFC822>", 8) == 0) {
            /* The weak forms say so. */
            FUZZ_CHECK(strstr(err, "weak") != NULL);
        }
        apr_pool_destroy(p);
        free(spec);
        return 0;
    }

    memset(want_digest, 0, sizeof(want_digest));
    digits = decode(s, want_digest, want ? want : sizeof(want_digest));
    if (type == CERTMAP_KEY_SKI) {
        int ok = digits > 0 && digits % 2 == 0 && digits <= 128;

        FUZZ_CHECK((err == NULL) == ok);
        if (err == NULL) {
            FUZZ_CHECK(key.type == CERTMAP_KEY_SKI);
            FUZZ_CHECK(key.bytes_len == (size_t)digits / 2);
            FUZZ_CHECK(memcmp(key.bytes, want_digest, key.bytes_len) == 0);
        }
    }
    else if (err == NULL) {
        FUZZ_CHECK(digits == (long)(2 * want));
        FUZZ_CHECK(key.type == type);
        FUZZ_CHECK(key.has_sha1 == 0);
        FUZZ_CHECK(memcmp(key.digest, want_digest, want) == 0);
    }
    else {
        FUZZ_CHECK(digits != (long)(2 * want));
    }
    apr_pool_destroy(p);
    free(spec);
    return 0;
}
