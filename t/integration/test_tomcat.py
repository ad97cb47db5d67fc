"""Forwarding to a real Tomcat 10 through httpd: mod_proxy_http with
Tomcat's SSLValve (CertMapForward tomcat / pem, CertMapForwardUser) and
mod_proxy_ajp (the certificate, r->user and the auth type travel natively).

One Tomcat (t/lib/tomcat.py: a private CATALINA_BASE on 127.0.0.1 with an
HTTP connector, an HTTP connector marked secure="true", an AJP connector
with a secret, and the SSLValve in the Engine) and one httpd (two TLS
virtual hosts: SSLVerifyClient optional and optional_no_ca) serve the whole
module; t/tomcat/webapp/certinfo.jsp reports what Tomcat holds.
Expected certificates and fingerprints come from the test PKI
(python3-cryptography), never from the module."""

import base64
import hashlib
import re
import time
import types
import urllib.parse

import pytest

import tomcat as tomcat_mod
from client import Conn, get
from server import free_port

_REASON = tomcat_mod.unavailable_reason()
if _REASON:
    pytest.skip(_REASON, allow_module_level=True)

USER = "W2K3TEST\\certuser"
OTHER = "W2K3TEST\\other"
JSP = "certinfo.jsp"

MAPPINGS = r'''
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/other.cer "W2K3TEST\other"
'''


# -- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tomcat():
    tc = tomcat_mod.TomcatServer()
    tc.start()
    yield tc
    tc.stop()


def _front_snippet(tc):
    """Every Location of the main httpd (SSLVerifyClient optional)."""
    return "\n".join([
        # HTTP + SSLValve, Tomcat's own header (URL-escaped PEM), and the
        # account in X-Remote-User.
        tc.proxy_pass("/h-tomcat", "http"),
        "<Location /h-tomcat/>",
        "    CertMap Optional", MAPPINGS,
        "    CertMapForward tomcat",
        "    CertMapForwardUser",
        "</Location>",
        # HTTP + SSLValve, PEM on one line in ssl_client_cert.
        tc.proxy_pass("/h-pem", "http"),
        "<Location /h-pem/>",
        "    CertMap Optional", MAPPINGS,
        "    CertMapForward pem ssl_client_cert",
        "</Location>",
        # RFC 9440 Client-Cert (read by the application, not by Tomcat).
        tc.proxy_pass("/h-rfc", "http"),
        "<Location /h-rfc/>",
        "    CertMap Optional", MAPPINGS,
        "    CertMapForward rfc9440",
        "</Location>",
        # The connector marked secure="true" scheme="https".
        tc.proxy_pass("/h-secure", "https"),
        "<Location /h-secure/>",
        "    CertMap Optional", MAPPINGS,
        "    CertMapForward tomcat",
        "</Location>",
        # A custom account header name.
        tc.proxy_pass("/h-user", "http"),
        "<Location /h-user/>",
        "    CertMap On", MAPPINGS,
        "    CertMapForwardUser X-Account",
        "</Location>",
        # Proxied without any CertMap directive: client-sent certificate
        # headers are still removed (the vhost uses mod_certmap).
        tc.proxy_pass("/h-plain", "http"),
        # AJP, mapping required.
        tc.proxy_pass("/ajp", "ajp"),
        "<Location /ajp/>",
        "    CertMap On", MAPPINGS,
        "</Location>",
        # AJP, mapping optional (anonymous and unmapped clients get through).
        tc.proxy_pass("/ajp-opt", "ajp"),
        "<Location /ajp-opt/>",
        "    CertMap Optional", MAPPINGS,
        "</Location>",
    ]) + "\n"


def _no_ca_vhost(tc, pki, port):
    """A second TLS virtual host of the same httpd, with SSLVerifyClient
    optional_no_ca: an untrusted certificate completes the handshake with
    SSL_CLIENT_VERIFY=FAILED:...  (One httpd for the module: each httpd
    costs ~2 s to stop.)"""
    return "\n".join([
        "Listen 127.0.0.1:%d https" % port,
        "<VirtualHost 127.0.0.1:%d>" % port,
        "    ServerName localhost",
        "    SSLEngine on",
        "    SSLProtocol -all +TLSv1.2 +TLSv1.3",
        '    SSLCertificateFile "%s"' % pki.server_cert,
        '    SSLCertificateKeyFile "%s"' % pki.server_key,
        '    SSLCACertificateFile "%s"' % pki.trust_pem,
        "    SSLVerifyClient optional_no_ca",
        "    SSLVerifyDepth 3",
        tc.proxy_pass("/ajp-plain", "ajp"),
        tc.proxy_pass("/ajp-opt", "ajp"),
        "<Location /ajp-opt/>",
        "    CertMap Optional", MAPPINGS,
        "</Location>",
        tc.proxy_pass("/h-tomcat", "http"),
        "<Location /h-tomcat/>",
        "    CertMap Optional", MAPPINGS,
        "    CertMapForward tomcat",
        "    CertMapForward pem ssl_client_cert",
        "</Location>",
        "</VirtualHost>",
    ]) + "\n"


