/*
 * test_key.c - certmap_key_parse(): what CertMapUser and CertMapDeny
 * accept as the name of a certificate, including spki-sha256: and the
 * X509: forms of Active Directory's altSecurityIdentities.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "tests.h"

/* The bytes of U+200E LEFT-TO-RIGHT MARK, which Windows' certificate
 * dialog puts in front of a thumbprint copied from it. */
#define LRM "\xE2\x80\x8E"

static void assert_sha256_key(const certmap_key_t *key, const fx_cert_t *c)
{
    ck_assert_int_eq(key->type, CERTMAP_KEY_SHA256);
    ck_assert_mem_eq(key->digest, c->sha256, CERTMAP_SHA256_LEN);
}

static void assert_sha1_key(const certmap_key_t *key, const fx_cert_t *c)
{
    ck_assert_int_eq(key->type, CERTMAP_KEY_SHA1);
    ck_assert_mem_eq(key->digest, c->sha1, CERTMAP_SHA1_LEN);
}

/* Parse `spec` into a key that starts out full of junk, so that a field
 * the parser forgets to set shows. */
static const char *parse(const char *spec, const char *base_dir,
                         certmap_key_t *key)
{
    memset(key, 0xA5, sizeof(*key));
    return certmap_key_parse(test_pool, spec, base_dir, key);
}

START_TEST(sha256_lower_upper_mixed_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *lower = fx_hex(test_pool, c->sha256, 32, 0, 0);
    const char *upper = fx_hex(test_pool, c->sha256, 32, 1, 0);
    char *mixed = apr_pstrdup(test_pool, lower);
    certmap_key_t key;
    int i;

    /* Upper-case every other hex letter. */
    for (i = 0; mixed[i]; i += 2) {
        mixed[i] = (char)apr_toupper(mixed[i]);
    }
    ck_assert_str_ne(mixed, lower);
    ck_assert_str_ne(mixed, upper);

    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", lower, NULL), NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 0);
    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", upper, NULL), NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", mixed, NULL), NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(sha1_lower_upper_mixed_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *lower = fx_hex(test_pool, c->sha1, 20, 0, 0);
    const char *upper = fx_hex(test_pool, c->sha1, 20, 1, 0);
    char *mixed = apr_pstrdup(test_pool, upper);
    certmap_key_t key;
    int i;

    for (i = 1; mixed[i]; i += 2) {
        mixed[i] = (char)apr_tolower(mixed[i]);
    }

    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", lower, NULL), NULL, &key));
    assert_sha1_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 0);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", upper, NULL), NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:", mixed, NULL), NULL, &key));
    assert_sha1_key(&key, c);
}
END_TEST

START_TEST(separators_colon_and_space)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    /* openssl x509 -fingerprint prints AB:CD:..., Windows "ab cd ...". */
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 1, ':'), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 1, ':'), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 0, ' '), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(windows_left_to_right_mark_after_prefix)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    /* The administrator types "sha1:" and pastes the thumbprint from the
     * Details tab: the mark the dialog copies lands after the prefix. */
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha1:" LRM,
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sha256:" LRM,
                                fx_hex(test_pool, c->sha256, 32, 0, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(windows_left_to_right_mark_before_prefix)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    ASSERT_OK(parse(apr_pstrcat(test_pool, LRM "sha1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ' '), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, LRM "sha256:",
                                fx_hex(test_pool, c->sha256, 32, 1, ':'), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(prefix_in_any_case)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    certmap_key_t key;

    ASSERT_OK(parse(apr_pstrcat(test_pool, "SHA256:",
                                fx_hex(test_pool, c->sha256, 32, 1, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "Sha256:",
                                fx_hex(test_pool, c->sha256, 32, 0, 0), NULL),
                    NULL, &key));
    assert_sha256_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "SHA1:",
                                fx_hex(test_pool, c->sha1, 20, 1, 0), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "sHa1:",
                                fx_hex(test_pool, c->sha1, 20, 0, ':'), NULL),
                    NULL, &key));
    assert_sha1_key(&key, c);
}
END_TEST

START_TEST(wrong_length)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "key");
    const char *sha256 = fx_hex(test_pool, c->sha256, 32, 0, 0);
    const char *sha1 = fx_hex(test_pool, c->sha1, 20, 0, 0);
    certmap_key_t key;
    const char *err;

    /* One digit short, one byte short, one digit and one byte too many. */
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:",
                                   apr_pstrndup(test_pool, sha256, 63), NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:",
                                   apr_pstrndup(test_pool, sha256, 62), NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:", sha256, "0", NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:", sha256, "00", NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha1:",
                                   apr_pstrndup(test_pool, sha1, 38), NULL),
                       NULL, &key));
    ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha1:", sha1, "ab", NULL),
                            NULL, &key));
    /* A SHA-256 value under the sha1: prefix and the other way round. */
    ASSERT_ERROR(
        err, parse(apr_pstrcat(test_pool, "sha1:", sha256, NULL), NULL, &key));
    ASSERT_ERROR(
        err, parse(apr_pstrcat(test_pool, "sha256:", sha1, NULL), NULL, &key));
}
END_TEST

