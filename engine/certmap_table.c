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
    apr_hash_t *by_sha256; /* 32-byte digest -> certmap_entry_t */
    apr_hash_t *by_sha1;   /* 20-byte digest -> certmap_entry_t */
    unsigned int count;
};

certmap_table_t *certmap_table_make(apr_pool_t *p)
{
    certmap_table_t *t = apr_pcalloc(p, sizeof(*t));

    t->pool = p;
    t->by_sha256 = apr_hash_make(p);
    t->by_sha1 = apr_hash_make(p);
    return t;
}

unsigned int certmap_table_count(const certmap_table_t *t)
{
    return t->count;
}

/* Record one mapping or deny on an entry, refusing a second, different
 * account for the same certificate. */
static const char *entry_update(apr_pool_t *p, certmap_entry_t *e,
                                const char *account, const char *source)
{
    if (account == NULL) {
        if (e->deny_source == NULL) {
            e->deny_source = source;
        }
        return NULL;
    }
    if (e->account != NULL && strcmp(e->account, account) != 0) {
        return apr_psprintf(p,
                            "this certificate is already mapped to '%s' "
                            "(at %s) in the same scope; a certificate maps "
                            "to one account",
                            e->account, e->source);
    }
    if (e->account == NULL) {
        e->account = account;
        e->source = source;
    }
    return NULL;
}

/* Point `h[digest]` at `e`, copying the digest only for a new key. */
static void index_put(certmap_table_t *t, apr_hash_t *h,
                      const unsigned char *digest, apr_size_t klen,
                      certmap_entry_t *e)
{
    if (apr_hash_get(h, digest, klen) == NULL) {
        digest = apr_pmemdup(t->pool, digest, klen);
    }
    apr_hash_set(h, digest, klen, e);
}

const char *certmap_table_add(certmap_table_t *t, const certmap_key_t *key,
                              const char *account, const char *source)
{
    certmap_entry_t *e, *by_sha1;
    const char *err;

    if (key->type == CERTMAP_KEY_SHA1) {
        e = apr_hash_get(t->by_sha1, key->digest, CERTMAP_SHA1_LEN);
        if (e == NULL) {
            e = apr_pcalloc(t->pool, sizeof(*e));
            index_put(t, t->by_sha1, key->digest, CERTMAP_SHA1_LEN, e);
            t->count++;
        }
        return entry_update(t->pool, e, account, source);
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
        err = by_sha1->account
                  ? entry_update(t->pool, e, by_sha1->account, by_sha1->source)
                  : NULL;
        if (err != NULL) {
            return err;
        }
        if (by_sha1->deny_source != NULL) {
            entry_update(t->pool, e, NULL, by_sha1->deny_source);
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
    return entry_update(t->pool, e, account, source);
}

/* The entries for the certificate's SHA-256 and SHA-1 (either may be
 * NULL; both may be the same entry). */
static void find_both(const certmap_table_t *t, const certmap_cert_t *cert,
                      const certmap_entry_t *e[2])
{
    e[0] = apr_hash_get(t->by_sha256, cert->sha256, CERTMAP_SHA256_LEN);
    e[1] = apr_hash_get(t->by_sha1, cert->sha1, CERTMAP_SHA1_LEN);
}

const certmap_entry_t *certmap_table_find(const certmap_table_t *t,
                                          const certmap_cert_t *cert)
{
    const certmap_entry_t *e[2];

    find_both(t, cert, e);
    return e[0] != NULL ? e[0] : e[1];
}

/* ------------------------------------------------------------------ */
/* Map file                                                           */

/* A line is CERT ACCOUNT or deny CERT. */
#define MAX_TOKENS 2

/* Split a line into blank-separated tokens, double quotes grouping.  A
 * '#' at the start of a token starts a comment.  Returns the token count,
 * or -1 with *err set. */
static int tokenize(apr_pool_t *p, const char *line, char **tok, int max,
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
        if (*s == '"') {
            start = ++s;
            while (*s && *s != '"') {
                s++;
            }
            if (*s != '"') {
                *err = "a quoted value is not closed";
                return -1;
            }
            tok[n++] = apr_pstrmemdup(p, start, s - start);
            s++;
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

/* Parse one line; scratch work goes to `scratch`, what the table keeps
 * is copied to the table's pool. */
static const char *add_line(certmap_table_t *t, apr_pool_t *scratch,
                            const char *line, const char *base_dir,
                            const char *source)
{
    char *tok[MAX_TOKENS];
    const char *err = NULL;
    certmap_key_t key;
    int n = tokenize(scratch, line, tok, MAX_TOKENS, &err);

    if (n < 0) {
        return err;
    }
    if (n == 0) {
        return NULL;
    }
    if (strcasecmp(tok[0], "deny") == 0) {
        if (n != 2) {
            return "a deny line is: deny CERT";
        }
        err = certmap_key_parse(scratch, tok[1], base_dir, &key);
        return err ? err : certmap_table_add(t, &key, NULL, source);
    }
    if (n != 2) {
        return "the account is missing (a line is CERT ACCOUNT)";
    }
    err = certmap_key_parse(scratch, tok[0], base_dir, &key);
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

void certmap_decide(const certmap_table_t *const *tables, int ntables,
                    const certmap_cert_t *cert, certmap_decision_t *out)
{
    const certmap_entry_t *mapped = NULL, *conflict = NULL;
    int i, j;

    for (i = 0; i < ntables; i++) {
        /* A certificate can be named in one table by both digests (a
         * sha256: mapping and a sha1: deny): a deny on either wins. */
        const certmap_entry_t *e[2];

        find_both(tables[i], cert, e);
        for (j = 0; j < 2; j++) {
            if (e[j] != NULL && e[j]->deny_source != NULL) {
                out->reason = CERTMAP_CERT_DENIED;
                out->account = NULL;
                out->source = e[j]->deny_source;
                out->conflict = NULL;
                return;
            }
        }
        if (mapped == NULL) {
            for (j = 0; j < 2; j++) {
                if (e[j] == NULL || e[j]->account == NULL) {
                    continue;
                }
                if (mapped == NULL) {
                    mapped = e[j];
                }
                else if (strcmp(mapped->account, e[j]->account) != 0) {
                    conflict = e[j];
                }
            }
        }
    }
    out->conflict = NULL;
    if (conflict != NULL) {
        out->reason = CERTMAP_CERT_UNMAPPED;
        out->account = NULL;
        out->source = mapped->source;
        out->conflict = conflict->source;
    }
    else if (mapped != NULL) {
        out->reason = CERTMAP_MAPPED;
        out->account = mapped->account;
        out->source = mapped->source;
    }
    else {
        out->reason = CERTMAP_CERT_UNMAPPED;
        out->account = NULL;
        out->source = NULL;
    }
}
