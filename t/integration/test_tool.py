"""The certmap command-line tool: fingerprint, add, remove, list, check,
lookup, import-iis, help, and its man page.

Runs the built binary: CERTMAP_TOOL, else BUILDDIR/tools/certmap beside
the module under test (CERTMAP_MODULE is BUILDDIR/.libs/mod_certmap.so).
Expected values come from python3-cryptography and from the real httpd
(`apache2 -t` for map-file messages, requests for lookups and imports),
never from the tool itself."""

import base64
import glob
import hashlib
import os
import re
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from checks import assert_mapped, assert_refused
from client import get
from pki import colon_hex
from server import REPO_ROOT, module_path

TOOL_DATA = os.path.join(REPO_ROOT, "t", "tool")
MANPAGE = os.path.join(REPO_ROOT, "doc", "certmap.1")
USER = "W2K3TEST\\certuser"


def tool_path():
    return os.environ.get("CERTMAP_TOOL") or os.path.join(
        os.path.dirname(os.path.dirname(module_path())), "tools", "certmap")


@pytest.fixture(scope="session")
def tool():
    path = tool_path()
    assert os.access(path, os.X_OK), (
        "the certmap tool is not at %s: build it or set CERTMAP_TOOL" % path)
    return path


def run(tool, *args, cwd=None):
    p = subprocess.run([tool] + [str(a) for a in args], cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    return str(path)


def b64(client):
    return base64.b64encode(read_bytes(client.cert_der)).decode()


# -- independent fingerprints (python3-cryptography + a little DER) ---------

def _der_tlv(data, pos):
    """(tag, content start, content end) of the DER element at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7f
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def spki_der(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_bits(cert):
    """The subjectPublicKey BIT STRING's contents, without the unused-bits
    byte: what X509:<SHA1-PUKEY> hashes."""
    der = spki_der(cert)
    tag, start, _ = _der_tlv(der, 0)          # SEQUENCE
    assert tag == 0x30
    _, _, alg_end = _der_tlv(der, start)      # AlgorithmIdentifier
    tag, bs_start, bs_end = _der_tlv(der, alg_end)
    assert tag == 0x03 and der[bs_start] == 0
    return der[bs_start + 1:bs_end]


WINDOWS_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O",
                 NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
                 NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L",
                 NameOID.DOMAIN_COMPONENT: "DC"}


def expected_forms(cert):
    """Every form, in the documented order, computed independently."""
    sha256 = cert.fingerprint(hashes.SHA256()).hex()
    sha1 = hashlib.sha1(cert.public_bytes(
        serialization.Encoding.DER)).hexdigest()
    issuer = ",".join("%s=%s" % (WINDOWS_NAMES[a.oid], a.value)
                      for rdn in cert.issuer.rdns for a in rdn)
    n = cert.serial_number
    serial = n.to_bytes((n.bit_length() + 8) // 8, "big")[::-1].hex()
    forms = ["sha256:" + sha256, "sha1:" + sha1,
             "spki-sha256:" + hashlib.sha256(spki_der(cert)).hexdigest()]
    ixsr = "X509:<I>%s<SR>%s" % (issuer, serial)
    forms.append('"%s"' % ixsr if " " in ixsr else ixsr)
    try:
        ski = cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest.hex()
        forms.append("X509:<SKI>" + ski)
    except x509.ExtensionNotFound:
        pass
    forms.append("X509:<SHA1-PUKEY>"
                 + hashlib.sha1(public_key_bits(cert)).hexdigest())
    return forms


# -- help, version, usage ---------------------------------------------------

COMMANDS = ["fingerprint", "add", "remove", "list", "check", "lookup",
            "import-iis"]


def test_help_lists_every_command(tool):
    for args in (["--help"], ["-h"], ["help"]):
        rc, out, err = run(tool, *args)
        assert rc == 0 and err == "", (args, rc, err)
        for c in COMMANDS:
            assert "certmap " + c in out, (c, out)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_of_each_command(tool, cmd):
    rc1, out1, _ = run(tool, "help", cmd)
    rc2, out2, _ = run(tool, cmd, "--help")
    assert rc1 == rc2 == 0
    assert out1 == out2
    assert out1.startswith("usage: certmap " + cmd), out1
    assert len(out1.splitlines()) >= 3, out1


def test_version_is_the_package_version(tool):
    with open(os.path.join(REPO_ROOT, "configure.ac")) as f:
        version = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]*)\]",
                            f.read()).group(1)
    rc, out, err = run(tool, "--version")
    assert rc == 0 and err == ""
    assert out.split()[-1] == version, out


@pytest.mark.parametrize("args,pattern", [
    ([], r"usage: certmap"),
    (["frobnicate"], r"certmap: unknown command 'frobnicate'"),
    (["--frob"], r"certmap: unknown option '--frob'"),
    (["help", "frobnicate"], r"certmap: .*frobnicate"),
    (["add", "x.map", "cert"], r"certmap: add: wrong number of arguments"),
    (["lookup", "x.map"], r"certmap: lookup: wrong number of arguments"),
    (["fingerprint"], r"wrong number of arguments"),
    (["check", "--bogus", "x.map"], r"certmap: unknown option '--bogus'"),
    (["import-iis", "--site"], r"--site needs a site name"),
    (["import-iis", "a.config", "b.config"], r"wrong number of arguments"),
])
def test_usage_errors_exit_2(tool, args, pattern):
    rc, out, err = run(tool, *args)
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert re.search(pattern, err), err
    assert "usage: certmap" in err, err


# -- fingerprint ------------------------------------------------------------

def test_fingerprint_every_form(tool, pki):
    cu = pki.clients["certuser"]
    expected = expected_forms(cu.cert)
    for path in (cu.cert_der, cu.cert_pem):
        rc, out, err = run(tool, "fingerprint", path)
        assert rc == 0 and err == "", err
        assert [l.lower() for l in out.splitlines()] == \
            [l.lower() for l in expected], out


def test_fingerprint_with_subject_key_identifier(tool, pki):
    c = pki.issue("tool-ski", ski=True)
    rc, out, err = run(tool, "fingerprint", c.cert_pem)
    assert rc == 0, err
    lines = [l.lower() for l in out.splitlines()]
    assert lines == [l.lower() for l in expected_forms(c.cert)]
    assert any(l.startswith("x509:<ski>") for l in lines)


def test_fingerprint_forms_each_map_the_certificate(tool, pki, tmp_path):
    """Every printed line, pasted into a map file, names the certificate:
    the module's parser accepts it and the decision maps it."""
    cu = pki.clients["certuser"]
    _, out, _ = run(tool, "fingerprint", cu.cert_der)
    for i, form in enumerate(out.splitlines()):
        m = write_bytes(tmp_path / ("f%d.map" % i), "%s %s\n" % (form, USER))
        rc, res, err = run(tool, "lookup", m, cu.cert_pem)
        assert rc == 0, (form, res, err)
        assert res.startswith("mapped to %s by %s:1" % (USER, m)), res
        rc, res, _ = run(tool, "lookup", m, pki.clients["other"].cert_pem)
        assert rc == 1 and res.strip() == "not mapped", (form, res)


def test_fingerprint_several_files_and_a_bad_one(tool, pki, tmp_path):
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    bad = pki.write_bad_files(str(tmp_path))
    rc, out, err = run(tool, "fingerprint", cu.cert_der, bad["with-key.pem"],
                       bob.cert_pem)
    assert rc == 1
    assert "certmap: " in err and "with-key.pem" in err
    assert "private key" in err
    assert "# %s: %s" % (cu.cert_der, cu.subject) in out
    assert "# %s: %s" % (bob.cert_pem, bob.subject) in out
    assert "sha256:" + cu.sha256 in out and "sha256:" + bob.sha256 in out
    assert "with-key" not in out


# -- check: the module's parser and messages --------------------------------

def _log_unescape(text):
    r"""Undo httpd's log escaping (\\ for a backslash, \" for a quote,
    \xHH for other bytes) in what `apache2 -t` prints."""
    def one(m):
        e = m.group(1)
        return chr(int(e[1:], 16)) if e[0] == "x" else e
    return re.sub(r'\\(\\|"|x[0-9a-fA-F]{2})', one, text)


def _httpd_says(httpd, path):
    """What `apache2 -t` says about a map file given to CertMapFile:
    (returncode, its output, the message after 'CertMapFile: ' or None)."""
    srv = httpd("<Location /m>\n    CertMap On\n    CertMapFile %s\n"
                "</Location>" % path, start=False)
    rc, out = srv.configtest()
    m = re.search(r"^CertMapFile: (.*)$", out, re.M)
    return rc, out, (_log_unescape(m.group(1)) if m else None)


def _bad_maps(pki, d):
    cu = pki.clients["certuser"]
    shutil.copy(cu.cert_der, os.path.join(d, "certuser.cer"))
    bad = pki.write_bad_files(d)
    return {
        "short-hex": "# users\nsha256:%s %s\n" % (cu.sha256[:-1], USER),
        "unclosed-quote": '\n\n"sha1:%s %s\n' % (cu.sha1, USER),
        "two-backslashes": "sha256:%s W2K3TEST\\a\\b\n" % cu.sha256,
        "no-account": "sha256:%s\n" % cu.sha256,
        "missing-file": "# relative to the map file\nmissing.cer %s\n" % USER,
        "private-key": "%s %s\n" % (os.path.basename(bad["with-key.pem"]),
                                    USER),
        "conflict": "certuser.cer %s\r\nsha256:%s W2K3TEST\\other\r\n"
                    % (USER, cu.sha256),
        "nul-byte": "# a\x00b\n",
        "deny-arity": "deny\n",
    }


def test_check_messages_equal_httpd(tool, pki, httpd, tmp_path):
    for name, text in _bad_maps(pki, str(tmp_path)).items():
        path = write_bytes(tmp_path / (name + ".map"), text)
        before = read_bytes(path)
        rc, out, err = run(tool, "check", path)
        hrc, hout, hmsg = _httpd_says(httpd, path)
        assert hrc != 0 and hmsg, (name, hout)
        assert rc == 1, (name, out, err)
        assert out == ""
        assert err == "certmap: %s\n" % hmsg, (name, err, hmsg)
        # and the message names the map file and the line
        assert re.match(re.escape(path) + r":\d+: ", hmsg), hmsg
        assert read_bytes(path) == before


def test_check_valid_file(tool, pki, httpd, tmp_path):
    cu, bob, den = (pki.clients[n] for n in ("certuser", "bob", "denied"))
    shutil.copy(den.cert_pem, str(tmp_path / "denied.pem"))
    text = ("\ufeff# users of the app\r\n\r\n"
            "sha256:%s \"%s\"\r\n"
            "  sha1:%s bob   # comment after an entry\r\n"
            "deny denied.pem\r\n"
            "sha256:%s \"W2K3TEST\\Den Ied\"\r\n"
            % (cu.sha256.upper(), USER, colon_hex(bob.sha1), den.sha256))
    path = write_bytes(tmp_path / "ok.map", text)
    hrc, hout, _ = _httpd_says(httpd, path)
    assert hrc == 0, hout
    rc, out, err = run(tool, "check", path)
    assert rc == 0 and err == "", err
    # 4 entry lines; denied.pem is named twice (deny + mapping): 3 certs
    assert out == "%s: valid, 4 entries for 3 certificates\n" % path, out


def test_check_several_files(tool, pki, tmp_path):
    good = write_bytes(tmp_path / "good.map", "sha256:%s bob\n"
                       % pki.clients["bob"].sha256)
    bad = write_bytes(tmp_path / "bad.map", "sha256:12 bob\n")
    rc, out, err = run(tool, "check", good, bad, tmp_path / "none.map")
    assert rc == 1
    assert out == "%s: valid, 1 entry for 1 certificate\n" % good
    errs = err.splitlines()
    assert errs[0].startswith("certmap: %s:1: sha256: fingerprint must have "
                              "64 hex digits" % bad), err
    assert errs[1].startswith("certmap: cannot read map file %s"
                              % (tmp_path / "none.map")), err


# -- add ----------------------------------------------------------------

def test_add_creates_a_map_file(tool, pki, tmp_path):
    cu = pki.clients["certuser"]
    path = tmp_path / "new.map"
    rc, out, err = run(tool, "add", path, cu.cert_der, USER)
    assert (rc, out, err) == (0, "", "")
    assert read_bytes(path) == ("sha256:%s %s\n" % (cu.sha256, USER)).encode()
    rc, out, _ = run(tool, "check", path)
    assert rc == 0


def test_add_keeps_everything_else(tool, pki, tmp_path):
    cu, bob, other = (pki.clients[n] for n in ("certuser", "bob", "other"))
    original = ("\ufeff# Application users\r\n"
                "\r\n"
                "   # indented comment\r\n"
                "sha1:%s bob\r\n"
                "# last line has no newline" % colon_hex(bob.sha1)).encode()
    path = write_bytes(tmp_path / "users.map", original, 0o640)
    ino = os.stat(path).st_ino
    rc, out, err = run(tool, "add", path, cu.cert_pem, "W2K3TEST\\Cert User")
    assert (rc, out, err) == (0, "", "")
    # replaced by rename, not rewritten (checked after the first add: a
    # later temporary file may get the freed inode number again)
    assert os.stat(path).st_ino != ino
    rc, out, err = run(tool, "add", path, other.cert_der, "W2K3TEST\\other")
    assert (rc, out, err) == (0, "", "")
    data = read_bytes(path)
    assert data == original + (
        '\r\nsha256:%s "W2K3TEST\\Cert User"\r\n'
        "sha256:%s W2K3TEST\\other\r\n" % (cu.sha256, other.sha256)).encode()
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert os.listdir(str(tmp_path)) == ["users.map"]   # no temporary left
    rc, out, _ = run(tool, "lookup", path, cu.cert_der)
    assert rc == 0 and out.startswith(
        "mapped to W2K3TEST\\Cert User by %s:6" % path), out


def test_add_a_form_is_written_normalised(tool, pki, tmp_path):
    bob = pki.clients["bob"]
    path = tmp_path / "forms.map"
    rc, _, err = run(tool, "add", path, "sha1:" + colon_hex(bob.sha1, " "),
                     "bob")
    assert rc == 0, err
    assert read_bytes(path) == ("sha1:%s bob\n" % bob.sha1).encode()


def test_add_follows_a_symbolic_link(tool, pki, tmp_path):
    real = write_bytes(tmp_path / "real.map", "# real\n", 0o600)
    link = tmp_path / "link.map"
    os.symlink("real.map", str(link))
    rc, _, err = run(tool, "add", link, pki.clients["bob"].cert_der, "bob")
    assert rc == 0, err
    assert os.path.islink(str(link))
    assert read_bytes(real) == ("# real\nsha256:%s bob\n"
                                % pki.clients["bob"].sha256).encode()
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600


@pytest.mark.parametrize("existing", ["sha256", "sha1", "file", "deny",
                                      "spki"])
def test_add_refuses_a_certificate_already_there(tool, pki, tmp_path,
                                                 existing):
    cu = pki.clients["certuser"]
    shutil.copy(cu.cert_der, str(tmp_path / "cu.cer"))
    spki = hashlib.sha256(spki_der(cu.cert)).hexdigest()
    line = {"sha256": "sha256:%s W2K3TEST\\first" % cu.sha256.upper(),
            "sha1": "sha1:%s W2K3TEST\\first" % colon_hex(cu.sha1),
            "file": "cu.cer W2K3TEST\\first",
            "deny": "deny cu.cer",
            "spki": "spki-sha256:%s W2K3TEST\\first" % spki}[existing]
    path = write_bytes(tmp_path / "users.map", "# users\n%s\n" % line)
    before = read_bytes(path)
    for account in (USER, "W2K3TEST\\first"):
        rc, out, err = run(tool, "add", path, cu.cert_pem, account)
        assert rc == 1, (existing, out, err)
        assert out == ""
        assert err.startswith("certmap: %s:2 already has this certificate"
                              % path), err
        assert read_bytes(path) == before


def test_add_refuses_the_same_key_form_twice(tool, pki, tmp_path):
    bob = pki.clients["bob"]
    path = write_bytes(tmp_path / "users.map", "sha1:%s bob\n" % bob.sha1)
    before = read_bytes(path)
    rc, _, err = run(tool, "add", path, "sha1:" + bob.sha1.upper(), "bob2")
    assert rc == 1 and "users.map:1 already has this certificate" in err, err
    assert read_bytes(path) == before


@pytest.mark.parametrize("account,pattern", [
    ("W2K3TEST\\a\\b", r"more than one '\\'"),
    ("\\bob", r"no domain before"),
    ("bob\x01", r"control"),
    ("", r"empty"),
])
def test_add_refuses_a_bad_account(tool, pki, tmp_path, account, pattern):
    path = write_bytes(tmp_path / "users.map", "# empty\n")
    rc, out, err = run(tool, "add", path, pki.clients["bob"].cert_der,
                       account)
    assert rc == 1 and out == ""
    assert re.search(pattern, err), err
    assert read_bytes(path) == b"# empty\n"


def test_add_refuses_a_map_file_that_does_not_parse(tool, pki, httpd,
                                                    tmp_path):
    path = write_bytes(tmp_path / "users.map",
                       "# ok\r\nsha256:%s %s\r\nsha256:123 bob\r\n"
                       % (pki.clients["certuser"].sha256, USER), 0o600)
    before = read_bytes(path)
    _, _, hmsg = _httpd_says(httpd, path)
    rc, out, err = run(tool, "add", path, pki.clients["bob"].cert_der, "bob")
    assert rc == 1 and out == ""
    assert err == "certmap: %s\n" % hmsg, (err, hmsg)
    assert ":3: " in hmsg
    assert read_bytes(path) == before
    rc, out, err = run(tool, "remove", path, pki.clients["certuser"].cert_der)
    assert rc == 1 and err == "certmap: %s\n" % hmsg
    assert read_bytes(path) == before


def test_add_refuses_what_the_module_would_refuse(tool, pki, tmp_path):
    bad = pki.write_bad_files(str(tmp_path))
    path = write_bytes(tmp_path / "users.map", "")
    for name in ("with-key.pem", "two-certs.pem", "not-a-cert.pem"):
        rc, _, err = run(tool, "add", path, bad[name], "bob")
        assert rc == 1 and name in err, err
    rc, _, err = run(tool, "add", path, "sha256:abcd", "bob")
    assert rc == 1 and "64 hex digits" in err, err
    assert read_bytes(path) == b""


def test_concurrent_adds_lose_nothing(tool, tmp_path):
    """Twenty adds at once into one file: each waits for the lock, none
    overwrites another's line."""
    path = write_bytes(tmp_path / "users.map", "# concurrent\n")
    keys = [hashlib.sha256(b"cert %d" % i).hexdigest() for i in range(20)]
    procs = [subprocess.Popen([tool, "add", str(path), "sha256:" + k,
                               "W2K3TEST\\u%d" % i],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, k in enumerate(keys)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    lines = read_bytes(path).decode().splitlines()
    assert lines[0] == "# concurrent"
    assert sorted(lines[1:]) == sorted("sha256:%s W2K3TEST\\u%d" % (k, i)
                                       for i, k in enumerate(keys))
    assert os.listdir(str(tmp_path)) == ["users.map"]


# -- remove -------------------------------------------------------------

def test_remove_every_line_naming_the_certificate(tool, pki, tmp_path):
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    shutil.copy(cu.cert_pem, str(tmp_path / "cu.pem"))
    lines = ["# header",
             "sha256:%s %s" % (cu.sha256, USER),
             "sha1:%s bob" % bob.sha1,
             "",
             "  # keep me",
             '"sha1:%s" %s' % (colon_hex(cu.sha1, " "), USER),
             "deny cu.pem",
             "# trailer"]
    path = write_bytes(tmp_path / "users.map", "\r\n".join(lines) + "\r\n",
                       0o604)
    rc, out, err = run(tool, "remove", path, cu.cert_der)
    assert rc == 0 and err == "", err
    removed = out.splitlines()
    assert len(removed) == 3, out
    assert removed[0].startswith("removed %s:2: sha256:%s" % (path, cu.sha256))
    assert removed[1].startswith("removed %s:6: " % path)
    assert removed[2].startswith("removed %s:7: deny cu.pem" % path)
    keep = [lines[i] for i in (0, 2, 3, 4, 7)]
    assert read_bytes(path) == ("\r\n".join(keep) + "\r\n").encode()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604
    assert sorted(os.listdir(str(tmp_path))) == ["cu.pem", "users.map"]


def test_remove_by_form_removes_that_key_only(tool, pki, tmp_path):
    cu = pki.clients["certuser"]
    text = "sha256:%s %s\nsha1:%s %s\n" % (cu.sha256, USER, cu.sha1, USER)
    path = write_bytes(tmp_path / "users.map", text)
    rc, out, err = run(tool, "remove", path, "sha1:" + colon_hex(cu.sha1))
    assert rc == 0, err
    assert out == "removed %s:2: sha1:%s %s\n" % (path, cu.sha1, USER)
    assert read_bytes(path) == ("sha256:%s %s\n" % (cu.sha256, USER)).encode()


def test_remove_of_an_absent_certificate(tool, pki, tmp_path):
    text = "# only bob\nsha256:%s bob\n" % pki.clients["bob"].sha256
    path = write_bytes(tmp_path / "users.map", text)
    ino = os.stat(path).st_ino
    for cert in (pki.clients["other"].cert_der,
                 "sha256:" + pki.clients["other"].sha256):
        rc, out, err = run(tool, "remove", path, cert)
        assert rc == 1 and out == ""
        assert err.startswith("certmap: no line of %s names" % path), err
        assert read_bytes(path) == text.encode()
        assert os.stat(path).st_ino == ino
    rc, _, err = run(tool, "remove", tmp_path / "none.map",
                     pki.clients["bob"].cert_der)
    assert rc == 1 and "cannot open map file" in err, err


# -- list ---------------------------------------------------------------

def test_list(tool, pki, tmp_path):
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    shutil.copy(bob.cert_der, str(tmp_path / "bob.cer"))
    path = write_bytes(tmp_path / "users.map",
                       "# c\n\nsha256:%s 'W2K3TEST\\Cert User'\n"
                       "bob.cer bob\ndeny sha1:%s\n" % (cu.sha256, cu.sha1))
    rc, out, err = run(tool, "list", path)
    assert rc == 0 and err == ""
    assert out.splitlines() == [
        '%s:3: sha256:%s "W2K3TEST\\Cert User"' % (path, cu.sha256),
        "%s:4: bob.cer bob (sha256:%s)" % (path, bob.sha256),
        "%s:5: deny sha1:%s" % (path, cu.sha1)]


# -- lookup agrees with the module --------------------------------------

def test_lookup_agrees_with_the_module(tool, pki, httpd, tmp_path):
    cu, bob, den = (pki.clients[n] for n in ("certuser", "bob", "denied"))
    keyed = pki.issue("tool-keyed")
    shutil.copy(den.cert_pem, str(tmp_path / "denied.pem"))
    spki = hashlib.sha256(spki_der(keyed.cert)).hexdigest()
    path = write_bytes(tmp_path / "users.map", "\n".join([
        "# lookup test",
        "sha256:%s %s" % (cu.sha256, USER),
        "sha1:%s bob" % colon_hex(bob.sha1),
        "deny denied.pem",
        "sha256:%s W2K3TEST\\denied" % den.sha256,
        "spki-sha256:%s W2K3TEST\\keyed" % spki,
    ]) + "\n")
    srv = httpd("<Location /m>\n    CertMap On\n    CertMapFile %s\n"
                "</Location>" % path, dirs=["m"])
    for name in ("certuser", "bob", "denied", "other", "tool-keyed"):
        c = pki.clients[name]
        rc, out, err = run(tool, "lookup", path, c.cert_pem)
        resp = get(srv, pki, "/m/env.cgi", client=c)
        m = re.match(r"mapped to (.*) by (\S+:\d+) \(", out)
        if m:
            assert rc == 0, (name, out, err)
            assert_mapped(resp, m.group(1), match=m.group(2))
        elif out.startswith("denied by %s:4" % path):
            assert rc == 1
            assert_refused(srv, resp, "cert-denied")
        else:
            assert (rc, out) == (1, "not mapped\n"), (name, out, err)
            assert_refused(srv, resp, "cert-unmapped")
    # what the lookups above must have said, for the record
    assert run(tool, "lookup", path, cu.cert_der)[1].startswith(
        "mapped to %s by %s:2" % (USER, path))
    assert run(tool, "lookup", path, keyed.cert_der)[1].startswith(
        "mapped to W2K3TEST\\keyed by %s:6" % path)
    assert run(tool, "lookup", path, den.cert_der)[1].startswith(
        "denied by %s:4" % path)
    # a form instead of a file: the lines with that key
    rc, out, _ = run(tool, "lookup", path, "sha1:" + bob.sha1)
    assert rc == 0 and out.startswith("mapped to bob by %s:3" % path), out


# -- import-iis -----------------------------------------------------------

def _iis_one_to_one(pki, tmp_path):
    with open(os.path.join(TOOL_DATA, "iis-one-to-one.config.in")) as f:
        text = f.read()
    for name in ("certuser", "bob", "denied", "other"):
        text = text.replace("@%s_B64@" % name.upper(), b64(pki.clients[name]))
    return write_bytes(tmp_path / "applicationHost.config", text)


def test_import_iis_one_to_one(tool, pki, tmp_path):
    cu, bob, den, other = (pki.clients[n] for n in
                           ("certuser", "bob", "denied", "other"))
    path = _iis_one_to_one(pki, tmp_path)
    rc, out, err = run(tool, "import-iis", path)
    assert rc == 0, err
    lines = out.splitlines()
    assert 'CertMapUser sha256:%s "W2K3TEST\\certuser"' % cu.sha256 \
        in [l.strip() for l in lines]
    assert 'CertMapUser sha256:%s "bob"' % bob.sha256 \
        in [l.strip() for l in lines]
    assert 'CertMapUser sha256:%s "INTRANET\\other"' % other.sha256 \
        in [l.strip() for l in lines]
    # disabled: commented out, with a note
    assert '# CertMapUser sha256:%s "W2K3TEST\\denied"' % den.sha256 \
        in [l.strip() for l in lines]
    assert any("enabled=\"false\"" in l for l in lines)
    # untranslatable: a comment saying why
    assert any(l.strip().startswith("#") and "W2K3TEST\\broken" in l
               and "not base64" in l for l in lines), out
    assert any(l.strip().startswith("#") and "userName" in l
               for l in lines), out
    # never a password; a word on CertMapPassword
    assert "c2VjcmV0" not in out and "enc:" not in out
    assert "CertMapPassword" in out
    # both locations, each in its own <Location>, global section first
    assert '<Location "/secure">' in lines and '<Location "/">' in lines
    assert "CertMapDomain \"W2K3TEST\"" in [l.strip() for l in lines]
    assert lines.index("CertMap Off") < lines.index('<Location "/secure">')
    # IIS's <clear/> in "Intranet" cannot be done by httpd: said twice
    assert any("<clear/>" in l for l in lines if l.strip().startswith("#"))
    assert "warning" in err and "Intranet" in err, err
    # every line is a comment, blank, or a directive httpd knows
    for l in lines:
        s = l.strip()
        assert s == "" or s.startswith("#") or re.match(
            r"(CertMap(User|Domain)? |</?Location)", s), l
        assert not s.endswith("\\"), l


def test_import_iis_one_to_one_maps_in_httpd(tool, pki, httpd, tmp_path):
    path = _iis_one_to_one(pki, tmp_path)
    rc, out, err = run(tool, "import-iis", "--site", "default web site", path)
    assert rc == 0, err
    assert err == ""
    assert '<Location "/secure">' in out
    assert '<Location "/">' not in out and "INTRANET" not in out
    srv = httpd(out, dirs=["secure"])
    assert_mapped(get(srv, pki, "/secure/env.cgi",
                      client=pki.clients["certuser"]), USER)
    # bare userName + defaultLogonDomain -> CertMapDomain
    assert_mapped(get(srv, pki, "/secure/env.cgi", client=pki.clients["bob"]),
                  "W2K3TEST\\bob")
    for name in ("denied", "other"):          # disabled; other site only
        assert_refused(srv, get(srv, pki, "/secure/env.cgi",
                                client=pki.clients[name]), "cert-unmapped")
    # outside the location the global enabled="false" holds
    resp = get(srv, pki, "/env.cgi", client=pki.clients["certuser"])
    assert resp.status == 200 and resp.env["REMOTE_USER"] == ""


# Expected translations, written by hand from the IIS semantics.
MANY_TO_ONE_EXPECTED = [
    'CertMapRule "%{SSL_CLIENT_S_DN_OU} =~ /^Contractors\\x2f.*$/" deny',
    'CertMapRule "%{SSL_CLIENT_S_DN_ST} == \'Washington\' && '
    '%{SSL_CLIENT_S_DN_O} == \'Contoso Ltd.\' && '
    '%{SSL_CLIENT_I_DN_CN} =~ /^certmap test.*$/i" "CONTOSO\\wa-staff"',
    'CertMapRule "%{SSL_CLIENT_S_DN_Email} =~ /^.*@contoso\\.com$/i" '
    '"CONTOSO\\mail"',
]

ODD_CN = "a/b \"q\" 'x' $1 %{x} 50% (y) [z] a.b\\c"


def _import_many(tool):
    rc, out, err = run(tool, "import-iis",
                       os.path.join(TOOL_DATA, "iis-many-to-one.config"))
    assert rc == 0 and err == "", err
    return out


def test_import_iis_many_to_one_text(tool):
    out = _import_many(tool)
    lines = out.splitlines()
    directives = [l for l in lines if l.startswith("CertMapRule")]
    assert directives[:3] == MANY_TO_ONE_EXPECTED, directives
    # the odd-character mappings are directives too (checked live below)
    assert len(directives) == 5, directives
    assert directives[3].endswith(' "CONTOSO\\odd"')
    assert directives[4].endswith(' "CONTOSO\\oddwild"')
    # IIS S is the state: never mod_ssl's _S (surname)
    assert "_DN_S}" not in out
    # disabled: commented out
    assert '# CertMapRule "%{SSL_CLIENT_S_DN_O} =~ /^Partner.*$/" ' \
        '"CONTOSO\\partners"' in lines
    # untranslatable mappings: comments saying what and why, no directive
    for name, why in (("Domain components", '"DC"'),
                      ("Everyone", "no rules"),
                      ("By serial number", '"SerialNumber"'),
                      ("Two backslashes", "more than one"),
                      ("Template account", "%{")):
        i = next(i for i, l in enumerate(lines) if '"%s"' % name in l)
        block = []
        for l in lines[i + 1:]:
            if not l.strip():
                break
            block.append(l)
        assert block and all(l.startswith("#") for l in block), block
        assert any("not translated" in l and why in l for l in block), block
    assert "V2FzaGluZ3Rvbi1wYXNzd29yZA" not in out
    assert "CertMapPassword" in out
    for l in lines:
        assert not l.rstrip().endswith("\\"), l


def test_import_iis_rule_expressions_in_httpd(tool, pki, httpd):
    """Each CertMapRule expression, evaluated by httpd's own ap_expr over
    mod_ssl's variables for real client certificates (<If>)."""
    exprs = [re.match(r'CertMapRule ("(?:[^"\\]|\\.)*") ', l).group(1)
             for l in _import_many(tool).splitlines()
             if l.startswith("CertMapRule")]
    assert len(exprs) == 5
    snippet = "\n".join('<If %s>\n    Header always set X-Rule-%d yes\n</If>'
                        % (e, i) for i, e in enumerate(exprs))

    def name(*attrs):
        return x509.Name([x509.NameAttribute(oid, v) for oid, v in attrs])

    certs = {
        "contractor": name((NameOID.ORGANIZATIONAL_UNIT_NAME,
                            "Contractors/EU"), (NameOID.COMMON_NAME, "c1")),
        "contractor-case": name((NameOID.ORGANIZATIONAL_UNIT_NAME,
                                 "contractors/EU"),
                                (NameOID.COMMON_NAME, "c2")),
        "wa": name((NameOID.COUNTRY_NAME, "US"),
                   (NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
                   (NameOID.ORGANIZATION_NAME, "Contoso Ltd."),
                   (NameOID.COMMON_NAME, "alice")),
        "wa-lower": name((NameOID.STATE_OR_PROVINCE_NAME, "washington"),
                         (NameOID.ORGANIZATION_NAME, "Contoso Ltd."),
                         (NameOID.COMMON_NAME, "alice2")),
        "wa-dot": name((NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
                       (NameOID.ORGANIZATION_NAME, "Contoso LtdX"),
                       (NameOID.COMMON_NAME, "alice3")),
        "surname": name((NameOID.SURNAME, "Washington"),
                        (NameOID.ORGANIZATION_NAME, "Contoso Ltd."),
                        (NameOID.COMMON_NAME, "alice4")),
        "mail": name((NameOID.COMMON_NAME, "bob"),
                     (NameOID.EMAIL_ADDRESS, "Bob@CONTOSO.com")),
        "mail-near": name((NameOID.COMMON_NAME, "bob2"),
                          (NameOID.EMAIL_ADDRESS, "bob@contosoXcom")),
        "odd": name((NameOID.COMMON_NAME, ODD_CN),),
        "odd-near": name((NameOID.COMMON_NAME, ODD_CN.replace("a.b", "aXb")),),
        "odd-case": name((NameOID.COMMON_NAME,
                          "A/B \"Q\" 'X' $1 %{X} and more\\C"),),
        "odd-nobs": name((NameOID.COMMON_NAME,
                          "a/b \"q\" 'x' $1 %{x} and more c"),),
        "odd-regex": name((NameOID.COMMON_NAME, "a/b \"q\" 'x' $1 %{x}"
                           .replace("{", "")),),
    }
    # rule index -> which certificates it must match
    expected = {
        0: {"contractor"},
        1: {"wa"},
        2: {"mail"},
        3: {"odd"},
        4: {"odd", "odd-near", "odd-case"},
    }
    clients = {k: pki.issue("tool-rule-" + k, subject=v)
               for k, v in certs.items()}
    srv = httpd(snippet)
    for k, c in clients.items():
        resp = get(srv, pki, "/index.html", client=c)
        assert resp.status == 200, resp
        got = {i for i in range(5) if resp.header("X-Rule-%d" % i) == "yes"}
        want = {i for i, names in expected.items() if k in names}
        assert got == want, (k, c.subject, got, want)


def test_import_iis_rules_map_in_httpd(tool, pki, httpd):
    """The many-to-one output, loaded as it is: CertMapRule maps and
    refuses as IIS did (first matching mapping decides)."""
    out = _import_many(tool)
    srv = httpd("<Location /r>\n%s\n</Location>" % out, dirs=["r"])

    def issue(key, *attrs):
        return pki.issue("tool-map-" + key, subject=x509.Name(
            [x509.NameAttribute(oid, v) for oid, v in attrs]))

    wa = issue("wa", (NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
               (NameOID.ORGANIZATION_NAME, "Contoso Ltd."),
               (NameOID.COMMON_NAME, "alice"))
    contractor = issue("contractor", (NameOID.STATE_OR_PROVINCE_NAME,
                                      "Washington"),
                       (NameOID.ORGANIZATION_NAME, "Contoso Ltd."),
                       (NameOID.ORGANIZATIONAL_UNIT_NAME, "Contractors/EU"),
                       (NameOID.COMMON_NAME, "carl"))
    odd = issue("odd", (NameOID.COMMON_NAME, ODD_CN))
    assert_mapped(get(srv, pki, "/r/env.cgi", client=wa), "CONTOSO\\wa-staff")
    assert_mapped(get(srv, pki, "/r/env.cgi", client=odd), "CONTOSO\\odd")
    assert_refused(srv, get(srv, pki, "/r/env.cgi", client=contractor),
                   "cert-denied")
    assert_refused(srv, get(srv, pki, "/r/env.cgi",
                            client=pki.clients["other"]), "cert-unmapped")


def test_import_iis_site_filter(tool, pki, tmp_path):
    path = _iis_one_to_one(pki, tmp_path)
    rc, out, err = run(tool, "import-iis", "--site=Intranet", path)
    assert rc == 0
    assert '<Location "/">' in out and "/secure" not in out
    assert "INTRANET\\other" in out and "W2K3TEST\\certuser" not in out
    assert "<clear/>" in out and "warning" in err
    # a site with no <location>: the global section, and a warning
    rc, out, err = run(tool, "import-iis", "--site", "Nowhere", path)
    assert rc == 0 and "CertMap Off" in out and "<Location" not in out
    assert re.search(r"certmap: warning: .*\"Nowhere\"", err), err
    # a file with no global section and no location of that site: error
    rc, out, err = run(tool, "import-iis", "--site", "Nowhere",
                       _no_global(tmp_path))
    assert rc == 1 and out == ""
    assert "Nowhere" in err and '"Default Web Site"' in err, err


def _no_global(tmp_path):
    return write_bytes(tmp_path / "noglobal.config", """<configuration>
  <location path="Default Web Site/app"><system.webServer><security>
    <authentication><iisClientCertificateMappingAuthentication enabled="true"/>
    </authentication></security></system.webServer></location>
</configuration>
""")


def test_import_iis_malformed_xml(tool, tmp_path):
    path = os.path.join(TOOL_DATA, "iis-malformed.config")
    with open(path) as f:
        bad_line = next(i for i, l in enumerate(f, 1)
                        if "</manyToOneMappings>" in l)
    rc, out, err = run(tool, "import-iis", path)
    assert rc == 1 and out == ""
    assert err.startswith("certmap: %s is not well-formed XML" % path), err
    assert "line %d" % bad_line in err, err
    assert "mismatched tag" in err, err
    for name, text, pattern in (
            ("truncated.config", "<configuration>\n  <system.webServer>\n",
             r"end of the file"),
            ("unquoted.config", "<configuration>\n\n  <a b=1/>\n"
             "</configuration>\n", r"line 3"),
            ("empty.config", "", r"empty"),
            ("html.config", "<html><body/></html>", r"not an IIS"),
            ("nosection.config", "<configuration><system.webServer/>"
             "</configuration>", r"no iisClientCertificateMapping")):
        p = write_bytes(tmp_path / name, text)
        rc, out, err = run(tool, "import-iis", p)
        assert rc == 1 and out == "", (name, out)
        assert err.startswith("certmap: ") and re.search(pattern, err), \
            (name, err)
    rc, out, err = run(tool, "import-iis", tmp_path / "missing.config")
    assert rc == 1 and "cannot read" in err and out == ""


# -- install and man page ---------------------------------------------------

def test_make_install_puts_tool_and_man_page(tool, tmp_path):
    builddir = os.path.dirname(os.path.dirname(tool))
    if not os.path.isfile(os.path.join(builddir, "Makefile")):
        pytest.skip("the tool under test is not in a build directory")
    p = subprocess.run(["make", "-s", "-C", builddir, "install-binPROGRAMS",
                        "install-man", "DESTDIR=%s" % tmp_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode()
    bins = glob.glob(str(tmp_path / "**" / "bin" / "certmap"), recursive=True)
    mans = glob.glob(str(tmp_path / "**" / "man1" / "certmap.1"),
                     recursive=True)
    assert len(bins) == 1 and os.access(bins[0], os.X_OK), bins
    assert len(mans) == 1 and read_bytes(mans[0]) == read_bytes(MANPAGE)
    rc, out, _ = run(bins[0], "--version")
    assert rc == 0 and out.startswith("certmap")


def test_man_page_renders_without_warnings():
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    p = subprocess.run(["man", "--warnings", "-l", MANPAGE], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0
    assert p.stderr.decode() == "", p.stderr.decode()
    text = re.sub(r".\x08", "", p.stdout.decode())
    for c in COMMANDS:
        assert "certmap " + c in text, c
    for section in ("EXIT STATUS", "EXAMPLES", "FILES", "IIS IMPORT"):
        assert section in text
