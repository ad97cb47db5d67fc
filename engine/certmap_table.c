/*
 * certmap_table.c - one scope's certificate table, the map file, and the
 * decision over nested scopes.
 */
#include "certmap.h"
#include "certmap_index.h"
#include "certmap_internal.h"

#include <stdlib.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>

struct certmap_table_t {
    apr_pool_t *pool;
    /* Exact forms.  A certificate file's entry is in both. */
    apr_hash_t *by_sha256; /* 32-byte digest -> certmap_entry_t */
    apr_hash_t *by_sha1;   /* 20-byte digest -> certmap_entry_t */
    /* Key and strong forms. */
    apr_hash_t *by_spki;   /* 32-byte SPKI SHA-256 -> certmap_entry_t */
    apr_hash_t *by_pukey;  /* 20-byte SHA-1 of the key -> certmap_entry_t */
    apr_hash_t *by_ski;    /* SKI bytes -> certmap_entry_t */
    apr_hash_t *by_serial; /* <SR> bytes -> apr_array_header_t of
                              issuer_entry_t (one per issuer) */
    unsigned int count;
    /* certmap_index_slot_t *: compiled map files (CertMapFile). */
    apr_array_header_t *indexes;
};

/* X509:<I><SR>: the serial number is the hash key; the few issuers that
 * used the same serial are told apart by name, ignoring ASCII case as
 * AD compares altSecurityIdentities values. */
typedef struct issuer_entry_t {
    const char *issuer;
    certmap_entry_t *entry;
} issuer_entry_t;

certmap_table_t *certmap_table_make(apr_pool_t *p)
{
    certmap_table_t *t = apr_pcalloc(p, sizeof(*t));

    t->pool = p;
    t->by_sha256 = apr_hash_make(p);
    t->by_sha1 = apr_hash_make(p);
    t->by_spki = apr_hash_make(p);
    t->by_pukey = apr_hash_make(p);
    t->by_ski = apr_hash_make(p);
    t->by_serial = apr_hash_make(p);
    t->indexes = apr_array_make(p, 1, sizeof(certmap_index_slot_t *));
    return t;
}

unsigned int certmap_table_count(const certmap_table_t *t)
{
    return t->count;
}

void certmap_table_add_index(certmap_table_t *t, certmap_index_slot_t *slot)
{
    APR_ARRAY_PUSH(t->indexes, certmap_index_slot_t *) = slot;
}

unsigned int certmap_table_count_index(const certmap_table_t *t)
{
    unsigned int n = t->count;
    int i;

    for (i = 0; i < t->indexes->nelts; i++) {
        certmap_index_t *idx =
            APR_ARRAY_IDX(t->indexes, i, certmap_index_slot_t *)->current;

        if (idx != NULL) {
            n += certmap_index_count(idx);
        }
    }
    return n;
}

/* What an entry of this form names, for error messages. */
static const char *form_noun(const char *form)
{
    if (strcmp(form, CERTMAP_FORM_SPKI_SHA256) == 0
        || strcmp(form, CERTMAP_FORM_SHA1_PUKEY) == 0) {
        return "public key";
    }
    if (strcmp(form, CERTMAP_FORM_SKI) == 0) {
        return "subject key identifier";
    }
    if (strcmp(form, CERTMAP_FORM_ISSUER_SERIAL) == 0) {
        return "issuer and serial number";
    }
    return "certificate";
}

const char *certmap_table_conflict_error(apr_pool_t *p, const char *form,
                                         const char *account,
                                         const char *source)
{
    return apr_psprintf(p,
                        "this %s is already mapped to '%s' (at %s) in "
                        "the same scope; a certificate maps to one "
                        "account",
                        form_noun(form), account, source);
}

/* Record one mapping or deny on an entry, refusing a second, different
 * account for the same certificate (or key). */
static const char *entry_update(apr_pool_t *p, certmap_entry_t *e,
                                const char *account, const char *source,
                                const char *form)
{
    if (account == NULL) {
        if (e->deny_source == NULL) {
            e->deny_source = source;
            e->deny_form = form;
        }
        return NULL;
    }
    if (e->account != NULL && strcmp(e->account, account) != 0) {
        return certmap_table_conflict_error(p, form, e->account, e->source);
    }
    if (e->account == NULL) {
        e->account = account;
        e->source = source;
        e->form = form;
    }
    return NULL;
}

