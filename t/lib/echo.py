"""An HTTP/1.1 echo backend for the forwarding tests: it answers every
request with the request it received, byte-exact, as JSON.

It reads the request itself (not through http.server's header parser,
which would fold and re-decode lines), so header names keep their letter
case, '_' and order, duplicates stay separate and values keep every byte.
Keep-alive is supported (mod_proxy_http reuses backend connections).

Answer body (application/json):
    {"echo": true, "method": "GET", "target": "/path?query",
     "version": "HTTP/1.1",
     "headers": [[name, value], ...],   # latin-1 decoded: byte-exact;
                                        # a line without ':' has name ""
     "raw_b64": base64 of the request head as received,
     "body_b64": base64 of the body}
Each request is also appended as one JSON line to a log file, so a test
can see what reached the backend even when the client got no echo.

Standalone:  python3 echo.py [--port N] [--log FILE]
             prints "PORT <n>" on stdout once it listens on 127.0.0.1.
From Python (pytest or a plain script, no pytest import here):

    from echo import EchoServer, Echoed
    be = EchoServer().start()      # a child process, 127.0.0.1, free port
    ... ProxyPass /echo http://127.0.0.1:%d/ % be.port ...
    e = Echoed.from_body(resp.body); e.get("Client-Cert")
    be.stop()                      # SIGTERM to its PID
"""

import base64
import hashlib
import json
import os
import re
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

MAX_LINE = 1 << 20        # header lines up to 1 MB (XFCC with chains)
MAX_HEAD = 8 << 20


class _BadRequest(Exception):
    pass


def _read_line(rfile):
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise _BadRequest("line too long")
    return line


def read_request(rfile):
    """One request from a buffered binary file; None at a clean EOF.
    Returns a dict (see the module docstring)."""
    head = b""
    line = _read_line(rfile)
    while line in (b"\r\n", b"\n"):      # tolerate stray empty lines
        line = _read_line(rfile)
    if not line:
        return None
    head += line
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3:
        raise _BadRequest("bad request line %r" % line)
    method, target, version = parts
    headers = []
    while True:
        line = _read_line(rfile)
        if not line:
            raise _BadRequest("EOF in the request head")
        head += line
        if len(head) > MAX_HEAD:
            raise _BadRequest("request head too long")
        if line in (b"\r\n", b"\n"):
            break
        text = line.rstrip(b"\r\n")
        if text[:1] in (b" ", b"\t"):
            # obs-fold: keep it visible, attached to the previous value
            if not headers:
                raise _BadRequest("continuation line first")
            headers[-1][1] += b" " + text.strip(b" \t")
            continue
        if b":" not in text:
            # Not HTTP, but a test wants to see it (e.g. a value with a
            # raw newline that a front end let through): name "".
            headers.append([b"", text])
            continue
        name, value = text.split(b":", 1)
        headers.append([name, value.strip(b" \t")])
    body = b""
    te = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    cl = [v for n, v in headers if n.lower() == b"content-length"]
    if te and b"chunked" in te[-1].lower():
        while True:
            size_line = _read_line(rfile)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers up to the empty line
                while _read_line(rfile) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += rfile.read(size)
            _read_line(rfile)
    elif cl:
        body = rfile.read(int(cl[-1]))
    return {
        "echo": True,
        "method": method.decode("latin-1"),
        "target": target.decode("latin-1"),
        "version": version.decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")]
                    for n, v in headers],
        "raw_b64": base64.b64encode(head).decode(),
        "body_b64": base64.b64encode(body).decode(),
    }


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            try:
                req = read_request(self.rfile)
            except (_BadRequest, ValueError) as e:
                msg = ("bad request: %s\n" % e).encode()
                self.wfile.write(b"HTTP/1.1 400 Bad Request\r\n"
                                 b"Connection: close\r\nContent-Length: %d"
                                 b"\r\n\r\n%s" % (len(msg), msg))
                return
            except OSError:
                return
            if req is None:
                return
            self.server.log(req)
            body = json.dumps(req).encode()
            close = any(n.lower() == "connection" and "close" in v.lower()
                        for n, v in req["headers"]) \
                or req["version"] == "HTTP/1.0"
            try:
                self.wfile.write(
                    b"HTTP/1.1 200 OK\r\n"
                    b"Content-Type: application/json\r\n"
                    b"X-Echo: 1\r\n"
                    b"Content-Length: %d\r\n"
                    b"%s\r\n%s" % (len(body),
                                   b"Connection: close\r\n" if close else b"",
                                   body))
                self.wfile.flush()
            except OSError:
                return
            if close:
                return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, log_path=None):
        super().__init__(addr, _Handler)
        self.log_path = log_path
        self._lock = threading.Lock()

    def log(self, req):
        if not self.log_path:
            return
        with self._lock, open(self.log_path, "a") as f:
            f.write(json.dumps(req) + "\n")


