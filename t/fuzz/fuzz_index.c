/*
 * fuzz_index.c - the compiled-index reader and compiler.
 *
 * The first byte chooses the mode:
 *   even: the rest is an index file.  It is opened (from a file every
 *         16th input, else from memory: the same checks); when it opens,
 *         keys of every type are looked up: fixed ones and ones cut from
 *         the input.  Nothing may crash or read outside the mapping (ASan
 *         watches), and a hit's account must pass certmap_account_check
 *         and its forms be known names.
 *   odd:  the rest is a map file.  certmap_index_compile_mem() and
 *         certmap_table_load_file() must give the same error, or the same
 *         count and the same decision for a certificate made up from each
 *         line's key.
 */
#include "certmap_index.h"
#include "fuzz.h"

#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_strings.h>

static apr_pool_t *root;
static char tmpdir[64];
static unsigned long counter;

static void cleanup(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        /* nothing more to do */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *t = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    snprintf(tmpdir, sizeof(tmpdir), "%s/certmap-fuzzidx-XXXXXX",
             t && strlen(t) < 30 ? t : "/tmp");
    FUZZ_CHECK(mkdtemp(tmpdir) != NULL);
    atexit(cleanup);
    return 0;
}

static void check_hit(apr_pool_t *p, const certmap_index_hit_t *h)
{
    FUZZ_CHECK(h->account != NULL || h->deny_line != 0);
    if (h->account != NULL) {
        FUZZ_CHECK(certmap_account_check(p, h->account) == NULL);
        FUZZ_CHECK(h->line != 0 && h->form != NULL);
    }
    if (h->deny_line != 0) {
        FUZZ_CHECK(h->deny_form != NULL);
    }
}

static void index_mode(apr_pool_t *p, const uint8_t *data, size_t size)
{
    certmap_index_t *idx = NULL;
    const char *err;
    certmap_index_hit_t h;
    static const unsigned char zero[64];
    size_t off;
    int type;

    if (counter++ % 16 == 0) {
        const char *path = apr_psprintf(p, "%s/in.idx", tmpdir);
        FILE *f = fopen(path, "wb");

        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size);
        fclose(f);
        err = certmap_index_open(p, path, &idx);
    }
    else {
        err = certmap_index_open_bytes(p, data, size, &idx);
    }
    if (err != NULL) {
        FUZZ_CHECK(idx == NULL && *err != '\0');
        return;
    }
    FUZZ_CHECK(certmap_index_bytes(idx) == size);
    FUZZ_CHECK(certmap_index_map_path(idx) != NULL);
    (void)certmap_index_count(idx);
    (void)certmap_index_source(idx);
    for (type = CERTMAP_KEY_SHA256; type <= CERTMAP_KEY_SHA1_PUKEY; type++) {
        apr_size_t len =
            type == CERTMAP_KEY_SHA1 || type == CERTMAP_KEY_SHA1_PUKEY ? 20
                                                                       : 32;

        if (certmap_index_lookup(
                idx, type, zero, len,
                type == CERTMAP_KEY_ISSUER_SERIAL ? "CN=x" : NULL, &h)) {
            check_hit(p, &h);
        }
        /* Keys cut from the input: every window a stored key may be. */
        for (off = 0; off < size && off < 4096; off += 1 + off / 64) {
            apr_size_t avail = size - off, n = len;
            apr_size_t il = avail > 39 ? 39 : avail;
            char issuer[40];

            memcpy(issuer, data + off, il);
            issuer[il] = '\0';
            if (type == CERTMAP_KEY_SKI || type == CERTMAP_KEY_ISSUER_SERIAL) {
                n = 1 + data[off] % 20;
            }
            if (n > avail) {
                n = avail;
            }
            if (certmap_index_lookup(idx, type, data + off, n, issuer, &h)) {
                check_hit(p, &h);
            }
        }
    }
    certmap_index_close(idx);
}

/* A certificate that every key form of `key` names. */
static void cert_for_key(const certmap_key_t *key, certmap_cert_t *c)
{
    memset(c, 0, sizeof(*c));
    c->subject = "";
    switch (key->type) {
    case CERTMAP_KEY_SHA256:
        memcpy(c->sha256, key->digest, 32);
        if (key->has_sha1) {
            memcpy(c->sha1, key->sha1, 20);
        }
        break;
    case CERTMAP_KEY_SHA1:
        memcpy(c->sha1, key->digest, 20);
        break;
    case CERTMAP_KEY_SPKI_SHA256:
        memcpy(c->spki_sha256, key->digest, 32);
        break;
    case CERTMAP_KEY_SHA1_PUKEY:
        memcpy(c->pukey_sha1, key->digest, 20);
        break;
    case CERTMAP_KEY_SKI:
        c->ski = key->bytes;
        c->ski_len = key->bytes_len;
        break;
    case CERTMAP_KEY_ISSUER_SERIAL:
        c->issuer_ad = key->issuer;
        c->serial_ad = key->bytes;
        c->serial_ad_len = key->bytes_len;
        break;
    }
}

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void map_mode(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const char *path = apr_psprintf(p, "%s/m.txt", tmpdir);
    FILE *f = fopen(path, "wb");
    certmap_table_t *t = certmap_table_make(p), *ti = certmap_table_make(p);
    certmap_index_t *idx = NULL;
    certmap_index_slot_t slot;
    const char *e1, *e2;
    char *text, *line, *next;
    int lines = 0;

    /* Certificate files are not fuzzed here (no '/' escapes). */
    if (memchr(data, '/', size) != NULL) {
        return;
    }
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size);
    fclose(f);
    e1 = certmap_table_load_file(t, path);
    e2 = certmap_index_compile_mem(p, path, &idx);
    if (!same(e1, e2)) {
        fprintf(stderr, "table: %s\nindex: %s\n", e1, e2);
    }
    FUZZ_CHECK(same(e1, e2));
    if (e1 != NULL) {
        FUZZ_CHECK(idx == NULL);
        return;
    }
    FUZZ_CHECK(certmap_index_count(idx) == certmap_table_count(t));
    slot.current = idx;
    certmap_table_add_index(ti, &slot);
    text = apr_pstrmemdup(p, (const char *)data, size);
    for (line = text; line && lines < 32; line = next, lines++) {
        certmap_key_t key;
        const char *account;
        int deny;
        certmap_cert_t c;
        const certmap_table_t *c1[1] = {t}, *c2[1] = {ti};
        certmap_decision_t d1, d2;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        if (certmap_map_line_parse(p, line, tmpdir, &key, &account, &deny)
                != NULL
            || key.type == 0) {
            continue;
        }
        cert_for_key(&key, &c);
        certmap_decide(c1, 1, &c, p, &d1);
        certmap_decide(c2, 1, &c, p, &d2);
        FUZZ_CHECK(d1.reason == d2.reason);
        FUZZ_CHECK(same(d1.account, d2.account));
        FUZZ_CHECK(same(d1.source, d2.source));
        FUZZ_CHECK(same(d1.conflict, d2.conflict));
        FUZZ_CHECK(same(d1.form, d2.form));
        FUZZ_CHECK(same(d1.conflict_form, d2.conflict_form));
    }
    certmap_index_close(idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;

    if (size == 0) {
        return 0;
    }
    apr_pool_create(&p, root);
    if (data[0] & 1) {
        map_mode(p, data + 1, size - 1);
    }
    else {
        index_mode(p, data + 1, size - 1);
    }
    apr_pool_destroy(p);
    return 0;
}
