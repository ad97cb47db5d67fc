/*
 * test_index.c - compiled map files (certmap_index.c) and tables with an
 * index attached.
 *
 * The reference is certmap_table_load_file() + certmap_decide() on the
 * same map file: every decision (reason, account, source, conflict,
 * forms) and every error message must be the same from the index.
 */
#include "tests.h"
#include "certmap_index.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_strings.h>

/* A made-up certificate: random digests and key forms, an issuer and a
 * serial, for lookups without parsing. */
static certmap_cert_t *fake_cert(apr_pool_t *p, unsigned int *seed, int i)
{
    certmap_cert_t *c = apr_pcalloc(p, sizeof(*c));
    unsigned char *ski = apr_palloc(p, 20), *serial = apr_palloc(p, 9);
    apr_size_t j;

    for (j = 0; j < CERTMAP_SHA256_LEN; j++) {
        c->sha256[j] = (unsigned char)rand_r(seed);
        c->spki_sha256[j] = (unsigned char)rand_r(seed);
    }
    for (j = 0; j < CERTMAP_SHA1_LEN; j++) {
        c->sha1[j] = (unsigned char)rand_r(seed);
        c->pukey_sha1[j] = (unsigned char)rand_r(seed);
        ski[j] = (unsigned char)rand_r(seed);
    }
    for (j = 0; j < 9; j++) {
        serial[j] = (unsigned char)rand_r(seed);
    }
    c->ski = ski;
    c->ski_len = 20;
    c->serial_ad = serial;
    c->serial_ad_len = 9;
    c->issuer_ad = apr_psprintf(p, "CN=Issuing CA%d,O=Example", i % 3);
    c->subject = "";
    c->upns = apr_array_make(p, 1, sizeof(const char *));
    return c;
}

static const char *hex(apr_pool_t *p, const unsigned char *d, apr_size_t n,
                       int upper)
{
    return fx_hex(p, d, n, upper, 0);
}

/* One spec naming c in form f (0..8). */
static const char *spec_for(apr_pool_t *p, const certmap_cert_t *c, int f)
{
    switch (f) {
    case 0:
        return apr_pstrcat(p, "sha256:", hex(p, c->sha256, 32, 0), NULL);
    case 1:
        return apr_pstrcat(p, "sha1:", hex(p, c->sha1, 20, 0), NULL);
    case 2: /* the general parser: upper-case prefix, separators */
        return apr_pstrcat(p, "SHA256:", fx_hex(p, c->sha256, 32, 1, ':'),
                           NULL);
    case 3:
        return apr_pstrcat(p, "SHA1:", hex(p, c->sha1, 20, 1), NULL);
    case 4:
        return apr_pstrcat(p, "spki-sha256:", hex(p, c->spki_sha256, 32, 0),
                           NULL);
    case 5:
        return apr_pstrcat(p, "X509:<SKI>", hex(p, c->ski, c->ski_len, 1),
                           NULL);
    case 6:
        return apr_pstrcat(p, "x509:<sha1-pukey>", hex(p, c->pukey_sha1, 20, 0),
                           NULL);
    case 7: { /* issuer in another case: compared ignoring ASCII case */
        char *iss = apr_pstrdup(p, c->issuer_ad), *s;

        for (s = iss; *s; s++) {
            if (*s >= 'a' && *s <= 'z') {
                *s = (char)(*s - 'a' + 'A');
            }
        }
        return apr_pstrcat(p, "\"X509:<I>", iss, "<SR>",
                           hex(p, c->serial_ad, c->serial_ad_len, 1), "\"",
                           NULL);
    }
    default:
        return apr_pstrcat(p, "'X509:<I>", c->issuer_ad, "<SR>",
                           hex(p, c->serial_ad, c->serial_ad_len, 0), "'",
                           NULL);
    }
}
#define NFORMS 9

static void append(apr_pool_t *p, char **text, const char *line)
{
    *text = apr_pstrcat(p, *text, line, "\n", NULL);
}

