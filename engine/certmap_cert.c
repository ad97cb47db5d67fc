/*
 * certmap_cert.c - certificates and the ways an administrator names one.
 */
#include "certmap.h"
#include "certmap_internal.h"

#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Windows' certificate dialog copies an invisible U+200E LEFT-TO-RIGHT
 * MARK (UTF-8 E2 80 8E) with a thumbprint; it is skipped wherever it is. */
#define LEFT_TO_RIGHT_MARK "\xe2\x80\x8e"

/* A configured certificate file larger than this is not a certificate. */
#define CERTMAP_CERT_FILE_MAX (1024 * 1024)

/* 0 when the time does not parse: the caller must not guess a date. */
static int asn1_time_to_apr(const ASN1_TIME *t, apr_time_t *out)
{
    struct tm tm;

    if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
        ERR_clear_error();
        return 0;
    }
    /* ASN1_TIME_to_tm gives UTC; timegm avoids the local zone. */
    *out = apr_time_from_sec(timegm(&tm));
    return 1;
}

static const char *name_to_text(apr_pool_t *p, const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    long len;
    const char *text;

    if (bio == NULL) {
        return "";
    }
    /* RFC 2253 flags escape control characters and the DN specials, so
     * the text is safe for a log line. */
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    len = BIO_get_mem_data(bio, &data);
    text = apr_pstrmemdup(p, data, len > 0 ? (apr_size_t)len : 0);
    BIO_free(bio);
    return text;
}

/* ------------------------------------------------------------------ */
/* Renewal-proof and Active Directory strong forms                     */

/* 1 when the n bytes are valid UTF-8 without NUL, another C0 control
 * character or DEL. */
static int utf8_printable(const unsigned char *s, apr_size_t n)
{
    apr_size_t i = 0;

    while (i < n) {
        unsigned long cp;
        apr_size_t len = certmap_utf8_sequence(s + i, n - i, &cp);

        if (len == 0 || cp < 0x20 || cp == 0x7f) {
            return 0;
        }
        i += len;
    }
    return 1;
}

/* Attribute names as Windows writes them in altSecurityIdentities
 * (CertNameToStr with CERT_X500_NAME_STR): the keys Microsoft documents
 * for CertStrToName plus SERIALNUMBER and PostalCode, which Windows also
 * prints.  Any other attribute is written OID.n.n.n (e.g. the UID of PIV
 * certificates, OID.0.9.2342.19200300.100.1.1). */
typedef struct ad_attr_t {
    const char *name;
    const char *oid;
} ad_attr_t;

static const ad_attr_t ad_names[] = {
    {"CN", "2.5.4.3"},
    {"L", "2.5.4.7"},
    {"O", "2.5.4.10"},
    {"OU", "2.5.4.11"},
    {"E", "1.2.840.113549.1.9.1"},
    {"C", "2.5.4.6"},
    {"S", "2.5.4.8"},
    {"STREET", "2.5.4.9"},
    {"T", "2.5.4.12"},
    {"G", "2.5.4.42"},
    {"I", "2.5.4.43"},
    {"SN", "2.5.4.4"},
    {"DC", "0.9.2342.19200300.100.1.25"},
    {"SERIALNUMBER", "2.5.4.5"},
    {"PostalCode", "2.5.4.17"},
};

/* Other spellings accepted in a configured issuer (Windows' second
 * spellings, OpenSSL's and RFC 4514's); they are rewritten to the name
 * above, or to OID.n.n.n. */
static const ad_attr_t ad_aliases[] = {
    {"Email", "1.2.840.113549.1.9.1"},
    {"emailAddress", "1.2.840.113549.1.9.1"},
    {"ST", "2.5.4.8"},
    {"Title", "2.5.4.12"},
    {"GivenName", "2.5.4.42"},
    {"GN", "2.5.4.42"},
    {"Initials", "2.5.4.43"},
    {"UID", "0.9.2342.19200300.100.1.1"},
    {"Description", "2.5.4.13"},
    {"POBox", "2.5.4.18"},
    {"Phone", "2.5.4.20"},
    {"X21Address", "2.5.4.24"},
    {"dnQualifier", "2.5.4.46"},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The name Windows writes for a dotted OID. */
static const char *ad_name_of_oid(apr_pool_t *p, const char *oid)
{
    apr_size_t i;

    for (i = 0; i < COUNT_OF(ad_names); i++) {
        if (strcmp(ad_names[i].oid, oid) == 0) {
            return ad_names[i].name;
        }
    }
    return apr_pstrcat(p, "OID.", oid, NULL);
}

/* 1 when s (n bytes) is a dotted OID: two or more arcs of digits, no
 * leading zeros, first arc 0, 1 or 2. */
static int is_dotted_oid(const char *s, apr_size_t n)
{
    apr_size_t i, arc_start = 0;
    int arcs = 0;

    if (n == 0 || n > 100) {
        return 0;
    }
    for (i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            apr_size_t len = i - arc_start;

            if (len == 0 || (len > 1 && s[arc_start] == '0')) {
                return 0;
            }
            arcs++;
            arc_start = i + 1;
        }
        else if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return arcs >= 2 && s[0] >= '0' && s[0] <= '2' && (n == 1 || s[1] == '.');
}

/* The Windows spelling of an attribute name given in a configured issuer
 * (n bytes at s), or NULL when it is not one. */
static const char *ad_canonical_type(apr_pool_t *p, const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < COUNT_OF(ad_names); i++) {
        if (strlen(ad_names[i].name) == n
            && strncasecmp(ad_names[i].name, s, n) == 0) {
            return ad_names[i].name;
        }
    }
    for (i = 0; i < COUNT_OF(ad_aliases); i++) {
        if (strlen(ad_aliases[i].name) == n
            && strncasecmp(ad_aliases[i].name, s, n) == 0) {
            return ad_name_of_oid(p, ad_aliases[i].oid);
        }
    }
    if (n > 4 && strncasecmp(s, "OID.", 4) == 0) {
        s += 4;
        n -= 4;
    }
    if (is_dotted_oid(s, n)) {
        return ad_name_of_oid(p, apr_pstrmemdup(p, s, n));
    }
    return NULL;
}

