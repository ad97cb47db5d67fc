"""CertMapForward / CertMapForwardUser through httpd + mod_proxy_http to
an echo backend: the exact bytes of every format, computed here from the
certificates (python3-cryptography, base64, hashlib), never from the
module; default and custom header names; the chain a client sends; a
subject with , ; " \\ and non-ASCII and URI/DNS SANs; no, unverified and
expired certificates forward nothing; the mapped account only when
mapped; CGI sees the headers too; and the values decode back the way
backends decode them (RFC 9440 byte sequences, Tomcat's escaped PEM and
SSLValve's old SSL_CLIENT_CERT parsing, Envoy's XFCC)."""

import base64
import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from client import Conn
from echo import (DEFAULT_HEADER, SCRUB_FAMILY, Echoed,
                  expected_values, fold, java_pem_decode,
                  parse_sf_byte_sequences, ssl_valve_legacy)

USER = "W2K3TEST\\certuser"
FORMATS = ["rfc9440", "tomcat", "pem", "xfcc", "arr"]

CUSTOM = {
    "rfc9440": "X-Cert-Rfc",
    "pem": "X-Cert-Pem",
    "tomcat": "X-Tomcat-Cert",
    "xfcc": "X-Envoy-Thing",
    "arr": "X-Arr-Thing",
}

SNIPPET = r'''
ProxyPass /cgi !
ProxyPass / http://127.0.0.1:@PORT@/
<Location /all>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapForward rfc9440
    CertMapForward tomcat
    CertMapForward pem
    CertMapForward xfcc
    CertMapForward arr
    CertMapForwardUser
</Location>
<Location /all/nouser>
    CertMapForwardUser none
</Location>
<Location /custom>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapForward rfc9440 X-Cert-Rfc
    CertMapForward pem X-Cert-Pem
    CertMapForward tomcat X-Tomcat-Cert
    CertMapForward xfcc X-Envoy-Thing
    CertMapForward arr X-Arr-Thing
    CertMapForwardUser X-Who
</Location>
<Location /fwdonly>
    CertMapForward arr
</Location>
<Location /cgi>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapForward rfc9440
    CertMapForward tomcat
    CertMapForward pem
    CertMapForward xfcc
    CertMapForward arr
    CertMapForwardUser
</Location>
'''

# Prints every HTTP_* variable the CGI got, byte-exact (latin-1).
HDRS_CGI = """#!/usr/bin/python3 -S
import json, os, sys
sys.stdout.write("Content-Type: application/json\\n\\n")
sys.stdout.write(json.dumps({k.decode("latin-1"): v.decode("latin-1")
                             for k, v in os.environb.items()
                             if k.startswith(b"HTTP_")}))
"""

# Every header name the /all location may send, and /custom's.
ALL_NAMES = [DEFAULT_HEADER[f] for f in FORMATS] + ["Client-Cert-Chain",
                                                     "X-Remote-User"]
CUSTOM_NAMES = list(CUSTOM.values()) + ["X-Cert-Rfc-Chain", "X-Who"]
WATCHED = sorted(set(ALL_NAMES + CUSTOM_NAMES + SCRUB_FAMILY), key=fold)


