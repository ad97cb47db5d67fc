"""Identities on keep-alive connections: many requests on one connection,
several connections with different certificates interleaved, and curl
reusing one connection for several URLs."""

import re
import time

import pytest

from client import Conn, curl
from checks import assert_anonymous, assert_mapped

USER = "W2K3TEST\\certuser"

SNIPPET = r'''
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/bob.cer "W2K3TEST\bob"
</Location>
<Location /optional>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/bob.cer "W2K3TEST\bob"
</Location>
'''

EXPECT = {"certuser": USER, "bob": "W2K3TEST\\bob", "other": "", None: ""}


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, dirs=["on", "optional"])


def test_200_requests_on_one_connection(srv, pki):
    n = 200
    with Conn(srv, pki, pki.clients["certuser"]) as c:
        port = c.client_port
        for i in range(n):
            r = c.get("/on/index.html?ka200")
            assert r.status == 200, (i, r)
            assert r.header("X-Remote-User") == USER, (i, r.headers)
            assert r.header("X-Certmap-User") == USER, (i, r.headers)
            assert r.client_port == port
        # the CGI sees it too, still on the same connection
        assert_mapped(c.get("/on/env.cgi"), USER)
    srv.wait_access_line("ka200&r=")
    lines = [ln for ln in srv.access_log_lines() if "?ka200&" in ln]
    for _ in range(50):
        if len(lines) >= n:
            break
        time.sleep(0.05)
        lines = [ln for ln in srv.access_log_lines() if "?ka200&" in ln]
    assert len(lines) == n
    for ln in lines:
        assert ln.startswith("127.0.0.1 - W2K3TEST\\\\certuser ["), ln


def test_interleaved_connections_never_mix(srv, pki):
    names = ["certuser", "other", None, "bob"]
    conns = {n: Conn(srv, pki, pki.clients[n] if n else None) for n in names}
    try:
        for rnd in range(15):
            for n in names if rnd % 2 == 0 else reversed(names):
                r = conns[n].get("/optional/index.html")
                assert r.status == 200, (n, r)
                assert r.header("X-Remote-User") == EXPECT[n], (rnd, n,
                                                                r.headers)
        for n in names:
            r = conns[n].get("/optional/env.cgi")
            if EXPECT[n]:
                assert_mapped(r, EXPECT[n])
            else:
                assert_anonymous(r)
    finally:
        for c in conns.values():
            c.close()


def test_alternating_new_connections(srv, pki):
    for rnd in range(10):
        for n in ("certuser", "other", "bob", None):
            with Conn(srv, pki, pki.clients[n] if n else None) as c:
                r = c.get("/on/index.html")
                if EXPECT[n]:
                    assert r.status == 200, (n, r)
                    assert r.header("X-Remote-User") == EXPECT[n]
                else:
                    assert r.status == 403, (n, r)
                    assert r.header("X-Remote-User") in ("", None), r.headers
                    want = "cert-unmapped" if n else "cert-required"
                    assert r.header("X-Certmap-Reason") == want


def test_curl_reuses_connection(srv, pki):
    urls = ["/on/env.cgi?curl%d" % i for i in range(5)]
    rc, out, err = curl(srv, pki, None, pki.clients["certuser"], urls=urls,
                        extra=["-v"])
    assert rc == 0, err
    assert out.count("STATUS=200") == 5, out
    assert out.count("REMOTE_USER=W2K3TEST\\certuser\n") == 5, out
    assert len(re.findall(r"Re-using existing connection|Reusing existing",
                          err)) >= 4, err
