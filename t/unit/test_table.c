/*
 * test_table.c - the mapping table: adding, finding, map-file lines and
 * whole map files, and a table of 100,000 entries.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "tests.h"

/* What certmap_key_parse() gives for a certificate file. */
static certmap_key_t file_key(const fx_cert_t *c)
{
    certmap_key_t key = fx_sha256_key(c);

    key.has_sha1 = 1;
    memcpy(key.sha1, c->sha1, CERTMAP_SHA1_LEN);
    return key;
}

static const certmap_entry_t *find(const certmap_table_t *t, const fx_cert_t *c)
{
    return certmap_table_find(t, fx_lookup_cert(test_pool, c));
}

/* The entry for c maps to `account` from `source`, with no deny. */
static void assert_mapped(const certmap_table_t *t, const fx_cert_t *c,
                          const char *account, const char *source)
{
    const certmap_entry_t *e = find(t, c);

    ck_assert_msg(e != NULL, "no entry, expected %s", account);
    ck_assert_pstr_eq(e->account, account);
    if (source) {
        ck_assert_pstr_eq(e->source, source);
    }
    ck_assert_ptr_null(e->deny_source);
}

/* ------------------------------------------------------------------ */
/* certmap_table_add / find / count                                   */

START_TEST(empty_table)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *c = fx_cert_simple(test_pool, "nobody");

    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(certmap_table_count(t), 0);
    ck_assert_ptr_null(find(t, c));
}
END_TEST

START_TEST(add_and_find_sha256)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *stranger = fx_cert_simple(test_pool, "a"); /* same subject */
    certmap_key_t ka = fx_sha256_key(a), kb = fx_sha256_key(b);

    ASSERT_OK(certmap_table_add(t, &ka, "W2K3TEST\\certuser", "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &kb, "bob", "x.conf:2"));
    ck_assert_uint_eq(certmap_table_count(t), 2);
    assert_mapped(t, a, "W2K3TEST\\certuser", "x.conf:1");
    assert_mapped(t, b, "bob", "x.conf:2");
    ck_assert_ptr_null(find(t, stranger));
}
END_TEST

START_TEST(find_by_sha1)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    certmap_key_t ka = fx_sha1_key(a);

    ASSERT_OK(certmap_table_add(t, &ka, "alice", "x.conf:1"));
    ck_assert_uint_eq(certmap_table_count(t), 1);
    assert_mapped(t, a, "alice", "x.conf:1");
    ck_assert_ptr_null(find(t, b));
}
END_TEST

START_TEST(sha1_key_uses_20_bytes_only)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    certmap_key_t junk = fx_sha1_key(a), clean = fx_sha1_key(a);

    /* Bytes 20..31 of a SHA-1 key's digest are not part of it. */
    memset(junk.digest + CERTMAP_SHA1_LEN, 0xAA,
           CERTMAP_SHA256_LEN - CERTMAP_SHA1_LEN);
    ASSERT_OK(certmap_table_add(t, &junk, "alice", "x.conf:1"));
    assert_mapped(t, a, "alice", "x.conf:1");
    ASSERT_OK(certmap_table_add(t, &clean, "alice", "x.conf:2"));
    ck_assert_uint_eq(certmap_table_count(t), 1);
}
END_TEST

START_TEST(sha256_preferred_over_sha1)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "both");
    certmap_key_t k256 = fx_sha256_key(c), k1 = fx_sha1_key(c);
    certmap_table_t *t;

    /* From hex specs the engine cannot know both name one certificate;
     * whichever order they come in, SHA-256 decides. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(t, &k256, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &k1, "bob", "x.conf:2"));
    assert_mapped(t, c, "alice", "x.conf:1");

    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(t, &k1, "bob", "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &k256, "alice", "x.conf:2"));
    assert_mapped(t, c, "alice", "x.conf:2");
}
END_TEST

START_TEST(same_cert_two_accounts_is_error)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c), k1 = fx_sha1_key(c);
    const char *err;

    ASSERT_OK(certmap_table_add(t, &k, "alice", "x.conf:1"));
    ASSERT_ERROR(err, certmap_table_add(t, &k, "bob", "x.conf:2"));
    /* Case matters to nobody here: a different string is a different
     * account. */
    ASSERT_ERROR(err, certmap_table_add(t, &k, "ALICE", "x.conf:3"));
    ck_assert_uint_eq(certmap_table_count(t), 1);
    assert_mapped(t, c, "alice", "x.conf:1");

    ASSERT_OK(certmap_table_add(t, &k1, "carol", "x.conf:4"));
    ASSERT_ERROR(err, certmap_table_add(t, &k1, "dave", "x.conf:5"));
}
END_TEST

