"""Configuration errors fail `apache2 -t` with the config file, the line
number and a plain sentence."""

import re

import pytest

from pki import colon_hex

ACCOUNT = r'"W2K3TEST\certuser"'


def _configtest(httpd, pki, snippet, files=None):
    srv = httpd("<Location /x>\n    CertMap On\n%s\n</Location>" % snippet,
                start=False, files=files)
    bad = srv.pki.write_bad_files(srv.path("bad"))
    rc, out = srv.configtest()
    return srv, rc, out, bad


def _assert_error(srv, rc, out, marker, *patterns):
    """rc != 0; httpd names the file and the line of `marker`; the message
    after it is a sentence matching every pattern (case-insensitive)."""
    assert rc != 0, out
    line = srv.line_of(marker)
    head = "Syntax error on line %d of %s:" % (line, srv.conf)
    assert head in out, "expected %r in:\n%s" % (head, out)
    msg = out.split(head, 1)[1].strip()
    assert len(msg) > 10, out
    for p in patterns:
        assert re.search(p, msg, re.I), "%r not in message:\n%s" % (p, msg)
    return msg


def test_valid_config_passes(httpd, pki):
    cu = pki.clients["certuser"]
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapUser certs/certuser.cer " + ACCOUNT,
        # the same mapping twice is fine
        "    CertMapUser sha256:%s %s" % (cu.sha256, ACCOUNT),
        '    CertMapUser "sha1:%s" %s' % (colon_hex(cu.sha1, " "), ACCOUNT),
        "    CertMapDeny certs/denied.pem",
        "    CertMapDomain W2K3TEST",
        "    CertMapUser certs/bob.pem bob",
        "    AuthType Certificate",
        "    Require valid-user",
    ]))
    assert rc == 0, out
    assert "Syntax OK" in out


def test_missing_cert_file(httpd, pki):
    srv, rc, out, _ = _configtest(
        httpd, pki, "    CertMapUser certs/nonexistent.cer " + ACCOUNT)
    _assert_error(srv, rc, out, "nonexistent.cer", r"nonexistent\.cer",
                  r"(no such file|cannot|can't|unable|not found|not exist)")


def test_cert_path_is_a_directory(httpd, pki):
    # running as root, a mode-000 file is still readable: a directory is a
    # path that cannot be read as a file
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapUser certs " +
                                  ACCOUNT)
    _assert_error(srv, rc, out, "CertMapUser certs ", r"certs",
                  r"(not a regular file|directory|cannot read|unable)")


@pytest.mark.parametrize("name", ["not-a-cert.pem", "garbage.cer",
                                  "empty.pem"])
def test_file_is_not_a_certificate(httpd, pki, name):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapUser bad/%s %s"
                                  % (name, ACCOUNT))
    _assert_error(srv, rc, out, name, re.escape(name), r"certificate")


def test_file_with_two_certificates(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapUser "
                                  "bad/two-certs.pem " + ACCOUNT)
    _assert_error(srv, rc, out, "two-certs.pem", r"two-certs\.pem",
                  r"(more than one|two|2|second|several|multiple)"
                  r".*certificate")


@pytest.mark.parametrize("name", ["with-key.pem", "key-only.pem"])
def test_file_with_private_key(httpd, pki, name):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapUser bad/%s %s"
                                  % (name, ACCOUNT))
    _assert_error(srv, rc, out, name, r"private key",
                  r"only the public certificate")


@pytest.mark.parametrize("spec", [
    "sha256:" + "a" * 63,                 # one digit short
    "sha256:" + "a" * 65,                 # one digit too many
    "sha256:" + "g" * 64,                 # not hex
    "sha256:",                            # nothing
    "sha1:" + "b" * 39,
    "sha1:" + "0" * 64,                   # a SHA-256 given as SHA-1
    "sha1:" + "zz" * 20,
])
def test_malformed_fingerprint(httpd, pki, spec):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapUser %s %s"
                                  % (spec, ACCOUNT))
    _assert_error(srv, rc, out, "CertMapUser " + spec,
                  r"(sha-?256|sha-?1|fingerprint|hex|digit)")


