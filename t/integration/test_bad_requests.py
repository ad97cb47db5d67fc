"""Bad requests against a real httpd with mod_certmap: oversized and
repeated spoofable headers, junk bytes in them, header names with '_'
and mixed case, identity headers as chunked trailers and in pipelined
requests, odd spellings of a CertMap path and junk in the request line, a
plain-HTTP request to a CertMap scope (also claiming TLS), HTTP/1.0
without Host, absolute URIs for another host, a huge number of headers
and cookies, bad Basic credentials where CertMapPassword asks for them,
and HTTP/2 (curl, and raw frames with python3-h2 for what curl will not
send: many streams, malformed header blocks, trailers, limits) and h2c.

Each request gets exactly the status it should: a mapped client 200 with
its own identity and no forged value reaching the backend (the echo
backend shows what arrived, byte for byte); what httpd itself refuses
400 (over HTTP/2: RST_STREAM, 431 or GOAWAY), and then nothing reaches
the backend; a plain-HTTP request to a CertMap scope 403 tls-required.
After each one a normal request on a new connection is still mapped, and
the error log holds no crash."""

import base64
import hashlib
import itertools
import re
import socket
import subprocess

import pytest

from client import ssl_context, unique
from echo import Echoed, expected_values

try:    # python3-h2 (Debian), for the raw HTTP/2 frame tests
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
except ImportError:
    h2 = None

needs_h2 = pytest.mark.skipif(h2 is None, reason="python3-h2 is not "
                              "installed (apt-get install python3-h2)")

ACCOUNT = "W2K3TEST\\certuser"
# What mod_headers' "%{CERTMAP_REASON}e" shows when the variable is unset
# (the module did not decide anything).
NOT_SET = "(null)"

SNIPPET = r'''
Protocols h2 http/1.1
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
</Location>
<Location /fwd>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapForward rfc9440
    CertMapForward pem
    CertMapForwardUser
    ProxyPass http://127.0.0.1:@PORT@/fwd
</Location>
<Location /pw>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapPassword On
    AuthUserFile conf/passwords
</Location>
'''

PASSWORD = "s3cret-pw"

# The plain-HTTP virtual host: the same CertMap scope, and h2c allowed.
PLAIN_SNIPPET = r'''
Protocols h2c http/1.1
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
</Location>
'''

_forged = itertools.count(1)


def forged(tag=""):
    """A recognisable forged value; none may ever reach the backend."""
    return "FORGED%s-%d" % (tag, next(_forged))


# -- fixtures ----------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_httpd, backend):
    # mod_authn_file's {SHA} form, computed here
    sha = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest())
    return module_httpd(SNIPPET.replace("@PORT@", str(backend.port)),
                        plain_snippet=PLAIN_SNIPPET, dirs=["on", "pw"],
                        files={"conf/passwords": "%s:{SHA}%s\n"
                               % (ACCOUNT, sha.decode())})


@pytest.fixture(scope="module")
def expected(pki):
    """What the backend must receive for certuser, computed from the
    certificate in Python."""
    v = expected_values(pki.clients["certuser"].cert)
    return {"Client-Cert": v["rfc9440"], "SSL_CLIENT_CERT": v["pem"],
            "X-Remote-User": ACCOUNT.encode()}


# -- raw HTTP/1.x ------------------------------------------------------------

class RawResponse:
    def __init__(self, data):
        self.raw = data
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", lines[0] + b" ")
        assert m, "not an HTTP response: %r" % data[:300]
        self.status = int(m.group(1))
        self.headers = []
        for ln in lines[1:]:
            n, _, v = ln.partition(b":")
            self.headers.append((n.decode("latin-1").lower(),
                                 v.strip().decode("latin-1")))
        if self.header("transfer-encoding") == "chunked":
            body = _dechunk(body)
        self.body = body

    def header(self, name):
        vals = [v for n, v in self.headers if n == name.lower()]
        assert len(vals) <= 1, (name, vals)
        return vals[0] if vals else None

    def echoed(self):
        assert self.status == 200, self
        assert self.header("X-Echo") == "1", self
        return Echoed.from_body(self.body)

    def __repr__(self):
        return "<RawResponse %d %r>" % (self.status, self.raw[:600])


def _dechunk(body):
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    return out


def raw(srv, pki, request, client="certuser", tls=True, sni="localhost",
        port=None):
    """Send `request` (bytes, sent as they are) on a new connection and
    read until the server closes it.  client: a pki.clients name or
    None; tls=False speaks plain HTTP to the plain port (or `port`);
    sni: the TLS server name ("127.0.0.1": none is sent)."""
    if port is None:
        port = srv.port if tls else srv.plain_port
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        if tls:
            ctx = ssl_context(pki, pki.clients[client] if client else None)
            ctx.set_alpn_protocols(["http/1.1"])
            sock = ctx.wrap_socket(sock, server_hostname=sni)
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    return RawResponse(data)


