"""No client-sent certificate or identity header ever reaches a backend
through a mod_certmap virtual host: every header name of the family
(DESIGN.md section 5) and every name configured with CertMapForward,
CertMapForwardUser or CertMapScrubHeader, in every letter case, with '-'
and '_' alike, duplicated, on paths with and without CertMap directives,
with no, an unmapped and a mapped certificate.  Also: a client cannot
pass someone else's real certificate as its own; mod_ssl's
SSL_CLIENT_CERT reads empty to other modules unless it verified; and a
virtual host without any mod_certmap directive is left alone (the
positive control that shows these tests can see a forged header)."""

import base64
import http.client
import itertools
import json
import ssl

import pytest
from cryptography.hazmat.primitives import serialization

from client import Conn, Response, unique
from echo import (SCRUB_FAMILY, Echoed, expected_values, fold,
                  pem_of)
from server import free_port

FWD_SNIPPET = r'''
ProxyPass /cgi !
ProxyPass / http://127.0.0.1:@PORT@/
CertMapScrubHeader X-My-Identity
# Modules that read request headers early must not see forged ones.
SetEnvIfNoCase X-Forwarded-Client-Cert "FORGED" saw_forged=yes
SetEnvIfNoCase X_Forwarded_Client_Cert "FORGED" saw_forged=yes
RequestHeader set X-Early-Copy "expr=%{req:X-Forwarded-Client-Cert}%{req:X_Forwarded_Client_Cert}" early
RequestHeader set X-Saw-Forged "%{saw_forged}e"
<Location /fwd>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/bob.cer "W2K3TEST\bob"
    CertMapForward rfc9440
    CertMapForward tomcat
    CertMapForward pem
    CertMapForward xfcc
    CertMapForward arr
    CertMapForwardUser
</Location>
<Location /custom>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapForward arr X-Client-Thing
    CertMapForward rfc9440 X-Cert-Rfc
    CertMapForwardUser X-Who
</Location>
<Location /hdr>
    RequestHeader set X-Cert "%{SSL_CLIENT_CERT}s"
    RequestHeader set X-Cert-Chain0 "%{SSL_CLIENT_CERT_CHAIN_0}s"
    RequestHeader set X-Dn "%{SSL_CLIENT_S_DN}s"
</Location>
<Location /cgi>
    SSLOptions +StdEnvVars +ExportCertData
</Location>
<Location /hdrexpr>
    RequestHeader set X-Cert-Expr "expr=%{SSL_CLIENT_CERT}"
</Location>
'''

# Prints the CGI's SSL_CLIENT_* variables.
SSL_CGI = """#!/usr/bin/python3 -S
import json, os, sys
sys.stdout.write("Content-Type: application/json\\n\\n")
sys.stdout.write(json.dumps({k: v for k, v in os.environ.items()
                             if k.startswith("SSL_CLIENT_")}))
"""

# A second TLS virtual host (in the same httpd): CertMap On only.
ON_VHOST = r'''
Listen 127.0.0.1:@ONPORT@ https
<VirtualHost 127.0.0.1:@ONPORT@>
    ServerName localhost
    SSLEngine on
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCertificateFile "@SCERT@"
    SSLCertificateKeyFile "@SKEY@"
    SSLCACertificateFile "@TRUST@"
    SSLVerifyClient optional_no_ca
    SSLVerifyDepth 3
    ProxyPass / http://127.0.0.1:@PORT@/
    <Location /on>
        CertMap On
        CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    </Location>
</VirtualHost>
'''

# A plain-HTTP virtual host with no mod_certmap directive at all.
PLAIN_VHOST = "ProxyPass / http://127.0.0.1:@PORT@/\n"

# Names configured in the forwarding vhost (scrubbed vhost-wide there).
CONFIGURED = ["X-Remote-User", "X-Client-Thing", "X-Cert-Rfc",
              "X-Cert-Rfc-Chain", "X-Who", "X-My-Identity"]

