/*
 * certmap_index.c - compiled map files.
 *
 * Format (all integers in the host's byte order; the index is a cache
 * regenerated from the map file, never shipped, and a host of another
 * byte order or layout refuses it):
 *
 *   header   idx_header_t: magic "CMAPIDX\0", version, a byte-order mark,
 *            sizeof(header), sizeof(entry), the file's size, where the
 *            sections are, the map file's path and version (source id)
 *   slots    nslots (a power of two >= 2 * nentries) uint32: 0 = empty,
 *            else 1 + an entry number; linear probing
 *   entries  nentries idx_entry_t (12 bytes): the key's type, its length,
 *            the mapping's and the deny's form (0: none), the mapping's
 *            line, and the offset of the key in the pool
 *   pool     the map file's path (NUL-terminated); for every entry: when
 *            it is denied, the deny's line (uint32, unaligned); its key
 *            bytes; when it maps, the account and a NUL
 *
 * Keys: the digests (sha256, sha1, spki-sha256, SHA1-PUKEY) as bytes; SKI
 * as bytes; issuer+serial as [serial length][serial bytes][issuer with
 * ASCII letters lower-cased].  Hash: the first 8 bytes of a digest, FNV-1a
 * 64 for the others, mixed with the type.  A certificate-file line gives
 * two entries with the same content (its SHA-256 and its SHA-1), exactly
 * as the table keeps one entry under both digests.
 *
 * Only the header is checked when an index is opened (O(1)): everything a
 * lookup reaches (slot values, entry offsets and lengths, the account's
 * terminating NUL and characters) is checked when it is reached, so a
 * damaged file cannot make a lookup read outside the mapping.
 */
#include "certmap_index.h"
#include "certmap_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_file_io.h>

#define IDX_MAGIC "CMAPIDX" /* 8 bytes with the NUL */
#define IDX_VERSION 1
#define IDX_BYTE_ORDER 0x01020304u

typedef struct idx_header_t {
    char magic[8];
    apr_uint32_t version;
    apr_uint32_t byte_order;
    apr_uint32_t header_size;
    apr_uint32_t entry_size;
    apr_uint64_t file_size;
    apr_uint64_t slots_off;
    apr_uint32_t nslots;
    apr_uint32_t nentries;
    apr_uint64_t entries_off;
    apr_uint64_t pool_off;
    apr_uint64_t pool_size;
    apr_uint64_t path_off; /* in the pool */
    apr_uint32_t path_len;
    apr_uint32_t count; /* as certmap_table_count() counts */
    apr_uint64_t src_dev, src_ino, src_size, src_mtime_ns;
} idx_header_t;

typedef struct idx_entry_t {
    apr_uint32_t off;    /* in the pool: key, then account\0 */
    apr_uint32_t line;   /* of the mapping, 0: none */
    unsigned char type;  /* certmap_key_type_e */
    unsigned char forms; /* form | deny form << 4 (FORM_* codes) */
    apr_uint16_t key_len;
} idx_entry_t; /* a denied entry's deny line: 4 bytes before the key */

struct certmap_index_t {
    void *base;
    apr_size_t len;
    const idx_header_t *h;
    const apr_uint32_t *slots;
    const idx_entry_t *entries;
    const unsigned char *pool;
    apr_uint64_t pool_size;
    apr_uint32_t mask, nentries;
    const char *map_path;
    certmap_file_id_t source;
};

/* Form codes of an entry. */
static const char *const form_names[8] = {
    NULL,
    CERTMAP_FORM_SHA256,
    CERTMAP_FORM_SHA1,
    CERTMAP_FORM_FILE,
    CERTMAP_FORM_SPKI_SHA256,
    CERTMAP_FORM_ISSUER_SERIAL,
    CERTMAP_FORM_SKI,
    CERTMAP_FORM_SHA1_PUKEY,
};

static int form_code(const char *form)
{
    int i;

    for (i = 1; i < 8; i++) {
        if (strcmp(form_names[i], form) == 0) {
            return i;
        }
    }
    return 0;
}

static int is_digest_type(int type)
{
    return type == CERTMAP_KEY_SHA256 || type == CERTMAP_KEY_SHA1
           || type == CERTMAP_KEY_SPKI_SHA256 || type == CERTMAP_KEY_SHA1_PUKEY;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static apr_uint64_t fnv(apr_uint64_t h, const unsigned char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ s[i]) * FNV_PRIME;
    }
    return h;
}

static apr_uint64_t mix(apr_uint64_t h, int type)
{
    h ^= (apr_uint64_t)type * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 31;
    return h;
}

/* Hash of a stored key (for issuer+serial, the encoded form). */
static apr_uint64_t key_hash(int type, const unsigned char *k, apr_size_t len)
{
    apr_uint64_t h;

    if (is_digest_type(type) && len >= 8) {
        memcpy(&h, k, 8);
        return mix(h, type);
    }
    return mix(fnv(FNV_OFFSET, k, len), type);
}

/* ------------------------------------------------------------------ */
/* File ids                                                           */

static void id_from_stat(const struct stat *st, certmap_file_id_t *id)
{
    id->dev = (apr_uint64_t)st->st_dev;
    id->ino = (apr_uint64_t)st->st_ino;
    id->size = (apr_uint64_t)st->st_size;
    id->mtime_ns = (apr_uint64_t)st->st_mtim.tv_sec * 1000000000ULL
                   + (apr_uint64_t)st->st_mtim.tv_nsec;
}