START_TEST(same_mapping_twice_is_fine)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    certmap_key_t k = fx_sha256_key(c);
    const certmap_entry_t *e;

    ASSERT_OK(certmap_table_add(t, &k, "W2K3TEST\\certuser", "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &k, "W2K3TEST\\certuser", "y.conf:9"));
    ck_assert_uint_eq(certmap_table_count(t), 1);
    e = find(t, c);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->account, "W2K3TEST\\certuser");
    ck_assert_ptr_null(e->deny_source);
}
END_TEST

START_TEST(deny_and_map_one_cert)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "deny first");
    fx_cert_t *b = fx_cert_simple(test_pool, "map first");
    fx_cert_t *d = fx_cert_simple(test_pool, "deny only");
    certmap_key_t ka = fx_sha256_key(a), kb = fx_sha256_key(b),
                  kd = fx_sha256_key(d);
    const certmap_entry_t *e;

    ASSERT_OK(certmap_table_add(t, &ka, NULL, "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &ka, "alice", "x.conf:2"));
    ASSERT_OK(certmap_table_add(t, &kb, "bob", "x.conf:3"));
    ASSERT_OK(certmap_table_add(t, &kb, NULL, "x.conf:4"));
    ASSERT_OK(certmap_table_add(t, &kd, NULL, "x.conf:5"));
    ASSERT_OK(certmap_table_add(t, &kd, NULL, "x.conf:6")); /* twice: fine */
    ck_assert_uint_eq(certmap_table_count(t), 3);

    e = find(t, a);
    ck_assert_ptr_nonnull(e);
    ck_assert_pstr_eq(e->account, "alice");
    ck_assert_pstr_eq(e->source, "x.conf:2");
    ck_assert_pstr_eq(e->deny_source, "x.conf:1");

    e = find(t, b);
    ck_assert_ptr_nonnull(e);
    ck_assert_pstr_eq(e->account, "bob");
    ck_assert_pstr_eq(e->source, "x.conf:3");
    ck_assert_pstr_eq(e->deny_source, "x.conf:4");

    e = find(t, d);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->account);
    ck_assert_ptr_nonnull(e->deny_source);
}
END_TEST

START_TEST(file_key_conflicts_with_sha1_entry)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "file");
    certmap_key_t kf = file_key(c), k1 = fx_sha1_key(c);
    certmap_table_t *t;
    const char *err;

    /* File first, then its thumbprint mapped elsewhere. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(t, &kf, "alice", "x.conf:1"));
    ASSERT_ERROR(err, certmap_table_add(t, &k1, "bob", "x.conf:2"));
    assert_mapped(t, c, "alice", "x.conf:1");

    /* Thumbprint first, then the file. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(t, &k1, "bob", "x.conf:1"));
    ASSERT_ERROR(err, certmap_table_add(t, &kf, "alice", "x.conf:2"));

    /* The same mapping both ways is one certificate, no conflict. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add(t, &kf, "alice", "x.conf:1"));
    ASSERT_OK(certmap_table_add(t, &k1, "alice", "x.conf:2"));
    ck_assert_uint_eq(certmap_table_count(t), 1);
    assert_mapped(t, c, "alice", NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* certmap_table_add_line                                             */

START_TEST(line_comments_and_blanks)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    static const char *const lines[] = {
        "",
        " ",
        "\t",
        "  \t  ",
        "#",
        "# sha256:00 bob",
        "   # indented",
        "\t#\ttab",
    };
    size_t i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *err = certmap_table_add_line(t, lines[i], NULL, "m:1");

        ck_assert_msg(err == NULL, "line #%u: %s", (unsigned)i, err);
    }
    ck_assert_uint_eq(certmap_table_count(t), 0);
}
END_TEST

