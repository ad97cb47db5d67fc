"""The mapped user composes with httpd's authorization: Require user,
Require valid-user, Require group (mod_authz_groupfile), AuthType
Certificate, CertMap Optional with and without another AuthType."""

import base64
import hashlib

import pytest

from client import get
from checks import assert_mapped, assert_refused

USER = "W2K3TEST\\certuser"

ENTRIES = r'''
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/other.cer "W2K3TEST\other"
'''

SNIPPET = r'''
<Location /req-user>
    CertMap On
%(e)s
    Require user "W2K3TEST\\certuser"
</Location>
<Location /req-valid>
    CertMap On
%(e)s
    Require valid-user
</Location>
<Location /req-group>
    CertMap On
%(e)s
    AuthGroupFile conf/groups
    Require group staff
</Location>
<Location /authtype>
    AuthType Certificate
    CertMap On
%(e)s
    Require valid-user
</Location>
<Location /opt-valid>
    CertMap Optional
%(e)s
    Require valid-user
</Location>
<Location /basic>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    AuthType Basic
    AuthName "certmap fallback"
    AuthBasicProvider file
    AuthUserFile conf/htpasswd
    Require valid-user
</Location>
''' % {"e": ENTRIES}

GROUPS = "staff: W2K3TEST\\certuser alice\nothers: W2K3TEST\\other\n"


def _htpasswd(user, password):
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest())
    return "%s:{SHA}%s\n" % (user, digest.decode())


def _basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, files={
        "conf/groups": GROUPS,
        "conf/htpasswd": _htpasswd("alice", "s3cret"),
    }, dirs=["req-user", "req-valid", "req-group", "authtype", "opt-valid",
             "basic"])


def _not_allowed(r):
    assert r.status == 403, (r.status, r.text)


# -- Require user -------------------------------------------------------------

def test_require_user_allows_mapped_user(srv, pki):
    assert_mapped(get(srv, pki, "/req-user/env.cgi", pki.clients["certuser"]),
                  USER)


def test_require_user_refuses_other_mapped_user(srv, pki):
    r = get(srv, pki, "/req-user/env.cgi", pki.clients["other"])
    _not_allowed(r)
    line = srv.wait_access_line(r.path)
    # the mapped identity is what authz refused, so %u shows it
    assert " W2K3TEST\\\\other " in line, line


def test_require_user_no_cert(srv, pki):
    assert_refused(srv, get(srv, pki, "/req-user/env.cgi"), "cert-required")


# -- Require valid-user -------------------------------------------------------

@pytest.mark.parametrize("who,account", [("certuser", USER),
                                         ("other", "W2K3TEST\\other")])
def test_require_valid_user(srv, pki, who, account):
    assert_mapped(get(srv, pki, "/req-valid/env.cgi", pki.clients[who]),
                  account)


def test_require_valid_user_unmapped(srv, pki):
    r = get(srv, pki, "/req-valid/env.cgi", pki.clients["bob"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=bob,O=W2K3TEST")


# -- Require group --------------------------------------------------------------

def test_require_group_member(srv, pki):
    assert_mapped(get(srv, pki, "/req-group/env.cgi", pki.clients["certuser"]),
                  USER)


def test_require_group_non_member(srv, pki):
    _not_allowed(get(srv, pki, "/req-group/env.cgi", pki.clients["other"]))


# -- AuthType Certificate ---------------------------------------------------------

def test_authtype_certificate(srv, pki):
    r = get(srv, pki, "/authtype/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER)
    assert r.env["AUTH_TYPE"] == "Certificate"


def test_authtype_certificate_no_cert(srv, pki):
    assert_refused(srv, get(srv, pki, "/authtype/env.cgi"), "cert-required")


# -- CertMap Optional + Require valid-user, no AuthType ---------------------------

def test_optional_valid_user_mapped(srv, pki):
    assert_mapped(get(srv, pki, "/opt-valid/env.cgi",
                      pki.clients["certuser"]), USER)


@pytest.mark.parametrize("who", ["bob", None])
def test_optional_valid_user_without_mapping_is_403(srv, pki, who):
    client = pki.clients[who] if who else None
    r = get(srv, pki, "/opt-valid/env.cgi", client)
    assert r.status == 403, (r.status, r.text)
    assert srv.error_lines("AH00027") == [], srv.error_lines("AH00027")


# -- CertMap Optional with Basic as the fallback ---------------------------------

def test_basic_fallback_mapped_cert_needs_no_password(srv, pki):
    r = get(srv, pki, "/basic/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER)


def test_basic_fallback_no_cert_asks_for_password(srv, pki):
    r = get(srv, pki, "/basic/env.cgi")
    assert r.status == 401, (r.status, r.text)
    assert r.header("WWW-Authenticate") == 'Basic realm="certmap fallback"'


def test_basic_fallback_unmapped_cert_asks_for_password(srv, pki):
    r = get(srv, pki, "/basic/env.cgi", pki.clients["other"])
    assert r.status == 401, (r.status, r.text)


def test_basic_fallback_password(srv, pki):
    r = get(srv, pki, "/basic/env.cgi", headers=_basic("alice", "s3cret"))
    assert r.status == 200, (r.status, r.text)
    assert r.env["REMOTE_USER"] == "alice"
    assert r.env["AUTH_TYPE"] == "Basic"
    assert r.env["CERTMAP_USER"] == ""
    line = srv.wait_access_line(r.path)
    assert " alice [" in line, line


def test_basic_fallback_wrong_password(srv, pki):
    r = get(srv, pki, "/basic/env.cgi", headers=_basic("alice", "wrong"))
    assert r.status == 401, (r.status, r.text)