class Presenter:
    """What client.ssl_context() needs: a certificate file (which may hold
    the chain the client sends after its own certificate) and a key."""

    def __init__(self, name, cert_pem, key_pem, leaf, chain=(), account=None):
        self.name = name
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.leaf = leaf
        self.chain = list(chain)
        self.account = account

    def expected(self):
        return expected_values(self.leaf, self.chain, self.account)

    def __repr__(self):
        return "<Presenter %s>" % self.name


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture(scope="module")
def who(pki):
    """The presenting clients, by name."""
    out = {}
    cu = pki.clients["certuser"]
    out["certuser"] = Presenter("certuser", cu.cert_pem, cu.key_pem, cu.cert,
                                account=USER)
    # certuser sending the intermediate after its own certificate
    path = _write(os.path.join(pki.client_dir, "echo-certuser-chain.pem"),
                  _pem(cu.cert) + _pem(pki.intermediate.cert))
    out["certuser+chain"] = Presenter("certuser+chain", path, cu.key_pem,
                                      cu.cert, [pki.intermediate.cert],
                                      account=USER)
    ot = pki.clients["other"]
    out["other"] = Presenter("other", ot.cert_pem, ot.key_pem, ot.cert)
    # A sub-CA of the root that the server does not know: the client has
    # to send it (and here the root too) for verification to succeed.
    sub = pki.make_ca("echo-subca", x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certmap tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, "echo sub CA")]),
        issuer=pki.root, trusted=False)
    cl = pki.issue("echo-chainuser", issuer=sub)
    path = _write(os.path.join(pki.client_dir, "echo-chainuser-chain.pem"),
                  _pem(cl.cert) + _pem(sub.cert) + _pem(pki.root.cert))
    out["chainuser"] = Presenter("chainuser", path, cl.key_pem, cl.cert,
                                 [sub.cert, pki.root.cert])
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "W2K3TEST"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME,
                           'Sales, "East"; Team\\Ops'),
        x509.NameAttribute(NameOID.COMMON_NAME, "Jos\u00e9 \u65e5\u672c <x>+y=z"),
    ])
    sp = pki.issue("echo-special", subject=subject, sans=[
        x509.UniformResourceIdentifier("spiffe://example.org/ns/prod/sa/web"),
        x509.DNSName("client.example.org"),
        x509.RFC822Name("someone@example.org"),
        x509.UniformResourceIdentifier("https://example.org/a?b=c;d"),
        x509.DNSName("alt.example.org"),
    ])
    out["special"] = Presenter("special", sp.cert_pem, sp.key_pem, sp.cert)
    un = pki.clients["untrusted"]
    out["untrusted"] = Presenter("untrusted", un.cert_pem, un.key_pem,
                                 un.cert)
    ex = pki.clients["expired"]
    out["expired"] = Presenter("expired", ex.cert_pem, ex.key_pem, ex.cert)
    return out


@pytest.fixture(scope="module")
def srv(module_httpd, backend, who):
    s = module_httpd(SNIPPET.replace("@PORT@", str(backend.port)),
                     verify="optional_no_ca", dirs=["cgi"], start=False)
    s.write_file("htdocs/cgi/hdrs.cgi", HDRS_CGI, 0o755)
    s.start()
    return s


def fetch(srv, pki, presenter, path, conn=None):
    """GET through the proxy; what the backend received."""
    c = conn or Conn(srv, pki, presenter)
    try:
        r = c.get(path)
    finally:
        if conn is None:
            c.close()
    assert r.status == 200, (r.status, r.text[:500])
    assert r.header("X-Echo") == "1", r.headers
    return Echoed.from_body(r.body)


def watched(e):
    """{name as received: [values]} for every certificate/identity header
    the backend got (any spelling of a watched name)."""
    out = {}
    for n, v in e.headers:
        if any(fold(n) == fold(w) for w in WATCHED):
            out.setdefault(n, []).append(v.encode("latin-1"))
    return out


def expect_headers(p, names):
    """{exact header name: [value]} the backend must get for presenter
    `p` where `names` maps format -> header ("user" -> user header)."""
    exp = p.expected()
    out = {}
    for fmt, name in names.items():
        if fmt == "user":
            if exp["user"] is not None:
                out[name] = [exp["user"]]
            continue
        out[name] = [exp[fmt]]
        if fmt == "rfc9440" and exp["rfc9440-chain"] is not None:
            out[name + "-Chain"] = [exp["rfc9440-chain"]]
    return out


def assert_same(got, want):
    """Headers equal, with a readable first difference."""
    for name in sorted(set(got) | set(want)):
        assert got.get(name) == want.get(name), (
            "header %s:\n got  %r\n want %r\n all received: %r"
            % (name, got.get(name), want.get(name), sorted(got)))


DEFAULT_NAMES = dict(DEFAULT_HEADER, user="X-Remote-User")
CUSTOM_MAP = dict(CUSTOM, user="X-Who")

PRESENTERS = ["certuser", "certuser+chain", "other", "chainuser", "special"]


@pytest.mark.parametrize("name", PRESENTERS)
def test_default_headers_exact(srv, pki, who, name):
    p = who[name]
    e = fetch(srv, pki, p, "/all/x")
    assert_same(watched(e), expect_headers(p, DEFAULT_NAMES))


@pytest.mark.parametrize("name", ["certuser+chain", "special"])
def test_custom_header_names_exact(srv, pki, who, name):
    p = who[name]
    e = fetch(srv, pki, p, "/custom/x")
    want = expect_headers(p, CUSTOM_MAP)
    if name == "certuser+chain":
        assert "X-Cert-Rfc-Chain" in want and "X-Who" in want
    assert_same(watched(e), want)


