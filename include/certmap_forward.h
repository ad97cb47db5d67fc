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

/* "rfc9440", "tomcat", "pem", "xfcc", "arr" (any ASCII letter case) ->
 * format.  NULL on success, else a sentence naming the accepted formats,
 * e.g. "unknown format 'foo'; use rfc9440, tomcat, pem, xfcc or arr". */
const char *certmap_fwd_format_parse(apr_pool_t *p, const char *name,
                                     certmap_fwd_format_e *format);

/* The format's name as CertMapForward spells it ("rfc9440"...);
 * "unknown" for a value outside the enum. */
const char *certmap_fwd_format_name(certmap_fwd_format_e format);

/* The header a format uses when CertMapForward names none:
 * "Client-Cert", "ssl_client_escaped_cert", "SSL_CLIENT_CERT",
 * "X-Forwarded-Client-Cert", "X-ARR-ClientCert"; NULL outside the enum.
 * (rfc9440's chain goes into "Client-Cert-Chain".) */
const char *certmap_fwd_default_header(certmap_fwd_format_e format);

/* The value of the format's header for one verified certificate.
 *   leaf    the client's certificate (DER, not empty, at most 1 MiB)
 *   chain   certmap_der_t elements (by value, not pointers): what the
 *           client sent after its own certificate, in TLS order (may be
 *           NULL or empty); only xfcc uses it (rfc9440's chain has its own
 *           header, see certmap_fwd_encode_chain())
 * Returns NULL on success with *value set, else an error sentence (and
 * *value NULL).  The values:
 *   rfc9440  ":" base64(DER) ":"  (RFC 9440 section 2.2: an RFC 8941 Byte
 *            Sequence, base64 as in RFC 4648 section 4, with padding)
 *   tomcat   the PEM (64-column base64, "\n" line ends, with a final
 *            "\n") with every byte outside [A-Za-z0-9-._~] as %XX
 *            (upper-case hex), so "+" is "%2B", " " is "%20" and "\n" is
 *            "%0A" (Tomcat's SSLValve URL-decodes without turning "+" into
 *            a space)
 *   pem      "-----BEGIN CERTIFICATE----- " base64 in 64-column lines
 *            joined by single spaces " -----END CERTIFICATE-----", no
 *            trailing space: SSLValves that read SSL_CLIENT_CERT cut out
 *            the text between the BEGIN and END lines by fixed offsets and
 *            turn its spaces back into newlines
 *   xfcc     Envoy's X-Forwarded-Client-Cert element for this client:
 *            Hash=<sha256 hex>;Cert="<url PEM>";Chain="<url PEM of the
 *            leaf then every chain certificate>";Subject="<RFC 2253>";
 *            URI=<uri>;...;DNS=<name>;...  (URI/DNS once per SAN of that
 *            type, left out when there is none; Subject left out when
 *            empty).  The leaf must parse as X.509 here.  Quoting, the
 *            escaping of the Subject and which names are dropped: see the
 *            top of certmap_forward.c
 *   arr      base64(DER), no line breaks (IIS ARR's X-ARR-ClientCert)
 * rfc9440, tomcat, pem and arr encode the bytes as given; none of the
 * values holds a byte below 0x20 or 0x7f. */
const char *certmap_fwd_encode(apr_pool_t *p, certmap_fwd_format_e format,
                               const certmap_der_t *leaf,
                               const apr_array_header_t *chain,
                               const char **value);

/* RFC 9440's Client-Cert-Chain value: the chain as an RFC 8941 List of
 * Byte Sequences, ":b64:, :b64:" (TLS order, the leaf not included).
 * NULL *value (and NULL return) when the chain is NULL or empty: the
 * header is then left out.  An empty or oversized element is an error. */
const char *certmap_fwd_encode_chain(apr_pool_t *p,
                                     const apr_array_header_t *chain,
                                     const char **value);

/* Decode one PEM certificate (as mod_ssl's SSL_CLIENT_CERT and
 * SSL_CLIENT_CERT_CHAIN_n give it) to DER: exactly one PEM block, labelled
 * CERTIFICATE, whose bytes are one whole X.509 certificate (returned as
 * they are, not re-encoded; allocated from p).  Text around the block is
 * ignored; a second block is an error.  OpenSSL's error queue is left
 * empty. */
const char *certmap_fwd_pem_to_der(apr_pool_t *p, const char *pem,
                                   apr_size_t len, certmap_der_t *der);

/* A header name folded for comparison: ASCII letters lower-cased and
 * '_' turned into '-', so "SSL_Client-Cert" and "ssl-client-cert" fold
 * alike.  NULL when `name` is not a valid HTTP field name (NULL, empty,
 * or a byte outside RFC 9110's tchar).  Folding a folded name gives the
 * same name. */
const char *certmap_fwd_header_fold(apr_pool_t *p, const char *name);

/* The header names every mod_certmap virtual host scrubs from requests
 * (DESIGN.md section 5), NULL-terminated, in their usual spelling.  No two
 * fold alike (SSL_CLIENT_CERT is there as ssl_client_cert), and every
 * format's default header folds like one of them, Client-Cert-Chain
 * included. */
extern const char *const certmap_fwd_scrub_family[];

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_FORWARD_H */
