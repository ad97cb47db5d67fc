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

/* Longest SubjectKeyIdentifier and serial number kept (bytes).  RFC 5280
 * allows 20 octets of serial (21 with the sign byte) and SKIs are 20 bytes
 * in practice; anything longer is not offered as a strong form. */
#define CERTMAP_SKI_MAX 64
#define CERTMAP_SERIAL_MAX 64

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
    const char *subject;      /* RFC 2253, control characters escaped */
    const unsigned char *der; /* the certificate's DER encoding */
    apr_size_t der_len;
    /* const char *: every Microsoft UPN (SAN otherName
     * 1.3.6.1.4.1.311.20.2.3, a UTF8String) as it appears, in order;
     * never NULL.  A value that is not a UTF8String, is not valid UTF-8,
     * or holds a NUL or another C0 control character or DEL is left out
     * (it cannot be an account and must not be cut short). */
    apr_array_header_t *upns;

    /* --- Renewal-proof and Active Directory strong forms ------------ */
    /* SHA-256 of the DER SubjectPublicKeyInfo (algorithm + key), what
     * `openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum`
     * prints and HPKP's pin-sha256 encodes: spki-sha256:. */
    unsigned char spki_sha256[CERTMAP_SHA256_LEN];
    /* SHA-1 of the subjectPublicKey BIT STRING's contents (the key bits,
     * without tag, length and unused-bits byte): X509:<SHA1-PUKEY>.  This
     * is RFC 5280's method-1 key identifier, so it equals the SKI of most
     * certificates that carry one; see certmap_cert.c for why. */
    unsigned char pukey_sha1[CERTMAP_SHA1_LEN];
    /* The SubjectKeyIdentifier extension's key identifier: X509:<SKI>.
     * NULL/0 when the certificate has none (or a damaged or duplicate
     * one, or one longer than CERTMAP_SKI_MAX). */
    const unsigned char *ski;
    apr_size_t ski_len;
    /* The issuer DN as Windows writes it in X509:<I>: RDNs in encoded
     * (ASN.1) order joined by ',', attributes of one multi-valued RDN by
     * ' ', Windows' names (CN, L, O, OU, E, C, S, STREET, T, G, I, SN, DC,
     * SERIALNUMBER, PostalCode) else OID.n.n.n, a value in double quotes
     * (inner quotes doubled) when it is empty, starts or ends with a
     * blank, or holds , + = " < > # ; -- e.g. "DC=com,DC=contoso,
     * CN=CONTOSO-DC-CA".  NULL when the issuer is empty or holds a value
     * that is not a character string or has a control character: the
     * X509:<I><SR> form is then not available for this certificate. */
    const char *issuer_ad;
    /* The serial number as AD writes it after <SR>: every content byte of
     * the DER INTEGER (a leading 00 sign byte included), in reverse
     * order.  NULL/0 when longer than CERTMAP_SERIAL_MAX. */
    const unsigned char *serial_ad;
    apr_size_t serial_ad_len;
} certmap_cert_t;

/* From OpenSSL's already decoded certificate (X509 *), e.g. the TLS
 * peer's: no second decoding of its public key.  The caller keeps
 * ownership of `x`. */
struct x509_st;
const char *certmap_cert_from_x509(apr_pool_t *p, struct x509_st *x,
                                   certmap_cert_t **cert);

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

/* Every specification that names this certificate, as const char *, in
 * this order: "sha256:HEX", "sha1:HEX", "spki-sha256:HEX",
 * "X509:<I>ISSUER<SR>SERIAL" (unless cert->issuer_ad is NULL),
 * "X509:<SKI>HEX" (only with a SubjectKeyIdentifier),
 * "X509:<SHA1-PUKEY>HEX".  Each one is accepted by certmap_key_parse()
 * and matches this certificate.  The X509:<I> form contains blanks when
 * the issuer does: quote it in a map file (certmap_map_quote()) or in
 * CertMapUser. */
apr_array_header_t *certmap_cert_spec_forms(apr_pool_t *p,
                                            const certmap_cert_t *cert);

