/*
 * certmap.h - the mapping engine of mod_certmap.
 *
 * Plain C on APR and OpenSSL: nothing here knows about httpd.  The module
 * (mod_certmap.c), the unit tests and later the command-line tool link the
 * same static library.  Every function that can fail returns NULL on
 * success or an error sentence meant for a person (allocated from the pool
 * it was given); callers add the file and line.
 */
#ifndef CERTMAP_H
#define CERTMAP_H

#include <apr_pools.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CERTMAP_SHA256_LEN 32
#define CERTMAP_SHA1_LEN 20

/* Longest account accepted (bytes).  Windows accounts are far shorter;
 * the bound keeps a broken map file from putting megabytes in a header. */
#define CERTMAP_ACCOUNT_MAX 256

/* ------------------------------------------------------------------ */
/* Certificates                                                       */

/* What the engine keeps of a parsed certificate. */
typedef struct certmap_cert_t {
    unsigned char sha256[CERTMAP_SHA256_LEN]; /* of the DER encoding */
    unsigned char sha1[CERTMAP_SHA1_LEN];     /* the Windows thumbprint */
    apr_time_t not_before;
    apr_time_t not_after;
    const char *subject; /* RFC 2253, control characters escaped */
    const unsigned char *der; /* the certificate's DER encoding */
    apr_size_t der_len;
    /* const char *: every Microsoft UPN (SAN otherName
     * 1.3.6.1.4.1.311.20.2.3, a UTF8String) as it appears, in order;
     * never NULL. */
    apr_array_header_t *upns;
} certmap_cert_t;

/* Parse one PEM certificate as mod_ssl hands it over (SSL_CLIENT_CERT). */
const char *certmap_cert_from_pem(apr_pool_t *p, const char *pem,
                                  apr_size_t len, certmap_cert_t **cert);

/* Parse a configured certificate from memory: PEM or DER holding exactly
 * one certificate.  A private key (even a damaged PEM block of one), a
 * PKCS#12 bundle or a second certificate is an error.  The error is the
 * end of a sentence about the data ("holds a private key; ..."), which
 * the caller starts with what the data is ("certificate file X "). */
const char *certmap_cert_from_bytes(apr_pool_t *p, const unsigned char *data,
                                    apr_size_t len, certmap_cert_t **cert);

/* Read a file and hand it to certmap_cert_from_bytes(); the error names
 * the path. */
const char *certmap_cert_load_file(apr_pool_t *p, const char *path,
                                   certmap_cert_t **cert);

/* 1 when `now` lies outside the certificate's validity period. */
int certmap_cert_out_of_date(const certmap_cert_t *cert, apr_time_t now);

/* Lower-case hex of a digest, for logs and CERTMAP_* variables. */
const char *certmap_hex(apr_pool_t *p, const unsigned char *d, apr_size_t n);

/* ------------------------------------------------------------------ */
/* Certificate specifications: what CertMapUser/CertMapDeny name      */

typedef enum certmap_key_type_e {
    CERTMAP_KEY_SHA256 = 1,
    CERTMAP_KEY_SHA1 = 2
} certmap_key_type_e;

typedef struct certmap_key_t {
    certmap_key_type_e type;
    unsigned char digest[CERTMAP_SHA256_LEN]; /* SHA-1 uses 20 bytes */
    /* Set when the spec was a certificate file: its SHA-1 too, so that a
     * sha1: entry for the same certificate is recognised as a duplicate. */
    int has_sha1;
    unsigned char sha1[CERTMAP_SHA1_LEN];
} certmap_key_t;

/* Parse "sha256:HEX", "sha1:HEX" (hex in any case; ':' and ' ' allowed as
 * separators; a leading U+200E that Windows' certificate dialog copies is
 * ignored) or a path to a PEM/DER certificate file.  A relative path is
 * taken relative to `base_dir` (NULL: as given). */
const char *certmap_key_parse(apr_pool_t *p, const char *spec,
                              const char *base_dir, certmap_key_t *key);

/* ------------------------------------------------------------------ */
/* Accounts                                                           */

/* NULL when `account` may be used: not empty, at most CERTMAP_ACCOUNT_MAX
 * bytes, valid UTF-8, no control character (C0 incl. CR/LF/TAB, DEL, C1)
 * nor invisible formatting character (U+200B-U+200F, U+2028-U+202E,
 * U+2060-U+2069, U+FEFF), at most one '\' with something on each side. */
const char *certmap_account_check(apr_pool_t *p, const char *account);

/* Same rules for a domain name given with CertMapDomain (no '\'). */
const char *certmap_domain_check(apr_pool_t *p, const char *domain);

/* "DOMAIN\user" stays as it is; a bare "user" becomes "domain\user" when
 * domain is set, else stays bare. */
