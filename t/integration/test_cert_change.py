"""A client certificate that CHANGES inside one connection: the client
presents A and, when mod_ssl asks again, B.  Every request after the
change must get B's identity (or B's refusal) — in the CGI environment,
the forwarded headers and the access log's %u — never A's: the module's
per-connection cache of the parsed certificate, of the tables' decision
and of the forwarded values must follow the certificate.

Python's ssl cannot answer a second certificate request with another
certificate, so the client is t/tls/certswap.c, compiled here with gcc
against OpenSSL (build/deps.sh installs both).

How mod_ssl 2.4 asks again (modules/ssl/ssl_engine_kernel.c), as measured
here with OpenSSL 3.0:
- TLS 1.2 (ssl_hook_Access_classic): vhost `SSLVerifyClient optional`, a
  <Location> with `require` is a FULL renegotiation (AH02260) in which the
  client may send another certificate (the "quick" one, without a new
  handshake, needs SSLOptions +OptRenegotiate and a vhost with
  `SSLVerifyClient none`); so is a <Location> whose SSLCipherSuite differs
  from the connection's.  Both are tested.
- TLS 1.3 (ssl_hook_Access_modern): post-handshake authentication, but
  mod_ssl always adds SSL_VERIFY_CLIENT_ONCE and OpenSSL then sends no
  second CertificateRequest on the connection (send_certificate_request):
  SSL_verify_client_post_handshake() fails, AH10158, 403.  A certificate
  can only ARRIVE (none -> B, vhost without SSLVerifyClient), never
  change; the TLS 1.3 tests check exactly that, and demand B's identity
  should a later mod_ssl/OpenSSL ever get B.
- HTTP/2: mod_ssl refuses both on a stream ("ssl-renegotiate-forbidden",
  403), mod_http2 resets the stream with HTTP_1_1_REQUIRED.
"""
import base64
import os
import re
import shutil
import subprocess

import pytest

from client import curl, unique
from checks import SUBSTATUS

HERE = os.path.dirname(os.path.abspath(__file__))
CERTSWAP_SRC = os.path.join(HERE, "..", "tls", "certswap.c")

CERTUSER = "W2K3TEST\\certuser"
BOB = "W2K3TEST\\bob"

# Prints the whole CGI environment: identity, mod_ssl's view of the
# certificate (serial, subject) and the forwarded headers.
WHO_CGI = """#!/usr/bin/python3 -S
import os
print("Content-Type: text/plain")
print()
for k in sorted(os.environ):
    print("%s=%s" % (k, os.environ[k]))
"""

SNIPPET = r'''
Protocols h2 http/1.1
CertMap On
CertMapUser certs/certuser.cer "W2K3TEST\certuser"
CertMapUser certs/bob.cer "W2K3TEST\bob"
CertMapDeny certs/denied.cer
CertMapForward arr
CertMapForwardUser
<Location /opt>
    CertMap Optional
</Location>
# TLS 1.3: post-handshake auth; TLS 1.2: full renegotiation
<Location /again>
    SSLVerifyClient require
</Location>
# TLS 1.2: full renegotiation for the cipher suite; TLS 1.3: as /again
<Location /cipher>
    SSLVerifyClient require
    SSLCipherSuite ECDHE-ECDSA-AES256-GCM-SHA384
</Location>
# Asks a further time after /again or /cipher: TLS 1.2 for another cipher
# suite; TLS 1.3 for the lower depth (which OpenSSL then refuses).
<Location /depth>
    SSLVerifyClient optional
    SSLVerifyDepth 2
    SSLCipherSuite ECDHE-ECDSA-CHACHA20-POLY1305
</Location>
'''

DIRS = ["a", "opt", "again", "cipher", "depth"]