/* A value as Windows writes it: in double quotes, inner ones doubled,
 * when it is empty, starts or ends with a blank or holds , + = " \n < >
 * # ; (CertNameToStr's rules). */
static const char *ad_quote_value(apr_pool_t *p, const char *v)
{
    apr_size_t n = strlen(v);
    char *out, *o;

    if (n > 0 && v[0] != ' ' && v[n - 1] != ' '
        && strpbrk(v, ",+=\"\n<>#;") == NULL) {
        return v;
    }
    out = o = apr_palloc(p, 2 * n + 3);
    *o++ = '"';
    for (; *v; v++) {
        if (*v == '"') {
            *o++ = '"';
        }
        *o++ = *v;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static int is_character_string(int type)
{
    switch (type) {
    case V_ASN1_UTF8STRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_IA5STRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_UNIVERSALSTRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_NUMERICSTRING:
        return 1;
    default:
        return 0;
    }
}

/* One name attribute's value as UTF-8 text, or NULL. */
static const char *name_value_text(apr_pool_t *p, const ASN1_STRING *data)
{
    unsigned char *utf8 = NULL;
    int len;
    const char *text;

    if (!is_character_string(ASN1_STRING_type(data))) {
        return NULL;
    }
    /* Windows reads a T61String as UTF-8 when it is valid UTF-8, as
     * Microsoft's own CAs write them; OpenSSL would read Latin-1. */
    if (ASN1_STRING_type(data) == V_ASN1_T61STRING
        && utf8_printable(ASN1_STRING_get0_data(data),
                          (apr_size_t)ASN1_STRING_length(data))) {
        return apr_pstrmemdup(p, (const char *)ASN1_STRING_get0_data(data),
                              (apr_size_t)ASN1_STRING_length(data));
    }
    len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) {
        ERR_clear_error();
        return NULL;
    }
    text = utf8_printable(utf8, (apr_size_t)len)
               ? apr_pstrmemdup(p, (const char *)utf8, (apr_size_t)len)
               : NULL;
    OPENSSL_free(utf8);
    return text;
}

/* The issuer as AD's X509:<I> writes it (see certmap.h), or NULL. */
static const char *issuer_to_ad(apr_pool_t *p, const X509_NAME *name)
{
    int i, n = X509_NAME_entry_count(name), prev_set = -1;
    apr_array_header_t *parts;

    if (n <= 0) {
        return NULL;
    }
    parts = apr_array_make(p, 4 * n, sizeof(const char *));
    for (i = 0; i < n; i++) {
        const X509_NAME_ENTRY *ent = X509_NAME_get_entry(name, i);
        int set = X509_NAME_ENTRY_set(ent);
        char oid[128];
        int oid_len;
        const char *value;

        oid_len = OBJ_obj2txt(oid, (int)sizeof(oid),
                              X509_NAME_ENTRY_get_object(ent), 1);
        if (oid_len <= 0 || oid_len >= (int)sizeof(oid)) {
            ERR_clear_error();
            return NULL;
        }
        value = name_value_text(p, X509_NAME_ENTRY_get_data(ent));
        if (value == NULL) {
            return NULL;
        }
        if (i > 0) {
            /* Windows' "no plus" spelling: a blank between the values of
             * one multi-valued RDN, a comma between RDNs. */
            APR_ARRAY_PUSH(parts, const char *) = set == prev_set ? " " : ",";
        }
        APR_ARRAY_PUSH(parts, const char *) = ad_name_of_oid(p, oid);
        APR_ARRAY_PUSH(parts, const char *) = "=";
        APR_ARRAY_PUSH(parts, const char *) = ad_quote_value(p, value);
        prev_set = set;
    }
    return apr_array_pstrcat(p, parts, 0);
}

/* The serial number as AD writes it after <SR>.  Microsoft's definition
 * is CryptoAPI's CERT_INFO.SerialNumber: the DER INTEGER's content bytes
 * in little-endian order, a leading 00 sign byte included (.NET shows
 * such serials as "00A041..."); KB5014754's example turns the serial
 * 2B0000000011AC0000000012 into 1200000000AC11000000002B.  OpenSSL only
 * accepts minimally encoded serials, so re-encoding gives the
 * certificate's own bytes. */
static void serial_to_ad(apr_pool_t *p, X509 *x, certmap_cert_t *cert)
{
    unsigned char *der = NULL;
    const unsigned char *q;
    long clen;
    int len, tag, xclass, ret;

    len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
    if (len <= 0) {
        ERR_clear_error();
        return;
    }
    q = der;
    ret = ASN1_get_object(&q, &clen, &tag, &xclass, len);
    if (!(ret & 0x80) && tag == V_ASN1_INTEGER && xclass == 0 && clen > 0
        && clen <= CERTMAP_SERIAL_MAX && q + clen == der + len) {
        unsigned char *r = apr_palloc(p, (apr_size_t)clen);
        long i;

        for (i = 0; i < clen; i++) {
            r[i] = q[clen - 1 - i];
        }
        cert->serial_ad = r;
        cert->serial_ad_len = (apr_size_t)clen;
    }
    OPENSSL_free(der);
    ERR_clear_error();
}

/* The SubjectKeyIdentifier, when there is exactly one well-formed one. */
static void ski_of(apr_pool_t *p, X509 *x, certmap_cert_t *cert)
{
    int crit = 0;
    ASN1_OCTET_STRING *ski =
        X509_get_ext_d2i(x, NID_subject_key_identifier, &crit, NULL);

    if (ski != NULL) {
        int n = ASN1_STRING_length(ski);

        if (n > 0 && n <= CERTMAP_SKI_MAX) {
            cert->ski = apr_pmemdup(p, ASN1_STRING_get0_data(ski), n);
            cert->ski_len = (apr_size_t)n;
        }
        ASN1_OCTET_STRING_free(ski);
    }
    ERR_clear_error();
}

/* Every Microsoft UPN in the SubjectAlternativeName extension(s). */
static apr_array_header_t *upns_of(apr_pool_t *p, X509 *x)
{
    apr_array_header_t *upns = apr_array_make(p, 1, sizeof(const char *));
    int idx = -1;

    for (;;) {
        int crit = -1, i;
        GENERAL_NAMES *names =
            X509_get_ext_d2i(x, NID_subject_alt_name, &crit, &idx);

        if (names == NULL) {
            ERR_clear_error();
            if (crit == -1 || idx < 0) {
                break; /* no further extension */
            }
            continue; /* one that does not decode: skip it */
        }
        for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
            const ASN1_TYPE *v;

            if (gn->type != GEN_OTHERNAME || gn->d.otherName == NULL
                || OBJ_obj2nid(gn->d.otherName->type_id) != NID_ms_upn) {
                continue;
            }
            v = gn->d.otherName->value;
            if (v == NULL || v->type != V_ASN1_UTF8STRING
                || v->value.utf8string == NULL
                || !utf8_printable(
                    ASN1_STRING_get0_data(v->value.utf8string),
                    (apr_size_t)ASN1_STRING_length(v->value.utf8string))) {
                continue;
            }
            APR_ARRAY_PUSH(upns, const char *) = apr_pstrmemdup(
                p, (const char *)ASN1_STRING_get0_data(v->value.utf8string),
                (apr_size_t)ASN1_STRING_length(v->value.utf8string));
        }
        GENERAL_NAMES_free(names);
    }
    return upns;
}