const char *certmap_account_qualify(apr_pool_t *p, const char *account,
                                    const char *domain);

/* The domain part of an account ("" for a bare account). */
const char *certmap_account_domain(apr_pool_t *p, const char *account);

/* ------------------------------------------------------------------ */
/* The table: one per configuration scope                             */

typedef struct certmap_table_t certmap_table_t;

/* One certificate's entry in one table.  An entry can both map and be
 * denied; deny wins. */
typedef struct certmap_entry_t {
    const char *account;     /* NULL: no mapping in this table */
    const char *source;      /* "file:line" of the mapping */
    const char *deny_source; /* non-NULL: denied, "file:line" of the deny */
} certmap_entry_t;

certmap_table_t *certmap_table_make(apr_pool_t *p);

/* Number of distinct certificates the table holds entries for. */
unsigned int certmap_table_count(const certmap_table_t *t);

/* Add a mapping (`account` non-NULL) or a deny (`account` NULL).  The same
 * certificate mapped to two different accounts is an error; the same
 * mapping twice is not.  `source` is kept by reference. */
const char *certmap_table_add(certmap_table_t *t, const certmap_key_t *key,
                              const char *account, const char *source);

/* Read a map file into the table: one entry a line, "CERT ACCOUNT" or
 * "deny CERT"; '#' comments and blank lines.  Tokens are separated by
 * blanks and may be double-quoted; a backslash is an ordinary character.
 * Relative certificate paths are relative to the map file's directory.
 * Every error starts with "PATH:LINE: ". */
const char *certmap_table_load_file(certmap_table_t *t, const char *path);

/* Parse one map-file line (no newline) into the table; `source` is the
 * "file:line" recorded for it.  Returns NULL for a comment or blank line
 * too.  Exposed for the unit tests and fuzzing. */
const char *certmap_table_add_line(certmap_table_t *t, const char *line,
                                   const char *base_dir, const char *source);

/* The entry this table holds for the certificate, or NULL.  A SHA-256
 * entry is preferred over a SHA-1 entry. */
const certmap_entry_t *certmap_table_find(const certmap_table_t *t,
                                          const certmap_cert_t *cert);

/* ------------------------------------------------------------------ */
/* Decisions                                                          */

typedef enum certmap_reason_e {
    CERTMAP_MAPPED = 0,
    CERTMAP_TLS_REQUIRED,  /* not over TLS */
    CERTMAP_CERT_REQUIRED, /* no certificate */
    CERTMAP_CERT_UNTRUSTED,
    CERTMAP_CERT_EXPIRED, /* expired or not yet valid */
    CERTMAP_CERT_REVOKED,
    CERTMAP_CERT_UNMAPPED,
    CERTMAP_CERT_DENIED,
    CERTMAP_CERT_MISMATCH, /* CertMapPassword: another account's password */
    CERTMAP_REASON_COUNT
} certmap_reason_e;

/* "cert-unmapped" etc.; "mapped" for CERTMAP_MAPPED. */
const char *certmap_reason_name(certmap_reason_e reason);

/* A sentence for the client and the log, e.g. "the client certificate is
 * not mapped to an account". */
const char *certmap_reason_text(certmap_reason_e reason);

/* The IIS sub-status a reason stands for (403.x): 7, 16, 17, 13, 12, 4. */
int certmap_reason_iis_substatus(certmap_reason_e reason);

/* Classify mod_ssl's SSL_CLIENT_VERIFY value.  "SUCCESS" gives
 * CERTMAP_MAPPED (meaning: go on and look the certificate up), "NONE" or
 * NULL/empty CERTMAP_CERT_REQUIRED, "FAILED:..." the matching refusal
 * (expired/not yet valid, revoked, else untrusted), "GENEROUS" and
 * anything unknown CERTMAP_CERT_UNTRUSTED. */
certmap_reason_e certmap_verify_classify(const char *ssl_client_verify);

/* The decision for one verified certificate against a chain of tables,
 * the innermost scope first.  A deny in any table wins; otherwise the
 * first table that maps the certificate decides, unless it maps it to two
 * accounts (see `conflict`). */
typedef struct certmap_decision_t {
    certmap_reason_e reason; /* MAPPED, CERT_DENIED or CERT_UNMAPPED */
    const char *account;     /* as configured (not yet qualified) */
    const char *source;      /* "file:line" that decided, or NULL */
    /* Set when one table maps the certificate by SHA-256 (source) and by
     * SHA-1 (conflict) to different accounts, which a configuration
     * check cannot see; the decision is then CERT_UNMAPPED. */
    const char *conflict;
} certmap_decision_t;

void certmap_decide(const certmap_table_t *const *tables, int ntables,
                    const certmap_cert_t *cert, certmap_decision_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_H */
