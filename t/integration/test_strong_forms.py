"""Renewal-proof and Active Directory strong certificate forms through a
real httpd: spki-sha256:, X509:<I>...<SR>..., X509:<SKI>...,
X509:<SHA1-PUKEY>... in CertMapUser, CertMapDeny and a CertMapFile; a
renewed certificate (same key) keeps mapping by its key but not by its
fingerprint; a serial written in the wrong byte order does not map; the
precedence of denies, exact and key forms; weak forms refused at start.

Every expected string is computed here from the certificate with
python3-cryptography, independently of the module's C code."""

import hashlib
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from client import get
from checks import assert_mapped, assert_refused

# ---------------------------------------------------------------------------
# The AD strings, from the certificate, following Microsoft's rules:
# KB5014754 and [MS-PKCA] 3.1.5.2.1.3 for the forms, CertNameToStr
# (CERT_X500_NAME_STR) for the issuer.

# Windows' attribute names; any other attribute is written OID.n.n.n.
_WINDOWS_NAMES = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.10": "O", "2.5.4.11": "OU",
    "1.2.840.113549.1.9.1": "E", "2.5.4.6": "C", "2.5.4.8": "S",
    "2.5.4.9": "STREET", "2.5.4.12": "T", "2.5.4.42": "G", "2.5.4.43": "I",
    "2.5.4.4": "SN", "0.9.2342.19200300.100.1.25": "DC",
    "2.5.4.5": "SERIALNUMBER", "2.5.4.17": "PostalCode",
}


def _ad_value(v):
    """Quoted, inner quotes doubled, when empty, blank at either end, or
    holding any of , + = " newline < > # ;"""
    if v and v[0] != " " and v[-1] != " " and \
            not any(ch in v for ch in ',+="\n<>#;'):
        return v
    return '"' + v.replace('"', '""') + '"'


def _der(data, pos):
    """(tag, content start, content end) of the DER element at pos."""
    tag, n = data[pos], data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + n


def _oid(b):
    arcs, v = [], 0
    for x in b:
        v = (v << 7) | (x & 0x7F)
        if not x & 0x80:
            arcs.append(v)
            v = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii",
                  0x1E: "utf-16-be", 0x1C: "utf-32-be", 0x14: "latin-1"}


def _tbs_fields(cert):
    """The serial's content bytes and the issuer's RDNs, as
    [[(dotted oid, text), ...], ...], read from the DER in encoded order
    (python3-cryptography does not keep the order inside an RDN)."""
    tbs = cert.tbs_certificate_bytes
    _, pos, _ = _der(tbs, 0)
    tag, start, end = _der(tbs, pos)
    if tag == 0xA0:                      # version
        pos = end
        tag, start, end = _der(tbs, pos)
    assert tag == 0x02
    serial = tbs[start:end]
    _, _, pos = _der(tbs, end)           # signature algorithm
    tag, pos, issuer_end = _der(tbs, pos)
    assert tag == 0x30
    rdns = []
    while pos < issuer_end:
        tag, p, set_end = _der(tbs, pos)
        assert tag == 0x31
        rdn = []
        while p < set_end:
            _, q, ava_end = _der(tbs, p)
            tag, os_, oe = _der(tbs, q)
            assert tag == 0x06
            vtag, vs, ve = _der(tbs, oe)
            rdn.append((_oid(tbs[os_:oe]),
                        tbs[vs:ve].decode(_STRING_CODECS[vtag])))
            p = ava_end
        rdns.append(rdn)
        pos = set_end
    return serial, rdns


def ad_issuer(cert):
    """The issuer as X509:<I> writes it: RDNs in encoded order joined by
    ',', the values of a multi-valued RDN by ' '."""
    return ",".join(
        " ".join("%s=%s" % (_WINDOWS_NAMES.get(oid, "OID." + oid),
                            _ad_value(value))
                 for oid, value in rdn)
        for rdn in _tbs_fields(cert)[1])


