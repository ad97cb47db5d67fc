"""What the logs show: %u in the access log is the account as
mod_log_config escapes it (W2K3TEST\\certuser, a doubled backslash, in the
raw file), %{CERTMAP_REASON}e carries the refusal reason, and each refusal
writes exactly one CERTMAP error-log line."""

import re

import pytest

from client import curl, get
from checks import assert_refused

SNIPPET = r'''
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/bob.cer bob
</Location>
'''


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, dirs=["on"])


def _raw_line(srv, path):
    srv.wait_access_line(path)
    for raw in srv.read_access_log_bytes().split(b"\n"):
        if path.encode() in raw:
            return raw
    raise AssertionError(path)


def test_access_log_user_is_escaped_account(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["certuser"])
    assert r.status == 200
    raw = _raw_line(srv, r.path)
    # exactly: host, ident '-', user W2K3TEST\\certuser (httpd doubles '\')
    assert raw.startswith(b"127.0.0.1 - W2K3TEST\\\\certuser ["), raw
    assert re.search(rb'" 200 \d+ "-"$', raw), raw


def test_access_log_bare_account(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["bob"])
    assert r.status == 200
    assert _raw_line(srv, r.path).startswith(b"127.0.0.1 - bob ["), r


def test_access_log_refusal(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["other"])
    assert r.status == 403
    raw = _raw_line(srv, r.path)
    assert raw.startswith(b"127.0.0.1 - - ["), raw
    assert raw.endswith(b'" 403 ' + raw.split(b" ")[-2] + b' "cert-unmapped"'), raw


def test_access_log_from_curl(srv, pki):
    path = "/on/index.html?curl-logging"
    rc, out, err = curl(srv, pki, path, pki.clients["certuser"],
                        combined=True)
    assert rc == 0 and "STATUS=200" in out, (out, err)
    raw = _raw_line(srv, path)
    assert raw.startswith(b"127.0.0.1 - W2K3TEST\\\\certuser ["), raw


def test_error_log_refusal_line(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["other"])
    lines = assert_refused(srv, r, "cert-unmapped",
                           subject="CN=other,O=W2K3TEST")
    line = lines[0]
    assert "[certmap:" in line, line
    assert re.search(r"CERTMAP\d*", line), line


def test_no_refusal_line_for_mapped_request(srv, pki):
    r = get(srv, pki, "/on/index.html", pki.clients["certuser"])
    assert r.status == 200
    srv.wait_access_line(r.path)
    client = "[client 127.0.0.1:%d]" % r.client_port
    assert srv.error_lines(client) == [], srv.error_lines(client)