def test_chain_headers_in_tls_order(srv, pki, who):
    """Client-Cert-Chain lists what the client sent after its own
    certificate, in order, as RFC 9440 byte sequences."""
    p = who["chainuser"]
    e = fetch(srv, pki, p, "/all/chain")
    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    assert parse_sf_byte_sequences(e.get("Client-Cert-Chain")) == \
        [der(c) for c in p.chain]
    assert parse_sf_byte_sequences(e.get("Client-Cert")) == [der(p.leaf)]
    # no chain sent: no chain header at all (never empty)
    e = fetch(srv, pki, who["certuser"], "/all/nochain")
    assert e.folded("Client-Cert-Chain") == []


def test_special_subject_in_xfcc(srv, pki, who):
    """The subject keeps its UTF-8 bytes; , ; \" \\ are escaped the RFC 2253
    way and then quoted; every URI and DNS SAN (not the e-mail one)."""
    p = who["special"]
    e = fetch(srv, pki, p, "/all/special")
    v = e.get("X-Forwarded-Client-Cert")
    assert v is not None
    # our expectation of the RFC 2253 text agrees with OpenSSL's
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-nameopt",
         "RFC2253,-esc_msb", "-in", pki.clients["echo-special"].cert_pem],
        stdout=subprocess.PIPE, check=True).stdout.decode("utf-8").strip()
    assert out == "subject=" + p.leaf.subject.rfc4514_string()
    assert ('Subject="CN=Jos\u00e9 \u65e5\u672c \\\\<x\\\\>\\\\+y=z,'
            'OU=Sales\\\\, \\\\\\"East\\\\\\"\\\\; Team\\\\\\\\Ops,'
            'O=W2K3TEST,C=FR"').encode("utf-8") in v, v
    assert v.endswith(b';URI=spiffe://example.org/ns/prod/sa/web;'
                      b'URI="https://example.org/a?b=c;d";'
                      b'DNS=client.example.org;DNS=alt.example.org'), v
    assert b"someone@example.org" not in v
    assert_same(watched(e), expect_headers(p, DEFAULT_NAMES))


def _xfcc_parse(value):
    """One XFCC element -> [(key, unquoted value)] (Envoy's grammar)."""
    s = value.decode("utf-8")
    out, i = [], 0
    while i < len(s):
        k_end = s.index("=", i)
        key = s[i:k_end]
        i = k_end + 1
        if s[i:i + 1] == '"':
            i += 1
            val = ""
            while s[i] != '"':
                if s[i] == "\\":
                    i += 1
                val += s[i]
                i += 1
            i += 1
        else:
            j = s.find(";", i)
            j = len(s) if j < 0 else j
            val = s[i:j]
            i = j
        out.append((key, val))
        if i < len(s):
            assert s[i] == ";", (s[i:], value)
            i += 1
    return out


def _pems(text):
    return [java_pem_decode(m) for m in re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
        text, re.S)]


@pytest.mark.parametrize("name", ["certuser+chain", "chainuser", "special"])
def test_values_decode_like_backends(srv, pki, who, name):
    p = who[name]
    e = fetch(srv, pki, p, "/all/decode")
    der = p.leaf.public_bytes(serialization.Encoding.DER)
    pem = p.leaf.public_bytes(serialization.Encoding.PEM)
    chain_der = [c.public_bytes(serialization.Encoding.DER) for c in p.chain]
    # RFC 9440: a structured-field byte sequence holding the DER
    assert parse_sf_byte_sequences(e.get("Client-Cert")) == [der]
    if chain_der:
        assert parse_sf_byte_sequences(e.get("Client-Cert-Chain")) == \
            chain_der
    else:
        assert e.folded("Client-Cert-Chain") == []
    # Tomcat: url-decodes to the exact PEM, '+' never stands for a space
    t = e.get("ssl_client_escaped_cert")
    assert urllib.parse.unquote_to_bytes(t) == pem
    assert b"+" not in t and b" " not in t
    assert x509.load_pem_x509_certificate(
        urllib.parse.unquote_to_bytes(t)) == p.leaf
    # SSLValve's old algorithm on SSL_CLIENT_CERT
    legacy = ssl_valve_legacy(e.get("SSL_CLIENT_CERT").decode("ascii"))
    assert java_pem_decode(legacy) == der
    # ARR: plain base64 of the DER
    assert base64.b64decode(e.get("X-ARR-ClientCert"), validate=True) == der
    # XFCC, read back with Envoy's grammar
    kv = _xfcc_parse(e.get("X-Forwarded-Client-Cert"))
    d = dict(kv)
    assert [k for k, _ in kv][:4] == ["Hash", "Cert", "Chain", "Subject"]
    assert d["Hash"] == p.leaf.fingerprint(hashes.SHA256()).hex()
    assert urllib.parse.unquote_to_bytes(d["Cert"]) == pem
    assert _pems(urllib.parse.unquote(d["Chain"])) == [der] + chain_der
    assert d["Subject"] == p.leaf.subject.rfc4514_string()