def request(path, headers=(), host=b"localhost", version=b"HTTP/1.1",
            target=None):
    """A request head; headers are (name, value) bytes sent as given,
    in order, duplicates kept."""
    lines = [b"GET " + (target or path.encode()) + b" " + version]
    if host is not None:
        lines.append(b"Host: " + host)
    for n, v in headers:
        lines.append(n + b": " + v if n else v)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def assert_serving(srv, pki):
    """A normal mapped request on a new connection still works, and no
    httpd process crashed."""
    r = raw(srv, pki, request(unique("/on/index.html")))
    assert r.status == 200, r
    assert r.header("X-Remote-User") == ACCOUNT, r
    assert r.body == b"hello from the certmap test server\n", r
    log = srv.read_error_log()
    for bad in ("exit signal", "Segmentation fault", "AddressSanitizer",
                "runtime error:"):
        assert bad not in log, log[-3000:]


def assert_backend_clean(e, expected, marker=b"FORGED", allowed=()):
    """The backend got the module's own values, each exactly once, and no
    header holding a forged value (but those named in `allowed`)."""
    bad = [(n, v) for n, v in e.headers if marker in v.encode("latin-1")
           and n not in allowed]
    assert not bad, bad
    for name, value in expected.items():
        assert e.folded(name) == [(name, value)], (name, e.folded(name))


def assert_not_forwarded(backend, path):
    """httpd refused the request itself: nothing reached the backend."""
    assert backend.received(path.split("?", 1)[1]) == [], path


def h(name, value):
    return (name.encode("latin-1") if isinstance(name, str) else name,
            value.encode("latin-1") if isinstance(value, str) else value)


# -- oversized and repeated spoofable headers --------------------------------

@pytest.mark.parametrize("name,size", [
    ("Client-Cert", 8000),
    ("SSL_CLIENT_CERT", 8000),
    ("X-Remote-User", 8000),
    ("x_remote_user", 8000),
    ("ssl-client-cert", 4000),
    ("X-Forwarded-Client-Cert", 6000),
])
def test_oversized_spoofable_header_under_limit(srv, pki, expected, name,
                                                size):
    """Under LimitRequestFieldSize (8190): mapped, own identity, the
    forged value removed."""
    path = unique("/fwd/big")
    value = forged().encode() + b"A" * (size - 20)
    r = raw(srv, pki, request(path, [h(name, value)]))
    assert r.status == 200, r
    assert_backend_clean(r.echoed(), expected)
    assert_serving(srv, pki)


@pytest.mark.parametrize("name,size", [
    ("X-Remote-User", 100 * 1024),
    ("Client-Cert", 8200),
    ("SSL_CLIENT_CERT", 100 * 1024),
])
def test_header_beyond_field_size_limit(srv, pki, backend, name, size):
    """Beyond LimitRequestFieldSize httpd answers 400 itself."""
    path = unique("/fwd/huge")
    r = raw(srv, pki, request(path, [h(name, b"F" * size)]))
    assert r.status == 400, r
    assert b"Size of a request header field exceeds server limit" \
        in r.body, r
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


def test_repeated_header_under_field_count_limit(srv, pki, expected):
    """95 copies of X-Remote-User (+ Host, Connection: 97 fields): the
    backend gets the mapped account once."""
    path = unique("/fwd/many")
    hs = [h(n, forged()) for n in ["X-Remote-User"] * 60 +
          ["x_remote_user"] * 20 + ["CLIENT-CERT"] * 15]
    r = raw(srv, pki, request(path, hs))
    assert r.status == 200, r
    assert_backend_clean(r.echoed(), expected)
    assert_serving(srv, pki)


def test_repeated_header_beyond_field_count_limit(srv, pki, backend):
    """100 copies of X-Remote-User + Host: beyond LimitRequestFields
    (100), 400 from httpd."""
    path = unique("/fwd/toomany")
    r = raw(srv, pki, request(path, [h("X-Remote-User", forged())] * 100))
    assert r.status == 400, r
    assert b"The number of request header fields exceeds this server's " \
        b"limit" in r.body, r
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


def test_many_cookies_and_headers_while_mapped(srv, pki, expected):
    """A request near every limit (a 7.5 KB Cookie of 400 cookies and 90
    other headers) is mapped; the cookies reach the backend whole."""
    path = unique("/fwd/cookies")
    cookie = "; ".join("c%d=%s" % (i, "v" * 12) for i in range(400))
    assert len(cookie) < 8190 - 8
    hs = [h("Cookie", cookie)]
    hs += [h("X-Filler-%d" % i, "x" * 70) for i in range(88)]
    hs += [h("X-Remote-User", forged()), h("Client-Cert", ":" + forged())]
    r = raw(srv, pki, request(path, hs))
    assert r.status == 200, r
    e = r.echoed()
    assert_backend_clean(e, expected)
    assert e.all("Cookie") == [cookie.encode()]
    assert len([n for n, _ in e.headers if n.startswith("X-Filler-")]) == 88
    assert_serving(srv, pki)