const char *certmap_file_id(apr_pool_t *p, const char *path,
                            certmap_file_id_t *id)
{
    struct stat st;

    memset(id, 0, sizeof(*id));
    if (stat(path, &st) != 0) {
        return apr_psprintf(p, "cannot stat map file %s: %s", path,
                            strerror(errno));
    }
    id_from_stat(&st, id);
    return NULL;
}

int certmap_file_id_equal(const certmap_file_id_t *a,
                          const certmap_file_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size
           && a->mtime_ns == b->mtime_ns;
}

/* ------------------------------------------------------------------ */
/* Building                                                           */

typedef struct bentry_t {
    const char *account; /* NULL: no mapping */
    apr_uint32_t account_len;
    apr_uint32_t line, deny_line;
    unsigned char form, deny_form;
} bentry_t;

typedef struct bkey_t {
    apr_uint64_t hash;
    const unsigned char *k; /* stable until the image is written */
    apr_uint32_t entry;
    apr_uint16_t klen;
    unsigned char type;
} bkey_t;

typedef struct builder_t {
    apr_pool_t *p;
    const char *path;
    bkey_t *keys;
    apr_uint32_t nkeys, keys_cap;
    bentry_t *entries;
    apr_uint32_t nentries, entries_cap;
    apr_uint64_t *slots; /* 1 + key number | the hash's high half << 32 */
    apr_uint32_t nslots;
    unsigned int count;
    apr_size_t account_bytes;
    int oom;
    unsigned int qhead; /* of build()'s queue of fast-path lines */
    char *text;         /* the map file (big_alloc) */
    apr_size_t text_size;
} builder_t;

#define NO_ENTRY 0xffffffffu

/* Zeroed memory for the builder's big arrays and the image: huge pages
 * where the kernel gives them (far fewer page faults and TLB misses
 * than 4 KB pages for a million entries).  Freed with munmap. */
static void *big_alloc(apr_size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (n >= (1u << 20)) {
        madvise(p, n, MADV_HUGEPAGE);
    }
#endif
    return p;
}

static int grow(void **a, apr_uint32_t *cap, apr_size_t elt, apr_uint32_t need)
{
    apr_uint32_t c = *cap ? *cap : 1024;
    void *n;

    if (need <= *cap) {
        return 1;
    }
    while (c < need) {
        c *= 2;
    }
    n = big_alloc((apr_size_t)c * elt);
    if (n == NULL) {
        return 0;
    }
    if (*a != NULL) {
        memcpy(n, *a, (apr_size_t)*cap * elt);
        munmap(*a, (apr_size_t)*cap * elt);
    }
    *a = n;
    *cap = c;
    return 1;
}

static void slots_insert(apr_uint32_t *slots, apr_uint32_t mask,
                         apr_uint64_t hash, apr_uint32_t value)
{
    apr_uint32_t i = (apr_uint32_t)hash & mask;

    while (slots[i] != 0) {
        i = (i + 1) & mask;
    }
    slots[i] = value;
}

/* The builder's slots also hold the upper half of the hash, so that a
 * probe past another key does not have to read that key. */
static void bslots_insert(apr_uint64_t *slots, apr_uint32_t mask,
                          apr_uint64_t hash, apr_uint32_t value)
{
    apr_uint32_t i = (apr_uint32_t)hash & mask;

    while (slots[i] != 0) {
        i = (i + 1) & mask;
    }
    slots[i] = (hash & 0xffffffff00000000ULL) | value;
}

static int rehash(builder_t *b, apr_uint32_t nslots)
{
    apr_uint64_t *s = big_alloc((apr_size_t)nslots * sizeof(apr_uint64_t));
    apr_uint32_t k;

    if (s == NULL) {
        return 0;
    }
    for (k = 0; k < b->nkeys; k++) {
        bslots_insert(s, nslots - 1, b->keys[k].hash, k + 1);
    }
    munmap(b->slots, (apr_size_t)b->nslots * sizeof(apr_uint64_t));
    b->slots = s;
    b->nslots = nslots;
    return 1;
}

/* The key number of (type, k), or NO_ENTRY. */
static apr_uint32_t key_find(const builder_t *b, int type,
                             const unsigned char *k, apr_size_t len,
                             apr_uint64_t hash)
{
    apr_uint32_t mask = b->nslots - 1, i = (apr_uint32_t)hash & mask;
    apr_uint64_t hi = hash & 0xffffffff00000000ULL;

    for (; b->slots[i] != 0; i = (i + 1) & mask) {
        const bkey_t *bk;

        if ((b->slots[i] & 0xffffffff00000000ULL) != hi) {
            continue;
        }
        bk = &b->keys[(apr_uint32_t)b->slots[i] - 1];
        if (bk->hash == hash && bk->type == type && bk->klen == len
            && memcmp(bk->k, k, len) == 0) {
            return (apr_uint32_t)b->slots[i] - 1;
        }
    }
    return NO_ENTRY;
}

/* Add a key (known to be absent) for entry e. */
static int key_add(builder_t *b, int type, const unsigned char *k,
                   apr_size_t len, apr_uint64_t hash, apr_uint32_t e)
{
    bkey_t *bk;

    if ((apr_size_t)(b->nkeys + 1) * 2 > b->nslots
        && !rehash(b, b->nslots * 2)) {
        return 0;
    }
    if (!grow((void **)&b->keys, &b->keys_cap, sizeof(bkey_t), b->nkeys + 1)) {
        return 0;
    }
    bk = &b->keys[b->nkeys];
    bk->hash = hash;
    bk->k = k;
    bk->klen = (apr_uint16_t)len;
    bk->type = (unsigned char)type;
    bk->entry = e;
    b->nkeys++;
    bslots_insert(b->slots, b->nslots - 1, hash, b->nkeys);
    return 1;
}

