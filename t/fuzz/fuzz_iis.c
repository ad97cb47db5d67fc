/*
 * fuzz_iis.c - the IIS configuration import, certmap_iis_import().
 *
 * The importer reads a path, so each input is written to a file in a
 * private directory made at start-up ($TMPDIR/certmap-fuzziis-XXXXXX,
 * removed at exit) and imported three times: for every site (site NULL),
 * for "Default Web Site", and for the site named by the first path="..."
 * in the input (so that the fuzzer's own site names match too).  The
 * empty input also imports the directory and a missing file.
 *
 * Invariants:
 *   failure: *lines and *warnings untouched; the error is a non-empty
 *            printable sentence that names the file;
 *   success: every line and warning is valid UTF-8 without C0 control
 *            characters or DEL and does not end in a backslash; a line is
 *            blank, a comment, or one of the directives the importer
 *            writes, and each directive reads back, argument by argument
 *            as httpd's configuration parser splits it:
 *              CertMap On|Off;
 *              CertMapDomain D: D passes certmap_domain_check();
 *              CertMapUser SPEC ACCOUNT: SPEC is sha256:HEX and parses
 *                with certmap_key_parse(), and when the input's
 *                certificate attributes could be decoded here (own base64
 *                decoder, OpenSSL for the DER/PEM) it is the SHA-256 of
 *                one of them; ACCOUNT passes certmap_account_check();
 *              CertMapRule EXPR ACCOUNT|deny: EXPR is a conjunction of
 *                %{SSL_CLIENT_[SI]_DN_X} == '...' or =~ /^...$/[i], whose
 *                strings leave no quote, '%' or '$' unescaped; ACCOUNT
 *                passes certmap_account_check() and is no template;
 *              <Location "URL"> ... </Location>: not nested, balanced,
 *                the lines in between indented by four blanks;
 *            no directive line contains "${" (httpd's variables); a
 *            directive printed disabled ("# CertMapUser ...") reads back
 *            the same way once the "# " is removed;
 *            the document also parses here in one piece (the importer
 *            feeds the parser a line at a time);
 *   passwords: a password="..." of a mapping whose value is made of
 *            letters, digits and a '~' (and appears nowhere else in the
 *            input) is in no line or warning.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_xml.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certmap.h"
#include "certmap_iis.h"
#include "fuzz.h"

#define FUZZ_MAX_INPUT (256 * 1024)
#define MAX_DIGESTS 64
#define MAX_SECRETS 16

static apr_pool_t *root;
static char tmpdir[64];
static char path[96];

static void cleanup(void)
{
    unlink(path);
    rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *t = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&root, NULL);
    snprintf(tmpdir, sizeof(tmpdir), "%s/certmap-fuzziis-XXXXXX",
             t && *t && strlen(t) < 30 ? t : "/tmp");
    FUZZ_CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(path, sizeof(path), "%s/applicationHost.config", tmpdir);
    atexit(cleanup);
    return 0;
}

/* ------------------------------------------------------------------ */
/* What the input holds, read here with APR's parser in one go          */

typedef struct facts_t {
    int parsed;   /* the input parsed here */
    int ndigests; /* -1: some certificate unknown */
    unsigned char digests[MAX_DIGESTS][32];
    int nsecrets;
    const char *secrets[MAX_SECRETS];
    apr_array_header_t *strings; /* every other text of the document */
} facts_t;

/* Standard base64 with '=' padding, blanks (XML's normalised white space)
 * skipped; NULL when it is not that. */
static unsigned char *b64_decode(apr_pool_t *p, const char *s, size_t *len)
{
    unsigned char *out = apr_palloc(p, strlen(s) + 1);
    unsigned long acc = 0;
    size_t n = 0, bits = 0, pad = 0, chars = 0;

    for (; *s; s++) {
        int v;
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
            continue;
        }
        if (*s == '=') {
            pad++;
            chars++;
            continue;
        }
        v = fuzz_b64_value((unsigned char)*s);
        if (v < 0 || pad > 0) {
            return NULL;
        }
        chars++;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (chars == 0 || chars % 4 != 0 || pad > 2) {
        return NULL;
    }
    *len = n;
    return out;
}

static void add_digest(facts_t *f, const unsigned char *d)
{
    if (f->ndigests >= 0 && f->ndigests < MAX_DIGESTS) {
        memcpy(f->digests[f->ndigests++], d, 32);
    }
    else {
        f->ndigests = -1;
    }
}

