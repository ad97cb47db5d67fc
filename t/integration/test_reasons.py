"""Every refusal reason that can reach HTTP, and the two that cannot
(expired and revoked certificates end the TLS handshake under
SSLVerifyClient optional / optional_no_ca: mod_ssl sends an alert, no HTTP
request exists, so there is no status to assert - the test asserts the
handshake failure and that neither the access log nor mod_certmap saw a
request)."""

import datetime
import ssl
import time

import pytest

from client import Conn, get, s_client, unique
from checks import assert_anonymous, assert_mapped, assert_refused

USER = "W2K3TEST\\certuser"

ON = r'''
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/denied.cer "W2K3TEST\denied"
    CertMapDeny certs/denied.cer
</Location>
<Location /optional>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
</Location>
'''


@pytest.fixture(scope="module")
def srv(module_httpd):
    """SSLVerifyClient optional with CRL checking, plus a plain-HTTP vhost
    with CertMap On."""
    plain = ('CertMap On\n'
             r'CertMapUser certs/certuser.cer "W2K3TEST\certuser"' '\n'
             '<Location /opt>\n'
             '    CertMap Optional\n'
             '</Location>')
    return module_httpd(ON, crl=True, plain_snippet=plain,
                        dirs=["on", "optional", "opt"])


def test_cert_required(srv, pki):
    r = get(srv, pki, "/on/env.cgi")
    assert_refused(srv, r, "cert-required")
    assert r.header("X-Certmap-Reason") == "cert-required"


def test_cert_unmapped(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["other"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=other,O=W2K3TEST")
    assert r.header("X-Certmap-Reason") == "cert-unmapped"


def test_cert_denied(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_tls_required_on_plain_http(srv, pki):
    r = get(srv, pki, "/on/env.cgi", plain=True)
    assert_refused(srv, r, "tls-required")


def test_tls_required_static_file(srv, pki):
    r = get(srv, pki, "/index.html", plain=True)
    assert_refused(srv, r, "tls-required")
    assert "hello" not in r.text


def test_plain_http_optional_is_anonymous(srv, pki):
    r = get(srv, pki, "/opt/env.cgi", plain=True)
    assert_anonymous(r)
    line = srv.wait_access_line(r.path)
    assert line.startswith("127.0.0.1 - - ["), line


def test_mapped_with_crl_checking(srv, pki):
    r = get(srv, pki, "/on/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER)


def _handshake_refused(srv, pki, name, alert, tls=None):
    """Connect with `name`'s certificate and send a request: the TLS layer
    must fail with `alert` (TLS 1.3 delivers the server's alert on the first
    read, TLS 1.2 during the handshake), and no request may reach httpd."""
    path = unique("/on/env.cgi")
    with pytest.raises((ssl.SSLError, ConnectionResetError,
                        BrokenPipeError)) as ei:
        c = Conn(srv, pki, pki.clients[name], tls=tls)
        try:
            c.get(path, mark=False)
        finally:
            c.close()
    if isinstance(ei.value, ssl.SSLError):
        assert alert in str(ei.value), repr(ei.value)
    time.sleep(0.3)
    seen = [ln for ln in srv.access_log_lines() if path in ln]
    assert seen == [], seen
    return ei.value


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_expired_ends_handshake(srv, pki, tls):
    _handshake_refused(srv, pki, "expired", "CERTIFICATE_EXPIRED", tls)
    assert srv.error_lines("CERTMAP", "CN=expired") == []
    assert srv.error_lines("certificate has expired")


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_revoked_ends_handshake(srv, pki, tls):
    _handshake_refused(srv, pki, "revoked", "CERTIFICATE_REVOKED", tls)
    assert srv.error_lines("CERTMAP", "CN=revoked") == []
    assert srv.error_lines("certificate revoked")


def test_revoked_s_client(srv, pki):
    rc, out = s_client(srv, pki, pki.clients["revoked"],
                       request=b"GET /on/env.cgi HTTP/1.1\r\n"
                               b"Host: localhost\r\n\r\n")
    assert "certificate revoked" in out, out
    assert "HTTP/1.1" not in out, out


def test_certuser_s_client(srv, pki):
    rc, out = s_client(srv, pki, pki.clients["certuser"],
                       request=b"GET /on/env.cgi HTTP/1.1\r\n"
                               b"Host: localhost\r\nConnection: close\r\n\r\n")
    assert "HTTP/1.1 200 OK" in out, out
    assert "REMOTE_USER=W2K3TEST\\certuser\n" in out, out


# -- cert-expired: the certificate expires during a keep-alive connection ----

def test_cert_expired_during_keepalive(httpd, pki):
    seconds = 4
    client, not_after = pki.make_shortlived(seconds)
    srv = httpd(r'''
<Location /on>
    CertMap On
    CertMapUser sha256:%s "W2K3TEST\shortlived"
</Location>
''' % client.sha256, dirs=["on"])
    with Conn(srv, pki, client) as c:
        r1 = c.get("/on/env.cgi")
        assert_mapped(r1, "W2K3TEST\\shortlived")
        left = (not_after - datetime.datetime.now(datetime.timezone.utc)) \
            .total_seconds()
        assert left > 0.5, "the first request came too late to test anything"
        time.sleep(left + 1.5)
        r2 = c.get("/on/env.cgi")
        assert r2.client_port == r1.client_port
        assert_refused(srv, r2, "cert-expired", subject="CN=shortlived")


# -- cert-untrusted: SSLVerifyClient optional_no_ca --------------------------

@pytest.fixture(scope="module")
def nocasrv(module_httpd, pki):
    untrusted = pki.clients["untrusted"]
    snippet = ON + r'''
<Location /on-own-fp>
    CertMap On
    CertMapUser sha256:%s "W2K3TEST\certuser"
</Location>
<Location /optional-own-fp>
    CertMap Optional
    CertMapUser sha256:%s "W2K3TEST\certuser"
</Location>
''' % (untrusted.sha256, untrusted.sha256)
    return module_httpd(snippet, verify="optional_no_ca",
                        dirs=["on", "optional", "on-own-fp",
                              "optional-own-fp"])


def test_untrusted_same_subject_refused(nocasrv, pki):
    r = get(nocasrv, pki, "/on/env.cgi", pki.clients["untrusted"])
    assert_refused(nocasrv, r, "cert-untrusted",
                   subject="CN=certuser,O=W2K3TEST")


def test_untrusted_refused_even_when_its_fingerprint_is_mapped(nocasrv, pki):
    r = get(nocasrv, pki, "/on-own-fp/env.cgi", pki.clients["untrusted"])
    assert_refused(nocasrv, r, "cert-untrusted",
                   subject="CN=certuser,O=W2K3TEST")


@pytest.mark.parametrize("where", ["optional", "optional-own-fp"])
def test_untrusted_never_mapped_under_optional(nocasrv, pki, where):
    r = get(nocasrv, pki, "/%s/env.cgi" % where, pki.clients["untrusted"])
    assert_anonymous(r)
    assert r.env["SSL_CLIENT_VERIFY"].startswith("FAILED:"), r.env


def test_trusted_certuser_maps_under_optional_no_ca(nocasrv, pki):
    r = get(nocasrv, pki, "/on/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER)
    r = get(nocasrv, pki, "/optional/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER)