static apr_uint32_t entry_new(builder_t *b)
{
    if (!grow((void **)&b->entries, &b->entries_cap, sizeof(bentry_t),
              b->nentries + 1)) {
        return NO_ENTRY;
    }
    memset(&b->entries[b->nentries], 0, sizeof(bentry_t));
    b->count++;
    return b->nentries++;
}

/* The entry under (type, k), made when there is none (entry_for). */
static apr_uint32_t entry_for(builder_t *b, int type, const unsigned char *k,
                              apr_size_t len)
{
    apr_uint64_t hash = key_hash(type, k, len);
    apr_uint32_t kn = key_find(b, type, k, len, hash), e;

    if (kn != NO_ENTRY) {
        return b->keys[kn].entry;
    }
    e = entry_new(b);
    if (e == NO_ENTRY || !key_add(b, type, k, len, hash, e)) {
        b->oom = 1;
        return NO_ENTRY;
    }
    return e;
}

/* entry_update() of certmap_table.c. */
static const char *bentry_update(builder_t *b, apr_uint32_t en,
                                 const char *account, apr_size_t alen,
                                 unsigned int line, int form)
{
    bentry_t *e = &b->entries[en];

    if (account == NULL) {
        if (e->deny_line == 0) {
            e->deny_line = line;
            e->deny_form = (unsigned char)form;
        }
        return NULL;
    }
    if (e->account != NULL
        && (e->account_len != alen || memcmp(e->account, account, alen) != 0)) {
        return certmap_table_conflict_error(
            b->p, form_names[form], e->account,
            apr_psprintf(b->p, "%s:%u", b->path, e->line));
    }
    if (e->account == NULL) {
        e->account = account;
        e->account_len = (apr_uint32_t)alen;
        e->line = line;
        e->form = (unsigned char)form;
        b->account_bytes += alen + 1;
    }
    return NULL;
}

/* certmap_table_add() on the builder.  `k` is the encoded key; for a
 * certificate file `sha1` is its SHA-1.  `account` (NULL: deny) must
 * live until the index is written. */
static const char *builder_add(builder_t *b, int type, const unsigned char *k,
                               apr_size_t len, const unsigned char *sha1,
                               const char *account, apr_size_t alen,
                               unsigned int line, int form)
{
    apr_uint32_t e, by_sha1 = NO_ENTRY, kn, kn1 = NO_ENTRY;
    apr_uint64_t hash, hash1 = 0;
    const char *err;

    if (type != CERTMAP_KEY_SHA256) {
        e = entry_for(b, type, k, len);
        if (e == NO_ENTRY) {
            return NULL;
        }
        return bentry_update(b, e, account, alen, line, form);
    }
    hash = key_hash(type, k, len);
    kn = key_find(b, type, k, len, hash);
    e = kn != NO_ENTRY ? b->keys[kn].entry : NO_ENTRY;
    if (sha1 != NULL) {
        hash1 = key_hash(CERTMAP_KEY_SHA1, sha1, CERTMAP_SHA1_LEN);
        kn1 = key_find(b, CERTMAP_KEY_SHA1, sha1, CERTMAP_SHA1_LEN, hash1);
        by_sha1 = kn1 != NO_ENTRY ? b->keys[kn1].entry : NO_ENTRY;
    }
    if (e == NO_ENTRY) {
        e = by_sha1;
    }
    else if (by_sha1 != NO_ENTRY && by_sha1 != e) {
        /* Fold the separate SHA-1 entry into this one (add_exact). */
        bentry_t *o = &b->entries[by_sha1];

        if (o->account != NULL) {
            err = bentry_update(b, e, o->account, o->account_len, o->line,
                                o->form);
            if (err != NULL) {
                return err;
            }
        }
        if (o->deny_line != 0) {
            bentry_update(b, e, NULL, 0, o->deny_line, o->deny_form);
        }
        b->count--;
    }
    if (e == NO_ENTRY) {
        e = entry_new(b);
        if (e == NO_ENTRY) {
            b->oom = 1;
            return NULL;
        }
    }
    if (kn != NO_ENTRY) {
        b->keys[kn].entry = e;
    }
    else if (!key_add(b, type, k, len, hash, e)) {
        b->oom = 1;
        return NULL;
    }
    if (sha1 != NULL) {
        if (kn1 != NO_ENTRY) {
            b->keys[kn1].entry = e;
        }
        else if (!key_add(b, CERTMAP_KEY_SHA1, sha1, CERTMAP_SHA1_LEN, hash1,
                          e)) {
            b->oom = 1;
            return NULL;
        }
    }
    return bentry_update(b, e, account, alen, line, form);
}

/* Encode a parsed key; returns the length or 0 (with *err) when it
 * cannot be indexed. */
static apr_size_t encode_key(const certmap_key_t *key, unsigned char *out,
                             apr_size_t max, const char **err)
{
    apr_size_t n, i;

    switch (key->type) {
    case CERTMAP_KEY_SHA256:
    case CERTMAP_KEY_SPKI_SHA256:
        memcpy(out, key->digest, CERTMAP_SHA256_LEN);
        return CERTMAP_SHA256_LEN;
    case CERTMAP_KEY_SHA1:
    case CERTMAP_KEY_SHA1_PUKEY:
        memcpy(out, key->digest, CERTMAP_SHA1_LEN);
        return CERTMAP_SHA1_LEN;
    case CERTMAP_KEY_SKI:
        if (key->bytes == NULL || key->bytes_len == 0) {
            *err = "the subject key identifier is empty";
            return 0;
        }
        memcpy(out, key->bytes, key->bytes_len);
        return key->bytes_len;
    case CERTMAP_KEY_ISSUER_SERIAL:
        if (key->issuer == NULL || key->bytes == NULL || key->bytes_len == 0) {
            *err = "the issuer or the serial number is empty";
            return 0;
        }
        n = strlen(key->issuer);
        if (key->bytes_len > 255 || 1 + key->bytes_len + n > max) {
            *err = "the issuer name is too long to be indexed";
            return 0;
        }
        out[0] = (unsigned char)key->bytes_len;
        memcpy(out + 1, key->bytes, key->bytes_len);
        for (i = 0; i < n; i++) {
            out[1 + key->bytes_len + i] =
                ascii_lower((unsigned char)key->issuer[i]);
        }
        return 1 + key->bytes_len + n;
    }
    *err = "unknown kind of certificate specification";
    return 0;
}

