/*
 * fuzz_forward.c - the CertMapForward encoders (certmap_forward.h).
 *
 * The input is tried as:
 *   - a certificate's DER: every format is encoded, with the input as
 *     the leaf and twice as the chain.  When OpenSSL parses the input as
 *     one whole X.509 certificate, xfcc must succeed (else it must fail
 *     with a readable sentence); the other formats encode any bytes.
 *   - PEM for certmap_fwd_pem_to_der(): on success the DER is one whole
 *     certificate and goes through the encoders too;
 *   - a header name for certmap_fwd_header_fold() and a format name for
 *     certmap_fwd_format_parse() (up to its first NUL).
 * Invariants: no value holds a byte below 0x20 or 0x7f; rfc9440 is
 * ":" base64 ":" and, like arr, decodes back to the input; the chain is
 * ":b64:, :b64:"; tomcat URL-decodes (no '+' as space) to PEM that
 * certmap_fwd_pem_to_der() reads back as the input, and so does pem once
 * rebuilt the way Tomcat's SSLValve does (the text between the BEGIN and
 * END lines, spaces turned back into newlines); xfcc is Hash=<sha256 of the
 * input> then Cert, Chain, Subject, URI, DNS pairs that a strict parser of
 * Envoy's syntax splits back, with Cert and Chain decoding to the
 * certificate (Chain: three times); header_fold accepts exactly RFC 9110
 * tokens and is idempotent; format_parse accepts exactly the five names
 * in any case; errors are printable; OpenSSL's error queue stays empty.
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certmap_forward.h"
#include "fuzz.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_printable(const char *s)
{
    const unsigned char *c;

    FUZZ_CHECK(s != NULL);
    for (c = (const unsigned char *)s; *c; c++) {
        FUZZ_CHECK(*c >= 0x20 && *c != 0x7f);
    }
}

static void check_error(const char *err)
{
    FUZZ_CHECK(err != NULL && *err != '\0');
    check_printable(err);
}

/* Strict base64 (RFC 4648 section 4, padded) decoded here, compared with
 * the expected bytes. */
static void check_b64(const char *s, size_t n, const uint8_t *want,
                      size_t want_len)
{
    size_t i, out = 0;
    unsigned long acc = 0;
    int bits = 0, pad = 0;

    FUZZ_CHECK(n % 4 == 0);
    FUZZ_CHECK(n == 4 * ((want_len + 2) / 3));
    for (i = 0; i < n; i++) {
        int v;
        if (s[i] == '=') {
            FUZZ_CHECK(i >= n - 2);
            pad++;
            continue;
        }
        FUZZ_CHECK(pad == 0);
        v = fuzz_b64_value(s[i]);
        FUZZ_CHECK(v >= 0);
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            FUZZ_CHECK(out < want_len);
            FUZZ_CHECK((uint8_t)(acc >> bits) == want[out]);
            out++;
        }
    }
    FUZZ_CHECK(out == want_len);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* %XX decoding, '+' staying '+'; only unreserved characters may appear
 * unescaped. */
static char *url_decode(apr_pool_t *p, const char *s, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            FUZZ_CHECK(i + 2 < n);
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                       || (c >= '0' && c <= '9') || c == '-' || c == '.'
                       || c == '_' || c == '~');
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

static void check_pem_is(apr_pool_t *p, const char *pem, const uint8_t *der,
                         size_t len)
{
    certmap_der_t back;

    FUZZ_CHECK(certmap_fwd_pem_to_der(p, pem, strlen(pem), &back) == NULL);
    FUZZ_CHECK(back.len == len && memcmp(back.data, der, len) == 0);
    FUZZ_CHECK(ERR_peek_error() == 0);
}

/* Split an xfcc element by Envoy's syntax: KEY=VALUE;... where VALUE is
 * either "..." (with \" and \\ escapes) or has none of ,;=" \ .
 * Returns the unquoted values of the keys in order. */
typedef struct xfcc_pair {
    const char *key;
    const char *value;
} xfcc_pair;

