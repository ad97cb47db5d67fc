/*
 * test_table.c - the mapping table: adding, finding, map-file lines and
 * whole map files, and a table of 100,000 entries; the key and strong
 * forms and their precedence in certmap_decide().
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

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

/* ------------------------------------------------------------------ */
/* Key and strong forms: indexes, precedence, map-file lines           */

/* From test_cert.c. */
EVP_PKEY *st_key(apr_pool_t *p);
X509 *st_x509(apr_pool_t *p, const char *cn, const X509_NAME *issuer,
              const BIGNUM *serial, EVP_PKEY *key, const unsigned char *ski,
              size_t ski_len, GENERAL_NAMES *sans);
certmap_cert_t *st_parse(apr_pool_t *p, X509 *x);

/* A parsed certificate issued in name by "DC=com, DC=contoso,
 * CN=CONTOSO-DC-CA" with serial 2B0000000011AC0000000012 (or `serial_hex`),
 * key `key` (NULL: new) and a SKI made from `cn` (the SHA-1 of it, so
 * that it is not the key's hash). */
static certmap_cert_t *strong_cert(const char *cn, const char *serial_hex,
                                   EVP_PKEY *key)
{
    X509_NAME *issuer = X509_NAME_new();
    BIGNUM *bn = NULL;
    certmap_cert_t *cert;
    unsigned char ski[20];

    ck_assert_int_eq(EVP_Digest(cn, strlen(cn), ski, NULL, EVP_sha1(), NULL),
                     1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(issuer, "DC", MBSTRING_ASC,
                                                (const unsigned char *)"com",
                                                -1, -1, 0),
                     1);
    ck_assert_int_eq(
        X509_NAME_add_entry_by_txt(issuer, "DC", MBSTRING_ASC,
                                   (const unsigned char *)"contoso", -1, -1, 0),
        1);
    ck_assert_int_eq(X509_NAME_add_entry_by_txt(
                         issuer, "CN", MBSTRING_ASC,
                         (const unsigned char *)"CONTOSO-DC-CA", -1, -1, 0),
                     1);
    ck_assert_int_gt(
        BN_hex2bn(&bn, serial_hex ? serial_hex : "2B0000000011AC0000000012"),
        0);
    cert = st_parse(test_pool, st_x509(test_pool, cn, issuer, bn, key, ski,
                                       sizeof(ski), NULL));
    X509_NAME_free(issuer);
    BN_free(bn);
    return cert;
}

#define KB_ISSUER_SERIAL                                                       \
    "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>1200000000AC11000000002B"

/* The spec of `form` for a parsed certificate. */
static const char *spec_of(const certmap_cert_t *c, const char *form)
{
    if (strcmp(form, "sha256") == 0) {
        return apr_pstrcat(
            test_pool, "sha256:", certmap_hex(test_pool, c->sha256, 32), NULL);
    }
    if (strcmp(form, "sha1") == 0) {
        return apr_pstrcat(test_pool,
                           "sha1:", certmap_hex(test_pool, c->sha1, 20), NULL);
    }
    if (strcmp(form, "spki-sha256") == 0) {
        return apr_pstrcat(test_pool, "spki-sha256:",
                           certmap_hex(test_pool, c->spki_sha256, 32), NULL);
    }
    if (strcmp(form, "X509:<SKI>") == 0) {
        return apr_pstrcat(test_pool, "X509:<SKI>",
                           certmap_hex(test_pool, c->ski, c->ski_len), NULL);
    }
    if (strcmp(form, "X509:<SHA1-PUKEY>") == 0) {
        return apr_pstrcat(test_pool, "X509:<SHA1-PUKEY>",
                           certmap_hex(test_pool, c->pukey_sha1, 20), NULL);
    }
    ck_assert_str_eq(form, "X509:<I><SR>");
    return apr_pstrcat(test_pool, "X509:<I>", c->issuer_ad, "<SR>",
                       certmap_hex(test_pool, c->serial_ad, c->serial_ad_len),
                       NULL);
}

/* Add "SPEC account" (account NULL: a deny) to t. */
static void add_spec(certmap_table_t *t, const char *spec, const char *account,
                     const char *source)
{
    certmap_key_t key;

    ASSERT_OK(certmap_key_parse(test_pool, spec, NULL, &key));
    ASSERT_OK(certmap_table_add(t, &key, account, source));
}