#define KEY_MAX 65535

static signed char hexval[256];

static void hex_init(void)
{
    int i;

    if (hexval['1'] == 1) {
        return;
    }
    for (i = 0; i < 256; i++) {
        hexval[i] = -1;
    }
    for (i = 0; i < 10; i++) {
        hexval['0' + i] = (signed char)i;
    }
    for (i = 0; i < 6; i++) {
        hexval['a' + i] = hexval['A' + i] = (signed char)(10 + i);
    }
}

/* The fast path: [blanks]sha256:HEX64 or sha1:HEX40, blanks, a plain
 * ASCII account the general parser would accept, [blanks], end.  1 when
 * the line is of that shape (key and account filled), 0 to let the
 * general parser decide (anything else, and every error). */
static int fast_line(char *line, int *type, const unsigned char **key,
                     const char **account, apr_size_t *alen)
{
    char *s = line, *a, *hexstart;
    unsigned char digest[CERTMAP_SHA256_LEN];
    apr_size_t want, i;
    int backslashes = 0;

    while (*s == ' ' || *s == '\t' || *s == '\r') {
        s++;
    }
    if (strncmp(s, "sha256:", 7) == 0) {
        *type = CERTMAP_KEY_SHA256;
        want = CERTMAP_SHA256_LEN;
        s += 7;
    }
    else if (strncmp(s, "sha1:", 5) == 0) {
        *type = CERTMAP_KEY_SHA1;
        want = CERTMAP_SHA1_LEN;
        s += 5;
    }
    else {
        return 0;
    }
    hexstart = s;
    for (i = 0; i < want; i++) {
        int hi = hexval[(unsigned char)s[2 * i]], lo;

        if (hi < 0) {
            return 0;
        }
        lo = hexval[(unsigned char)s[2 * i + 1]];
        if (lo < 0) {
            return 0;
        }
        digest[i] = (unsigned char)(hi << 4 | lo);
    }
    s += 2 * want;
    if (*s != ' ' && *s != '\t' && *s != '\r') {
        return 0;
    }
    while (*s == ' ' || *s == '\t' || *s == '\r') {
        s++;
    }
    if (*s == '"' || *s == '\'' || *s == '#' || *s == '\0' || *s == '\\') {
        return 0;
    }
    for (a = s; *s > ' ' && *s < 0x7f; s++) {
        backslashes += *s == '\\';
    }
    if (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r') {
        return 0;
    }
    *alen = (apr_size_t)(s - a);
    if (*alen > CERTMAP_ACCOUNT_MAX || backslashes > 1
        || (backslashes == 1 && s[-1] == '\\')) {
        return 0;
    }
    if (*s != '\0') {
        char *t = s;

        while (*t == ' ' || *t == '\t' || *t == '\r') {
            t++;
        }
        if (*t != '\0') {
            return 0;
        }
        *s = '\0';
    }
    *account = a;
    /* The digest replaces its hex in the text: stable, no copy. */
    memcpy(hexstart, digest, want);
    *key = (const unsigned char *)hexstart;
    return 1;
}

static void builder_free(builder_t *b)
{
    if (b->keys != NULL) {
        munmap(b->keys, (apr_size_t)b->keys_cap * sizeof(bkey_t));
    }
    if (b->entries != NULL) {
        munmap(b->entries, (apr_size_t)b->entries_cap * sizeof(bentry_t));
    }
    if (b->text != NULL) {
        munmap(b->text, b->text_size);
    }
    if (b->slots != NULL) {
        munmap(b->slots, (apr_size_t)b->nslots * sizeof(apr_uint64_t));
    }
}

/* Fast-path lines waiting to be inserted (a small FIFO, so that the
 * slot a line needs is prefetched while the next lines are parsed). */
typedef struct pending_t {
    const char *account;
    apr_size_t alen;
    unsigned int line;
    int type;
    const unsigned char *key; /* decoded in place, in the file's text */
} pending_t;

#define PENDING 16

/* Insert the oldest queued line. */
static const char *flush_one(builder_t *b, pending_t *pending, int *n)
{
    pending_t *q = &pending[b->qhead];
    const char *err = builder_add(
        b, q->type, q->key,
        q->type == CERTMAP_KEY_SHA256 ? CERTMAP_SHA256_LEN : CERTMAP_SHA1_LEN,
        NULL, q->account, q->alen, q->line,
        q->type == CERTMAP_KEY_SHA256 ? 1 : 2);

    b->qhead = (b->qhead + 1) % PENDING;
    (*n)--;
    if (b->oom) {
        return apr_psprintf(b->p, "not enough memory to index map file %s",
                            b->path);
    }
    if (err != NULL) {
        return apr_psprintf(b->p, "%s:%u: %s", b->path, q->line, err);
    }
    return NULL;
}