START_TEST(line_mapping)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    fx_cert_t *d = fx_cert_simple(test_pool, "d");

    ASSERT_OK(certmap_table_add_line(t,
                                     apr_pstrcat(test_pool,
                                                 fx_sha256_spec(test_pool, a),
                                                 " W2K3TEST\\certuser", NULL),
                                     NULL, "map.txt:3"));
    /* Blanks around and between tokens, tabs too. */
    ASSERT_OK(certmap_table_add_line(t,
                                     apr_pstrcat(test_pool, "  ",
                                                 fx_sha1_spec(test_pool, b),
                                                 " \t  bob  ", NULL),
                                     NULL, "map.txt:4"));
    /* Hex with ':' separators is one token. */
    ASSERT_OK(certmap_table_add_line(
        t,
        apr_pstrcat(test_pool, "sha1:", fx_hex(test_pool, c->sha1, 20, 1, ':'),
                    "\tcarol", NULL),
        NULL, "map.txt:5"));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_mapped(t, a, "W2K3TEST\\certuser", "map.txt:3");
    assert_mapped(t, b, "bob", "map.txt:4");
    assert_mapped(t, c, "carol", "map.txt:5");
    ck_assert_ptr_null(find(t, d));
}
END_TEST

START_TEST(line_quoted_tokens)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *dir = fx_tmpdir(test_pool);

    fx_write_text(test_pool, dir, "my certs/c.pem", c->pem);
    ASSERT_OK(certmap_table_add_line(
        t,
        apr_pstrcat(test_pool, "\"", fx_sha256_spec(test_pool, a),
                    "\" \"CONTOSO\\Jane Doe\"", NULL),
        NULL, "m:1"));
    /* Hex with ' ' separators only works quoted. */
    ASSERT_OK(certmap_table_add_line(
        t,
        apr_pstrcat(test_pool, "\"sha1:",
                    fx_hex(test_pool, b->sha1, 20, 0, ' '), "\" bob", NULL),
        NULL, "m:2"));
    /* A path with a blank in it, relative to base_dir. */
    ASSERT_OK(
        certmap_table_add_line(t, "\"my certs/c.pem\" \"carol\"", dir, "m:3"));
    assert_mapped(t, a, "CONTOSO\\Jane Doe", "m:1");
    assert_mapped(t, b, "bob", "m:2");
    assert_mapped(t, c, "carol", "m:3");
}
END_TEST

START_TEST(line_backslash_is_literal)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *err;

    /* One backslash in the file is one backslash in the account. */
    ASSERT_OK(certmap_table_add_line(t,
                                     apr_pstrcat(test_pool,
                                                 fx_sha256_spec(test_pool, a),
                                                 " DOM\\user", NULL),
                                     NULL, "m:1"));
    ASSERT_OK(certmap_table_add_line(t,
                                     apr_pstrcat(test_pool,
                                                 fx_sha256_spec(test_pool, b),
                                                 " \"DOM\\user two\"", NULL),
                                     NULL, "m:2"));
    assert_mapped(t, a, "DOM\\user", "m:1");
    assert_mapped(t, b, "DOM\\user two", "m:2");
    /* Doubled it stays doubled, and two backslashes make a bad account. */
    ASSERT_ERROR(err, certmap_table_add_line(
                          t,
                          apr_pstrcat(test_pool, fx_sha256_spec(test_pool, c),
                                      " \"DOM\\\\user\"", NULL),
                          NULL, "m:3"));
    ck_assert_ptr_null(find(t, c));
}
END_TEST

START_TEST(line_deny)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    const certmap_entry_t *e;

    ASSERT_OK(certmap_table_add_line(
        t, apr_pstrcat(test_pool, "deny ", fx_sha256_spec(test_pool, a), NULL),
        NULL, "m:7"));
    ASSERT_OK(certmap_table_add_line(t,
                                     apr_pstrcat(test_pool, "deny \"",
                                                 fx_sha1_spec(test_pool, b),
                                                 "\"", NULL),
                                     NULL, "m:8"));
    ck_assert_uint_eq(certmap_table_count(t), 2);
    e = find(t, a);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->account);
    ck_assert_pstr_eq(e->deny_source, "m:7");
    e = find(t, b);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->account);
    ck_assert_pstr_eq(e->deny_source, "m:8");
}
END_TEST