def test_malformed_fingerprint_in_deny(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapDeny sha256:12345")
    _assert_error(srv, rc, out, "CertMapDeny sha256:12345",
                  r"(sha-?256|fingerprint|hex|digit)")


def test_empty_account(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki,
                                  '    CertMapUser certs/certuser.cer ""')
    _assert_error(srv, rc, out, 'CertMapUser certs/certuser.cer ""',
                  r"account is empty")


def test_wrong_number_of_values(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki,
                                  "    CertMapUser certs/certuser.cer")
    _assert_error(srv, rc, out, "CertMapUser certs/certuser.cer",
                  r"takes a certificate and an account")


def test_too_many_values(httpd, pki):
    srv, rc, out, _ = _configtest(
        httpd, pki, "    CertMapUser certs/certuser.cer W2K3TEST\\John Smith")
    _assert_error(srv, rc, out, "CertMapUser certs/certuser.cer W2K3TEST",
                  r"quote a value that contains blanks")


def test_account_with_tab(httpd, pki):
    srv, rc, out, _ = _configtest(
        httpd, pki, '    CertMapUser certs/certuser.cer "W2K3TEST\\cert\tuser"')
    _assert_error(srv, rc, out, "cert\tuser", r"control")


def test_same_cert_two_accounts_same_form(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapUser certs/certuser.cer " + ACCOUNT,
        r'    CertMapUser certs/certuser.cer "W2K3TEST\somebodyelse"',
    ]))
    _assert_error(srv, rc, out, "somebodyelse",
                  r"(already|twice|both|different)")


def test_same_cert_two_accounts_path_and_fingerprint(httpd, pki):
    cu = pki.clients["certuser"]
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapUser certs/certuser.pem " + ACCOUNT,
        r'    CertMapUser sha256:%s "W2K3TEST\somebodyelse"' % cu.sha256,
    ]))
    _assert_error(srv, rc, out, "somebodyelse",
                  r"(already|twice|both|different)")


def test_same_cert_two_accounts_path_and_sha1(httpd, pki):
    cu = pki.clients["certuser"]
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapUser certs/certuser.pem " + ACCOUNT,
        r'    CertMapUser sha1:%s "W2K3TEST\somebodyelse"' % cu.sha1,
    ]))
    _assert_error(srv, rc, out, "somebodyelse",
                  r"(already|twice|both|different)")


def test_same_cert_directive_then_map_file(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapUser certs/certuser.cer " + ACCOUNT,
        "    CertMapFile maps/m.map",
    ]), files={"maps/m.map": '# one entry\n../certs/certuser.pem '
                             '"W2K3TEST\\somebodyelse"\n'})
    msg = _assert_error(srv, rc, out, "CertMapFile maps/m.map",
                        r"(already|twice|both|different)")
    assert re.search(r"(^|/)maps/m\.map:2\b", msg, re.M), msg


def test_same_cert_map_file_then_directive(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "\n".join([
        "    CertMapFile maps/m.map",
        r'    CertMapUser certs/certuser.cer "W2K3TEST\somebodyelse"',
    ]), files={"maps/m.map": "../certs/certuser.pem " + ACCOUNT + "\n"})
    _assert_error(srv, rc, out, "somebodyelse",
                  r"(already|twice|both|different)")


@pytest.mark.parametrize("value", ["Maybe", "yes", "1"])
def test_bad_certmap_value(httpd, pki, value):
    srv = httpd("<Location /x>\n    CertMap %s\n</Location>" % value,
                start=False)
    rc, out = srv.configtest()
    _assert_error(srv, rc, out, "CertMap %s" % value,
                  r"(?-i:\bOn\b)", r"(?-i:\bOff\b)", r"(?-i:\bOptional\b)")


@pytest.mark.parametrize("content,line", [
    ("# ok\n../certs/certuser.cer W2K3TEST\\certuser\n"
     "missing.cer W2K3TEST\\x\n", 3),
    ("\n\nsha256:abc W2K3TEST\\x\n", 3),
    ("../certs/certuser.cer\n", 1),                         # no account
    ("../certs/certuser.cer W2K3TEST\\a extra\n", 1),        # three tokens
    ("# c\n# c\n# c\ndeny\n", 4),                            # deny without cert
    ('../certs/certuser.cer ""\n', 1),                       # empty account
    ("../certs/certuser.cer W2K3TEST\\a\n"
     "../certs/certuser.pem W2K3TEST\\b\n", 2),              # mapped twice
    ("../bad/with-key.pem W2K3TEST\\a\n", 1),                # private key
    ('../certs/certuser.cer "W2K3TEST\\unterminated\n', 1),  # open quote
])
def test_map_file_bad_line(httpd, pki, content, line):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapFile maps/bad.map",
                                  files={"maps/bad.map": content})
    msg = _assert_error(srv, rc, out, "CertMapFile maps/bad.map")
    assert re.search(r"(^|/)maps/bad\.map:%d\b" % line, msg, re.M), msg


def test_missing_map_file(httpd, pki):
    srv, rc, out, _ = _configtest(httpd, pki, "    CertMapFile maps/none.map")
    _assert_error(srv, rc, out, "CertMapFile maps/none.map", r"none\.map")


def test_error_in_server_scope(httpd, pki):
    srv = httpd("    CertMapUser sha256:xyz " + ACCOUNT, start=False)
    rc, out = srv.configtest()
    _assert_error(srv, rc, out, "CertMapUser sha256:xyz")