@pytest.fixture(scope="module")
def _httpd(module_httpd, tomcat, pki):
    no_ca_port = free_port()
    srv = module_httpd(_front_snippet(tomcat),
                       global_snippet=_no_ca_vhost(tomcat, pki, no_ca_port))
    return srv, types.SimpleNamespace(port=no_ca_port)


@pytest.fixture(scope="module")
def front(_httpd):
    """The main virtual host (SSLVerifyClient optional)."""
    return _httpd[0]


@pytest.fixture(scope="module")
def no_ca(_httpd):
    """The optional_no_ca virtual host (has only a port)."""
    return _httpd[1]


# -- helpers ------------------------------------------------------------------

def _info(resp):
    assert resp.status == 200, (resp.status, resp.text[:2000])
    return tomcat_mod.parse_info(resp.body)


def fetch(server, pki, prefix, client=None, headers=None):
    """GET prefix/certinfo.jsp through httpd; (response, JSP dict or None
    when the status is not 200)."""
    r = get(server, pki, "/%s/%s" % (prefix.strip("/"), JSP),
            client=pki.clients[client] if client else None, headers=headers)
    return r, (tomcat_mod.parse_info(r.body) if r.status == 200 else None)


def _pem_body(client):
    """The base64 of a client's DER, as one line (what any PEM/escaped/
    RFC 9440 carrier of that certificate contains in some form)."""
    with open(client.cert_der, "rb") as f:
        return base64.b64encode(f.read()).decode()


def _pem_text(client):
    with open(client.cert_pem) as f:
        return f.read()


def assert_holds(info, client):
    """Tomcat's jakarta.servlet.request.X509Certificate is exactly
    `client`'s certificate (and only it)."""
    assert info["cert_error"] is None, info
    assert info["cert_count"] == 1, info
    assert info["cert_sha256"] == client.sha256, (client.name, info)
    assert info["cert_subject"] == client.subject, info


def assert_holds_none(info):
    assert info["cert_error"] is None, info
    assert info["cert_count"] == 0 and info["cert_sha256"] is None, info