/* The key forms of a certificate.
 *
 * X509:<SHA1-PUKEY> is taken as [MS-PKCA] 3.1.5.2.1.3 defines it, "SHA1
 * hash of public key", over the subjectPublicKey BIT STRING's contents:
 * the bytes CryptoAPI calls the public key (CERT_PUBLIC_KEY_INFO.PublicKey,
 * which it also hashes for CERT_SUBJECT_PUBLIC_KEY_MD5_HASH_PROP_ID), and
 * RFC 5280's method-1 key identifier.  Microsoft's Entra tooling
 * (Get-EntraUserCertificateUserIdsFromCertificate) writes the
 * certificate's SHA-1 thumbprint under that tag instead; that value
 * names one certificate and is what sha1: already means, and accepting
 * both readings would make one configured string mean two things.  With
 * the public-key reading the form survives a renewal with the same key,
 * which is what a "public key" mapping is for. */
static const char *cert_key_forms(apr_pool_t *p, X509 *x, certmap_cert_t *cert)
{
    unsigned char *der = NULL;
    int len;
    const ASN1_BIT_STRING *bits;

    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    if (len <= 0
        || !EVP_Digest(der, (size_t)len, cert->spki_sha256, NULL, EVP_sha256(),
                       NULL)) {
        OPENSSL_free(der);
        ERR_clear_error();
        return "has a public key that cannot be encoded";
    }
    OPENSSL_free(der);
    bits = X509_get0_pubkey_bitstr(x);
    if (bits == NULL
        || !EVP_Digest(ASN1_STRING_get0_data(bits),
                       (size_t)ASN1_STRING_length(bits), cert->pukey_sha1, NULL,
                       EVP_sha1(), NULL)) {
        ERR_clear_error();
        return "has a public key that cannot be read";
    }
    ski_of(p, x, cert);
    cert->issuer_ad = issuer_to_ad(p, X509_get_issuer_name(x));
    serial_to_ad(p, x, cert);
    cert->upns = upns_of(p, x);
    ERR_clear_error();
    return NULL;
}

/* Fill a certmap_cert_t from an X509 (which the caller frees).  Errors
 * are predicates, like those of certmap_cert_from_bytes(). */
static const char *cert_from_x509(apr_pool_t *p, X509 *x, certmap_cert_t **out)
{
    certmap_cert_t *cert = apr_pcalloc(p, sizeof(*cert));
    unsigned int n = 0;
    const char *err;

    if (!X509_digest(x, EVP_sha256(), cert->sha256, &n)
        || n != CERTMAP_SHA256_LEN
        || !X509_digest(x, EVP_sha1(), cert->sha1, &n)
        || n != CERTMAP_SHA1_LEN) {
        return "could not be fingerprinted";
    }
    if (!asn1_time_to_apr(X509_get0_notBefore(x), &cert->not_before)
        || !asn1_time_to_apr(X509_get0_notAfter(x), &cert->not_after)) {
        return "has validity dates that do not parse";
    }
    cert->subject = name_to_text(p, X509_get_subject_name(x));
    err = cert_key_forms(p, x, cert);
    if (err != NULL) {
        return err;
    }
    {
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);

        if (len <= 0) {
            ERR_clear_error();
            return "could not be encoded";
        }
        cert->der = apr_pmemdup(p, der, len);
        cert->der_len = (apr_size_t)len;
        OPENSSL_free(der);
    }
    *out = cert;
    return NULL;
}

