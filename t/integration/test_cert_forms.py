"""Every way of naming a certificate: PEM file, DER file, absolute path,
sha256 (lower/upper case, colons), sha1 (spaces when quoted, colons), the
map file; accounts qualified, bare, with CertMapDomain, case kept."""

import re
import time

import pytest

from client import get
from checks import assert_mapped, assert_refused
from pki import colon_hex

USER = "W2K3TEST\\certuser"


def _snippet(pki):
    cu = pki.clients["certuser"]
    return "\n".join([
        r'<Location /pem>',
        r'    CertMap On',
        r'    CertMapUser certs/certuser.pem "W2K3TEST\certuser"',
        r'</Location>',
        r'<Location /der>',
        r'    CertMap On',
        r'    CertMapUser certs/certuser.cer "W2K3TEST\certuser"',
        r'</Location>',
        r'<Location /abspath>',
        r'    CertMap On',
        r'    CertMapUser %s "W2K3TEST\certuser"' % cu.cert_der,
        r'</Location>',
        r'<Location /sha256>',
        r'    CertMap On',
        r'    CertMapUser sha256:%s "W2K3TEST\certuser"' % cu.sha256,
        r'</Location>',
        r'<Location /sha256-upper-colons>',
        r'    CertMap On',
        r'    CertMapUser sha256:%s "W2K3TEST\certuser"' % colon_hex(cu.sha256),
        r'</Location>',
        r'<Location /sha1-spaces>',
        r'    CertMap On',
        r'    CertMapUser "sha1:%s" "W2K3TEST\certuser"'
        % colon_hex(cu.sha1, " ").lower(),
        r'</Location>',
        r'<Location /sha1-colons>',
        r'    CertMap On',
        r'    CertMapUser sha1:%s "W2K3TEST\certuser"' % colon_hex(cu.sha1),
        r'</Location>',
        # pasted from Windows' certificate dialog: an invisible U+200E
        # LEFT-TO-RIGHT MARK comes along before the thumbprint
        '<Location /sha1-windows>',
        '    CertMap On',
        '    CertMapUser "sha1:\u200e%s" "W2K3TEST\\certuser"'
        % colon_hex(cu.sha1, " ").lower(),
        '</Location>',
        r'<Location /unquoted>',
        r'    CertMap On',
        r'    CertMapUser certs/certuser.cer W2K3TEST\certuser',
        r'</Location>',
        r'<Location /case>',
        r'    CertMap On',
        r'    CertMapUser certs/certuser.cer "w2k3Test\CertUser"',
        r'</Location>',
        r'<Location /domain>',
        r'    CertMap On',
        r'    CertMapDomain W2K3TEST',
        r'    CertMapUser certs/bob.cer bob',
        r'    CertMapUser certs/certuser.cer "ELSEWHERE\certuser"',
        r'</Location>',
        r'<Location /bare>',
        r'    CertMap On',
        r'    CertMapUser certs/bob.cer bob',
        r'</Location>',
        r'<Location /domain-late>',
        r'    CertMap On',
        r'    CertMapUser certs/bob.cer bob',
        r'    CertMapDomain LATE',
        r'</Location>',
        r'<Location /space>',
        r'    CertMap On',
        r'    CertMapUser certs/certuser.cer "W2K3TEST\John Smith"',
        r'</Location>',
        r'<Location /crlf>',
        r'    CertMap On',
        r'    CertMapFile maps/crlf.map',
        r'</Location>',
        r'<Location /mapfile>',
        r'    CertMap On',
        r'    CertMapFile maps/users.map',
        r'</Location>',
    ])


def _mapfile(pki):
    bob = pki.clients["bob"]
    other = pki.clients["other"]
    return "\n".join([
        "# users for the certmap tests",                      # 1
        "",                                                   # 2
        'certuser.cer "W2K3TEST\\certuser"',                  # 3
        "   ",                                                # 4
        "sha256:%s W2K3TEST\\bob" % bob.sha256.upper(),       # 5
        '"sha1:%s" "W2K3TEST\\other"' % colon_hex(other.sha1, " "),  # 6
        "# the next two: mapped and denied, deny wins",       # 7
        "denied.pem W2K3TEST\\denied",                        # 8
        "deny denied.pem",                                    # 9
    ]) + "\n"


@pytest.fixture(scope="module")
def srv(module_httpd, pki):
    def read(p):
        with open(p, "rb") as f:
            return f.read()
    # certuser.cer/denied.pem sit beside the map file only: a relative path
    # in the map file must be taken relative to the map file's directory.
    files = {
        "maps/users.map": _mapfile(pki),
        "maps/certuser.cer": read(pki.clients["certuser"].cert_der),
        "maps/denied.pem": read(pki.clients["denied"].cert_pem),
        # saved by Notepad: a UTF-8 byte order mark and CRLF line ends
        "maps/crlf.map": "\ufeff# CRLF line ends\r\n"
                         '../certs/certuser.cer "W2K3TEST\\certuser"\r\n'
                         "../certs/bob.cer W2K3TEST\\bob\r\n",
    }
    return module_httpd(_snippet(pki), dirs=[
        "pem", "der", "abspath", "sha256", "sha256-upper-colons",
        "sha1-spaces", "sha1-colons", "sha1-windows", "unquoted", "case", "domain", "bare",
        "domain-late", "space", "crlf", "mapfile"], files=files)


FORMS = ["pem", "der", "abspath", "sha256", "sha256-upper-colons",
         "sha1-spaces", "sha1-colons", "sha1-windows", "unquoted"]