/* Point `h[digest]` at `e`, copying the digest only for a new key. */
static void index_put(certmap_table_t *t, apr_hash_t *h,
                      const unsigned char *digest, apr_size_t klen, void *e)
{
    if (apr_hash_get(h, digest, klen) == NULL) {
        digest = apr_pmemdup(t->pool, digest, klen);
    }
    apr_hash_set(h, digest, klen, e);
}

/* The entry of `h[k]`, made when there is none. */
static certmap_entry_t *entry_for(certmap_table_t *t, apr_hash_t *h,
                                  const unsigned char *k, apr_size_t klen)
{
    certmap_entry_t *e = apr_hash_get(h, k, klen);

    if (e == NULL) {
        e = apr_pcalloc(t->pool, sizeof(*e));
        index_put(t, h, k, klen, e);
        t->count++;
    }
    return e;
}

/* ASCII case-insensitive string equality (no locale). */
static int ascii_caseeq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = *a, cb = *b;

        if (ca >= 'A' && ca <= 'Z') {
            ca = (char)(ca - 'A' + 'a');
        }
        if (cb >= 'A' && cb <= 'Z') {
            cb = (char)(cb - 'A' + 'a');
        }
        if (ca != cb) {
            return 0;
        }
        if (ca == '\0') {
            return 1;
        }
    }
}

static certmap_entry_t *issuer_serial_find(const certmap_table_t *t,
                                           const char *issuer,
                                           const unsigned char *serial,
                                           apr_size_t serial_len)
{
    apr_array_header_t *bucket;
    int i;

    if (issuer == NULL || serial == NULL || serial_len == 0) {
        return NULL;
    }
    bucket = apr_hash_get(t->by_serial, serial, serial_len);
    if (bucket == NULL) {
        return NULL;
    }
    for (i = 0; i < bucket->nelts; i++) {
        issuer_entry_t *ie = &APR_ARRAY_IDX(bucket, i, issuer_entry_t);

        if (ascii_caseeq(ie->issuer, issuer)) {
            return ie->entry;
        }
    }
    return NULL;
}

static certmap_entry_t *issuer_serial_entry(certmap_table_t *t,
                                            const certmap_key_t *key)
{
    certmap_entry_t *e =
        issuer_serial_find(t, key->issuer, key->bytes, key->bytes_len);
    apr_array_header_t *bucket;
    issuer_entry_t *ie;

    if (e != NULL) {
        return e;
    }
    bucket = apr_hash_get(t->by_serial, key->bytes, key->bytes_len);
    if (bucket == NULL) {
        bucket = apr_array_make(t->pool, 1, sizeof(issuer_entry_t));
        index_put(t, t->by_serial, key->bytes, key->bytes_len, bucket);
    }
    ie = apr_array_push(bucket);
    ie->issuer = apr_pstrdup(t->pool, key->issuer);
    ie->entry = e = apr_pcalloc(t->pool, sizeof(*e));
    t->count++;
    return e;
}

/* sha256:, sha1: and certificate files. */
static const char *add_exact(certmap_table_t *t, const certmap_key_t *key,
                             const char *account, const char *source,
                             const char *form)
{
    certmap_entry_t *e, *by_sha1;
    const char *err;

    if (key->type == CERTMAP_KEY_SHA1) {
        e = entry_for(t, t->by_sha1, key->digest, CERTMAP_SHA1_LEN);
        return entry_update(t->pool, e, account, source, form);
    }

    e = apr_hash_get(t->by_sha256, key->digest, CERTMAP_SHA256_LEN);
    /* A certificate given as a file is known by both digests, so one
     * entry serves both and a sha1: line for it meets that entry. */
    by_sha1 = key->has_sha1
                  ? apr_hash_get(t->by_sha1, key->sha1, CERTMAP_SHA1_LEN)
                  : NULL;
    if (e == NULL) {
        e = by_sha1;
    }
    else if (by_sha1 != NULL && by_sha1 != e) {
        /* Both digests had separate entries until now, when the file
         * shows they name one certificate: fold them together. */
        err = by_sha1->account ? entry_update(t->pool, e, by_sha1->account,
                                              by_sha1->source, by_sha1->form)
                               : NULL;
        if (err != NULL) {
            return err;
        }
        if (by_sha1->deny_source != NULL) {
            entry_update(t->pool, e, NULL, by_sha1->deny_source,
                         by_sha1->deny_form);
        }
        t->count--;
    }
    if (e == NULL) {
        e = apr_pcalloc(t->pool, sizeof(*e));
        t->count++;
    }
    index_put(t, t->by_sha256, key->digest, CERTMAP_SHA256_LEN, e);
    if (key->has_sha1) {
        index_put(t, t->by_sha1, key->sha1, CERTMAP_SHA1_LEN, e);
    }
    return entry_update(t->pool, e, account, source, form);
}