static int str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void assert_same_decision(const certmap_decision_t *want,
                                 const certmap_decision_t *got, int i)
{
    ck_assert_msg(want->reason == got->reason,
                  "cert %d: reason %s from the table, %s from the index", i,
                  certmap_reason_name(want->reason),
                  certmap_reason_name(got->reason));
    ck_assert_msg(str_same(want->account, got->account),
                  "cert %d: account %s vs %s", i, want->account, got->account);
    ck_assert_msg(str_same(want->source, got->source),
                  "cert %d: source %s vs %s", i, want->source, got->source);
    ck_assert_msg(str_same(want->conflict, got->conflict),
                  "cert %d: conflict %s vs %s", i, want->conflict,
                  got->conflict);
    ck_assert_msg(str_same(want->form, got->form), "cert %d: form %s vs %s", i,
                  want->form, got->form);
    ck_assert_msg(str_same(want->conflict_form, got->conflict_form),
                  "cert %d: conflict form %s vs %s", i, want->conflict_form,
                  got->conflict_form);
}

/* Load `path` as a table and compile it (to a file and to memory); both
 * must give the same error, or the same decision for every cert.
 * Returns the error (NULL when the file is good). */
static const char *compare_file(apr_pool_t *p, const char *dir,
                                const char *path, certmap_cert_t **certs, int n,
                                unsigned int *decided_mapped)
{
    certmap_table_t *t = certmap_table_make(p), *ti = certmap_table_make(p),
                    *tm = certmap_table_make(p);
    const char *want = certmap_table_load_file(t, path), *got, *got_mem;
    const char *out = apr_pstrcat(p, dir, "/map.idx", NULL);
    certmap_index_t *idx = NULL, *mem = NULL;
    certmap_index_slot_t slot, mslot;
    unsigned int count = 12345;
    int i;

    remove(out);
    got = certmap_index_compile(p, path, out, 0x0644, &count);
    got_mem = certmap_index_compile_mem(p, path, &mem);
    ck_assert_msg(str_same(want, got), "errors differ:\n table: %s\n index: %s",
                  want, got);
    ck_assert_msg(str_same(want, got_mem),
                  "errors differ:\n table: %s\n memory index: %s", want,
                  got_mem);
    if (want != NULL) {
        ck_assert_ptr_null(mem);
        /* Nothing written: neither the index nor a temporary file. */
        {
            DIR *d = opendir(dir);
            struct dirent *de;

            ck_assert_ptr_nonnull(d);
            while ((de = readdir(d)) != NULL) {
                ck_assert_msg(strstr(de->d_name, ".idx") == NULL,
                              "left behind after an error: %s", de->d_name);
            }
            closedir(d);
        }
        return want;
    }
    ck_assert_uint_eq(count, certmap_table_count(t));
    ASSERT_OK(certmap_index_open(p, out, &idx));
    ck_assert_uint_eq(certmap_index_count(idx), count);
    ck_assert_uint_eq(certmap_index_count(mem), count);
    ck_assert_str_eq(certmap_index_map_path(idx), path);
    slot.current = idx;
    mslot.current = mem;
    certmap_table_add_index(ti, &slot);
    certmap_table_add_index(tm, &mslot);
    ck_assert_uint_eq(certmap_table_count_index(ti), count);
    for (i = 0; i < n; i++) {
        const certmap_table_t *c1[1] = {t}, *c2[1] = {ti}, *c3[1] = {tm};
        certmap_decision_t d1, d2, d3;

        certmap_decide(c1, 1, certs[i], p, &d1);
        memset(&d2, 0xA5, sizeof(d2));
        certmap_decide(c2, 1, certs[i], p, &d2);
        certmap_decide(c3, 1, certs[i], p, &d3);
        assert_same_decision(&d1, &d2, i);
        assert_same_decision(&d1, &d3, i);
        if (d1.reason == CERTMAP_MAPPED && decided_mapped) {
            (*decided_mapped)++;
        }
    }
    certmap_index_close(idx);
    certmap_index_close(mem);
    return NULL;
}

#define NCERTS 120