const char *certmap_cert_from_x509(apr_pool_t *p, struct x509_st *x,
                                   certmap_cert_t **cert)
{
    const char *err = cert_from_x509(p, x, cert);

    return err ? apr_pstrcat(p, "the certificate ", err, NULL) : NULL;
}

const char *certmap_cert_from_pem(apr_pool_t *p, const char *pem,
                                  apr_size_t len, certmap_cert_t **cert)
{
    BIO *bio;
    X509 *x;
    const char *err;

    if (pem == NULL || len == 0 || len > CERTMAP_CERT_FILE_MAX) {
        return "no certificate";
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return "out of memory";
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (x == NULL) {
        /* Leave no error behind in this thread's queue for mod_ssl. */
        ERR_clear_error();
        return "the certificate is not valid PEM";
    }
    err = cert_from_x509(p, x, cert);
    X509_free(x);
    return err ? apr_pstrcat(p, "the certificate ", err, NULL) : NULL;
}

static int is_private_key_label(const char *name)
{
    return strstr(name, "PRIVATE KEY") != NULL;
}

static int is_certificate_label(const char *name)
{
    return strcmp(name, "CERTIFICATE") == 0
           || strcmp(name, "X509 CERTIFICATE") == 0
           || strcmp(name, "TRUSTED CERTIFICATE") == 0;
}

/* Count the "-----BEGIN LABEL-----" lines, and those of private keys, in
 * the raw text: a key block must be refused even when it does not
 * decode. */
static void count_pem_labels(const unsigned char *data, apr_size_t len,
                             int *labels, int *keys)
{
    const unsigned char *s = data, *end = data + len;

    *labels = *keys = 0;
    while ((s = memmem(s, end - s, "-----BEGIN ", 11)) != NULL) {
        const unsigned char *eol = memchr(s, '\n', end - s);
        apr_size_t n = (eol ? eol : end) - s;

        (*labels)++;
        if (memmem(s, n, "PRIVATE KEY", 11) != NULL) {
            (*keys)++;
        }
        s += 11;
    }
}

static const char *cert_from_pem_blocks(apr_pool_t *p,
                                        const unsigned char *data,
                                        apr_size_t len, certmap_cert_t **out)
{
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    int certs = 0, keys = 0, blocks = 0, labels, key_labels;
    X509 *x = NULL;
    const char *err = NULL;

    if (bio == NULL) {
        return "out of memory";
    }
    count_pem_labels(data, len, &labels, &key_labels);
    while (PEM_read_bio(bio, &name, &header, &der, &der_len)) {
        blocks++;
        if (is_private_key_label(name)) {
            keys++;
        }
        else if (is_certificate_label(name)) {
            certs++;
            if (x == NULL) {
                const unsigned char *q = der;
                /* TRUSTED CERTIFICATE carries trust settings after the
                 * certificate; d2i_X509_AUX reads both. */
                x = strcmp(name, "TRUSTED CERTIFICATE") == 0
                        ? d2i_X509_AUX(NULL, &q, der_len)
                        : d2i_X509(NULL, &q, der_len);
                if (x == NULL) {
                    err = "holds a CERTIFICATE block that does not decode";
                }
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        name = header = NULL;
        der = NULL;
    }
    BIO_free(bio);
    ERR_clear_error();

    if (keys > 0 || key_labels > 0) {
        err = "holds a private key; only the public certificate belongs "
              "in the configuration (export it without the key, e.g. as "
              "a .cer file)";
    }
    else if (err != NULL) {
        /* keep it */
    }
    else if (blocks != labels) {
        err = "holds a damaged PEM block (a BEGIN line without a matching, "
              "decodable END)";
    }
    else if (certs == 0) {
        err = blocks ? "holds no certificate (only other PEM blocks)"
                     : "holds no certificate: the PEM block is damaged";
    }
    else if (certs > 1) {
        err = apr_psprintf(p,
                           "holds %d certificates; give exactly one "
                           "certificate per file",
                           certs);
    }
    else {
        err = cert_from_x509(p, x, out);
    }
    X509_free(x);
    return err;
}

static const char *cert_from_der(apr_pool_t *p, const unsigned char *data,
                                 apr_size_t len, certmap_cert_t **out)
{
    const unsigned char *q = data;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    const char *err;

    if (x != NULL && q == data + len) {
        err = cert_from_x509(p, x, out);
        X509_free(x);
        return err;
    }
    if (x != NULL) {
        X509_free(x);
        return "holds data after the certificate; give exactly one "
               "certificate per file";
    }
    ERR_clear_error();
    q = data;
    {
        PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)len);
        if (p12 != NULL) {
            PKCS12_free(p12);
            ERR_clear_error();
            return "is a PKCS#12 (.pfx/.p12) bundle, which carries a private "
                   "key; only the public certificate belongs in the "
                   "configuration (export it as a .cer file)";
        }
    }
    q = data;
    {
        EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &q, (long)len);
        if (key != NULL) {
            EVP_PKEY_free(key);
            ERR_clear_error();
            return "holds a private key; only the public certificate "
                   "belongs in the configuration";
        }
    }
    ERR_clear_error();
    return "is not a certificate (neither PEM nor DER X.509)";
}