START_TEST(bad_characters)
{
    /* Each one inserted into an otherwise valid value, so that only the
     * character is wrong; only ':' and ' ' separate. */
    static const char *const bad[] = {
        "g", "z", "x", "-", ".", ";", "\t", "\r\n", "\xc3\xa9", "\"",
    };
    const char *zeros64 = apr_pstrndup(test_pool,
                                       "0000000000000000"
                                       "0000000000000000"
                                       "0000000000000000"
                                       "0000000000000000",
                                       64);
    const char *zeros32 = apr_pstrndup(test_pool, zeros64, 32);
    const char *zeros20 = apr_pstrndup(test_pool, zeros64, 20);
    certmap_key_t key;
    const char *err;
    size_t i;

    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "sha256:", zeros64, NULL), NULL, &key));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha256:", zeros32,
                                            bad[i], zeros32, NULL),
                                NULL, &key));
        ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "sha1:", zeros20, bad[i],
                                            zeros20, NULL),
                                NULL, &key));
    }
    /* Replaced rather than inserted: first and last digit. */
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha256:g", zeros64 + 1, NULL),
                       NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "sha1:", zeros64 + 25, "G", NULL),
                       NULL, &key));
}
END_TEST

START_TEST(empty)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse("", NULL, &key));
    ASSERT_ERROR(err, parse("sha256:", NULL, &key));
    ASSERT_ERROR(err, parse("sha1:", NULL, &key));
    ASSERT_ERROR(err, parse("sha1:" LRM, NULL, &key));
    ASSERT_ERROR(err, parse("sha256: : ", NULL, &key));
}
END_TEST

START_TEST(unknown_prefix_is_a_path)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err,
                 parse("md5:0123456789abcdef0123456789abcdef", NULL, &key));
    ck_assert_msg(strstr(err, "md5:0123456789abcdef0123456789abcdef") != NULL,
                  "error does not name the path: %s", err);
}
END_TEST

START_TEST(missing_file_names_path)
{
    const char *dir = fx_tmpdir(test_pool);
    const char *path = apr_pstrcat(test_pool, dir, "/no-such.pem", NULL);
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse(path, NULL, &key));
    ck_assert_msg(strstr(err, path) != NULL, "error does not name %s: %s", path,
                  err);
    ASSERT_ERROR(err, parse("no-such.pem", dir, &key));
    ck_assert_msg(strstr(err, "no-such.pem") != NULL,
                  "error does not name the file: %s", err);
}
END_TEST

START_TEST(pem_file)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "pem file");
    const char *dir = fx_tmpdir(test_pool);
    const char *path = fx_write_text(test_pool, dir, "c.pem", c->pem);
    certmap_key_t key;

    ASSERT_OK(parse(path, NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);
}
END_TEST

START_TEST(der_file)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "der file");
    const char *dir = fx_tmpdir(test_pool);
    const char *path =
        fx_write_file(test_pool, dir, "c.cer", c->der, c->der_len);
    certmap_key_t key;

    ASSERT_OK(parse(path, NULL, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);
}
END_TEST