def test_positive_control_unscrubbed_header_arrives(srv, pki):
    """The echo backend does show a forged value when nothing removes it
    (a header outside the family): the checks above can see forgery."""
    path = unique("/fwd/control")
    value = forged()
    r = raw(srv, pki, request(path, [h("X-Not-An-Identity", value),
                                     h("X-Remote-User", forged())]))
    e = r.echoed()
    assert e.all("X-Not-An-Identity") == [value.encode()]
    with pytest.raises(AssertionError):
        assert_backend_clean(e, {})
    assert_backend_clean(e, {"X-Remote-User": ACCOUNT.encode()},
                         allowed=("X-Not-An-Identity",))


def test_forged_identity_in_chunked_trailers(srv, pki, expected):
    """Identity headers sent as trailers of a chunked body do not reach
    the backend (as headers or otherwise); the body does."""
    path = unique("/fwd/trailers")
    req = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
           b"Transfer-Encoding: chunked\r\n"
           b"Trailer: X-Remote-User, Client-Cert\r\n"
           b"Connection: close\r\n\r\n"
           b"5\r\nhello\r\n0\r\n"
           b"X-Remote-User: FORGED-TRAILER\r\n"
           b"Client-Cert: :FORGED:\r\n\r\n")
    r = raw(srv, pki, req)
    assert r.status == 200, r
    e = r.echoed()
    assert base64.b64decode(e.data["body_b64"]) == b"hello"
    assert b"FORGED" not in e.raw
    assert_backend_clean(e, expected)
    assert_serving(srv, pki)


def test_pipelined_requests_each_scrubbed(srv, pki, expected):
    """Three pipelined requests in one write, forged headers in the
    second and third: each mapped, each backend request clean."""
    paths = [unique("/fwd/pipe") for _ in range(3)]
    data = b""
    for i, p in enumerate(paths):
        hs = [h("Host", "localhost")]
        if i:
            hs += [h("x_remote_user", forged()), h("CLIENT-CERT", forged())]
        if i == 2:
            hs.append(h("Connection", "close"))
        data += b"GET " + p.encode() + b" HTTP/1.1\r\n" + \
            b"".join(n + b": " + v + b"\r\n" for n, v in hs) + b"\r\n"
    r = raw(srv, pki, data)
    responses = split_responses(r.raw)
    assert [x.status for x in responses] == [200, 200, 200], r
    for p, x in zip(paths, responses):
        e = x.echoed()
        assert e.target == p
        assert_backend_clean(e, expected)
    assert_serving(srv, pki)