def serial_content(cert):
    """The DER INTEGER content bytes of the serial (two's complement, with
    the 00 sign byte a serial with its top bit set needs), from the
    number, checked against the bytes in the certificate."""
    n = cert.serial_number
    content = n.to_bytes(n.bit_length() // 8 + 1, "big")
    assert content == _tbs_fields(cert)[0]
    return content


def ad_serial(cert):
    """<SR>: the content bytes in reverse order."""
    return serial_content(cert)[::-1].hex().upper()


def spki_der(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_bits(cert):
    """The subjectPublicKey BIT STRING's contents: for P-256, the
    uncompressed point."""
    return cert.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)


def forms(client):
    """spec strings of a Client, by form name."""
    cert = client.cert
    f = {
        "sha256": "sha256:" + client.sha256,
        "spki-sha256": "spki-sha256:" + hashlib.sha256(
            spki_der(cert)).hexdigest(),
        "X509:<I><SR>": "X509:<I>%s<SR>%s" % (ad_issuer(cert),
                                             ad_serial(cert)),
        "X509:<SHA1-PUKEY>": "X509:<SHA1-PUKEY>" + hashlib.sha1(
            public_key_bits(cert)).hexdigest(),
    }
    try:
        ski = cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value.digest
        f["X509:<SKI>"] = "X509:<SKI>" + ski.hex()
    except x509.ExtensionNotFound:
        pass
    return f


KEY_FORMS = ["spki-sha256", "X509:<I><SR>", "X509:<SKI>", "X509:<SHA1-PUKEY>"]
SLUG = {"spki-sha256": "spki", "X509:<I><SR>": "isr", "X509:<SKI>": "ski",
        "X509:<SHA1-PUKEY>": "pukey"}


def conf_quote(value):
    """A value as one httpd config argument: single quotes, in which only
    \\' and \\\\ are escapes (our values hold neither)."""
    assert "'" not in value and "\\\\" not in value
    return "'%s'" % value


def map_quote(value):
    """A value as one map-file field: double quotes, inner ones doubled."""
    return '"%s"' % value.replace('"', '""')


# ---------------------------------------------------------------------------
# Certificates

@pytest.fixture(scope="module")
def people(pki):
    """alice: serial with its top bit set (DER adds a 00 byte), SKI;
    alice2: alice renewed (same key, new serial); bob, dave: others;
    carol: issued by a CA whose name needs Windows' quoting."""
    if "strong-alice" in pki.clients:
        return {n: pki.clients["strong-" + n]
                for n in ("alice", "alice2", "bob", "dave", "carol")}
    alice = pki.issue("strong-alice", ski=True,
                      serial=(0xC4 << 120) | 0x0102030405060708090A0B0C0D0E0F)
    alice2 = pki.issue("strong-alice2", ski=True, key=alice.key)
    bob = pki.issue("strong-bob", ski=True)
    dave = pki.issue("strong-dave", ski=True)
    ca = pki.make_ca("strong-quoted-ca", x509.Name([
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com")]),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "contoso")]),
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                'Edge, "Dev" + Co')]),
        x509.RelativeDistinguishedName([
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "R\\D"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Strong Test CA")]),
    ]))
    carol = pki.issue("strong-carol", issuer=ca, ski=True)
    return {"alice": alice, "alice2": alice2, "bob": bob, "dave": dave,
            "carol": carol}


def test_independent_computations_agree(people):
    """The two ways of getting the key bits agree (RFC 5280 method 1), the
    serial has its sign byte, and the issuer needed Windows' quoting."""
    for c in people.values():
        bits_sha1 = hashlib.sha1(public_key_bits(c.cert)).digest()
        assert bits_sha1 == x509.SubjectKeyIdentifier.from_public_key(
            c.cert.public_key()).digest
    alice = people["alice"].cert
    assert serial_content(alice)[0] == 0 and serial_content(alice)[1] == 0xC4
    assert ad_serial(alice).endswith("C400")
    assert ad_issuer(people["carol"].cert) == (
        'DC=com,DC=contoso,O="Edge, ""Dev"" + Co",OU=R\\D CN=Strong Test CA')
    # the renewal kept the key, not the certificate
    f1, f2 = forms(people["alice"]), forms(people["alice2"])
    assert f1["sha256"] != f2["sha256"]
    assert f1["spki-sha256"] == f2["spki-sha256"]
    assert f1["X509:<SHA1-PUKEY>"] == f2["X509:<SHA1-PUKEY>"]
    assert f1["X509:<I><SR>"] != f2["X509:<I><SR>"]


# ---------------------------------------------------------------------------
# The server

