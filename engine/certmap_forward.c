/*
 * certmap_forward.c - header values for CertMapForward.
 *
 * Each format is what one kind of backend reads (see certmap_forward.h).
 * Everything is computed from the certificate's DER; the only text taken
 * from inside the certificate is the subject and the URI/DNS names that
 * the xfcc format carries, and those are escaped or dropped so that no
 * value ever holds a byte below 0x20 or 0x7f (CR, LF and NUL included).
 *
 * xfcc follows Envoy's X-Forwarded-Client-Cert, with two choices where
 * Envoy's documentation and its code disagree:
 *   - Chain holds the client's certificate followed by the chain it sent,
 *     as Envoy's code (and its documentation, "including the leaf")
 *     does.
 *   - Subject is escaped by the documented rule: always double-quoted,
 *     with '"' and '\' inside written as '\"' and '\\'.  Envoy's code
 *     quotes it without escaping, so a '"' in a DN (RFC 2253 writes it
 *     '\"') would end the value early for a parser; escaping it costs
 *     nothing for a DN without such characters, which is almost all.
 * URI= and DNS= values are quoted (and escaped the same way) when they
 * hold ',', ';', '=', '"', '\' or a space; the documented rule names the
 * first four, the other two are quoted so that a parser that trims or
 * unescapes unquoted values still reads the name as it is.  A URI or DNS
 * name that is empty or holds a byte outside 0x20-0x7e is not forwarded
 * (such a name is not a valid URI or host name; escaping it would hand the
 * backend a name no certificate holds).
 */
#include "certmap.h"
#include "certmap_forward.h"
#include "certmap_internal.h"

#include <string.h>
#include <apr_strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Far above any real certificate (and any header a backend accepts);
 * keeps every length safe to hand to OpenSSL as an int. */
#define FWD_DER_MAX (1024 * 1024)
#define FWD_PEM_MAX (2 * FWD_DER_MAX)

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
#define PEM_LINE 64

#define FORMAT_LIST "rfc9440, tomcat, pem, xfcc or arr"

static const char *const format_names[CERTMAP_FWD_FORMAT_COUNT] = {
    "rfc9440", "tomcat", "pem", "xfcc", "arr"};

static const char *const default_headers[CERTMAP_FWD_FORMAT_COUNT] = {
    "Client-Cert", "ssl_client_escaped_cert", "SSL_CLIENT_CERT",
    "X-Forwarded-Client-Cert", "X-ARR-ClientCert"};

/* DESIGN.md section 5.  No two entries fold alike: SSL_CLIENT_CERT (the
 * pem format's header) is the same header as ssl_client_cert once folded,
 * so it is listed once. */
const char *const certmap_fwd_scrub_family[] = {
    "Client-Cert",
    "Client-Cert-Chain",
    "X-Forwarded-Client-Cert",
    "ssl_client_cert",
    "ssl_client_escaped_cert",
    "X-ARR-ClientCert",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    NULL};

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive for ASCII letters only, whatever the locale. */
static int ascii_casecmp(const char *a, const char *b)
{
    while (*a && ascii_lower(*a) == ascii_lower(*b)) {
        a++;
        b++;
    }
    return (unsigned char)ascii_lower(*a) - (unsigned char)ascii_lower(*b);
}

/* A configured word for an error message: control bytes as \xNN, cut
 * after 64 bytes. */