def split_responses(data):
    """Several HTTP/1.1 responses (each with a Content-Length) in a row."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        assert m, data[:500]
        n = int(m.group(1))
        out.append(RawResponse(head + b"\r\n\r\n" + rest[:n]))
        data = rest[n:]
    return out


# Other spellings of /on/index.html: httpd normalises the path before it
# matches <Location>, so each one is still the CertMap scope (403 for an
# unmapped certificate) or refused before any access check (400/404) -
# never the file.  (path, unmapped status, mapped status)
PATH_VARIANTS = [
    ("/%6fn/index.html", 403, 200),
    ("//on/index.html", 403, 200),
    ("/on//index.html", 403, 200),
    ("/x/../on/index.html", 403, 200),
    ("/on/./index.html", 403, 200),
    ("/on/%2e/index.html", 403, 200),
    ("/on/%ff%fe.html", 403, 404),
    ("/on%2findex.html", 404, 404),
    ("/on/%00index.html", 404, 404),
    ("/ON/index.html", 404, 404),
]


@pytest.mark.parametrize("path,unmapped,mapped", PATH_VARIANTS,
                         ids=[p for p, _, _ in PATH_VARIANTS])
def test_path_spellings_of_certmap_scope(srv, pki, path, unmapped, mapped):
    r = raw(srv, pki, request(unique(path), [h("X-Remote-User", ACCOUNT)]),
            client="other")
    assert r.status == unmapped, r
    assert b"hello from the certmap test server" not in r.body, r
    if unmapped == 403:
        assert r.header("X-Certmap-Reason") == "cert-unmapped", r
    r = raw(srv, pki, request(unique(path)))
    assert r.status == mapped, r
    if mapped == 200:
        assert r.header("X-Remote-User") == ACCOUNT, r
        assert r.body == b"hello from the certmap test server\n", r
    assert_serving(srv, pki)


@pytest.mark.parametrize("target,unmapped,mapped", [
    (b"/on/\xff\xfeindex.html", 403, 404),
    (b"/on/\x01index.html", 400, 400),
    (b"/on/ index.html", 400, 400),
    (b"/on/index.html\x7f", 400, 400),
], ids=["high-bytes", "control", "blank", "del"])
def test_junk_in_request_line(srv, pki, target, unmapped, mapped):
    """Control bytes, DEL or a blank in the request target: httpd's 400
    before any mapping (no CERTMAP_REASON).  Raw bytes 0x80-0xff pass
    httpd and stay in the CertMap scope: 403 unmapped, 404 (no such file)
    when mapped."""
    for client, status in (("other", unmapped), ("certuser", mapped)):
        r = raw(srv, pki, request("", target=target + b"?" +
                                  unique("").encode()[1:]), client=client)
        assert r.status == status, (client, r)
        assert r.header("X-Certmap-Reason") == (
            "cert-unmapped" if status == 403 else NOT_SET), r
        assert b"hello from the certmap test server" not in r.body, r
    assert_serving(srv, pki)


# -- junk bytes in headers ----------------------------------------------------

# (id, header line bytes, status): 200 = accepted, mapped, forged value
# removed; 400 = httpd refuses the request (HttpProtocolOptions Strict,
# httpd's default, and RFC 9110/9112's grammar).
JUNK = [
    # obs-text (0x80-0xff) is allowed in field values
    ("high-bytes-in-value", b"X-Remote-User: FORGED\x80\xe9\xff", 200),
    ("utf8-in-value", "Client-Cert: FORGED-\u00e9\u20ac".encode(), 200),
    ("tab-in-value", b"SSL_CLIENT_CERT: FORGED\tx", 200),
    ("empty-value", b"Client-Cert:", 200),
    ("underscore-name", b"X_REMOTE_USER: FORGED", 200),
    ("mixed-case-name", b"x-ReMoTe-uSeR: FORGED", 200),
    ("mixed-separators", b"Ssl-Client_CERT: FORGED", 200),
    # control characters, NUL and bare CR are not field content
    ("nul-in-value", b"X-Remote-User: FORGED\x00x", 400),
    ("control-in-value", b"X-Remote-User: FORGED\x01x", 400),
    ("escape-in-value", b"Client-Cert: FORGED\x1b[31m", 400),
    ("del-in-value", b"X-Remote-User: FORGED\x7fx", 400),
    ("bare-cr-in-value", b"X-Remote-User: FORGED\rX-Other: y", 400),
    # obs-fold: httpd replaces it with a blank (RFC 9112 5.2 allows that
    # or a 400), so it is one forged value of the header, removed
    ("obs-fold", b"X-Remote-User: FORGED\r\n  continued", 200),
    ("obs-fold-tab", b"Client-Cert: :FORGED\r\n\t:", 200),
    ("obs-fold-hides-name", b"X-Other: a\r\n X-Remote-User: FORGED", 200),
    # names that are not tokens
    ("blank-before-colon", b"X-Remote-User : FORGED", 400),
    ("blank-in-name", b"X Remote-User: FORGED", 400),
    ("paren-in-name", b"X-Remote(User): FORGED", 400),
    ("high-byte-in-name", b"X-Remote-\xe9ser: FORGED", 400),
    ("no-colon", b"X-Remote-User FORGED", 400),
    ("empty-name", b": FORGED", 400),
]


@pytest.mark.parametrize("line,status", [j[1:] for j in JUNK],
                         ids=[j[0] for j in JUNK])
def test_junk_in_spoofable_header(srv, pki, backend, expected, line, status):
    path = unique("/fwd/junk")
    r = raw(srv, pki, request(path, [(b"", line)]))
    assert r.status == status, r
    if status == 200:
        e = r.echoed()
        if line.startswith(b"X-Other"):
            # the folded line is part of X-Other's value, not a header
            assert e.all("X-Other") == [b"a X-Remote-User: FORGED"], e
        assert_backend_clean(e, expected, allowed=("X-Other",))
    else:
        assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


# -- plain HTTP, HTTP/1.0, absolute URIs --------------------------------------

def test_plain_http_to_certmap_scope(srv, pki):
    """No TLS at all: 403 tls-required (IIS's 403.4)."""
    path = unique("/on/index.html")
    r = raw(srv, pki, request(path), tls=False)
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "tls-required", r
    assert r.header("X-Remote-User") == "", r
    assert b"403.4" in r.body and b"(tls-required)" in r.body, r
    line = srv.wait_access_line(path)
    assert line.endswith('" 403 %d "tls-required"' % len(r.body)), line
    assert len(srv.wait_error_lines("CERTMAP0001", "tls-required")) >= 1
    # a forged identity header on plain HTTP changes nothing
    path = unique("/on/index.html")
    r = raw(srv, pki, request(path, [h("X-Remote-User", forged()),
                                     h("SSL_CLIENT_CERT", forged())]),
            tls=False)
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "tls-required", r
    assert_serving(srv, pki)


@pytest.mark.parametrize("target,headers", [
    (b"https://localhost/on/index.html", []),
    (None, [("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"),
            ("HTTPS", "on"), ("Front-End-Https", "on"),
            ("SSL_CLIENT_VERIFY", "SUCCESS"),
            ("X-Forwarded-Client-Cert", "Hash=" + "ab" * 32)]),
], ids=["https-absolute-uri", "tls-claiming-headers"])
def test_plain_http_claiming_tls(srv, pki, target, headers):
    """Over plain HTTP, an https:// request target or headers claiming
    TLS and a verified certificate change nothing: 403 tls-required."""
    path = unique("/on/index.html")
    if target:
        target += path[len("/on/index.html"):].encode()
    r = raw(srv, pki, request(path, [h(n, v) for n, v in headers],
                              target=target), tls=False)
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "tls-required", r
    assert r.header("X-Remote-User") == "", r
    assert_serving(srv, pki)


def test_plain_http_to_tls_port(srv, pki):
    """Plain HTTP spoken to the TLS port: mod_ssl's 400."""
    r = raw(srv, pki, request(unique("/on/index.html")), tls=False,
            port=srv.port)
    assert r.status == 400, r
    assert b"speaking plain HTTP to an SSL-enabled server port" in r.body, r
    assert_serving(srv, pki)


def test_http10_without_host(srv, pki):
    """HTTP/1.0 needs no Host: mapped as usual when the client sent no
    TLS server name."""
    path = unique("/on/index.html")
    r = raw(srv, pki, request(path, host=None, version=b"HTTP/1.0"),
            sni="127.0.0.1")
    assert r.status == 200, r
    assert r.header("X-Remote-User") == ACCOUNT, r
    assert_serving(srv, pki)


def test_http10_without_host_unmapped(srv, pki):
    path = unique("/on/index.html")
    r = raw(srv, pki, request(path, host=None, version=b"HTTP/1.0"),
            client="other", sni="127.0.0.1")
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "cert-unmapped", r
    assert_serving(srv, pki)


def test_http10_without_host_after_sni(srv, pki, backend):
    """A TLS server name but no Host: mod_ssl's 400 (AH02031), before
    any mapping; nothing forwarded."""
    path = unique("/fwd/nohost10")
    r = raw(srv, pki, request(path, [h("X-Remote-User", forged())],
                              host=None, version=b"HTTP/1.0"))
    assert r.status == 400, r
    assert r.header("X-Certmap-Reason") == NOT_SET, r
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


def test_http11_without_host(srv, pki, backend):
    """HTTP/1.1 without Host: 400 from httpd, before any mapping."""
    path = unique("/fwd/nohost")
    r = raw(srv, pki, request(path, host=None))
    assert r.status == 400, r
    assert r.header("X-Certmap-Reason") == NOT_SET, r
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


@pytest.mark.parametrize("sni", ["localhost", "127.0.0.1"],
                         ids=["sni", "no-sni"])
def test_absolute_uri_for_another_host(srv, pki, expected, sni):
    """GET https://evil.example/... on this server's TLS port: the only
    virtual host of the port answers it (no forward proxy is configured),
    with the client's own identity and nothing forged at the backend."""
    path = unique("/fwd/abs")
    target = b"https://evil.example" + path.encode()
    r = raw(srv, pki, request(path, [h("X-Remote-User", forged())],
                              target=target), sni=sni)
    assert r.status == 200, r
    e = r.echoed()
    assert e.target == path, e.target
    assert_backend_clean(e, expected)
    # and a CertMap On scope still wants the certificate
    path = unique("/on/index.html")
    r = raw(srv, pki, request(path, target=b"https://evil.example" +
                              path.encode()), client="other", sni=sni)
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "cert-unmapped", r
    assert_serving(srv, pki)


def test_absolute_uri_other_scheme_and_port(srv, pki, expected):
    """http://other:81/... to the TLS port: served here, mapped here."""
    path = unique("/fwd/abs2")
    r = raw(srv, pki, request(path, [h("Client-Cert", forged())],
                              target=b"http://other.example:81" +
                              path.encode()))
    assert r.status == 200, r
    assert_backend_clean(r.echoed(), expected)
    assert_serving(srv, pki)


# -- bad credentials where CertMapPassword asks for them --------------------

def basic(user_pass):
    return b"Basic " + base64.b64encode(user_pass)


REALM = 'Basic realm="Password for the certificate\'s account"'
# (Authorization header values or None, status, CERTMAP_REASON)
BAD_CREDENTIALS = [
    ("none", [], 401, "password-required"),
    ("not-base64", [b"Basic !!!***"], 401, "password-required"),
    # httpd reads no ':' as the user with an empty password
    ("no-colon", [basic(b"W2K3TEST\\certuser")], 401, "password-wrong"),
    ("empty-user", [basic(b":" + PASSWORD.encode())], 401,
     "password-required"),
    ("other-scheme", [b"Digest username=\"W2K3TEST\\certuser\""], 401,
     "password-required"),
    ("wrong-password", [basic(b"W2K3TEST\\certuser:nope")], 401,
     "password-wrong"),
    ("huge-password", [basic(b"W2K3TEST\\certuser:" + b"p" * 5000)], 401,
     "password-wrong"),
    ("control-in-user", [basic(b"W2K3TEST\\cert\x01user:" +
                               PASSWORD.encode())], 401, "password-wrong"),
    ("invalid-utf8-user", [basic(b"W2K3TEST\\cert\xffuser:" +
                                 PASSWORD.encode())], 401, "password-wrong"),
    ("two-backslashes", [basic(b"W2K3TEST\\a\\certuser:" +
                               PASSWORD.encode())], 401, "password-wrong"),
    ("other-account", [basic(b"W2K3TEST\\other:" + PASSWORD.encode())],
     403, "cert-mismatch"),
    ("other-domain", [basic(b"EVIL\\certuser:" + PASSWORD.encode())], 403,
     "cert-mismatch"),
    # httpd joins them with ", "; the first credentials are decoded
    ("two-headers", [basic(b"W2K3TEST\\other:x"),
                     basic(b"W2K3TEST\\certuser:" + PASSWORD.encode())],
     403, "cert-mismatch"),
    ("right", [basic(b"W2K3TEST\\certuser:" + PASSWORD.encode())], 200,
     NOT_SET),
    ("right-bare-user-lower-domain",
     [basic(b"w2k3test\\certuser:" + PASSWORD.encode())], 200, NOT_SET),
]


@pytest.mark.parametrize("auth,status,reason",
                         [c[1:] for c in BAD_CREDENTIALS],
                         ids=[c[0] for c in BAD_CREDENTIALS])
def test_bad_credentials_with_certificate(srv, pki, auth, status, reason):
    path = unique("/pw/index.html")
    r = raw(srv, pki, request(path, [(b"Authorization", a) for a in auth]))
    assert r.status == status, r
    assert r.header("X-Certmap-Reason") == reason, r
    if status == 401:
        assert r.header("WWW-Authenticate") == REALM, r
    if status == 200:
        assert r.header("X-Remote-User") == ACCOUNT, r
        assert r.header("X-Auth-Type") == "Certificate", r
    else:
        assert r.header("X-Remote-User") == "", r
    assert_serving(srv, pki)


# -- HTTP/2 with curl ---------------------------------------------------------

def curl_h2(srv, pki, path, client="certuser", headers=(), plain=False,
            extra=()):
    """(http_version, status, response headers {lower name: value},
    body) of one curl request over HTTP/2 (TLS+ALPN, or h2c)."""
    cmd = ["curl", "-sS", "--noproxy", "*", "-D", "-", "-w",
           "\\nCURL_VERSION=%{http_version} CURL_STATUS=%{http_code}\\n"]
    if plain:
        url = "http://127.0.0.1:%d%s" % (srv.plain_port, path)
    else:
        url = "https://127.0.0.1:%d%s" % (srv.port, path)
        cmd += ["--cacert", pki.root_pem, "--http2"]
        if client:
            c = pki.clients[client]
            cmd += ["--cert", c.cert_pem, "--key", c.key_pem]
    for n, v in headers:
        cmd += ["-H", "%s: %s" % (n, v)]
    cmd += list(extra) + [url]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    m = re.search(rb"\nCURL_VERSION=(\S+) CURL_STATUS=(\d+)\n$", out)
    assert m, out
    out = out[:m.start()]
    # the last header block (after a 101 for an h2c upgrade)
    blocks = out.split(b"\r\n\r\n")
    heads = [i for i, b in enumerate(blocks) if b.startswith(b"HTTP/")]
    head = blocks[heads[-1]]
    body = b"\r\n\r\n".join(blocks[heads[-1] + 1:])
    hdrs = {}
    for ln in head.split(b"\r\n")[1:]:
        n, _, v = ln.partition(b":")
        hdrs[n.strip().lower().decode()] = v.strip().decode("latin-1")
    return m.group(1).decode(), int(m.group(2)), hdrs, body


def test_h2_mapped(srv, pki):
    ver, status, hdrs, body = curl_h2(srv, pki, unique("/on/index.html"))
    assert (ver, status) == ("2", 200)
    assert hdrs["x-remote-user"] == ACCOUNT
    assert hdrs["x-auth-type"] == "Certificate"
    assert body == b"hello from the certmap test server\n"


def test_h2_forged_headers_stripped(srv, pki, expected):
    path = unique("/fwd/h2")
    ver, status, hdrs, body = curl_h2(srv, pki, path, headers=[
        ("X-Remote-User", forged()), ("x_remote_user", forged()),
        ("Client-Cert", ":" + forged() + ":"),
        ("SSL_CLIENT_CERT", forged()), ("Ssl-Client-Cert", forged()),
        ("X-Forwarded-Client-Cert", forged())])
    assert (ver, status) == ("2", 200)
    e = Echoed.from_body(body)
    assert e.target == path
    assert_backend_clean(e, expected)


@pytest.mark.parametrize("client,reason", [("other", "cert-unmapped"),
                                           (None, "cert-required")],
                         ids=["unmapped", "nocert"])
def test_h2_refused(srv, pki, backend, client, reason):
    path = unique("/fwd/h2refused")
    ver, status, hdrs, body = curl_h2(srv, pki, path, client=client,
                                      headers=[("X-Remote-User", forged())])
    assert (ver, status) == ("2", 403)
    assert hdrs["x-certmap-reason"] == reason
    assert hdrs["x-remote-user"] == ""
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)