static apr_array_header_t *xfcc_split(apr_pool_t *p, const char *s)
{
    apr_array_header_t *pairs = apr_array_make(p, 8, sizeof(xfcc_pair));

    for (;;) {
        const char *eq = strchr(s, '=');
        xfcc_pair *pair = apr_array_push(pairs);
        char *v, *o;

        FUZZ_CHECK(eq != NULL && eq > s);
        pair->key = apr_pstrmemdup(p, s, (apr_size_t)(eq - s));
        s = eq + 1;
        v = o = apr_palloc(p, strlen(s) + 1);
        if (*s == '"') {
            for (s++; *s != '"'; s++) {
                FUZZ_CHECK(*s != '\0');
                if (*s == '\\') {
                    s++;
                    FUZZ_CHECK(*s == '"' || *s == '\\');
                }
                *o++ = *s;
            }
            s++;
        }
        else {
            for (; *s && *s != ';'; s++) {
                FUZZ_CHECK(strchr(",=\"\\ ", *s) == NULL);
                *o++ = *s;
            }
            FUZZ_CHECK(o > v);
        }
        *o = '\0';
        pair->value = v;
        if (*s == '\0') {
            return pairs;
        }
        FUZZ_CHECK(*s == ';');
        s++;
    }
}

static void check_xfcc(apr_pool_t *p, const char *v, const uint8_t *der,
                       size_t len)
{
    apr_array_header_t *pairs = xfcc_split(p, v);
    const xfcc_pair *pr = (const xfcc_pair *)pairs->elts;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0, i;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    const char *pem, *chain;
    int k, stage = 0;

    FUZZ_CHECK(pairs->nelts >= 3);
    FUZZ_CHECK(EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL));
    for (i = 0; i < md_len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    FUZZ_CHECK(strcmp(pr[0].key, "Hash") == 0);
    FUZZ_CHECK(strcmp(pr[0].value, hex) == 0);
    FUZZ_CHECK(strcmp(pr[1].key, "Cert") == 0);
    pem = url_decode(p, pr[1].value, strlen(pr[1].value));
    check_pem_is(p, pem, der, len);
    FUZZ_CHECK(strcmp(pr[2].key, "Chain") == 0);
    chain = url_decode(p, pr[2].value, strlen(pr[2].value));
    FUZZ_CHECK(strcmp(chain, apr_pstrcat(p, pem, pem, pem, NULL)) == 0);
    /* Then at most one Subject, the URIs, the DNS names. */
    for (k = 3; k < pairs->nelts; k++) {
        int st;
        if (strcmp(pr[k].key, "Subject") == 0) {
            st = 1;
            FUZZ_CHECK(stage < 1);
            FUZZ_CHECK(pr[k].value[0] != '\0');
            /* Always quoted in the raw text. */
            FUZZ_CHECK(strstr(v, ";Subject=\"") != NULL);
        }
        else if (strcmp(pr[k].key, "URI") == 0) {
            st = 2;
        }
        else {
            FUZZ_CHECK(strcmp(pr[k].key, "DNS") == 0);
            st = 3;
        }
        FUZZ_CHECK(st >= stage);
        stage = st;
        if (st >= 2) {
            const unsigned char *c;
            FUZZ_CHECK(pr[k].value[0] != '\0');
            for (c = (const unsigned char *)pr[k].value; *c; c++) {
                FUZZ_CHECK(*c >= 0x20 && *c < 0x7f);
            }
        }
    }
}

/* Every encoder on `der`; `is_cert`: OpenSSL parses it as one whole
 * certificate. */