static const char *printable(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s), i, max = n > 64 ? 64 : n;
    char *out = apr_palloc(p, 4 * max + 4), *o = out;

    for (i = 0; i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            o += apr_snprintf(o, 5, "\\x%02x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    if (max < n) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}

static const char *check_der(apr_pool_t *p, const certmap_der_t *der,
                             const char *what)
{
    if (der == NULL || der->data == NULL || der->len == 0) {
        return apr_pstrcat(p, what, " is empty", NULL);
    }
    if (der->len > FWD_DER_MAX) {
        return apr_pstrcat(p, what, " is too large to be a certificate", NULL);
    }
    return NULL;
}

/* Every element of `chain` checked; NULL or an error sentence. */
static const char *check_chain(apr_pool_t *p, const apr_array_header_t *chain)
{
    int i;

    if (chain == NULL || chain->nelts == 0) {
        return NULL;
    }
    if (chain->elt_size != (int)sizeof(certmap_der_t)) {
        return "the certificate chain is not an array of certmap_der_t";
    }
    for (i = 0; i < chain->nelts; i++) {
        const char *err =
            check_der(p, &APR_ARRAY_IDX(chain, i, certmap_der_t),
                      apr_psprintf(p, "certificate %d of the chain", i + 1));
        if (err != NULL) {
            return err;
        }
    }
    return NULL;
}

/* RFC 4648 section 4 base64 with padding, no line breaks. */
static char *base64(apr_pool_t *p, const certmap_der_t *der, apr_size_t *len)
{
    apr_size_t n = 4 * ((der->len + 2) / 3);
    char *out = apr_palloc(p, n + 1);

    /* Writes n characters and a NUL; der->len <= FWD_DER_MAX fits. */
    EVP_EncodeBlock((unsigned char *)out, der->data, (int)der->len);
    out[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return out;
}

/* PEM of one certificate with `sep` after the BEGIN line and after every
 * base64 line.  sep '\n' with final_sep gives the usual text (what
 * PEM_write_X509 writes); sep ' ' without it gives the one-line form. */
static char *pem_text(apr_pool_t *p, const certmap_der_t *der, char sep,
                      int final_sep)
{
    apr_size_t blen, lines, total, i;
    const char *b = base64(p, der, &blen);
    char *out, *o;

    lines = (blen + PEM_LINE - 1) / PEM_LINE;
    total = sizeof(PEM_BEGIN) - 1 + 1 + blen + lines + sizeof(PEM_END) - 1
            + (final_sep ? 1 : 0);
    out = o = apr_palloc(p, total + 1);
    memcpy(o, PEM_BEGIN, sizeof(PEM_BEGIN) - 1);
    o += sizeof(PEM_BEGIN) - 1;
    *o++ = sep;
    for (i = 0; i < blen; i += PEM_LINE) {
        apr_size_t n = blen - i < PEM_LINE ? blen - i : PEM_LINE;
        memcpy(o, b + i, n);
        o += n;
        *o++ = sep;
    }
    memcpy(o, PEM_END, sizeof(PEM_END) - 1);
    o += sizeof(PEM_END) - 1;
    if (final_sep) {
        *o++ = sep;
    }
    *o = '\0';
    return out;
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~';
}

/* Every byte outside RFC 3986's unreserved set as %XX (upper-case hex):
 * '+' too, which Tomcat's UDecoder (and Envoy's readers) do not take for
 * a space. */
static char *url_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *c;
    apr_size_t n = 0;
    char *out, *o;

    for (c = (const unsigned char *)s; *c; c++) {
        n += is_unreserved(*c) ? 1 : 3;
    }
    out = o = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (is_unreserved(*c)) {
            *o++ = (char)*c;
        }
        else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 0x0f];
        }
    }
    *o = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* xfcc                                                               */

/* OpenSSL's RFC 2253 text made safe: what OpenSSL left unescaped among
 * the characters certmap_char_forbidden() names, and any byte that is not valid UTF-8, becomes
 * RFC 4514 hex pairs (\XX per byte), which a DN parser reads back as the
 * same bytes. */