@pytest.mark.parametrize("mode,version", [("prior-knowledge", "2"),
                                          ("upgrade", "1.1")])
def test_h2c_to_certmap_scope(srv, pki, mode, version):
    """Cleartext HTTP/2 is no more TLS than HTTP/1.1: 403 tls-required.
    An Upgrade: h2c is carried out by httpd's handler phase, which a
    refused request never reaches: the 403 comes over HTTP/1.1."""
    path = unique("/on/index.html")
    extra = ["--http2-prior-knowledge"] if mode == "prior-knowledge" \
        else ["--http2"]
    # the control: outside the CertMap scope the same request is h2
    assert curl_h2(srv, pki, unique("/index.html"), client=None,
                   plain=True, extra=extra)[:2] == ("2", 200)
    ver, status, hdrs, body = curl_h2(
        srv, pki, path, client=None, plain=True, extra=extra,
        headers=[("X-Remote-User", forged())])
    assert (ver, status) == (version, 403)
    assert hdrs["x-certmap-reason"] == "tls-required"
    assert b"(tls-required)" in body
    line = srv.wait_access_line(path)
    assert '" 403 ' in line and line.endswith('"tls-required"'), line
    assert_serving(srv, pki)


# -- HTTP/2 with raw frames (python3-h2) --------------------------------------