START_TEST(relative_path_uses_base_dir)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "relative");
    const char *dir = fx_tmpdir(test_pool);
    const char *other = fx_tmpdir(test_pool);
    const char *abs = fx_write_text(test_pool, dir,
                                    "certs/certmap-relative-test.pem", c->pem);
    certmap_key_t key;
    const char *err;

    ASSERT_OK(parse("certs/certmap-relative-test.pem", dir, &key));
    assert_sha256_key(&key, c);
    ck_assert_int_eq(key.has_sha1, 1);
    ck_assert_mem_eq(key.sha1, c->sha1, CERTMAP_SHA1_LEN);

    /* Not found relative to another directory, nor to the cwd. */
    ASSERT_ERROR(err, parse("certs/certmap-relative-test.pem", other, &key));
    ASSERT_ERROR(err, parse("certs/certmap-relative-test.pem", NULL, &key));

    /* An absolute path ignores base_dir. */
    ASSERT_OK(parse(abs, other, &key));
    assert_sha256_key(&key, c);
}
END_TEST

START_TEST(file_with_private_key_refused)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "with key");
    const char *dir = fx_tmpdir(test_pool);
    const char *path =
        fx_write_text(test_pool, dir, "c.pem",
                      apr_pstrcat(test_pool, c->pem, c->key_pem, NULL));
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse(path, NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "private"),
                  "error does not mention the private key: %s", err);
}
END_TEST

/* ------------------------------------------------------------------ */
/* spki-sha256: and the X509: forms of altSecurityIdentities           */

static const unsigned char kb_serial[] = {0x12, 0x00, 0x00, 0x00, 0x00, 0xAC,
                                          0x11, 0x00, 0x00, 0x00, 0x00, 0x2B};

START_TEST(spki_sha256_spellings)
{
    unsigned char d[CERTMAP_SHA256_LEN];
    const char *lower, *err;
    certmap_key_t key;
    int i;

    for (i = 0; i < CERTMAP_SHA256_LEN; i++) {
        d[i] = (unsigned char)(i * 37 + 5);
    }
    lower = fx_hex(test_pool, d, 32, 0, 0);
    ASSERT_OK(
        parse(apr_pstrcat(test_pool, "spki-sha256:", lower, NULL), NULL, &key));
    ck_assert_int_eq(key.type, CERTMAP_KEY_SPKI_SHA256);
    ck_assert_mem_eq(key.digest, d, 32);
    ck_assert_int_eq(key.has_sha1, 0);
    ck_assert_str_eq(certmap_key_form(&key), "spki-sha256");
    ASSERT_OK(parse(apr_pstrcat(test_pool, "SPKI-SHA256:",
                                fx_hex(test_pool, d, 32, 1, ':'), NULL),
                    NULL, &key));
    ck_assert_mem_eq(key.digest, d, 32);
    ASSERT_OK(parse(apr_pstrcat(test_pool, LRM "spki-sha256:" LRM,
                                fx_hex(test_pool, d, 32, 0, ' '), NULL),
                    NULL, &key));
    ck_assert_mem_eq(key.digest, d, 32);
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "spki-sha256:",
                                   apr_pstrndup(test_pool, lower, 62), NULL),
                       NULL, &key));
    ck_assert_ptr_nonnull(strstr(err, "64"));
    ASSERT_ERROR(err, parse("spki-sha256:", NULL, &key));
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "spki-sha256:g", lower + 1, NULL),
                       NULL, &key));
    /* A sha1-length value is no SPKI hash. */
    ASSERT_ERROR(err,
                 parse(apr_pstrcat(test_pool, "spki-sha256:",
                                   apr_pstrndup(test_pool, lower, 40), NULL),
                       NULL, &key));
}
END_TEST

