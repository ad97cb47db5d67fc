"""The files in conf-examples/ are true: each is loaded into a real httpd
(its paths pointed at the test PKI, its map file taken from the example's
own comment) and behaves as its comments say."""

import os
import re
import subprocess
import time
import types

import pytest

import tomcat as tomcat_mod
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


def _load(httpd, pki, name, files=None, dirs=(), extra=None):
    """Start a server whose global config is the example, on its own port;
    returns (server, a stand-in with the example vhost's port).  `extra`:
    more {text: replacement} for the example."""
    text = _read(name)
    for a, b in (extra or {}).items():
        text = text.replace(a, b)
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


@pytest.fixture(scope="module")
def example_tomcat():
    reason = tomcat_mod.unavailable_reason()
    if reason:
        pytest.skip(reason)
    # webapp "app" = /app/certinfo.jsp, with the secret the example shows
    tc = tomcat_mod.TomcatServer(
        contexts=("app",), ajp_secret="change-me-to-a-long-random-secret")
    tc.start()
    yield tc
    tc.stop()


@pytest.mark.parametrize("name", ["tomcat-http.conf", "tomcat-ajp.conf"])
def test_tomcat_examples(httpd, pki, example_tomcat, name):
    tc = example_tomcat
    srv, vhost = _load(httpd, pki, name, extra={
        # the example's HTTP connector is secure="true"; so is this one
        "127.0.0.1:8080": "127.0.0.1:%d" % tc.secure_http_port,
        "127.0.0.1:8009": "127.0.0.1:%d" % tc.ajp_port})
    cu = pki.clients["certuser"]
    r = get(vhost, pki, "/app/certinfo.jsp", cu)
    assert r.status == 200, r
    info = tomcat_mod.parse_info(r.body)
    assert info["cert_sha256"] == cu.sha256, info
    assert info["secure"] is True, info
    if name == "tomcat-ajp.conf":
        assert info["remote_user"] == "W2K3TEST\\certuser", info
        assert info["auth_type"] == "Certificate", info
    else:
        assert info["headers"].get("x-remote-user") == \
            ["W2K3TEST\\certuser"], info
    r = get(vhost, pki, "/app/certinfo.jsp", pki.clients["other"])
    assert r.status == 403 and "cert-unmapped" in r.text, r
    r = get(vhost, pki, "/app/certinfo.jsp")
    assert r.status == 403 and "cert-required" in r.text, r


def test_rules_example(httpd, pki):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from pki import upn_san

    def name(**kw):
        oids = {"O": NameOID.ORGANIZATION_NAME,
                "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
                "CN": NameOID.COMMON_NAME}
        return x509.Name([x509.NameAttribute(oids[k], v)
                          for k, v in kw.items()])

    contoso = pki.make_ca("example-contoso",
                          name(O="Contoso", CN="Contoso CA"), issuer=pki.root)
    certs = {
        "contractor": pki.issue("ex-contractor", issuer=contoso,
                                subject=name(OU="Contractors", CN="tlee")),
        "sales": pki.issue("ex-sales", issuer=contoso,
                           subject=name(OU="Sales", CN="jdoe")),
        "adm": pki.issue("ex-adm", issuer=contoso,
                         subject=name(OU="IT", CN="jsmith-ADM")),
        "eng": pki.issue("ex-eng", issuer=contoso,
                         subject=name(OU="Engineering", CN="kwong")),
        "upn": pki.issue("ex-upn", sans=[upn_san("alice@contoso.com")]),
    }
    srv, vhost = _load(httpd, pki, "rules.conf", dirs=["portal", "ad"])
    r = get(vhost, pki, "/portal/env.cgi", certs["contractor"])
    assert r.status == 403 and "cert-denied" in r.text, r
    assert_mapped(get(vhost, pki, "/portal/env.cgi", certs["sales"]),
                  "CONTOSO\\SalesUsers")
    assert_mapped(get(vhost, pki, "/portal/env.cgi", certs["adm"]),
                  "CONTOSO\\jsmith.admin")
    assert_mapped(get(vhost, pki, "/portal/env.cgi", certs["eng"]),
                  "CONTOSO\\kwong")
    # issued by the test intermediate, not by Contoso
    r = get(vhost, pki, "/portal/env.cgi", pki.clients["certuser"])
    assert r.status == 403 and "cert-unmapped" in r.text, r
    # needs the engine's UPN parsing (cert->upns)
    assert_mapped(get(vhost, pki, "/ad/env.cgi", certs["upn"]),
                  "CONTOSO\\alice")