/* ------------------------------------------------------------------ */
/* Certificate specifications: what CertMapUser/CertMapDeny name      */

typedef enum certmap_key_type_e {
    /* Exact certificate forms: one certificate. */
    CERTMAP_KEY_SHA256 = 1, /* sha256:, or a certificate file */
    CERTMAP_KEY_SHA1 = 2,
    /* Key and strong forms (see certmap_decide for the precedence). */
    CERTMAP_KEY_SPKI_SHA256 = 3,   /* spki-sha256: */
    CERTMAP_KEY_ISSUER_SERIAL = 4, /* X509:<I>...<SR>... */
    CERTMAP_KEY_SKI = 5,           /* X509:<SKI>... */
    CERTMAP_KEY_SHA1_PUKEY = 6     /* X509:<SHA1-PUKEY>... */
} certmap_key_type_e;

/* 1 for the key and strong forms (SPKI_SHA256 and later). */
#define CERTMAP_KEY_IS_STRONG_FORM(type) ((type) >= CERTMAP_KEY_SPKI_SHA256)

/* The names certmap_key_form() and certmap_decision_t.form use. */
#define CERTMAP_FORM_SHA256 "sha256"
#define CERTMAP_FORM_SHA1 "sha1"
#define CERTMAP_FORM_FILE "file"
#define CERTMAP_FORM_SPKI_SHA256 "spki-sha256"
#define CERTMAP_FORM_ISSUER_SERIAL "X509:<I><SR>"
#define CERTMAP_FORM_SKI "X509:<SKI>"
#define CERTMAP_FORM_SHA1_PUKEY "X509:<SHA1-PUKEY>"

typedef struct certmap_key_t {
    certmap_key_type_e type;
    /* SHA256, SPKI_SHA256: 32 bytes; SHA1, SHA1_PUKEY: the first 20. */
    unsigned char digest[CERTMAP_SHA256_LEN];
    /* Set when the spec was a certificate file: its SHA-1 too, so that a
     * sha1: entry for the same certificate is recognised as a duplicate. */
    int has_sha1;
    unsigned char sha1[CERTMAP_SHA1_LEN];
    /* ISSUER_SERIAL: the issuer in the spelling of
     * certmap_cert_t.issuer_ad (rewritten from what was given: blanks
     * around separators dropped, ST/Email/... as S/E/..., '+' as ' ').
     * Compared ignoring ASCII case, as AD does.  From the pool given to
     * certmap_key_parse(). */
    const char *issuer;
    /* ISSUER_SERIAL: the bytes written after <SR> (AD's reversed order),
     * SKI: the key identifier; from the pool given to
     * certmap_key_parse(). */
    const unsigned char *bytes;
    apr_size_t bytes_len;
} certmap_key_t;

/* Parse a certificate specification:
 *   sha256:HEX, sha1:HEX, spki-sha256:HEX   hex in any case; ':' and ' '
 *       allowed as separators; a U+200E that Windows' certificate dialog
 *       copies is ignored (also before the prefix);
 *   X509:<I>ISSUER<SR>SERIAL, X509:<SKI>HEX, X509:<SHA1-PUKEY>HEX   as
 *       Active Directory's altSecurityIdentities holds them (prefix and
 *       tags in any case, as AD compares them; hex in any case);
 *   anything else: a path to a PEM/DER certificate file, relative to
 *       `base_dir` (NULL: as given).
 * The weak forms X509:<S>, X509:<I>...<S>, X509:<RFC822> and any other
 * X509:<...> are refused with a sentence saying why.  On an error the key
 * is all zero. */
const char *certmap_key_parse(apr_pool_t *p, const char *spec,
                              const char *base_dir, certmap_key_t *key);

/* The form of a parsed key: CERTMAP_FORM_SHA256, ..._FILE (a certificate
 * file), ..._SHA1, ..._SPKI_SHA256, ..._ISSUER_SERIAL, ..._SKI or
 * ..._SHA1_PUKEY. */
const char *certmap_key_form(const certmap_key_t *key);

/* `token` as one map-file field: unchanged when it needs no quotes, else
 * in double quotes with inner double quotes doubled. */