VHOST_PATHS = {
    "fwd": ["/fwd/x", "/custom/x", "/free/x"],
    "on": ["/on/x", "/free/x"],
}
CERTS = [None, "other", "certuser"]

_forged = itertools.count(1)


def spellings(name):
    """Every letter case (as written, lower, UPPER, Mixed) of the name
    with '-' and with '_' as separators."""
    out = []
    for base in (name.replace("_", "-"), name.replace("-", "_")):
        mixed = "".join(ch.upper() if i % 2 else ch.lower()
                        for i, ch in enumerate(base))
        for s in (base, base.lower(), base.upper(), mixed):
            if s not in out:
                out.append(s)
    if name not in out:
        out.insert(0, name)
    return out


def forged_headers(name, few=False):
    """[(spelling, "FORGED-n")] for every spelling, plus duplicates of
    the first two.  few: just two spellings (as written; UPPER with the
    other separator), to stay under httpd's 100 request header lines
    when many names go into one request."""
    names = spellings(name)
    if few:
        names = [names[0], [x for x in names if x.isupper()
                            and ("_" in x) != ("_" in names[0])][0]]
    hs = [(s, "FORGED-%d" % next(_forged)) for s in names]
    if not few:
        hs += [(s, "FORGED-%d" % next(_forged)) for s, _ in hs[:2]]
    return hs


class _Port:
    """What client.Conn needs of a server: its port(s)."""

    def __init__(self, port, plain_port=None):
        self.port = port
        self.plain_port = plain_port


@pytest.fixture(scope="module")
def srv(module_httpd, pki, backend):
    port = str(backend.port)
    on_port = free_port()
    on = (ON_VHOST.replace("@ONPORT@", str(on_port))
          .replace("@SCERT@", pki.server_cert)
          .replace("@SKEY@", pki.server_key)
          .replace("@TRUST@", pki.trust_pem).replace("@PORT@", port))
    s = module_httpd(FWD_SNIPPET.replace("@PORT@", port),
                     global_snippet=on,
                     plain_snippet=PLAIN_VHOST.replace("@PORT@", port),
                     verify="optional_no_ca", dirs=["cgi"], start=False)
    s.write_file("htdocs/cgi/ssl.cgi", SSL_CGI, 0o755)
    s.on_port = on_port
    s.start()
    return s


class Conns:
    """Keep-alive connections, one per (vhost, certificate), reopened if
    the server closed one."""

    def __init__(self, srv, pki):
        self.srv = srv
        self.pki = pki
        self.open = {}

    def _new(self, vhost, cert):
        client = self.pki.clients[cert] if cert else None
        if vhost == "fwd":
            return Conn(self.srv, self.pki, client)
        if vhost == "on":
            return Conn(_Port(self.srv.on_port), self.pki, client)
        if vhost == "plain":
            return Conn(_Port(None, self.srv.plain_port), self.pki,
                        plain=True)
        raise KeyError(vhost)

    def send(self, vhost, cert, path, headers):
        """GET path with `headers` ([(name, value)] sent exactly as given,
        in order, duplicates kept) on the (vhost, cert) connection."""
        for attempt in (1, 2):
            key = (vhost, cert)
            if key not in self.open:
                self.open[key] = self._new(vhost, cert)
            conn = self.open[key]
            try:
                return _send(conn, path, headers)
            except (http.client.HTTPException, ConnectionError,
                    BrokenPipeError, ssl.SSLError):
                conn.close()
                del self.open[key]
                if attempt == 2:
                    raise

    def close(self):
        for c in self.open.values():
            c.close()
        self.open.clear()


