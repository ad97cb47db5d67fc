"""CertMapPassword On: a mapped certificate must also bring the password of
the same account (HTTP Basic), checked by the AuthBasicProvider providers
of the scope (mod_authn_file here).  Missing or wrong: 401 with a Basic
challenge; another account's credentials: 403 cert-mismatch; right: the
certificate's account.  `Satisfy Any` must not lift any of it."""

import base64
import hashlib
import re

import pytest

from client import Conn, get
from checks import assert_mapped, assert_refused

USER = "CONTOSO\\certuser"
OTHER = "CONTOSO\\other"
PASSWORD = "cert+pass word"
OTHER_PASSWORD = "0ther-s3cret"
ALT_PASSWORD = "from-the-alias"
DEFAULT_REALM = "Password for the certificate's account"

ENTRIES = r'''
    CertMap On
    CertMapUser certs/certuser.cer "CONTOSO\certuser"
    CertMapUser certs/other.cer "CONTOSO\other"
    CertMapPassword On
'''

SNIPPET = r'''
<Location /pw>
%(e)s
    AuthType Basic
    AuthName "Certificate and password"
    AuthBasicProvider file
    AuthUserFile conf/htpasswd
</Location>
<Location /pw/valid>
    Require valid-user
</Location>
<Location /pw/off>
    CertMapPassword Off
</Location>
<Location /bare>
%(e)s
    AuthUserFile conf/htpasswd
</Location>
<Location /alias>
%(e)s
    AuthBasicProvider alt
</Location>
<Location /any-granted>
%(e)s
    AuthType Basic
    AuthName "any"
    AuthUserFile conf/htpasswd
    Satisfy Any
    Require all granted
</Location>
<Location /any-valid>
%(e)s
    AuthType Basic
    AuthName "any"
    AuthUserFile conf/htpasswd
    Satisfy Any
    Require valid-user
</Location>
<Location /any-noauthtype>
%(e)s
    AuthUserFile conf/htpasswd
    Satisfy Any
    Require valid-user
</Location>
''' % {"e": ENTRIES}

GLOBAL = '''
LoadModule access_compat_module /usr/lib/apache2/modules/mod_access_compat.so
<AuthnProviderAlias file alt>
    AuthUserFile "@ROOT@/conf/htpasswd-alt"
</AuthnProviderAlias>
'''


def _htpasswd_line(user, password):
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest())
    return "%s:{SHA}%s\n" % (user, digest.decode())


def basic(user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    return {"Authorization": "Basic " + token}


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, global_snippet=GLOBAL, files={
        "conf/htpasswd": _htpasswd_line(USER, PASSWORD)
        + _htpasswd_line(OTHER, OTHER_PASSWORD)
        + _htpasswd_line("bob", "bobs-password"),
        "conf/htpasswd-alt": _htpasswd_line(USER, ALT_PASSWORD),
    }, dirs=["pw", "pw/valid", "pw/off", "bare", "alias", "any-granted",
             "any-valid", "any-noauthtype"])


def _client_tag(r):
    return "[client 127.0.0.1:%d]" % r.client_port


def assert_challenged(srv, r, realm, tag):
    """401 with a Basic challenge for `realm`, no identity in the access
    log, and one error-log line `tag` for this request."""
    assert r.status == 401, (r.status, r.text)
    want = 'Basic realm="%s"' % realm.replace("\\", "\\\\") \
        .replace('"', '\\"')
    assert r.header("WWW-Authenticate") == want, r.headers
    line = srv.wait_access_line(r.path)
    assert re.search(r'^\S+ \S+ - \[.*" 401 ', line), line
    assert "certuser" not in line, line
    lines = srv.wait_error_lines(tag, _client_tag(r))
    assert len(lines) == 1, srv.read_error_log()[-2000:]
    return lines[0]


def assert_mismatch(srv, r, sent_account):
    assert r.status == 403, (r.status, r.text)
    assert "cert-mismatch" in r.text and "403.12" in r.text, r.text
    assert r.header("WWW-Authenticate") is None, r.headers
    line = srv.wait_access_line(r.path)
    assert line.endswith('" 403 %s "cert-mismatch"' % line.split()[-2]), line
    assert "certuser [" not in line, line
    refusals = srv.wait_error_lines("CERTMAP0001", "cert-mismatch",
                                    _client_tag(r))
    assert len(refusals) == 1, srv.read_error_log()[-2000:]
    # the error log writes '\' as '\\'
    detail = srv.wait_error_lines("CERTMAP0023", _client_tag(r))
    assert len(detail) == 1, srv.read_error_log()[-2000:]
    assert sent_account.replace("\\", "\\\\") in detail[0], detail


REALM = "Certificate and password"


# -- the four answers ----------------------------------------------------------

def test_no_password_asks_for_it(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"])
    assert_challenged(srv, r, REALM, "CERTMAP0021")


def test_wrong_password(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic(USER, "not the password"))
    line = assert_challenged(srv, r, REALM, "CERTMAP0022")
    assert "wrong password" in line, line


def test_right_password(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic(USER, PASSWORD))
    assert_mapped(r, USER)
    line = srv.wait_access_line(r.path)
    assert " CONTOSO\\\\certuser [" in line, line


def test_other_accounts_password_is_a_mismatch(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic(OTHER, OTHER_PASSWORD))
    assert_mismatch(srv, r, OTHER)


def test_other_account_wrong_password_is_a_mismatch_too(srv, pki):
    # refused before any password is checked: the certificate holder
    # learns nothing about the other account's password
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic(OTHER, "guess"))
    assert_mismatch(srv, r, OTHER)