@pytest.fixture(scope="module")
def certswap(tmp_path_factory):
    """The compiled test client (skips only without a C toolchain)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (build/deps.sh installs it): "
                    "cannot build the certificate-switching client")
    if not os.path.isfile("/usr/include/openssl/ssl.h"):
        pytest.skip("OpenSSL headers missing (libssl-dev, installed by "
                    "build/deps.sh): cannot build the certificate-switching "
                    "client")
    out = str(tmp_path_factory.mktemp("certswap") / "certswap")
    p = subprocess.run([gcc, "-std=c99", "-D_POSIX_C_SOURCE=200809L",
                        "-Wall", "-Wextra", "-Werror", "-O1", "-o", out,
                        CERTSWAP_SRC, "-lssl", "-lcrypto"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    assert p.returncode == 0, "certswap.c does not build:\n" + \
        p.stdout.decode(errors="replace")
    return out


def start_server(module_httpd, verify):
    files = {"htdocs/%s/who.cgi" % d: WHO_CGI for d in DIRS}
    s = module_httpd(SNIPPET, start=False, dirs=DIRS, files=files,
                     verify=verify, loglevel="warn certmap:debug ssl:debug")
    for d in DIRS:
        os.chmod(s.path("htdocs/%s/who.cgi" % d), 0o755)
    s.start()
    return s


@pytest.fixture(scope="module")
def srv(module_httpd):
    """The vhost asks for a certificate in the handshake (optional)."""
    return start_server(module_httpd, "optional")


@pytest.fixture(scope="module")
def srv_none(module_httpd):
    """No SSLVerifyClient in the vhost: only <Location>s ask."""
    return start_server(module_httpd, None)


# ---------------------------------------------------------------------------
# Running the client and reading what it printed

class Answer:
    def __init__(self, path, port):
        self.path = path
        self.client_port = port
        self.status = None
        self.headers = {}
        self.body = b""
        self.cert_requests_before = 0   # answered before this response

    @property
    def env(self):
        out = {}
        for line in self.body.decode(errors="replace").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out

    def __repr__(self):
        return "<Answer %s %s %r>" % (self.path, self.status,
                                      self.body[:300])


class Run:
    """What certswap printed for one connection."""

    def __init__(self, out):
        self.version = None
        self.port = None
        self.cert_requests = []     # names presented, in order
        self.answers = []
        lines = out.split(b"\n")
        i = 0
        cur = None
        while i < len(lines):
            line = lines[i].decode(errors="replace")
            i += 1
            if line.startswith("connected "):
                _, self.version, _, port = line.split()
                self.port = int(port)
            elif line.startswith("certificate-request "):
                self.cert_requests.append(line.split(" ", 2)[2])
            elif line.startswith("request "):
                cur = Answer(line.split(" ", 2)[2], None)
                self.answers.append(cur)
            elif line.startswith("local-port "):
                cur.client_port = int(line.split()[1])
            elif line.startswith("status "):
                cur.status = int(line.split()[1])
                cur.cert_requests_before = len(self.cert_requests)
            elif line.startswith("header "):
                k, v = line[7:].split(":", 1)
                cur.headers[k.strip().lower()] = v.strip()
            elif line.startswith("body "):
                n = int(line.split()[1])
                rest = b"\n".join(lines[i:])
                cur.body = rest[:n]
                rest = rest[n:]
                assert rest.startswith(b"\nend\n"), rest[:100]
                lines = rest[len(b"\nend\n"):].split(b"\n")
                i = 0


def run(certswap, srv, pki, tls, certs, paths):
    """One connection: `certs` (client names or None = decline) presented
    at successive certificate requests, `paths` requested in order (each
    made unique for the access log)."""
    cmd = [certswap, "-p", str(srv.port), "-A", pki.root_pem, "-t", tls]
    for name in certs:
        if name is None:
            cmd += ["-c", "none"]
        else:
            c = pki.clients[name]
            cmd += ["-c", "%s,%s" % (c.cert_pem, c.key_pem)]
    sent = [unique(p) for p in paths]
    p = subprocess.run(cmd + sent, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, (
        "certswap failed (rc=%d):\n%s\n--- stdout:\n%s\n--- error log:\n%s"
        % (p.returncode, p.stderr.decode(errors="replace"),
           p.stdout.decode(errors="replace")[-3000:],
           srv.read_error_log()[-4000:]))
    r = Run(p.stdout)
    assert r.version == "TLSv1." + tls[-1], r.version
    assert [a.path for a in r.answers] == sent
    return r


# ---------------------------------------------------------------------------
# Expectations, computed from the test PKI (not from the module)

def serial_hex(client):
    return "%X" % client.cert.serial_number


def der_b64(client):
    from cryptography.hazmat.primitives import serialization
    return base64.b64encode(
        client.cert.public_bytes(serialization.Encoding.DER)).decode()


def log_user(srv, answer):
    line = srv.wait_access_line(answer.path)
    m = re.match(r'^127\.0\.0\.1 \S+ (\S+) \[', line)
    assert m, line
    return m.group(1)


def assert_same_connection(run_):
    """Every request went over the one connection certswap opened, and
    httpd saw it so (REMOTE_PORT of the CGI)."""
    for a in run_.answers:
        assert a.client_port == run_.port, a
        if "REMOTE_PORT" in a.env:
            assert a.env["REMOTE_PORT"] == str(run_.port), a.env


def assert_presented(answer, client):
    """mod_ssl's view of the connection's certificate for this request is
    `client`'s (so a renegotiation/PHA really did or did not happen)."""
    env = answer.env
    if answer.status == 200:
        assert env["SSL_CLIENT_VERIFY"] == "SUCCESS", env
        assert env["SSL_CLIENT_M_SERIAL"].upper().lstrip("0") == \
            serial_hex(client).lstrip("0"), (client, env)
        assert env["SSL_CLIENT_S_DN"] == client.subject, env


