"""Refusals that other configuration must not undo: `Satisfy Any`, an
identity another module set from the certificate, and one certificate
mapped to two accounts by its two fingerprints."""

import pytest

from client import get
from checks import assert_mapped, assert_refused

USER = "W2K3TEST\\certuser"


@pytest.fixture(scope="module")
def srv(module_httpd, pki):
    cu = pki.clients["certuser"]
    return module_httpd(r'''
<Location /satisfy-any>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapDeny certs/denied.cer
    Satisfy Any
    Require all granted
</Location>
<Location /sslusername>
    SSLUserName SSL_CLIENT_S_DN_CN
    CertMap Optional
    CertMapUser certs/bob.cer "W2K3TEST\bob"
    Require valid-user
</Location>
<Location /two-fingerprints>
    CertMap On
    CertMapUser sha1:%s "W2K3TEST\alice"
    CertMapUser sha256:%s "W2K3TEST\bob"
</Location>
''' % (cu.sha1, cu.sha256),
        global_snippet="LoadModule access_compat_module "
                       "/usr/lib/apache2/modules/mod_access_compat.so",
        dirs=["satisfy-any", "sslusername", "two-fingerprints"])


def test_satisfy_any_does_not_lift_certmap_on(srv, pki):
    assert_mapped(get(srv, pki, "/satisfy-any/env.cgi",
                      pki.clients["certuser"]), USER)
    r = get(srv, pki, "/satisfy-any/env.cgi", pki.clients["other"])
    assert_refused(srv, r, "cert-unmapped",
                   subject=pki.clients["other"].subject)
    r = get(srv, pki, "/satisfy-any/env.cgi")
    assert_refused(srv, r, "cert-required")


def test_satisfy_any_does_not_lift_a_deny(srv, pki):
    r = get(srv, pki, "/satisfy-any/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied")


def test_sslusername_identity_cleared_when_certificate_does_not_map(srv,
                                                                    pki):
    # mod_ssl's SSLUserName set r->user from the CN; the certificate does
    # not map, so that identity must not stand.
    r = get(srv, pki, "/sslusername/env.cgi", pki.clients["other"])
    assert r.status == 403, r
    assert r.header("X-Remote-User") in (None, ""), r.headers
    lines = srv.wait_error_lines("CERTMAP0005", "'other'")
    assert lines, srv.read_error_log()[-2000:]
    # a mapped certificate replaces it with the mapped account
    assert_mapped(get(srv, pki, "/sslusername/env.cgi", pki.clients["bob"]),
                  "W2K3TEST\\bob")


def test_two_fingerprints_two_accounts_refused(srv, pki):
    cu = pki.clients["certuser"]
    r = get(srv, pki, "/two-fingerprints/env.cgi", cu)
    assert_refused(srv, r, "cert-unmapped", subject=cu.subject)
    lines = srv.wait_error_lines("CERTMAP0006", cu.subject)
    assert lines, srv.read_error_log()[-2000:]
