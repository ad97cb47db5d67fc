"""CertMapRule: many-to-one mapping by httpd expressions over the verified
certificate (IIS's many-to-one rules).  Conditions with ==, regexes and
captures; accounts that are literal, use %{SSL_...} or $1; deny rules;
first match wins; parent scope's rules first; precedence against
CertMapUser/CertMapDeny; accounts a rule must never give; configuration
errors.  Expected accounts are computed here from the certificates."""

import re

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from client import get
from checks import assert_mapped, assert_refused


def _name(**fields):
    oids = {"O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "CN": NameOID.COMMON_NAME,
            "ST": NameOID.STATE_OR_PROVINCE_NAME}
    return x509.Name([x509.NameAttribute(oids[k], v)
                      for k, v in fields.items()])


def _field(cert_name, oid):
    """The first value of `oid` in an x509.Name (what mod_ssl's
    SSL_CLIENT_S_DN_xx gives)."""
    return cert_name.get_attributes_for_oid(oid)[0].value


class Certs:
    """The certificates of this module, issued by two extra CAs."""

    def __init__(self, pki):
        contoso = pki.make_ca("rules-contoso", _name(O="Contoso",
                                                     CN="Contoso Issuing CA"),
                              issuer=pki.root)
        fabrikam = pki.make_ca("rules-fabrikam",
                               _name(O="Fabrikam", CN="Fabrikam CA"),
                               issuer=pki.root)
        self.issuer_o = {}

        def issue(name, issuer, **subject):
            c = pki.issue(name, subject=_name(**subject), issuer=issuer)
            self.issuer_o[name] = _field(issuer.cert.subject,
                                         NameOID.ORGANIZATION_NAME)
            return c

        self.sales = issue("rules-sales", contoso, OU="Sales", CN="jdoe")
        self.sales2 = issue("rules-sales2", contoso, OU="Sales", CN="mmiller")
        self.admin = issue("rules-admin", contoso, OU="IT", CN="jsmith-adm")
        self.eng = issue("rules-eng", contoso, OU="Engineering", CN="kwong")
        self.contractor = issue("rules-contractor", contoso,
                                OU="Contractors", CN="tlee")
        self.fab_sales = issue("rules-fab-sales", fabrikam, OU="Sales",
                               CN="jdoe")
        # A CN that makes CONTOSO\%{CN} an account with two backslashes.
        self.backslash = issue("rules-backslash", contoso, OU="Weird",
                               CN="evil\\admin")
        self.recursion = issue("rules-recursion", contoso, OU="Deep",
                               CN="deep")

    @staticmethod
    def cn(c):
        return _field(c.cert.subject, NameOID.COMMON_NAME)

    @staticmethod
    def ou(c):
        return _field(c.cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)


# 25 nested function calls exceed ap_expr's recursion limit (20) when the
# rule is evaluated (parsing accepts them).
DEEP = "tolower(" * 25 + "%{SSL_CLIENT_S_DN_OU}" + ")" * 25 + " == 'deep'"

SNIPPET = r'''
<Location /basic>
    CertMap On
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso' && %{SSL_CLIENT_S_DN_OU} == 'Contractors'" deny
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso' && %{SSL_CLIENT_S_DN_OU} == 'Sales'" "CONTOSO\%{SSL_CLIENT_S_DN_CN}"
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso' && %{SSL_CLIENT_S_DN_CN} =~ /^([a-z]+)-adm$/" "ADMINS\$1"
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso' && %{SSL_CLIENT_S_DN_OU} =~ /^engineering$/i" "CONTOSO\engineers"
</Location>
<Location /order>
    CertMap On
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" "FIRST\%{SSL_CLIENT_S_DN_CN}"
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso'" "SECOND\%{SSL_CLIENT_S_DN_CN}"
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" deny
</Location>
<Location /parent>
    CertMap On
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" "PARENT\%{SSL_CLIENT_S_DN_CN}"
</Location>
<Location /parent/child>
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" "CHILD\%{SSL_CLIENT_S_DN_CN}"
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Engineering'" "CHILD\eng"
</Location>
<Location /prec>
    CertMap On
    CertMapUser certs/rules-sales.cer "OTHERDOM\exact"
    CertMapUser certs/rules-contractor.cer "CONTOSO\contractor-exact"
    CertMapDeny certs/rules-eng.cer
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Contractors'" deny
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso'" "CONTOSO\%{SSL_CLIENT_S_DN_CN}"
</Location>
<Location /bare>
    CertMap On
    CertMapDomain CONTOSO
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" "%{SSL_CLIENT_S_DN_CN}"
</Location>
<Location /invalid>
    CertMap Optional
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Weird'" "CONTOSO\%{SSL_CLIENT_S_DN_CN}"
    CertMapRule "%{SSL_CLIENT_I_DN_O} == 'Contoso'" "CONTOSO\fallback"
</Location>
<Location /invalid-on>
    CertMap On
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Weird'" "CONTOSO\%{SSL_CLIENT_S_DN_CN}"
</Location>
<Location /evalerror>
    CertMap On
    CertMapRule "@DEEP@" deny
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Deep'" "CONTOSO\deep-mapped"
</Location>
<Location /optional-deny>
    CertMap Optional
    CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Contractors'" deny
</Location>
'''.replace("@DEEP@", DEEP)