const char *certmap_map_quote(apr_pool_t *p, const char *token);

/* Split a map-file line into at most `max` fields: blanks separate,
 * double or single quotes group (the quote character doubled inside
 * stands for itself), '#' at the start of a field starts a comment.
 * Returns the number of fields (0 for a blank or comment line), or -1
 * with *err set to a sentence. */
int certmap_map_split(apr_pool_t *p, const char *line, char **tok, int max,
                      const char **err);

/* The directory of a map file with its trailing '/', against which its
 * relative certificate paths are read; NULL for a bare file name. */
char *certmap_map_file_dir(apr_pool_t *p, const char *path);

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

/* One certificate's (or key's) entry in one table.  An entry can both map
 * and be denied; deny wins. */
typedef struct certmap_entry_t {
    const char *account;     /* NULL: no mapping in this table */
    const char *source;      /* "file:line" of the mapping */
    const char *deny_source; /* non-NULL: denied, "file:line" of the deny */
    const char *form;        /* CERTMAP_FORM_* of the mapping's line */
    const char *deny_form;   /* CERTMAP_FORM_* of the deny's line */
} certmap_entry_t;

certmap_table_t *certmap_table_make(apr_pool_t *p);

/* Number of entries in the table: distinct certificates named by an exact
 * form, plus distinct keys, key identifiers and issuer/serial pairs. */
unsigned int certmap_table_count(const certmap_table_t *t);

/* Add a mapping (`account` non-NULL) or a deny (`account` NULL).  The same
 * certificate (or the same key, in the same form) mapped to two different
 * accounts is an error; the same mapping twice is not.  `source` is kept
 * by reference; everything else is copied to the table's pool.  Lookups
 * use hash tables for every form: their cost does not grow with the
 * table. */
const char *certmap_table_add(certmap_table_t *t, const certmap_key_t *key,
                              const char *account, const char *source);

/* Read a map file into the table: one entry a line, "CERT ACCOUNT" or
 * "deny CERT"; '#' comments and blank lines.  Tokens are separated by
 * blanks and may be quoted with double or single quotes, inside which
 * the quote character doubled stands for itself (an X509:<I> issuer with
 * blanks needs quotes: "X509:<I>DC=com,DC=contoso,CN=Contoso CA<SR>1200");
 * a backslash is an ordinary character.  Relative certificate paths are
 * relative to the map file's directory.  Every error starts with
 * "PATH:LINE: ". */
const char *certmap_table_load_file(certmap_table_t *t, const char *path);

/* Parse one map-file line (no newline) into the table; `source` is the
 * "file:line" recorded for it.  Returns NULL for a comment or blank line
 * too.  Exposed for the unit tests and fuzzing. */
const char *certmap_table_add_line(certmap_table_t *t, const char *line,
                                   const char *base_dir, const char *source);

/* Parse one map-file line (no newline) as certmap_table_add_line() does,
 * without adding it: *deny is 1 for "deny CERT", *account the account of
 * a mapping (NULL for a deny), and key->type 0 for a blank or comment
 * line.  Errors are certmap_table_add_line()'s, without "PATH:LINE: ". */
const char *certmap_map_line_parse(apr_pool_t *p, const char *line,
                                   const char *base_dir, certmap_key_t *key,
                                   const char **account, int *deny);

/* The same error certmap_table_add() gives when an entry of `form`
 * (CERTMAP_FORM_*) already mapped to `account` at `source` is mapped to
 * another account. */
const char *certmap_table_conflict_error(apr_pool_t *p, const char *form,
                                         const char *account,
                                         const char *source);

struct certmap_index_slot_t;

/* Entries of this table also come from a compiled map file, read through
 * *slot at decision time (slot->current may be NULL: nothing).  Several
 * slots per table are allowed.  The slot must live as long as the
 * table. */
void certmap_table_add_index(certmap_table_t *t,
                             struct certmap_index_slot_t *slot);

/* certmap_table_count() plus the counts of the indexes attached now. */
unsigned int certmap_table_count_index(const certmap_table_t *t);