def _send(conn, path, headers):
    path = unique(path)
    c = conn.c
    if c.sock is None:
        c.connect()
    port = conn.client_port
    c.putrequest("GET", path, skip_accept_encoding=True)
    for n, v in headers:
        c.putheader(n, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    return Response(r.status, r.reason, r.headers, body, path, port)


@pytest.fixture(scope="module")
def conns(srv, pki):
    c = Conns(srv, pki)
    yield c
    c.close()


def echoed(resp):
    """The backend's view, or None when httpd answered itself (e.g. a
    403 from CertMap On): then the backend got nothing."""
    if resp.header("X-Echo") == "1":
        assert resp.status == 200, resp
        return Echoed.from_body(resp.body)
    assert resp.status in (403,), resp
    return None


def assert_no_forgery(e, sent, what):
    if e is None:
        return
    bad = [(n, v) for n, v in e.headers if "FORGED" in v]
    assert not bad, ("%s: the backend received forged header(s) %r\n"
                     "sent: %r" % (what, bad, sent))


# -- the matrix ------------------------------------------------------------

@pytest.mark.parametrize("cert", CERTS, ids=lambda c: c or "nocert")
@pytest.mark.parametrize("vhost", ["fwd", "on"])
@pytest.mark.parametrize("name", SCRUB_FAMILY)
def test_family_never_passes(conns, vhost, cert, name):
    for path in VHOST_PATHS[vhost]:
        sent = forged_headers(name)
        r = conns.send(vhost, cert, path, sent)
        assert_no_forgery(echoed(r), sent, "%s %s %s" % (vhost, cert, path))


@pytest.mark.parametrize("cert", CERTS, ids=lambda c: c or "nocert")
@pytest.mark.parametrize("name", CONFIGURED)
def test_configured_names_never_pass(conns, cert, name):
    """Names configured anywhere in the vhost (CertMapForward HEADER, its
    -Chain, CertMapForwardUser, CertMapScrubHeader) are scrubbed on every
    path of that vhost, also where no CertMap directive applies."""
    for path in VHOST_PATHS["fwd"]:
        sent = forged_headers(name)
        r = conns.send("fwd", cert, path, sent)
        assert_no_forgery(echoed(r), sent, "fwd %s %s" % (cert, path))


def test_everything_at_once_keeps_real_values(conns, pki):
    """All names forged in one request by the mapped client: the backend
    gets exactly the module's values, once each."""
    sent = []
    for name in SCRUB_FAMILY + CONFIGURED:
        sent += forged_headers(name, few=True)
    assert len(sent) < 90
    r = conns.send("fwd", "certuser", "/fwd/all", sent)
    e = echoed(r)
    assert_no_forgery(e, sent, "all at once")
    exp = expected_values(pki.clients["certuser"].cert,
                          account="W2K3TEST\\certuser")
    assert e.get("Client-Cert") == exp["rfc9440"]
    assert e.get("ssl_client_escaped_cert") == exp["tomcat"]
    assert e.get("SSL_CLIENT_CERT") == exp["pem"]
    assert e.get("X-Forwarded-Client-Cert") == exp["xfcc"]
    assert e.get("X-ARR-ClientCert") == exp["arr"]
    assert e.get("X-Remote-User") == b"W2K3TEST\\certuser"
    for name in SCRUB_FAMILY + CONFIGURED:
        assert len(e.folded(name)) <= 1, (name, e.folded(name))


@pytest.mark.parametrize("cert", [None, "certuser"],
                         ids=lambda c: c or "nocert")
def test_scrubbed_before_early_modules(conns, cert):
    """Scrubbing runs before mod_setenvif and RequestHeader ... early."""
    sent = forged_headers("X-Forwarded-Client-Cert")
    e = echoed(conns.send("fwd", cert, "/free/early", sent))
    assert_no_forgery(e, sent, "early")
    assert e.get("X-Saw-Forged") in (None, b"", b"(null)"), e.headers
    assert e.get("X-Early-Copy") in (None, b"", b"(null)"), e.headers


# -- someone else's real certificate ---------------------------------------

def _other_cert_headers(pki, victim):
    """Headers carrying `victim`'s real certificate in every format."""
    c = pki.clients[victim].cert
    der = c.public_bytes(serialization.Encoding.DER)
    exp = expected_values(c, account="W2K3TEST\\" + victim)
    pem = pem_of(der)
    return [
        ("ssl_client_cert", pem.replace("\n", " ")),
        ("ssl_client_escaped_cert", exp["tomcat"].decode()),
        ("SSL_CLIENT_CERT", exp["pem"].decode()),
        ("Client-Cert", exp["rfc9440"].decode()),
        ("X-Forwarded-Client-Cert", exp["xfcc"].decode()),
        ("X-ARR-ClientCert", exp["arr"].decode()),
        ("X-Forwarded-Tls-Client-Cert", base64.b64encode(der).decode()),
        ("X-Remote-User", "W2K3TEST\\" + victim),
    ]


@pytest.mark.parametrize("path", ["/fwd/x", "/free/x", "/custom/x"])
@pytest.mark.parametrize("cert", [None, "bob", "other"],
                         ids=lambda c: c or "nocert")
def test_cannot_pass_someone_elses_certificate(conns, pki, cert, path):
    victim = pki.clients["certuser"].cert
    vder = victim.public_bytes(serialization.Encoding.DER)
    needles = [base64.b64encode(vder)[:60],
               base64.b64encode(vder)[-60:],
               pki.clients["certuser"].sha256.encode(),
               b"certuser"]
    sent = _other_cert_headers(pki, "certuser")
    e = echoed(conns.send("fwd", cert, path, sent))
    assert e is not None
    for n in needles:
        assert n not in e.raw, (n, e.raw)
    if cert is not None and path == "/fwd/x":
        # what arrives is the presenting client's own certificate
        own = expected_values(pki.clients[cert].cert,
                              account="W2K3TEST\\bob" if cert == "bob"
                              else None)
        assert e.get("SSL_CLIENT_CERT") == own["pem"]
        assert e.get("Client-Cert") == own["rfc9440"]
        assert e.get("ssl_client_escaped_cert") == own["tomcat"]
        # ssl_client_cert and SSL_CLIENT_CERT fold alike: only ours
        assert e.folded("ssl_client_cert") == [("SSL_CLIENT_CERT",
                                                own["pem"])]
        assert e.get("X-Remote-User") == own["user"]
    else:
        for name, _ in sent:
            assert e.folded(name) == [], (name, e.headers)


# -- mod_ssl's variables to other modules ---------------------------------

def _cert_needles(pki, name):
    der = pki.clients[name].cert.public_bytes(serialization.Encoding.DER)
    b = base64.b64encode(der).decode()
    return [b[:64].encode(), b[64:128].encode()]


def test_request_header_ssl_var_hides_unverified(conns, pki):
    """RequestHeader set X "%{SSL_CLIENT_CERT}s" (mod_headers asks
    ap_ssl_var_lookup) passes no certificate that did not verify."""
    e = echoed(conns.send("fwd", "untrusted", "/hdr/x", []))
    assert e is not None
    for n in _cert_needles(pki, "untrusted"):
        assert n not in e.raw, e.raw
    assert e.get("X-Cert") in (None, b"", b"(null)"), e.headers
    assert e.get("X-Cert-Chain0") in (None, b"", b"(null)"), e.headers
    assert e.get("X-Dn") in (None, b"", b"(null)"), e.headers


def test_request_header_ssl_var_shows_verified(conns, pki):
    """The control: a verified certificate does come through."""
    e = echoed(conns.send("fwd", "certuser", "/hdr/x", []))
    v = e.get("X-Cert")
    assert v is not None
    for n in _cert_needles(pki, "certuser"):
        assert n in v, v
    assert b"CN=certuser" in e.get("X-Dn"), e.headers


def _cgi_ssl_env(conns, cert):
    r = conns.send("fwd", cert, "/cgi/ssl.cgi", [])
    assert r.status == 200, r
    return json.loads(r.body)


def test_cgi_environment_hides_unverified(conns, pki):
    """SSLOptions +ExportCertData puts the certificate into a CGI's
    environment; not one that did not verify."""
    env = _cgi_ssl_env(conns, "untrusted")
    assert env.get("SSL_CLIENT_VERIFY", "").startswith("FAILED"), env
    for n in _cert_needles(pki, "untrusted"):
        assert n.decode() not in repr(env), env
    assert not env.get("SSL_CLIENT_CERT"), env
    assert not env.get("SSL_CLIENT_S_DN"), env
    # the control: a verified one is there
    env = _cgi_ssl_env(conns, "certuser")
    assert env.get("SSL_CLIENT_VERIFY") == "SUCCESS", env
    for n in _cert_needles(pki, "certuser"):
        assert n.decode() in env.get("SSL_CLIENT_CERT", ""), env


def test_expr_ssl_var_hides_unverified(conns, pki):
    """The same through an ap_expr string (RequestHeader ... "expr=...")."""
    e = echoed(conns.send("fwd", "untrusted", "/hdrexpr/x", []))
    assert e is not None
    for n in _cert_needles(pki, "untrusted"):
        assert n not in e.raw, (
            "an unverified certificate reached the backend through "
            "expr=%%{SSL_CLIENT_CERT}: %r" % e.headers)


def test_unverified_certificate_forwards_nothing(conns, pki):
    sent = forged_headers("Client-Cert")
    e = echoed(conns.send("fwd", "untrusted", "/fwd/x", sent))
    assert_no_forgery(e, sent, "untrusted")
    for name in SCRUB_FAMILY + CONFIGURED:
        assert e.folded(name) == [], (name, e.headers)
    for n in _cert_needles(pki, "untrusted"):
        assert n not in e.raw


# -- what the log says ----------------------------------------------------

def test_removed_names_logged_at_debug(srv, conns):
    spelled = "x_FORWARDED-client_CERT"
    conns.send("fwd", None, "/free/logged", [(spelled, "FORGED-log")])
    lines = srv.wait_error_lines("certmap:debug", include_debug=True,
                                 count=1)
    hits = [ln for ln in lines if fold(spelled) in fold(ln)]
    assert hits, "no debug line names %s:\n%s" % (
        spelled, "\n".join(srv.read_error_log().splitlines()[-20:]))
    assert not [ln for ln in srv.error_lines() if "FORGED-log" in ln
                or fold(spelled) in fold(ln)], "logged above debug level"


# -- the vhost without mod_certmap: the positive control -------------------

def test_vhost_without_certmap_is_left_alone(conns):
    """Documented: only virtual hosts with a mod_certmap directive scrub.
    This also proves the client sends every spelling and the backend
    would see a forged value."""
    for name in SCRUB_FAMILY + CONFIGURED:
        sent = forged_headers(name)
        e = echoed(conns.send("plain", None, "/plain/x", sent))
        got = " ".join(v for _, v in e.headers)
        for _, v in sent:
            assert v in got.replace(",", " ").split(), (v, e.headers)
        # names arrive as spelled (the first spelling of each
        # case-insensitive group: httpd joins same-named lines)
        names = e.names()
        for n, _ in sent:
            assert any(x.lower() == n.lower() for x in names), n


# -- the main server's directives reach every vhost -------------------------

def test_main_server_directive_makes_every_vhost_scrub(httpd, pki, backend):
    port = str(backend.port)
    s = httpd(snippet="ProxyPass / http://127.0.0.1:%s/\n" % port,
              global_snippet="CertMapScrubHeader X-Global-Thing\n",
              plain_snippet=PLAIN_VHOST.replace("@PORT@", port),
              verify="optional_no_ca")
    c = Conns(s, pki)
    try:
        for vhost in ("fwd", "plain"):
            for cert in ((None, "certuser") if vhost == "fwd" else (None,)):
                for name in SCRUB_FAMILY + ["X-Global-Thing"]:
                    sent = forged_headers(name)
                    e = echoed(c.send(vhost, cert, "/g/x", sent))
                    assert_no_forgery(e, sent, "main server, %s %s"
                                      % (vhost, cert))
    finally:
        c.close()