def test_own_password_for_other_certificate(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["other"],
            headers=basic(USER, PASSWORD))
    assert_mismatch(srv, r, USER)
    assert_mapped(get(srv, pki, "/pw/env.cgi", pki.clients["other"],
                      headers=basic(OTHER, OTHER_PASSWORD)), OTHER)


# -- user names ------------------------------------------------------------------

def test_bare_user_in_the_mapped_domain(srv, pki):
    assert_mapped(get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
                      headers=basic("certuser", PASSWORD)), USER)


def test_domain_in_another_case(srv, pki):
    assert_mapped(get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
                      headers=basic("contoso\\certuser", PASSWORD)), USER)


def test_bare_name_of_another_user(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic("other", OTHER_PASSWORD))
    assert_mismatch(srv, r, OTHER)


def test_same_user_other_domain(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic("FABRIKAM\\certuser", PASSWORD))
    assert_mismatch(srv, r, "FABRIKAM\\certuser")


def test_user_name_with_control_character(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", pki.clients["certuser"],
            headers=basic("certuser\x01", PASSWORD))
    assert_challenged(srv, r, REALM, "CERTMAP0022")


# -- what does not change -----------------------------------------------------------

def test_unmapped_certificate_is_not_asked_for_a_password(srv, pki):
    c = pki.clients["bob"]
    r = get(srv, pki, "/pw/env.cgi", c, headers=basic("bob", "bobs-password"))
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)


def test_no_certificate(srv, pki):
    r = get(srv, pki, "/pw/env.cgi", headers=basic(USER, PASSWORD))
    assert_refused(srv, r, "cert-required")


def test_require_valid_user(srv, pki):
    c = pki.clients["certuser"]
    assert_challenged(srv, get(srv, pki, "/pw/valid/env.cgi", c), REALM,
                      "CERTMAP0021")
    assert_mapped(get(srv, pki, "/pw/valid/env.cgi", c,
                      headers=basic(USER, PASSWORD)), USER)
    # mod_auth_basic does not run again and replace the account by the
    # bare name typed
    assert_mapped(get(srv, pki, "/pw/valid/env.cgi", c,
                      headers=basic("certuser", PASSWORD)), USER)


def test_password_off_in_child(srv, pki):
    assert_mapped(get(srv, pki, "/pw/off/env.cgi", pki.clients["certuser"]),
                  USER)


def test_keepalive_challenge_then_password(srv, pki):
    with Conn(srv, pki, pki.clients["certuser"]) as c:
        r1 = c.get("/pw/env.cgi")
        assert r1.status == 401, r1
        r2 = c.get("/pw/env.cgi", headers=basic(USER, PASSWORD))
        assert_mapped(r2, USER)
        r3 = c.get("/pw/env.cgi", headers=basic(USER, "wrong"))
        assert r3.status == 401, r3


# -- without AuthType/AuthName; other providers ----------------------------------

def test_default_realm_without_authtype(srv, pki):
    r = get(srv, pki, "/bare/env.cgi", pki.clients["certuser"])
    assert_challenged(srv, r, DEFAULT_REALM, "CERTMAP0021")
    assert_mapped(get(srv, pki, "/bare/env.cgi", pki.clients["certuser"],
                      headers=basic(USER, PASSWORD)), USER)


def test_authbasicprovider_is_used(srv, pki):
    c = pki.clients["certuser"]
    assert_mapped(get(srv, pki, "/alias/env.cgi", c,
                      headers=basic(USER, ALT_PASSWORD)), USER)
    # the password of the default provider's file is not the one here
    r = get(srv, pki, "/alias/env.cgi", c, headers=basic(USER, PASSWORD))
    assert_challenged(srv, r, DEFAULT_REALM, "CERTMAP0022")


# -- Satisfy Any ---------------------------------------------------------------------

@pytest.mark.parametrize("loc", ["any-granted", "any-valid",
                                 "any-noauthtype"])
def test_satisfy_any_keeps_the_challenge(srv, pki, loc):
    c = pki.clients["certuser"]
    r = get(srv, pki, "/%s/env.cgi" % loc, c)
    assert r.status == 401, (r.status, r.text)
    assert r.header("WWW-Authenticate", ) is not None, r.headers
    r = get(srv, pki, "/%s/env.cgi" % loc, c, headers=basic(USER, "wrong"))
    assert r.status == 401, (r.status, r.text)
    assert "REMOTE_USER=" not in r.text, r.text
    assert_mapped(get(srv, pki, "/%s/env.cgi" % loc, c,
                      headers=basic(USER, PASSWORD)), USER)


@pytest.mark.parametrize("loc", ["any-granted", "any-valid",
                                 "any-noauthtype"])
def test_satisfy_any_keeps_the_mismatch(srv, pki, loc):
    # under any-valid, mod_auth_basic itself accepts CONTOSO\other's
    # credentials; the certificate still says certuser
    r = get(srv, pki, "/%s/env.cgi" % loc, pki.clients["certuser"],
            headers=basic(OTHER, OTHER_PASSWORD))
    assert r.status == 403, (r.status, r.text)
    assert "cert-mismatch" in r.text, r.text


# -- configuration ------------------------------------------------------------------

def test_unknown_provider_fails_configtest(httpd):
    srv = httpd("<Location /x>\n    CertMap On\n    CertMapPassword On\n"
                "    AuthBasicProvider nosuchprovider\n</Location>",
                start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert "Syntax error on line %d of %s:" % (
        srv.line_of("AuthBasicProvider nosuch"), srv.conf) in out, out
    assert "nosuchprovider" in out, out


def test_bad_flag_fails_configtest(httpd):
    srv = httpd("<Location /x>\n    CertMapPassword maybe\n</Location>",
                start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    assert "CertMapPassword" in out, out