class H2Result:
    def __init__(self):
        self.headers = None
        self.body = b""
        self.reset = None
        self.ended = False

    @property
    def status(self):
        return int(dict(self.headers)[b":status"]) if self.headers else None

    def header(self, name):
        vals = [v.decode("latin-1") for n, v in self.headers or []
                if n == name.lower().encode()]
        assert len(vals) <= 1, vals
        return vals[0] if vals else None

    def __repr__(self):
        return "<H2 %r reset=%r %r>" % (self.headers, self.reset,
                                        self.body[:300])


def h2_exchange(srv, pki, requests, client="certuser", validate=True):
    """Open one TLS connection with ALPN h2, send every request (a list
    of header lists, pseudo-headers included) as concurrent streams, and
    collect the answers.  validate=False lets malformed headers out.
    Returns ([H2Result per request], goaway error code or None)."""
    ctx = ssl_context(pki, pki.clients[client] if client else None)
    ctx.set_alpn_protocols(["h2"])
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding=None,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
            validate_inbound_headers=False))
        conn.initiate_connection()
        results = {}
        for hs in requests:
            sid = conn.get_next_available_stream_id()
            results[sid] = H2Result()
            conn.send_headers(sid, hs, end_stream=True)
        tls.sendall(conn.data_to_send())
        pending, goaway = set(results), None
        while pending:
            data = tls.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                res = results.get(getattr(ev, "stream_id", None))
                if isinstance(ev, h2.events.ResponseReceived):
                    res.headers = ev.headers
                elif isinstance(ev, h2.events.DataReceived):
                    res.body += ev.data
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    res.ended = True
                    pending.discard(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    res.reset = ev.error_code
                    pending.discard(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    goaway = ev.error_code
                    pending.clear()
            out = conn.data_to_send()
            if out:
                tls.sendall(out)
        return [results[s] for s in sorted(results)], goaway
    finally:
        tls.close()


def h2_get(path, extra=(), authority=b"localhost"):
    return [(b":method", b"GET"), (b":scheme", b"https"),
            (b":authority", authority), (b":path", path.encode())] + \
        [h(n, v) for n, v in extra]


@needs_h2
def test_h2_many_streams_each_mapped(srv, pki, expected):
    """40 concurrent streams on one connection, half to a static file and
    half proxied with forged identity headers: every one 200 with the
    client's own identity, no forged value at the backend."""
    paths = [unique("/on/index.html") if i % 2 else unique("/fwd/stream")
             for i in range(40)]
    reqs = [h2_get(p, [] if i % 2 else
                   [("x-remote-user", forged()),
                    ("client-cert", ":" + forged() + ":"),
                    ("ssl_client_cert", forged())])
            for i, p in enumerate(paths)]
    results, goaway = h2_exchange(srv, pki, reqs)
    assert goaway is None
    for p, res in zip(paths, results):
        assert res.reset is None and res.ended, (p, res)
        assert res.status == 200, (p, res)
        assert res.header("x-remote-user") == ACCOUNT, (p, res)
        if p.startswith("/fwd/"):
            e = Echoed.from_body(res.body)
            assert e.target == p
            assert_backend_clean(e, expected)
        else:
            assert res.body == b"hello from the certmap test server\n"
    assert_serving(srv, pki)


@needs_h2
def test_h2_unmapped_many_streams(srv, pki, backend):
    paths = [unique("/fwd/unmapped") for _ in range(10)]
    results, goaway = h2_exchange(
        srv, pki, [h2_get(p, [("x-remote-user", ACCOUNT)]) for p in paths],
        client="other")
    assert goaway is None
    for p, res in zip(paths, results):
        assert res.status == 403, res
        assert res.header("x-certmap-reason") == "cert-unmapped", res
        assert_not_forwarded(backend, p)


# Malformed HTTP/2 requests (RFC 9113 8.2, 8.3): each is a stream error;
# the stream is reset (RST_STREAM PROTOCOL_ERROR) without an answer, never
# forwarded, and the next stream on the same connection is served.
H2_MALFORMED = [
    ("uppercase-name", [("X-Remote-User", "FORGED")]),
    ("uppercase-spoof-name", [("Client-Cert", ":Rk9SR0VE:")]),
    ("connection-header", [("connection", "keep-alive"),
                           ("x-remote-user", "FORGED")]),
    ("pseudo-after-regular", [("x-remote-user", "FORGED"),
                              (":authority", "localhost")]),
    ("unknown-pseudo", [(":user", "FORGED")]),
    ("newline-in-value", [("x-remote-user", "FORGED\r\nx-a: b")]),
    ("nul-in-value", [("x-remote-user", "FORGED\x00x")]),
    ("colon-in-name", [("x-remote:user", "FORGED")]),
]


@needs_h2
@pytest.mark.parametrize("extra", [m[1] for m in H2_MALFORMED],
                         ids=[m[0] for m in H2_MALFORMED])
def test_h2_malformed_stream(srv, pki, backend, expected, extra):
    bad_path = unique("/fwd/malformed")
    good_path = unique("/fwd/after")
    results, goaway = h2_exchange(srv, pki, [
        h2_get(bad_path, extra), h2_get(good_path)], validate=False)
    bad, good = results
    assert goaway is None, goaway
    assert bad.reset == h2.errors.ErrorCodes.PROTOCOL_ERROR, bad
    assert bad.headers is None, bad
    assert_not_forwarded(backend, bad_path)
    assert good.status == 200, good
    assert_backend_clean(Echoed.from_body(good.body), expected)
    assert_serving(srv, pki)


@needs_h2
def test_h2_duplicate_path(srv, pki, backend):
    bad_path = unique("/fwd/dup")
    req = h2_get(bad_path) + [(b":path", unique("/on/index.html").encode())]
    results, goaway = h2_exchange(srv, pki, [req, h2_get(unique(
        "/on/index.html"))], validate=False)
    bad, good = results
    assert goaway is None, goaway
    assert bad.reset == h2.errors.ErrorCodes.PROTOCOL_ERROR, bad
    assert bad.headers is None, bad
    assert_not_forwarded(backend, bad_path)
    assert good.status == 200 and good.header("x-remote-user") == ACCOUNT
    assert_serving(srv, pki)


@needs_h2
def test_h2_forged_identity_in_trailers(srv, pki, expected):
    """HTTP/2 request trailers (a HEADERS frame after the body) with
    identity headers: mapped, the body forwarded, nothing forged."""
    path = unique("/fwd/h2trailers")
    ctx = ssl_context(pki, pki.clients["certuser"])
    ctx.set_alpn_protocols(["h2"])
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    tls = ctx.wrap_socket(sock, server_hostname="localhost")
    try:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding=None))
        conn.initiate_connection()
        hs = h2_get(path)
        hs[0] = (b":method", b"POST")
        conn.send_headers(1, hs)
        conn.send_data(1, b"hello")
        conn.send_headers(1, [(b"x-remote-user", b"FORGED-T"),
                              (b"client-cert", b":FORGED:")],
                          end_stream=True)
        tls.sendall(conn.data_to_send())
        res = H2Result()
        while not (res.ended or res.reset is not None):
            data = tls.recv(65536)
            assert data, res
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    res.headers = ev.headers
                elif isinstance(ev, h2.events.DataReceived):
                    res.body += ev.data
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    res.ended = True
                elif isinstance(ev, h2.events.StreamReset):
                    res.reset = ev.error_code
            out = conn.data_to_send()
            if out:
                tls.sendall(out)
    finally:
        tls.close()
    assert res.status == 200, res
    e = Echoed.from_body(res.body)
    assert base64.b64decode(e.data["body_b64"]) == b"hello"
    assert b"FORGED" not in e.raw
    assert_backend_clean(e, expected)
    assert_serving(srv, pki)


