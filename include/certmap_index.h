/*
 * certmap_index.h - compiled map files.
 *
 * A CertMapFile is compiled into an index file: a flat, position-
 * independent binary (header, open-addressing hash slots, fixed-size
 * entries, a pool of key bytes and account strings) that every httpd
 * process maps read-only (MAP_SHARED), so the page cache holds one copy
 * and a lookup reads the mapping directly.  The index is a cache that is
 * regenerated from the map file: it is written in the host's byte order
 * and refused (with a sentence) by a host of another byte order or
 * layout.  Format: see engine/certmap_index.c.
 */
#ifndef CERTMAP_INDEX_H
#define CERTMAP_INDEX_H

#include <apr_pools.h>
#include <apr_file_info.h>

#include "certmap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct certmap_index_t certmap_index_t; /* an open, mmapped index */

typedef struct certmap_file_id_t { /* identifies a map file version */
    apr_uint64_t dev, ino, size, mtime_ns;
} certmap_file_id_t;

/* stat() the path (follows symlinks); the error sentence names the
 * path. */
const char *certmap_file_id(apr_pool_t *p, const char *path,
                            certmap_file_id_t *id);

/* 1 when both identify the same version of a file. */
int certmap_file_id_equal(const certmap_file_id_t *a,
                          const certmap_file_id_t *b);

/* Compile the map file `map_path` into the index file `out_path` (a
 * temporary file beside it, fsync, rename; mode `perms`, e.g. 0644).
 * Parsing, validation and every error message are those of
 * certmap_table_load_file() ("PATH:LINE: ...").  On an error nothing is
 * written.  *count (may be NULL) = entries, as certmap_table_count()
 * would count them.  The source id recorded is taken before reading. */
const char *certmap_index_compile(apr_pool_t *p, const char *map_path,
                                  const char *out_path, apr_fileperms_t perms,
                                  unsigned int *count);

/* Compile into anonymous memory instead of a file; same errors.  Free
 * with certmap_index_close(). */
const char *certmap_index_compile_mem(apr_pool_t *p, const char *map_path,
                                      certmap_index_t **idx);

/* Open and map an index file.  The header is validated (magic, version,
 * byte order, sizes, every section inside the file); entries and strings
 * are checked when a lookup reaches them, so a damaged or hostile file
 * cannot make a lookup read outside the mapping.  Allocated with malloc:
 * free with certmap_index_close().  `p` is only for the error. */
const char *certmap_index_open(apr_pool_t *p, const char *index_path,
                               certmap_index_t **idx);

/* Same from memory (copied into anonymous memory); for tests/fuzzing. */
const char *certmap_index_open_bytes(apr_pool_t *p, const void *data,
                                     apr_size_t len, certmap_index_t **idx);

void certmap_index_close(certmap_index_t *idx); /* munmap + free */

/* The map file version it was compiled from. */
const certmap_file_id_t *certmap_index_source(const certmap_index_t *idx);
/* The map file's path as given at compile time. */
const char *certmap_index_map_path(const certmap_index_t *idx);
/* Entries, counted as certmap_table_count() counts them. */
unsigned int certmap_index_count(const certmap_index_t *idx);
/* Size of the mapping in bytes. */
apr_size_t certmap_index_bytes(const certmap_index_t *idx);

/* A slot the module swaps on reload; the table reads slot->current once
 * per decision.  NULL: no index (nothing found). */
typedef struct certmap_index_slot_t {
    certmap_index_t *volatile current;
} certmap_index_slot_t;

/* One entry found in an index.  `account` points into the mapping (NULL:
 * no mapping); lines are 0 when absent; forms are CERTMAP_FORM_*. */
typedef struct certmap_index_hit_t {
    const char *account;
    unsigned int line;      /* of the mapping */
    unsigned int deny_line; /* of the deny, 0: not denied */
    const char *form;
    const char *deny_form;
} certmap_index_hit_t;

/* Look a key up: 1 and *hit filled when the index has it.  `type` is a
 * certmap_key_type_e; SHA256/SPKI_SHA256 keys are 32 bytes, SHA1 and
 * SHA1_PUKEY 20, SKI the identifier, ISSUER_SERIAL the serial bytes (as
 * certmap_cert_t.serial_ad) with `issuer` (as certmap_cert_t.issuer_ad,
 * compared ignoring ASCII case).  O(1), allocates nothing. */
int certmap_index_lookup(const certmap_index_t *idx, int type,
                         const unsigned char *key, apr_size_t len,
                         const char *issuer, certmap_index_hit_t *hit);

/* A configuration check: the first entry of the table's own (directive)
 * entries that the index maps to another account, as the error
 * "MAP:LINE: this certificate is already mapped to ... (at SOURCE)"; NULL
 * when they agree. */
const char *certmap_table_check_index(apr_pool_t *p, const certmap_table_t *t,
                                      const certmap_index_t *idx);

/* The same for one new entry (key -> account) against every index
 * attached to the table: "... already mapped to ... (at MAP:LINE)". */
const char *certmap_table_check_key(apr_pool_t *p, const certmap_table_t *t,
                                    const certmap_key_t *key,
                                    const char *account);

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_INDEX_H */
