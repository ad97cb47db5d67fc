/*
 * certmap_forward.h - the header values mod_certmap sends to a backend
 * for a verified client certificate (CertMapForward), and the header-name
 * rules used to scrub client-sent copies of them.
 *
 * Plain C on APR and OpenSSL, like the rest of the engine.  Every
 * encoder works from DER, never from text a client could shape, and
 * returns a value that holds no CR, LF, NUL or other control character.
 */
#ifndef CERTMAP_FORWARD_H
#define CERTMAP_FORWARD_H

#include <apr_pools.h>
#include <apr_tables.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum certmap_fwd_format_e {
    CERTMAP_FWD_RFC9440 = 0, /* Client-Cert (+ Client-Cert-Chain) */
    CERTMAP_FWD_TOMCAT,      /* ssl_client_escaped_cert */
    CERTMAP_FWD_PEM,         /* SSL_CLIENT_CERT */
    CERTMAP_FWD_XFCC,        /* X-Forwarded-Client-Cert */
    CERTMAP_FWD_ARR,         /* X-ARR-ClientCert */
    CERTMAP_FWD_FORMAT_COUNT
} certmap_fwd_format_e;

/* One DER-encoded certificate. */
typedef struct certmap_der_t {
    const unsigned char *data;
    apr_size_t len;
} certmap_der_t;

/* "rfc9440", "tomcat", "pem", "xfcc", "arr" (any letter case) -> format.
 * NULL on success, else a sentence naming the accepted formats. */
const char *certmap_fwd_format_parse(apr_pool_t *p, const char *name,
                                     certmap_fwd_format_e *format);

/* The format's name as CertMapForward spells it ("rfc9440"...). */
const char *certmap_fwd_format_name(certmap_fwd_format_e format);

/* The header a format uses when CertMapForward names none:
 * "Client-Cert", "ssl_client_escaped_cert", "SSL_CLIENT_CERT",
 * "X-Forwarded-Client-Cert", "X-ARR-ClientCert". */
const char *certmap_fwd_default_header(certmap_fwd_format_e format);

/* The value of the format's header for one verified certificate.
 *   leaf    the client's certificate
 *   chain   certificate_der_t elements: what the client sent after its
 *           own certificate, in TLS order (may be NULL or empty)
 * Returns NULL on success with *value set, else an error sentence.
 * The values:
 *   rfc9440  ":" base64(DER) ":"  (RFC 9440 section 2.2, a Byte Sequence)
 *   tomcat   the PEM (64-column base64, "\n" line ends, with a final
 *            "\n") with every byte outside [A-Za-z0-9-._~] as %XX
 *            (upper-case hex), so "+" is "%2B" and "\n" is "%0A"
 *   pem      "-----BEGIN CERTIFICATE----- " base64 in 64-column lines
 *            joined by single spaces " -----END CERTIFICATE-----"
 *   xfcc     Envoy's X-Forwarded-Client-Cert element, see the .c file
 *   arr      base64(DER), no line breaks */
const char *certmap_fwd_encode(apr_pool_t *p, certmap_fwd_format_e format,
                               const certmap_der_t *leaf,
                               const apr_array_header_t *chain,
                               const char **value);

/* RFC 9440's Client-Cert-Chain value: the chain as a List of Byte
 * Sequences, ":b64:, :b64:".  NULL *value (and NULL return) when the
 * chain is empty: the header is then left out. */
const char *certmap_fwd_encode_chain(apr_pool_t *p,
                                     const apr_array_header_t *chain,
                                     const char **value);

/* Decode one PEM certificate (as mod_ssl's SSL_CLIENT_CERT and
 * SSL_CLIENT_CERT_CHAIN_n give it) to DER. */
const char *certmap_fwd_pem_to_der(apr_pool_t *p, const char *pem,
                                   apr_size_t len, certmap_der_t *der);

/* A header name folded for comparison: ASCII letters lower-cased and
 * '_' turned into '-', so "SSL_Client-Cert" and "ssl-client-cert" fold
 * alike.  NULL when `name` is not a valid HTTP field name (empty, or a
 * byte outside RFC 9110's tchar). */
const char *certmap_fwd_header_fold(apr_pool_t *p, const char *name);

/* The header names every mod_certmap virtual host scrubs from requests
 * (DESIGN.md section 5), NULL-terminated. */
extern const char *const certmap_fwd_scrub_family[];

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_FORWARD_H */