/* certmap_decide over tables (innermost first). */
static certmap_decision_t decide(const certmap_cert_t *c, int n,
                                 certmap_table_t *t0, certmap_table_t *t1)
{
    const certmap_table_t *chain[2];
    certmap_decision_t d;

    chain[0] = t0;
    chain[1] = t1;
    memset(&d, 0xA5, sizeof(d));
    certmap_decide(chain, n, c, test_pool, &d);
    return d;
}

static void assert_decision(certmap_decision_t d, certmap_reason_e reason,
                            const char *account, const char *source,
                            const char *form)
{
    ck_assert_int_eq(d.reason, reason);
    ck_assert_pstr_eq(d.account, account);
    ck_assert_pstr_eq(d.source, source);
    ck_assert_pstr_eq(d.form, form);
    if (reason != CERTMAP_CERT_UNMAPPED || source == NULL) {
        ck_assert_ptr_null(d.conflict);
        ck_assert_ptr_null(d.conflict_form);
    }
}

static const char *const key_forms[] = {"spki-sha256", "X509:<I><SR>",
                                        "X509:<SKI>", "X509:<SHA1-PUKEY>"};

START_TEST(each_key_form_maps_and_finds)
{
    certmap_cert_t *c = strong_cert("each", NULL, NULL);
    certmap_cert_t *stranger = strong_cert("stranger", "01", NULL);
    size_t i;

    for (i = 0; i < 4; i++) {
        certmap_table_t *t = certmap_table_make(test_pool);
        const certmap_entry_t *e;

        add_spec(t, spec_of(c, key_forms[i]), "DOM\\alice", "k.conf:1");
        ck_assert_uint_eq(certmap_table_count(t), 1);
        e = certmap_table_find(t, c);
        ck_assert_ptr_nonnull(e);
        ck_assert_pstr_eq(e->account, "DOM\\alice");
        ck_assert_pstr_eq(e->form, key_forms[i]);
        ck_assert_ptr_null(certmap_table_find(t, stranger));
        assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                        "k.conf:1", key_forms[i]);
        assert_decision(decide(stranger, 1, t, NULL), CERTMAP_CERT_UNMAPPED,
                        NULL, NULL, NULL);
        /* The same form as a deny. */
        t = certmap_table_make(test_pool);
        add_spec(t, spec_of(c, key_forms[i]), NULL, "k.conf:2");
        assert_decision(decide(c, 1, t, NULL), CERTMAP_CERT_DENIED, NULL,
                        "k.conf:2", key_forms[i]);
    }
    /* The KB5014754 spelling itself. */
    {
        certmap_table_t *t = certmap_table_make(test_pool);

        add_spec(t, KB_ISSUER_SERIAL, "DOM\\kb", "k.conf:3");
        assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\kb",
                        "k.conf:3", "X509:<I><SR>");
    }
}
END_TEST

START_TEST(key_form_two_accounts_is_error)
{
    certmap_cert_t *c = strong_cert("two", NULL, NULL);
    static const char *const nouns[] = {"public key", "issuer and serial",
                                        "subject key identifier", "public key"};
    size_t i;

    for (i = 0; i < 4; i++) {
        certmap_table_t *t = certmap_table_make(test_pool);
        certmap_key_t key;
        const char *err;

        ASSERT_OK(
            certmap_key_parse(test_pool, spec_of(c, key_forms[i]), NULL, &key));
        ASSERT_OK(certmap_table_add(t, &key, "alice", "k.conf:1"));
        ASSERT_OK(certmap_table_add(t, &key, "alice", "k.conf:2"));
        ASSERT_OK(certmap_table_add(t, &key, NULL, "k.conf:3"));
        ASSERT_ERROR(err, certmap_table_add(t, &key, "bob", "k.conf:4"));
        ck_assert_msg(strstr(err, nouns[i]) != NULL, "%s", err);
        ck_assert_msg(strstr(err, "k.conf:1") != NULL, "%s", err);
        ck_assert_uint_eq(certmap_table_count(t), 1);
    }
}
END_TEST