/* The SHA-256 fingerprints a certificate attribute may stand for: of the
 * decoded bytes, and of the certificate OpenSSL reads from them (the same
 * unless bytes follow it). */
static void cert_digests(apr_pool_t *p, facts_t *f, const char *value)
{
    unsigned char d[32];
    unsigned int dl;
    X509 *x = NULL;

    if (strstr(value, "-----BEGIN") != NULL) {
        BIO *bio = BIO_new_mem_buf(value, -1);
        FUZZ_CHECK(bio != NULL);
        while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (X509_digest(x, EVP_sha256(), d, &dl)) {
                add_digest(f, d);
            }
            X509_free(x);
        }
        BIO_free(bio);
    }
    else {
        size_t len;
        unsigned char *der = b64_decode(p, value, &len);
        const unsigned char *q = der;

        if (der == NULL) {
            return; /* the importer must refuse it */
        }
        if (EVP_Digest(der, len, d, &dl, EVP_sha256(), NULL)) {
            add_digest(f, d);
        }
        x = d2i_X509(NULL, &q, (long)len);
        if (x != NULL) {
            if (X509_digest(x, EVP_sha256(), d, &dl)) {
                add_digest(f, d);
            }
            X509_free(x);
        }
    }
    ERR_clear_error();
}

/* A password value the check can follow: letters, digits and a '~',
 * which nothing the importer writes of its own contains. */
static int traceable(const char *v)
{
    size_t n = strlen(v), i;

    if (n < 6 || strchr(v, '~') == NULL) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)v[i]) && v[i] != '~') {
            return 0;
        }
    }
    return 1;
}

static void walk(apr_pool_t *p, facts_t *f, const apr_xml_elem *e,
                 const apr_xml_elem *parent, int depth)
{
    const apr_xml_attr *a;
    const apr_text *t;
    const apr_xml_elem *c;
    int mapping = parent != NULL && strcmp(e->name, "add") == 0
                  && (strcmp(parent->name, "oneToOneMappings") == 0
                      || strcmp(parent->name, "manyToOneMappings") == 0);

    APR_ARRAY_PUSH(f->strings, const char *) = e->name;
    for (a = e->attr; a != NULL; a = a->next) {
        if (strcmp(a->name, "certificate") == 0) {
            cert_digests(p, f, a->value);
        }
        if (mapping && strcmp(a->name, "password") == 0 && traceable(a->value)
            && f->nsecrets < MAX_SECRETS) {
            f->secrets[f->nsecrets++] = a->value;
        }
        else {
            APR_ARRAY_PUSH(f->strings, const char *) = a->value;
        }
        APR_ARRAY_PUSH(f->strings, const char *) = a->name;
    }
    for (t = e->first_cdata.first; t != NULL; t = t->next) {
        APR_ARRAY_PUSH(f->strings, const char *) = t->text;
    }
    for (t = e->following_cdata.first; t != NULL; t = t->next) {
        APR_ARRAY_PUSH(f->strings, const char *) = t->text;
    }
    if (depth > 64) {
        f->ndigests = -1; /* not followed further */
        return;
    }
    for (c = e->first_child; c != NULL; c = c->next) {
        walk(p, f, c, e, depth + 1);
    }
}

static void read_facts(apr_pool_t *p, const uint8_t *data, size_t size,
                       facts_t *f)
{
    apr_xml_parser *parser = apr_xml_parser_create(p);
    apr_xml_doc *doc = NULL;
    int i;

    memset(f, 0, sizeof(*f));
    f->strings = apr_array_make(p, 64, sizeof(const char *));
    if (apr_xml_parser_feed(parser, (const char *)data, size) != APR_SUCCESS
        || apr_xml_parser_done(parser, &doc) != APR_SUCCESS || doc == NULL
        || doc->root == NULL) {
        return;
    }
    f->parsed = 1;
    walk(p, f, doc->root, NULL, 0);
    for (i = 0; i < doc->namespaces->nelts; i++) {
        APR_ARRAY_PUSH(f->strings, const char *) =
            APR_ARRAY_IDX(doc->namespaces, i, const char *);
    }
    /* A secret that is also some other text of the input may be printed
     * as that text: not followed. */
    for (i = 0; i < f->nsecrets; i++) {
        int j, other = 0;
        for (j = 0; j < f->strings->nelts && !other; j++) {
            other = strstr(APR_ARRAY_IDX(f->strings, j, const char *),
                           f->secrets[i])
                    != NULL;
        }
        if (other) {
            f->secrets[i--] = f->secrets[--f->nsecrets];
        }
    }
}