START_TEST(round_trip_generated)
{
    apr_pool_t *p = test_pool;
    const char *dir = fx_tmpdir(p);
    certmap_cert_t *certs[NCERTS + 10];
    unsigned int seed = 4242, mapped = 0, denied_lines = 0;
    char *text = apr_pstrdup(p, "# generated\n\n");
    int i, round;
    fx_cert_t *fc = fx_cert_simple(p, "file cert");
    const char *path;

    for (i = 0; i < NCERTS + 10; i++) {
        certs[i] = fake_cert(p, &seed, i);
    }
    /* A certificate given as a file (relative to the map file's dir). */
    fx_write_file(p, dir, "sub/c.pem", fc->pem, fc->pem_len);
    certs[NCERTS] = fx_lookup_cert(p, fc);
    append(p, &text, "sub/c.pem FILE\\owner");
    append(p, &text, apr_pstrcat(p, fx_sha1_spec(p, fc), " FILE\\owner", NULL));

    for (round = 0; round < 3; round++) {
        for (i = 0; i < NCERTS; i++) {
            int f = (i + round * 4) % NFORMS, r = rand_r(&seed) % 10;
            const char *acct = i % 7 == 0
                                   ? apr_psprintf(p, "j\xc3\xb6rg%d", i)
                                   : apr_psprintf(p, "CONTOSO\\user%06d", i);

            if (round > 0 && i % 3 != round) {
                continue;
            }
            append(p, &text,
                   apr_pstrcat(
                       p, round == 2 ? "  " : "", spec_for(p, certs[i], f),
                       round == 1 ? "\t" : " ", acct,
                       r == 0 ? "   # comment" : "", r == 1 ? "\r" : "", NULL));
            if (r == 2) {
                /* The same mapping again is fine. */
                append(
                    p, &text,
                    apr_pstrcat(p, spec_for(p, certs[i], f), " ", acct, NULL));
            }
            if (r == 3 || (r == 4 && round == 0)) {
                append(p, &text,
                       apr_pstrcat(p, "deny ",
                                   spec_for(p, certs[i], (f + r) % NFORMS),
                                   NULL));
                denied_lines++;
            }
            if ((r == 5 || r == 6) && round == 0 && (f == 0 || f == 4)) {
                /* Another form, another account: a conflict at decision
                 * time when both are in the same group. */
                append(p, &text,
                       apr_pstrcat(p, spec_for(p, certs[i], (f + 1) % NFORMS),
                                   " OTHER\\x", NULL));
            }
        }
    }
    /* A sha1: entry folded into a later certificate file's entry (the
     * table keeps one entry for both digests), with a mapping and with a
     * deny. */
    {
        fx_cert_t *f2 = fx_cert_simple(p, "fold 2"),
                  *f3 = fx_cert_simple(p, "fold 3");

        fx_write_file(p, dir, "c2.pem", f2->pem, f2->pem_len);
        fx_write_file(p, dir, "c3.pem", f3->pem, f3->pem_len);
        certs[NCERTS + 4] = fx_lookup_cert(p, f2);
        certs[NCERTS + 5] = fx_lookup_cert(p, f3);
        /* Separate sha1 and sha256 entries first, then the file. */
        append(p, &text,
               apr_pstrcat(p, fx_sha1_spec(p, f2), " FOLD\\two", NULL));
        append(p, &text,
               apr_pstrcat(p, fx_sha256_spec(p, f2), " FOLD\\two", NULL));
        append(p, &text, "c2.pem FOLD\\two");
        append(p, &text, apr_pstrcat(p, "deny ", fx_sha1_spec(p, f3), NULL));
        append(p, &text,
               apr_pstrcat(p, fx_sha256_spec(p, f3), " FOLD\\three", NULL));
        append(p, &text, "c3.pem FOLD\\three");
    }
    /* Deny-only entries, and a mapping after a deny. */
    append(p, &text,
           apr_pstrcat(p, "DENY ", spec_for(p, certs[NCERTS + 1], 0), NULL));
    append(p, &text,
           apr_pstrcat(p, "deny ", spec_for(p, certs[NCERTS + 2], 5), NULL));
    append(p, &text,
           apr_pstrcat(p, spec_for(p, certs[NCERTS + 2], 5), " late\\mapping",
                       NULL));
    path = fx_write_text(p, dir, "map.txt", text);
    {
        const char *err =
            compare_file(p, dir, path, certs, NCERTS + 10, &mapped);

        ck_assert_msg(err == NULL, "%s", err);
    }
    /* The comparison saw all outcomes. */
    ck_assert_uint_gt(mapped, NCERTS / 3);
    ck_assert_uint_gt(denied_lines, 5);

    /* Spot checks computed here, not by the engine. */
    {
        certmap_table_t *ti = certmap_table_make(p);
        certmap_index_t *idx;
        certmap_index_slot_t slot;
        const certmap_table_t *chain[1];
        certmap_decision_t d;

        ASSERT_OK(certmap_index_compile_mem(p, path, &idx));
        slot.current = idx;
        certmap_table_add_index(ti, &slot);
        chain[0] = ti;
        certmap_decide(chain, 1, certs[NCERTS], p, &d);
        ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
        ck_assert_str_eq(d.account, "FILE\\owner");
        ck_assert_str_eq(d.source, apr_pstrcat(p, path, ":3", NULL));
        ck_assert_str_eq(d.form, CERTMAP_FORM_FILE);
        certmap_decide(chain, 1, certs[NCERTS + 1], p, &d);
        ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
        certmap_decide(chain, 1, certs[NCERTS + 3], p, &d);
        ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
        ck_assert_ptr_null(d.source);
        certmap_index_close(idx);
    }
}
END_TEST

