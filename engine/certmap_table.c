/*
 * certmap_table.c - one scope's certificate table, the map file, and the
 * decision over nested scopes.
 */
#include "certmap.h"

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
    return t;
}

unsigned int certmap_table_count(const certmap_table_t *t)
{
    return t->count;
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
        return apr_psprintf(p,
                            "this %s is already mapped to '%s' (at %s) in "
                            "the same scope; a certificate maps to one "
                            "account",
                            form_noun(form), e->account, e->source);
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

/* Parse one line; scratch work goes to `scratch`, what the table keeps
 * is copied to the table's pool. */
static const char *add_line(certmap_table_t *t, apr_pool_t *scratch,
                            const char *line, const char *base_dir,
                            const char *source)
{
    char *tok[MAX_TOKENS];
    const char *err = NULL;
    certmap_key_t key;
    int n = certmap_map_split(scratch, line, tok, MAX_TOKENS, &err);

    if (n < 0) {
        if (n == -1 && strncmp(err, "too many", 8) == 0
            && (starts_with_x509(tok[0])
                || (strcasecmp(tok[0], "deny") == 0
                    && starts_with_x509(tok[1])))) {
            return apr_pstrcat(scratch, "too many fields: ", X509_QUOTE_HINT,
                               NULL);
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
        err = key_parse(scratch, tok[1], base_dir, &key);
        return err ? err : certmap_table_add(t, &key, NULL, source);
    }
    if (n != 2) {
        return "the account is missing (a line is CERT ACCOUNT)";
    }
    err = key_parse(scratch, tok[0], base_dir, &key);
    if (err == NULL) {
        err = certmap_account_check(scratch, tok[1]);
    }
    if (err != NULL) {
        return err;
    }
    return certmap_table_add(t, &key, apr_pstrdup(t->pool, tok[1]), source);
}

const char *certmap_table_add_line(certmap_table_t *t, const char *line,
                                   const char *base_dir, const char *source)
{
    return add_line(t, t->pool, line, base_dir, source);
}

/* Map files larger than this are refused rather than read into memory. */
#define MAP_FILE_MAX ((apr_off_t)1 << 31)

const char *certmap_table_load_file(certmap_table_t *t, const char *path)
{
    apr_pool_t *p = t->pool;
    apr_pool_t *scratch, *linepool;
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    char ebuf[128];
    char *text, *line, *end, *base_dir, *slash;
    apr_size_t len;
    const char *err = NULL;
    unsigned int lineno = 0;

    rv = apr_file_open(&f, path, APR_READ | APR_BINARY, APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
        if (rv == APR_SUCCESS && finfo.filetype != APR_REG) {
            apr_file_close(f);
            return apr_psprintf(p, "map file %s is not a regular file", path);
        }
        if (rv == APR_SUCCESS && finfo.size > MAP_FILE_MAX) {
            apr_file_close(f);
            return apr_psprintf(p, "map file %s is larger than 2 GB", path);
        }
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read map file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
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
    /* Notepad starts a UTF-8 file with a byte order mark. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    base_dir = apr_pstrdup(scratch, path);
    slash = strrchr(base_dir, '/');
    if (slash != NULL) {
        slash[1] = '\0';
    }
    else {
        base_dir = NULL;
    }

    apr_pool_create(&linepool, scratch);
    for (line = text; line < text + len && err == NULL; line = end + 1) {
        const char *source, *first;

        lineno++;
        end = memchr(line, '\n', text + len - line);
        if (end == NULL) {
            end = text + len;
        }
        *end = '\0';
        if (strlen(line) != (apr_size_t)(end - line)) {
            err = apr_psprintf(p, "%s:%u: the line contains a NUL byte", path,
                               lineno);
            break;
        }
        if (end > line && end[-1] == '\r') {
            end[-1] = '\0';
        }
        /* Blank and comment lines cost nothing in the table. */
        first = line + strspn(line, " \t");
        if (*first == '\0' || *first == '#') {
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

/* The mapping the entries e[from..to) give: the first that maps, and in
 * *conflict the first after it that maps to another account.  0 when
 * none maps. */
static int group_mapping(const certmap_entry_t *const *e, int from, int to,
                         const certmap_entry_t **mapped,
                         const certmap_entry_t **conflict)
{
    int j;

    *mapped = *conflict = NULL;
    for (j = from; j < to; j++) {
        if (e[j] == NULL || e[j]->account == NULL) {
            continue;
        }
        if (*mapped == NULL) {
            *mapped = e[j];
        }
        else if (*conflict == NULL
                 && strcmp((*mapped)->account, e[j]->account) != 0) {
            *conflict = e[j];
        }
    }
    return *mapped != NULL;
}

void certmap_decide(const certmap_table_t *const *tables, int ntables,
                    const certmap_cert_t *cert, certmap_decision_t *out)
{
    const certmap_entry_t *mapped = NULL, *conflict = NULL;
    int i, j, pass;

    out->reason = CERTMAP_CERT_UNMAPPED;
    out->account = NULL;
    out->source = NULL;
    out->conflict = NULL;
    out->form = NULL;
    out->conflict_form = NULL;

    /* 1. A deny of any form in any table wins. */
    for (i = 0; i < ntables; i++) {
        const certmap_entry_t *e[FOUND_COUNT];

        find_all(tables[i], cert, e);
        for (j = 0; j < FOUND_COUNT; j++) {
            if (e[j] != NULL && e[j]->deny_source != NULL) {
                out->reason = CERTMAP_CERT_DENIED;
                out->source = e[j]->deny_source;
                out->form = e[j]->deny_form;
                return;
            }
        }
    }
    /* 2. Exact forms, innermost table first; 3. key and strong forms. */
    for (pass = 0; pass < 2 && mapped == NULL; pass++) {
        for (i = 0; i < ntables; i++) {
            const certmap_entry_t *e[FOUND_COUNT];

            find_all(tables[i], cert, e);
            if (pass == 0 ? group_mapping(e, FOUND_SHA256, FOUND_FIRST_KEY_FORM,
                                          &mapped, &conflict)
                          : group_mapping(e, FOUND_FIRST_KEY_FORM, FOUND_COUNT,
                                          &mapped, &conflict)) {
                break;
            }
        }
    }
    if (mapped == NULL) {
        return;
    }
    out->source = mapped->source;
    out->form = mapped->form;
    if (conflict != NULL) {
        out->conflict = conflict->source;
        out->conflict_form = conflict->form;
        return;
    }
    out->reason = CERTMAP_MAPPED;
    out->account = mapped->account;
}