DIRS = ["basic", "order", "parent", "parent/child", "prec", "bare",
        "invalid", "invalid-on", "evalerror", "optional-deny", "ht"]

# AllowOverride AuthConfig (the test server's docroot) allows rules here.
HTACCESS = r'''CertMap On
CertMapRule "%{SSL_CLIENT_S_DN_OU} == 'Sales'" "HT\%{SSL_CLIENT_S_DN_CN}"
'''


@pytest.fixture(scope="module")
def certs(pki):
    return Certs(pki)


@pytest.fixture(scope="module")
def srv(module_httpd, certs):
    # the CAs above were added to the trust file before this start
    return module_httpd(SNIPPET, dirs=DIRS,
                        files={"htdocs/ht/.htaccess": HTACCESS})


def _rule(srv, location, nth_in_location=1):
    """CERTMAP_MATCH of the nth CertMapRule inside <Location location>."""
    start = srv.line_of("<Location %s>" % location)
    seen = 0
    for i, line in enumerate(srv.conf_lines[start:], start + 1):
        if line.strip().startswith("CertMapRule"):
            seen += 1
            if seen == nth_in_location:
                return "%s:%d" % (srv.conf, i)
    raise KeyError(location)


# -- conditions and accounts ---------------------------------------------------

def test_equality_and_certificate_variable_in_account(srv, pki, certs):
    c = certs.sales
    assert certs.issuer_o[c.name] == "Contoso" and certs.ou(c) == "Sales"
    r = get(srv, pki, "/basic/env.cgi", c)
    assert_mapped(r, "CONTOSO\\" + certs.cn(c), match=_rule(srv, "/basic", 2))


def test_second_certificate_same_rule_gets_own_account(srv, pki, certs):
    r = get(srv, pki, "/basic/env.cgi", certs.sales2)
    assert_mapped(r, "CONTOSO\\" + certs.cn(certs.sales2),
                  match=_rule(srv, "/basic", 2))


def test_regex_capture_in_account(srv, pki, certs):
    m = re.match(r"^([a-z]+)-adm$", certs.cn(certs.admin))
    assert m
    r = get(srv, pki, "/basic/env.cgi", certs.admin)
    assert_mapped(r, "ADMINS\\" + m.group(1), match=_rule(srv, "/basic", 3))


def test_case_insensitive_regex_and_literal_account(srv, pki, certs):
    assert certs.ou(certs.eng) != "engineering"  # only /i makes it match
    r = get(srv, pki, "/basic/env.cgi", certs.eng)
    assert_mapped(r, "CONTOSO\\engineers", match=_rule(srv, "/basic", 4))


def test_deny_rule(srv, pki, certs):
    c = certs.contractor
    r = get(srv, pki, "/basic/env.cgi", c)
    assert_refused(srv, r, "cert-denied", subject=c.subject)


