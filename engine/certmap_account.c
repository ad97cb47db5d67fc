/*
 * certmap_account.c - account strings and refusal reasons.
 */
#include "certmap.h"
#include "certmap_internal.h"

#include <string.h>
#include <apr_strings.h>

/* Length of the valid UTF-8 sequence at s (at most `avail` bytes), with
 * its code point in *cp; 0 when the bytes are not valid UTF-8 (overlong,
 * surrogate, beyond U+10FFFF, truncated). */
apr_size_t certmap_utf8_sequence(const unsigned char *s, apr_size_t avail,
                                unsigned long *cp)
{
    apr_size_t len, i;
    unsigned long c = s[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        c &= 0x0f;
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
    }
    else {
        return 0;
    }
    if (len > avail) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000)
        || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
        return 0;
    }
    *cp = c;
    return len;
}

/* Characters that would let a value split or disguise a header or a log
 * line (see certmap_internal.h). */
int certmap_char_forbidden(unsigned long cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)
           || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e)
           || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

static const char *check_chars(apr_pool_t *p, const char *s, const char *what)
{
    const unsigned char *c = (const unsigned char *)s, *end;
    unsigned long cp;
    apr_size_t n;

    if (s == NULL || *s == '\0') {
        return apr_psprintf(p, "the %s is empty", what);
    }
    end = c + strlen(s);
    if (end - c > CERTMAP_ACCOUNT_MAX) {
        return apr_psprintf(p, "the %s is longer than %d bytes", what,
                            CERTMAP_ACCOUNT_MAX);
    }
    for (; *c; c += n) {
        int pos = (int)(c - (const unsigned char *)s) + 1;

        n = certmap_utf8_sequence(c, (apr_size_t)(end - c), &cp);
        if (n == 0) {
            return apr_psprintf(p,
                                "the %s is not valid UTF-8 (byte 0x%02x at "
                                "position %d)",
                                what, *c, pos);
        }
        if (certmap_char_forbidden(cp)) {
            return apr_psprintf(p,
                                "the %s contains a control or invisible "
                                "formatting character (U+%04lX at "
                                "position %d)",
                                what, cp, pos);
        }
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
    [CERTMAP_CERT_MISMATCH] = {"cert-mismatch", 12,
                               "the credentials given are for another "
                               "account than the client certificate's"},
    [CERTMAP_DIRECTORY_AMBIGUOUS] = {"directory-ambiguous", 12,
                                     "the client certificate matches more "
                                     "than one directory entry"},
    [CERTMAP_DIRECTORY_UNAVAILABLE] = {"directory-unavailable", 0,
                                       "the directory that maps client "
                                       "certificates cannot be reached"},
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