static const char *flush(builder_t *b, pending_t *pending, int *n)
{
    const char *err = NULL;

    while (*n > 0 && err == NULL) {
        err = flush_one(b, pending, n);
    }
    return err;
}

/* Map files larger than this are refused (as certmap_table_load_file). */

/* Read and parse the map file into b (b->p: scratch and errors).  The
 * file's text is returned in *text_out (accounts point into it). */
static const char *build(builder_t *b, apr_pool_t *scratch, const char *path,
                         certmap_file_id_t *id)
{
    apr_pool_t *p = b->p, *linepool;
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    char ebuf[128];
    char *text, *line, *next, *base_dir;
    apr_size_t len, nlines = 1, i;
    const char *err = NULL;
    unsigned int lineno = 0;
    struct stat st;
    apr_uint32_t nslots = 16;
    unsigned char kbytes[KEY_MAX];
    pending_t pending[PENDING];
    int npending = 0;

    hex_init();
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) == 0) {
        id_from_stat(&st, id);
    }
    err = certmap_map_file_open(p, path, &f, &finfo);
    if (err != NULL) {
        return err;
    }
    len = (apr_size_t)finfo.size;
    b->text_size = len + 1;
    b->text = text = big_alloc(b->text_size);
    if (text == NULL) {
        apr_file_close(f);
        return apr_psprintf(p, "not enough memory to index map file %s", path);
    }
    rv = apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read map file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    text[len] = '\0';
    certmap_map_text_start(&text, &len);
    base_dir = certmap_map_file_dir(scratch, path);
    /* Slots for about as many keys as lines, so that few rehashes. */
    for (i = 0; i < len; i++) {
        const char *nl = memchr(text + i, '\n', len - i);

        if (nl == NULL) {
            break;
        }
        nlines++;
        i = (apr_size_t)(nl - text);
    }
    while (nslots < 2 * nlines && nslots < 0x80000000u) {
        nslots *= 2;
    }
    b->slots = big_alloc((apr_size_t)nslots * sizeof(apr_uint64_t));
    b->nslots = nslots;
    /* Room for a key and an entry a line: no copying while growing. */
    if (b->slots == NULL
        || !grow((void **)&b->keys, &b->keys_cap, sizeof(bkey_t),
                 (apr_uint32_t)nlines)
        || !grow((void **)&b->entries, &b->entries_cap, sizeof(bentry_t),
                 (apr_uint32_t)nlines)) {
        return apr_psprintf(p, "not enough memory to index map file %s", path);
    }

    apr_pool_create(&linepool, scratch);
    for (line = text; line < text + len && err == NULL; line = next) {
        const char *account;
        apr_size_t alen;
        int deny, form, blank;
        certmap_key_t key;
        pending_t *q;

        lineno++;
        if (!certmap_map_line_cut(line, text + len, &next, &blank)) {
            err = flush(b, pending, &npending);
            if (err == NULL) {
                err = apr_psprintf(p, "%s:%u: the line contains a NUL byte",
                                   path, lineno);
            }
            break;
        }
        if (blank) {
            continue;
        }
        if (npending == PENDING) {
            err = flush_one(b, pending, &npending);
            if (err != NULL) {
                break;
            }
        }
        q = &pending[(b->qhead + (unsigned int)npending) % PENDING];
        if (fast_line(line, &q->type, &q->key, &q->account, &q->alen)) {
            /* Queued: its slot is fetched while the next lines are
             * parsed; inserted in line order. */
            q->line = lineno;
            __builtin_prefetch(
                &b->slots[(apr_uint32_t)key_hash(q->type, q->key,
                                                 q->type == CERTMAP_KEY_SHA256
                                                     ? CERTMAP_SHA256_LEN
                                                     : CERTMAP_SHA1_LEN)
                          & (b->nslots - 1)]);
            npending++;
            continue;
        }
        err = flush(b, pending, &npending);
        if (err != NULL) {
            break;
        }
        err = certmap_map_line_parse(linepool, line, base_dir, &key, &account,
                                     &deny);
        if (err == NULL && key.type != 0) {
            apr_size_t klen = encode_key(&key, kbytes, KEY_MAX, &err);

            form = form_code(certmap_key_form(&key));
            if (klen > 0) {
                if (account != NULL) {
                    alen = strlen(account);
                    account = apr_pstrmemdup(scratch, account, alen);
                }
                else {
                    alen = 0;
                }
                err = builder_add(b, key.type,
                                  apr_pmemdup(scratch, kbytes, klen), klen,
                                  key.has_sha1 ? apr_pmemdup(scratch, key.sha1,
                                                             CERTMAP_SHA1_LEN)
                                               : NULL,
                                  account, alen, lineno, form);
            }
        }
        apr_pool_clear(linepool);
        if (b->oom) {
            return apr_psprintf(p, "not enough memory to index map file %s",
                                path);
        }
        if (err != NULL) {
            err = apr_psprintf(p, "%s:%u: %s", path, lineno, err);
        }
    }
    if (err == NULL) {
        err = flush(b, pending, &npending);
    }
    return err;
}

