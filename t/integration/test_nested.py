"""Nested scopes merge: children inherit entries and settings, add entries,
remap, turn CertMap off; a deny in an enclosing scope wins; <Directory>,
.htaccess (AllowOverride AuthConfig) and server-level entries."""

import pytest

from client import get
from checks import assert_anonymous, assert_mapped, assert_refused

USER = "W2K3TEST\\certuser"

SNIPPET = r'''
<Location /parent>
    CertMap On
    CertMapDomain W2K3TEST
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapDeny certs/denied.cer
</Location>
<Location /parent/child>
    CertMapUser certs/bob.cer bob
    CertMapUser certs/denied.cer "W2K3TEST\denied"
</Location>
<Location /parent/remap>
    CertMapUser certs/certuser.cer "OTHERDOM\remapped"
</Location>
<Location /parent/off>
    CertMap Off
</Location>
<Location /parent/optional>
    CertMap Optional
</Location>
<Location /parent/domain2>
    CertMapDomain SECOND
    CertMapUser certs/other.cer other
</Location>
'''


DIRSCOPE = r'''
<Directory "@ROOT@/htdocs/dirscope">
    CertMap On
    CertMapUser certs/certuser.pem "W2K3TEST\certuser"
</Directory>
<Location /dirscope/loc>
    CertMapUser certs/other.pem "W2K3TEST\other"
</Location>
'''


HTACCESS = r'''# mapped by .htaccess
CertMap On
CertMapUser certs/certuser.cer "W2K3TEST\certuser"
'''


@pytest.fixture(scope="module")
def srv(module_httpd, pki):
    return module_httpd(SNIPPET + DIRSCOPE, dirs=[
        "parent", "parent/child", "parent/remap", "parent/off",
        "parent/optional", "parent/domain2", "dirscope", "dirscope/loc",
        "ht"], files={"htdocs/ht/.htaccess": HTACCESS})


def test_parent(srv, pki):
    r = get(srv, pki, "/parent/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.match(
        r'CertMapUser certs/certuser.cer "W2K3TEST\certuser"'))


def test_parent_does_not_see_child_entries(srv, pki):
    r = get(srv, pki, "/parent/env.cgi", pki.clients["bob"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=bob,O=W2K3TEST")


def test_parent_deny(srv, pki):
    r = get(srv, pki, "/parent/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_child_inherits_parent_entry(srv, pki):
    r = get(srv, pki, "/parent/child/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.match(
        r'CertMapUser certs/certuser.cer "W2K3TEST\certuser"'))


def test_child_adds_entry_and_inherits_domain(srv, pki):
    r = get(srv, pki, "/parent/child/env.cgi", pki.clients["bob"])
    assert_mapped(r, "W2K3TEST\\bob", domain="W2K3TEST",
                  match=srv.match("CertMapUser certs/bob.cer bob"))


def test_child_inherits_certmap_on(srv, pki):
    assert_refused(srv, get(srv, pki, "/parent/child/env.cgi",
                            pki.clients["other"]),
                   "cert-unmapped", subject="CN=other,O=W2K3TEST")
    assert_refused(srv, get(srv, pki, "/parent/child/env.cgi"),
                   "cert-required")


def test_deny_in_parent_wins_over_child_mapping(srv, pki):
    r = get(srv, pki, "/parent/child/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_child_remaps_certificate(srv, pki):
    r = get(srv, pki, "/parent/remap/env.cgi", pki.clients["certuser"])
    assert_mapped(r, "OTHERDOM\\remapped", domain="OTHERDOM", match=srv.match(
        r'CertMapUser certs/certuser.cer "OTHERDOM\remapped"'))


def test_sibling_entries_do_not_leak(srv, pki):
    r = get(srv, pki, "/parent/remap/env.cgi", pki.clients["bob"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=bob,O=W2K3TEST")


@pytest.mark.parametrize("who", ["certuser", "other", "denied", None])
def test_child_off(srv, pki, who):
    client = pki.clients[who] if who else None
    r = get(srv, pki, "/parent/off/env.cgi", client)
    assert_anonymous(r)


def test_child_optional(srv, pki):
    assert_anonymous(get(srv, pki, "/parent/optional/env.cgi"))
    assert_anonymous(get(srv, pki, "/parent/optional/env.cgi",
                         pki.clients["other"]))
    assert_mapped(get(srv, pki, "/parent/optional/env.cgi",
                      pki.clients["certuser"]), USER)
    r = get(srv, pki, "/parent/optional/env.cgi", pki.clients["denied"])
    assert_refused(srv, r, "cert-denied", subject="CN=denied,O=W2K3TEST")


def test_child_own_domain(srv, pki):
    r = get(srv, pki, "/parent/domain2/env.cgi", pki.clients["other"])
    assert_mapped(r, "SECOND\\other", domain="SECOND")


def test_directory_scope(srv, pki):
    r = get(srv, pki, "/dirscope/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.match(
        r'CertMapUser certs/certuser.pem "W2K3TEST\certuser"'))
    assert_refused(srv, get(srv, pki, "/dirscope/env.cgi",
                            pki.clients["other"]),
                   "cert-unmapped", subject="CN=other,O=W2K3TEST")


def test_location_merged_onto_directory(srv, pki):
    assert_mapped(get(srv, pki, "/dirscope/loc/env.cgi",
                      pki.clients["other"]), "W2K3TEST\\other")
    assert_mapped(get(srv, pki, "/dirscope/loc/env.cgi",
                      pki.clients["certuser"]), USER)


def test_htaccess(srv, pki):
    r = get(srv, pki, "/ht/env.cgi", pki.clients["certuser"])
    assert_mapped(r, USER, match=srv.path("htdocs/ht/.htaccess") + ":3")
    assert_refused(srv, get(srv, pki, "/ht/env.cgi", pki.clients["other"]),
                   "cert-unmapped", subject="CN=other,O=W2K3TEST")
    assert_refused(srv, get(srv, pki, "/ht/index.html"), "cert-required")


def test_server_level_entries_inherited(httpd, pki):
    srv = httpd(r'''
    CertMapDomain W2K3TEST
    CertMapUser certs/bob.cer bob
    CertMapDeny certs/denied.cer
<Location /loc>
    CertMap On
    CertMapUser certs/certuser.cer "W2K3TEST\certuser"
    CertMapUser certs/denied.cer "W2K3TEST\denied"
</Location>
''', dirs=["loc"])
    assert_mapped(get(srv, pki, "/loc/env.cgi", pki.clients["bob"]),
                  "W2K3TEST\\bob", match=srv.match("CertMapUser certs/bob.cer"))
    assert_mapped(get(srv, pki, "/loc/env.cgi", pki.clients["certuser"]), USER)
    # a server-level deny wins over the Location's mapping
    assert_refused(srv, get(srv, pki, "/loc/env.cgi", pki.clients["denied"]),
                   "cert-denied", subject="CN=denied,O=W2K3TEST")
    # outside the Location, CertMap is Off (the default): no mapping
    assert_anonymous(get(srv, pki, "/env.cgi", pki.clients["bob"]))