/* Error files: the same message, at the same line, from both. */
START_TEST(same_errors)
{
    apr_pool_t *p = test_pool;
    unsigned int seed = 7;
    certmap_cert_t *c = fake_cert(p, &seed, 0), *c2 = fake_cert(p, &seed, 1);
    const char *good = apr_pstrcat(p, spec_for(p, c, 0), " DOM\\a\n",
                                   spec_for(p, c2, 1), " DOM\\b\n", NULL);
    const char *bad[] = {
        /* same certificate, two accounts: names both lines */
        apr_pstrcat(p, good, "# x\n", spec_for(p, c, 2), " DOM\\other\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c2, 3), " DOM\\other\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 5), " K\\a\n", spec_for(p, c, 5),
                    " K\\b\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 7), " K\\a\n", spec_for(p, c, 8),
                    " K\\b\n", NULL),
        apr_pstrcat(p, good, "sha256:abcd DOM\\a\n", NULL),
        apr_pstrcat(p, good, "sha1:", hex(p, c->sha1, 20, 0), "zz DOM\\a\n",
                    NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), "\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " \\user\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " DOM\\\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " A\\B\\C\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " a b\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " \"unclosed\n", NULL),
        apr_pstrcat(p, good, spec_for(p, c, 0), " bad\xff\n", NULL),
        apr_pstrcat(p, good, "X509:<S>CN=x DOM\\a\n", NULL),
        apr_pstrcat(p, good, "missing.pem DOM\\a\n", NULL),
        apr_pstrcat(p, good, "deny\n", NULL),
        apr_pstrcat(p, good, "X509:<I>CN=a b<SR>01 DOM\\a\n", NULL),
    };
    const char *dir;
    unsigned int i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err;

        dir = fx_tmpdir(p);
        err = compare_file(p, dir, fx_write_text(p, dir, "m.txt", bad[i]), &c,
                           1, NULL);
        ck_assert_msg(err != NULL, "case %u: accepted", i);
        ck_assert_msg(strstr(err, "/m.txt:") != NULL, "case %u: %s", i, err);
    }
    /* The conflict names the first line. */
    dir = fx_tmpdir(p);
    {
        const char *path = fx_write_text(p, dir, "m.txt", bad[0]);
        const char *err = compare_file(p, dir, path, &c, 1, NULL);

        ck_assert_str_eq(err,
                         apr_psprintf(p,
                                      "%s:4: this certificate is already "
                                      "mapped to 'DOM\\a' (at %s:1) in the "
                                      "same scope; a certificate maps to one "
                                      "account",
                                      path, path));
    }
    /* A sha1: mapping, then the certificate file with another account:
     * the fold is refused. */
    dir = fx_tmpdir(p);
    {
        fx_cert_t *f = fx_cert_simple(p, "fold");
        certmap_cert_t *fc = fx_lookup_cert(p, f);
        const char *err;

        fx_write_file(p, dir, "f.pem", f->pem, f->pem_len);
        err = compare_file(
            p, dir,
            fx_write_text(p, dir, "m.txt",
                          apr_pstrcat(p, fx_sha1_spec(p, f),
                                      " DOM\\a\nf.pem DOM\\b\n", NULL)),
            &fc, 1, NULL);
        ck_assert_ptr_nonnull(err);
        ck_assert_ptr_nonnull(strstr(err, "m.txt:2: "));
    }
    /* A NUL byte. */
    dir = fx_tmpdir(p);
    ck_assert_ptr_nonnull(compare_file(
        p, dir, fx_write_file(p, dir, "m.txt", "sha1:\0 x\n", 9), &c, 1, NULL));
    /* No file at all. */
    dir = fx_tmpdir(p);
    ck_assert_ptr_nonnull(compare_file(
        p, dir, apr_pstrcat(p, dir, "/none.txt", NULL), &c, 1, NULL));
}
END_TEST