/* ------------------------------------------------------------------ */
/* The output                                                          */

/* Valid UTF-8 (no overlong forms, no surrogates), no C0 control
 * character and no DEL. */
static int printable(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u) {
        unsigned char c = *u;
        unsigned int cp;
        int n, i;

        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
        if (c < 0x80) {
            u++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else {
            return 0;
        }
        for (i = 1; i <= n; i++) {
            if ((u[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (u[i] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return 0;
        }
        u += n + 1;
    }
    return 1;
}

/* One argument as httpd's ap_getword_conf() reads it: blanks skipped; in
 * double or single quotes, a backslash before that quote or before a
 * backslash stands for the character after it; otherwise up to the next
 * blank.  Here a quoted argument must also be closed and followed by a
 * blank or the end.  NULL at the end of the line or for an argument that
 * is not so. */
static const char *conf_word(apr_pool_t *p, const char **line)
{
    const char *s = *line;
    char *out, *o;
    char q;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s == '\0') {
        *line = s;
        return NULL;
    }
    out = o = apr_palloc(p, strlen(s) + 1);
    q = *s;
    if (q == '"' || q == '\'') {
        for (s++; *s && *s != q; s++) {
            if (*s == '\\' && (s[1] == q || s[1] == '\\')) {
                s++;
            }
            *o++ = *s;
        }
        FUZZ_CHECK(*s == q); /* closed */
        s++;
        FUZZ_CHECK(*s == '\0' || *s == ' ');
    }
    else {
        while (*s && *s != ' ' && *s != '\t') {
            *o++ = *s++;
        }
    }
    *o = '\0';
    *line = s;
    return out;
}

/* An ap_expr string literal '...' starting at *s: every quote, '%' and
 * '$' escaped with a backslash.  Moves *s past the closing quote. */
static void check_expr_string(const char **s)
{
    const char *c = *s;

    FUZZ_CHECK(*c == '\'');
    for (c++; *c != '\''; c++) {
        FUZZ_CHECK(*c != '\0' && *c != '"' && *c != '%' && *c != '$');
        if (*c == '\\') {
            c++;
            FUZZ_CHECK(*c != '\0');
        }
    }
    *s = c + 1;
}

/* An ap_expr regular expression /^...$/ or /^...$/i starting at *s:
 * nothing in it the expression or configuration parser would read. */
static void check_expr_regex(const char **s)
{
    const char *c = *s, *end;

    FUZZ_CHECK(strncmp(c, "/^", 2) == 0);
    end = strchr(c + 2, '/');
    FUZZ_CHECK(end != NULL && end > c + 2 && end[-1] == '$');
    for (c += 2; c < end - 1; c++) {
        FUZZ_CHECK(*c != '"' && *c != '%' && *c != '$');
    }
    c = end + 1;
    if (*c == 'i') {
        c++;
    }
    *s = c;
}

/* After "SSL_CLIENT_S_DN_": one of the names mod_ssl gives a variable
 * (ssl_engine_vars.c), then '}'.  Returns what follows the name. */
static const char *mod_ssl_dn_name(const char *s)
{
    static const char *const names[] = {"C",  "ST", "SP",  "L",     "O",
                                        "OU", "CN", "T",   "I",     "G",
                                        "S",  "D",  "UID", "Email", NULL};
    int i;

    for (i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(s, names[i], n) == 0 && s[n] == '}') {
            return s + n;
        }
    }
    return NULL;
}

static void check_rule_expr(const char *expr)
{
    const char *s = expr;

    for (;;) {
        FUZZ_CHECK(strncmp(s, "%{SSL_CLIENT_", 13) == 0);
        s += 13;
        FUZZ_CHECK((*s == 'S' || *s == 'I') && strncmp(s + 1, "_DN_", 4) == 0);
        s += 5;
        s = mod_ssl_dn_name(s);
        FUZZ_CHECK(s != NULL && *s++ == '}');
        if (strncmp(s, " == ", 4) == 0) {
            s += 4;
            check_expr_string(&s);
        }
        else {
            FUZZ_CHECK(strncmp(s, " =~ ", 4) == 0);
            s += 4;
            check_expr_regex(&s);
        }
        if (*s == '\0') {
            return;
        }
        FUZZ_CHECK(strncmp(s, " && ", 4) == 0);
        s += 4;
    }
}

static int has_digest(const facts_t *f, const certmap_key_t *key)
{
    int i;

    for (i = 0; i < f->ndigests; i++) {
        if (memcmp(f->digests[i], key->digest, 32) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A directive line (indent removed); 1 when it was a <Location>, -1 for
 * </Location>, else 0. */
static int check_directive(apr_pool_t *p, const facts_t *f, const char *line)
{
    const char *rest, *a1, *a2;
    certmap_key_t key;

    FUZZ_CHECK(strstr(line, "${") == NULL);
    if (strcmp(line, "CertMap On") == 0 || strcmp(line, "CertMap Off") == 0) {
        return 0;
    }
    if (strcmp(line, "</Location>") == 0) {
        return -1;
    }
    if (strncmp(line, "<Location ", 10) == 0) {
        size_t n = strlen(line);
        FUZZ_CHECK(n > 11 && line[n - 1] == '>');
        rest = apr_pstrmemdup(p, line + 10, n - 11);
        a1 = conf_word(p, &rest);
        FUZZ_CHECK(a1 != NULL && a1[0] == '/' && *rest == '\0');
        return 1;
    }
    rest = strchr(line, ' ');
    FUZZ_CHECK(rest != NULL);
    a1 = conf_word(p, &rest);
    a2 = conf_word(p, &rest);
    if (strncmp(line, "CertMapDomain ", 14) == 0) {
        FUZZ_CHECK(a1 != NULL && a2 == NULL);
        FUZZ_CHECK(certmap_domain_check(p, a1) == NULL);
        return 0;
    }
    FUZZ_CHECK(a1 != NULL && a2 != NULL && conf_word(p, &rest) == NULL);
    if (strncmp(line, "CertMapUser ", 12) == 0) {
        FUZZ_CHECK(strncmp(a1, "sha256:", 7) == 0);
        FUZZ_CHECK(certmap_key_parse(p, a1, NULL, &key) == NULL);
        FUZZ_CHECK(key.type == CERTMAP_KEY_SHA256);
        FUZZ_CHECK(certmap_account_check(p, a2) == NULL);
        if (f->parsed && f->ndigests >= 0) {
            FUZZ_CHECK(has_digest(f, &key));
        }
        return 0;
    }
    FUZZ_CHECK(strncmp(line, "CertMapRule ", 12) == 0);
    check_rule_expr(a1);
    if (strcasecmp(a2, "deny") != 0) {
        const char *d;
        FUZZ_CHECK(certmap_account_check(p, a2) == NULL);
        FUZZ_CHECK(strstr(a2, "%{") == NULL);
        for (d = strchr(a2, '$'); d; d = strchr(d + 1, '$')) {
            FUZZ_CHECK(!isdigit((unsigned char)d[1]));
        }
    }
    return 0;
}

/* The note the importer writes before a directive it prints disabled. */
static int disabled_note(const char *line)
{
    static const char *const why[] = {
        "enabled=\"false\"", "oneToOneCertificateMappingsEnabled=\"false\"",
        "manyToOneCertificateMappingsEnabled=\"false\"", NULL};
    static const char head[] = "#   disabled in IIS (";
    static const char tail[] = "); remove the '# ' to use it:";
    int i;

    if (strncmp(line, head, sizeof(head) - 1) != 0) {
        return 0;
    }
    line += sizeof(head) - 1;
    for (i = 0; why[i]; i++) {
        size_t n = strlen(why[i]);
        if (strncmp(line, why[i], n) == 0 && strcmp(line + n, tail) == 0) {
            return 1;
        }
    }
    return 0;
}

static void check_output(apr_pool_t *p, const facts_t *f,
                         const apr_array_header_t *lines,
                         const apr_array_header_t *warnings)
{
    int i, j, in_location = 0, disabled_next = 0;

    FUZZ_CHECK(lines != NULL && warnings != NULL && lines->nelts > 0);
    FUZZ_CHECK(strncmp(APR_ARRAY_IDX(lines, 0, const char *),
                       "# CertMap* configuration", 24)
               == 0);
    for (i = 0; i < lines->nelts; i++) {
        const char *line = APR_ARRAY_IDX(lines, i, const char *);
        size_t n;

        FUZZ_CHECK(line != NULL && printable(line));
        n = strlen(line);
        FUZZ_CHECK(n == 0 || (line[n - 1] != '\\' && line[n - 1] != ' '));
        for (j = 0; j < f->nsecrets; j++) {
            FUZZ_CHECK(strstr(line, f->secrets[j]) == NULL
                       || strstr(line, "IIS thumbprint") != NULL
                       || strstr(line, "would refuse it") != NULL);
        }
        if (n == 0) {
            FUZZ_CHECK(!disabled_next);
            continue;
        }
        if (in_location && strcmp(line, "</Location>") != 0) {
            FUZZ_CHECK(strncmp(line, "    ", 4) == 0);
            line += 4;
        }
        FUZZ_CHECK(line[0] != ' ' && line[0] != '\t');
        if (line[0] == '#') {
            FUZZ_CHECK(disabled_next
                       || (strncmp(line, "# CertMapUser ", 14) != 0
                           && strncmp(line, "# CertMapRule ", 14) != 0));
            if (disabled_next) {
                FUZZ_CHECK(line[1] == ' ');
                FUZZ_CHECK(check_directive(p, f, line + 2) == 0);
                FUZZ_CHECK(strncmp(line, "# CertMapUser ", 14) == 0
                           || strncmp(line, "# CertMapRule ", 14) == 0);
            }
            disabled_next = disabled_note(line);
            continue;
        }
        FUZZ_CHECK(!disabled_next);
        switch (check_directive(p, f, line)) {
        case 1:
            FUZZ_CHECK(!in_location);
            in_location = 1;
            break;
        case -1:
            FUZZ_CHECK(in_location);
            in_location = 0;
            break;
        default:
            break;
        }
    }
    FUZZ_CHECK(!in_location && !disabled_next);
    for (i = 0; i < warnings->nelts; i++) {
        const char *w = APR_ARRAY_IDX(warnings, i, const char *);
        FUZZ_CHECK(w != NULL && *w != '\0' && printable(w));
        for (j = 0; j < f->nsecrets; j++) {
            FUZZ_CHECK(strstr(w, f->secrets[j]) == NULL);
        }
    }
}

static void import_file(apr_pool_t *p, const facts_t *f, const char *file,
                        const char *site)
{
    apr_array_header_t *lines = NULL, *warnings = NULL;
    const char *err = certmap_iis_import(p, file, site, &lines, &warnings);

    if (getenv("FUZZ_VERBOSE") != NULL) {
        int i;
        printf("== site %s: %s\n", site ? site : "(all)", err ? err : "ok");
        for (i = 0; lines && i < lines->nelts; i++) {
            printf("%s\n", APR_ARRAY_IDX(lines, i, const char *));
        }
        for (i = 0; warnings && i < warnings->nelts; i++) {
            printf("warning: %s\n", APR_ARRAY_IDX(warnings, i, const char *));
        }
        fflush(stdout);
    }
    if (err != NULL) {
        FUZZ_CHECK(lines == NULL && warnings == NULL);
        FUZZ_CHECK(*err != '\0' && printable(err));
        FUZZ_CHECK(strstr(err, file) != NULL);
        return;
    }
    /* The importer feeds the parser a line at a time, this target all at
     * once: the same document either way. */
    FUZZ_CHECK(f->parsed);
    check_output(p, f, lines, warnings);
}

static void import(apr_pool_t *p, const facts_t *f, const char *site)
{
    import_file(p, f, path, site);
}

/* The site part of the first path="..." of the input, or NULL. */
static const char *input_site(apr_pool_t *p, const uint8_t *data, size_t size)
{
    const char *s = memmem(data, size, "path=\"", 6), *e;

    if (s == NULL) {
        return NULL;
    }
    s += 6;
    for (e = s; e < (const char *)data + size && *e != '"' && *e != '/'
                && (unsigned char)*e >= 0x20;
         e++) {
    }
    return apr_pstrmemdup(p, s, e - s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    FILE *fp;
    facts_t f;
    const char *site;

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    fp = fopen(path, "wb");
    FUZZ_CHECK(fp != NULL);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, fp) == size);
    FUZZ_CHECK(fclose(fp) == 0);

    apr_pool_create(&p, root);
    read_facts(p, data, size, &f);
    if (size == 0) {
        /* What is not a file: errors too (the checks make them fail). */
        import_file(p, &f, tmpdir, NULL);
        import_file(p, &f, apr_pstrcat(p, tmpdir, "/missing", NULL), NULL);
    }
    import(p, &f, NULL);
    import(p, &f, "Default Web Site");
    site = input_site(p, data, size);
    if (site != NULL && strcasecmp(site, "Default Web Site") != 0) {
        import(p, &f, site);
    }
    apr_pool_destroy(p);
    return 0;
}