@needs_h2
@pytest.mark.parametrize("what", ["field-9k", "fields-150", "field-100k"])
def test_h2_header_limits(srv, pki, backend, expected, what):
    """httpd's limits hold over HTTP/2 too: LimitRequestFieldSize and
    LimitRequestFields give 431 for the stream, and the next stream on
    the connection is served; a 100 KB field is beyond what HPACK
    decoding takes (nghttp2: 64 KB), a connection error
    (GOAWAY COMPRESSION_ERROR).  Nothing forwarded either way."""
    path = unique("/fwd/h2limit")
    after = unique("/fwd/h2after")
    if what == "field-9k":
        extra = [("x-remote-user", "F" * 9000)]
    elif what == "fields-150":
        extra = [("x-remote-user", forged()) for _ in range(150)]
    else:
        extra = [("x-remote-user", "F" * (100 * 1024))]
    results, goaway = h2_exchange(srv, pki, [h2_get(path, extra),
                                             h2_get(after)])
    res, nxt = results
    if what == "field-100k":
        assert goaway == h2.errors.ErrorCodes.COMPRESSION_ERROR, goaway
        assert res.headers is None and nxt.headers is None
    else:
        assert goaway is None, goaway
        assert res.status == 431, res
        assert b"Request Header Fields Too Large" in res.body, res
        assert nxt.status == 200, nxt
        assert_backend_clean(Echoed.from_body(nxt.body), expected)
    assert_not_forwarded(backend, path)
    assert_serving(srv, pki)