START_TEST(x509_issuer_serial_as_ad_writes_it)
{
    certmap_key_t key;

    ASSERT_OK(parse("X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA"
                    "<SR>1200000000AC11000000002B",
                    NULL, &key));
    ck_assert_int_eq(key.type, CERTMAP_KEY_ISSUER_SERIAL);
    ck_assert_str_eq(key.issuer, "DC=com,DC=contoso,CN=CONTOSO-DC-CA");
    ck_assert_uint_eq(key.bytes_len, sizeof(kb_serial));
    ck_assert_mem_eq(key.bytes, kb_serial, sizeof(kb_serial));
    ck_assert_str_eq(certmap_key_form(&key), "X509:<I><SR>");

    /* AD compares altSecurityIdentities ignoring case: prefix, tags and
     * hex in any case. */
    ASSERT_OK(parse("x509:<i>DC=com,DC=contoso,CN=CONTOSO-DC-CA"
                    "<sr>1200000000ac11000000002b",
                    NULL, &key));
    ck_assert_int_eq(key.type, CERTMAP_KEY_ISSUER_SERIAL);
    ck_assert_mem_eq(key.bytes, kb_serial, sizeof(kb_serial));
    /* The serial's 00 sign byte is part of it (last, reversed). */
    ASSERT_OK(parse("X509:<I>CN=CA<SR>A18000", NULL, &key));
    ck_assert_uint_eq(key.bytes_len, 3);
    ck_assert_uint_eq(key.bytes[2], 0x00);
}
END_TEST

START_TEST(x509_issuer_spellings_rewritten)
{
    static const char *const cases[][2] = {
        /* blanks around separators, ';' between RDNs */
        {"DC=com, DC=contoso , CN = CONTOSO-DC-CA",
         "DC=com,DC=contoso,CN=CONTOSO-DC-CA"},
        {"DC=com;DC=contoso;CN=CONTOSO-DC-CA",
         "DC=com,DC=contoso,CN=CONTOSO-DC-CA"},
        /* second spellings and OIDs become Windows' names */
        {"C=DE,ST=Bayern,Email=ca@x.test,Title=t,GivenName=g,Initials=i",
         "C=DE,S=Bayern,E=ca@x.test,T=t,G=g,I=i"},
        {"emailAddress=ca@x.test,OID.2.5.4.3=CA,2.5.4.10=Org",
         "E=ca@x.test,CN=CA,O=Org"},
        {"cn=lower,dc=com", "CN=lower,DC=com"},
        /* no Windows name: OID.n */
        {"UID=4700,OID.2.5.4.15=Private Organization,2.5.4.97=VATDE-1",
         "OID.0.9.2342.19200300.100.1.1=4700,"
         "OID.2.5.4.15=Private Organization,OID.2.5.4.97=VATDE-1"},
        /* multi-valued RDN: '+' or Windows' blank */
        {"OU=R\\D+CN=Issuing CA", "OU=R\\D CN=Issuing CA"},
        {"OU=R\\D + CN=Issuing CA", "OU=R\\D CN=Issuing CA"},
        {"CN=JANE DOE OID.0.9.2342.19200300.100.1.1=47001003151020",
         "CN=JANE DOE OID.0.9.2342.19200300.100.1.1=47001003151020"},
        /* quoting: kept where Windows quotes, dropped where not needed */
        {"O=\"Edge, \"\"Dev\"\" + Co\"", "O=\"Edge, \"\"Dev\"\" + Co\""},
        {"CN=\"Contoso CA\"", "CN=Contoso CA"},
        {"CN=\" padded \"", "CN=\" padded \""},
        {"CN=\"\"", "CN=\"\""},
        {"CN=\"a<b>#;=\"", "CN=\"a<b>#;=\""},
        /* a backslash is an ordinary character */
        {"CN=A\\B", "CN=A\\B"},
        {"L=M\xc3\xbcnchen", "L=M\xc3\xbcnchen"},
    };
    certmap_key_t key;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *spec =
            apr_pstrcat(test_pool, "X509:<I>", cases[i][0], "<SR>01", NULL);
        const char *err = parse(spec, NULL, &key);

        ck_assert_msg(err == NULL, "%s: %s", spec, err);
        ck_assert_msg(strcmp(key.issuer, cases[i][1]) == 0,
                      "%s: issuer \"%s\", expected \"%s\"", spec, key.issuer,
                      cases[i][1]);
    }
}
END_TEST