START_TEST(issuer_serial_case_order_and_collisions)
{
    certmap_cert_t *c = strong_cert("case", NULL, NULL);
    certmap_table_t *t = certmap_table_make(test_pool);
    certmap_key_t other;

    /* AD compares ignoring case: the issuer and the hex both. */
    add_spec(t,
             "x509:<i>dc=COM, dc=Contoso, cn=contoso-dc-ca"
             "<sr>1200000000ac11000000002b",
             "DOM\\alice", "k.conf:1");
    assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    "k.conf:1", "X509:<I><SR>");

    /* The serial as certutil shows it (not reversed) names another
     * certificate, which may well exist: no match. */
    t = certmap_table_make(test_pool);
    add_spec(t,
             "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA"
             "<SR>2B0000000011AC0000000012",
             "DOM\\alice", "k.conf:2");
    assert_decision(decide(c, 1, t, NULL), CERTMAP_CERT_UNMAPPED, NULL, NULL,
                    NULL);
    /* ... and it is the reversed name of the one with that serial. */
    assert_decision(decide(strong_cert("rev", "1200000000AC11000000002B", NULL),
                           1, t, NULL),
                    CERTMAP_MAPPED, "DOM\\alice", "k.conf:2", "X509:<I><SR>");

    /* Same serial from two issuers: two entries, told apart by issuer. */
    t = certmap_table_make(test_pool);
    add_spec(t, KB_ISSUER_SERIAL, "DOM\\alice", "k.conf:3");
    ASSERT_OK(certmap_key_parse(test_pool,
                                "X509:<I>DC=com,DC=contoso,CN=OTHER-CA"
                                "<SR>1200000000AC11000000002B",
                                NULL, &other));
    ASSERT_OK(certmap_table_add(t, &other, "DOM\\mallory", "k.conf:4"));
    ck_assert_uint_eq(certmap_table_count(t), 2);
    assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    "k.conf:3", "X509:<I><SR>");
    /* The issuer differs only in case: the same entry. */
    ASSERT_OK(
        certmap_table_add_line(t,
                               "\"X509:<I>DC=COM,DC=CONTOSO,CN=CONTOSO-DC-CA"
                               "<SR>1200000000AC11000000002B\" DOM\\alice",
                               NULL, "k.conf:5"));
    ck_assert_uint_eq(certmap_table_count(t), 2);
    /* A serial with its sign byte dropped is another serial. */
    t = certmap_table_make(test_pool);
    add_spec(t, "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>A180",
             "DOM\\alice", "k.conf:6");
    assert_decision(decide(strong_cert("sign", "80A1", NULL), 1, t, NULL),
                    CERTMAP_CERT_UNMAPPED, NULL, NULL, NULL);
    add_spec(t, "X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA<SR>A18000",
             "DOM\\alice", "k.conf:7");
    assert_decision(decide(strong_cert("sign", "80A1", NULL), 1, t, NULL),
                    CERTMAP_MAPPED, "DOM\\alice", "k.conf:7", "X509:<I><SR>");
}
END_TEST

START_TEST(deny_of_key_form_beats_exact_mapping)
{
    certmap_cert_t *c = strong_cert("deny", NULL, NULL);
    size_t i;

    for (i = 0; i < 4; i++) {
        certmap_table_t *t = certmap_table_make(test_pool);
        certmap_table_t *outer = certmap_table_make(test_pool);

        /* Same table. */
        add_spec(t, spec_of(c, "sha256"), "DOM\\alice", "k.conf:1");
        add_spec(t, spec_of(c, key_forms[i]), NULL, "k.conf:2");
        assert_decision(decide(c, 1, t, NULL), CERTMAP_CERT_DENIED, NULL,
                        "k.conf:2", key_forms[i]);
        /* A deny in an outer scope beats an inner exact mapping. */
        t = certmap_table_make(test_pool);
        add_spec(t, spec_of(c, "sha1"), "DOM\\alice", "inner:1");
        add_spec(outer, spec_of(c, key_forms[i]), NULL, "outer:1");
        assert_decision(decide(c, 2, t, outer), CERTMAP_CERT_DENIED, NULL,
                        "outer:1", key_forms[i]);
    }
    /* And an exact deny beats a key-form mapping. */
    {
        certmap_table_t *t = certmap_table_make(test_pool);

        add_spec(t, spec_of(c, "spki-sha256"), "DOM\\alice", "k.conf:1");
        add_spec(t, spec_of(c, "sha1"), NULL, "k.conf:2");
        assert_decision(decide(c, 1, t, NULL), CERTMAP_CERT_DENIED, NULL,
                        "k.conf:2", "sha1");
    }
}
END_TEST