def assert_identity(srv, answer, pki, client, account):
    """A 200 for `account` (the certificate `client`), the same in the
    CGI env, the forwarded headers and the access log's %u."""
    env = answer.env
    assert answer.status == 200, (answer, srv.read_error_log()[-2000:])
    assert env["REMOTE_USER"] == account, env
    assert env["CERTMAP_USER"] == account, env
    assert env["AUTH_TYPE"] == "Certificate", env
    assert env.get("CERTMAP_REASON", "") == "", env
    assert env["HTTP_X_REMOTE_USER"] == account, env
    assert env["HTTP_X_ARR_CLIENTCERT"] == der_b64(client), env
    assert_presented(answer, client)
    assert log_user(srv, answer) == account.replace("\\", "\\\\")


def assert_anonymous(srv, answer, client):
    env = answer.env
    assert answer.status == 200, answer
    for k in ("REMOTE_USER", "CERTMAP_USER", "AUTH_TYPE",
              "HTTP_X_REMOTE_USER"):
        assert env.get(k, "") == "", env
    if client is None:
        assert env["SSL_CLIENT_VERIFY"] == "NONE", env
        assert "HTTP_X_ARR_CLIENTCERT" not in env, env
    else:
        assert env["HTTP_X_ARR_CLIENTCERT"] == der_b64(client), env
        assert_presented(answer, client)
    assert log_user(srv, answer) == "-"


def assert_refused(srv, answer, reason):
    """403 with `reason` and no account anywhere (body, headers, access
    log); assert_refusal_log checks which certificate was refused."""
    assert answer.status == 403, answer
    text = answer.body.decode(errors="replace")
    assert reason in text and SUBSTATUS[reason] in text, text
    # server.py's response headers; mod_headers writes an unset %{..}e
    # as "(null)"
    for h in ("x-remote-user", "x-certmap-user"):
        assert answer.headers.get(h, "") in ("", "(null)"), answer.headers
    assert answer.headers.get("x-certmap-reason") == reason, answer.headers
    line = srv.wait_access_line(answer.path)
    assert re.search(r'" 403 \S+ "%s"$' % re.escape(reason), line), line
    assert log_user(srv, answer) == "-"


def assert_refusal_log(srv, pki, run_, expect):
    """The connection's CERTMAP0001 error-log lines, in order, are one per
    refused request: (answer, reason, client name whose certificate the
    line must name)."""
    client = "[client 127.0.0.1:%d]" % run_.port
    lines = srv.wait_error_lines("CERTMAP0001", client, count=len(expect))
    assert len(lines) == len(expect), lines
    for line, (answer, reason, name) in zip(lines, expect):
        uri = answer.path.split("?", 1)[0]
        assert "refused %s: %s," % (uri, reason) in line, line
        assert "sha256 " + pki.clients[name].sha256 in line, line