/* The entry this table holds for the certificate, or NULL: the first
 * found by SHA-256, SHA-1, SPKI SHA-256, issuer and serial, SKI, SHA-1 of
 * the public key, in this order (certmap_decide looks at all of them).
 * Only the table's own entries: attached indexes are not searched. */
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
    /* CertMapLDAPURL: two or more directory entries hold the certificate. */
    CERTMAP_DIRECTORY_AMBIGUOUS,
    /* CertMapLDAPURL: the directory could not be asked (503). */
    CERTMAP_DIRECTORY_UNAVAILABLE,
    CERTMAP_REASON_COUNT
} certmap_reason_e;

/* "cert-unmapped" etc.; "mapped" for CERTMAP_MAPPED. */
const char *certmap_reason_name(certmap_reason_e reason);

/* A sentence for the client and the log, e.g. "the client certificate is
 * not mapped to an account". */
const char *certmap_reason_text(certmap_reason_e reason);

/* The IIS sub-status a reason stands for (403.x): 7, 16, 17, 13, 12, 4;
 * 0 for directory-unavailable, which is a 503, not a 403. */
int certmap_reason_iis_substatus(certmap_reason_e reason);

/* Classify mod_ssl's SSL_CLIENT_VERIFY value.  "SUCCESS" gives
 * CERTMAP_MAPPED (meaning: go on and look the certificate up), "NONE" or
 * NULL/empty CERTMAP_CERT_REQUIRED, "FAILED:..." the matching refusal
 * (expired/not yet valid, revoked, else untrusted), "GENEROUS" and
 * anything unknown CERTMAP_CERT_UNTRUSTED. */
certmap_reason_e certmap_verify_classify(const char *ssl_client_verify);

/* The decision for one verified certificate against a chain of tables,
 * the innermost scope first.  Precedence:
 *   1. A deny of any form in any table wins (CERT_DENIED; the innermost
 *      table's deny is reported, exact forms before key forms).
 *   2. Exact certificate entries (sha256:, sha1:, certificate files): the
 *      first table that maps the certificate by one of them decides.
 *   3. Key and strong forms (spki-sha256:, X509:<I><SR>, X509:<SKI>,
 *      X509:<SHA1-PUKEY>): the first table that maps the certificate by
 *      one of them decides.
 * So an exact mapping, in any table, beats a key-form mapping: it names
 * this very certificate, a key form any certificate of that key.  Within
 * the deciding table, two entries of the same group (SHA-256 and SHA-1;
 * or two key forms) mapping to different accounts are a conflict that a
 * configuration check cannot see: CERT_UNMAPPED with `conflict` set (the
 * module logs it).  Two key forms mapping to the same account are no
 * conflict; `source` is then the first in the order spki-sha256,
 * X509:<I><SR>, X509:<SKI>, X509:<SHA1-PUKEY>. */
typedef struct certmap_decision_t {
    certmap_reason_e reason; /* MAPPED, CERT_DENIED or CERT_UNMAPPED */
    const char *account;     /* as configured (not yet qualified) */
    const char *source;      /* "file:line" that decided, or NULL */
    /* Set when the deciding table maps the certificate to two accounts:
     * by SHA-256 (source) and SHA-1 (conflict), or by two key forms
     * (`form` and `conflict_form` say which); CERT_UNMAPPED. */
    const char *conflict;
    /* CERTMAP_FORM_* of the line `source` names (of the deny for
     * CERT_DENIED), NULL when nothing matched. */
    const char *form;
    const char *conflict_form; /* CERTMAP_FORM_* of `conflict`, or NULL */
} certmap_decision_t;

/* `p` is for what a decision from an index needs: the "file:line"
 * source strings (allocated only on a hit).  The account of a decision
 * from an index points into the index's mapping: copy what you keep
 * beyond the life of the index.  Tables without an index never use `p`
 * (it may then be NULL). */
void certmap_decide(const certmap_table_t *const *tables, int ntables,
                    const certmap_cert_t *cert, apr_pool_t *p,
                    certmap_decision_t *out);

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_H */