static char *escape_dn_text(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *c = (const unsigned char *)s, *end = c + len;
    char *out = apr_palloc(p, 3 * len + 1), *o = out;

    while (c < end) {
        unsigned long cp = 0;
        apr_size_t n = certmap_utf8_sequence(c, (apr_size_t)(end - c), &cp), i;
        int escape = n == 0 || certmap_char_forbidden(cp);

        if (n == 0) {
            n = 1;
        }
        for (i = 0; i < n; i++, c++) {
            if (escape) {
                *o++ = '\\';
                *o++ = hex[*c >> 4];
                *o++ = hex[*c & 0x0f];
            }
            else {
                *o++ = (char)*c;
            }
        }
    }
    *o = '\0';
    return out;
}

/* The subject as Envoy writes it: RFC 2253 with UTF-8 kept (OpenSSL's
 * XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB), then escape_dn_text().
 * A name OpenSSL cannot convert to UTF-8 (a UTF8String that is not UTF-8,
 * a BMPString holding half a surrogate pair) would be written with every
 * value as '#' and the hex of its DER, which RFC 2253 also allows; OpenSSL
 * 3.0 already refuses to parse a certificate holding such a name, so this
 * is only a safeguard.  "" when even that fails. */
static const char *subject_text(apr_pool_t *p, X509 *x)
{
    const X509_NAME *name = X509_get_subject_name(x);
    BIO *bio = BIO_new(BIO_s_mem());
    const char *text = "";
    char *data;
    long len;

    if (bio == NULL || name == NULL) {
        BIO_free(bio);
        return "";
    }
    if (X509_NAME_print_ex(bio, name, 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
        < 0) {
        (void)BIO_reset(bio);
        if (X509_NAME_print_ex(bio, name, 0,
                               XN_FLAG_RFC2253 | ASN1_STRFLGS_DUMP_ALL)
            < 0) {
            (void)BIO_reset(bio);
        }
    }
    len = BIO_get_mem_data(bio, &data);
    if (len > 0) {
        text = escape_dn_text(p, data, (apr_size_t)len);
    }
    BIO_free(bio);
    return text;
}

/* Envoy's documented quoting: "..." with '"' and '\' escaped. */
static const char *xfcc_quote(apr_pool_t *p, const char *v)
{
    apr_size_t n = 2;
    const char *c;
    char *out, *o;

    for (c = v; *c; c++) {
        n += (*c == '"' || *c == '\\') ? 2 : 1;
    }
    out = o = apr_palloc(p, n + 1);
    *o++ = '"';
    for (c = v; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
        }
        *o++ = *c;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *xfcc_value(apr_pool_t *p, const char *v)
{
    return strpbrk(v, ",;=\"\\ ") ? xfcc_quote(p, v) : v;
}

/* A URI or DNS name fit to forward: not empty, printable ASCII only. */
static const char *san_text(apr_pool_t *p, const ASN1_IA5STRING *s)
{
    const unsigned char *d = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s), i;

    if (d == NULL || n <= 0) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (d[i] < 0x20 || d[i] >= 0x7f) {
            return NULL;
        }
    }
    return apr_pstrmemdup(p, (const char *)d, (apr_size_t)n);
}

/* Push "KEY=value" for every SAN of `type` (GEN_URI, GEN_DNS). */
static void push_sans(apr_pool_t *p, apr_array_header_t *parts,
                      const GENERAL_NAMES *sans, int type, const char *key)
{
    int i;

    for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gen = sk_GENERAL_NAME_value(sans, i);
        const char *v;

        if (gen->type != type) {
            continue;
        }
        v = san_text(p, type == GEN_URI ? gen->d.uniformResourceIdentifier
                                        : gen->d.dNSName);
        if (v != NULL) {
            APR_ARRAY_PUSH(parts, const char *) =
                apr_pstrcat(p, key, "=", xfcc_value(p, v), NULL);
        }
    }
}