START_TEST(exact_beats_key_forms)
{
    certmap_cert_t *c = strong_cert("exact", NULL, NULL);
    certmap_table_t *t = certmap_table_make(test_pool);
    certmap_table_t *inner = certmap_table_make(test_pool);
    certmap_table_t *outer = certmap_table_make(test_pool);
    size_t i;

    /* Same table: the exact entry decides, whatever the order. */
    for (i = 0; i < 4; i++) {
        add_spec(t, spec_of(c, key_forms[i]), "DOM\\bob", "k.conf:1");
    }
    add_spec(t, spec_of(c, "sha256"), "DOM\\alice", "k.conf:2");
    assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    "k.conf:2", "sha256");
    /* An exact entry of an outer scope beats a key form of an inner one:
     * it names this very certificate. */
    add_spec(inner, spec_of(c, "X509:<SKI>"), "DOM\\bob", "inner:1");
    add_spec(outer, spec_of(c, "sha1"), "DOM\\alice", "outer:1");
    assert_decision(decide(c, 2, inner, outer), CERTMAP_MAPPED, "DOM\\alice",
                    "outer:1", "sha1");
    /* A certificate file is an exact form too. */
    {
        certmap_table_t *f = certmap_table_make(test_pool);
        const char *dir = fx_tmpdir(test_pool);

        fx_write_file(test_pool, dir, "c.cer", c->der, c->der_len);
        add_spec(f, spec_of(c, "spki-sha256"), "DOM\\bob", "f:1");
        ASSERT_OK(certmap_table_add_line(f, "c.cer DOM\\alice", dir, "f:2"));
        assert_decision(decide(c, 1, f, NULL), CERTMAP_MAPPED, "DOM\\alice",
                        "f:2", "file");
    }
}
END_TEST

START_TEST(key_forms_innermost_scope_first)
{
    certmap_cert_t *c = strong_cert("inner", NULL, NULL);
    certmap_table_t *inner = certmap_table_make(test_pool);
    certmap_table_t *outer = certmap_table_make(test_pool);

    add_spec(inner, spec_of(c, "X509:<SHA1-PUKEY>"), "DOM\\bob", "inner:1");
    add_spec(outer, spec_of(c, "spki-sha256"), "DOM\\carol", "outer:1");
    assert_decision(decide(c, 2, inner, outer), CERTMAP_MAPPED, "DOM\\bob",
                    "inner:1", "X509:<SHA1-PUKEY>");
    assert_decision(decide(c, 2, outer, inner), CERTMAP_MAPPED, "DOM\\carol",
                    "outer:1", "spki-sha256");
}
END_TEST

START_TEST(key_forms_conflict_in_one_scope)
{
    certmap_cert_t *c = strong_cert("conflict", NULL, NULL);
    certmap_table_t *t = certmap_table_make(test_pool);
    certmap_table_t *outer = certmap_table_make(test_pool);
    certmap_decision_t d;

    add_spec(t, spec_of(c, "X509:<SKI>"), "DOM\\carol", "k.conf:1");
    add_spec(t, spec_of(c, "spki-sha256"), "DOM\\bob", "k.conf:2");
    add_spec(outer, spec_of(c, "X509:<SHA1-PUKEY>"), "DOM\\dave", "outer:1");
    d = decide(c, 2, t, outer);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_ptr_null(d.account);
    /* Reported in the tie-break order: spki-sha256 first. */
    ck_assert_pstr_eq(d.source, "k.conf:2");
    ck_assert_pstr_eq(d.form, "spki-sha256");
    ck_assert_pstr_eq(d.conflict, "k.conf:1");
    ck_assert_pstr_eq(d.conflict_form, "X509:<SKI>");

    /* The same account by two key forms is no conflict. */
    t = certmap_table_make(test_pool);
    add_spec(t, spec_of(c, "X509:<SHA1-PUKEY>"), "DOM\\bob", "k.conf:3");
    add_spec(t, KB_ISSUER_SERIAL, "DOM\\bob", "k.conf:4");
    assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\bob",
                    "k.conf:4", "X509:<I><SR>");
}
END_TEST

