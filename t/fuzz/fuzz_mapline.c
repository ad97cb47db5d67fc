/*
 * fuzz_mapline.c - map-file lines through certmap_table_add_line().
 *
 * Each input is added once as a single line, then split on '\n' like a
 * map file (trailing CR and a leading UTF-8 BOM dropped) and added line
 * by line to a second table, carrying on after errors so that later
 * lines meet the state earlier ones left.  After every line that is
 * accepted, the table is asked about the certificate the line named
 * (made up from the key: its digest, SPKI hash, SHA-1 of the key, SKI,
 * or issuer and serial): the entry exists, holds what the line said, and
 * a deny wins.  Other entries may name the same made-up certificate (its
 * other fields are zero), so a mapping line may also end in a conflict;
 * when the decision comes from the line's own form, it gives the line's
 * account.
 *
 * Certificate files: relative names are resolved against a private
 * directory made at start-up that holds cert.pem, cert.der (the same
 * certificate) and key.pem (a private key block), so file lines and the
 * folding of a "sha1:" entry into a file's entry are reached.  Inputs
 * with a '/' are skipped: nothing outside that directory is opened.
 */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certmap.h"
#include "fuzz.h"

#define FUZZ_MAX_INPUT 8192
#define FUZZ_MAX_LINES 64

/* A throwaway self-signed certificate (no key anywhere); its digests:
 * sha256:AA2F3063164BA06EEF5D8EC5E90E09958DA55F8EDBB9ED1EF26E4AB32E3FA78D
 * sha1:CCA621806A767BA2967B09C31A7ADEDC5016F874 */
static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICBTCCAaygAwIBAgIUZ+DCfH94g4nChWFroco1CM/IDx0wCgYIKoZIzj0EAwIw\n"
    "QDELMAkGA1UEBhMCREUxFDASBgNVBAoMC0V4YW1wbGUgT3JnMRswGQYDVQQDDBJh\n"
    "bGljZUBleGFtcGxlLnRlc3QwHhcNMjYxMTI1MjEwODIyWhcNMzYxMTIyMjEwODIy\n"
    "WjBAMQswCQYDVQQGEwJERTEUMBIGA1UECgwLRXhhbXBsZSBPcmcxGzAZBgNVBAMM\n"
    "EmFsaWNlQGV4YW1wbGUudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKtW\n"
    "L8u2E4zaC3QnrQ0vEH51VSV261cUmpnE4UaU1/h/wWd4sASakJY1C6nQRRTZ61gG\n"
    "o6ZrKGtlFUqUA7W2GFOjgYMwgYAwHQYDVR0OBBYEFO0V1pdK81KC+1o/5uvpM/3n\n"
    "FTyhMB8GA1UdIwQYMBaAFO0V1pdK81KC+1o/5uvpM/3nFTyhMA8GA1UdEwEB/wQF\n"
    "MAMBAf8wLQYDVR0RBCYwJKAiBgorBgEEAYI3FAIDoBQMEmFsaWNlQGNvcnAuZXhh\n"
    "bXBsZTAKBggqhkjOPQQDAgNHADBEAiBKgN1HabqHAHmr91FsH9OraNVr1EdCKktc\n"
    "Xwkl8D3q6wIgb19WnDxY3g/MFkP5MEZuIrKqxrHOsQ+SZfSGuSKlj4U=\n"
    "-----END CERTIFICATE-----\n";

/* Refused by its label even though it does not decode. */
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VwBCIEIA==\n"
                              "-----END PRIVATE KEY-----\n";

static apr_pool_t *root;
static char fixture_dir[64];
static int verbose; /* FUZZ_VERBOSE=1: print each line's outcome */

static void write_fixture(const char *name, const void *data, size_t len)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
    f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, len, f) == len);
    FUZZ_CHECK(fclose(f) == 0);
}