# TLS 1.2 only: see test_tls13_* for why TLS 1.3 cannot change certificates.
TRIGGERS = ["/again", "/cipher"]
TRIGGER_IDS = ["require", "ciphersuite"]


# ---------------------------------------------------------------------------
# TLS 1.2: full renegotiation with another certificate

@pytest.mark.parametrize("trigger", TRIGGERS, ids=TRIGGER_IDS)
def test_mapped_to_other_mapped(certswap, srv, pki, trigger):
    """A (certuser) then B (bob): B's account from the change on, also
    back in the first location (the per-connection cache)."""
    r = run(certswap, srv, pki, "1.2", ["certuser", "bob"],
            ["/a/who.cgi", trigger + "/who.cgi", "/a/who.cgi",
             trigger + "/who.cgi", "/a/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3, a4, a5 = r.answers
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    assert a1.cert_requests_before == 1
    assert_identity(srv, a1, pki, cu, CERTUSER)
    # mod_ssl asked again during the second request, and got B
    assert a2.cert_requests_before == 2, r.cert_requests
    assert r.cert_requests[1] == bob.cert_pem
    assert_identity(srv, a2, pki, bob, BOB)
    for a in (a3, a4, a5):
        assert_identity(srv, a, pki, bob, BOB)
    # the full renegotiation is in mod_ssl's debug log
    assert srv.error_lines("AH02260", "127.0.0.1:%d" % r.port,
                           include_debug=True), \
        "no AH02260 (full renegotiation) in the error log"


@pytest.mark.parametrize("trigger", TRIGGERS, ids=TRIGGER_IDS)
def test_mapped_to_unmapped(certswap, srv, pki, trigger):
    """A (mapped) then B (other, mapped nowhere): cert-unmapped under
    CertMap On, no identity under CertMap Optional — never A's account."""
    r = run(certswap, srv, pki, "1.2", ["certuser", "other"],
            ["/a/who.cgi", "/opt/who.cgi", trigger + "/who.cgi",
             "/a/who.cgi", "/opt/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3, a4, a5 = r.answers
    cu, other = pki.clients["certuser"], pki.clients["other"]
    assert_identity(srv, a1, pki, cu, CERTUSER)
    assert_identity(srv, a2, pki, cu, CERTUSER)
    assert a3.cert_requests_before == 2, r.cert_requests
    assert_refused(srv, a3, "cert-unmapped")
    assert_refused(srv, a4, "cert-unmapped")
    assert_anonymous(srv, a5, other)
    assert_refusal_log(srv, pki, r, [(a3, "cert-unmapped", "other"),
                                     (a4, "cert-unmapped", "other")])


@pytest.mark.parametrize("trigger", TRIGGERS, ids=TRIGGER_IDS)
def test_mapped_to_denied(certswap, srv, pki, trigger):
    """A (mapped) then B (CertMapDeny): cert-denied everywhere, also
    under CertMap Optional."""
    r = run(certswap, srv, pki, "1.2", ["certuser", "denied"],
            ["/opt/who.cgi", trigger + "/who.cgi", "/a/who.cgi",
             "/opt/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3, a4 = r.answers
    assert_identity(srv, a1, pki, pki.clients["certuser"], CERTUSER)
    assert a2.cert_requests_before == 2, r.cert_requests
    for a in (a2, a3, a4):
        assert_refused(srv, a, "cert-denied")
    assert_refusal_log(srv, pki, r, [(a, "cert-denied", "denied")
                                     for a in (a2, a3, a4)])


def test_back_to_the_first_certificate(certswap, srv, pki):
    """A, B, then A again (a new certificate object with A's contents):
    each change is followed, in both directions."""
    r = run(certswap, srv, pki, "1.2", ["certuser", "bob", "certuser"],
            ["/a/who.cgi", "/again/who.cgi", "/a/who.cgi",
             "/depth/who.cgi", "/a/who.cgi", "/opt/who.cgi"])
    assert_same_connection(r)
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    assert r.cert_requests == [cu.cert_pem, bob.cert_pem, cu.cert_pem], \
        r.cert_requests
    expect = [(cu, CERTUSER), (bob, BOB), (bob, BOB), (cu, CERTUSER),
              (cu, CERTUSER), (cu, CERTUSER)]
    for a, (client, account) in zip(r.answers, expect):
        assert_identity(srv, a, pki, client, account)


def test_unmapped_to_mapped(certswap, srv, pki):
    """The other direction: an unmapped A refused, then B maps — and the
    refusal is not kept either."""
    r = run(certswap, srv, pki, "1.2", ["other", "bob"],
            ["/a/who.cgi", "/again/who.cgi", "/a/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3 = r.answers
    assert_refused(srv, a1, "cert-unmapped")
    for a in (a2, a3):
        assert_identity(srv, a, pki, pki.clients["bob"], BOB)
    assert_refusal_log(srv, pki, r, [(a1, "cert-unmapped", "other")])


def test_declined_then_certificate(certswap, srv, pki):
    """Declined in the handshake, B in the renegotiation."""
    r = run(certswap, srv, pki, "1.2", [None, "bob"],
            ["/opt/who.cgi", "/a/who.cgi", "/again/who.cgi",
             "/opt/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3, a4 = r.answers
    assert_anonymous(srv, a1, None)
    assert a2.status == 403 and "cert-required" in a2.body.decode(), a2
    bob = pki.clients["bob"]
    assert_identity(srv, a3, pki, bob, BOB)
    assert_identity(srv, a4, pki, bob, BOB)


# ---------------------------------------------------------------------------
# TLS 1.3: post-handshake authentication
#
# mod_ssl's ssl_hook_Access_modern always adds SSL_VERIFY_CLIENT_ONCE, and
# OpenSSL (send_certificate_request) sends no CertificateRequest once one
# was sent on the connection: SSL_verify_client_post_handshake() fails
# ("invalid config", AH10158, 403).  So on TLS 1.3 the certificate can
# change only from none to one, and only if the handshake did not ask
# (no SSLVerifyClient in the vhost).  These tests check that; should a
# later mod_ssl/OpenSSL ask a second time, they demand the new identity.

def test_tls13_certificate_arrives(certswap, srv_none, pki):
    """No certificate requested in the handshake; B by post-handshake
    auth, kept for the rest of the connection."""
    r = run(certswap, srv_none, pki, "1.3", ["bob"],
            ["/opt/who.cgi", "/a/who.cgi", "/again/who.cgi", "/a/who.cgi",
             "/opt/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3, a4, a5 = r.answers
    assert_anonymous(srv_none, a1, None)
    assert a2.status == 403 and "cert-required" in a2.body.decode(), a2
    assert a3.cert_requests_before == 1, r.cert_requests
    bob = pki.clients["bob"]
    for a in (a3, a4, a5):
        assert_identity(srv_none, a, pki, bob, BOB)
    assert srv_none.error_lines("AH10129", "127.0.0.1:%d" % r.port,
                                include_debug=True)


@pytest.mark.parametrize("server", ["vhost-optional", "vhost-none"])
def test_tls13_second_certificate(certswap, srv, srv_none, pki, server):
    """A certificate is in place (A from the handshake, or from a first
    post-handshake auth); a <Location> makes mod_ssl ask again.  Either
    mod_ssl cannot (403, and A stays the connection's certificate and
    identity) or it gets B — then only B's identity may follow."""
    if server == "vhost-optional":
        # A in the handshake; /again's stricter mode asks again
        s = srv
        paths = ["/a/who.cgi", "/again/who.cgi", "/a/who.cgi",
                 "/opt/who.cgi"]
        ask = 1
    else:
        # A by post-handshake auth for /again; /depth's lower depth asks
        # again
        s = srv_none
        paths = ["/again/who.cgi", "/a/who.cgi", "/depth/who.cgi",
                 "/a/who.cgi", "/opt/who.cgi"]
        ask = 2
    r = run(certswap, s, pki, "1.3", ["certuser", "bob"], paths)
    assert_same_connection(r)
    cu, bob = pki.clients["certuser"], pki.clients["bob"]
    for a in r.answers[:ask]:
        assert_identity(s, a, pki, cu, CERTUSER)
    asked, after = r.answers[ask], r.answers[ask + 1:]
    assert s.error_lines("AH10129", "127.0.0.1:%d" % r.port,
                         include_debug=True)
    if len(r.cert_requests) == 1:
        # what mod_ssl 2.4.71 with OpenSSL 3.0 does
        assert asked.status == 403, asked
        assert "Post-Handshake Authentication" in asked.body.decode(), asked
        assert s.error_lines("AH10158", "127.0.0.1:%d" % r.port)
        assert log_user(s, asked) == "-"
        for a in after:
            assert_identity(s, a, pki, cu, CERTUSER)
    else:
        assert r.cert_requests[1] == bob.cert_pem, r.cert_requests
        for a in [asked] + after:
            assert_identity(s, a, pki, bob, BOB)


def test_tls13_declined_in_handshake(certswap, srv, pki):
    """The handshake asked (vhost optional) and the client declined; a
    <Location> with `require` cannot ask again on TLS 1.3 (403 from
    mod_ssl) — or, should it get B, B's identity follows."""
    r = run(certswap, srv, pki, "1.3", [None, "bob"],
            ["/opt/who.cgi", "/again/who.cgi", "/opt/who.cgi"])
    assert_same_connection(r)
    a1, a2, a3 = r.answers
    assert_anonymous(srv, a1, None)
    if len(r.cert_requests) == 1:
        assert a2.status == 403, a2
        assert "Post-Handshake Authentication" in a2.body.decode(), a2
        assert log_user(srv, a2) == "-"
        assert_anonymous(srv, a3, None)
    else:
        bob = pki.clients["bob"]
        assert_identity(srv, a2, pki, bob, BOB)
        assert_identity(srv, a3, pki, bob, BOB)


# ---------------------------------------------------------------------------
# HTTP/2: no renegotiation on a stream

@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_h2_location_require_keeps_no_stale_identity(srv, pki, tls):
    """On HTTP/2, mod_ssl refuses a <Location> that would renegotiate or
    ask post-handshake ("ssl-renegotiate-forbidden"); mod_http2 turns that
    into HTTP_1_1_REQUIRED and curl retries the request over HTTP/1.1 on
    a new connection.  The refused HTTP/2 stream carries no identity, and
    every answer that does is A's (the only certificate curl has)."""
    cu = pki.clients["certuser"]
    urls = [unique(p) for p in ("/a/who.cgi", "/again/who.cgi",
                                "/a/who.cgi")]
    rc, out, err = curl(srv, pki, None, client=cu, urls=urls, extra=[
        "--http2", "--tlsv" + tls, "--tls-max", tls,
        "-w", "\n@@ %{http_version} %{http_code}\n"])
    assert rc == 0, (rc, err)
    parts = out.split("\n@@ ")
    bodies, marks = [parts[0]], []
    for part in parts[1:]:
        mark, _, body = part.partition("\n")
        marks.append(mark.split())
        bodies.append(body)
    assert len(marks) == 3, out
    assert marks[0] == ["2", "200"], marks

    def env(body):
        return dict(line.split("=", 1) for line in body.splitlines()
                    if "=" in line)

    for body, (version, status) in zip(bodies, marks):
        if status == "200":
            e = env(body)
            assert e["REMOTE_USER"] == CERTUSER, e
            assert e["HTTP_X_REMOTE_USER"] == CERTUSER, e
            assert e["SSL_CLIENT_S_DN"] == cu.subject, e
        else:
            assert status == "403", marks
            assert "certuser" not in body, body
    # the HTTP/2 stream of /again: refused by mod_ssl, no user logged
    line = srv.wait_access_line(urls[1] + " HTTP/2.0")
    assert re.match(r'^127\.0\.0\.1 \S+ - \[.*" 403 ', line), line