static void encode_all(apr_pool_t *p, const uint8_t *data, size_t len,
                       int is_cert)
{
    certmap_der_t der = {data, len};
    apr_array_header_t *chain = apr_array_make(p, 2, sizeof(certmap_der_t));
    const char *v, *err;
    size_t n;
    int f;

    APR_ARRAY_PUSH(chain, certmap_der_t) = der;
    APR_ARRAY_PUSH(chain, certmap_der_t) = der;
    for (f = 0; f < CERTMAP_FWD_FORMAT_COUNT; f++) {
        v = NULL;
        err = certmap_fwd_encode(p, (certmap_fwd_format_e)f, &der, chain, &v);
        FUZZ_CHECK(ERR_peek_error() == 0);
        if (len == 0 || (f == CERTMAP_FWD_XFCC && !is_cert)) {
            check_error(err);
            FUZZ_CHECK(v == NULL);
            continue;
        }
        FUZZ_CHECK(err == NULL);
        check_printable(v);
        n = strlen(v);
        switch ((certmap_fwd_format_e)f) {
        case CERTMAP_FWD_RFC9440:
            FUZZ_CHECK(n >= 2 && v[0] == ':' && v[n - 1] == ':');
            check_b64(v + 1, n - 2, data, len);
            break;
        case CERTMAP_FWD_ARR:
            check_b64(v, n, data, len);
            break;
        case CERTMAP_FWD_TOMCAT:
            if (is_cert) {
                check_pem_is(p, url_decode(p, v, n), data, len);
            }
            else {
                (void)url_decode(p, v, n);
            }
            break;
        case CERTMAP_FWD_PEM:
            FUZZ_CHECK(strchr(v, '\n') == NULL && v[n - 1] != ' ');
            FUZZ_CHECK(n > 28 + 26);
            FUZZ_CHECK(strncmp(v, "-----BEGIN CERTIFICATE----- ", 28) == 0);
            FUZZ_CHECK(strcmp(v + n - 26, " -----END CERTIFICATE-----") == 0);
            if (is_cert) {
                /* Tomcat's SSLValve: the text between the BEGIN and END
                 * lines, spaces back to newlines, between its own. */
                char *body = apr_pstrmemdup(p, v + 28, n - 28 - 26), *c;
                for (c = body; *c; c++) {
                    if (*c == ' ') {
                        *c = '\n';
                    }
                }
                check_pem_is(p,
                             apr_pstrcat(p, "-----BEGIN CERTIFICATE-----\n",
                                         body, "\n-----END CERTIFICATE-----\n",
                                         NULL),
                             data, len);
            }
            break;
        case CERTMAP_FWD_XFCC:
            check_xfcc(p, v, data, len);
            break;
        default:
            FUZZ_CHECK(0);
        }
    }

    v = "unset";
    err = certmap_fwd_encode_chain(p, chain, &v);
    if (len == 0) {
        check_error(err);
        FUZZ_CHECK(v == NULL);
    }
    else {
        const char *one;
        FUZZ_CHECK(err == NULL);
        check_printable(v);
        FUZZ_CHECK(certmap_fwd_encode(p, CERTMAP_FWD_RFC9440, &der, NULL, &one)
                   == NULL);
        FUZZ_CHECK(strcmp(v, apr_pstrcat(p, one, ", ", one, NULL)) == 0);
    }
}

static int is_cert(const uint8_t *data, size_t len)
{
    const unsigned char *q = data;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    int whole = x != NULL && q == data + len;

    X509_free(x);
    ERR_clear_error();
    return whole;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_names(apr_pool_t *p, const char *s)
{
    static const char *const names[] = {"rfc9440", "tomcat", "pem", "xfcc",
                                        "arr"};
    const char *f = certmap_fwd_header_fold(p, s), *err;
    const unsigned char *c;
    int token = *s != '\0', i, known = -1;
    certmap_fwd_format_e format = CERTMAP_FWD_FORMAT_COUNT;

    for (c = (const unsigned char *)s; *c; c++) {
        token = token && is_tchar(*c);
    }
    FUZZ_CHECK((f != NULL) == token);
    if (f != NULL) {
        FUZZ_CHECK(strlen(f) == strlen(s));
        for (c = (const unsigned char *)f; *c; c++) {
            FUZZ_CHECK(is_tchar(*c) && *c != '_' && !(*c >= 'A' && *c <= 'Z'));
        }
        FUZZ_CHECK(strcmp(certmap_fwd_header_fold(p, f), f) == 0);
    }

    for (i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            known = i;
        }
    }
    err = certmap_fwd_format_parse(p, s, &format);
    if (known >= 0) {
        FUZZ_CHECK(err == NULL && (int)format == known);
        FUZZ_CHECK(strcmp(certmap_fwd_format_name(format), names[known]) == 0);
    }
    else {
        check_error(err);
        FUZZ_CHECK(format == CERTMAP_FWD_FORMAT_COUNT);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    certmap_der_t der;
    const char *err;

    if (size > 64 * 1024) {
        return 0;
    }
    apr_pool_create(&p, root);

    encode_all(p, data, size, is_cert(data, size));

    err = certmap_fwd_pem_to_der(p, (const char *)data, size, &der);
    FUZZ_CHECK(ERR_peek_error() == 0);
    if (err == NULL) {
        FUZZ_CHECK(der.len > 0 && is_cert(der.data, der.len));
        encode_all(p, der.data, der.len, 1);
    }
    else {
        check_error(err);
        FUZZ_CHECK(der.data == NULL && der.len == 0);
    }

    check_names(p, apr_pstrmemdup(p, (const char *)data, size));

    apr_pool_destroy(p);
    return 0;
}