const char *certmap_cert_from_bytes(apr_pool_t *p, const unsigned char *data,
                                    apr_size_t len, certmap_cert_t **cert)
{
    if (len == 0) {
        return "is empty";
    }
    if (len > CERTMAP_CERT_FILE_MAX) {
        return "is too large to be a certificate";
    }
    /* PEM is text with "-----BEGIN"; anything else is tried as DER. */
    if (memmem(data, len, "-----BEGIN", 10) != NULL) {
        return cert_from_pem_blocks(p, data, len, cert);
    }
    return cert_from_der(p, data, len, cert);
}

const char *certmap_cert_load_file(apr_pool_t *p, const char *path,
                                   certmap_cert_t **cert)
{
    apr_file_t *f;
    apr_finfo_t finfo;
    apr_status_t rv;
    unsigned char *buf;
    apr_size_t len;
    const char *err;
    char ebuf[128];

    rv = apr_file_open(&f, path, APR_READ | APR_BINARY | APR_FOPEN_NONBLOCK,
                       APR_OS_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read certificate file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && finfo.filetype != APR_REG) {
        apr_file_close(f);
        return apr_psprintf(p, "certificate file %s is not a regular file",
                            path);
    }
    if (rv != APR_SUCCESS || finfo.size > CERTMAP_CERT_FILE_MAX) {
        apr_file_close(f);
        return apr_psprintf(p,
                            "certificate file %s is too large to be "
                            "a certificate",
                            path);
    }
    len = (apr_size_t)finfo.size;
    buf = apr_palloc(p, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "cannot read certificate file %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    err = certmap_cert_from_bytes(p, buf, len, cert);
    if (err != NULL) {
        return apr_psprintf(p, "certificate file %s %s", path, err);
    }
    return NULL;
}

int certmap_cert_out_of_date(const certmap_cert_t *cert, apr_time_t now)
{
    return now < cert->not_before || now > cert->not_after;
}

const char *certmap_hex(apr_pool_t *p, const unsigned char *d, apr_size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = apr_palloc(p, 2 * n + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        s[2 * i] = digits[d[i] >> 4];
        s[2 * i + 1] = digits[d[i] & 0x0f];
    }
    s[2 * n] = '\0';
    return s;
}

/* ------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decode hex digits, skipping ':' and ' ' separators and U+200E, into
 * out (the first `max` bytes are kept).  Returns the number of hex
 * digits seen, or -1 with *bad set to the first other byte. */
static long hex_decode(const char *hex, unsigned char *out, apr_size_t max,
                       unsigned char *bad)
{
    apr_size_t digits = 0;
    const char *s;

    for (s = hex; *s; s++) {
        int v;
        if (*s == ':' || *s == ' ') {
            continue;
        }
        if (strncmp(s, LEFT_TO_RIGHT_MARK, 3) == 0) {
            s += 2;
            continue;
        }
        v = hex_value(*s);
        if (v < 0) {
            *bad = (unsigned char)*s;
            return -1;
        }
        if (digits < 2 * max) {
            if (digits % 2 == 0) {
                out[digits / 2] = (unsigned char)(v << 4);
            }
            else {
                out[digits / 2] |= (unsigned char)v;
            }
        }
        digits++;
    }
    return (long)digits;
}

/* "WHAT has a character that is not a hex digit ..." */
static const char *not_hex(apr_pool_t *p, const char *what, unsigned char c)
{
    if (c < 0x20 || c >= 0x7f) {
        return apr_psprintf(p,
                            "%s has a character that is not a hex digit "
                            "(byte 0x%02x)",
                            what, c);
    }
    return apr_psprintf(p, "%s has a character that is not a hex digit: '%c'",
                        what, c);
}

/* Decode hex with optional ':' or ' ' separators into exactly `want`
 * bytes. */
static const char *parse_hex_digest(apr_pool_t *p, const char *hex,
                                    const char *form, unsigned char *out,
                                    apr_size_t want)
{
    unsigned char bad = 0;
    long digits = hex_decode(hex, out, want, &bad);

    if (digits < 0) {
        return not_hex(p, apr_pstrcat(p, form, " fingerprint", NULL), bad);
    }
    if ((apr_size_t)digits != 2 * want) {
        return apr_psprintf(p,
                            "%s fingerprint must have %d hex digits, not %ld",
                            form, (int)(2 * want), digits);
    }
    return NULL;
}

/* Decode hex with optional ':' or ' ' separators (and U+200E) into at
 * most `max` bytes; `what` starts the error sentences. */
static const char *parse_hex_bytes(apr_pool_t *p, const char *hex,
                                   const char *what, apr_size_t max,
                                   const unsigned char **out,
                                   apr_size_t *out_len)
{
    unsigned char *buf = apr_palloc(p, max), bad = 0;
    long digits = hex_decode(hex, buf, max, &bad);

    if (digits < 0) {
        return not_hex(p, what, bad);
    }
    if (digits == 0) {
        return apr_psprintf(p, "%s has no hex digits", what);
    }
    if (digits % 2 != 0) {
        return apr_psprintf(p,
                            "%s needs an even number of hex digits (whole "
                            "bytes), not %ld",
                            what, digits);
    }
    if ((apr_size_t)digits > 2 * max) {
        return apr_psprintf(p, "%s is longer than %d bytes", what, (int)max);
    }
    *out = buf;
    *out_len = (apr_size_t)digits / 2;
    return NULL;
}

/* Up to 24 bytes of s for an error message, control bytes as '?'. */
static const char *excerpt(apr_pool_t *p, const char *s, apr_size_t n)
{
    char *e;
    apr_size_t i;

    if (n > 24) {
        n = 24;
    }
    e = apr_pstrmemdup(p, s, n);
    for (i = 0; i < n; i++) {
        if ((unsigned char)e[i] < 0x20 || e[i] == 0x7f) {
            e[i] = '?';
        }
    }
    return n == 24 ? apr_pstrcat(p, e, "...", NULL) : e;
}

static int is_type_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* At s[i], blanks then "TYPE =" with a TYPE Windows writes: where the
 * next value of a multi-valued RDN starts in Windows' spelling, which
 * separates them by a blank instead of '+'. */
static int next_attribute_starts(apr_pool_t *p, const char *s, apr_size_t i,
                                 apr_size_t len)
{
    apr_size_t start;

    while (i < len && s[i] == ' ') {
        i++;
    }
    start = i;
    while (i < len && is_type_char(s[i])) {
        i++;
    }
    if (i == start) {
        return 0;
    }
    if (ad_canonical_type(p, s + start, i - start) == NULL) {
        return 0;
    }
    while (i < len && s[i] == ' ') {
        i++;
    }
    return i < len && s[i] == '=';
}

#define ISSUER_HINT                                                            \
    "; write the issuer as altSecurityIdentities holds it, e.g. "              \
    "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>1200000000AC11000000002B"

/* Parse the issuer DN of an X509:<I> value (len bytes at s), as Windows
 * writes it (CertNameToStr: RDNs separated by ',' or ';', multi-valued
 * ones by '+' or a blank, values in double quotes with "" for a quote;
 * a backslash is an ordinary character), into the spelling of
 * certmap_cert_t.issuer_ad. */
static const char *ad_dn_parse(apr_pool_t *p, const char *s, apr_size_t len,
                               const char **out)
{
    apr_array_header_t *parts = apr_array_make(p, 16, sizeof(const char *));
    apr_size_t i = 0;
    int first = 1, new_rdn = 1;

    while (i < len && s[i] == ' ') {
        i++;
    }
    if (i == len) {
        return "X509:<I> has an empty issuer name" ISSUER_HINT;
    }
    for (;;) {
        apr_size_t start;
        const char *type, *value;

        /* TYPE = */
        while (i < len && s[i] == ' ') {
            i++;
        }
        start = i;
        while (i < len && is_type_char(s[i])) {
            i++;
        }
        if (i == start) {
            return apr_psprintf(p,
                                "X509:<I> issuer: expected an attribute "
                                "name such as CN= at \"%s\"%s",
                                excerpt(p, s + start, len - start),
                                ISSUER_HINT);
        }
        {
            apr_size_t type_end = i;

            while (i < len && s[i] == ' ') {
                i++;
            }
            if (i == len || s[i] != '=') {
                return apr_psprintf(p,
                                    "X509:<I> issuer: expected '=' after "
                                    "the attribute name %s (a value with "
                                    "blanks after a quoted part must be "
                                    "quoted as a whole)",
                                    excerpt(p, s + start, type_end - start));
            }
            type = ad_canonical_type(p, s + start, type_end - start);
            if (type == NULL) {
                return apr_psprintf(p,
                                    "X509:<I> issuer: '%s' is not an "
                                    "attribute name Windows writes (CN, O, "
                                    "OU, DC, C, L, S, E, STREET, T, G, I, "
                                    "SN, SERIALNUMBER or OID.n.n.n)",
                                    excerpt(p, s + start, type_end - start));
            }
        }
        i++;
        while (i < len && s[i] == ' ') {
            i++;
        }

        /* value */
        if (i < len && s[i] == '"') {
            char *v = apr_palloc(p, len - i + 1), *o = v;

            for (i++;; i++) {
                if (i == len) {
                    return apr_psprintf(p,
                                        "X509:<I> issuer: the quoted value "
                                        "of %s is not closed",
                                        type);
                }
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') {
                        *o++ = '"';
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                *o++ = s[i];
            }
            *o = '\0';
            value = v;
            if (strlen(value) != (apr_size_t)(o - v)) {
                return "X509:<I> issuer: a value contains a NUL byte";
            }
        }
        else {
            apr_size_t end;

            start = i;
            while (i < len && s[i] != ',' && s[i] != ';' && s[i] != '+'
                   && !(s[i] == ' ' && next_attribute_starts(p, s, i, len))) {
                i++;
            }
            end = i;
            while (end > start && s[end - 1] == ' ') {
                end--;
            }
            value = apr_pstrmemdup(p, s + start, end - start);
            if (end == start) {
                return apr_psprintf(p,
                                    "X509:<I> issuer: %s has no value (an "
                                    "empty value is written %s=\"\")",
                                    type, type);
            }
            if (strpbrk(value, "=\"<>#") != NULL) {
                return apr_psprintf(p,
                                    "X509:<I> issuer: the value of %s holds "
                                    "one of = \" < > # and must be in double "
                                    "quotes, as Windows writes it: "
                                    "%s=\"...\"",
                                    type, type);
            }
        }
        if (!utf8_printable((const unsigned char *)value, strlen(value))) {
            return apr_psprintf(p,
                                "X509:<I> issuer: the value of %s is not "
                                "valid UTF-8 or holds a control character",
                                type);
        }
        if (!first) {
            APR_ARRAY_PUSH(parts, const char *) = new_rdn ? "," : " ";
        }
        APR_ARRAY_PUSH(parts, const char *) = type;
        APR_ARRAY_PUSH(parts, const char *) = "=";
        APR_ARRAY_PUSH(parts, const char *) = ad_quote_value(p, value);
        first = 0;

        /* separator */
        while (i < len && s[i] == ' ') {
            i++;
        }
        if (i == len) {
            break;
        }
        if (s[i] == ',' || s[i] == ';' || s[i] == '+') {
            new_rdn = s[i] != '+';
            i++;
            while (i < len && s[i] == ' ') {
                i++;
            }
            if (i == len) {
                return "X509:<I> issuer: the name ends with a separator";
            }
        }
        else {
            /* A blank-separated next value of the same RDN (or junk that
             * the next round reports). */
            new_rdn = 0;
        }
    }
    *out = apr_array_pstrcat(p, parts, 0);
    return NULL;
}

/* Case-insensitive search for an ASCII tag in s, from the end. */
static const char *find_last_tag(const char *s, const char *tag)
{
    apr_size_t n = strlen(tag), len = strlen(s);
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

#define WEAK_FORM                                                              \
    " is a weak mapping that Microsoft no longer accepts (KB5014754): any "    \
    "certificate from a trusted CA that carries the same name would match; "   \
    "use X509:<I>...<SR>..., X509:<SKI>..., X509:<SHA1-PUKEY>..., "            \
    "spki-sha256: or a fingerprint"

/* X509:<...> as altSecurityIdentities holds it. */
static const char *parse_x509(apr_pool_t *p, const char *spec,
                              certmap_key_t *key)
{
    const char *s = spec + 5, *end, *err;
    apr_size_t n;

    if (*s == ' ' && strncasecmp(s + 1, "<RFC822>", 8) == 0) {
        return "X509:<RFC822> (an e-mail name)" WEAK_FORM;
    }
    if (*s != '<' || (end = strchr(s, '>')) == NULL) {
        return "X509: must be followed by a tag as in altSecurityIdentities: "
               "X509:<I>ISSUER<SR>SERIAL, X509:<SKI>HEX or "
               "X509:<SHA1-PUKEY>HEX";
    }
    if (end - s == 4 && strncasecmp(s, "<SKI>", 5) == 0) {
        key->type = CERTMAP_KEY_SKI;
        return parse_hex_bytes(p, end + 1, "X509:<SKI>", CERTMAP_SKI_MAX,
                               &key->bytes, &key->bytes_len);
    }
    if (end - s == 11 && strncasecmp(s, "<SHA1-PUKEY>", 12) == 0) {
        key->type = CERTMAP_KEY_SHA1_PUKEY;
        err = parse_hex_digest(p, end + 1, "X509:<SHA1-PUKEY>", key->digest,
                               CERTMAP_SHA1_LEN);
        return err;
    }
    if (end - s == 2 && strncasecmp(s, "<S>", 3) == 0) {
        return "X509:<S> (the subject alone)" WEAK_FORM;
    }
    if (end - s == 7 && strncasecmp(s, "<RFC822>", 8) == 0) {
        return "X509:<RFC822> (an e-mail name)" WEAK_FORM;
    }
    if (end - s == 3 && strncasecmp(s, "<PN>", 4) == 0) {
        return "X509:<PN> (a principal name, Entra's form)" WEAK_FORM;
    }
    if (end - s == 2 && strncasecmp(s, "<I>", 3) == 0) {
        const char *rest = end + 1, *sr = find_last_tag(rest, "<SR>");

        if (sr == NULL) {
            if (find_last_tag(rest, "<S>") != NULL) {
                return "X509:<I>...<S>... (issuer and subject)" WEAK_FORM;
            }
            if (find_last_tag(rest, "<SID>") != NULL) {
                return "X509:<I>...<SID>... (issuer and SID) is not "
                       "supported: mod_certmap does not read the SID "
                       "extension; use X509:<I>...<SR>...";
            }
            return "X509:<I> needs <SR> and the serial number after the "
                   "issuer name (X509:<I>ISSUER<SR>SERIAL); an issuer name "
                   "with blanks must be quoted as a whole, e.g. "
                   "\"X509:<I>DC=com,DC=contoso,CN=Contoso CA<SR>1200\"";
        }
        err = ad_dn_parse(p, rest, (apr_size_t)(sr - rest), &key->issuer);
        if (err != NULL) {
            return err;
        }
        key->type = CERTMAP_KEY_ISSUER_SERIAL;
        return parse_hex_bytes(p, sr + 4, "X509:<SR> (the serial number)",
                               CERTMAP_SERIAL_MAX, &key->bytes,
                               &key->bytes_len);
    }
    n = (apr_size_t)(end - s + 1);
    return apr_psprintf(p,
                        "X509:%s is not a form mod_certmap accepts; it takes "
                        "the strong altSecurityIdentities forms "
                        "X509:<I>ISSUER<SR>SERIAL, X509:<SKI>HEX and "
                        "X509:<SHA1-PUKEY>HEX",
                        excerpt(p, s, n));
}

static const char *key_parse(apr_pool_t *p, const char *spec,
                             const char *base_dir, certmap_key_t *key)
{
    const char *path;
    certmap_cert_t *cert;
    const char *err;

    memset(key, 0, sizeof(*key));
    if (spec == NULL || *spec == '\0') {
        return "the certificate is empty: give a file, sha256:HEX, "
               "sha1:HEX, spki-sha256:HEX or an X509: form";
    }
    if (strncmp(spec, LEFT_TO_RIGHT_MARK, 3) == 0) {
        spec += 3;
    }
    if (strncasecmp(spec, "sha256:", 7) == 0) {
        key->type = CERTMAP_KEY_SHA256;
        return parse_hex_digest(p, spec + 7, "sha256:", key->digest,
                                CERTMAP_SHA256_LEN);
    }
    if (strncasecmp(spec, "sha1:", 5) == 0) {
        key->type = CERTMAP_KEY_SHA1;
        return parse_hex_digest(p, spec + 5, "sha1:", key->digest,
                                CERTMAP_SHA1_LEN);
    }
    if (strncasecmp(spec, "spki-sha256:", 12) == 0) {
        key->type = CERTMAP_KEY_SPKI_SHA256;
        return parse_hex_digest(p, spec + 12, "spki-sha256:", key->digest,
                                CERTMAP_SHA256_LEN);
    }
    if (strncasecmp(spec, "X509:", 5) == 0) {
        return parse_x509(p, spec, key);
    }

    path = spec;
    if (base_dir != NULL && *base_dir != '\0') {
        char *merged;
        if (apr_filepath_merge(&merged, base_dir, spec, APR_FILEPATH_TRUENAME,
                               p)
            != APR_SUCCESS) {
            return apr_psprintf(p,
                                "cannot read certificate file %s: "
                                "invalid path",
                                spec);
        }
        path = merged;
    }
    err = certmap_cert_load_file(p, path, &cert);
    if (err != NULL) {
        return err;
    }
    key->type = CERTMAP_KEY_SHA256;
    memcpy(key->digest, cert->sha256, CERTMAP_SHA256_LEN);
    key->has_sha1 = 1;
    memcpy(key->sha1, cert->sha1, CERTMAP_SHA1_LEN);
    return NULL;
}

const char *certmap_key_parse(apr_pool_t *p, const char *spec,
                              const char *base_dir, certmap_key_t *key)
{
    const char *err = key_parse(p, spec, base_dir, key);

    if (err != NULL) {
        /* Leave no half-filled key behind. */
        memset(key, 0, sizeof(*key));
    }
    return err;
}

const char *certmap_key_form(const certmap_key_t *key)
{
    switch (key->type) {
    case CERTMAP_KEY_SHA256:
        return key->has_sha1 ? CERTMAP_FORM_FILE : CERTMAP_FORM_SHA256;
    case CERTMAP_KEY_SHA1:
        return CERTMAP_FORM_SHA1;
    case CERTMAP_KEY_SPKI_SHA256:
        return CERTMAP_FORM_SPKI_SHA256;
    case CERTMAP_KEY_ISSUER_SERIAL:
        return CERTMAP_FORM_ISSUER_SERIAL;
    case CERTMAP_KEY_SKI:
        return CERTMAP_FORM_SKI;
    case CERTMAP_KEY_SHA1_PUKEY:
        return CERTMAP_FORM_SHA1_PUKEY;
    }
    return "unknown";
}

const char *certmap_map_quote(apr_pool_t *p, const char *token)
{
    apr_size_t n = strlen(token);
    char *out, *o;

    if (n > 0 && strpbrk(token, " \t\"'") == NULL && token[0] != '#') {
        return token;
    }
    out = o = apr_palloc(p, 2 * n + 3);
    *o++ = '"';
    for (; *token; token++) {
        if (*token == '"') {
            *o++ = '"';
        }
        *o++ = *token;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *upper_hex(apr_pool_t *p, const unsigned char *d,
                             apr_size_t n)
{
    char *s = apr_pstrdup(p, certmap_hex(p, d, n));
    char *c;

    for (c = s; *c; c++) {
        if (*c >= 'a' && *c <= 'f') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    return s;
}

apr_array_header_t *certmap_cert_spec_forms(apr_pool_t *p,
                                            const certmap_cert_t *cert)
{
    apr_array_header_t *forms = apr_array_make(p, 6, sizeof(const char *));

    APR_ARRAY_PUSH(forms, const char *) = apr_pstrcat(
        p, "sha256:", certmap_hex(p, cert->sha256, CERTMAP_SHA256_LEN), NULL);
    APR_ARRAY_PUSH(forms, const char *) = apr_pstrcat(
        p, "sha1:", certmap_hex(p, cert->sha1, CERTMAP_SHA1_LEN), NULL);
    APR_ARRAY_PUSH(forms, const char *) = apr_pstrcat(
        p,
        "spki-sha256:", certmap_hex(p, cert->spki_sha256, CERTMAP_SHA256_LEN),
        NULL);
    if (cert->issuer_ad != NULL && cert->serial_ad != NULL) {
        /* Upper-case serial, as in Microsoft's examples. */
        APR_ARRAY_PUSH(forms, const char *) = apr_pstrcat(
            p, "X509:<I>", cert->issuer_ad, "<SR>",
            upper_hex(p, cert->serial_ad, cert->serial_ad_len), NULL);
    }
    if (cert->ski != NULL) {
        APR_ARRAY_PUSH(forms, const char *) = apr_pstrcat(
            p, "X509:<SKI>", certmap_hex(p, cert->ski, cert->ski_len), NULL);
    }
    APR_ARRAY_PUSH(forms, const char *) =
        apr_pstrcat(p, "X509:<SHA1-PUKEY>",
                    certmap_hex(p, cert->pukey_sha1, CERTMAP_SHA1_LEN), NULL);
    return forms;
}
