"""CertMap On / Optional / Off (and the default), CertMapDeny, and a
per-<Location> CertMap On under a server-wide SSLVerifyClient optional."""

import re

import pytest

from client import Conn, curl, get
from checks import assert_anonymous, assert_mapped, assert_refused

USER = "W2K3TEST\\certuser"

ENTRIES = r'''
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/denied.cer "W2K3TEST\denied"
    CertMapDeny certs/denied.cer
'''

SNIPPET = r'''
<Location /on>
    CertMap On
%(e)s
</Location>
<Location /optional>
    CertMap Optional
%(e)s
</Location>
<Location /off>
    CertMap Off
%(e)s
</Location>
<Location /default>
%(e)s
</Location>
''' % {"e": ENTRIES}


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, dirs=["on", "optional", "off", "default",
                                       "open"])


# -- CertMap On ---------------------------------------------------------------

def test_on_mapped(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.match(
        r'CertMapUser certs/certuser.cer "W2K3TEST\certuser"', 1))


def test_on_static_file_mapped(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["certuser"])
    assert r.status == 200
    assert r.text.startswith("hello")
    assert r.header("X-Remote-User") == USER
    assert r.header("X-Auth-Type") == "Certificate"


def test_on_unmapped(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["other"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=other,O=W2K3TEST")


def test_on_no_certificate(srv, pki):
    r = get(srv, pki, "/on/env.cgi")
    lines = assert_refused(srv, r, "cert-required")
    assert "CN=" not in lines[0]


def test_on_static_file_no_certificate(srv, pki):
    r = get(srv, pki, "/on/index.html")
    assert_refused(srv, r, "cert-required")
    assert "hello" not in r.text


def test_on_denied_even_though_mapped(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_on_curl_cert_and_key(srv, pki):
    rc, out, err = curl(srv, pki, "/on/env.cgi", pki.clients["certuser"])
    assert rc == 0, err
    assert "STATUS=200" in out
    assert "REMOTE_USER=W2K3TEST\\certuser\n" in out
    assert "AUTH_TYPE=Certificate\n" in out


def test_on_curl_unmapped(srv, pki):
    rc, out, err = curl(srv, pki, "/on/env.cgi", pki.clients["other"],
                        combined=True)
    assert rc == 0, err
    assert "STATUS=403" in out
    assert "cert-unmapped" in out and "403.12" in out


def test_on_curl_no_cert(srv, pki):
    rc, out, err = curl(srv, pki, "/on/env.cgi")
    assert rc == 0, err
    assert "STATUS=403" in out
    assert "cert-required" in out and "403.7" in out


# -- CertMap Optional ------------------------------------------------------------

def test_optional_mapped(srv, pki):
    r = get(srv, pki, "/optional/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.match(
        r'CertMapUser certs/certuser.cer "W2K3TEST\certuser"', 2))


def test_optional_unmapped_is_anonymous(srv, pki):
    r = get(srv, pki, "/optional/env.cgi", pki.clients["other"])
    assert_anonymous(r)
    assert r.env["SSL_CLIENT_VERIFY"] == "SUCCESS"


def test_optional_no_cert_is_anonymous(srv, pki):
    r = get(srv, pki, "/optional/env.cgi")
    assert_anonymous(r)
    assert r.env["SSL_CLIENT_VERIFY"] == "NONE"


def test_optional_denied_is_refused(srv, pki):
    r = get(srv, pki, "/optional/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


# -- CertMap Off and the default ----------------------------------------------------

@pytest.mark.parametrize("where", ["off", "default"])
@pytest.mark.parametrize("who", ["certuser", "other", "denied", None])
def test_off_and_default_never_map_or_refuse(srv, pki, where, who):
    client = pki.clients[who] if who else None
    r = get(srv, pki, "/%s/env.cgi" % where, client)
    assert_anonymous(r)
    assert r.env["CERTMAP_REASON"] == ""
    line = srv.wait_access_line(r.path)
    assert re.search(r'" 200 \d+ "-"$', line), line


# -- per-location CertMap On under server-wide SSLVerifyClient optional ---------

@pytest.mark.parametrize("who", ["certuser", None])
def test_unscoped_location_is_anonymous(srv, pki, who):
    client = pki.clients[who] if who else None
    r = get(srv, pki, "/open/env.cgi", client)
    assert_anonymous(r)
    r = get(srv, pki, "/open/index.html", client)
    assert r.status == 200 and r.text.startswith("hello")


def test_one_connection_across_locations(srv, pki):
    """One keep-alive connection, certificate certuser: only /on maps."""
    with Conn(srv, pki, pki.clients["certuser"]) as c:
        assert_mapped(c.get("/on/env.cgi"), USER)
        assert_anonymous(c.get("/open/env.cgi"))
        assert_mapped(c.get("/optional/env.cgi"), USER)
        assert_anonymous(c.get("/off/env.cgi"))
        assert_mapped(c.get("/on/env.cgi"), USER)
    with Conn(srv, pki, None) as c:
        assert_anonymous(c.get("/open/env.cgi"))
        r = c.get("/on/env.cgi")
        assert r.status == 403 and "cert-required" in r.text
        assert_anonymous(c.get("/open/env.cgi"))
