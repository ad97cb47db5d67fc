"""Mappings from a directory (CertMapLDAP*, issue 7) against a real
OpenLDAP slapd (t/lib/slapd.py) through httpd's mod_ldap.

Each match mode maps (altsecid by each of the three strong forms,
certificate, fingerprint, upn), CERTMAP_MATCH is the entry's DN, an
issuer that needs RFC 4515 escaping maps, local deny and local mappings
come first, two entries refuse (directory-ambiguous), no entry is
cert-unmapped and is searched once per negative-cache TTL, bind DN and
password (a wrong one is directory-unavailable, 503), CertMapLDAPDomain,
and the configuration errors.  The directory's values are computed here
with python3-cryptography (test_strong_forms.forms), independently of
the module's C code.  The fleet tests (two servers, directory down and
back, search counting under load) are in test_ldap_fleet.py."""

import concurrent.futures
import os
import re
import shutil
import tempfile

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from checks import assert_mapped, assert_refused
from client import Conn, curl, get
from pki import upn_san
from server import free_port
from slapd import Slapd
from test_strong_forms import forms

SERVICE_PW = "s3rvice-pw"
EDGE_CN = 'Edge, (Dev) CA\\ "x" *'


def _name(cn, o="W2K3TEST"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="certmap-ldap-")
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("CERTMAP_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def certs(pki):
    """The test certificates, made once (the CA with the awkward name is
    appended to the trust file before any server of this module starts)."""
    edge = pki.make_ca("ldap-edge", _name(EDGE_CN, "Edge (Dev)"),
                       issuer=pki.root)
    c = {name: pki.issue("ldap-" + name, ski=(name == "ski"))
         for name in ("isr", "ski", "pukey", "cert", "fp", "twin", "local",
                      "denied", "noattr", "dom", "bind", "neg", "down")}
    c["upn"] = pki.issue("ldap-upn", sans=[upn_san("frank@contoso.com")])
    c["edge"] = pki.issue("ldap-edge-user", issuer=edge)
    return c


@pytest.fixture(scope="module")
def pki_burst(pki):
    return pki.issue("ldap-burst")


def _users(d, c):
    f = {k: forms(v) for k, v in c.items()}
    # the directory's copy in other letter cases: AD compares ignoring case
    d.add_user("alice", altsecid=[f["isr"]["X509:<I><SR>"],
                                  "X509:<SHA1-PUKEY>" + "00" * 20])
    d.add_user("bob", altsecid=["X509:<SKI>" + f["ski"]["X509:<SKI>"][10:]
                                .upper()])
    d.add_user("carol", altsecid=[f["pukey"]["X509:<SHA1-PUKEY>"]])
    d.add_user("dave", cert_der=c["cert"].cert_der)
    d.add_user("erin", fingerprint=c["fp"].sha256)
    d.add_user("frank", upn="frank@contoso.com")
    d.add_user("edgar", altsecid=[f["edge"]["X509:<I><SR>"]],
               cert_der=c["edge"].cert_der)
    d.add_user("twin1", fingerprint=c["twin"].sha256)
    d.add_user("twin2", fingerprint=c["twin"].sha256.upper())
    d.add_user("dirlocal", fingerprint=c["local"].sha256)
    d.add_user("dirdenied", fingerprint=c["denied"].sha256)
    d.add_user("noattr", fingerprint=c["noattr"].sha256, sam=False)
    d.add_user("dora", fingerprint=c["dom"].sha256,
               extra={"description": "FABRIKAM"})
    d.add_user("ben", fingerprint=c["bind"].sha256)


@pytest.fixture(scope="module")
def directory(tmp, certs):
    d = Slapd(tmp)
    d.start()
    _users(d, certs)
    yield d
    d.close()


@pytest.fixture(scope="module")
def closed_directory(tmp, certs):
    """Readable only after a bind (anonymous=False), with a service
    account."""
    d = Slapd(tmp, anonymous=False)
    d.start()
    _users(d, certs)
    d.add_service_account("certmap-svc", SERVICE_PW)
    yield d
    d.close()


def _loc(path, url, *lines):
    return "<Location %s>\n    CertMap On\n    CertMapLDAPURL \"%s\"\n%s\n" \
           "</Location>\n" % (path, url, "".join("    %s\n" % l for l in lines))


@pytest.fixture(scope="module")
def srv(module_httpd, directory, closed_directory, certs):
    d, cd = directory, closed_directory
    url = d.base_url(attr="sAMAccountName")
    curl = cd.base_url(attr="sAMAccountName")
    svc = "cn=certmap-svc," + cd.suffix
    snippet = "".join([
        "Protocols h2 http/1.1\n",
        _loc("/alt", url, "CertMapLDAPDomain CONTOSO"),
        _loc("/cert", url, "CertMapLDAPMatch certificate"),
        _loc("/fp", url, "CertMapLDAPMatch fingerprint certmapFingerprint"),
        _loc("/upn", d.base_url(attr="uid"), "CertMapLDAPMatch upn",
             "CertMapDomain CONTOSO"),
        _loc("/local", url, "CertMapLDAPMatch fingerprint certmapFingerprint",
             'CertMapUser "sha256:%s" "LOCAL\\localuser"'
             % certs["local"].sha256,
             'CertMapDeny "sha256:%s"' % certs["denied"].sha256,
             'CertMapRule "%{SSL_CLIENT_S_DN_CN} == \'ldap-twin\'" '
             '"RULES\\twin"'),
        _loc("/domattr", url,
             "CertMapLDAPMatch fingerprint certmapFingerprint",
             "CertMapLDAPDomain attr:description"),
        _loc("/bind", curl, "CertMapLDAPMatch fingerprint certmapFingerprint",
             'CertMapLDAPBindDN "%s"' % svc,
             'CertMapLDAPBindPassword "%s"' % SERVICE_PW),
        _loc("/bindenv", curl,
             "CertMapLDAPMatch fingerprint certmapFingerprint",
             'CertMapLDAPBindDN "%s"' % svc,
             "CertMapLDAPBindPassword env:CERTMAP_TEST_LDAP_PW"),
        _loc("/badpw", curl, "CertMapLDAPMatch fingerprint certmapFingerprint",
             'CertMapLDAPBindDN "%s"' % svc,
             'CertMapLDAPBindPassword "wrong"'),
        _loc("/anon", curl, "CertMapLDAPMatch fingerprint certmapFingerprint"),
        _loc("/down", "ldap://127.0.0.1:%d/ou=people,dc=example,dc=com"
             "?sAMAccountName?sub" % free_port(),
             "CertMapLDAPMatch fingerprint certmapFingerprint"),
        _loc("/opt", url, "CertMapLDAPMatch fingerprint certmapFingerprint"),
        "<Location /opt>\n    CertMap Optional\n</Location>\n",
        "<Location /off>\n    CertMap On\n    CertMapLDAPURL none\n"
        "</Location>\n",
        "<Location /alt/off>\n    CertMapLDAPURL none\n</Location>\n",
    ])
    os.environ["CERTMAP_TEST_LDAP_PW"] = SERVICE_PW
    try:
        s = module_httpd(snippet, dirs=["alt", "cert", "fp", "upn", "local",
                                        "domattr", "bind", "bindenv", "badpw",
                                        "anon", "down", "opt", "off",
                                        "alt/off"])
    finally:
        del os.environ["CERTMAP_TEST_LDAP_PW"]
    return s


def _refused(srv, r, reason, status=403):
    """A refusal with one of the directory's reasons (checks.py knows only
    the local ones): status, reason in the page and the access log, one
    CERTMAP0001 line."""
    assert r.status == status, (r.status, r.text)
    assert reason in r.text, r.text
    line = srv.wait_access_line(r.path)
    assert re.search(r'" %d \S+ "%s"$' % (status, re.escape(reason)), line), \
        line
    lines = srv.wait_error_lines("CERTMAP0001", reason,
                                 "[client 127.0.0.1:%d]" % r.client_port)
    assert len(lines) == 1, lines
    return lines[0]


# --- each match mode -------------------------------------------------------

@pytest.mark.parametrize("name,user", [("isr", "alice"), ("ski", "bob"),
                                       ("pukey", "carol")])
def test_altsecid_each_strong_form(srv, pki, directory, certs, name, user):
    r = get(srv, pki, "/alt/env.cgi", certs[name])
    assert_mapped(r, "CONTOSO\\" + user, match=directory.user_dn(user))


def test_certificate_match(srv, pki, directory, certs):
    r = get(srv, pki, "/cert/env.cgi", certs["cert"])
    assert_mapped(r, "dave", match=directory.user_dn("dave"))


def test_fingerprint_match(srv, pki, directory, certs):
    r = get(srv, pki, "/fp/env.cgi", certs["fp"])
    assert_mapped(r, "erin", match=directory.user_dn("erin"))


def test_upn_match(srv, pki, directory, certs):
    r = get(srv, pki, "/upn/env.cgi", certs["upn"])
    assert_mapped(r, "CONTOSO\\frank", match=directory.user_dn("frank"))
    lines = srv.wait_error_lines("CERTMAP0002", "ldap-upn",
                                 directory.user_dn("frank"),
                                 include_debug=True)
    assert len(lines) == 1, lines


def test_upn_mode_without_upn_is_not_searched(srv, pki, directory, certs):
    n0 = directory.search_count()
    r = get(srv, pki, "/upn/env.cgi", certs["fp"])
    _refused(srv, r, "cert-unmapped")
    assert directory.search_count() == n0


def test_issuer_that_needs_escaping(srv, pki, directory, certs):
    edge = certs["edge"]
    assert "(" in forms(edge)["X509:<I><SR>"]
    assert_mapped(get(srv, pki, "/alt/env.cgi", edge), "CONTOSO\\edgar",
                  match=directory.user_dn("edgar"))
    assert_mapped(get(srv, pki, "/cert/env.cgi", edge), "edgar",
                  match=directory.user_dn("edgar"))
    # slapd logged well-formed filters: the value escaped, not raw
    assert directory.search_count("o=edge \\28dev\\29") >= 2
    assert "Bad search filter" not in srv.read_error_log()


def test_http2(srv, pki, directory, certs):
    rc, out, err = curl(srv, pki, "/fp/env.cgi", certs["fp"], extra=[
        "--http2", "-w", "\\nSTATUS=%{http_code} HTTP=%{http_version}\\n"])
    assert rc == 0, err
    assert "STATUS=200 HTTP=2" in out, out
    assert "REMOTE_USER=erin\n" in out, out
    assert "CERTMAP_MATCH=%s\n" % directory.user_dn("erin") in out, out


def test_keepalive_requests_stay_mapped(srv, pki, directory, certs):
    with Conn(srv, pki, certs["fp"]) as c:
        for _ in range(5):
            assert_mapped(c.get("/fp/env.cgi"), "erin")


# --- decision order --------------------------------------------------------

def test_local_deny_beats_directory(srv, pki, certs):
    r = get(srv, pki, "/local/env.cgi", certs["denied"])
    assert_refused(srv, r, "cert-denied")


def test_local_mapping_beats_directory(srv, pki, directory, certs):
    n0 = directory.search_count()
    assert_mapped(get(srv, pki, "/local/env.cgi", certs["local"]),
                  "LOCAL\\localuser")
    # a rule decides before the directory, which holds two entries
    assert_mapped(get(srv, pki, "/local/env.cgi", certs["twin"]),
                  "RULES\\twin")
    assert directory.search_count() == n0


def test_local_table_miss_asks_directory(srv, pki, directory, certs):
    assert_mapped(get(srv, pki, "/local/env.cgi", certs["fp"]), "erin",
                  match=directory.user_dn("erin"))


def test_none_turns_directory_off(srv, pki, directory, certs):
    n0 = directory.search_count()
    assert_refused(srv, get(srv, pki, "/off/env.cgi", certs["fp"]),
                   "cert-unmapped")
    assert_refused(srv, get(srv, pki, "/alt/off/env.cgi", certs["isr"]),
                   "cert-unmapped")
    assert directory.search_count() == n0


# --- outcomes --------------------------------------------------------------

def test_two_entries_are_ambiguous(srv, pki, directory, certs):
    r = get(srv, pki, "/fp/env.cgi", certs["twin"])
    _refused(srv, r, "directory-ambiguous")
    lines = srv.wait_error_lines("CERTMAP0042", certs["twin"].sha256)
    assert len(lines) == 1 and "not unique" in lines[0], lines
    assert "403.12" in r.text
    # also under CertMap Optional: never one of the two
    r = get(srv, pki, "/opt/env.cgi", certs["twin"])
    assert r.status == 403 and "directory-ambiguous" in r.text, r


def test_not_found_is_unmapped_and_cached(srv, pki, directory, certs):
    neg = certs["neg"]
    n0 = directory.search_count(neg.sha256)
    for _ in range(3):
        r = get(srv, pki, "/fp/env.cgi", neg)
        assert r.status == 403 and "cert-unmapped" in r.text, r
    assert directory.search_count(neg.sha256) == n0 + 1
    r = get(srv, pki, "/opt/env.cgi", neg)
    assert r.status == 200 and r.env["REMOTE_USER"] == "", r
    assert r.env["CERTMAP_REASON"] == "cert-unmapped", r.env


def test_concurrent_unknown_certificate_searched_once(srv, pki, directory,
                                                      pki_burst):
    """Requests arriving together for a certificate nobody has searched
    for yet: one search, the others wait for its answer."""
    n0 = directory.search_count(pki_burst.sha256)
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        rs = list(ex.map(lambda _: get(srv, pki, "/fp/env.cgi", pki_burst),
                         range(24)))
    assert all(r.status == 403 and "cert-unmapped" in r.text for r in rs), rs
    assert directory.search_count(pki_burst.sha256) == n0 + 1


def test_entry_without_account_attribute(srv, pki, directory, certs):
    r = get(srv, pki, "/fp/env.cgi", certs["noattr"])
    assert_refused(srv, r, "cert-unmapped")
    lines = srv.wait_error_lines("CERTMAP0041", directory.user_dn("noattr"),
                                 "sAMAccountName")
    assert len(lines) == 1, lines


def test_domain_from_attribute(srv, pki, directory, certs):
    assert_mapped(get(srv, pki, "/domattr/env.cgi", certs["dom"]),
                  "FABRIKAM\\dora", match=directory.user_dn("dora"))
    # an entry without the attribute does not map on a guess
    r = get(srv, pki, "/domattr/env.cgi", certs["fp"])
    assert_refused(srv, r, "cert-unmapped")


def test_bind_dn_and_password(srv, pki, closed_directory, certs):
    cd = closed_directory
    assert_mapped(get(srv, pki, "/bind/env.cgi", certs["bind"]), "ben",
                  match=cd.user_dn("ben"))
    assert_mapped(get(srv, pki, "/bindenv/env.cgi", certs["fp"]), "erin")
    # anonymous may not read there (slapd says "no such object" for the
    # base): an error, which is never taken for "not found"
    r = get(srv, pki, "/anon/env.cgi", certs["bind"])
    _refused(srv, r, "directory-unavailable", 503)


def test_wrong_bind_password_is_unavailable(srv, pki, certs):
    r = get(srv, pki, "/badpw/env.cgi", certs["bind"])
    line = _refused(srv, r, "directory-unavailable", 503)
    assert "(503)" in line, line
    lines = srv.error_lines("CERTMAP0040", "cannot be asked",
                            "the bind DN or its password was refused",
                            "LDAP result 49", include_debug=True)
    assert lines, srv.read_error_log()[-2000:]


def test_directory_down_is_503_even_optional(srv, pki, certs):
    r = get(srv, pki, "/down/env.cgi", certs["down"])
    _refused(srv, r, "directory-unavailable", 503)
    # a certificate mapped locally is not affected
    r = get(srv, pki, "/local/env.cgi", certs["local"])
    assert_mapped(r, "LOCAL\\localuser")


def test_unavailable_logged_once_per_interval(srv, pki, certs):
    for _ in range(4):
        r = get(srv, pki, "/down/env.cgi", certs["down"])
        assert r.status == 503, r
    # error level at most once per 30 s per child process (at most two
    # here), the other occurrences at debug level
    lines = srv.wait_error_lines("CERTMAP0040")
    assert 1 <= len(lines) <= 2, lines
    assert srv.error_lines("CERTMAP0040", "cannot contact the LDAP server",
                           "LDAP result -1", include_debug=True), lines
    assert len(srv.error_lines("CERTMAP0040", include_debug=True)) >= 5


# --- configuration errors --------------------------------------------------

@pytest.mark.parametrize("line,says", [
    ('CertMapLDAPURL "http://127.0.0.1/dc=x"', "not an LDAP URL"),
    ('CertMapLDAPURL "ldap://127.0.0.1/dc=x?uid,cn"', "more than one"),
    ('CertMapLDAPURL "ldap://127.0.0.1/dc=x?uid?sub?(cn=a"', "not valid"),
    ('CertMapLDAPURL "ldap://127.0.0.1/dc=x?u%28id"', "attribute"),
    ('CertMapLDAPURL "ldap://127.0.0.1/dc=x" SSH', "connection mode"),
    ("CertMapLDAPMatch fuzzy", "altsecid, certificate, fingerprint or upn"),
    ("CertMapLDAPMatch fingerprint", "needs the attribute"),
    ("CertMapLDAPMatch upn user(PrincipalName", "attribute name"),
    ("CertMapLDAPDomain attr:", "attribute name"),
    ("CertMapLDAPBindPassword env:CERTMAP_NO_SUCH_VARIABLE", "not set"),
    ("CertMapLDAPNegativeTTL -1", "number of seconds"),
    ("CertMapLDAPCache nosuchcache", "no socache provider"),
])
def test_config_errors(httpd, line, says):
    where = "global" if "TTL" in line or "Cache" in line else "vhost"
    srv = httpd(line if where == "vhost" else "", start=False,
                global_snippet=line if where == "global" else "")
    rc, out = srv.configtest()
    assert rc != 0, out
    name = line.split()[0]
    assert name in out and says in out, out
    assert "line %d of %s" % (srv.line_of(line), srv.conf) in out, out


def test_negative_ttl_only_server_wide(httpd):
    srv = httpd("CertMapLDAPNegativeTTL 5", start=False)
    rc, out = srv.configtest()
    assert rc != 0 and "CertMapLDAPNegativeTTL" in out, out


def test_htaccess_refused(httpd, pki, directory, certs):
    srv = httpd("<Location /h>\n    CertMap On\n</Location>\n", dirs=["h"],
                files={"htdocs/h/.htaccess":
                       'CertMapLDAPURL "%s"\n' % directory.base_url()})
    r = get(srv, pki, "/h/env.cgi", certs["fp"])
    assert r.status == 500, r
    lines = srv.wait_error_lines("CertMapLDAPURL not allowed here")
    assert lines, srv.read_error_log()[-2000:]


def test_without_mod_ldap(httpd, directory):
    srv = httpd(_loc("/x", directory.base_url()), start=False)
    text = open(srv.conf).read()
    text = re.sub(r"^LoadModule ldap_module .*\n", "", text, flags=re.M)
    with open(srv.conf, "w") as f:
        f.write(text)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert "LoadModule ldap_module" in out and "CertMapLDAPURL" in out, out
    assert re.search(r"line \d+ of %s" % re.escape(srv.conf), out), out


def test_directory_down_and_back(httpd, pki, tmp, certs):
    """One server: a cached identity keeps mapping while slapd is down,
    an uncached one gets 503, and both map again once slapd is back,
    without a restart.  (Two servers and search counting:
    test_ldap_fleet.py.)"""
    d = Slapd(tmp)
    d.start()
    try:
        d.add_user("erin", fingerprint=certs["fp"].sha256)
        d.add_user("ben", fingerprint=certs["bind"].sha256)
        srv = httpd(_loc("/fp", d.base_url(attr="sAMAccountName"),
                         "CertMapLDAPMatch fingerprint certmapFingerprint"),
                    dirs=["fp"])
        assert_mapped(get(srv, pki, "/fp/env.cgi", certs["fp"]), "erin")
        d.stop()
        assert_mapped(get(srv, pki, "/fp/env.cgi", certs["fp"]), "erin")
        r = get(srv, pki, "/fp/env.cgi", certs["bind"])
        _refused(srv, r, "directory-unavailable", 503)
        d.start()
        assert_mapped(get(srv, pki, "/fp/env.cgi", certs["bind"]), "ben")
    finally:
        d.close()
