"""HTTP(S) clients for the mod_certmap integration tests: Python's ssl +
http.client (with or without a client certificate, verifying the server
against the test root CA), curl and openssl s_client.  127.0.0.1 only."""

import http.client
import itertools
import ssl
import subprocess

_ids = itertools.count(1)


def unique(path):
    """path + a unique query string, so its access-log line can be found."""
    sep = "&" if "?" in path else "?"
    return "%s%sr=%d" % (path, sep, next(_ids))


def ssl_context(pki, client=None, tls=None):
    """Verifies the server against the test root; presents `client`.
    tls: None (1.2 or 1.3), "1.2" or "1.3" to pin the version."""
    ctx = ssl.create_default_context(cafile=pki.root_pem)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls:
        v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[tls]
        ctx.minimum_version = ctx.maximum_version = v
    # allow TLS 1.3 post-handshake authentication (per-location
    # SSLVerifyClient require); TLS 1.2 renegotiation needs nothing
    ctx.post_handshake_auth = True
    if client is not None:
        ctx.load_cert_chain(client.cert_pem, client.key_pem)
    return ctx


class Response:
    def __init__(self, status, reason, headers, body, path, client_port):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.path = path              # as sent (with the unique query)
        self.client_port = client_port

    @property
    def text(self):
        return self.body.decode(errors="replace")

    @property
    def env(self):
        """KEY=value lines printed by env.cgi, as a dict."""
        out = {}
        for line in self.text.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, self.path,
                                        self.body[:200])


class Conn:
    """One HTTP/1.1 connection, reused for every request (keep-alive)."""

    def __init__(self, server, pki, client=None, plain=False, timeout=30,
                 tls=None):
        self.server = server
        if plain:
            self.c = http.client.HTTPConnection("127.0.0.1", server.plain_port,
                                                timeout=timeout)
        else:
            self.c = http.client.HTTPSConnection(
                "127.0.0.1", server.port, timeout=timeout,
                context=ssl_context(pki, client, tls))
        self.c.connect()

    @property
    def client_port(self):
        return self.c.sock.getsockname()[1]

    @property
    def tls_version(self):
        return self.c.sock.version()

    def get(self, path, headers=None, mark=True):
        path = unique(path) if mark else path
        port = self.client_port
        self.c.request("GET", path, headers=headers or {})
        r = self.c.getresponse()
        body = r.read()
        return Response(r.status, r.reason, r.headers, body, path, port)

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(server, pki, path, client=None, headers=None, plain=False, tls=None):
    """One request on a fresh connection."""
    with Conn(server, pki, client, plain=plain, tls=tls) as c:
        return c.get(path, headers=headers)


def curl(server, pki, path, client=None, combined=False, extra=(),
         urls=None):
    """Run curl against the server; returns (returncode, stdout, stderr).
    stdout ends with the status code line written by -w.
    combined=True passes cert+key as one file (--cert only)."""
    cmd = ["curl", "-sS", "--noproxy", "*", "--cacert", pki.root_pem,
           "-w", "\\nSTATUS=%{http_code}\\n"]
    if client is not None:
        if combined:
            cmd += ["--cert", client.combined_pem]
        else:
            cmd += ["--cert", client.cert_pem, "--key", client.key_pem]
    cmd += list(extra)
    for p in (urls or [path]):
        cmd.append("https://127.0.0.1:%d%s" % (server.port, p))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def s_client(server, pki, client=None, request=None, extra=()):
    """openssl s_client with an optional client certificate; sends
    `request` (bytes) if given.  Returns (returncode, combined output)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.port,
           "-servername", "localhost", "-CAfile", pki.root_pem,
           "-verify_return_error", "-ign_eof"]
    if client is not None:
        cmd += ["-cert", client.cert_pem, "-key", client.key_pem]
    cmd += list(extra)
    p = subprocess.run(cmd, input=request or b"", stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode(errors="replace")