START_TEST(line_errors)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *spec = fx_sha256_spec(test_pool, c);
    const char *bad[12];
    const char *err;
    int i;

    bad[0] = spec;                                             /* too few */
    bad[1] = "deny";                                           /* too few */
    bad[2] = apr_pstrcat(test_pool, spec, " bob extra", NULL); /* too many */
    bad[3] = apr_pstrcat(test_pool, "deny ", spec, " bob", NULL);
    bad[4] = apr_pstrcat(test_pool, spec, " \"bob", NULL); /* unterminated */
    bad[5] = apr_pstrcat(test_pool, "\"", spec, " bob", NULL);
    bad[6] = apr_pstrcat(test_pool, spec, " \"\"", NULL);   /* empty account */
    bad[7] = apr_pstrcat(test_pool, spec, " \\user", NULL); /* bad account */
    bad[8] = apr_pstrcat(test_pool, spec, " \"bob\x01\"", NULL);
    bad[9] = "sha256:zz bob"; /* bad key */
    bad[10] = apr_pstrcat(test_pool, spec, " A\\B\\C", NULL);
    bad[11] = "deny sha1:0011";
    for (i = 0; i < 12; i++) {
        err = certmap_table_add_line(t, bad[i], NULL, "m:1");
        ck_assert_msg(err != NULL, "line #%d accepted: %s", i, bad[i]);
        ck_assert_msg(!fx_has_control_char(err),
                      "line #%d: control character in error \"%s\"", i, err);
    }
    ck_assert_uint_eq(certmap_table_count(t), 0);
    ck_assert_ptr_null(find(t, c));
}
END_TEST

/* ------------------------------------------------------------------ */
/* certmap_table_load_file                                            */

START_TEST(load_file_entries_and_sources)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *dir = fx_tmpdir(test_pool);
    const char *path;
    const certmap_entry_t *e;

    path = fx_write_text(test_pool, dir, "users.map",
                         apr_pstrcat(test_pool,
                                     "# one-to-one mappings\n" /* 1 */
                                     "\n",                     /* 2 */
                                     fx_sha256_spec(test_pool, a),
                                     " W2K3TEST\\certuser\n", "   \n", /* 4 */
                                     "deny ", fx_sha1_spec(test_pool, b),
                                     "\n", /* 5 */
                                     fx_sha1_spec(test_pool, c),
                                     " \"Carol Smith\"\n", "# end\n", /* 7 */
                                     NULL));
    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_mapped(t, a, "W2K3TEST\\certuser",
                  apr_psprintf(test_pool, "%s:3", path));
    assert_mapped(t, c, "Carol Smith", apr_psprintf(test_pool, "%s:6", path));
    e = find(t, b);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->account);
    ck_assert_pstr_eq(e->deny_source, apr_psprintf(test_pool, "%s:5", path));
}
END_TEST

START_TEST(load_file_empty_and_no_final_newline)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    const char *dir = fx_tmpdir(test_pool);
    const char *empty = fx_write_text(test_pool, dir, "empty.map", "");
    const char *last =
        fx_write_text(test_pool, dir, "last.map",
                      apr_pstrcat(test_pool, "# x\n",
                                  fx_sha256_spec(test_pool, a), " bob", NULL));

    ASSERT_OK(certmap_table_load_file(t, empty));
    ck_assert_uint_eq(certmap_table_count(t), 0);
    ASSERT_OK(certmap_table_load_file(t, last));
    ck_assert_uint_eq(certmap_table_count(t), 1);
    assert_mapped(t, a, "bob", apr_psprintf(test_pool, "%s:2", last));
}
END_TEST

/* Load `text` as a map file that must fail on line `line`. */
static void assert_load_fails_on(const char *text, int line)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    const char *dir = fx_tmpdir(test_pool);
    const char *path = fx_write_text(test_pool, dir, "bad.map", text);
    const char *prefix = apr_psprintf(test_pool, "%s:%d: ", path, line);
    const char *err;

    ASSERT_ERROR(err, certmap_table_load_file(t, path));
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                  "error should start with \"%s\": %s", prefix, err);
}

START_TEST(load_file_error_lines)
{
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    const char *spec = fx_sha256_spec(test_pool, a);

    assert_load_fails_on("sha256:zz bob\n", 1);
    assert_load_fails_on(
        apr_pstrcat(test_pool, "# c\n\n", spec, " \\bob\n", NULL), 3);
    assert_load_fails_on(
        apr_pstrcat(test_pool, "#\n#\n#\n", spec, " \"bob\n", NULL), 4);
    /* The second of two conflicting lines is the one at fault. */
    assert_load_fails_on(
        apr_pstrcat(test_pool, spec, " alice\n#\n\n", spec, " bob\n", NULL), 4);
    /* A certificate file that is not there. */
    assert_load_fails_on("\n\n\n\nmissing-certmap-test.pem bob\n", 5);
    /* The error is on the last line, which has no newline. */
    assert_load_fails_on(
        apr_pstrcat(test_pool, spec, " a\n", spec, " a b", NULL), 2);
}
END_TEST