def _snippet(people):
    a, c = forms(people["alice"]), forms(people["carol"])
    out = []

    def loc(path, *lines):
        out.append("<Location /%s>" % path)
        out.append("    CertMap On")
        out.extend("    " + ln for ln in lines)
        out.append("</Location>")

    for form in KEY_FORMS:
        s = SLUG[form]
        # each form maps alice ...
        loc("user-" + s,
            r'CertMapUser %s "W2K3TEST\alice-%s"' % (conf_quote(a[form]), s))
        # ... a deny of it beats an exact mapping of the same certificate
        loc("deny-" + s,
            r'CertMapUser %s "W2K3TEST\alice-exact"' % a["sha256"],
            "CertMapDeny %s" % conf_quote(a[form]))
    # carol's issuer needs Windows' quotes inside the value
    loc("carol-isr", r'CertMapUser %s "W2K3TEST\carol"'
        % conf_quote(c["X509:<I><SR>"]))
    # exact beats key forms, in the same scope ...
    loc("prec-same",
        r'CertMapUser %s "W2K3TEST\by-key"' % conf_quote(a["spki-sha256"]),
        r'CertMapUser %s "W2K3TEST\by-cert"' % a["sha256"])
    # ... and from an enclosing scope
    loc("prec-outer",
        r'CertMapUser %s "W2K3TEST\by-cert-outer"' % a["sha256"])
    loc("prec-outer/inner",
        r'CertMapUser %s "W2K3TEST\by-key-inner"'
        % conf_quote(a["X509:<SKI>"]))
    # a deny of a key form in an enclosing scope beats an inner exact one
    loc("deny-outer", "CertMapDeny %s" % conf_quote(a["X509:<SHA1-PUKEY>"]))
    loc("deny-outer/inner",
        r'CertMapUser %s "W2K3TEST\alice-exact"' % a["sha256"])
    # two key forms of one scope name two accounts: refused, logged
    loc("conflict",
        r'CertMapUser %s "W2K3TEST\one"' % conf_quote(a["spki-sha256"]),
        r'CertMapUser %s "W2K3TEST\two"' % conf_quote(a["X509:<SKI>"]))
    # renewal: by key forms yes, by fingerprint and issuer/serial no
    loc("renew-sha256", r'CertMapUser %s "W2K3TEST\alice"' % a["sha256"])
    for form in KEY_FORMS:
        loc("renew-" + SLUG[form],
            r'CertMapUser %s "W2K3TEST\alice"' % conf_quote(a[form]))
    # the serial as certutil or openssl print it: not what AD stores
    cert = people["alice"].cert
    loc("wrong-order", r'CertMapUser %s "W2K3TEST\alice"' % conf_quote(
        "X509:<I>%s<SR>%s" % (ad_issuer(cert),
                              serial_content(cert).hex().upper())))
    loc("no-sign-byte", r'CertMapUser %s "W2K3TEST\alice"' % conf_quote(
        "X509:<I>%s<SR>%s" % (ad_issuer(cert), ad_serial(cert)[:-2])))
    loc("mapfile", "CertMapFile maps/strong.map")
    for form in KEY_FORMS:
        loc("mf-" + SLUG[form], "CertMapFile maps/%s.map" % SLUG[form])
    return "\n".join(out)


def _mapfile(people):
    a, b, c, d = (forms(people[n]) for n in ("alice", "bob", "carol", "dave"))
    return "\n".join([
        "# strong forms",                                              # 1
        "%s W2K3TEST\\alice" % a["spki-sha256"],                       # 2
        "%s W2K3TEST\\carol" % map_quote(c["X509:<I><SR>"]),           # 3
        "'%s' \"W2K3TEST\\Bob Smith\"" % b["X509:<SKI>"],              # 4
        "%s W2K3TEST\\dave" % d["sha256"],                             # 5
        "deny %s" % d["X509:<SHA1-PUKEY>"],                            # 6
    ]) + "\n"


def _form_mapfile(people, form):
    """One map file per form: alice mapped by it (line 2), bob mapped
    exactly (line 3) but denied by it (line 4)."""
    a, b = forms(people["alice"]), forms(people["bob"])
    return "\n".join([
        "# %s" % form,                                                 # 1
        "%s W2K3TEST\\alice-mf" % map_quote(a[form]),                  # 2
        "%s W2K3TEST\\bob" % b["sha256"],                              # 3
        "deny %s" % map_quote(b[form]),                                # 4
    ]) + "\n"


@pytest.fixture(scope="module")
def srv(module_httpd, people):
    dirs = []
    for line in _snippet(people).splitlines():
        m = re.match(r"<Location /(\S+)>", line)
        if m:
            dirs.append(m.group(1))
    files = {"maps/strong.map": _mapfile(people)}
    for form in KEY_FORMS:
        files["maps/%s.map" % SLUG[form]] = _form_mapfile(people, form)
    return module_httpd(_snippet(people), dirs=dirs, files=files)