const char *certmap_table_add(certmap_table_t *t, const certmap_key_t *key,
                              const char *account, const char *source)
{
    const char *form = certmap_key_form(key);
    certmap_entry_t *e;

    switch (key->type) {
    case CERTMAP_KEY_SHA256:
    case CERTMAP_KEY_SHA1:
        return add_exact(t, key, account, source, form);
    case CERTMAP_KEY_SPKI_SHA256:
        e = entry_for(t, t->by_spki, key->digest, CERTMAP_SHA256_LEN);
        break;
    case CERTMAP_KEY_SHA1_PUKEY:
        e = entry_for(t, t->by_pukey, key->digest, CERTMAP_SHA1_LEN);
        break;
    case CERTMAP_KEY_SKI:
        if (key->bytes == NULL || key->bytes_len == 0) {
            return "the subject key identifier is empty";
        }
        e = entry_for(t, t->by_ski, key->bytes, key->bytes_len);
        break;
    case CERTMAP_KEY_ISSUER_SERIAL:
        if (key->issuer == NULL || key->bytes == NULL || key->bytes_len == 0) {
            return "the issuer or the serial number is empty";
        }
        e = issuer_serial_entry(t, key);
        break;
    default:
        return "unknown kind of certificate specification";
    }
    return entry_update(t->pool, e, account, source, form);
}

/* Indexes into the lookups of find_all(): exact forms first, then the key
 * forms in the order of certmap_decide's tie-break. */
enum {
    FOUND_SHA256,
    FOUND_SHA1,
    FOUND_FIRST_KEY_FORM,
    FOUND_SPKI = FOUND_FIRST_KEY_FORM,
    FOUND_ISSUER_SERIAL,
    FOUND_SKI,
    FOUND_PUKEY,
    FOUND_COUNT
};

/* Every entry this table holds for the certificate (NULL where none; the
 * SHA-256 and SHA-1 ones may be the same entry). */
static void find_all(const certmap_table_t *t, const certmap_cert_t *cert,
                     const certmap_entry_t *e[FOUND_COUNT])
{
    e[FOUND_SHA256] =
        apr_hash_get(t->by_sha256, cert->sha256, CERTMAP_SHA256_LEN);
    e[FOUND_SHA1] = apr_hash_get(t->by_sha1, cert->sha1, CERTMAP_SHA1_LEN);
    e[FOUND_SPKI] =
        apr_hash_get(t->by_spki, cert->spki_sha256, CERTMAP_SHA256_LEN);
    e[FOUND_ISSUER_SERIAL] = issuer_serial_find(
        t, cert->issuer_ad, cert->serial_ad, cert->serial_ad_len);
    e[FOUND_SKI] = cert->ski != NULL && cert->ski_len > 0
                       ? apr_hash_get(t->by_ski, cert->ski, cert->ski_len)
                       : NULL;
    e[FOUND_PUKEY] =
        apr_hash_get(t->by_pukey, cert->pukey_sha1, CERTMAP_SHA1_LEN);
}