def test_forward_user_none_turns_inherited_off(srv, pki, who):
    p = who["certuser"]
    e = fetch(srv, pki, p, "/all/nouser/x")
    want = expect_headers(p, DEFAULT_NAMES)
    del want["X-Remote-User"]
    assert_same(watched(e), want)
    # the parent still sends it
    e = fetch(srv, pki, p, "/all/x")
    assert e.get("X-Remote-User") == USER.encode()


def test_mapped_and_unmapped_under_optional(srv, pki, who):
    """Both verified: both get the certificate headers; only the mapped
    one gets the account, and only its own certificate."""
    with Conn(srv, pki, who["certuser"]) as c1, \
            Conn(srv, pki, who["other"]) as c2:
        for _ in range(3):
            e1 = fetch(srv, pki, None, "/all/m", conn=c1)
            e2 = fetch(srv, pki, None, "/all/m", conn=c2)
            assert_same(watched(e1), expect_headers(who["certuser"],
                                                    DEFAULT_NAMES))
            assert_same(watched(e2), expect_headers(who["other"],
                                                    DEFAULT_NAMES))
            assert e2.folded("X-Remote-User") == []


def test_forward_without_certmap_mode(srv, pki, who):
    """CertMapForward alone (no CertMap On/Optional there) forwards the
    verified certificate, and nothing else."""
    p = who["certuser"]
    e = fetch(srv, pki, p, "/fwdonly/x")
    assert_same(watched(e), {"X-ARR-ClientCert": [p.expected()["arr"]]})


@pytest.mark.parametrize("path", ["/all/x", "/custom/x", "/fwdonly/x",
                                  "/all/nouser/x"])
def test_no_certificate_no_header(srv, pki, path):
    e = fetch(srv, pki, None, path)
    assert watched(e) == {}, e.headers


@pytest.mark.parametrize("path", ["/all/x", "/custom/x", "/fwdonly/x"])
def test_unverified_certificate_not_forwarded(srv, pki, who, path):
    """optional_no_ca lets an unknown issuer through the handshake with
    SSL_CLIENT_VERIFY=FAILED: nothing of it may reach the backend (its
    subject is the mapped certuser's)."""
    e = fetch(srv, pki, who["untrusted"], path)
    assert watched(e) == {}, e.headers
    der = who["untrusted"].leaf.public_bytes(serialization.Encoding.DER)
    b64 = base64.b64encode(der)[:40]
    assert b64 not in e.raw and b"certuser" not in e.raw, e.raw


def test_expired_certificate_not_forwarded(srv, pki, who, backend):
    """mod_ssl refuses an expired certificate in the handshake; if a
    request ever got through, it must carry no certificate."""
    marker = "/all/expired-%d" % time.time_ns()
    try:
        e = fetch(srv, pki, who["expired"], marker)
    except (ssl.SSLError, ConnectionError, OSError):
        assert backend.received(marker) == []
        return
    assert watched(e) == {}, e.headers


def test_certificate_expiring_on_keepalive_stops_forwarding(srv, pki,
                                                           backend):
    """mod_ssl keeps its SUCCESS for the connection; the dates are the
    module's to check on every request."""
    c, not_after = pki.make_shortlived(2, name="echo-shortlived")
    p = Presenter("shortlived", c.cert_pem, c.key_pem, c.cert)
    with Conn(srv, pki, p) as conn:
        e = fetch(srv, pki, None, "/all/short", conn=conn)
        assert_same(watched(e), expect_headers(p, DEFAULT_NAMES))
        while datetime.datetime.now(datetime.timezone.utc) <= \
                not_after + datetime.timedelta(seconds=1):
            time.sleep(0.2)
        port = conn.client_port
        marker = "/all/short-expired-%d" % time.time_ns()
        r = conn.get(marker, mark=False)
        assert conn.client_port == port, "not the same connection"
        if r.status == 200:
            e = Echoed.from_body(r.body)
            assert watched(e) == {}, e.headers
        else:
            assert r.status == 403, r
            assert backend.received(marker) == []