def test_cert_and_password_example(httpd, pki):
    import base64
    import hashlib

    def basic(user, password):
        return {"Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (user, password)).encode()).decode()}

    digest = base64.b64encode(hashlib.sha1(b"s3cret").digest()).decode()
    srv, vhost = _load(httpd, pki, "cert-and-password.conf", dirs=["."],
                       files={"etc/certmap/passwords":
                              "W2K3TEST\\certuser:{SHA}%s\n" % digest})
    cu = pki.clients["certuser"]
    r = get(vhost, pki, "/env.cgi", cu)
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == \
        'Basic realm="Intranet: certificate and password"', r.headers
    r = get(vhost, pki, "/env.cgi", cu, headers=basic("certuser", "wrong"))
    assert r.status == 401, r
    assert_mapped(get(vhost, pki, "/env.cgi", cu,
                      headers=basic("W2K3TEST\\certuser", "s3cret")),
                  "W2K3TEST\\certuser")
    assert_mapped(get(vhost, pki, "/env.cgi", cu,
                      headers=basic("certuser", "s3cret")),
                  "W2K3TEST\\certuser")
    # a password alone is not enough
    r = get(vhost, pki, "/env.cgi",
            headers=basic("W2K3TEST\\certuser", "s3cret"))
    assert r.status == 403 and "cert-required" in r.text, r


def _slapd(tmp_path, pki, suffix):
    from slapd import Slapd
    os.chmod(str(tmp_path), 0o755)
    d = Slapd(str(tmp_path), suffix=suffix, pki=pki, anonymous=False)
    d.start()
    return d


def test_ldap_ad_example(httpd, pki, tmp_path):
    """altsecid over LDAPS, a service account whose password comes from
    exec:, CertMapLDAPDomain."""
    from test_strong_forms import forms
    d = _slapd(tmp_path, pki, "dc=contoso,dc=com")
    try:
        cu = pki.clients["certuser"]
        d.add_user("certuser", altsecid=[forms(cu)["X509:<I><SR>"]])
        svc = d.add_service_account(
            "cn=svc-certmap,dc=contoso,dc=com", "long-random-pw")
        host = "127.0.0.1:%d" % d.ldaps_port
        srv, vhost = _load(httpd, pki, "ldap-ad.conf", dirs=["apps"], files={
            "etc/certmap/ldap-password": "long-random-pw\n"}, extra={
            "/etc/ssl/certs/contoso-root-ca.pem": pki.root_pem,
            "dc1.contoso.com dc2.contoso.com": host,
            "(&(objectCategory=person)(objectClass=user))":
                "(objectClass=person)",
            "CN=svc-certmap,OU=Service Accounts,DC=contoso,DC=com": svc})
        assert_mapped(get(vhost, pki, "/apps/env.cgi", cu),
                      "CONTOSO\\certuser", match=d.user_dn("certuser"))
        r = get(vhost, pki, "/apps/env.cgi", pki.clients["other"])
        assert r.status == 403 and "cert-unmapped" in r.text, r
        d.stop()
        r = get(vhost, pki, "/apps/env.cgi", pki.clients["bob"])
        assert r.status == 503 and "directory-unavailable" in r.text, r
    finally:
        d.close()


def test_ldap_openldap_example(httpd, pki, tmp_path):
    """certificate match over STARTTLS, CertMap Optional."""
    d = _slapd(tmp_path, pki, "dc=example,dc=com")
    try:
        cu = pki.clients["certuser"]
        d.add_user("alice", cert_der=cu.cert_der)
        # anonymous reads are refused by this slapd: bind as the rootdn
        srv, vhost = _load(httpd, pki, "ldap-openldap.conf", dirs=["."],
                           extra={
            "/etc/ssl/certs/example-root-ca.pem": pki.root_pem,
            "ldap://ldap.example.com": d.url,
            "    CertMapLDAPMatch certificate\n":
                "    CertMapLDAPMatch certificate\n"
                '    CertMapLDAPBindDN "%s"\n'
                '    CertMapLDAPBindPassword "%s"\n' % (d.rootdn, d.rootpw)})
        assert_mapped(get(vhost, pki, "/env.cgi", cu), "alice",
                      match=d.user_dn("alice"))
        r = get(vhost, pki, "/env.cgi", pki.clients["other"])
        assert r.status == 200 and r.env["REMOTE_USER"] == "", r
    finally:
        d.close()
