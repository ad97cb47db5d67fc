"""The files in conf-examples/ are true: each is loaded into a real httpd
(its paths pointed at the test PKI, its map file taken from the example's
own comment) and behaves as its comments say."""

import os
import re
import subprocess
import time
import types

import pytest

from client import get
from checks import assert_mapped
from server import free_port

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                        "conf-examples")


def _read(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def _commented_file(text, path):
    """The lines of the '# PATH:' block in an example's comments."""
    m = re.search(r"^# %s[^\n]*:\n#\n((?:#   [^\n]*\n|#\n)+)" % re.escape(path),
                  text, re.M)
    assert m, "no commented %s in the example" % path
    return "".join(line[4:] + "\n" for line in m.group(1).splitlines()
                   if line.startswith("#   "))


def _load(httpd, pki, name, files=None, dirs=()):
    """Start a server whose global config is the example, on its own port;
    returns (server, a stand-in with the example vhost's port)."""
    text = _read(name)
    port = free_port()
    cu = pki.clients["certuser"]
    conf = (text.replace("*:443", "127.0.0.1:%d" % port)
            .replace("/etc/ssl/certs/www.example.com.pem", pki.server_cert)
            .replace("/etc/ssl/certs/apps.example.com.pem", pki.server_cert)
            .replace("/etc/ssl/certs/intranet.example.com.pem",
                     pki.server_cert)
            .replace("/etc/ssl/private/www.example.com.key", pki.server_key)
            .replace("/etc/ssl/private/apps.example.com.key", pki.server_key)
            .replace("/etc/ssl/private/intranet.example.com.key",
                     pki.server_key)
            .replace("/etc/apache2/certmap/client-ca.pem", pki.trust_pem)
            .replace("/etc/apache2/certmap/certuser.cer", cu.cert_der)
            .replace("/etc/apache2/", "@ROOT@/etc/")
            .replace("${APACHE_LOG_DIR}/access.log",
                     "@ROOT@/logs/example-access.log"))
    srv = httpd("", start=False, global_snippet="Listen 127.0.0.1:%d https\n"
                % port + conf, files=files or {}, dirs=dirs)
    rc, out = srv.configtest()
    assert rc == 0, out
    srv.start()
    return srv, types.SimpleNamespace(port=port)


def test_iis_one_to_one(httpd, pki):
    srv, vhost = _load(httpd, pki, "iis-one-to-one.conf", dirs=["secure"])
    r = get(vhost, pki, "/secure/env.cgi", pki.clients["certuser"])
    assert_mapped(r, "W2K3TEST\\certuser")
    r = get(vhost, pki, "/secure/env.cgi")
    assert r.status == 403 and "cert-required" in r.text, r
    # the line is written after the response: wait for it
    deadline = time.time() + 5
    while True:
        with open(srv.path("logs/example-access.log"), "rb") as f:
            log = f.read()
        if log.count(b"\n") >= 2 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert b" W2K3TEST\\\\certuser [" in log, log
    assert b'"cert-required"' in log, log


def _map_files(text, pki):
    """users.map as the example shows it, with alice/mallory's files."""
    def raw(path):
        with open(path, "rb") as f:
            return f.read()
    return {
        "etc/certmap/users.map": _commented_file(
            text, "/etc/apache2/certmap/users.map"),
        "etc/certmap/certs/alice.cer": raw(pki.clients["certuser"].cert_der),
        "etc/certmap/certs/mallory.cer": raw(pki.clients["denied"].cert_der),
    }


def test_map_file_example(httpd, pki):
    text = _read("map-file.conf")
    files = _map_files(text, pki)
    files["etc/certmap/groups"] = _commented_file(
        text, "/etc/apache2/certmap/groups")
    srv, vhost = _load(httpd, pki, "map-file.conf", files=files,
                       dirs=["apps", "apps/payroll", "apps/public"])
    alice = pki.clients["certuser"]
    assert_mapped(get(vhost, pki, "/apps/env.cgi", alice), "CONTOSO\\alice")
    # the payroll group holds CONTOSO\alice
    assert_mapped(get(vhost, pki, "/apps/payroll/env.cgi", alice),
                  "CONTOSO\\alice")
    r = get(vhost, pki, "/apps/env.cgi", pki.clients["denied"])
    assert r.status == 403 and "cert-denied" in r.text, r
    r = get(vhost, pki, "/apps/env.cgi", pki.clients["other"])
    assert r.status == 403 and "cert-unmapped" in r.text, r
    r = get(vhost, pki, "/apps/public/env.cgi")
    assert r.status == 200 and r.env["REMOTE_USER"] == "", r


def test_optional_with_basic(httpd, pki):
    text = _read("map-file.conf")
    files = _map_files(text, pki)
    srv, vhost = _load(httpd, pki, "optional-with-basic.conf", files=files,
                       dirs=["."])
    subprocess.run(["htpasswd", "-bc", srv.path("etc/intranet.htpasswd"),
                    "bob", "secret"], check=True, stderr=subprocess.DEVNULL)
    assert_mapped(get(vhost, pki, "/env.cgi", pki.clients["certuser"]),
                  "alice")
    r = get(vhost, pki, "/env.cgi")
    assert r.status == 401, r
    r = get(vhost, pki, "/env.cgi",
            headers={"Authorization": "Basic Ym9iOnNlY3JldA=="})
    assert r.status == 200 and r.env["REMOTE_USER"] == "bob", r