def serve(port=0, log_path=None, ready=None):
    """Serve forever on 127.0.0.1:port (0: any free port)."""
    srv = _Server(("127.0.0.1", port), log_path)
    if ready is not None:
        ready(srv.server_address[1])
    srv.serve_forever()


# -- the test side -------------------------------------------------------

# Header names every mod_certmap virtual host scrubs (DESIGN.md section 5).
SCRUB_FAMILY = [
    "Client-Cert", "Client-Cert-Chain", "X-Forwarded-Client-Cert",
    "ssl_client_cert", "ssl_client_escaped_cert", "SSL_CLIENT_CERT",
    "X-ARR-ClientCert", "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
]

# Each format's default header name, as the module must spell it.
DEFAULT_HEADER = {
    "rfc9440": "Client-Cert",
    "tomcat": "ssl_client_escaped_cert",
    "pem": "SSL_CLIENT_CERT",
    "xfcc": "X-Forwarded-Client-Cert",
    "arr": "X-ARR-ClientCert",
}

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        b"0123456789-._~")


def pct_encode(data):
    """Every byte outside [A-Za-z0-9-._~] as %XX, upper-case hex."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b
                   for b in data)


def b64_lines(der):
    b = base64.b64encode(der).decode()
    return [b[i:i + 64] for i in range(0, len(b), 64)]


def pem_of(der):
    """The PEM text of one DER certificate: 64-column lines, LF ends."""
    return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(b64_lines(der))
            + "\n-----END CERTIFICATE-----\n")


def _xfcc_value(v):
    if any(c in v for c in ',;="'):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return v


def _xfcc_quoted(v):
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expected_values(leaf, chain=(), account=None):
    """{format: value bytes} for a verified leaf (an x509.Certificate)
    and the certificates the client sent after it (TLS order), computed
    here from the certificates with python3-cryptography and the
    standard library, never from the module.  Also "rfc9440-chain"
    (None when the chain is empty) and "user"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    DER = serialization.Encoding.DER
    der = leaf.public_bytes(DER)
    chain_der = [c.public_bytes(DER) for c in chain]
    pem = pem_of(der)
    # our PEM writer agrees with the library's
    assert pem.encode() == leaf.public_bytes(serialization.Encoding.PEM)
    out = {}
    out["rfc9440"] = (":" + base64.b64encode(der).decode() + ":").encode()
    out["rfc9440-chain"] = (", ".join(
        ":" + base64.b64encode(d).decode() + ":" for d in chain_der).encode()
        if chain_der else None)
    out["tomcat"] = pct_encode(pem.encode()).encode()
    out["pem"] = ("-----BEGIN CERTIFICATE----- " + " ".join(b64_lines(der))
                  + " -----END CERTIFICATE-----").encode()
    out["arr"] = base64.b64encode(der)
    parts = ["Hash=" + hashlib.sha256(der).hexdigest(),
             'Cert="%s"' % pct_encode(pem.encode()),
             'Chain="%s"' % pct_encode(
                 (pem + "".join(pem_of(d) for d in chain_der)).encode()),
             "Subject=" + _xfcc_quoted(leaf.subject.rfc4514_string())]
    try:
        san = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
            parts.append("URI=" + _xfcc_value(uri))
        for dns in san.get_values_for_type(x509.DNSName):
            parts.append("DNS=" + _xfcc_value(dns))
    out["xfcc"] = ";".join(parts).encode("utf-8")
    out["user"] = account.encode("utf-8") if account is not None else None
    assert hashlib.sha256(der).hexdigest() == \
        leaf.fingerprint(hashes.SHA256()).hex()
    return out


def parse_sf_byte_sequences(value):
    """An RFC 8941 List of Byte Sequences (":b64:, :b64:") -> [bytes].
    ValueError when `value` is not exactly that."""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    out = []
    for member in value.split(","):
        m = member.strip(" \t")
        if not re.fullmatch(r":[A-Za-z0-9+/]*={0,2}:", m):
            raise ValueError("not a byte sequence: %r" % m)
        out.append(base64.b64decode(m[1:-1], validate=True))
    if value != value.strip(" "):
        raise ValueError("leading or trailing space in %r" % value)
    return out


