/*
 * certmap.c - the certmap command-line tool.
 *
 * Fingerprints, map-file editing and checking, and the IIS import, all on
 * the module's own engine (libcertmap), so that what the tool accepts,
 * refuses and says is exactly what mod_certmap accepts, refuses and says.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "certmap.h"
#include "certmap_iis.h"

/* Exit statuses, as the man page documents them. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* A map file larger than the module reads is not edited either. */
#define MAP_FILE_MAX ((apr_off_t)1 << 31)

static void say_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void say_error(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("certmap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Commands and their help                                            */

typedef int (*command_fn)(apr_pool_t *p, int argc, const char *const *argv,
                          const char *site);

typedef struct command_t {
    const char *name;
    command_fn fn;
    int min_args, max_args; /* max_args -1: no limit */
    const char *synopsis;
    const char *help;
} command_t;

static int cmd_fingerprint(apr_pool_t *, int, const char *const *,
                           const char *);
static int cmd_add(apr_pool_t *, int, const char *const *, const char *);
static int cmd_remove(apr_pool_t *, int, const char *const *, const char *);
static int cmd_list(apr_pool_t *, int, const char *const *, const char *);
static int cmd_check(apr_pool_t *, int, const char *const *, const char *);
static int cmd_lookup(apr_pool_t *, int, const char *const *, const char *);
static int cmd_import_iis(apr_pool_t *, int, const char *const *, const char *);

static const command_t commands[] = {
    {"fingerprint", cmd_fingerprint, 1, -1, "fingerprint CERT...",
     "Print every form mod_certmap accepts for each certificate file, one\n"
     "a line, ready to paste into CertMapUser, CertMapDeny or a map file:\n"
     "sha256:, sha1: (the Windows thumbprint), spki-sha256: and the\n"
     "Active Directory X509: strong mapping forms.  With several files,\n"
     "each group starts with a '# FILE: SUBJECT' comment line.\n"},
    {"add", cmd_add, 3, 3, "add MAPFILE CERT ACCOUNT",
     "Append the line 'sha256:HEX ACCOUNT' to MAPFILE (created when it does\n"
     "not exist).  CERT is a certificate file, whose SHA-256 fingerprint\n"
     "is written, or a form such as sha256:HEX or sha1:HEX (written in\n"
     "lower case).  Refused, with the file left as it was, when the map file\n"
     "does not parse, when a line already names the certificate (mapped\n"
     "to any account, or denied), or when the account is not valid.\n"},
    {"remove", cmd_remove, 2, 2, "remove MAPFILE CERT",
     "Remove every line of MAPFILE that names the certificate and print\n"
     "what was removed.  A certificate file is recognised in every form a\n"
     "line can name it by; a form such as sha256:HEX removes the lines\n"
     "with that key.  Exits 1 when no line names it.\n"},
    {"list", cmd_list, 1, 1, "list MAPFILE",
     "Print the entries of MAPFILE as FILE:LINE: followed by the entry;\n"
     "a certificate given as a file is followed by its SHA-256.\n"},
    {"check", cmd_check, 1, -1, "check MAPFILE...",
     "Validate map files with the module's own parser and messages\n"
     "(FILE:LINE: ...).  Prints the number of entries of a valid file;\n"
     "exits 1 when any file is not valid.\n"},
    {"lookup", cmd_lookup, 2, 2, "lookup MAPFILE CERT",
     "Say which entry of MAPFILE decides for the certificate, as the\n"
     "module would: 'mapped to ACCOUNT by FILE:LINE', 'denied by\n"
     "FILE:LINE' or 'not mapped'.  Exits 0 only when it is mapped.\n"},
    {"import-iis", cmd_import_iis, 1, 1,
     "import-iis [--site NAME] applicationHost.config",
     "Print the CertMap* configuration equivalent to the IIS client\n"
     "certificate mappings (iisClientCertificateMappingAuthentication)\n"
     "of an applicationHost.config or web.config: one-to-one mappings as\n"
     "CertMapUser sha256:HEX ACCOUNT, many-to-one mappings as CertMapRule\n"
     "over mod_ssl variables.  Whatever cannot be translated becomes a\n"
     "comment that says why; passwords are never printed.  --site NAME\n"
     "keeps the <location> sections of that IIS site, each as a\n"
     "<Location> block.\n"},
    {NULL, NULL, 0, 0, NULL, NULL}};

static void print_usage(FILE *f)
{
    const command_t *c;

    fputs("usage: certmap COMMAND [ARGUMENTS]\n\ncommands:\n", f);
    for (c = commands; c->name; c++) {
        fprintf(f, "  certmap %s\n", c->synopsis);
    }
    fputs("  certmap help [COMMAND]\n"
          "  certmap --version\n\n"
          "CERT is a certificate file (PEM or DER, e.g. a .cer exported "
          "from Windows)\nor a form such as sha256:HEX or sha1:HEX.  "
          "See certmap(1).\n",
          f);
}

static void print_command_help(FILE *f, const command_t *c)
{
    fprintf(f, "usage: certmap %s\n\n%s", c->synopsis, c->help);
}

static const command_t *find_command(const char *name)
{
    const command_t *c;

    for (c = commands; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

static int usage_error(const command_t *c, const char *fmt, const char *arg)
{
    fputs("certmap: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    if (c != NULL) {
        fprintf(stderr, "usage: certmap %s\n", c->synopsis);
    }
    else {
        print_usage(stderr);
    }
    return EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */

/* A value made safe for one line of output: control bytes as \xHH. */
static const char *printable(apr_pool_t *p, const char *s)
{
    apr_size_t n = strlen(s);
    char *out = apr_palloc(p, 4 * n + 1), *o = out;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\x%02x", c);
        }
        else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

/* A certificate form for a person to paste into a map file or an httpd
 * directive: bare when it can be, else quoted the way both read it back
 * (double quotes, or single quotes around a form that holds a double
 * quote, as an X509:<I> issuer can). */
static const char *paste_quote(apr_pool_t *p, const char *s)
{
    char q;

    if (*s != '\0' && *s != '#' && strpbrk(s, " \t\"'") == NULL) {
        return s;
    }
    q = strchr(s, '"') != NULL ? '\'' : '"';
    if (strchr(s, q) != NULL || strchr(s, '\\') != NULL) {
        return certmap_map_quote(p, s); /* map-file syntax */
    }
    return apr_psprintf(p, "%c%s%c", q, s, q);
}

/* ------------------------------------------------------------------ */
/* What the user named on the command line                            */

typedef struct target_t {
    const char *arg;      /* as given */
    certmap_key_t key;    /* what a map-file line would make of it */
    certmap_cert_t *cert; /* set when arg is a certificate file */
} target_t;

static const char *target_parse(apr_pool_t *p, const char *arg, target_t *t)
{
    const char *err;

    memset(t, 0, sizeof(*t));
    t->arg = arg;
    err = certmap_key_parse(p, arg, NULL, &t->key);
    if (err != NULL) {
        return err;
    }
    if (strcmp(certmap_key_form(&t->key), CERTMAP_FORM_FILE) == 0) {
        err = certmap_cert_load_file(p, arg, &t->cert);
    }
    return err;
}

/* The text `add` writes for the certificate. */
static const char *target_text(apr_pool_t *p, const target_t *t)
{
    if (t->cert != NULL) {
        return apr_pstrcat(
            p, "sha256:", certmap_hex(p, t->cert->sha256, CERTMAP_SHA256_LEN),
            NULL);
    }
    if (t->key.type == CERTMAP_KEY_SHA256) {
        return apr_pstrcat(
            p, "sha256:", certmap_hex(p, t->key.digest, CERTMAP_SHA256_LEN),
            NULL);
    }
    if (t->key.type == CERTMAP_KEY_SHA1) {
        return apr_pstrcat(
            p, "sha1:", certmap_hex(p, t->key.digest, CERTMAP_SHA1_LEN), NULL);
    }
    return t->arg;
}

/* ------------------------------------------------------------------ */
/* Map files                                                          */

typedef struct map_line_t {
    const char *raw; /* the line's bytes in the file, end of line included */
    apr_size_t raw_len;
    unsigned int lineno;
    const char *text; /* without the end of line */
    int is_entry;     /* neither blank nor a comment */
    int deny;
    const char *cert;    /* the certificate field */
    const char *account; /* NULL for a deny line */
} map_line_t;

typedef struct map_file_t {
    const char *path;     /* as the user gave it: the name in messages */
    const char *base_dir; /* for relative certificate paths, as the engine */
    const char *data;     /* the whole file */
    apr_size_t len;
    apr_size_t bom_len; /* 3 when it starts with a UTF-8 byte order mark */
    int crlf;           /* its first line ends in CR LF */
    apr_array_header_t *lines; /* map_line_t */
    certmap_table_t *table;    /* what the module would load */
} map_file_t;

/* Split `data` into lines the way the engine numbers them. */
static void map_split(apr_pool_t *p, map_file_t *mf)
{
    const char *s, *end, *stop = mf->data + mf->len;
    unsigned int lineno = 0;

    mf->bom_len = 0;
    if (mf->len >= 3 && memcmp(mf->data, "\xef\xbb\xbf", 3) == 0) {
        mf->bom_len = 3;
    }
    mf->lines = apr_array_make(p, 64, sizeof(map_line_t));
    mf->crlf = 0;
    for (s = mf->data + mf->bom_len; s < stop; s = end) {
        map_line_t *l = apr_array_push(mf->lines);
        const char *nl = memchr(s, '\n', stop - s);
        apr_size_t tlen;
        const char *split_err;
        char *tok[2];
        int n;

        memset(l, 0, sizeof(*l));
        end = nl ? nl + 1 : stop;
        l->raw = s;
        l->raw_len = end - s;
        l->lineno = ++lineno;
        tlen = (nl ? nl : stop) - s;
        if (nl != NULL && tlen > 0 && s[tlen - 1] == '\r') {
            tlen--;
            if (lineno == 1) {
                mf->crlf = 1;
            }
        }
        l->text = apr_pstrmemdup(p, s, tlen);
        n = certmap_map_split(p, l->text, tok, 2, &split_err);
        if (n <= 0) {
            continue;
        }
        l->is_entry = 1;
        if (strcasecmp(tok[0], "deny") == 0 && n == 2) {
            l->deny = 1;
            l->cert = tok[1];
        }
        else if (n == 2) {
            l->cert = tok[0];
            l->account = tok[1];
        }
    }
}

/* Validate the map file exactly as the module does (CertMapFile), then
 * split `data` (the file's content) into lines. */
static const char *map_load(apr_pool_t *p, const char *path, const char *data,
                            apr_size_t len, map_file_t *mf)
{
    const char *err;

    memset(mf, 0, sizeof(*mf));
    mf->path = path;
    mf->base_dir = certmap_map_file_dir(p, path);
    mf->table = certmap_table_make(p);
    err = certmap_table_load_file(mf->table, path);
    if (err != NULL) {
        return err;
    }
    mf->data = data;
    mf->len = len;
    map_split(p, mf);
    return NULL;
}

static const char *read_fd(apr_pool_t *p, int fd, const char *path, char **data,
                           apr_size_t *len)
{
    struct stat st;
    apr_size_t got = 0;
    char *buf;

    if (fstat(fd, &st) != 0) {
        return apr_psprintf(p, "cannot read map file %s: %s", path,
                            strerror(errno));
    }
    if (st.st_size > MAP_FILE_MAX) {
        return apr_psprintf(p, "map file %s is larger than 2 GB", path);
    }
    buf = apr_palloc(p, (apr_size_t)st.st_size + 1);
    while (got < (apr_size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (apr_size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return apr_psprintf(p, "cannot read map file %s: %s", path,
                                strerror(errno));
        }
        if (n == 0) {
            break;
        }
        got += (apr_size_t)n;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return NULL;
}

/* Read a map file for the read-only commands. */
static const char *map_read(apr_pool_t *p, const char *path, map_file_t *mf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *data;
    apr_size_t len;
    const char *err;

    if (fd < 0) {
        /* Let the engine say it, in its words. */
        certmap_table_t *t = certmap_table_make(p);
        err = certmap_table_load_file(t, path);
        return err ? err
                   : apr_psprintf(p, "cannot read map file %s: %s", path,
                                  strerror(errno));
    }
    err = read_fd(p, fd, path, &data, &len);
    close(fd);
    return err ? err : map_load(p, path, data, len, mf);
}

/* The entry as the list shows it: in map-file syntax. */
static const char *entry_text(apr_pool_t *p, const map_file_t *mf,
                              const map_line_t *l)
{
    const char *cert = certmap_map_quote(p, l->cert);
    const char *text;
    certmap_key_t key;

    if (l->deny) {
        text = apr_pstrcat(p, "deny ", cert, NULL);
    }
    else {
        text =
            apr_pstrcat(p, cert, " ", certmap_map_quote(p, l->account), NULL);
    }
    if (certmap_key_parse(p, l->cert, mf->base_dir, &key) == NULL
        && strcmp(certmap_key_form(&key), CERTMAP_FORM_FILE) == 0) {
        text = apr_pstrcat(p, text, " (sha256:",
                           certmap_hex(p, key.digest, CERTMAP_SHA256_LEN), ")",
                           NULL);
    }
    return printable(p, text);
}

/* 1 when the entry names the target: for a certificate file, in any form
 * the engine recognises it by; for a key form, when the engine would
 * file both under one certificate. */
static int entry_names(apr_pool_t *p, const map_file_t *mf, const map_line_t *l,
                       const target_t *t)
{
    certmap_table_t *table = certmap_table_make(p);

    if (t->cert != NULL) {
        if (certmap_table_add_line(table, l->text, mf->base_dir, "-") != NULL) {
            return 0;
        }
        return certmap_table_find(table, t->cert) != NULL;
    }
    else {
        certmap_key_t key;
        if (certmap_key_parse(p, l->cert, mf->base_dir, &key) != NULL
            || certmap_table_add(table, &key, "a", "line") != NULL
            || certmap_table_add(table, &t->key, "a", "arg") != NULL) {
            return 0;
        }
        return certmap_table_count(table) == 1;
    }
}

/* ------------------------------------------------------------------ */
/* Editing a map file in place, atomically                            */

typedef struct locked_t {
    int fd;
    const char *real; /* the file itself (symbolic links followed) */
    struct stat st;
} locked_t;

/* Open and lock the map file (creating it when `create`), making sure
 * the lock is held on the file that is at the path now: another certmap
 * may have renamed a new version over it while we waited. */
static const char *lock_map(apr_pool_t *p, const char *path, int create,
                            locked_t *lk)
{
    int tries;

    for (tries = 0; tries < 100; tries++) {
        char *real = realpath(path, NULL);
        struct stat now;

        lk->real = apr_pstrdup(p, real ? real : path);
        free(real);
        lk->fd = open(lk->real, O_RDONLY | O_CLOEXEC);
        if (lk->fd < 0 && errno == ENOENT && create) {
            lk->fd =
                open(lk->real, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (lk->fd < 0 && errno == EEXIST) {
                continue;
            }
        }
        if (lk->fd < 0) {
            return apr_psprintf(p, "cannot open map file %s: %s", path,
                                strerror(errno));
        }
        while (flock(lk->fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                close(lk->fd);
                return apr_psprintf(p, "cannot lock map file %s: %s", path,
                                    strerror(errno));
            }
        }
        if (fstat(lk->fd, &lk->st) != 0) {
            close(lk->fd);
            return apr_psprintf(p, "cannot read map file %s: %s", path,
                                strerror(errno));
        }
        if (stat(lk->real, &now) == 0 && now.st_ino == lk->st.st_ino
            && now.st_dev == lk->st.st_dev) {
            if (!S_ISREG(lk->st.st_mode)) {
                close(lk->fd);
                return apr_psprintf(p, "map file %s is not a regular file",
                                    path);
            }
            return NULL;
        }
        close(lk->fd);
    }
    return apr_psprintf(p, "map file %s keeps changing; try again", path);
}

static int write_all(int fd, const char *data, apr_size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (apr_size_t)n;
    }
    return 0;
}

/* Replace the locked file with `data`: a temporary file in the same
 * directory, with the file's mode (and owner, when allowed), synced to
 * disk and renamed over the file, so that a reader (httpd starting) sees
 * either the old or the new file, never a part of one. */
static const char *replace_map(apr_pool_t *p, const char *path,
                               const locked_t *lk, const char *data,
                               apr_size_t len)
{
    const char *dir = certmap_map_file_dir(p, lk->real);
    const char *base = strrchr(lk->real, '/');
    char *tmp;
    int fd, dfd, saved;

    base = base ? base + 1 : lk->real;
    tmp = apr_pstrcat(p, dir ? dir : "", ".", base, ".certmap-XXXXXX", NULL);
    fd = mkstemp(tmp);
    if (fd < 0) {
        return apr_psprintf(p, "cannot create a temporary file beside %s: %s",
                            path, strerror(errno));
    }
    if (fchmod(fd, lk->st.st_mode & 07777) != 0) {
        goto fail;
    }
    /* Keep the owner when we may (root); otherwise the file becomes ours,
     * as with any editor. */
    if ((lk->st.st_uid != geteuid() || lk->st.st_gid != getegid())
        && fchown(fd, lk->st.st_uid, lk->st.st_gid) != 0 && errno != EPERM) {
        goto fail;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, lk->real) != 0) {
        goto fail;
    }
    dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return NULL;

fail:
    saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    unlink(tmp);
    return apr_psprintf(p, "cannot write map file %s: %s (it is unchanged)",
                        path, strerror(saved));
}

/* ------------------------------------------------------------------ */
/* fingerprint                                                        */

static int cmd_fingerprint(apr_pool_t *p, int argc, const char *const *argv,
                           const char *site)
{
    int i, j, rc = EXIT_OK;

    (void)site;
    for (i = 0; i < argc; i++) {
        certmap_cert_t *cert;
        apr_array_header_t *forms;
        const char *err = certmap_cert_load_file(p, argv[i], &cert);

        if (err != NULL) {
            say_error("%s", err);
            rc = EXIT_FAIL;
            continue;
        }
        if (argc > 1) {
            printf("%s# %s: %s\n", i > 0 ? "\n" : "", printable(p, argv[i]),
                   cert->subject);
        }
        forms = certmap_cert_spec_forms(p, cert);
        for (j = 0; j < forms->nelts; j++) {
            const char *f = APR_ARRAY_IDX(forms, j, const char *);
            printf("%s\n", printable(p, paste_quote(p, f)));
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* add, remove                                                        */

static int cmd_add(apr_pool_t *p, int argc, const char *const *argv,
                   const char *site)
{
    const char *path = argv[0], *account = argv[2];
    const char *err, *cert_text, *cert_field, *account_field, *line, *eol;
    target_t t;
    locked_t lk;
    map_file_t mf;
    const char *split_err;
    char *data, *tok[2];
    apr_size_t len;
    int i, n;

    (void)argc;
    (void)site;
    err = target_parse(p, argv[1], &t);
    if (err == NULL) {
        err = certmap_account_check(p, account);
    }
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    cert_text = target_text(p, &t);
    cert_field = certmap_map_quote(p, cert_text);
    account_field = certmap_map_quote(p, account);
    line = apr_pstrcat(p, cert_field, " ", account_field, NULL);
    /* What the parser reads back must be what was asked for. */
    n = certmap_map_split(p, line, tok, 2, &split_err);
    if (n != 2 || strcmp(tok[0], cert_text) != 0
        || strcmp(tok[1], account) != 0) {
        say_error("the account '%s' cannot be written in a map file",
                  printable(p, account));
        return EXIT_FAIL;
    }

    err = lock_map(p, path, 1, &lk);
    if (err == NULL) {
        err = read_fd(p, lk.fd, path, &data, &len);
    }
    if (err == NULL) {
        err = map_load(p, path, data, len, &mf);
    }
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    for (i = 0; i < mf.lines->nelts; i++) {
        map_line_t *l = &APR_ARRAY_IDX(mf.lines, i, map_line_t);
        if (l->is_entry && entry_names(p, &mf, l, &t)) {
            say_error("%s:%u already has this certificate: %s; nothing "
                      "added (to change it, remove it first: certmap "
                      "remove %s %s)",
                      path, l->lineno, entry_text(p, &mf, l), path,
                      printable(p, t.arg));
            return EXIT_FAIL;
        }
    }
    /* The new line must also fit with every other line, as the module
     * will see it (e.g. a sha1: line and this sha256: naming one
     * certificate with another account). */
    err = certmap_table_add_line(
        mf.table, line, mf.base_dir,
        apr_psprintf(p, "%s:%u", path, mf.lines->nelts + 1));
    if (err != NULL) {
        say_error("%s:%d: %s; nothing added", path, mf.lines->nelts + 1, err);
        return EXIT_FAIL;
    }
    eol = mf.crlf ? "\r\n" : "\n";
    data = apr_pstrcat(p, apr_pstrmemdup(p, data, len),
                       (len > mf.bom_len && data[len - 1] != '\n') ? eol : "",
                       line, eol, NULL);
    err = replace_map(p, path, &lk, data, strlen(data));
    close(lk.fd);
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int cmd_remove(apr_pool_t *p, int argc, const char *const *argv,
                      const char *site)
{
    const char *path = argv[0], *err;
    target_t t;
    locked_t lk;
    map_file_t mf;
    char *data, *out, *o;
    apr_size_t len;
    apr_array_header_t *removed;
    int i;

    (void)argc;
    (void)site;
    err = target_parse(p, argv[1], &t);
    if (err == NULL) {
        err = lock_map(p, path, 0, &lk);
    }
    if (err == NULL) {
        err = read_fd(p, lk.fd, path, &data, &len);
        if (err == NULL) {
            err = map_load(p, path, data, len, &mf);
        }
        if (err != NULL) {
            close(lk.fd);
        }
    }
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    removed = apr_array_make(p, 4, sizeof(const char *));
    o = out = apr_palloc(p, len + 1);
    memcpy(o, data, mf.bom_len);
    o += mf.bom_len;
    for (i = 0; i < mf.lines->nelts; i++) {
        map_line_t *l = &APR_ARRAY_IDX(mf.lines, i, map_line_t);
        if (l->is_entry && entry_names(p, &mf, l, &t)) {
            APR_ARRAY_PUSH(removed, const char *) =
                apr_psprintf(p, "removed %s:%u: %s", printable(p, path),
                             l->lineno, entry_text(p, &mf, l));
            continue;
        }
        memcpy(o, l->raw, l->raw_len);
        o += l->raw_len;
    }
    if (removed->nelts == 0) {
        close(lk.fd);
        say_error("no line of %s names %s; nothing removed", path,
                  printable(p, t.arg));
        return EXIT_FAIL;
    }
    err = replace_map(p, path, &lk, out, (apr_size_t)(o - out));
    close(lk.fd);
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    for (i = 0; i < removed->nelts; i++) {
        printf("%s\n", APR_ARRAY_IDX(removed, i, const char *));
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* list, check, lookup                                                */

static int cmd_list(apr_pool_t *p, int argc, const char *const *argv,
                    const char *site)
{
    map_file_t mf;
    const char *err = map_read(p, argv[0], &mf);
    int i;

    (void)argc;
    (void)site;
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    for (i = 0; i < mf.lines->nelts; i++) {
        map_line_t *l = &APR_ARRAY_IDX(mf.lines, i, map_line_t);
        if (l->is_entry) {
            printf("%s:%u: %s\n", printable(p, argv[0]), l->lineno,
                   entry_text(p, &mf, l));
        }
    }
    return EXIT_OK;
}

static int cmd_check(apr_pool_t *p, int argc, const char *const *argv,
                     const char *site)
{
    int i, j, rc = EXIT_OK;

    (void)site;
    for (i = 0; i < argc; i++) {
        map_file_t mf;
        const char *err = map_read(p, argv[i], &mf);
        int entries = 0;

        if (err != NULL) {
            say_error("%s", err);
            rc = EXIT_FAIL;
            continue;
        }
        for (j = 0; j < mf.lines->nelts; j++) {
            entries += APR_ARRAY_IDX(mf.lines, j, map_line_t).is_entry;
        }
        printf("%s: valid, %d %s for %u %s\n", printable(p, argv[i]), entries,
               entries == 1 ? "entry" : "entries",
               certmap_table_count(mf.table),
               certmap_table_count(mf.table) == 1 ? "certificate"
                                                  : "certificates");
    }
    return rc;
}

static int cmd_lookup(apr_pool_t *p, int argc, const char *const *argv,
                      const char *site)
{
    map_file_t mf;
    target_t t;
    certmap_decision_t d;
    const char *err;

    (void)argc;
    (void)site;
    err = target_parse(p, argv[1], &t);
    if (err == NULL) {
        err = map_read(p, argv[0], &mf);
    }
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    if (t.cert != NULL) {
        const certmap_table_t *tables[1];
        tables[0] = mf.table;
        certmap_decide(tables, 1, t.cert, p, &d);
    }
    else {
        /* A key form: the lines that name that key; a deny wins, as in
         * certmap_decide(). */
        int i;
        memset(&d, 0, sizeof(d));
        d.reason = CERTMAP_CERT_UNMAPPED;
        for (i = 0; i < mf.lines->nelts; i++) {
            map_line_t *l = &APR_ARRAY_IDX(mf.lines, i, map_line_t);
            certmap_key_t key;
            if (!l->is_entry || !entry_names(p, &mf, l, &t)) {
                continue;
            }
            if (certmap_key_parse(p, l->cert, mf.base_dir, &key) != NULL) {
                continue;
            }
            if (l->deny) {
                d.form = certmap_key_form(&key);
                d.reason = CERTMAP_CERT_DENIED;
                d.account = NULL;
                d.source = apr_psprintf(p, "%s:%u", argv[0], l->lineno);
                break;
            }
            if (d.account == NULL) {
                d.form = certmap_key_form(&key);
                d.reason = CERTMAP_MAPPED;
                d.account = l->account;
                d.source = apr_psprintf(p, "%s:%u", argv[0], l->lineno);
            }
        }
    }
    switch (d.reason) {
    case CERTMAP_MAPPED:
        printf("mapped to %s by %s%s%s%s\n", printable(p, d.account),
               printable(p, d.source), d.form ? " (" : "", d.form ? d.form : "",
               d.form ? ")" : "");
        return EXIT_OK;
    case CERTMAP_CERT_DENIED:
        printf("denied by %s%s%s%s\n", printable(p, d.source),
               d.form ? " (" : "", d.form ? d.form : "", d.form ? ")" : "");
        return EXIT_FAIL;
    default:
        if (d.conflict != NULL) {
            printf("not mapped: %s and %s map it to different accounts, "
                   "so the module refuses it (cert-unmapped)\n",
                   printable(p, d.source), printable(p, d.conflict));
        }
        else {
            printf("not mapped\n");
        }
        return EXIT_FAIL;
    }
}

/* ------------------------------------------------------------------ */
/* import-iis                                                         */

static int cmd_import_iis(apr_pool_t *p, int argc, const char *const *argv,
                          const char *site)
{
    apr_array_header_t *lines, *warnings;
    const char *err;
    int i;

    (void)argc;
    err = certmap_iis_import(p, argv[0], site, &lines, &warnings);
    if (err != NULL) {
        say_error("%s", err);
        return EXIT_FAIL;
    }
    for (i = 0; i < lines->nelts; i++) {
        printf("%s\n", APR_ARRAY_IDX(lines, i, const char *));
    }
    for (i = 0; i < warnings->nelts; i++) {
        say_error("warning: %s", APR_ARRAY_IDX(warnings, i, const char *));
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */

static int is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;
    const command_t *c;
    const char **args, *site = NULL;
    int i, nargs = 0, options_done = 0, rc;

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS) {
        fputs("certmap: cannot initialise APR\n", stderr);
        return EXIT_FAIL;
    }
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("certmap (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc == 2) {
            print_usage(stdout);
            return EXIT_OK;
        }
        c = find_command(argv[2]);
        if (c == NULL || argc > 3) {
            return usage_error(NULL, "no help on '%s': not a command", argv[2]);
        }
        print_command_help(stdout, c);
        return EXIT_OK;
    }
    c = find_command(argv[1]);
    if (c == NULL) {
        return usage_error(NULL,
                           argv[1][0] == '-' ? "unknown option '%s'"
                                             : "unknown command '%s'",
                           argv[1]);
    }

    args = apr_palloc(pool, sizeof(*args) * argc);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = 1;
        }
        else if (!options_done && is_help(a)) {
            print_command_help(stdout, c);
            return EXIT_OK;
        }
        else if (!options_done && c->fn == cmd_import_iis
                 && strcmp(a, "--site") == 0) {
            if (i + 1 >= argc) {
                return usage_error(c, "%s needs a site name", a);
            }
            site = argv[++i];
        }
        else if (!options_done && c->fn == cmd_import_iis
                 && strncmp(a, "--site=", 7) == 0) {
            site = a + 7;
        }
        else if (!options_done && a[0] == '-' && a[1] != '\0') {
            return usage_error(c,
                               "unknown option '%s' (a file name "
                               "starting with '-' goes after --)",
                               a);
        }
        else {
            args[nargs++] = a;
        }
    }
    if (site != NULL && *site == '\0') {
        return usage_error(c, "%s: the site name is empty", "--site");
    }
    if (nargs < c->min_args || (c->max_args >= 0 && nargs > c->max_args)) {
        return usage_error(c, "%s: wrong number of arguments", c->name);
    }
    rc = c->fn(pool, nargs, args, site);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say_error("cannot write the output: %s", strerror(errno));
        rc = EXIT_FAIL;
    }
    apr_pool_destroy(pool);
    return rc;
}