@pytest.mark.parametrize("form", FORMS)
def test_cert_form_maps_certuser(srv, pki, form):
    r = get(srv, pki, "/%s/env.cgi" % form, pki.clients["certuser"])
    # the CertMapUser line is two lines below the <Location> line
    line = srv.line_of("<Location /%s>" % form) + 2
    assert "CertMapUser" in srv.conf_lines[line - 1]
    assert_mapped(r, USER, match="%s:%d" % (srv.conf, line))


@pytest.mark.parametrize("form", FORMS)
def test_cert_form_does_not_map_other(srv, pki, form):
    r = get(srv, pki, "/%s/env.cgi" % form, pki.clients["other"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=other,O=W2K3TEST")


def test_account_case_is_kept(srv, pki):
    r = get(srv, pki, "/case/env.cgi", pki.clients["certuser"])
    assert_mapped(r, "w2k3Test\\CertUser")


def test_certmapdomain_qualifies_bare_account(srv, pki):
    r = get(srv, pki, "/domain/env.cgi", pki.clients["bob"])
    assert_mapped(r, "W2K3TEST\\bob", domain="W2K3TEST",
                  match=srv.match("CertMapUser certs/bob.cer bob"))


def test_certmapdomain_leaves_qualified_account(srv, pki):
    r = get(srv, pki, "/domain/env.cgi", pki.clients["certuser"])
    assert_mapped(r, "ELSEWHERE\\certuser", domain="ELSEWHERE")


def test_bare_account_without_domain(srv, pki):
    r = get(srv, pki, "/bare/env.cgi", pki.clients["bob"])
    assert_mapped(r, "bob", domain="")
    assert r.header("X-Remote-User") == "bob"


def test_certmapdomain_applies_to_whole_scope(srv, pki):
    """CertMapDomain after the entry still qualifies it (same scope)."""
    assert_mapped(get(srv, pki, "/domain-late/env.cgi", pki.clients["bob"]),
                  "LATE\\bob", domain="LATE")


def test_account_with_space(srv, pki):
    r = get(srv, pki, "/space/env.cgi", pki.clients["certuser"])
    assert_mapped(r, "W2K3TEST\\John Smith")
    line = srv.wait_access_line(r.path)
    assert line.startswith("127.0.0.1 - W2K3TEST\\\\John Smith ["), line


@pytest.mark.parametrize("name,account,line", [("certuser", USER, 2),
                                               ("bob", "W2K3TEST\\bob", 3)])
def test_mapfile_with_crlf_line_ends(srv, pki, name, account, line):
    r = get(srv, pki, "/crlf/env.cgi", pki.clients[name])
    assert_mapped(r, account)   # exact: no CR kept in the account
    assert re.search(r"(^|/)maps/crlf\.map:%d$" % line,
                     r.env["CERTMAP_MATCH"]), r.env


@pytest.mark.parametrize("name,account,line", [
    ("certuser", "W2K3TEST\\certuser", 3),   # relative path, quoted account
    ("bob", "W2K3TEST\\bob", 5),             # SHA-256 upper case, unquoted
    ("other", "W2K3TEST\\other", 6),         # quoted SHA-1 with spaces
])
def test_mapfile_entries(srv, pki, name, account, line):
    r = get(srv, pki, "/mapfile/env.cgi", pki.clients[name])
    assert_mapped(r, account)
    assert re.search(r"(^|/)maps/users\.map:%d$" % line,
                     r.env["CERTMAP_MATCH"]), r.env


def test_mapfile_match_is_the_map_file_path(srv, pki):
    r = get(srv, pki, "/mapfile/env.cgi", pki.clients["certuser"])
    assert r.env["CERTMAP_MATCH"] in (
        srv.path("maps/users.map") + ":3", "maps/users.map:3"), r.env


def test_mapfile_deny_wins_over_mapping(srv, pki):
    r = get(srv, pki, "/mapfile/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_mapfile_no_cert_refused(srv, pki):
    r = get(srv, pki, "/mapfile/env.cgi")
    assert_refused(srv, r, "cert-required")


def test_mapfile_reread_on_graceful_restart(httpd, pki):
    srv = httpd("<Location /m>\n    CertMap On\n"
                "    CertMapFile maps/live.map\n</Location>", dirs=["m"],
                files={"maps/live.map":
                       '../certs/certuser.cer "W2K3TEST\\before"\n'})
    assert_mapped(get(srv, pki, "/m/env.cgi", pki.clients["certuser"]),
                  "W2K3TEST\\before")
    srv.write_file("maps/live.map",
                   "# changed\n"
                   '../certs/certuser.cer "W2K3TEST\\after"\n'
                   '../certs/bob.cer "W2K3TEST\\bob"\n')
    srv.graceful()
    # old children may still answer for a moment: poll for the new table
    deadline = time.time() + 10
    while True:
        r = get(srv, pki, "/m/env.cgi", pki.clients["certuser"])
        if r.env.get("REMOTE_USER") == "W2K3TEST\\after" or \
                time.time() > deadline:
            break
        time.sleep(0.1)
    assert_mapped(r, "W2K3TEST\\after")
    assert re.search(r"(^|/)maps/live\.map:2$", r.env["CERTMAP_MATCH"]), r.env
    assert_mapped(get(srv, pki, "/m/env.cgi", pki.clients["bob"]),
                  "W2K3TEST\\bob")