const certmap_entry_t *certmap_table_find(const certmap_table_t *t,
                                          const certmap_cert_t *cert)
{
    const certmap_entry_t *e[FOUND_COUNT];
    int j;

    find_all(t, cert, e);
    for (j = 0; j < FOUND_COUNT; j++) {
        if (e[j] != NULL) {
            return e[j];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Map file                                                           */

/* A line is CERT ACCOUNT or deny CERT. */
#define MAX_TOKENS 2

/* Split a line into blank-separated tokens, double or single quotes
 * grouping (the quote character doubled inside stands for itself).  A
 * '#' at the start of a token starts a comment.  Returns the token count,
 * or -1 with *err set. */
int certmap_map_split(apr_pool_t *p, const char *line, char **tok, int max,
                      const char **err)
{
    int n = 0;
    const char *s = line;

    while (*s) {
        const char *start;
        while (*s == ' ' || *s == '\t' || *s == '\r') {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            break;
        }
        if (n == max) {
            *err = "too many fields (a line is CERT ACCOUNT or deny CERT; "
                   "quote a value that contains blanks)";
            return -1;
        }
        if (*s == '"' || *s == '\'') {
            char quote = *s++;
            char *o = apr_palloc(p, strlen(s) + 1);

            tok[n++] = o;
            for (;;) {
                if (*s == '\0') {
                    *err = "a quoted value is not closed";
                    return -1;
                }
                if (*s == quote) {
                    if (s[1] == quote) {
                        *o++ = quote;
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *o++ = *s++;
            }
            *o = '\0';
            if (*s && *s != ' ' && *s != '\t' && *s != '\r') {
                *err = "a closing quote must be followed by a blank";
                return -1;
            }
        }
        else {
            start = s;
            while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
                s++;
            }
            tok[n++] = apr_pstrmemdup(p, start, s - start);
        }
    }
    return n;
}

/* An AD form cut at a blank shows up as too many fields or as an
 * X509:<I> without <SR>: say how to write it. */
#define X509_QUOTE_HINT                                                        \
    "an X509:<I>...<SR>... value whose issuer name has blanks must be "        \
    "quoted as a whole, e.g. \"X509:<I>DC=com,DC=contoso,CN=Contoso "          \
    "CA<SR>1200000000AC11000000002B\" CONTOSO\\alice"

static int starts_with_x509(const char *s)
{
    return strncasecmp(s, "X509:", 5) == 0;
}

/* certmap_key_parse(), with a word on map-file quoting when an X509:<I>
 * issuer did not parse (it may have been cut at a blank or a quote). */
static const char *key_parse(apr_pool_t *p, const char *spec,
                             const char *base_dir, certmap_key_t *key)
{
    const char *err = certmap_key_parse(p, spec, base_dir, key);

    if (err != NULL && strncmp(err, "X509:<I> issuer", 15) == 0) {
        err = apr_pstrcat(p, err,
                          " (in a map file, quote a value that has blanks "
                          "as a whole, with ' or \", and write the quote "
                          "character twice inside)",
                          NULL);
    }
    return err;
}

const char *certmap_map_line_parse(apr_pool_t *p, const char *line,
                                   const char *base_dir, certmap_key_t *key,
                                   const char **account, int *deny)
{
    char *tok[MAX_TOKENS];
    const char *err = NULL;
    int n = certmap_map_split(p, line, tok, MAX_TOKENS, &err);

    memset(key, 0, sizeof(*key));
    *account = NULL;
    *deny = 0;
    if (n < 0) {
        if (n == -1 && strncmp(err, "too many", 8) == 0
            && (starts_with_x509(tok[0])
                || (strcasecmp(tok[0], "deny") == 0
                    && starts_with_x509(tok[1])))) {
            return apr_pstrcat(p, "too many fields: ", X509_QUOTE_HINT, NULL);
        }
        return err;
    }
    if (n == 0) {
        return NULL;
    }
    if (strcasecmp(tok[0], "deny") == 0) {
        if (n != 2) {
            return "a deny line is: deny CERT";
        }
        *deny = 1;
        return key_parse(p, tok[1], base_dir, key);
    }
    if (n != 2) {
        return "the account is missing (a line is CERT ACCOUNT)";
    }
    err = key_parse(p, tok[0], base_dir, key);
    if (err == NULL) {
        err = certmap_account_check(p, tok[1]);
    }
    if (err != NULL) {
        memset(key, 0, sizeof(*key));
        return err;
    }
    *account = tok[1];
    return NULL;
}

/* Parse one line; scratch work goes to `scratch`, what the table keeps
 * is copied to the table's pool. */
static const char *add_line(certmap_table_t *t, apr_pool_t *scratch,
                            const char *line, const char *base_dir,
                            const char *source)
{
    certmap_key_t key;
    const char *account;
    int deny;
    const char *err =
        certmap_map_line_parse(scratch, line, base_dir, &key, &account, &deny);

    if (err != NULL || key.type == 0) {
        return err;
    }
    return certmap_table_add(
        t, &key, deny ? NULL : apr_pstrdup(t->pool, account), source);
}

const char *certmap_table_add_line(certmap_table_t *t, const char *line,
                                   const char *base_dir, const char *source)
{
    return add_line(t, t->pool, line, base_dir, source);
}

/* Map files larger than this are refused rather than read into memory. */

const char *certmap_table_load_file(certmap_table_t *t, const char *path)
{
    apr_pool_t *p = t->pool;
    apr_pool_t *scratch, *linepool;
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    char ebuf[128];
    char *text, *line, *next, *base_dir;
    apr_size_t len;
    const char *err = NULL;
    unsigned int lineno = 0;

    err = certmap_map_file_open(p, path, &f, &finfo);
    if (err != NULL) {
        return err;
    }
    /* Parsing scratch (the file, tokens, certificate files) goes to a
     * subpool; what the table keeps is copied into the table's pool. */
    apr_pool_create(&scratch, p);
    len = (apr_size_t)finfo.size;
    text = apr_palloc(scratch, len + 1);
    rv = apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        apr_pool_destroy(scratch);
        return apr_psprintf(p, "cannot read map file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    text[len] = '\0';
    certmap_map_text_start(&text, &len);
    base_dir = certmap_map_file_dir(scratch, path);

    apr_pool_create(&linepool, scratch);
    for (line = text; line < text + len && err == NULL; line = next) {
        const char *source;
        int blank;

        lineno++;
        if (!certmap_map_line_cut(line, text + len, &next, &blank)) {
            err = apr_psprintf(p, "%s:%u: the line contains a NUL byte", path,
                               lineno);
            break;
        }
        /* Blank and comment lines cost nothing in the table. */
        if (blank) {
            continue;
        }
        source = apr_psprintf(p, "%s:%u", path, lineno);
        err = add_line(t, linepool, line, base_dir, source);
        if (err != NULL) {
            err = apr_psprintf(p, "%s:%u: %s", path, lineno, err);
        }
        apr_pool_clear(linepool);
    }
    apr_pool_destroy(scratch);
    return err;
}

/* ------------------------------------------------------------------ */

/* One entry found for the certificate in one table: from the table's
 * own hashes (`e`) or from an attached index (`idx` + `ih`). */
typedef struct hit_t {
    int found; /* FOUND_* */
    const certmap_entry_t *e;
    const certmap_index_t *idx;
    certmap_index_hit_t ih;
} hit_t;

static const char *hit_account(const hit_t *h)
{
    return h->e ? h->e->account : h->ih.account;
}

static int hit_denied(const hit_t *h)
{
    return h->e ? h->e->deny_source != NULL : h->ih.deny_line != 0;
}

static const char *hit_form(const hit_t *h, int deny)
{
    if (h->e != NULL) {
        return deny ? h->e->deny_form : h->e->form;
    }
    return deny ? h->ih.deny_form : h->ih.form;
}

/* The "file:line" of a hit's mapping or deny; formatted (in p) only for
 * an index hit, only when the decision reports it. */
static const char *hit_source(const hit_t *h, int deny, apr_pool_t *p)
{
    if (h->e != NULL) {
        return deny ? h->e->deny_source : h->e->source;
    }
    if (p == NULL) {
        return certmap_index_map_path(h->idx);
    }
    return apr_psprintf(p, "%s:%u", certmap_index_map_path(h->idx),
                        deny ? h->ih.deny_line : h->ih.line);
}

/* Most hits one table can give: each form from the hashes and from
 * every index. */
static int max_hits(const certmap_table_t *t)
{
    return FOUND_COUNT * (1 + t->indexes->nelts);
}

/* Every entry table t holds for the certificate, in the order of
 * FOUND_*, the table's own entry before those of its indexes (in the
 * order they were attached).  Each slot is read once.  Returns the
 * number of hits written to h (at most max_hits(t)). */
static int find_hits(const certmap_table_t *t, const certmap_cert_t *cert,
                     hit_t *h)
{
    const certmap_entry_t *e[FOUND_COUNT];
    const certmap_index_t *idx[8], **ids = idx;
    int nidx = t->indexes->nelts, i, j, n = 0;

    find_all(t, cert, e);
    if (nidx > 8) {
        /* Rare: more than 8 CertMapFile lines in one scope. */
        ids = malloc(sizeof(*ids) * (apr_size_t)nidx);
        if (ids == NULL) {
            nidx = 8;
            ids = idx;
        }
    }
    for (i = 0; i < nidx; i++) {
        ids[i] = APR_ARRAY_IDX(t->indexes, i, certmap_index_slot_t *)->current;
    }
    for (j = 0; j < FOUND_COUNT; j++) {
        if (e[j] != NULL) {
            h[n].found = j;
            h[n].e = e[j];
            h[n].idx = NULL;
            n++;
        }
        for (i = 0; i < nidx; i++) {
            int ok = 0;

            if (ids[i] == NULL) {
                continue;
            }
            switch (j) {
            case FOUND_SHA256:
                ok = certmap_index_lookup(ids[i], CERTMAP_KEY_SHA256,
                                          cert->sha256, CERTMAP_SHA256_LEN,
                                          NULL, &h[n].ih);
                break;
            case FOUND_SHA1:
                ok = certmap_index_lookup(ids[i], CERTMAP_KEY_SHA1, cert->sha1,
                                          CERTMAP_SHA1_LEN, NULL, &h[n].ih);
                break;
            case FOUND_SPKI:
                ok = certmap_index_lookup(ids[i], CERTMAP_KEY_SPKI_SHA256,
                                          cert->spki_sha256, CERTMAP_SHA256_LEN,
                                          NULL, &h[n].ih);
                break;
            case FOUND_ISSUER_SERIAL:
                ok = cert->issuer_ad != NULL && cert->serial_ad != NULL
                     && cert->serial_ad_len > 0
                     && certmap_index_lookup(
                         ids[i], CERTMAP_KEY_ISSUER_SERIAL, cert->serial_ad,
                         cert->serial_ad_len, cert->issuer_ad, &h[n].ih);
                break;
            case FOUND_SKI:
                ok = cert->ski != NULL && cert->ski_len > 0
                     && certmap_index_lookup(ids[i], CERTMAP_KEY_SKI, cert->ski,
                                             cert->ski_len, NULL, &h[n].ih);
                break;
            case FOUND_PUKEY:
                ok = certmap_index_lookup(ids[i], CERTMAP_KEY_SHA1_PUKEY,
                                          cert->pukey_sha1, CERTMAP_SHA1_LEN,
                                          NULL, &h[n].ih);
                break;
            }
            if (ok) {
                h[n].found = j;
                h[n].e = NULL;
                h[n].idx = ids[i];
                n++;
            }
        }
    }
    if (ids != idx) {
        free(ids);
    }
    return n;
}

/* The mapping the hits of groups [from, to) give: the first that maps,
 * and in *conflict the first after it that maps to another account.  0
 * when none maps. */
static int group_mapping(const hit_t *h, int n, int from, int to,
                         const hit_t **mapped, const hit_t **conflict)
{
    int j;

    *mapped = *conflict = NULL;
    for (j = 0; j < n; j++) {
        if (h[j].found < from || h[j].found >= to
            || hit_account(&h[j]) == NULL) {
            continue;
        }
        if (*mapped == NULL) {
            *mapped = &h[j];
        }
        else if (*conflict == NULL
                 && strcmp(hit_account(*mapped), hit_account(&h[j])) != 0) {
            *conflict = &h[j];
        }
    }
    return *mapped != NULL;
}

/* Hits of up to this many slots live on the stack. */
#define STACK_HITS 64

void certmap_decide(const certmap_table_t *const *tables, int ntables,
                    const certmap_cert_t *cert, apr_pool_t *p,
                    certmap_decision_t *out)
{
    const hit_t *mapped = NULL, *conflict = NULL;
    hit_t stack_hits[STACK_HITS], *hits = stack_hits;
    int stack_counts[16], *counts = stack_counts;
    int i, j, pass, total = 0, at;

    out->reason = CERTMAP_CERT_UNMAPPED;
    out->account = NULL;
    out->source = NULL;
    out->conflict = NULL;
    out->form = NULL;
    out->conflict_form = NULL;

    for (i = 0; i < ntables; i++) {
        total += max_hits(tables[i]);
    }
    if (total > STACK_HITS || ntables > 16) {
        /* Deep nesting or many CertMapFile lines: rare. */
        hits = malloc(sizeof(*hits) * (apr_size_t)total
                      + sizeof(int) * (apr_size_t)ntables);
        if (hits == NULL) {
            return;
        }
        counts = (int *)(hits + total);
    }
    /* Each table (and each index slot) is looked at once. */
    for (i = 0, at = 0; i < ntables; i++) {
        counts[i] = find_hits(tables[i], cert, hits + at);
        at += max_hits(tables[i]);
    }

    /* 1. A deny of any form in any table wins. */
    for (i = 0, at = 0; i < ntables && out->reason != CERTMAP_CERT_DENIED;
         at += max_hits(tables[i]), i++) {
        for (j = 0; j < counts[i]; j++) {
            if (hit_denied(&hits[at + j])) {
                out->reason = CERTMAP_CERT_DENIED;
                out->source = hit_source(&hits[at + j], 1, p);
                out->form = hit_form(&hits[at + j], 1);
                break;
            }
        }
    }
    /* 2. Exact forms, innermost table first; 3. key and strong forms. */
    for (pass = 0;
         pass < 2 && mapped == NULL && out->reason != CERTMAP_CERT_DENIED;
         pass++) {
        for (i = 0, at = 0; i < ntables; at += max_hits(tables[i]), i++) {
            if (pass == 0
                    ? group_mapping(hits + at, counts[i], FOUND_SHA256,
                                    FOUND_FIRST_KEY_FORM, &mapped, &conflict)
                    : group_mapping(hits + at, counts[i], FOUND_FIRST_KEY_FORM,
                                    FOUND_COUNT, &mapped, &conflict)) {
                break;
            }
        }
    }
    if (mapped != NULL) {
        out->source = hit_source(mapped, 0, p);
        out->form = hit_form(mapped, 0);
        if (conflict != NULL) {
            out->conflict = hit_source(conflict, 0, p);
            out->conflict_form = hit_form(conflict, 0);
        }
        else {
            out->reason = CERTMAP_MAPPED;
            out->account = hit_account(mapped);
        }
    }
    if (hits != stack_hits) {
        free(hits);
    }
}

/* ------------------------------------------------------------------ */
/* Entries that a compiled map file contradicts                       */

/* "MAP:LINE" of an index hit. */
static const char *index_hit_source(apr_pool_t *p, const certmap_index_t *idx,
                                    const certmap_index_hit_t *hit)
{
    return apr_psprintf(p, "%s:%u", certmap_index_map_path(idx), hit->line);
}

/* The index maps this key to another account than `account`: the hit. */
static int index_differs(const certmap_index_t *idx, int type,
                         const unsigned char *key, apr_size_t len,
                         const char *issuer, const char *account,
                         certmap_index_hit_t *hit)
{
    return account != NULL
           && certmap_index_lookup(idx, type, key, len, issuer, hit)
           && hit->account != NULL && strcmp(hit->account, account) != 0;
}

/* Every entry of one hash (keys of `type`) against the index. */
static const char *check_hash(apr_pool_t *p, apr_hash_t *h, int type,
                              const certmap_index_t *idx)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, h); hi != NULL; hi = apr_hash_next(hi)) {
        const void *key;
        apr_ssize_t len;
        void *val;
        const certmap_entry_t *e;
        certmap_index_hit_t hit;

        apr_hash_this(hi, &key, &len, &val);
        e = val;
        if (index_differs(idx, type, key, (apr_size_t)len, NULL, e->account,
                          &hit)) {
            return apr_pstrcat(
                p, index_hit_source(p, idx, &hit), ": ",
                certmap_table_conflict_error(p, e->form, e->account, e->source),
                NULL);
        }
    }
    return NULL;
}

const char *certmap_table_check_index(apr_pool_t *p, const certmap_table_t *t,
                                      const certmap_index_t *idx)
{
    static const struct {
        apr_size_t offset;
        int type;
    } hashes[] = {
        {APR_OFFSETOF(certmap_table_t, by_sha256), CERTMAP_KEY_SHA256},
        {APR_OFFSETOF(certmap_table_t, by_sha1), CERTMAP_KEY_SHA1},
        {APR_OFFSETOF(certmap_table_t, by_spki), CERTMAP_KEY_SPKI_SHA256},
        {APR_OFFSETOF(certmap_table_t, by_pukey), CERTMAP_KEY_SHA1_PUKEY},
        {APR_OFFSETOF(certmap_table_t, by_ski), CERTMAP_KEY_SKI},
    };
    apr_hash_index_t *hi;
    const char *err;
    apr_size_t i;

    for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        apr_hash_t *h =
            *(apr_hash_t *const *)((const char *)t + hashes[i].offset);

        if ((err = check_hash(p, h, hashes[i].type, idx)) != NULL) {
            return err;
        }
    }
    for (hi = apr_hash_first(p, t->by_serial); hi != NULL;
         hi = apr_hash_next(hi)) {
        const void *serial;
        apr_ssize_t len;
        void *val;
        const apr_array_header_t *bucket;
        int j;

        apr_hash_this(hi, &serial, &len, &val);
        bucket = val;
        for (j = 0; j < bucket->nelts; j++) {
            const issuer_entry_t *ie =
                &APR_ARRAY_IDX(bucket, j, issuer_entry_t);
            certmap_index_hit_t hit;

            if (index_differs(idx, CERTMAP_KEY_ISSUER_SERIAL, serial,
                              (apr_size_t)len, ie->issuer, ie->entry->account,
                              &hit)) {
                return apr_pstrcat(p, index_hit_source(p, idx, &hit), ": ",
                                   certmap_table_conflict_error(
                                       p, ie->entry->form, ie->entry->account,
                                       ie->entry->source),
                                   NULL);
            }
        }
    }
    return NULL;
}

const char *certmap_table_check_key(apr_pool_t *p, const certmap_table_t *t,
                                    const certmap_key_t *key,
                                    const char *account)
{
    int i;

    for (i = 0; t->indexes != NULL && i < t->indexes->nelts; i++) {
        const certmap_index_slot_t *slot =
            APR_ARRAY_IDX(t->indexes, i, const certmap_index_slot_t *);
        const certmap_index_t *idx = slot->current;
        certmap_index_hit_t hit;
        const unsigned char *bytes = key->digest;
        apr_size_t len =
            key->type == CERTMAP_KEY_SHA1 || key->type == CERTMAP_KEY_SHA1_PUKEY
                ? CERTMAP_SHA1_LEN
                : CERTMAP_SHA256_LEN;

        if (idx == NULL) {
            continue;
        }
        if (key->type == CERTMAP_KEY_SKI
            || key->type == CERTMAP_KEY_ISSUER_SERIAL) {
            bytes = key->bytes;
            len = key->bytes_len;
        }
        if (index_differs(idx, key->type, bytes, len, key->issuer, account,
                          &hit)
            || (key->has_sha1
                && index_differs(idx, CERTMAP_KEY_SHA1, key->sha1,
                                 CERTMAP_SHA1_LEN, NULL, account, &hit))) {
            return certmap_table_conflict_error(p, hit.form, hit.account,
                                                index_hit_source(p, idx, &hit));
        }
    }
    return NULL;
}

/* Open a map file for reading: a regular file of at most 2 GB.  Errors
 * name the path. */
const char *certmap_map_file_open(apr_pool_t *p, const char *path,
                                  apr_file_t **f, apr_finfo_t *finfo)
{
    char ebuf[128];
    /* Non-blocking, so that a FIFO is refused below instead of waiting
     * for a writer; reads of a regular file are unaffected. */
    apr_status_t rv = apr_file_open(
        f, path, APR_READ | APR_BINARY | APR_FOPEN_NONBLOCK, APR_OS_DEFAULT, p);

    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, *f);
        if (rv == APR_SUCCESS && finfo->filetype != APR_REG) {
            apr_file_close(*f);
            return apr_psprintf(p, "map file %s is not a regular file", path);
        }
        if (rv == APR_SUCCESS && finfo->size > ((apr_off_t)1 << 31)) {
            apr_file_close(*f);
            return apr_psprintf(p, "map file %s is larger than 2 GB", path);
        }
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read map file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    return NULL;
}

void certmap_map_text_start(char **text, apr_size_t *len)
{
    /* Notepad starts a UTF-8 file with a byte order mark. */
    if (*len >= 3 && memcmp(*text, "\xef\xbb\xbf", 3) == 0) {
        *text += 3;
        *len -= 3;
    }
}

int certmap_map_line_cut(char *line, char *text_end, char **next, int *blank)
{
    char *end = memchr(line, '\n', (apr_size_t)(text_end - line));
    const char *first;

    if (end == NULL) {
        end = text_end;
    }
    *end = '\0';
    *next = end + 1;
    if (strlen(line) != (apr_size_t)(end - line)) {
        return 0;
    }
    if (end > line && end[-1] == '\r') {
        end[-1] = '\0';
    }
    first = line + strspn(line, " \t");
    *blank = *first == '\0' || *first == '#';
    return 1;
}

char *certmap_map_file_dir(apr_pool_t *p, const char *path)
{
    char *dir = apr_pstrdup(p, path);
    char *slash = strrchr(dir, '/');

    if (slash == NULL) {
        return NULL;
    }
    slash[1] = '\0';
    return dir;
}
