"""The certificate arrives in the middle of a connection: the vhost asks for
none, a <Location> has SSLVerifyClient require, so mod_ssl renegotiates
(TLS 1.2) or asks for post-handshake authentication (TLS 1.3).  Whatever the
module remembers per connection must not keep the earlier "no certificate"
answer; and an ErrorDocument sees the reason as REDIRECT_CERTMAP_REASON."""

import pytest

from client import Conn, get
from checks import assert_anonymous, assert_mapped

USER = "W2K3TEST\\certuser"

SNIPPET = r'''
<Location /optional>
    CertMap Optional
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
</Location>
<Location /require>
    SSLVerifyClient require
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
</Location>
<Location /on>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    ErrorDocument 403 /errdoc/env.cgi
</Location>
'''


@pytest.fixture(scope="module")
def srv(module_httpd):
    return module_httpd(SNIPPET, verify=None,
                        dirs=["optional", "require", "on", "errdoc"])


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_certificate_arrives_mid_connection(srv, pki, tls):
    with Conn(srv, pki, pki.clients["certuser"], tls=tls) as c:
        assert c.tls_version == "TLSv1." + tls[-1]
        r1 = c.get("/optional/env.cgi")
        assert_anonymous(r1)
        assert r1.env["SSL_CLIENT_VERIFY"] == "NONE"
        r2 = c.get("/require/env.cgi")
        assert_mapped(r2, USER)
        assert r2.client_port == r1.client_port
        # the connection now has a verified certificate
        r3 = c.get("/optional/env.cgi")
        assert r3.env["SSL_CLIENT_VERIFY"] == "SUCCESS", r3.env
        assert_mapped(r3, USER)


def test_errordocument_sees_reason(srv, pki):
    # no certificate requested by this vhost outside /require
    r = get(srv, pki, "/on/env.cgi", pki.clients["certuser"])
    assert r.status == 403, (r.status, r.text)
    assert r.env["REDIRECT_CERTMAP_REASON"] == "cert-required", r.text
    assert r.env["REDIRECT_STATUS"] == "403", r.text