START_TEST(exact_conflict_unchanged)
{
    certmap_cert_t *c = strong_cert("sha", NULL, NULL);
    certmap_table_t *t = certmap_table_make(test_pool);
    certmap_decision_t d;

    add_spec(t, spec_of(c, "sha1"), "DOM\\bob", "k.conf:1");
    add_spec(t, spec_of(c, "sha256"), "DOM\\alice", "k.conf:2");
    add_spec(t, spec_of(c, "spki-sha256"), "DOM\\alice", "k.conf:3");
    d = decide(c, 1, t, NULL);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_pstr_eq(d.source, "k.conf:2");
    ck_assert_pstr_eq(d.form, "sha256");
    ck_assert_pstr_eq(d.conflict, "k.conf:1");
    ck_assert_pstr_eq(d.conflict_form, "sha1");
}
END_TEST

START_TEST(renewed_certificate_by_key_forms)
{
    EVP_PKEY *key = st_key(test_pool);
    certmap_cert_t *old = strong_cert("renew", "1001", key);
    certmap_cert_t *renewed = strong_cert("renew", "1002", key);
    certmap_cert_t *rekeyed = strong_cert("renew", "1003", NULL);
    certmap_table_t *t = certmap_table_make(test_pool);

    add_spec(t, spec_of(old, "sha256"), "DOM\\old-only", "k.conf:1");
    add_spec(t, spec_of(old, "spki-sha256"), "DOM\\alice", "k.conf:2");
    assert_decision(decide(old, 1, t, NULL), CERTMAP_MAPPED, "DOM\\old-only",
                    "k.conf:1", "sha256");
    assert_decision(decide(renewed, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    "k.conf:2", "spki-sha256");
    assert_decision(decide(rekeyed, 1, t, NULL), CERTMAP_CERT_UNMAPPED, NULL,
                    NULL, NULL);

    t = certmap_table_make(test_pool);
    add_spec(t, spec_of(old, "X509:<SHA1-PUKEY>"), "DOM\\alice", "k.conf:3");
    add_spec(t, spec_of(old, "X509:<I><SR>"), "DOM\\alice", "k.conf:4");
    /* The renewed certificate has another serial: found by its key. */
    assert_decision(decide(renewed, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    "k.conf:3", "X509:<SHA1-PUKEY>");
    assert_decision(decide(rekeyed, 1, t, NULL), CERTMAP_CERT_UNMAPPED, NULL,
                    NULL, NULL);
}
END_TEST

START_TEST(line_strong_forms_and_quoting)
{
    certmap_cert_t *c = strong_cert("lines", NULL, NULL);
    certmap_table_t *t;
    const char *err;
    X509_NAME *issuer = X509_NAME_new();
    certmap_cert_t *spaced;
    BIGNUM *bn = NULL;

    /* An issuer with blanks and a quoted value. */
    X509_NAME_add_entry_by_txt(issuer, "O", MBSTRING_ASC,
                               (const unsigned char *)"Edge, \"Dev\"", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
                               (const unsigned char *)"Contoso CA", -1, -1, 0);
    BN_hex2bn(&bn, "0102");
    spaced = st_parse(test_pool, st_x509(test_pool, "spaced", issuer, bn, NULL,
                                         NULL, 0, NULL));
    X509_NAME_free(issuer);
    BN_free(bn);
    ck_assert_str_eq(spaced->issuer_ad,
                     "O=\"Edge, \"\"Dev\"\"\",CN=Contoso CA");

    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add_line(
        t, apr_pstrcat(test_pool, spec_of(c, "spki-sha256"), " DOM\\a", NULL),
        NULL, "m:1"));
    ASSERT_OK(
        certmap_table_add_line(t, KB_ISSUER_SERIAL " DOM\\a", NULL, "m:2"));
    ASSERT_OK(certmap_table_add_line(
        t, apr_pstrcat(test_pool, "deny ", spec_of(c, "X509:<SKI>"), NULL),
        NULL, "m:3"));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_decision(decide(c, 1, t, NULL), CERTMAP_CERT_DENIED, NULL, "m:3",
                    "X509:<SKI>");

    /* Double quotes, inner ones doubled; single quotes, inner double
     * quotes as they are. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add_line(
        t,
        "\"X509:<I>O=\"\"Edge, \"\"\"\"Dev\"\"\"\"\"\",CN=Contoso CA"
        "<SR>0201\" \"DOM\\Jane Doe\"",
        NULL, "m:4"));
    assert_decision(decide(spaced, 1, t, NULL), CERTMAP_MAPPED, "DOM\\Jane Doe",
                    "m:4", "X509:<I><SR>");
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add_line(
        t, "deny 'X509:<I>O=\"Edge, \"\"Dev\"\"\",CN=Contoso CA<SR>0201'", NULL,
        "m:5"));
    assert_decision(decide(spaced, 1, t, NULL), CERTMAP_CERT_DENIED, NULL,
                    "m:5", "X509:<I><SR>");
    /* Through certmap_map_quote. */
    t = certmap_table_make(test_pool);
    ASSERT_OK(certmap_table_add_line(
        t,
        apr_pstrcat(
            test_pool,
            certmap_map_quote(test_pool, spec_of(spaced, "X509:<I><SR>")),
            " 'it''s me'", NULL),
        NULL, "m:6"));
    assert_decision(decide(spaced, 1, t, NULL), CERTMAP_MAPPED, "it's me",
                    "m:6", "X509:<I><SR>");

    /* Unquoted with a blank: the error says to quote it. */
    t = certmap_table_make(test_pool);
    ASSERT_ERROR(err, certmap_table_add_line(
                          t, "X509:<I>O=x,CN=Contoso CA<SR>0201 DOM\\alice",
                          NULL, "m:7"));
    ck_assert_msg(fx_contains_nocase(err, "quoted"), "%s", err);
    ASSERT_ERROR(
        err, certmap_table_add_line(t, "deny X509:<I>O=x,CN=Contoso CA<SR>0201",
                                    NULL, "m:8"));
    ck_assert_msg(fx_contains_nocase(err, "quoted"), "%s", err);
    ASSERT_ERROR(err, certmap_table_add_line(t, "X509:<I>CN=Contoso CA<SR>0201",
                                             NULL, "m:9"));
    ck_assert_msg(fx_contains_nocase(err, "quoted"), "%s", err);
    /* Windows' quotes inside an unquoted field with a blank. */
    ASSERT_ERROR(
        err, certmap_table_add_line(
                 t, "X509:<I>O=\"Edge, Dev\"<SR>01 DOM\\alice", NULL, "m:10"));
    ck_assert_msg(fx_contains_nocase(err, "quote"), "%s", err);
    /* A weak form in a map file. */
    ASSERT_ERROR(err, certmap_table_add_line(t, "X509:<S>CN=alice DOM\\alice",
                                             NULL, "m:11"));
    ck_assert_msg(fx_contains_nocase(err, "weak"), "%s", err);
    ASSERT_ERROR(err, certmap_table_add_line(t, "deny X509:<RFC822>a@b.c", NULL,
                                             "m:12"));
    ck_assert_msg(fx_contains_nocase(err, "weak"), "%s", err);
    /* Quote rules: unclosed single quote, text after a closing quote. */
    ASSERT_ERROR(err,
                 certmap_table_add_line(t, "'X509:<SKI>00 bob", NULL, "m:13"));
    ASSERT_ERROR(
        err, certmap_table_add_line(t, "'X509:<SKI>00'x bob", NULL, "m:14"));
    ck_assert_uint_eq(certmap_table_count(t), 0);
}
END_TEST

START_TEST(load_file_strong_forms)
{
    certmap_cert_t *c = strong_cert("file", NULL, NULL);
    certmap_cert_t *d = strong_cert("denied", "0BAD", NULL);
    certmap_table_t *t = certmap_table_make(test_pool);
    const char *dir = fx_tmpdir(test_pool);
    const char *path;

    path = fx_write_text(
        test_pool, dir, "strong.map",
        apr_pstrcat(test_pool, "# strong forms\r\n",                     /* 1 */
                    spec_of(c, "X509:<SHA1-PUKEY>"), " DOM\\alice\r\n",  /* 2 */
                    "\"", spec_of(d, "X509:<I><SR>"), "\" DOM\\dee\r\n", /* 3 */
                    "deny ", spec_of(d, "spki-sha256"), "\r\n",          /* 4 */
                    NULL));
    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), 3);
    assert_decision(decide(c, 1, t, NULL), CERTMAP_MAPPED, "DOM\\alice",
                    apr_psprintf(test_pool, "%s:2", path), "X509:<SHA1-PUKEY>");
    assert_decision(decide(d, 1, t, NULL), CERTMAP_CERT_DENIED, NULL,
                    apr_psprintf(test_pool, "%s:4", path), "spki-sha256");
    assert_load_fails_on("#\nX509:<I>CN=A B<SR>01 bob\n", 2);
    assert_load_fails_on("X509:<SKI>00 a\nX509:<SKI>00 b\n", 2);
}
END_TEST