/* The image of the index for a built table, in anonymous memory. */
static const char *write_image(builder_t *b, const char *path,
                               const certmap_file_id_t *id, void **image,
                               apr_size_t *image_len)
{
    apr_uint32_t nslots = 16, k, *slots;
    apr_uint64_t pool_size, slots_off, entries_off, pool_off, total, at;
    apr_size_t path_len = strlen(path);
    idx_header_t *h;
    idx_entry_t *entries;
    unsigned char *base, *pool;

    while (nslots < 2 * (apr_uint64_t)b->nkeys && nslots < 0x80000000u) {
        nslots *= 2;
    }
    if ((apr_uint64_t)b->nkeys * 2 > nslots) {
        return apr_psprintf(b->p, "map file %s has too many entries to index",
                            path);
    }
    pool_size = path_len + 1;
    for (k = 0; k < b->nkeys; k++) {
        const bentry_t *e = &b->entries[b->keys[k].entry];

        pool_size += b->keys[k].klen + (e->deny_line != 0 ? 4 : 0);
        if (e->account != NULL) {
            pool_size += e->account_len + 1;
        }
    }
    if (pool_size >= 0xffffffffULL) {
        return apr_psprintf(b->p, "map file %s is too large to index", path);
    }
    slots_off = (sizeof(idx_header_t) + 7) & ~(apr_uint64_t)7;
    entries_off = slots_off + (apr_uint64_t)nslots * 4;
    pool_off = entries_off + (apr_uint64_t)b->nkeys * sizeof(idx_entry_t);
    total = pool_off + pool_size;
    base = big_alloc((apr_size_t)total);
    if (base == NULL) {
        return apr_psprintf(b->p, "not enough memory to index map file %s",
                            path);
    }
    h = (idx_header_t *)base;
    memcpy(h->magic, IDX_MAGIC, sizeof(h->magic));
    h->version = IDX_VERSION;
    h->byte_order = IDX_BYTE_ORDER;
    h->header_size = sizeof(idx_header_t);
    h->entry_size = sizeof(idx_entry_t);
    h->file_size = total;
    h->slots_off = slots_off;
    h->nslots = nslots;
    h->nentries = b->nkeys;
    h->entries_off = entries_off;
    h->pool_off = pool_off;
    h->pool_size = pool_size;
    h->path_off = 0;
    h->path_len = (apr_uint32_t)path_len;
    h->count = b->count;
    h->src_dev = id->dev;
    h->src_ino = id->ino;
    h->src_size = id->size;
    h->src_mtime_ns = id->mtime_ns;

    slots = (apr_uint32_t *)(base + slots_off);
    entries = (idx_entry_t *)(base + entries_off);
    pool = base + pool_off;
    memcpy(pool, path, path_len + 1);
    at = path_len + 1;
    for (k = 0; k < b->nkeys; k++) {
        const bkey_t *bk = &b->keys[k];
        const bentry_t *e = &b->entries[bk->entry];
        idx_entry_t *o = &entries[k];

        if (k + 16 < b->nkeys) {
            __builtin_prefetch(
                &slots[(apr_uint32_t)b->keys[k + 16].hash & (nslots - 1)], 1);
        }

        if (e->deny_line != 0) {
            memcpy(pool + at, &e->deny_line, 4);
            at += 4;
        }
        o->off = (apr_uint32_t)at;
        o->line = e->account != NULL ? e->line : 0;
        o->type = bk->type;
        o->forms = (unsigned char)((e->account != NULL ? e->form : 0)
                                   | (e->deny_form << 4));
        o->key_len = bk->klen;
        memcpy(pool + at, bk->k, bk->klen);
        at += bk->klen;
        if (e->account != NULL) {
            memcpy(pool + at, e->account, e->account_len);
            pool[at + e->account_len] = '\0';
            at += e->account_len + 1;
        }
        slots_insert(slots, nslots - 1, bk->hash, k + 1);
    }
    *image = base;
    *image_len = (apr_size_t)total;
    return NULL;
}

/* Parse the map file and make the image. */
static const char *compile_image(apr_pool_t *p, const char *map_path,
                                 void **image, apr_size_t *image_len,
                                 unsigned int *count)
{
    builder_t b;
    apr_pool_t *scratch;
    certmap_file_id_t id;
    const char *err;

    memset(&b, 0, sizeof(b));
    b.p = p;
    b.path = map_path;
    apr_pool_create(&scratch, p);
    err = build(&b, scratch, map_path, &id);
    if (err == NULL) {
        err = write_image(&b, map_path, &id, image, image_len);
    }
    if (err == NULL && count != NULL) {
        *count = b.count;
    }
    builder_free(&b);
    apr_pool_destroy(scratch);
    return err;
}

/* ------------------------------------------------------------------ */
/* Opening                                                            */

static const char *check_header(apr_pool_t *p, const char *what,
                                const unsigned char *base, apr_size_t len)
{
    const idx_header_t *h = (const idx_header_t *)base;

    if (len < sizeof(idx_header_t)
        || memcmp(h->magic, IDX_MAGIC, sizeof(h->magic)) != 0) {
        return apr_psprintf(p, "%s is not a certmap index file", what);
    }
    if (h->version != IDX_VERSION) {
        return apr_psprintf(p,
                            "%s is a certmap index of version %u, not %u "
                            "(compile the map file again)",
                            what, (unsigned)h->version, IDX_VERSION);
    }
    if (h->byte_order != IDX_BYTE_ORDER
        || h->header_size != sizeof(idx_header_t)
        || h->entry_size != sizeof(idx_entry_t)) {
        return apr_psprintf(p,
                            "%s was made on a machine of another byte "
                            "order or layout (compile the map file again)",
                            what);
    }
    if (h->file_size != len) {
        return apr_psprintf(p,
                            "%s is truncated or damaged (size %lu, not "
                            "%lu)",
                            what, (unsigned long)len,
                            (unsigned long)h->file_size);
    }
    if (h->nslots == 0 || (h->nslots & (h->nslots - 1)) != 0
        || h->slots_off % 4 != 0 || h->slots_off < sizeof(idx_header_t)
        || h->slots_off > len
        || (apr_uint64_t)h->nslots * 4 > len - h->slots_off
        || h->entries_off % 4 != 0 || h->entries_off > len
        || (apr_uint64_t)h->nentries * sizeof(idx_entry_t)
               > len - h->entries_off
        || h->pool_off > len || h->pool_size > len - h->pool_off
        || h->pool_size > 0xffffffffULL || h->path_off >= h->pool_size
        || h->path_len >= h->pool_size - h->path_off) {
        return apr_psprintf(p,
                            "%s is damaged (a section lies outside the "
                            "file)",
                            what);
    }
    {
        const char *path = (const char *)base + h->pool_off + h->path_off;

        if (path[h->path_len] != '\0' || strlen(path) != h->path_len) {
            return apr_psprintf(p, "%s is damaged (the map file's name)", what);
        }
    }
    return NULL;
}