static void remove_fixtures(void)
{
    static const char *const names[] = {"cert.pem", "cert.der", "key.pem"};
    char path[128];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fixture_dir, names[i]);
        unlink(path);
    }
    rmdir(fixture_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO *bio;
    X509 *x;
    unsigned char *der = NULL;
    int der_len;
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&root, NULL);
    verbose = getenv("FUZZ_VERBOSE") != NULL;

    snprintf(fixture_dir, sizeof(fixture_dir), "%s/certmap-fuzz-XXXXXX",
             tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(fixture_dir) != NULL);
    atexit(remove_fixtures);

    bio = BIO_new_mem_buf(cert_pem, -1);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    FUZZ_CHECK(x != NULL);
    der_len = i2d_X509(x, &der);
    FUZZ_CHECK(der_len > 0);
    write_fixture("cert.pem", cert_pem, strlen(cert_pem));
    write_fixture("cert.der", der, (size_t)der_len);
    write_fixture("key.pem", key_pem, strlen(key_pem));
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* The first `max` tokens of an accepted line, as the header describes
 * them: blank-separated, double or single quotes grouping (the quote
 * character doubled inside stands for itself), '#' starting a comment
 * at the start of a token. */
static int tokens(apr_pool_t *p, const char *s, char **tok, int max)
{
    int n = 0;

    while (n < max) {
        const char *start;
        while (is_blank(*s)) {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            break;
        }
        if (*s == '"' || *s == '\'') {
            char q = *s++;
            char *o = apr_palloc(p, strlen(s) + 1);

            tok[n++] = o;
            while (*s) {
                if (*s == q && s[1] == q) {
                    *o++ = q;
                    s += 2;
                }
                else if (*s == q) {
                    s++;
                    break;
                }
                else {
                    *o++ = *s++;
                }
            }
            *o = '\0';
        }
        else {
            start = s;
            while (*s && !is_blank(*s)) {
                s++;
            }
            tok[n++] = apr_pstrmemdup(p, start, s - start);
        }
    }
    return n;
}

