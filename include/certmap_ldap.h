/*
 * certmap_ldap.h - building LDAP search filters for a certificate
 * (CertMapLDAPMatch), with every value escaped per RFC 4515.
 *
 * Plain C on APR and OpenSSL like the rest of the engine; the module
 * (mod_certmap_ldap.c) hands the filter to mod_ldap.
 */
#ifndef CERTMAP_LDAP_H
#define CERTMAP_LDAP_H

#include "certmap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a certificate is looked up (CertMapLDAPMatch). */
typedef enum certmap_ldap_match_e {
    /* Active Directory's altSecurityIdentities, strong forms only. */
    CERTMAP_LDAP_ALTSECID = 1,
    /* The RFC 4523 CertificateExactAssertion against userCertificate. */
    CERTMAP_LDAP_CERTIFICATE,
    /* The SHA-256 fingerprint (lower-case hex) in an attribute. */
    CERTMAP_LDAP_FINGERPRINT,
    /* The certificate's single SAN UPN against userPrincipalName. */
    CERTMAP_LDAP_UPN
} certmap_ldap_match_e;

typedef struct certmap_ldap_match_t {
    certmap_ldap_match_e mode;
    const char *attr; /* the attribute compared, never NULL */
} certmap_ldap_match_t;

/* The default attribute of each mode: altSecurityIdentities,
 * userCertificate;binary, NULL (fingerprint has none: ATTR is required),
 * userPrincipalName. */
const char *certmap_ldap_default_attr(certmap_ldap_match_e mode);

/* The name of a mode for logs and CERTMAP0002: "ldap-altsecid",
 * "ldap-certificate", "ldap-fingerprint", "ldap-upn". */
const char *certmap_ldap_form(certmap_ldap_match_e mode);

/* Parse CertMapLDAPMatch's arguments: "altsecid", "certificate [ATTR]",
 * "fingerprint ATTR" or "upn [ATTR]" (mode names in any case); `attr`
 * may be NULL. */
const char *certmap_ldap_match_parse(apr_pool_t *p, const char *mode,
                                     const char *attr,
                                     certmap_ldap_match_t *match);

/* NULL when `attr` is an RFC 4512 attribute description: a name (a letter
 * then letters, digits, '-') or a numeric OID, followed by ";option"s. */
const char *certmap_ldap_attr_check(apr_pool_t *p, const char *attr);

/* The filter of a CertMapLDAPURL as one parenthesised filter: "(F)" for
 * a bare "F", NULL or "" as "(objectClass=*)".  An error when the
 * parentheses do not balance (escaped ones excepted), when text follows
 * the outer pair, or when it holds a control character. */
const char *certmap_ldap_url_filter(apr_pool_t *p, const char *filter,
                                    const char **out);

/* `len` bytes of `value` as an RFC 4515 assertion value: '*', '(', ')',
 * '\', NUL, every byte below 0x20, 0x7f and every byte above 0x7f
 * written as "\xx" (lower-case hex); everything else as it is. */
char *certmap_ldap_escape(apr_pool_t *p, const char *value, apr_size_t len);

/* The RFC 4523 CertificateExactAssertion of the certificate in GSER, what
 * OpenLDAP's certificateExactMatch takes and mod_ssl's
 * SSL_CLIENT_CERT_RFC4523_CEA shows:
 *   { serialNumber 4097, issuer rdnSequence:"CN=Test CA,O=test" }
 * the serial in decimal, the issuer in RFC 4514 (UTF-8, RFC 2253
 * escaping, last RDN first) with every '"' doubled (GSER).  Not escaped
 * for a filter.  An error when the certificate cannot be decoded. */
const char *certmap_ldap_cert_assertion(apr_pool_t *p,
                                        const certmap_cert_t *cert,
                                        const char **out);

/* The filter term that finds the certificate, every value escaped:
 *   altsecid     (|(A=X509:<I>..<SR>..)(A=X509:<SKI>..)(A=X509:<SHA1-PUKEY>..))
 *                the strong forms of certmap_cert_spec_forms(), the ones
 *                the certificate has;
 *   certificate  (A=certmap_ldap_cert_assertion())
 *   fingerprint  (A=<sha256 lower-case hex>)
 *   upn          (A=<the UPN>)
 * *term is NULL (and NULL returned) when the certificate cannot be
 * looked up this way: upn without exactly one UPN. */
const char *certmap_ldap_match_term(apr_pool_t *p,
                                    const certmap_ldap_match_t *match,
                                    const certmap_cert_t *cert,
                                    const char **term);

/* The search filter: "(&" url_filter term ")"; url_filter as given by
 * certmap_ldap_url_filter().  *filter is NULL when the term is. */
const char *certmap_ldap_filter(apr_pool_t *p, const char *url_filter,
                                const certmap_ldap_match_t *match,
                                const certmap_cert_t *cert,
                                const char **filter);

#ifdef __cplusplus
}
#endif
#endif /* CERTMAP_LDAP_H */
