"""CertMapUPNDomain: a verified certificate whose SAN carries one Microsoft
UPN user@suffix maps to DOMAIN\\user (IIS's Active Directory mapping).
Suffixes compare without case; several lines and inherited ones; the inner
scope first; two UPNs, no matching suffix or an unusable user part do not
map; rules and CertMapUser come first.  Expected accounts are computed
here from the certificates' SAN."""

import pytest
from cryptography import x509

from client import get
from checks import assert_mapped, assert_refused
from pki import UPN_OID, upn_san


def upns_of(client):
    """The UPNs in a certificate's SAN, decoded here (UTF8String)."""
    try:
        san = client.cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == UPN_OID:
            der = other.value
            assert der[0] == 0x0C and der[1] < 0x80  # short UTF8String
            out.append(der[2:2 + der[1]].decode("utf-8"))
    return out


def expected(client, suffixes):
    """DOMAIN\\user for the certificate's single UPN, given
    {suffix (any case): DOMAIN} in precedence order; None if none maps."""
    upns = upns_of(client)
    if len(upns) != 1:
        return None
    user, _, suffix = upns[0].rpartition("@")
    for s, domain in suffixes:
        if s.lower() == suffix.lower():
            return "%s\\%s" % (domain, user)
    return None


SNIPPET = r'''
<Location /ad>
    CertMap On
    CertMapUPNDomain contoso.com CONTOSO
    CertMapUPNDomain FABRIKAM.COM FABRIKAM
</Location>
<Location /ad/child>
    CertMapUPNDomain contoso.com CHILDDOM
</Location>
<Location /ad/rules>
    CertMapRule "%{SSL_CLIENT_S_DN_CN} == 'upn-alice'" "RULES\byrule"
</Location>
<Location /ad/exact>
    CertMapUser certs/upn-alice.cer "EXACT\alice"
</Location>
<Location /ad/domain>
    CertMapDomain IGNORED
</Location>
<Location /noupn>
    CertMap On
</Location>
'''

SUFFIXES = [("contoso.com", "CONTOSO"), ("FABRIKAM.COM", "FABRIKAM")]


@pytest.fixture(scope="module")
def certs(pki):
    return {
        "alice": pki.issue("upn-alice", sans=[upn_san("alice@contoso.com")]),
        "bob": pki.issue("upn-bob", sans=[upn_san("Bob@Contoso.COM")]),
        "carol": pki.issue("upn-carol", sans=[upn_san("carol@fabrikam.com")]),
        "two": pki.issue("upn-two", sans=[upn_san("alice@contoso.com"),
                                          upn_san("dave@contoso.com")]),
        "elsewhere": pki.issue("upn-elsewhere",
                               sans=[upn_san("erin@northwind.com")]),
        "sub": pki.issue("upn-sub", sans=[upn_san("sam@eu.contoso.com")]),
        "backslash": pki.issue("upn-backslash",
                               sans=[upn_san("x\\y@contoso.com")]),
        "nouser": pki.issue("upn-nouser", sans=[upn_san("@contoso.com")]),
        "dns": pki.issue("upn-dns", sans=[x509.DNSName("alice.contoso.com")]),
    }


@pytest.fixture(scope="module")
def srv(module_httpd, certs):
    return module_httpd(SNIPPET, dirs=["ad", "ad/child", "ad/rules",
                                       "ad/exact", "ad/domain", "noupn"])


def _upn_match(srv, text, nth=1):
    return "upn:" + srv.match(text, nth)


def test_upn_maps(srv, pki, certs):
    c = certs["alice"]
    assert upns_of(c) == ["alice@contoso.com"]
    r = get(srv, pki, "/ad/env.cgi", c)
    assert_mapped(r, expected(c, SUFFIXES),
                  match=_upn_match(srv, "CertMapUPNDomain contoso.com "
                                        "CONTOSO"))


def test_suffix_compares_without_case(srv, pki, certs):
    c = certs["bob"]
    account = expected(c, SUFFIXES)
    assert account == "CONTOSO\\Bob"  # the user part keeps its case
    assert_mapped(get(srv, pki, "/ad/env.cgi", c), account)