/* Add one line and check what the table then says about it. */
static void add_and_check(apr_pool_t *p, certmap_table_t *t, const char *line,
                          const char *source)
{
    unsigned int before = certmap_table_count(t), after;
    const char *err, *account, *spec;
    char *tok[2];
    int n, deny;
    certmap_key_t key;
    certmap_cert_t cert;
    const certmap_entry_t *e;
    const certmap_table_t *chain[1];
    certmap_decision_t d;
    const char *form;

    err = certmap_table_add_line(t, line, fixture_dir, source);
    after = certmap_table_count(t);
    if (verbose) {
        fprintf(stderr, "%s: [%s] -> %s (count %u)\n", source, line,
                err ? err : "ok", after);
    }
    if (err != NULL) {
        FUZZ_CHECK(*err != '\0');
        /* A refused line adds nothing. */
        FUZZ_CHECK(after <= before);
        return;
    }
    FUZZ_CHECK(after <= before + 1);

    n = tokens(p, line, tok, 2);
    if (n == 0) {
        /* Blank line or comment. */
        FUZZ_CHECK(after == before);
        return;
    }
    FUZZ_CHECK(n == 2);
    FUZZ_CHECK(after >= 1);
    deny = strcasecmp(tok[0], "deny") == 0;
    spec = deny ? tok[1] : tok[0];
    account = deny ? NULL : tok[1];
    if (account != NULL) {
        FUZZ_CHECK(certmap_account_check(p, account) == NULL);
    }

    /* The engine accepted the certificate spec, so it parses. */
    FUZZ_CHECK(certmap_key_parse(p, spec, fixture_dir, &key) == NULL);
    memset(&cert, 0, sizeof(cert));
    cert.subject = "";
    switch (key.type) {
    case CERTMAP_KEY_SHA256:
        memcpy(cert.sha256, key.digest, CERTMAP_SHA256_LEN);
        if (key.has_sha1) {
            memcpy(cert.sha1, key.sha1, CERTMAP_SHA1_LEN);
        }
        break;
    case CERTMAP_KEY_SHA1:
        memcpy(cert.sha1, key.digest, CERTMAP_SHA1_LEN);
        break;
    case CERTMAP_KEY_SPKI_SHA256:
        memcpy(cert.spki_sha256, key.digest, CERTMAP_SHA256_LEN);
        break;
    case CERTMAP_KEY_SHA1_PUKEY:
        memcpy(cert.pukey_sha1, key.digest, CERTMAP_SHA1_LEN);
        break;
    case CERTMAP_KEY_SKI:
        FUZZ_CHECK(key.bytes != NULL && key.bytes_len > 0);
        cert.ski = key.bytes;
        cert.ski_len = key.bytes_len;
        break;
    case CERTMAP_KEY_ISSUER_SERIAL:
        FUZZ_CHECK(key.issuer != NULL && key.bytes != NULL);
        cert.issuer_ad = key.issuer;
        cert.serial_ad = key.bytes;
        cert.serial_ad_len = key.bytes_len;
        break;
    default:
        FUZZ_CHECK(!"unknown key type");
    }
    form = certmap_key_form(&key);

    e = certmap_table_find(t, &cert);
    FUZZ_CHECK(e != NULL);
    FUZZ_CHECK(e->account == NULL
               || certmap_account_check(p, e->account) == NULL);
    FUZZ_CHECK(e->account != NULL || e->deny_source != NULL);
    if (key.type == CERTMAP_KEY_SHA256) {
        /* find() prefers the SHA-256 index: this line's own entry. */
        if (deny) {
            FUZZ_CHECK(e->deny_source != NULL);
        }
        else {
            FUZZ_CHECK(e->account != NULL && strcmp(e->account, account) == 0);
            FUZZ_CHECK(e->source != NULL);
        }
    }

    chain[0] = t;
    certmap_decide(chain, 1, &cert, NULL, &d);
    if (deny) {
        FUZZ_CHECK(d.reason == CERTMAP_CERT_DENIED);
        FUZZ_CHECK(d.account == NULL && d.source != NULL);
        FUZZ_CHECK(d.form != NULL);
    }
    else {
        FUZZ_CHECK(
            d.reason == CERTMAP_MAPPED || d.reason == CERTMAP_CERT_DENIED
            || (d.reason == CERTMAP_CERT_UNMAPPED && d.conflict != NULL));
    }
    if (d.reason == CERTMAP_CERT_UNMAPPED) {
        FUZZ_CHECK(d.account == NULL && d.source != NULL && d.form != NULL
                   && d.conflict_form != NULL);
    }
    if (d.reason == CERTMAP_MAPPED) {
        FUZZ_CHECK(d.account != NULL && d.source != NULL && d.form != NULL);
        FUZZ_CHECK(d.conflict == NULL && d.conflict_form == NULL);
        FUZZ_CHECK(certmap_account_check(p, d.account) == NULL);
        /* Decided by this line's form: only this line's key can match
         * there, so it is this line's account. */
        if (strcmp(d.form, form) == 0) {
            FUZZ_CHECK(strcmp(d.account, account) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    certmap_table_t *t;
    char *text, *line, *end;
    int lineno = 0;

    if (size > FUZZ_MAX_INPUT || memchr(data, '\0', size) != NULL
        || memchr(data, '/', size) != NULL) {
        return 0;
    }
    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *)data, size);

    /* The whole input as one line. */
    t = certmap_table_make(p);
    add_and_check(p, t, text, "fuzz:1");

    /* The input as a map file. */
    t = certmap_table_make(p);
    if (strncmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
    }
    for (line = text; lineno < FUZZ_MAX_LINES; line = end + 1) {
        int last;

        end = strchr(line, '\n');
        last = end == NULL;
        if (last) {
            end = line + strlen(line);
        }
        *end = '\0';
        if (end > line && end[-1] == '\r') {
            end[-1] = '\0';
        }
        lineno++;
        add_and_check(p, t, line, apr_psprintf(p, "fuzz:%d", lineno));
        if (last) {
            break;
        }
    }

    apr_pool_destroy(p);
    return 0;
}