START_TEST(x509_issuer_errors)
{
    static const char *const bad[][2] = {
        {"", "empty"},
        {"   ", "empty"},
        {"DC=com,", "separator"},
        {"DC=com,,CN=x", "attribute name"},
        {"=x", "attribute name"},
        {"CN", "'='"},
        {"CN x", "'='"},
        {"FOO=bar", "FOO"},
        {"OID.1..2=x", "OID"},
        {"OID.01.2=x", "OID"},
        {"CN=\"open", "not closed"},
        {"CN=a=b", "double quotes"},
        {"CN=a<b", "double quotes"},
        {"CN=#0403", "double quotes"},
        {"CN=a\"b", "double quotes"},
        {"CN=", "no value"},
        {"CN=,O=x", "no value"},
        {"CN=\"x\" junk", "'='"},
        {"CN=bad\xc3(utf8", "UTF-8"},
        {"CN=tab\there", "control"},
        /* RFC 4514 escapes are not Windows': the comma still splits */
        {"CN=Edge\\, Dev CA", "attribute name"},
    };
    certmap_key_t key;
    const char *err;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *spec =
            apr_pstrcat(test_pool, "X509:<I>", bad[i][0], "<SR>01", NULL);

        memset(&key, 0xA5, sizeof(key));
        err = certmap_key_parse(test_pool, spec, NULL, &key);
        ck_assert_msg(err != NULL, "accepted: %s", spec);
        ck_assert_msg(!fx_has_control_char(err), "control char in \"%s\"", err);
        ck_assert_msg(fx_contains_nocase(err, bad[i][1]),
                      "%s: error does not mention \"%s\": %s", spec, bad[i][1],
                      err);
        /* A refused spec leaves no half-made key. */
        ck_assert_int_eq(key.type, 0);
        ck_assert_ptr_null(key.issuer);
    }
}
END_TEST

START_TEST(x509_serial_errors)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse("X509:<I>CN=CA<SR>12345", NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "even number of hex digits"), "%s",
                  err);
    ck_assert_ptr_nonnull(strstr(err, "<SR>"));
    ASSERT_ERROR(err, parse("X509:<I>CN=CA<SR>", NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "no hex digits"), "%s", err);
    ASSERT_ERROR(err, parse("X509:<I>CN=CA<SR>12zz", NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "'z'"), "%s", err);
    ASSERT_ERROR(
        err, parse(apr_pstrcat(
                       test_pool, "X509:<I>CN=CA<SR>",
                       fx_hex(test_pool,
                              (const unsigned char *)apr_pcalloc(test_pool, 65),
                              65, 0, 0),
                       NULL),
                   NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "longer than 64 bytes"), "%s", err);
    /* No <SR> at all: say how the value is written, and about quoting,
     * since an issuer with blanks cut at a blank looks like this. */
    ASSERT_ERROR(err, parse("X509:<I>DC=com,CN=Contoso", NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "<SR>"), "%s", err);
    ck_assert_msg(fx_contains_nocase(err, "quoted"), "%s", err);
    /* 64 bytes are fine. */
    ASSERT_OK(parse(
        apr_pstrcat(test_pool, "X509:<I>CN=CA<SR>",
                    fx_hex(test_pool,
                           (const unsigned char *)apr_pcalloc(test_pool, 64),
                           64, 0, 0),
                    NULL),
        NULL, &key));
    ck_assert_uint_eq(key.bytes_len, 64);
}
END_TEST

START_TEST(x509_ski)
{
    static const unsigned char ski[] = {0xee, 0xc6, 0xb8, 0x87, 0x88};
    certmap_key_t key;
    const char *err;

    ASSERT_OK(parse("X509:<SKI>eec6b88788", NULL, &key));
    ck_assert_int_eq(key.type, CERTMAP_KEY_SKI);
    ck_assert_uint_eq(key.bytes_len, sizeof(ski));
    ck_assert_mem_eq(key.bytes, ski, sizeof(ski));
    ck_assert_str_eq(certmap_key_form(&key), "X509:<SKI>");
    /* Windows' dialog shows "ee c6 b8 87 88"; any case. */
    ASSERT_OK(parse("x509:<ski>EE C6 B8 87 88", NULL, &key));
    ck_assert_mem_eq(key.bytes, ski, sizeof(ski));
    ASSERT_ERROR(err, parse("X509:<SKI>eec", NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, "even number"), "%s", err);
    ASSERT_ERROR(err, parse("X509:<SKI>", NULL, &key));
    ASSERT_ERROR(err, parse("X509:<SKI>xyz0", NULL, &key));
    ASSERT_ERROR(
        err, parse(apr_pstrcat(
                       test_pool, "X509:<SKI>",
                       fx_hex(test_pool,
                              (const unsigned char *)apr_pcalloc(test_pool, 65),
                              65, 0, 0),
                       NULL),
                   NULL, &key));
}
END_TEST