/* A good index, written to dir; returns its bytes. */
static unsigned char *good_index(apr_pool_t *p, const char *dir,
                                 certmap_cert_t **c, apr_size_t *len,
                                 const char **out)
{
    unsigned int seed = 99;
    const char *map;
    apr_file_t *f;
    apr_finfo_t fi;
    unsigned char *buf;

    *c = fake_cert(p, &seed, 0);
    map = fx_write_text(p, dir, "m.txt",
                        apr_pstrcat(p, spec_for(p, *c, 0), " DOM\\a\n",
                                    spec_for(p, *c, 8), " DOM\\a\n", NULL));
    *out = apr_pstrcat(p, dir, "/m.idx", NULL);
    ASSERT_OK(certmap_index_compile(p, map, *out, 0x0644, NULL));
    ck_assert_int_eq(apr_stat(&fi, *out, APR_FINFO_SIZE | APR_FINFO_PROT, p),
                     APR_SUCCESS);
    ck_assert_int_eq(fi.protection & 0x0777, 0x0644);
    *len = (apr_size_t)fi.size;
    buf = apr_palloc(p, *len);
    ck_assert_int_eq(apr_file_open(&f, *out, APR_READ, 0, p), APR_SUCCESS);
    ck_assert_int_eq(apr_file_read_full(f, buf, *len, NULL), APR_SUCCESS);
    apr_file_close(f);
    return buf;
}

static const char *open_damaged(apr_pool_t *p, const char *dir,
                                const unsigned char *b, apr_size_t len)
{
    certmap_index_t *idx = NULL;
    const char *path = fx_write_file(p, dir, "bad.idx", b, len);
    const char *err = certmap_index_open(p, path, &idx);
    const char *err2;
    certmap_index_t *idx2 = NULL;

    err2 = certmap_index_open_bytes(p, b, len, &idx2);
    ck_assert_int_eq(err == NULL, err2 == NULL);
    certmap_index_close(idx);
    certmap_index_close(idx2);
    return err;
}

START_TEST(damaged_index_refused)
{
    apr_pool_t *p = test_pool;
    const char *dir = fx_tmpdir(p), *out, *err;
    certmap_cert_t *c;
    apr_size_t len, i;
    unsigned char *good = good_index(p, dir, &c, &len, &out), *b;
    apr_uint32_t v;

    ck_assert_ptr_null(open_damaged(p, dir, good, len));
    /* Truncated anywhere. */
    for (i = 0; i < len; i += (i < 200 ? 1 : 37)) {
        ASSERT_ERROR(err, open_damaged(p, dir, good, i));
    }
    /* Wrong magic. */
    b = apr_pmemdup(p, good, len);
    b[0] = 'X';
    ASSERT_ERROR(err, open_damaged(p, dir, b, len));
    ck_assert_msg(strstr(err, "not a certmap index") != NULL, "%s", err);
    /* Wrong version (the 4 bytes after the 8-byte magic). */
    b = apr_pmemdup(p, good, len);
    v = 2;
    memcpy(b + 8, &v, 4);
    ASSERT_ERROR(err, open_damaged(p, dir, b, len));
    ck_assert_msg(strstr(err, "version 2") != NULL, "%s", err);
    /* Another byte order. */
    b = apr_pmemdup(p, good, len);
    v = 0x04030201;
    memcpy(b + 12, &v, 4);
    ASSERT_ERROR(err, open_damaged(p, dir, b, len));
    /* Section offsets out of range: every 8-byte field of the header
     * after the sizes set to a huge value. */
    for (i = 24; i < 88; i += 8) {
        apr_uint64_t big = 0xfffffff0ULL;

        b = apr_pmemdup(p, good, len);
        memcpy(b + i, &big, 8);
        ASSERT_ERROR(err, open_damaged(p, dir, b, len));
    }
    /* Extra bytes: the size no longer matches. */
    b = apr_palloc(p, len + 1);
    memcpy(b, good, len);
    b[len] = 0;
    ASSERT_ERROR(err, open_damaged(p, dir, b, len + 1));
    /* A missing file. */
    {
        certmap_index_t *idx;

        ASSERT_ERROR(err, certmap_index_open(
                              p, apr_pstrcat(p, dir, "/nothing", NULL), &idx));
        ck_assert_ptr_nonnull(strstr(err, "/nothing"));
    }
}
END_TEST