#define BIG_STRONG_ENTRIES 30000

START_TEST(big_table_key_forms)
{
    certmap_table_t *t = certmap_table_make(test_pool);
    const char *dir = fx_tmpdir(test_pool);
    const char *path = apr_pstrcat(test_pool, dir, "/strong.map", NULL);
    FILE *f = fopen(path, "w");
    certmap_cert_t cert;
    unsigned char serial[4], ski[8];
    unsigned int i;

    ck_assert_ptr_nonnull(f);
    for (i = 0; i < BIG_STRONG_ENTRIES; i++) {
        /* One CA's serials and SKIs. */
        fprintf(f,
                "\"X509:<I>DC=com,DC=contoso,CN=Contoso CA<SR>%08X\" "
                "DOM\\s%u\nX509:<SKI>%016X DOM\\k%u\n",
                i * 2654435761u, i, i, i);
    }
    ck_assert_int_eq(fclose(f), 0);
    ASSERT_OK(certmap_table_load_file(t, path));
    ck_assert_uint_eq(certmap_table_count(t), 2 * BIG_STRONG_ENTRIES);

    memset(&cert, 0, sizeof(cert));
    cert.issuer_ad = "DC=com,DC=contoso,CN=Contoso CA";
    cert.serial_ad = serial;
    cert.serial_ad_len = sizeof(serial);
    cert.ski = ski;
    cert.ski_len = sizeof(ski);
    for (i = 0; i < BIG_STRONG_ENTRIES; i++) {
        unsigned int v = i * 2654435761u;
        const certmap_entry_t *e;
        char want[32];

        serial[0] = (unsigned char)(v >> 24);
        serial[1] = (unsigned char)(v >> 16);
        serial[2] = (unsigned char)(v >> 8);
        serial[3] = (unsigned char)v;
        memset(ski, 0xff, sizeof(ski)); /* no SKI match */
        e = certmap_table_find(t, &cert);
        snprintf(want, sizeof(want), "DOM\\s%u", i);
        ck_assert_msg(e != NULL && strcmp(e->account, want) == 0,
                      "serial entry %u", i);
        memset(serial, 0xee, sizeof(serial)); /* no serial match */
        memset(ski, 0, 4);
        ski[4] = (unsigned char)(i >> 24);
        ski[5] = (unsigned char)(i >> 16);
        ski[6] = (unsigned char)(i >> 8);
        ski[7] = (unsigned char)i;
        e = certmap_table_find(t, &cert);
        snprintf(want, sizeof(want), "DOM\\k%u", i);
        ck_assert_msg(e != NULL && strcmp(e->account, want) == 0,
                      "SKI entry %u", i);
    }
}
END_TEST

Suite *make_table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *add = tcase_create("add_find");
    TCase *line = tcase_create("add_line");
    TCase *file = tcase_create("load_file");
    TCase *big = tcase_create("big");
    TCase *strong = tcase_create("strong_forms");

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
    tcase_add_test(big, big_table_key_forms);
    suite_add_tcase(s, big);

    tcase_add_checked_fixture(strong, test_pool_setup, test_pool_teardown);
    tcase_add_test(strong, each_key_form_maps_and_finds);
    tcase_add_test(strong, key_form_two_accounts_is_error);
    tcase_add_test(strong, issuer_serial_case_order_and_collisions);
    tcase_add_test(strong, deny_of_key_form_beats_exact_mapping);
    tcase_add_test(strong, exact_beats_key_forms);
    tcase_add_test(strong, key_forms_innermost_scope_first);
    tcase_add_test(strong, key_forms_conflict_in_one_scope);
    tcase_add_test(strong, exact_conflict_unchanged);
    tcase_add_test(strong, renewed_certificate_by_key_forms);
    tcase_add_test(strong, line_strong_forms_and_quoting);
    tcase_add_test(strong, load_file_strong_forms);
    suite_add_tcase(s, strong);
    return s;
}