START_TEST(x509_sha1_pukey)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "pukey");
    unsigned char want[CERTMAP_SHA1_LEN];
    unsigned int n;
    certmap_key_t key;
    const char *hex, *err;

    ck_assert_int_eq(X509_pubkey_digest(c->x509, EVP_sha1(), want, &n), 1);
    hex = fx_hex(test_pool, want, 20, 1, 0);
    ASSERT_OK(parse(apr_pstrcat(test_pool, "X509:<SHA1-PUKEY>", hex, NULL),
                    NULL, &key));
    ck_assert_int_eq(key.type, CERTMAP_KEY_SHA1_PUKEY);
    ck_assert_mem_eq(key.digest, want, 20);
    ck_assert_str_eq(certmap_key_form(&key), "X509:<SHA1-PUKEY>");
    ASSERT_OK(parse(apr_pstrcat(test_pool, "x509:<sha1-pukey>",
                                fx_hex(test_pool, want, 20, 0, 0), NULL),
                    NULL, &key));
    ck_assert_mem_eq(key.digest, want, 20);
    ASSERT_ERROR(err, parse(apr_pstrcat(test_pool, "X509:<SHA1-PUKEY>",
                                        apr_pstrndup(test_pool, hex, 38), NULL),
                            NULL, &key));
    ck_assert_ptr_nonnull(strstr(err, "40"));
    ASSERT_ERROR(err, parse("X509:<SHA1-PUKEY>", NULL, &key));
}
END_TEST

/* A weak or unknown X509: form is refused with a sentence that says so. */
static void assert_x509_refused(const char *spec, const char *says)
{
    certmap_key_t key;
    const char *err;

    ASSERT_ERROR(err, parse(spec, NULL, &key));
    ck_assert_msg(fx_contains_nocase(err, says),
                  "%s: error does not say \"%s\": %s", spec, says, err);
    ck_assert_int_eq(key.type, 0);
}

START_TEST(weak_subject_only_refused)
{
    assert_x509_refused("X509:<S>DC=com,DC=contoso,OU=UserAccounts,CN=mfatest",
                        "weak");
    assert_x509_refused("X509:<S>CN=x", "KB5014754");
}
END_TEST

START_TEST(weak_issuer_and_subject_refused)
{
    assert_x509_refused("X509:<I>DC=com,DC=contoso,CN=CONTOSO-DC-CA"
                        "<S>DC=com,DC=contoso,OU=UserAccounts,CN=mfatest",
                        "weak");
    assert_x509_refused("X509:<I>CN=CA<s>CN=user", "issuer and subject");
}
END_TEST

START_TEST(weak_rfc822_refused)
{
    assert_x509_refused("X509:<RFC822>user@contoso.com", "weak");
    /* [MS-PKCA] writes it with a blank after the colon. */
    assert_x509_refused("X509: <RFC822>user@contoso.com", "weak");
}
END_TEST

START_TEST(entra_principal_name_refused)
{
    assert_x509_refused("X509:<PN>bob@woodgrove.com", "weak");
}
END_TEST

START_TEST(issuer_and_sid_refused)
{
    assert_x509_refused("X509:<I>CN=CA<SID>S-1-5-21-1-2-3-1001",
                        "not supported");
}
END_TEST