START_TEST(load_file_nul_byte_is_error)
{
    /* "alice<NUL>bob" is not the account "alice": a NUL in a line must
     * be an error, not a silent cut. */
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    const char *dir = fx_tmpdir(test_pool);
    const char *first = apr_pstrcat(
        test_pool, "# users\n", fx_sha256_spec(test_pool, a), " alice", NULL);
    const char *text = apr_pstrcat(test_pool, first, "X", "bob\n", NULL);
    char *bytes = apr_pstrdup(test_pool, text);
    const char *path, *prefix, *err;

    bytes[strlen(first)] = '\0'; /* the X */
    path = fx_write_file(test_pool, dir, "nul.map", bytes, strlen(text));
    prefix = apr_psprintf(test_pool, "%s:2: ", path);
    err = certmap_table_load_file(t, path);
    ck_assert_msg(err != NULL, "NUL byte accepted; %s is mapped to \"%s\"",
                  "the certificate",
                  find(t, a) && find(t, a)->account ? find(t, a)->account
                                                    : "(nothing)");
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                  "error should start with \"%s\": %s", prefix, err);
}
END_TEST

START_TEST(load_file_missing)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    const char *dir = fx_tmpdir(test_pool);
    const char *path = apr_pstrcat(test_pool, dir, "/nothing.map", NULL);
    const char *err;

    ASSERT_ERROR(err, certmap_table_load_file(t, path));
    ck_assert_msg(strstr(err, path) != NULL, "error does not name %s: %s", path,
                  err);
}
END_TEST

START_TEST(load_file_relative_cert_paths)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *dir = fx_tmpdir(test_pool);
    const char *path;

    /* Names that cannot exist in the cwd the tests run from. */
    fx_write_text(test_pool, dir, "conf/certmap-rel-a.pem", a->pem);
    fx_write_file(test_pool, dir, "conf/certs/certmap-rel-b.cer", b->der,
                  b->der_len);
    fx_write_text(test_pool, dir, "other/certmap-rel-c.pem", c->pem);
    path = fx_write_text(test_pool, dir, "conf/users.map",
                         "certmap-rel-a.pem alice\n"
                         "certs/certmap-rel-b.cer DOM\\bob\n"
                         "deny ../other/certmap-rel-c.pem\n");
    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_mapped(t, a, "alice", apr_psprintf(test_pool, "%s:1", path));
    assert_mapped(t, b, "DOM\\bob", apr_psprintf(test_pool, "%s:2", path));
    ck_assert_ptr_nonnull(find(t, c));
    ck_assert_ptr_nonnull(find(t, c)->deny_source);
}
END_TEST

START_TEST(load_file_crlf)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    fx_cert_t *a = fx_cert_simple(test_pool, "a");
    fx_cert_t *b = fx_cert_simple(test_pool, "b");
    fx_cert_t *c = fx_cert_simple(test_pool, "c");
    const char *dir = fx_tmpdir(test_pool);
    const char *path;
    const certmap_entry_t *e;

    /* Written with Notepad: every line ends in CRLF. */
    path = fx_write_text(
        test_pool, dir, "win.map",
        apr_pstrcat(test_pool, "# from Windows\r\n", "\r\n",
                    fx_sha256_spec(test_pool, a), " W2K3TEST\\certuser\r\n",
                    fx_sha1_spec(test_pool, b), " \"Bob Jones\"\r\n", "deny ",
                    fx_sha256_spec(test_pool, c), "\r\n", NULL));
    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_mapped(t, a, "W2K3TEST\\certuser",
                  apr_psprintf(test_pool, "%s:3", path));
    assert_mapped(t, b, "Bob Jones", apr_psprintf(test_pool, "%s:4", path));
    e = find(t, c);
    ck_assert_ptr_nonnull(e);
    ck_assert_pstr_eq(e->deny_source, apr_psprintf(test_pool, "%s:5", path));

    /* Line numbers stay right in a CRLF file. */
    assert_load_fails_on("# x\r\n\r\nsha1:00 bob\r\n", 3);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 100,000 entries                                                    */

#define BIG_TABLE_ENTRIES 100000