def test_several_requests_one_connection(srv, pki, who):
    """The per-connection values stay right request after request, and
    paths with different configurations on one connection get theirs."""
    p = who["certuser+chain"]
    with Conn(srv, pki, p) as conn:
        for i in range(5):
            e = fetch(srv, pki, None, "/all/ka", conn=conn)
            assert_same(watched(e), expect_headers(p, DEFAULT_NAMES))
            e = fetch(srv, pki, None, "/custom/ka", conn=conn)
            assert_same(watched(e), expect_headers(p, CUSTOM_MAP))
            e = fetch(srv, pki, None, "/none/ka", conn=conn)
            assert watched(e) == {}, e.headers


def _cgi(srv, pki, presenter):
    with Conn(srv, pki, presenter) as c:
        r = c.get("/cgi/hdrs.cgi")
    assert r.status == 200, r
    return {k: v.encode("latin-1") for k, v in json.loads(r.body).items()}


def test_cgi_sees_the_headers(srv, pki, who):
    """CGI gets the dash-named headers; httpd drops names holding '_'
    from a CGI's environment (ssl_client_escaped_cert, SSL_CLIENT_CERT)."""
    p = who["certuser+chain"]
    exp = p.expected()
    env = _cgi(srv, pki, p)
    assert env.get("HTTP_CLIENT_CERT") == exp["rfc9440"]
    assert env.get("HTTP_CLIENT_CERT_CHAIN") == exp["rfc9440-chain"]
    assert env.get("HTTP_X_FORWARDED_CLIENT_CERT") == exp["xfcc"]
    assert env.get("HTTP_X_ARR_CLIENTCERT") == exp["arr"]
    assert env.get("HTTP_X_REMOTE_USER") == USER.encode()
    assert "HTTP_SSL_CLIENT_CERT" not in env
    assert "HTTP_SSL_CLIENT_ESCAPED_CERT" not in env
    # nobody: nothing
    env = _cgi(srv, pki, None)
    for k in ("HTTP_CLIENT_CERT", "HTTP_CLIENT_CERT_CHAIN",
              "HTTP_X_FORWARDED_CLIENT_CERT", "HTTP_X_ARR_CLIENTCERT",
              "HTTP_X_REMOTE_USER"):
        assert k not in env, env


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_resumed_session_still_forwards_the_leaf(srv, pki, who, tls):
    """On a resumed TLS session mod_ssl still has the verified leaf but
    not the chain the client sent in the first handshake: the leaf is
    forwarded as before; a chain, if any is sent, is never a wrong one."""
    p = who["certuser+chain"]
    ctx = ssl.create_default_context(cafile=pki.root_pem)
    v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[tls]
    ctx.minimum_version = ctx.maximum_version = v
    ctx.load_cert_chain(p.cert_pem, p.key_pem)
    exp = p.expected()
    session, reused = None, []
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", srv.port))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1",
                             session=session) as ss:
            ss.sendall(b"GET /all/resume HTTP/1.1\r\nHost: localhost\r\n"
                       b"Connection: close\r\n\r\n")
            data = b""
            while True:
                chunk = ss.recv(65536)
                if not chunk:
                    break
                data += chunk
            session = ss.session
            reused.append(ss.session_reused)
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        e = Echoed.from_body(body)
        for fmt in FORMATS:
            if fmt != "xfcc":
                assert e.get(DEFAULT_HEADER[fmt]) == exp[fmt], fmt
        assert e.get("X-Remote-User") == USER.encode()
        chain = e.get("Client-Cert-Chain")
        assert chain in (None, exp["rfc9440-chain"]), chain
        x = e.get("X-Forwarded-Client-Cert")
        assert x.startswith(exp["xfcc"].split(b";Chain=")[0] + b";Chain=")
    assert reused == [False, True], "the test did not resume a session"