START_TEST(unknown_x509_tag_refused)
{
    assert_x509_refused("X509:<SHA1-TP-PUBKEY>aa+bb", "not a form");
    assert_x509_refused("X509:<FOO>bar", "<FOO>");
    assert_x509_refused("X509:<>", "not a form");
    assert_x509_refused("X509:", "tag");
    assert_x509_refused("X509:SKI>aa", "tag");
    assert_x509_refused("X509:<SKI", "tag");
    assert_x509_refused("X509:<\x01\x7f>", "not a form");
}
END_TEST

START_TEST(key_form_names)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "forms");
    const char *dir = fx_tmpdir(test_pool);
    const char *path = fx_write_text(test_pool, dir, "c.pem", c->pem);
    certmap_key_t key;

    ASSERT_OK(parse(path, NULL, &key));
    ck_assert_str_eq(certmap_key_form(&key), "file");
    ASSERT_OK(parse(fx_sha256_spec(test_pool, c), NULL, &key));
    ck_assert_str_eq(certmap_key_form(&key), "sha256");
    ASSERT_OK(parse(fx_sha1_spec(test_pool, c), NULL, &key));
    ck_assert_str_eq(certmap_key_form(&key), "sha1");
}
END_TEST

START_TEST(map_quote)
{
    ck_assert_str_eq(certmap_map_quote(test_pool, "sha256:ab"), "sha256:ab");
    ck_assert_str_eq(certmap_map_quote(test_pool, "X509:<I>CN=A B<SR>01"),
                     "\"X509:<I>CN=A B<SR>01\"");
    ck_assert_str_eq(certmap_map_quote(test_pool, "X509:<I>CN=\"a,b\"<SR>01"),
                     "\"X509:<I>CN=\"\"a,b\"\"<SR>01\"");
    ck_assert_str_eq(certmap_map_quote(test_pool, ""), "\"\"");
    ck_assert_str_eq(certmap_map_quote(test_pool, "#x"), "\"#x\"");
    ck_assert_str_eq(certmap_map_quote(test_pool, "it's"), "\"it's\"");
}
END_TEST

Suite *make_key_suite(void)
{
    Suite *s = suite_create("key");
    TCase *tc = tcase_create("key_parse");
    TCase *strong = tcase_create("strong_forms");

    tcase_add_checked_fixture(tc, test_pool_setup, test_pool_teardown);
    tcase_add_test(tc, sha256_lower_upper_mixed_case);
    tcase_add_test(tc, sha1_lower_upper_mixed_case);
    tcase_add_test(tc, separators_colon_and_space);
    tcase_add_test(tc, windows_left_to_right_mark_after_prefix);
    tcase_add_test(tc, windows_left_to_right_mark_before_prefix);
    tcase_add_test(tc, prefix_in_any_case);
    tcase_add_test(tc, wrong_length);
    tcase_add_test(tc, bad_characters);
    tcase_add_test(tc, empty);
    tcase_add_test(tc, unknown_prefix_is_a_path);
    tcase_add_test(tc, missing_file_names_path);
    tcase_add_test(tc, pem_file);
    tcase_add_test(tc, der_file);
    tcase_add_test(tc, relative_path_uses_base_dir);
    tcase_add_test(tc, file_with_private_key_refused);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(strong, test_pool_setup, test_pool_teardown);
    tcase_add_test(strong, spki_sha256_spellings);
    tcase_add_test(strong, x509_issuer_serial_as_ad_writes_it);
    tcase_add_test(strong, x509_issuer_spellings_rewritten);
    tcase_add_test(strong, x509_issuer_errors);
    tcase_add_test(strong, x509_serial_errors);
    tcase_add_test(strong, x509_ski);
    tcase_add_test(strong, x509_sha1_pukey);
    tcase_add_test(strong, weak_subject_only_refused);
    tcase_add_test(strong, weak_issuer_and_subject_refused);
    tcase_add_test(strong, weak_rfc822_refused);
    tcase_add_test(strong, entra_principal_name_refused);
    tcase_add_test(strong, issuer_and_sid_refused);
    tcase_add_test(strong, unknown_x509_tag_refused);
    tcase_add_test(strong, key_form_names);
    tcase_add_test(strong, map_quote);
    suite_add_tcase(s, strong);
    return s;
}