def test_other_issuer_does_not_match(srv, pki, certs):
    # same subject fields as a Sales certificate, another issuer
    c = certs.fab_sales
    assert certs.ou(c) == "Sales" and certs.issuer_o[c.name] != "Contoso"
    r = get(srv, pki, "/basic/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)


def test_no_rule_matches(srv, pki):
    c = pki.clients["other"]
    r = get(srv, pki, "/basic/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject=c.subject)


def test_rules_need_a_certificate(srv, pki):
    assert_refused(srv, get(srv, pki, "/basic/env.cgi"), "cert-required")


def test_access_log_shows_rule_account(srv, pki, certs):
    r = get(srv, pki, "/basic/env.cgi", certs.sales)
    line = srv.wait_access_line(r.path)
    assert " CONTOSO\\\\%s [" % certs.cn(certs.sales) in line, line


# -- order ----------------------------------------------------------------------

def test_first_match_wins(srv, pki, certs):
    # rules 1 and 2 (and the deny, 3) all match a Contoso Sales certificate
    r = get(srv, pki, "/order/env.cgi", certs.sales)
    assert_mapped(r, "FIRST\\" + certs.cn(certs.sales),
                  match=_rule(srv, "/order", 1))


def test_later_rule_when_earlier_does_not_match(srv, pki, certs):
    r = get(srv, pki, "/order/env.cgi", certs.eng)
    assert_mapped(r, "SECOND\\" + certs.cn(certs.eng),
                  match=_rule(srv, "/order", 2))


def test_deny_after_a_matching_rule_is_not_reached(srv, pki, certs):
    # fab_sales: rule 1 matches (OU=Sales) before the deny (rule 3)
    r = get(srv, pki, "/order/env.cgi", certs.fab_sales)
    assert_mapped(r, "FIRST\\" + certs.cn(certs.fab_sales),
                  match=_rule(srv, "/order", 1))


def test_parent_rules_come_first(srv, pki, certs):
    r = get(srv, pki, "/parent/child/env.cgi", certs.sales)
    assert_mapped(r, "PARENT\\" + certs.cn(certs.sales),
                  match=_rule(srv, "/parent", 1))


def test_child_rule_after_parent(srv, pki, certs):
    r = get(srv, pki, "/parent/child/env.cgi", certs.eng)
    assert_mapped(r, "CHILD\\eng", match=_rule(srv, "/parent/child", 2))


def test_parent_does_not_see_child_rules(srv, pki, certs):
    r = get(srv, pki, "/parent/env.cgi", certs.eng)
    assert_refused(srv, r, "cert-unmapped", subject=certs.eng.subject)


def test_rule_in_htaccess(srv, pki, certs):
    r = get(srv, pki, "/ht/env.cgi", certs.sales)
    assert_mapped(r, "HT\\" + certs.cn(certs.sales),
                  match=srv.path("htdocs/ht/.htaccess") + ":2")
    r = get(srv, pki, "/ht/env.cgi", certs.eng)
    assert_refused(srv, r, "cert-unmapped", subject=certs.eng.subject)


# -- precedence against the tables ---------------------------------------------

def test_certmapuser_beats_rule(srv, pki, certs):
    r = get(srv, pki, "/prec/env.cgi", certs.sales)
    assert_mapped(r, "OTHERDOM\\exact", match=srv.match(
        r'CertMapUser certs/rules-sales.cer "OTHERDOM\exact"'))


def test_rule_deny_does_not_beat_exact_mapping(srv, pki, certs):
    r = get(srv, pki, "/prec/env.cgi", certs.contractor)
    assert_mapped(r, "CONTOSO\\contractor-exact")


def test_certmapdeny_beats_rule_mapping(srv, pki, certs):
    r = get(srv, pki, "/prec/env.cgi", certs.eng)
    assert_refused(srv, r, "cert-denied", subject=certs.eng.subject)


def test_rule_maps_what_the_table_does_not(srv, pki, certs):
    r = get(srv, pki, "/prec/env.cgi", certs.sales2)
    assert_mapped(r, "CONTOSO\\" + certs.cn(certs.sales2),
                  match=_rule(srv, "/prec", 2))


def test_bare_account_gets_certmapdomain(srv, pki, certs):
    r = get(srv, pki, "/bare/env.cgi", certs.sales)
    assert_mapped(r, "CONTOSO\\" + certs.cn(certs.sales), domain="CONTOSO",
                  match=_rule(srv, "/bare", 1))


# -- accounts a rule must not give ----------------------------------------------

def test_invalid_generated_account_is_refused_and_logged(srv, pki, certs):
    c = certs.backslash
    account = "CONTOSO\\" + certs.cn(c)
    assert account.count("\\") == 2
    r = get(srv, pki, "/invalid-on/env.cgi", c)
    assert_refused(srv, r, "cert-unmapped", subject="OU=Weird")
    lines = srv.wait_error_lines("CERTMAP0007: rule at %s gave an invalid "
                                 "account:" % _rule(srv, "/invalid-on", 1))
    assert len(lines) == 1, srv.read_error_log()[-2000:]
    assert "more than one" in lines[0], lines


def test_invalid_account_never_falls_through_to_later_rules(srv, pki, certs):
    # CertMap Optional: not mapped at all (not to CONTOSO\fallback)
    r = get(srv, pki, "/invalid/env.cgi", certs.backslash)
    assert r.status == 200, r
    assert r.env["REMOTE_USER"] == "" and r.env["CERTMAP_USER"] == "", r.env
    assert r.env["CERTMAP_REASON"] == "cert-unmapped", r.env
    # another Contoso certificate does reach the later rule
    assert_mapped(get(srv, pki, "/invalid/env.cgi", certs.sales),
                  "CONTOSO\\fallback", match=_rule(srv, "/invalid", 2))


def test_evaluation_error_is_logged_and_fails_closed(srv, pki, certs):
    """The rule that cannot be evaluated is a deny: the later rule that
    would map the certificate must not be reached."""
    r = get(srv, pki, "/evalerror/env.cgi", certs.recursion)
    assert_refused(srv, r, "cert-unmapped", subject=certs.recursion.subject)
    lines = srv.wait_error_lines("CERTMAP0008", _rule(srv, "/evalerror", 1),
                                 "[client 127.0.0.1:%d]" % r.client_port)
    assert len(lines) == 1, srv.read_error_log()[-2000:]
    assert "Recursion limit" in lines[0], lines


def test_deny_rule_applies_under_optional(srv, pki, certs):
    r = get(srv, pki, "/optional-deny/env.cgi", certs.contractor)
    assert_refused(srv, r, "cert-denied", subject=certs.contractor.subject)
    r = get(srv, pki, "/optional-deny/env.cgi", certs.sales)
    assert r.status == 200 and r.env["REMOTE_USER"] == "", r


# -- configuration errors --------------------------------------------------------

def _configtest(httpd, rule):
    srv = httpd("<Location /x>\n    CertMap On\n    %s\n</Location>" % rule,
                start=False)
    rc, out = srv.configtest()
    return srv, rc, out


def _assert_error(srv, rc, out, marker, *patterns):
    assert rc != 0, out
    head = "Syntax error on line %d of %s:" % (srv.line_of(marker), srv.conf)
    assert head in out, "expected %r in:\n%s" % (head, out)
    msg = out.split(head, 1)[1].strip()
    for p in patterns:
        assert re.search(p, msg, re.I), "%r not in:\n%s" % (p, msg)


def test_valid_rules_pass_configtest(httpd, pki):
    srv, rc, out = _configtest(httpd, "\n    ".join([
        r'''CertMapRule "%{SSL_CLIENT_S_DN_O} == 'Contoso'" "CONTOSO\%{SSL_CLIENT_S_DN_CN}"''',
        r'''CertMapRule "%{SSL_CLIENT_S_DN_CN} =~ /^(.+)-pc$/" "CORP\$1$"''',
        r'''CertMapRule "%{SSL_CLIENT_S_DN_OU} -strmatch 'Sales*'" "CORP\PC01$"''',
        r'''CertMapRule "-R '127.0.0.0/8' && %{TIME_HOUR} -gt 0" DENY''',
        r'''CertMapRule "tolower(%{SSL_CLIENT_S_DN_O}) == 'contoso'" bare''',
    ]))
    assert rc == 0, out


def test_bad_expression_syntax(httpd):
    srv, rc, out = _configtest(
        httpd, r'''CertMapRule "%{SSL_CLIENT_S_DN_O} === 'x'" "CONTOSO\x"''')
    _assert_error(srv, rc, out, "CertMapRule", r"CertMapRule",
                  r"condition", r"not a valid httpd expression")


def test_bad_account_template(httpd):
    srv, rc, out = _configtest(
        httpd, r'''CertMapRule "true" "CONTOSO\%{SSL_CLIENT_S_DN_CN"''')
    _assert_error(srv, rc, out, "CertMapRule", r"CertMapRule",
                  r"account", r"not a valid")


@pytest.mark.parametrize("expr,what", [
    ("%{HTTP:X-User} == 'alice'", r"function HTTP"),
    ("%{QUERY_STRING} == 'alice'", r"variable %\{QUERY_STRING\}"),
    ("req('X-User') == 'alice'", r"function req"),
    ("-f '/etc/passwd'", r"operator -f"),
])
def test_client_controlled_input_refused(httpd, expr, what):
    srv, rc, out = _configtest(httpd, 'CertMapRule "%s" "CONTOSO\\x"' % expr)
    _assert_error(srv, rc, out, "CertMapRule", what,
                  r"cannot be used in a rule")


def test_client_controlled_input_refused_in_account(httpd):
    srv, rc, out = _configtest(
        httpd, r'''CertMapRule "true" "CONTOSO\%{HTTP:X-User}"''')
    _assert_error(srv, rc, out, "CertMapRule", r"function HTTP",
                  r"cannot be used in a rule")


@pytest.mark.parametrize("account,pattern", [
    (r'"A\B\C"', r"more than one"),
    (r'"\alice"', r"no domain"),
    ('""', r"takes an expression and an account"),
])
def test_bad_literal_account(httpd, account, pattern):
    srv, rc, out = _configtest(httpd, 'CertMapRule "true" %s' % account)
    _assert_error(srv, rc, out, "CertMapRule", pattern)


def test_missing_account(httpd):
    srv, rc, out = _configtest(httpd, "CertMapRule \"true\"")
    _assert_error(srv, rc, out, "CertMapRule", r"takes an expression and "
                  r"an account or 'deny'")


def test_unquoted_expression(httpd):
    srv, rc, out = _configtest(
        httpd, r"CertMapRule %{SSL_CLIENT_S_DN_O} == 'x' CONTOSO\x")
    _assert_error(srv, rc, out, "CertMapRule", r"double quotes")
