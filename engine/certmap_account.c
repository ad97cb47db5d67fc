/*
 * certmap_account.c - account strings and refusal reasons.
 */
#include "certmap.h"

#include <string.h>
#include <apr_strings.h>

/* Control characters (C0, DEL) would let an account split a header or a
 * log line; nothing that holds one may reach r->user. */
static const char *check_chars(apr_pool_t *p, const char *s, const char *what)
{
    const unsigned char *c;

    if (s == NULL || *s == '\0') {
        return apr_psprintf(p, "the %s is empty", what);
    }
    for (c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            return apr_psprintf(p,
                                "the %s contains a control character "
                                "(byte 0x%02x at position %d)",
                                what, *c,
                                (int)(c - (const unsigned char *)s) + 1);
        }
    }
    if (strlen(s) > CERTMAP_ACCOUNT_MAX) {
        return apr_psprintf(p, "the %s is longer than %d bytes", what,
                            CERTMAP_ACCOUNT_MAX);
    }
    return NULL;
}

const char *certmap_account_check(apr_pool_t *p, const char *account)
{
    const char *err = check_chars(p, account, "account");
    const char *sep;

    if (err != NULL) {
        return err;
    }
    sep = strchr(account, '\\');
    if (sep == NULL) {
        return NULL;
    }
    if (sep == account) {
        return apr_psprintf(p,
                            "the account '%s' has no domain before the "
                            "'\\' (write DOMAIN\\user or a bare user)",
                            account);
    }
    if (sep[1] == '\0') {
        return apr_psprintf(p, "the account '%s' has no user after the '\\'",
                            account);
    }
    if (strchr(sep + 1, '\\') != NULL) {
        return apr_psprintf(p,
                            "the account '%s' has more than one '\\' "
                            "(write DOMAIN\\user)",
                            account);
    }
    return NULL;
}

const char *certmap_domain_check(apr_pool_t *p, const char *domain)
{
    const char *err = check_chars(p, domain, "domain");

    if (err == NULL && strchr(domain, '\\') != NULL) {
        return apr_psprintf(p, "the domain '%s' must not contain '\\'", domain);
    }
    return err;
}

const char *certmap_account_qualify(apr_pool_t *p, const char *account,
                                    const char *domain)
{
    if (domain == NULL || *domain == '\0' || strchr(account, '\\') != NULL) {
        return account;
    }
    return apr_pstrcat(p, domain, "\\", account, NULL);
}

const char *certmap_account_domain(apr_pool_t *p, const char *account)
{
    const char *sep = strchr(account, '\\');

    return sep ? apr_pstrmemdup(p, account, sep - account) : "";
}

/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    int iis_substatus;
    const char *text;
} reasons[CERTMAP_REASON_COUNT] = {
    [CERTMAP_MAPPED] = {"mapped", 0, "the client certificate is mapped"},
    [CERTMAP_TLS_REQUIRED] = {"tls-required", 4,
                              "this resource is only served over HTTPS"},
    [CERTMAP_CERT_REQUIRED] = {"cert-required", 7,
                               "a client certificate is required"},
    [CERTMAP_CERT_UNTRUSTED] = {"cert-untrusted", 16,
                                "the client certificate is not trusted"},
    [CERTMAP_CERT_EXPIRED] = {"cert-expired", 17,
                              "the client certificate has expired or is "
                              "not yet valid"},
    [CERTMAP_CERT_REVOKED] = {"cert-revoked", 13,
                              "the client certificate has been revoked"},
    [CERTMAP_CERT_UNMAPPED] = {"cert-unmapped", 12,
                               "the client certificate is not mapped to "
                               "an account"},
    [CERTMAP_CERT_DENIED] = {"cert-denied", 12,
                             "the client certificate is denied access"},
};

const char *certmap_reason_text(certmap_reason_e reason)
{
    if ((unsigned)reason >= CERTMAP_REASON_COUNT) {
        return "unknown reason";
    }
    return reasons[reason].text;
}

const char *certmap_reason_name(certmap_reason_e reason)
{
    if ((unsigned)reason >= CERTMAP_REASON_COUNT) {
        return "unknown";
    }
    return reasons[reason].name;
}

int certmap_reason_iis_substatus(certmap_reason_e reason)
{
    if ((unsigned)reason >= CERTMAP_REASON_COUNT) {
        return 0;
    }
    return reasons[reason].iis_substatus;
}

certmap_reason_e certmap_verify_classify(const char *verify)
{
    const char *why;

    if (verify == NULL || *verify == '\0' || strcmp(verify, "NONE") == 0) {
        return CERTMAP_CERT_REQUIRED;
    }
    if (strcmp(verify, "SUCCESS") == 0) {
        return CERTMAP_MAPPED;
    }
    if (strncmp(verify, "FAILED:", 7) != 0) {
        /* GENEROUS (optional_no_ca accepted an unknown issuer) and
         * anything this module does not know: not verified. */
        return CERTMAP_CERT_UNTRUSTED;
    }
    /* OpenSSL's X509_verify_cert_error_string() texts. */
    why = verify + 7;
    if (strcmp(why, "certificate has expired") == 0
        || strcmp(why, "certificate is not yet valid") == 0) {
        return CERTMAP_CERT_EXPIRED;
    }
    if (strcmp(why, "certificate revoked") == 0) {
        return CERTMAP_CERT_REVOKED;
    }
    return CERTMAP_CERT_UNTRUSTED;
}