/* Damaged bodies (entries, slots, pool) open but must not crash a
 * lookup, nor hand out an account that is not one. */
START_TEST(damaged_body_lookups)
{
    apr_pool_t *p = test_pool;
    const char *dir = fx_tmpdir(p), *out;
    certmap_cert_t *c;
    apr_size_t len, i;
    unsigned char *good = good_index(p, dir, &c, &len, &out);
    unsigned int seed = 5;

    for (i = 120; i < len; i++) {
        int k;

        for (k = 0; k < 3; k++) {
            unsigned char *b = apr_pmemdup(p, good, len);
            certmap_index_t *idx;
            certmap_index_hit_t h;

            b[i] = k == 0 ? 0xff : k == 1 ? 0 : (unsigned char)rand_r(&seed);
            if (certmap_index_open_bytes(p, b, len, &idx) != NULL) {
                continue;
            }
            if (certmap_index_lookup(idx, CERTMAP_KEY_SHA256, c->sha256, 32,
                                     NULL, &h)
                && h.account != NULL) {
                ck_assert_ptr_null(certmap_account_check(p, h.account));
            }
            certmap_index_lookup(idx, CERTMAP_KEY_ISSUER_SERIAL, c->serial_ad,
                                 c->serial_ad_len, c->issuer_ad, &h);
            certmap_index_close(idx);
        }
    }
}
END_TEST

/* A table with both directives and an index. */
START_TEST(table_with_directives_and_index)
{
    apr_pool_t *p = test_pool;
    const char *dir = fx_tmpdir(p), *map;
    unsigned int seed = 11;
    certmap_cert_t *a = fake_cert(p, &seed, 0), *b = fake_cert(p, &seed, 1),
                   *c = fake_cert(p, &seed, 2);
    certmap_table_t *t = certmap_table_make(p), *outer = certmap_table_make(p);
    certmap_index_t *idx;
    certmap_index_slot_t slot;
    const certmap_table_t *chain[2];
    certmap_decision_t d;

    map = fx_write_text(p, dir, "m.txt",
                        apr_pstrcat(p, spec_for(p, a, 0), " IDX\\a\n",
                                    spec_for(p, b, 0), " IDX\\b\n",
                                    spec_for(p, c, 4), " IDX\\c\n", NULL));
    ASSERT_OK(certmap_index_compile_mem(p, map, &idx));
    slot.current = idx;
    certmap_table_add_index(t, &slot);
    /* a: the same account from a directive: no conflict. */
    ASSERT_OK(certmap_table_add_line(
        t, apr_pstrcat(p, spec_for(p, a, 1), " IDX\\a", NULL), NULL, "conf:1"));
    /* b: another account by sha1 in the same table: conflict. */
    ASSERT_OK(certmap_table_add_line(
        t, apr_pstrcat(p, spec_for(p, b, 1), " CONF\\b", NULL), NULL,
        "conf:2"));
    /* c: key form in the index, exact form in an outer table: exact wins. */
    ASSERT_OK(certmap_table_add_line(
        outer, apr_pstrcat(p, spec_for(p, c, 0), " OUTER\\c", NULL), NULL,
        "conf:3"));
    ck_assert_uint_eq(certmap_table_count_index(t), 5);
    chain[0] = t;
    chain[1] = outer;

    certmap_decide(chain, 2, a, p, &d);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_str_eq(d.account, "IDX\\a");
    /* The index's sha256 entry comes before the directive's sha1. */
    ck_assert_str_eq(d.source, apr_pstrcat(p, map, ":1", NULL));
    ck_assert_str_eq(d.form, CERTMAP_FORM_SHA256);

    certmap_decide(chain, 2, b, p, &d);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
    ck_assert_str_eq(d.source, apr_pstrcat(p, map, ":2", NULL));
    ck_assert_str_eq(d.conflict, "conf:2");

    certmap_decide(chain, 2, c, p, &d);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_str_eq(d.account, "OUTER\\c");

    /* A deny in the outer table beats the index's mapping. */
    ASSERT_OK(certmap_table_add_line(
        outer, apr_pstrcat(p, "deny ", spec_for(p, a, 5), NULL), NULL,
        "conf:4"));
    certmap_decide(chain, 2, a, p, &d);
    ck_assert_int_eq(d.reason, CERTMAP_CERT_DENIED);
    ck_assert_str_eq(d.source, "conf:4");

    /* No index in the slot: only the directives. */
    slot.current = NULL;
    certmap_decide(chain, 2, b, p, &d);
    ck_assert_int_eq(d.reason, CERTMAP_MAPPED);
    ck_assert_str_eq(d.account, "CONF\\b");
    certmap_index_close(idx);
}
END_TEST