def _line_after(srv, location, text):
    """CERTMAP_MATCH of the first line holding `text` after <Location>."""
    start = srv.line_of("<Location /%s>" % location)
    for i in range(start, len(srv.conf_lines)):
        if text in srv.conf_lines[i]:
            return "%s:%d" % (srv.conf, i + 1)
    raise KeyError(text)


# ---------------------------------------------------------------------------
# Each form maps and denies

@pytest.mark.parametrize("form", KEY_FORMS)
def test_form_in_certmapuser_maps(srv, pki, people, form):
    s = SLUG[form]
    r = get(srv, pki, "/user-%s/env.cgi" % s, people["alice"])
    assert_mapped(r, "W2K3TEST\\alice-" + s,
                  match=_line_after(srv, "user-" + s, "CertMapUser"))


@pytest.mark.parametrize("form", KEY_FORMS)
def test_form_does_not_map_another_key(srv, pki, people, form):
    r = get(srv, pki, "/user-%s/env.cgi" % SLUG[form], people["bob"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=strong-bob")


def test_header_carries_the_account(srv, pki, people):
    r = get(srv, pki, "/user-spki/index.html", people["alice"])
    assert r.status == 200
    assert r.header("X-Certmap-User") == "W2K3TEST\\alice-spki"


@pytest.mark.parametrize("form", KEY_FORMS)
def test_deny_of_key_form_beats_exact_mapping(srv, pki, people, form):
    r = get(srv, pki, "/deny-%s/env.cgi" % SLUG[form], people["alice"])
    assert_refused(srv, r, "cert-denied", subject="CN=strong-alice")


def test_issuer_with_windows_quoting(srv, pki, people):
    r = get(srv, pki, "/carol-isr/env.cgi", people["carol"])
    assert_mapped(r, "W2K3TEST\\carol",
                  match=_line_after(srv, "carol-isr", "CertMapUser"))


# ---------------------------------------------------------------------------
# Precedence

def test_exact_beats_key_form_in_one_scope(srv, pki, people):
    r = get(srv, pki, "/prec-same/env.cgi", people["alice"])
    assert_mapped(r, "W2K3TEST\\by-cert",
                  match=_line_after(srv, "prec-same", "by-cert"))
    # the renewed certificate only has the key form
    r = get(srv, pki, "/prec-same/env.cgi", people["alice2"])
    assert_mapped(r, "W2K3TEST\\by-key",
                  match=_line_after(srv, "prec-same", "by-key"))


def test_exact_in_outer_scope_beats_inner_key_form(srv, pki, people):
    r = get(srv, pki, "/prec-outer/inner/env.cgi", people["alice"])
    assert_mapped(r, "W2K3TEST\\by-cert-outer",
                  match=_line_after(srv, "prec-outer", "by-cert-outer"))
    r = get(srv, pki, "/prec-outer/inner/env.cgi", people["alice2"])
    assert_mapped(r, "W2K3TEST\\by-key-inner",
                  match=_line_after(srv, "prec-outer/inner", "by-key-inner"))


def test_outer_deny_of_key_form_beats_inner_exact(srv, pki, people):
    r = get(srv, pki, "/deny-outer/inner/env.cgi", people["alice"])
    assert_refused(srv, r, "cert-denied", subject="CN=strong-alice")
    # the renewed certificate has the same key: denied too
    r = get(srv, pki, "/deny-outer/inner/env.cgi", people["alice2"])
    assert_refused(srv, r, "cert-denied", subject="CN=strong-alice2")


def test_two_key_forms_two_accounts_refused_and_logged(srv, pki, people):
    r = get(srv, pki, "/conflict/env.cgi", people["alice"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=strong-alice")
    lines = srv.wait_error_lines("CERTMAP0006", "CN=strong-alice")
    assert lines, srv.read_error_log()[-2000:]
    # both lines named: the spki-sha256 one first (tie-break order)
    assert _line_after(srv, "conflict", "W2K3TEST\\one") in lines[-1]
    assert _line_after(srv, "conflict", "W2K3TEST\\two") in lines[-1]


# ---------------------------------------------------------------------------
# Renewal and byte order

@pytest.mark.parametrize("form", ["spki-sha256", "X509:<SHA1-PUKEY>",
                                  "X509:<SKI>"])
def test_renewed_certificate_maps_by_key(srv, pki, people, form):
    s = SLUG[form]
    r = get(srv, pki, "/renew-%s/env.cgi" % s, people["alice2"])
    assert_mapped(r, "W2K3TEST\\alice",
                  match=_line_after(srv, "renew-" + s, "CertMapUser"))


@pytest.mark.parametrize("where", ["renew-sha256", "renew-isr"])
def test_renewed_certificate_not_by_certificate(srv, pki, people, where):
    # the old one maps ...
    assert_mapped(get(srv, pki, "/%s/env.cgi" % where, people["alice"]),
                  "W2K3TEST\\alice")
    # ... the renewed one (new fingerprint, new serial) does not
    r = get(srv, pki, "/%s/env.cgi" % where, people["alice2"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=strong-alice2")


@pytest.mark.parametrize("where", ["wrong-order", "no-sign-byte"])
def test_serial_not_as_ad_writes_it_does_not_map(srv, pki, people, where):
    r = get(srv, pki, "/%s/env.cgi" % where, people["alice"])
    assert_refused(srv, r, "cert-unmapped", subject="CN=strong-alice")


# ---------------------------------------------------------------------------
# The map file

@pytest.mark.parametrize("name,account,line", [
    ("alice", "W2K3TEST\\alice", 2),        # spki-sha256, unquoted
    ("alice2", "W2K3TEST\\alice", 2),       # renewed: same key
    ("carol", "W2K3TEST\\carol", 3),        # X509:<I>, inner quotes doubled
    ("bob", "W2K3TEST\\Bob Smith", 4),      # X509:<SKI>, single quotes
])
def test_mapfile_strong_forms(srv, pki, people, name, account, line):
    r = get(srv, pki, "/mapfile/env.cgi", people[name])
    assert_mapped(r, account)
    assert re.search(r"(^|/)maps/strong\.map:%d$" % line,
                     r.env["CERTMAP_MATCH"]), r.env


@pytest.mark.parametrize("form", KEY_FORMS)
def test_mapfile_each_form_maps(srv, pki, people, form):
    r = get(srv, pki, "/mf-%s/env.cgi" % SLUG[form], people["alice"])
    assert_mapped(r, "W2K3TEST\\alice-mf")
    assert re.search(r"(^|/)maps/%s\.map:2$" % SLUG[form],
                     r.env["CERTMAP_MATCH"]), r.env


@pytest.mark.parametrize("form", KEY_FORMS)
def test_mapfile_each_form_denies(srv, pki, people, form):
    r = get(srv, pki, "/mf-%s/env.cgi" % SLUG[form], people["bob"])
    assert_refused(srv, r, "cert-denied", subject="CN=strong-bob")


def test_mapfile_deny_by_key_beats_exact_line(srv, pki, people):
    r = get(srv, pki, "/mapfile/env.cgi", people["dave"])
    assert_refused(srv, r, "cert-denied", subject="CN=strong-dave")


# ---------------------------------------------------------------------------
# Refused at start

@pytest.mark.parametrize("spec,says", [
    ("X509:<S>O=W2K3TEST,CN=strong-alice", "weak"),
    ("X509:<I>O=certmap tests,CN=certmap test intermediate CA"
     "<S>O=W2K3TEST,CN=strong-alice", "weak"),
    ("X509:<RFC822>alice@contoso.com", "weak"),
    ("X509:<I>O=x,CN=y<SR>123", "even number of hex digits"),
    ("X509:<FOO>bar", "not a form"),
])
def test_bad_forms_refused_at_start(httpd, pki, spec, says):
    srv = httpd("<Location /x>\n    CertMap On\n"
                '    CertMapUser %s "W2K3TEST\\alice"\n</Location>'
                % conf_quote(spec), start=False, dirs=["x"])
    rc, out = srv.configtest()
    assert rc != 0, out
    assert "CertMapUser" in out and says in out, out


def test_unquoted_ad_form_in_map_file_refused_with_hint(httpd, pki, people):
    a = forms(people["alice"])
    srv = httpd("<Location /x>\n    CertMap On\n"
                "    CertMapFile maps/bad.map\n</Location>", start=False,
                dirs=["x"],
                files={"maps/bad.map": "# ok\n%s W2K3TEST\\alice\n"
                       % a["X509:<I><SR>"]})
    rc, out = srv.configtest()
    assert rc != 0, out
    assert re.search(r"maps/bad\.map:2: .*quoted", out), out