def ssl_valve_legacy(value):
    """What Tomcat's SSLValve did with an SSL_CLIENT_CERT header before
    ssl_client_escaped_cert existed: drop the first 27 and last 25
    characters, spaces (and tabs) to newlines, put the PEM markers back."""
    body = value[27:len(value) - 25]
    body = body.replace(" ", "\n").replace("\t", "\n")
    return ("-----BEGIN CERTIFICATE-----\n" + body
            + "\n-----END CERTIFICATE-----\n")


def java_pem_decode(text):
    """DER from a PEM the way Java's CertificateFactory reads it: the
    base64 between the markers with every whitespace ignored."""
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----",
                  text, re.S)
    if not m:
        raise ValueError("no PEM markers")
    return base64.b64decode(re.sub(r"\s", "", m.group(1)), validate=True)


def fold(name):
    """A header name compared the way the module scrubs: ASCII letters
    lower-cased and '_' as '-'."""
    return name.lower().replace("_", "-")


class Echoed:
    """What the backend received, from its JSON answer."""

    def __init__(self, data):
        self.data = data
        self.method = data["method"]
        self.target = data["target"]
        self.headers = [(n, v) for n, v in data["headers"]]
        self.raw = base64.b64decode(data["raw_b64"])

    @classmethod
    def from_body(cls, body):
        data = json.loads(body)
        if not isinstance(data, dict) or data.get("echo") is not True:
            raise ValueError("not an echo answer: %r" % body[:200])
        return cls(data)

    def all(self, name):
        """Every value of `name` (exact name, ASCII case-insensitive, no
        '-'/'_' folding), as bytes, in order."""
        return [v.encode("latin-1") for n, v in self.headers
                if n.lower() == name.lower()]

    def get(self, name):
        """The single value of `name` as bytes, None when absent;
        AssertionError when the backend received it more than once."""
        vals = self.all(name)
        assert len(vals) <= 1, "%s received %d times: %r" % (name, len(vals),
                                                            vals)
        return vals[0] if vals else None

    def folded(self, name):
        """(name as received, value bytes) of every header whose name folds
        like `name` ('-'/'_' and case alike)."""
        f = fold(name)
        return [(n, v.encode("latin-1")) for n, v in self.headers
                if fold(n) == f]

    def names(self):
        return [n for n, _ in self.headers]

    def __repr__(self):
        return "<Echoed %s %s %r>" % (self.method, self.target, self.headers)


class EchoServer:
    """The echo backend in a child process of its own, on 127.0.0.1.
    start() waits until it listens; stop() ends it by its PID."""

    def __init__(self, port=0, log_dir=None):
        self.want_port = port
        self.port = None
        self.proc = None
        self._own_dir = log_dir is None
        self.dir = log_dir or tempfile.mkdtemp(prefix="certmap-echo-")
        self.log_path = os.path.join(self.dir, "requests.jsonl")

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def start(self, timeout=10):
        self.proc = subprocess.Popen(
            [sys.executable, "-S", os.path.abspath(__file__),
             "--port", str(self.want_port), "--log", self.log_path],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        line = b""
        # The child prints "PORT n" once it listens.
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"PORT "):
                self.port = int(line.split()[1])
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("echo backend did not start (%r)" % line)

    def requests(self):
        """Every request received so far (dicts, oldest first)."""
        try:
            with open(self.log_path) as f:
                return [json.loads(x) for x in f if x.strip()]
        except OSError:
            return []

    def received(self, needle):
        """Requests whose target contains `needle`, as Echoed."""
        return [Echoed(r) for r in self.requests() if needle in r["target"]]

    def stop(self, timeout=5):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p is not None and p.stdout:
            p.stdout.close()
        if self._own_dir and not os.environ.get("CERTMAP_KEEP"):
            try:
                os.unlink(self.log_path)
            except OSError:
                pass
            try:
                os.rmdir(self.dir)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _main(argv):
    port, log = 0, None
    i = 0
    while i < len(argv):
        if argv[i] == "--port":
            port = int(argv[i + 1])
            i += 2
        elif argv[i] == "--log":
            log = argv[i + 1]
            i += 2
        else:
            sys.stderr.write("usage: echo.py [--port N] [--log FILE]\n")
            return 2
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))

    def ready(p):
        sys.stdout.write("PORT %d\n" % p)
        sys.stdout.flush()

    serve(port, log, ready)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