static certmap_index_t *wrap(void *base, apr_size_t len)
{
    certmap_index_t *idx = calloc(1, sizeof(*idx));
    const idx_header_t *h = base;

    if (idx == NULL) {
        return NULL;
    }
    idx->base = base;
    idx->len = len;
    idx->h = h;
    idx->slots = (const apr_uint32_t *)((const char *)base + h->slots_off);
    idx->entries = (const idx_entry_t *)((const char *)base + h->entries_off);
    idx->pool = (const unsigned char *)base + h->pool_off;
    idx->pool_size = h->pool_size;
    idx->mask = h->nslots - 1;
    idx->nentries = h->nentries;
    idx->map_path = (const char *)idx->pool + h->path_off;
    idx->source.dev = h->src_dev;
    idx->source.ino = h->src_ino;
    idx->source.size = h->src_size;
    idx->source.mtime_ns = h->src_mtime_ns;
    return idx;
}

const char *certmap_index_open(apr_pool_t *p, const char *index_path,
                               certmap_index_t **idx)
{
    int fd = open(index_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    void *base;
    const char *err;

    *idx = NULL;
    if (fd < 0) {
        return apr_psprintf(p, "cannot open index file %s: %s", index_path,
                            strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return apr_psprintf(p, "index file %s is not a regular file",
                            index_path);
    }
    if ((apr_uint64_t)st.st_size < sizeof(idx_header_t)) {
        close(fd);
        return apr_psprintf(p,
                            "index file %s is not a certmap index file "
                            "(too short)",
                            index_path);
    }
    base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        return apr_psprintf(p, "cannot map index file %s: %s", index_path,
                            strerror(errno));
    }
    err = check_header(p, apr_psprintf(p, "index file %s", index_path), base,
                       (apr_size_t)st.st_size);
    if (err == NULL && (*idx = wrap(base, (apr_size_t)st.st_size)) == NULL) {
        err = "not enough memory to open an index";
    }
    if (err != NULL) {
        munmap(base, (size_t)st.st_size);
    }
    return err;
}

const char *certmap_index_open_bytes(apr_pool_t *p, const void *data,
                                     apr_size_t len, certmap_index_t **idx)
{
    void *base;
    const char *err;

    *idx = NULL;
    if (len < sizeof(idx_header_t)) {
        return "the index is not a certmap index (too short)";
    }
    base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    if (base == MAP_FAILED) {
        return "not enough memory to open an index";
    }
    memcpy(base, data, len);
    mprotect(base, len, PROT_READ);
    err = check_header(p, "the index", base, len);
    if (err == NULL && (*idx = wrap(base, len)) == NULL) {
        err = "not enough memory to open an index";
    }
    if (err != NULL) {
        munmap(base, len);
    }
    return err;
}

void certmap_index_close(certmap_index_t *idx)
{
    if (idx != NULL) {
        munmap(idx->base, idx->len);
        free(idx);
    }
}

const certmap_file_id_t *certmap_index_source(const certmap_index_t *idx)
{
    return &idx->source;
}

const char *certmap_index_map_path(const certmap_index_t *idx)
{
    return idx->map_path;
}

unsigned int certmap_index_count(const certmap_index_t *idx)
{
    return idx->h->count;
}

apr_size_t certmap_index_bytes(const certmap_index_t *idx)
{
    return idx->len;
}

/* ------------------------------------------------------------------ */
/* Compiling                                                          */

static mode_t perms_to_mode(apr_fileperms_t perms)
{
    if (perms == APR_FPROT_OS_DEFAULT) {
        return 0644;
    }
    return (mode_t)((((perms >> 8) & 7) << 6) | (((perms >> 4) & 7) << 3)
                    | (perms & 7));
}

const char *certmap_index_compile(apr_pool_t *p, const char *map_path,
                                  const char *out_path, apr_fileperms_t perms,
                                  unsigned int *count)
{
    void *image;
    apr_size_t len, done = 0;
    const char *err = compile_image(p, map_path, &image, &len, count);
    char *tmp, *dir, *slash;
    int fd, dfd;

    if (err != NULL) {
        return err;
    }
    tmp = apr_pstrcat(p, out_path, ".tmp.XXXXXX", NULL);
    fd = mkstemp(tmp);
    if (fd < 0) {
        err = apr_psprintf(p,
                           "cannot create a temporary file beside index "
                           "file %s: %s",
                           out_path, strerror(errno));
        munmap(image, len);
        return err;
    }
    if (fchmod(fd, perms_to_mode(perms)) != 0) {
        err = apr_psprintf(p, "cannot set the permissions of %s: %s", tmp,
                           strerror(errno));
    }
    while (err == NULL && done < len) {
        ssize_t n = write(fd, (const char *)image + done, len - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            err = apr_psprintf(p, "cannot write index file %s: %s", tmp,
                               n < 0 ? strerror(errno) : "no space written");
            break;
        }
        done += (apr_size_t)n;
    }
    munmap(image, len);
    if (err == NULL && fsync(fd) != 0) {
        err = apr_psprintf(p, "cannot write index file %s: %s", tmp,
                           strerror(errno));
    }
    if (close(fd) != 0 && err == NULL) {
        err = apr_psprintf(p, "cannot write index file %s: %s", tmp,
                           strerror(errno));
    }
    if (err == NULL && rename(tmp, out_path) != 0) {
        err = apr_psprintf(p, "cannot rename %s to %s: %s", tmp, out_path,
                           strerror(errno));
    }
    if (err != NULL) {
        unlink(tmp);
        return err;
    }
    /* Make the rename itself durable. */
    dir = apr_pstrdup(p, out_path);
    slash = strrchr(dir, '/');
    if (slash != NULL) {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    else {
        dir = ".";
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return NULL;
}

const char *certmap_index_compile_mem(apr_pool_t *p, const char *map_path,
                                      certmap_index_t **idx)
{
    void *image;
    apr_size_t len;
    const char *err = compile_image(p, map_path, &image, &len, NULL);

    *idx = NULL;
    if (err != NULL) {
        return err;
    }
    mprotect(image, len, PROT_READ);
    *idx = wrap(image, len);
    if (*idx == NULL) {
        munmap(image, len);
        return "not enough memory to open an index";
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Lookups                                                            */

/* The account at a (at most `avail` bytes to the pool's end): NULL when
 * it is not NUL-terminated inside the pool or not a valid account (a
 * damaged file must not put anything in a header). */
static const char *account_at(const unsigned char *a, apr_uint64_t avail)
{
    const unsigned char *end = memchr(a, '\0', (size_t)avail), *c;
    unsigned long cp;
    int backslashes = 0;

    if (end == NULL || end == a || end - a > CERTMAP_ACCOUNT_MAX) {
        return NULL;
    }
    for (c = a; c < end;) {
        apr_size_t n;

        if (*c > ' ' && *c < 0x7f) {
            backslashes += *c == '\\';
            c++;
            continue;
        }
        n = certmap_utf8_sequence(c, (apr_size_t)(end - c), &cp);
        if (n == 0 || certmap_char_forbidden(cp)) {
            return NULL;
        }
        c += n;
    }
    if (backslashes > 1 || a[0] == '\\' || end[-1] == '\\') {
        return NULL;
    }
    return (const char *)a;
}

int certmap_index_lookup(const certmap_index_t *idx, int type,
                         const unsigned char *key, apr_size_t len,
                         const char *issuer, certmap_index_hit_t *hit)
{
    apr_uint64_t h;
    apr_size_t ilen = 0, i;
    apr_uint32_t at, probes;

    if (idx == NULL || key == NULL || len == 0) {
        return 0;
    }
    if (type == CERTMAP_KEY_ISSUER_SERIAL) {
        unsigned char l = (unsigned char)len;

        if (issuer == NULL || len > 255) {
            return 0;
        }
        ilen = strlen(issuer);
        h = fnv(FNV_OFFSET, &l, 1);
        h = fnv(h, key, len);
        for (i = 0; i < ilen; i++) {
            h = (h ^ ascii_lower((unsigned char)issuer[i])) * FNV_PRIME;
        }
        h = mix(h, type);
    }
    else {
        h = key_hash(type, key, len);
    }
    at = (apr_uint32_t)h & idx->mask;
    for (probes = 0; probes <= idx->mask; probes++, at = (at + 1) & idx->mask) {
        apr_uint32_t v = idx->slots[at];
        const idx_entry_t *e;
        const unsigned char *k;
        apr_uint32_t deny_line;
        int form, deny_form;

        if (v == 0 || v > idx->nentries) {
            return 0;
        }
        e = &idx->entries[v - 1];
        if (e->type != type || e->off > idx->pool_size
            || e->key_len > idx->pool_size - e->off) {
            continue;
        }
        k = idx->pool + e->off;
        if (type == CERTMAP_KEY_ISSUER_SERIAL) {
            if (e->key_len != 1 + len + ilen || k[0] != len
                || memcmp(k + 1, key, len) != 0) {
                continue;
            }
            for (i = 0; i < ilen; i++) {
                if (k[1 + len + i] != ascii_lower((unsigned char)issuer[i])) {
                    break;
                }
            }
            if (i < ilen) {
                continue;
            }
        }
        else if (e->key_len != len || memcmp(k, key, len) != 0) {
            continue;
        }
        /* Found: check what the decision will use. */
        form = e->forms & 0x0f;
        deny_form = e->forms >> 4;
        deny_line = 0;
        if (deny_form != 0) {
            if (e->off < 4) {
                return 0;
            }
            memcpy(&deny_line, idx->pool + e->off - 4, 4);
        }
        if ((e->line == 0) != (form == 0)
            || (deny_line == 0) != (deny_form == 0) || form > 7 || deny_form > 7
            || (e->line == 0 && deny_line == 0)) {
            return 0;
        }
        hit->account = NULL;
        if (e->line != 0) {
            apr_uint64_t a = (apr_uint64_t)e->off + e->key_len;

            if (a >= idx->pool_size) {
                return 0;
            }
            hit->account = account_at(idx->pool + a, idx->pool_size - a);
            if (hit->account == NULL) {
                return 0;
            }
        }
        hit->line = e->line;
        hit->deny_line = deny_line;
        hit->form = form_names[form];
        hit->deny_form = form_names[deny_form];
        return 1;
    }
    return 0;
}