static const char *encode_xfcc(apr_pool_t *p, const certmap_der_t *leaf,
                               const apr_array_header_t *chain,
                               const char **value)
{
    const unsigned char *q = leaf->data;
    X509 *x = d2i_X509(NULL, &q, (long)leaf->len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    apr_array_header_t *parts, *pems;
    GENERAL_NAMES *sans;
    const char *subject;
    int i;

    if (x == NULL || q != leaf->data + leaf->len) {
        X509_free(x);
        ERR_clear_error();
        return "the client certificate is not a DER X.509 certificate";
    }
    if (!EVP_Digest(leaf->data, leaf->len, md, &md_len, EVP_sha256(), NULL)) {
        X509_free(x);
        ERR_clear_error();
        return "the client certificate could not be hashed (SHA-256)";
    }

    parts = apr_array_make(p, 8, sizeof(const char *));
    APR_ARRAY_PUSH(parts, const char *) =
        apr_pstrcat(p, "Hash=", certmap_hex(p, md, md_len), NULL);

    pems =
        apr_array_make(p, 1 + (chain ? chain->nelts : 0), sizeof(const char *));
    APR_ARRAY_PUSH(pems, const char *) = pem_text(p, leaf, '\n', 1);
    APR_ARRAY_PUSH(parts, const char *) = apr_pstrcat(
        p, "Cert=\"", url_escape(p, APR_ARRAY_IDX(pems, 0, const char *)), "\"",
        NULL);
    for (i = 0; chain != NULL && i < chain->nelts; i++) {
        APR_ARRAY_PUSH(pems, const char *) =
            pem_text(p, &APR_ARRAY_IDX(chain, i, certmap_der_t), '\n', 1);
    }
    APR_ARRAY_PUSH(parts, const char *) =
        apr_pstrcat(p, "Chain=\"", url_escape(p, apr_array_pstrcat(p, pems, 0)),
                    "\"", NULL);

    subject = subject_text(p, x);
    if (*subject != '\0') {
        APR_ARRAY_PUSH(parts, const char *) =
            apr_pstrcat(p, "Subject=", xfcc_quote(p, subject), NULL);
    }

    sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    push_sans(p, parts, sans, GEN_URI, "URI");
    push_sans(p, parts, sans, GEN_DNS, "DNS");
    GENERAL_NAMES_free(sans);
    X509_free(x);
    /* A missing or undecodable SAN extension leaves errors behind; the
     * queue is shared with mod_ssl in this thread. */
    ERR_clear_error();

    *value = apr_array_pstrcat(p, parts, ';');
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Public functions                                                   */

const char *certmap_fwd_format_parse(apr_pool_t *p, const char *name,
                                     certmap_fwd_format_e *format)
{
    int i;

    if (name == NULL || *name == '\0') {
        return "the forwarding format is empty; use " FORMAT_LIST;
    }
    for (i = 0; i < CERTMAP_FWD_FORMAT_COUNT; i++) {
        if (ascii_casecmp(name, format_names[i]) == 0) {
            *format = (certmap_fwd_format_e)i;
            return NULL;
        }
    }
    return apr_psprintf(p, "unknown format '%s'; use " FORMAT_LIST,
                        printable(p, name));
}

const char *certmap_fwd_format_name(certmap_fwd_format_e format)
{
    if ((int)format < 0 || format >= CERTMAP_FWD_FORMAT_COUNT) {
        return "unknown";
    }
    return format_names[format];
}

const char *certmap_fwd_default_header(certmap_fwd_format_e format)
{
    if ((int)format < 0 || format >= CERTMAP_FWD_FORMAT_COUNT) {
        return NULL;
    }
    return default_headers[format];
}

const char *certmap_fwd_encode(apr_pool_t *p, certmap_fwd_format_e format,
                               const certmap_der_t *leaf,
                               const apr_array_header_t *chain,
                               const char **value)
{
    const char *err;

    *value = NULL;
    err = check_der(p, leaf, "the client certificate");
    if (err != NULL) {
        return err;
    }
    switch (format) {
    case CERTMAP_FWD_RFC9440:
        *value = apr_pstrcat(p, ":", base64(p, leaf, NULL), ":", NULL);
        return NULL;
    case CERTMAP_FWD_TOMCAT:
        *value = url_escape(p, pem_text(p, leaf, '\n', 1));
        return NULL;
    case CERTMAP_FWD_PEM:
        *value = pem_text(p, leaf, ' ', 0);
        return NULL;
    case CERTMAP_FWD_XFCC:
        err = check_chain(p, chain);
        return err ? err : encode_xfcc(p, leaf, chain, value);
    case CERTMAP_FWD_ARR:
        *value = base64(p, leaf, NULL);
        return NULL;
    default:
        return "unknown forwarding format";
    }
}

const char *certmap_fwd_encode_chain(apr_pool_t *p,
                                     const apr_array_header_t *chain,
                                     const char **value)
{
    apr_array_header_t *items;
    const char *err;
    int i;

    *value = NULL;
    err = check_chain(p, chain);
    if (err != NULL || chain == NULL || chain->nelts == 0) {
        return err;
    }
    /* RFC 8941 section 4.1.1: List members joined by ", ". */
    items = apr_array_make(p, 2 * chain->nelts, sizeof(const char *));
    for (i = 0; i < chain->nelts; i++) {
        if (i > 0) {
            APR_ARRAY_PUSH(items, const char *) = ", ";
        }
        APR_ARRAY_PUSH(items, const char *) = apr_pstrcat(
            p, ":", base64(p, &APR_ARRAY_IDX(chain, i, certmap_der_t), NULL),
            ":", NULL);
    }
    *value = apr_array_pstrcat(p, items, 0);
    return NULL;
}

const char *certmap_fwd_pem_to_der(apr_pool_t *p, const char *pem,
                                   apr_size_t len, certmap_der_t *der)
{
    BIO *bio;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long data_len = 0;
    const char *err = NULL;

    der->data = NULL;
    der->len = 0;
    if (pem == NULL || len == 0) {
        return "no certificate";
    }
    if (len > FWD_PEM_MAX) {
        return "the certificate is too large";
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return "out of memory";
    }
    if (!PEM_read_bio(bio, &name, &header, &data, &data_len)) {
        err = "the certificate is not PEM";
    }
    else if (strcmp(name, "CERTIFICATE") != 0) {
        err = apr_psprintf(p, "the PEM block is a '%s', not a CERTIFICATE",
                           printable(p, name));
    }
    else {
        char *name2 = NULL, *header2 = NULL;
        unsigned char *data2 = NULL;
        long len2 = 0;
        const unsigned char *q = data;
        X509 *x;

        if (PEM_read_bio(bio, &name2, &header2, &data2, &len2)) {
            err = "the PEM text holds more than one block";
        }
        OPENSSL_free(name2);
        OPENSSL_free(header2);
        OPENSSL_free(data2);
        if (err == NULL) {
            x = d2i_X509(NULL, &q, data_len);
            if (x == NULL || q != data + data_len) {
                err = "the CERTIFICATE block does not hold an X.509 "
                      "certificate";
            }
            else {
                der->data = apr_pmemdup(p, data, (apr_size_t)data_len);
                der->len = (apr_size_t)data_len;
            }
            X509_free(x);
        }
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    /* The second PEM_read_bio() ends in "no start line" even on success;
     * leave nothing in this thread's queue for mod_ssl. */
    ERR_clear_error();
    return err;
}

/* RFC 9110 section 5.6.2 tchar. */
static int is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

const char *certmap_fwd_header_fold(apr_pool_t *p, const char *name)
{
    apr_size_t n, i;
    char *out;

    if (name == NULL || *name == '\0') {
        return NULL;
    }
    n = strlen(name);
    out = apr_palloc(p, n + 1);
    for (i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)name[i])) {
            return NULL;
        }
        out[i] = name[i] == '_' ? '-' : ascii_lower(name[i]);
    }
    out[n] = '\0';
    return out;
}