def test_second_line(srv, pki, certs):
    c = certs["carol"]
    assert_mapped(get(srv, pki, "/ad/env.cgi", c), expected(c, SUFFIXES),
                  match=_upn_match(srv, "CertMapUPNDomain FABRIKAM.COM"))


def test_two_upns_do_not_map(srv, pki, certs):
    c = certs["two"]
    assert len(upns_of(c)) == 2
    r = get(srv, pki, "/ad/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)
    lines = srv.wait_error_lines("CERTMAP0020", "2 UPNs",
                                 "[client 127.0.0.1:%d]" % r.client_port)
    assert len(lines) == 1, srv.read_error_log()[-2000:]


@pytest.mark.parametrize("who", ["elsewhere", "sub"])
def test_no_matching_suffix(srv, pki, certs, who):
    c = certs[who]
    assert expected(c, SUFFIXES) is None
    r = get(srv, pki, "/ad/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)


def test_no_upn(srv, pki, certs):
    c = certs["dns"]
    assert upns_of(c) == []
    assert_refused(srv, get(srv, pki, "/ad/env.cgi", c), "cert-unmapped",
                   subject=c.subject)


def test_invalid_user_part_does_not_map(srv, pki, certs):
    c = certs["backslash"]
    r = get(srv, pki, "/ad/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)
    lines = srv.wait_error_lines("CERTMAP0020", "invalid account",
                                 "[client 127.0.0.1:%d]" % r.client_port)
    assert len(lines) == 1, srv.read_error_log()[-2000:]


def test_empty_user_part_does_not_map(srv, pki, certs):
    c = certs["nouser"]
    assert_refused(srv, get(srv, pki, "/ad/env.cgi", c), "cert-unmapped",
                   subject=c.subject)


def test_inner_scope_first(srv, pki, certs):
    c = certs["alice"]
    inner = [("contoso.com", "CHILDDOM")] + SUFFIXES
    r = get(srv, pki, "/ad/child/env.cgi", c)
    assert_mapped(r, expected(c, inner),
                  match=_upn_match(srv, "CertMapUPNDomain contoso.com "
                                        "CHILDDOM"))


def test_inherited_line(srv, pki, certs):
    c = certs["carol"]
    assert_mapped(get(srv, pki, "/ad/child/env.cgi", c),
                  expected(c, SUFFIXES))


def test_rules_come_before_upn(srv, pki, certs):
    r = get(srv, pki, "/ad/rules/env.cgi", certs["alice"])
    assert_mapped(r, "RULES\\byrule")
    # a certificate no rule matches still maps by its UPN
    c = certs["carol"]
    assert_mapped(get(srv, pki, "/ad/rules/env.cgi", c),
                  expected(c, SUFFIXES))


def test_certmapuser_comes_before_upn(srv, pki, certs):
    r = get(srv, pki, "/ad/exact/env.cgi", certs["alice"])
    assert_mapped(r, "EXACT\\alice")


def test_certmapdomain_does_not_change_upn_domain(srv, pki, certs):
    c = certs["alice"]
    assert_mapped(get(srv, pki, "/ad/domain/env.cgi", c),
                  expected(c, SUFFIXES))


def test_no_upn_domain_no_mapping(srv, pki, certs):
    c = certs["alice"]
    assert_refused(srv, get(srv, pki, "/noupn/env.cgi", c), "cert-unmapped",
                   subject=c.subject)


@pytest.mark.parametrize("line,pattern", [
    ("CertMapUPNDomain @contoso.com CONTOSO", r"UPN suffix"),
    ('CertMapUPNDomain contoso.com "CON\\TOSO"', r"must not contain"),
    ("CertMapUPNDomain contoso.com", r"two arguments"),
])
def test_config_errors(httpd, line, pattern):
    import re
    srv = httpd("<Location /x>\n    CertMap On\n    %s\n</Location>" % line,
                start=False)
    rc, out = srv.configtest()
    assert rc != 0, out
    head = "Syntax error on line %d of %s:" % (
        srv.line_of("CertMapUPNDomain"), srv.conf)
    assert head in out, out
    assert re.search(pattern, out.split(head, 1)[1], re.I), out