def assert_not_leaked(info, victim):
    """Nothing Tomcat received carries `victim`'s certificate: not the
    attribute, not any header in any encoding (each value is URL-decoded
    and stripped of white space before its base64 DER is looked for)."""
    assert info["cert_sha256"] != victim.sha256, info
    der64 = _pem_body(victim)
    needles = (der64[:40], der64[len(der64) // 2:len(der64) // 2 + 40])
    for name, values in info["headers"].items():
        for v in values:
            flat = re.sub(r"\s", "", urllib.parse.unquote(v))
            for needle in needles:
                assert needle not in flat, (
                    "%s's certificate reached Tomcat in %s: %r"
                    % (victim.name, name, v))


def _header(info, name):
    return info["headers"].get(name.lower())


# Client-sent spellings of the certificate headers SSLValve reads
# (ssl_client_cert, ssl_client_escaped_cert; Tomcat matches names without
# regard to case) and the other certificate headers the module owns.
FORGED_NAMES = [
    "ssl_client_cert", "SSL_CLIENT_CERT", "Ssl_Client_Cert",
    "ssl-client-cert",
    "ssl_client_escaped_cert", "SSL_CLIENT_ESCAPED_CERT",
    "Ssl-Client-Escaped-Cert",
    "Client-Cert", "X-Forwarded-Client-Cert", "X-ARR-ClientCert",
]


def _forged_value(name, victim):
    """`victim`'s certificate in the encoding the header normally has."""
    pem = _pem_text(victim)
    lname = name.lower().replace("-", "_")
    if lname == "ssl_client_escaped_cert":
        return urllib.parse.quote(pem, safe="")
    if lname == "ssl_client_cert":
        return pem.strip().replace("\n", " ")
    if lname == "client_cert":
        return ":%s:" % _pem_body(victim)
    if lname == "x_forwarded_client_cert":
        return 'Cert="%s"' % urllib.parse.quote(pem, safe="")
    return _pem_body(victim)


# -- Tomcat alone ---------------------------------------------------------------

def test_tomcat_started(tomcat):
    """The fixture itself: the JSP answers and reports no certificate; the
    secure connector says https.  (Start time: tomcat.start_seconds.)"""
    info = tomcat.info()
    assert_holds_none(info)
    assert info["secure"] is False and info["scheme"] == "http", info
    info = tomcat.info(port=tomcat.secure_http_port)
    assert info["secure"] is True and info["scheme"] == "https", info
    assert tomcat.start_seconds < 60


def test_sslvalve_trusts_any_client(tomcat, pki):
    """Why scrubbing matters: sent straight to the connector, the headers
    SSLValve reads become the request's certificate, and the escaped form
    wins over ssl_client_cert."""
    cu, other = pki.clients["certuser"], pki.clients["other"]
    info = tomcat.info(headers={
        "ssl_client_escaped_cert": urllib.parse.quote(_pem_text(cu), safe="")})
    assert_holds(info, cu)
    info = tomcat.info(headers={
        "ssl_client_cert": _pem_text(other).strip().replace("\n", " ")})
    assert_holds(info, other)
    info = tomcat.info(headers={
        "ssl_client_escaped_cert": urllib.parse.quote(_pem_text(cu), safe=""),
        "ssl_client_cert": _pem_text(other).strip().replace("\n", " ")})
    assert_holds(info, cu)


# -- HTTP + SSLValve --------------------------------------------------------------

@pytest.mark.parametrize("name", ["certuser", "other"])
def test_http_tomcat_format(front, pki, name):
    r, info = fetch(front, pki, "/h-tomcat", name)
    c = pki.clients[name]
    assert_holds(_info(r), c)
    # the module's header is the URL-escaped PEM of exactly this certificate
    sent = _header(info, "ssl_client_escaped_cert")
    assert sent is not None and len(sent) == 1, info["headers"]
    # (unquote, not unquote_plus: SSLValve does not read "+" as a space)
    assert urllib.parse.unquote(sent[0]).split() == _pem_text(c).split(), \
        sent
    assert _header(info, "ssl_client_cert") is None, info["headers"]
    # the stock connector: SSLValve sets the certificate, not isSecure()
    assert info["secure"] is False and info["scheme"] == "http", info
    assert info["auth_type"] is None and info["remote_user"] is None, info
    account = USER if name == "certuser" else OTHER
    assert _header(info, "x-remote-user") == [account], info["headers"]


def test_http_pem_format(front, pki):
    cu = pki.clients["certuser"]
    r, info = fetch(front, pki, "/h-pem", "certuser")
    assert_holds(_info(r), cu)
    sent = _header(info, "ssl_client_cert")
    assert sent is not None and len(sent) == 1, info["headers"]
    # PEM on one line, line breaks as spaces
    assert "\n" not in sent[0]
    assert sent[0].split() == _pem_text(cu).split(), sent
    assert _header(info, "ssl_client_escaped_cert") is None, info["headers"]
    # not configured here
    assert _header(info, "x-remote-user") is None, info["headers"]


def test_http_rfc9440_recipe(front, pki):
    """The README's recipe for Client-Cert (strip the colons, base64-decode
    the DER) gives back the client's certificate; SSLValve ignores the
    header, so Tomcat's attribute stays empty."""
    cu = pki.clients["certuser"]
    r, info = fetch(front, pki, "/h-rfc", "certuser",
                    {"Client-Cert": _forged_value("Client-Cert",
                                                  pki.clients["other"])})
    info = _info(r)
    assert_holds_none(info)
    sent = _header(info, "client-cert")
    assert sent is not None and len(sent) == 1, info["headers"]
    value = sent[0].strip()
    assert len(value) > 2 and value[0] == value[-1] == ":", value
    der = base64.b64decode(value[1:-1], validate=True)
    assert hashlib.sha256(der).hexdigest() == cu.sha256
    assert_not_leaked(info, pki.clients["other"])


def test_http_secure_connector(front, pki):
    r, info = fetch(front, pki, "/h-secure", "certuser")
    assert_holds(_info(r), pki.clients["certuser"])
    assert info["secure"] is True and info["scheme"] == "https", info
    assert info["connector_port"] != 0


@pytest.mark.parametrize("prefix", ["/h-tomcat", "/h-pem", "/h-plain"])
def test_http_no_client_certificate(front, pki, prefix):
    """No certificate, forged headers carrying certuser's: Tomcat holds
    none."""
    cu = pki.clients["certuser"]
    headers = {n: _forged_value(n, cu) for n in
               ("ssl_client_cert", "ssl_client_escaped_cert")}
    r, info = fetch(front, pki, prefix, None, headers)
    assert_holds_none(_info(r))
    assert_not_leaked(info, cu)
    assert _header(info, "x-remote-user") is None, info["headers"]


@pytest.mark.parametrize("name", FORGED_NAMES)
@pytest.mark.parametrize("prefix", ["/h-tomcat", "/h-pem", "/h-plain"])
def test_http_forged_certificate(front, pki, prefix, name):
    """`other` (mapped to W2K3TEST\\other) sends certuser's real
    certificate in a header: Tomcat holds other's certificate (or, where
    nothing is forwarded, none), never certuser's."""
    cu, other = pki.clients["certuser"], pki.clients["other"]
    r, info = fetch(front, pki, prefix, "other",
                    {name: _forged_value(name, cu)})
    info = _info(r)
    assert_not_leaked(info, cu)
    if prefix == "/h-plain":
        assert_holds_none(info)
    else:
        assert_holds(info, other)


def test_http_forged_certificate_unmapped(front, pki):
    """A verified but unmapped client (bob) under CertMap Optional: whatever
    the module forwards for it, certuser's certificate never arrives."""
    cu = pki.clients["certuser"]
    headers = {n: _forged_value(n, cu) for n in
               ("ssl_client_cert", "ssl_client_escaped_cert")}
    r, info = fetch(front, pki, "/h-tomcat", "bob", headers)
    info = _info(r)
    assert_not_leaked(info, cu)
    if info["cert_count"]:
        assert_holds(info, pki.clients["bob"])
    assert _header(info, "x-remote-user") is None, info["headers"]


@pytest.mark.parametrize("name", ["X-Remote-User", "x-remote-user",
                                  "X_Remote_User", "X-REMOTE-USER"])
def test_forward_user_not_forgeable(front, pki, name):
    forged = {name: "W2K3TEST\\administrator"}
    # mapped: exactly the mapped account, once
    r, info = fetch(front, pki, "/h-tomcat", "certuser", forged)
    assert _header(_info(r), "x-remote-user") == [USER], info["headers"]
    assert "x_remote_user" not in info["headers"], info["headers"]
    # anonymous: no account at all
    r, info = fetch(front, pki, "/h-tomcat", None, forged)
    assert _header(_info(r), "x-remote-user") is None, info["headers"]
    assert "x_remote_user" not in info["headers"], info["headers"]
    assert "administrator" not in repr(info["headers"]), info["headers"]


def test_forward_user_custom_header(front, pki):
    r, info = fetch(front, pki, "/h-user", "certuser",
                    {"X-Account": "W2K3TEST\\administrator",
                     "X_Account": "W2K3TEST\\administrator"})
    info = _info(r)
    assert _header(info, "x-account") == [USER], info["headers"]
    assert "administrator" not in repr(info["headers"]), info["headers"]
    # no certificate is forwarded here
    assert_holds_none(info)


def test_forward_user_escaping(front, pki):
    """The backslash arrives as one backslash (JSON-decoded)."""
    r, info = fetch(front, pki, "/h-user", "other")
    assert _header(_info(r), "x-account") == [OTHER]
    assert len(OTHER) == len("W2K3TEST\\other") == 14


# -- AJP --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["certuser", "other"])
def test_ajp_mapped(front, pki, name):
    r, info = fetch(front, pki, "/ajp", name)
    c = pki.clients[name]
    assert_holds(_info(r), c)
    account = USER if name == "certuser" else OTHER
    assert info["remote_user"] == account, info
    assert info["principal"] == account, info
    # mod_proxy_ajp sends r->ap_auth_type, which mod_certmap sets
    assert info["auth_type"] == "Certificate", info
    # AJP carries "is SSL", the cipher and the key size
    assert info["secure"] is True and info["scheme"] == "https", info
    assert info["cipher_suite"], info
    assert info["key_size"], info
    # nothing certificate-shaped in the headers: AJP carries it natively
    assert _header(info, "ssl_client_cert") is None, info["headers"]


def test_ajp_unmapped_refused(front, pki):
    r, info = fetch(front, pki, "/ajp", "bob")
    assert r.status == 403 and "cert-unmapped" in r.text, r
    r, info = fetch(front, pki, "/ajp", None)
    assert r.status == 403 and "cert-required" in r.text, r


def test_ajp_anonymous(front, pki):
    cu = pki.clients["certuser"]
    headers = {n: _forged_value(n, cu) for n in
               ("ssl_client_cert", "ssl_client_escaped_cert")}
    r, info = fetch(front, pki, "/ajp-opt", None, headers)
    info = _info(r)
    assert_holds_none(info)
    assert_not_leaked(info, cu)
    assert info["remote_user"] is None and info["auth_type"] is None, info
    assert info["secure"] is True, info


@pytest.mark.parametrize("name", FORGED_NAMES)
def test_ajp_forged_certificate(front, pki, name):
    """Over AJP, SSLValve in the Engine would still read a client-sent
    ssl_client_cert and replace the AJP certificate with it."""
    cu, other = pki.clients["certuser"], pki.clients["other"]
    r, info = fetch(front, pki, "/ajp", "other",
                    {name: _forged_value(name, cu)})
    info = _info(r)
    assert_holds(info, other)
    assert_not_leaked(info, cu)
    assert info["remote_user"] == OTHER, info


# -- SSLVerifyClient optional_no_ca -------------------------------------------------

def test_no_ca_trusted_still_forwarded(no_ca, pki):
    """Control: a trusted certificate reaches Tomcat on every path."""
    cu = pki.clients["certuser"]
    for prefix in ("/ajp-plain", "/ajp-opt", "/h-tomcat"):
        r, info = fetch(no_ca, pki, prefix, "certuser")
        assert_holds(_info(r), cu)
    r, info = fetch(no_ca, pki, "/ajp-opt", "certuser")
    assert info["remote_user"] == USER, info


@pytest.mark.parametrize("prefix", ["/ajp-plain", "/ajp-opt", "/h-tomcat"])
def test_no_ca_untrusted_not_forwarded(no_ca, pki, prefix):
    """An untrusted certificate with certuser's subject: the handshake
    succeeds (optional_no_ca) but Tomcat must not receive it, over AJP
    (where mod_proxy_ajp would send it whatever the verification said) or
    HTTP.  The module may instead refuse the request."""
    bad = pki.clients["untrusted"]
    assert bad.subject == pki.clients["certuser"].subject
    r, info = fetch(no_ca, pki, prefix, "untrusted")
    if r.status == 403 and prefix != "/ajp-plain":
        assert "cert-untrusted" in r.text, r
        return
    info = _info(r)
    assert_holds_none(info)
    assert_not_leaked(info, bad)
    assert info["remote_user"] is None, info


# -- keep-alive: one connection, several identities never mix ------------------------

def test_keepalive_forged_then_clean(front, pki):
    """On one connection, a forged header in one request must not stick to
    the next, and the forwarded certificate stays the connection's."""
    cu, other = pki.clients["certuser"], pki.clients["other"]
    with Conn(front, pki, other) as c:
        for i in range(3):
            hdrs = {"ssl_client_escaped_cert":
                    _forged_value("ssl_client_escaped_cert", cu)} \
                if i % 2 == 0 else {}
            r = c.get("/h-tomcat/" + JSP, headers=hdrs)
            info = _info(r)
            assert_holds(info, other)
            assert_not_leaked(info, cu)
            r = c.get("/ajp/" + JSP, headers=hdrs)
            info = _info(r)
            assert_holds(info, other)
            assert info["remote_user"] == OTHER


def test_access_logs_agree(front, pki, tomcat):
    """httpd's %u and Tomcat's %u (the AJP remote user) name the same
    account; both access logs escape the backslash (W2K3TEST\\\\certuser)."""
    r, info = fetch(front, pki, "/ajp", "certuser")
    assert _info(r)["remote_user"] == USER
    line = front.wait_access_line(r.path)
    assert " W2K3TEST\\\\certuser [" in line, line
    q = "?" + r.path.split("?", 1)[1] + " "
    deadline = time.time() + 5
    while True:
        # Tomcat writes the line once the response is complete: poll
        with open(tomcat.access_log) as f:
            lines = [x for x in f.read().splitlines() if q in x]
        if lines or time.time() > deadline:
            break
        time.sleep(0.02)
    assert len(lines) == 1, lines
    assert " W2K3TEST\\\\certuser [" in lines[0], lines