/* SplitMix64: a fixed seed gives the same digests on every run. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void big_table_digest(unsigned int i, unsigned char *d)
{
    uint64_t state = 0xC0FFEEULL + i;
    int w, b;

    for (w = 0; w < 4; w++) {
        uint64_t v = splitmix64(&state);

        for (b = 0; b < 8; b++) {
            d[w * 8 + b] = (unsigned char)(v >> (8 * b));
        }
    }
}

START_TEST(big_table_every_lookup)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    const char *dir = fx_tmpdir(test_pool);
    const char *path = apr_pstrcat(test_pool, dir, "/big.map", NULL);
    unsigned char d[CERTMAP_SHA256_LEN];
    certmap_cert_t cert;
    const certmap_entry_t *e;
    char want[32];
    FILE *f = fopen(path, "w");
    unsigned int i;

    ck_assert_ptr_nonnull(f);
    fputs("# generated by test_table.c\n", f);
    for (i = 0; i < BIG_TABLE_ENTRIES; i++) {
        /* Alternate the hex case so both spellings are in the table. */
        const char *digits = (i & 1) ? "0123456789ABCDEF" : "0123456789abcdef";
        char hex[2 * CERTMAP_SHA256_LEN + 1];
        int j;

        big_table_digest(i, d);
        for (j = 0; j < CERTMAP_SHA256_LEN; j++) {
            hex[2 * j] = digits[d[j] >> 4];
            hex[2 * j + 1] = digits[d[j] & 0x0f];
        }
        hex[2 * CERTMAP_SHA256_LEN] = '\0';
        fprintf(f, "sha256:%s DOM%u\\user%u\n", hex, i % 7, i);
    }
    ck_assert_int_eq(fclose(f), 0);

    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), BIG_TABLE_ENTRIES);

    memset(&cert, 0, sizeof(cert));
    for (i = 0; i < BIG_TABLE_ENTRIES; i++) {
        big_table_digest(i, cert.sha256);
        e = certmap_table_find(t, &cert);
        ck_assert_msg(e != NULL, "entry %u not found", i);
        snprintf(want, sizeof(want), "DOM%u\\user%u", i % 7, i);
        ck_assert_msg(e->account && strcmp(e->account, want) == 0,
                      "entry %u: %s, expected %s", i,
                      e->account ? e->account : "(null)", want);
    }
    /* One that is not there. */
    big_table_digest(BIG_TABLE_ENTRIES, cert.sha256);
    ck_assert_ptr_null(certmap_table_find(t, &cert));
}
END_TEST

Suite *make_table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *add = tcase_create("add_find");
    TCase *line = tcase_create("add_line");
    TCase *file = tcase_create("load_file");
    TCase *big = tcase_create("big");

    tcase_add_checked_fixture(add, test_pool_setup, test_pool_teardown);
    tcase_add_test(add, empty_table);
    tcase_add_test(add, add_and_find_sha256);
    tcase_add_test(add, find_by_sha1);
    tcase_add_test(add, sha1_key_uses_20_bytes_only);
    tcase_add_test(add, sha256_preferred_over_sha1);
    tcase_add_test(add, same_cert_two_accounts_is_error);
    tcase_add_test(add, same_mapping_twice_is_fine);
    tcase_add_test(add, deny_and_map_one_cert);
    tcase_add_test(add, file_key_conflicts_with_sha1_entry);
    suite_add_tcase(s, add);

    tcase_add_checked_fixture(line, test_pool_setup, test_pool_teardown);
    tcase_add_test(line, line_comments_and_blanks);
    tcase_add_test(line, line_mapping);
    tcase_add_test(line, line_quoted_tokens);
    tcase_add_test(line, line_backslash_is_literal);
    tcase_add_test(line, line_deny);
    tcase_add_test(line, line_errors);
    suite_add_tcase(s, line);

    tcase_add_checked_fixture(file, test_pool_setup, test_pool_teardown);
    tcase_add_test(file, load_file_entries_and_sources);
    tcase_add_test(file, load_file_empty_and_no_final_newline);
    tcase_add_test(file, load_file_error_lines);
    tcase_add_test(file, load_file_missing);
    tcase_add_test(file, load_file_nul_byte_is_error);
    tcase_add_test(file, load_file_relative_cert_paths);
    tcase_add_test(file, load_file_crlf);
    suite_add_tcase(s, file);

    /* Generous for sanitizer builds; a plain build takes well under 1 s. */
    tcase_set_timeout(big, 60);
    tcase_add_checked_fixture(big, test_pool_setup, test_pool_teardown);
    tcase_add_test(big, big_table_every_lookup);
    suite_add_tcase(s, big);
    return s;
}