/* Swapping the slot: lookups follow. */
START_TEST(slot_swap)
{
    apr_pool_t *p = test_pool;
    const char *dir = fx_tmpdir(p), *m1, *m2, *o1, *o2;
    unsigned int seed = 12;
    certmap_cert_t *a = fake_cert(p, &seed, 0);
    certmap_table_t *t = certmap_table_make(p);
    certmap_index_t *i1, *i2;
    certmap_index_slot_t slot;
    const certmap_table_t *chain[1];
    certmap_decision_t d;
    certmap_file_id_t id;

    m1 = fx_write_text(p, dir, "m1.txt",
                       apr_pstrcat(p, spec_for(p, a, 0), " ONE\\a\n", NULL));
    m2 = fx_write_text(
        p, dir, "m2.txt",
        apr_pstrcat(p, "\n", spec_for(p, a, 1), " TWO\\a\n", NULL));
    o1 = apr_pstrcat(p, dir, "/1.idx", NULL);
    o2 = apr_pstrcat(p, dir, "/2.idx", NULL);
    ASSERT_OK(certmap_index_compile(p, m1, o1, 0x0600, NULL));
    ASSERT_OK(certmap_index_compile(p, m2, o2, 0x0600, NULL));
    ASSERT_OK(certmap_index_open(p, o1, &i1));
    ASSERT_OK(certmap_index_open(p, o2, &i2));
    ASSERT_OK(certmap_file_id(p, m1, &id));
    ck_assert(certmap_file_id_equal(&id, certmap_index_source(i1)));
    ck_assert(!certmap_file_id_equal(&id, certmap_index_source(i2)));
    ck_assert_uint_gt(certmap_index_bytes(i1), 100);

    slot.current = i1;
    certmap_table_add_index(t, &slot);
    chain[0] = t;
    certmap_decide(chain, 1, a, p, &d);
    ck_assert_str_eq(d.account, "ONE\\a");
    ck_assert_str_eq(d.source, apr_pstrcat(p, m1, ":1", NULL));
    slot.current = i2;
    certmap_decide(chain, 1, a, p, &d);
    ck_assert_str_eq(d.account, "TWO\\a");
    ck_assert_str_eq(d.source, apr_pstrcat(p, m2, ":2", NULL));
    ck_assert_str_eq(d.form, CERTMAP_FORM_SHA1);
    /* Two slots on one table: both are read. */
    {
        certmap_index_slot_t s2 = {i1};

        certmap_table_add_index(t, &s2);
        certmap_decide(chain, 1, a, p, &d);
        ck_assert_int_eq(d.reason, CERTMAP_CERT_UNMAPPED);
        ck_assert_ptr_nonnull(d.conflict);
    }
    certmap_index_close(i1);
    certmap_index_close(i2);
    {
        const char *err;

        ASSERT_ERROR(
            err, certmap_file_id(p, apr_pstrcat(p, dir, "/gone", NULL), &id));
        ck_assert_ptr_nonnull(strstr(err, "/gone"));
    }
}
END_TEST

Suite *make_index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("index");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_generated);
    tcase_add_test(tc, same_errors);
    tcase_add_test(tc, damaged_index_refused);
    tcase_add_test(tc, damaged_body_lookups);
    tcase_add_test(tc, table_with_directives_and_index);
    tcase_add_test(tc, slot_swap);
    suite_add_tcase(s, tc);
    return s;
}
