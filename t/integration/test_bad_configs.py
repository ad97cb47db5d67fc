"""The bad-configuration matrix: every mod_certmap directive family
(CertMap, CertMapUser, CertMapDeny, CertMapDomain, CertMapFile,
CertMapRule, CertMapUPNDomain, CertMapPassword, CertMapForward,
CertMapForwardUser, CertMapScrubHeader; CertMapLDAP* has its own tests)
given something wrong.  Each case fails `apache2 -t` with exit status 1
(not a signal, no crash, no sanitizer report), names the configuration
file and the line of the offending directive (computed here from the
generated file, not taken from httpd), and says what is wrong in a
sentence that starts with the directive's name.  For a map file the
sentence also names the map file and the line in it.

Each row of CASES is one documented bad configuration; the ids are the
list.  A few .htaccess cases, which `apache2 -t` cannot see, are checked
against a running server at the end."""

import collections
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from client import get
from server import APACHE2, httpd_env

ACCOUNT = r'"W2K3TEST\certuser"'

# where: the section the snippet goes into.
#   loc      <Location /x> inside the TLS virtual host
#   vhost    the TLS virtual host itself
#   global   the main server (outside every virtual host)
#   dir      <Directory "@ROOT@/htdocs">
#   include  an Include'd file conf/extra.conf (snippet given as bytes, so
#            that it may hold bytes that are not UTF-8), from <Location /x>
# marker: text of the offending line (default: the snippet's last line);
#   its line number is looked up in the generated file.
# expect: fragments that must all appear in the message after httpd's
#   "Syntax error on line N of FILE:" (@ROOT@ = the ServerRoot).
# mapfile: (path under ServerRoot, line) that the message must name.
# files: {path under ServerRoot: text or bytes}.
# fifos: paths under ServerRoot made named pipes (no writer ever opens
#   them: opening one for reading must not wait for a writer).
Case = collections.namedtuple(
    "Case", "id snippet expect where marker mapfile files fifos")


def C(id, snippet, *expect, where="loc", marker=None, mapfile=None,
      files=None, fifos=()):
    return Case(id, snippet, expect, where, marker, mapfile, files or {},
                tuple(fifos))


# How long one `apache2 -t` may take before it counts as hung.
CONFIGTEST_TIMEOUT = 20
FIFO_TIMEOUT = 8


H64 = "ab" * 32          # 64 hex digits
H40 = "cd" * 20          # 40 hex digits
WEAK = " is a weak mapping that Microsoft no longer accepts (KB5014754)"
NOT_WEAK_FORMS = ("takes the strong altSecurityIdentities forms "
                  "X509:<I>ISSUER<SR>SERIAL, X509:<SKI>HEX and "
                  "X509:<SHA1-PUKEY>HEX")
PRIVATE_KEY = ("holds a private key; only the public certificate belongs "
               "in the configuration")
EXPR_REFUSED = ("cannot be used in a rule; rules may read the certificate "
                "(SSL_* variables, SSL:, PeerExtList), REMOTE_ADDR and the "
                "time, nothing a client sends")
FORMATS = "rfc9440"     # the list of formats starts with it
LONG_ACCOUNT = "W2K3TEST\\" + "u" * 250     # 259 bytes


def cu_sha256(pki):
    return pki.clients["certuser"].sha256


CASES = [
    # -- CertMap -----------------------------------------------------------
    C("certmap-unknown-value", "CertMap Maybe",
      "CertMap: must be On, Off or Optional, not 'Maybe'"),
    # httpd itself refuses an empty argument to a one- or two-argument
    # directive
    C("certmap-empty-value", 'CertMap ""',
      "CertMap takes one argument"),
    C("certmap-no-value", "CertMap",
      "CertMap takes one argument"),
    C("certmap-two-values", "CertMap On Optional",
      "CertMap takes one argument"),

    # -- CertMapUser: arguments and certificate files -----------------------
    C("user-one-argument", "CertMapUser certs/certuser.cer",
      "CertMapUser: takes a certificate and an account "
      "(CertMapUser CERT ACCOUNT)"),
    C("user-no-argument", "CertMapUser",
      "CertMapUser: takes a certificate and an account"),
    C("user-three-arguments",
      r"CertMapUser certs/certuser.cer W2K3TEST\John Smith",
      "CertMapUser: takes only a certificate and an account; quote a "
      "value that contains blanks"),
    C("user-missing-file", "CertMapUser certs/nosuch.cer " + ACCOUNT,
      "CertMapUser: cannot read certificate file @ROOT@/certs/nosuch.cer: "
      "No such file or directory"),
    C("user-directory-as-file", "CertMapUser certs " + ACCOUNT,
      "CertMapUser: certificate file @ROOT@/certs is not a regular file"),
    C("user-empty-file", "CertMapUser bad/empty.pem " + ACCOUNT,
      "CertMapUser: certificate file @ROOT@/bad/empty.pem is empty"),
    C("user-pem-key-as-cert", "CertMapUser bad/key-only.pem " + ACCOUNT,
      "CertMapUser: certificate file @ROOT@/bad/key-only.pem " + PRIVATE_KEY),
    C("user-der-key-as-cert", "CertMapUser bad/key.der " + ACCOUNT,
      "CertMapUser: certificate file @ROOT@/bad/key.der " + PRIVATE_KEY),
    C("user-cert-with-key", "CertMapUser bad/with-key.pem " + ACCOUNT,
      "certificate file @ROOT@/bad/with-key.pem " + PRIVATE_KEY),
    C("user-pkcs12-bundle", "CertMapUser bad/bundle.p12 " + ACCOUNT,
      "certificate file @ROOT@/bad/bundle.p12 is a PKCS#12 (.pfx/.p12) "
      "bundle, which carries a private key"),
    C("user-two-pem-certs", "CertMapUser bad/two-certs.pem " + ACCOUNT,
      "certificate file @ROOT@/bad/two-certs.pem holds 2 certificates; "
      "give exactly one certificate per file"),
    C("user-two-der-certs", "CertMapUser bad/two-certs.der " + ACCOUNT,
      "certificate file @ROOT@/bad/two-certs.der holds data after the "
      "certificate; give exactly one certificate per file"),
    C("user-csr-as-cert", "CertMapUser bad/request.csr " + ACCOUNT,
      "certificate file @ROOT@/bad/request.csr holds no certificate "
      "(only other PEM blocks)"),
    C("user-truncated-pem", "CertMapUser bad/truncated.pem " + ACCOUNT,
      "certificate file @ROOT@/bad/truncated.pem holds a damaged PEM block"),
    C("user-pem-block-not-x509", "CertMapUser bad/not-x509.pem " + ACCOUNT,
      "certificate file @ROOT@/bad/not-x509.pem holds a CERTIFICATE block "
      "that does not decode"),
    C("user-junk-file", "CertMapUser bad/junk.bin " + ACCOUNT,
      "certificate file @ROOT@/bad/junk.bin is not a certificate "
      "(neither PEM nor DER X.509)"),
    C("user-device-as-file", "CertMapUser /dev/zero " + ACCOUNT,
      "CertMapUser: certificate file /dev/zero is not a regular file"),
    C("user-fifo-as-file", "CertMapUser certs/pipe.pem " + ACCOUNT,
      "CertMapUser: certificate file @ROOT@/certs/pipe.pem is not a "
      "regular file", fifos=["certs/pipe.pem"]),

    # -- fingerprints of each form ------------------------------------------
    C("sha256-short", "CertMapUser sha256:%s %s" % (H64[:-1], ACCOUNT),
      "CertMapUser: sha256: fingerprint must have 64 hex digits, not 63"),
    C("sha256-empty", "CertMapUser sha256: " + ACCOUNT,
      "sha256: fingerprint must have 64 hex digits, not 0"),
    C("sha256-overlong", "CertMapUser sha256:%s %s" % ("a" * 4000, ACCOUNT),
      "sha256: fingerprint must have 64 hex digits, not 4000"),
    C("sha1-not-hex", "CertMapUser sha1:%s %s" % ("g" + H40[1:], ACCOUNT),
      "CertMapUser: sha1: fingerprint has a character that is not a hex "
      "digit: 'g'"),
    C("sha1-given-sha256", "CertMapUser sha1:%s %s" % (H64, ACCOUNT),
      "sha1: fingerprint must have 40 hex digits, not 64"),
    C("spki-sha256-short", "CertMapUser spki-sha256:%s %s" % (H40, ACCOUNT),
      "CertMapUser: spki-sha256: fingerprint must have 64 hex digits, "
      "not 40"),
    C("sha256-non-utf8-byte",
      b"CertMapUser sha256:" + H64[:-1].encode() + b"\xff " +
      ACCOUNT.encode(),
      "sha256: fingerprint has a character that is not a hex digit "
      "(byte 0xff)", where="include"),
    C("sha256-control-byte",
      b"CertMapUser sha256:" + H64[:-1].encode() + b"\x01 " +
      ACCOUNT.encode(),
      "sha256: fingerprint has a character that is not a hex digit "
      "(byte 0x01)", where="include"),

    # -- X509: forms ---------------------------------------------------------
    C("x509-subject-weak", 'CertMapUser "X509:<S>CN=certuser" ' + ACCOUNT,
      "CertMapUser: X509:<S> (the subject alone)" + WEAK),
    C("x509-issuer-subject-weak",
      'CertMapUser "X509:<I>CN=CA<S>CN=certuser" ' + ACCOUNT,
      "X509:<I>...<S>... (issuer and subject)" + WEAK),
    C("x509-rfc822-weak", "CertMapUser X509:<RFC822>a@contoso.com " + ACCOUNT,
      "X509:<RFC822> (an e-mail name)" + WEAK),
    C("x509-rfc822-blank-weak",
      'CertMapUser "X509: <RFC822>a@contoso.com" ' + ACCOUNT,
      "X509:<RFC822> (an e-mail name)" + WEAK),
    C("x509-pn-weak", "CertMapUser X509:<PN>a@contoso.com " + ACCOUNT,
      "X509:<PN> (a principal name, Entra's form)" + WEAK),
    C("x509-sid-unsupported",
      "CertMapUser X509:<I>CN=CA<SID>S-1-5-21-1 " + ACCOUNT,
      "X509:<I>...<SID>... (issuer and SID) is not supported"),
    C("x509-unknown-tag", "CertMapUser X509:<FOO>0102 " + ACCOUNT,
      "X509:<FOO> is not a form mod_certmap accepts; it " + NOT_WEAK_FORMS),
    C("x509-no-tag", "CertMapUser X509:0102 " + ACCOUNT,
      "X509: must be followed by a tag as in altSecurityIdentities"),
    C("x509-issuer-without-serial", "CertMapUser X509:<I>CN=CA " + ACCOUNT,
      "X509:<I> needs <SR> and the serial number after the issuer name"),
    C("x509-empty-issuer", "CertMapUser X509:<I><SR>0102 " + ACCOUNT,
      "X509:<I> has an empty issuer name"),
    C("x509-issuer-unknown-attribute",
      "CertMapUser X509:<I>FOO=bar<SR>0102 " + ACCOUNT,
      "X509:<I> issuer: 'FOO' is not an attribute name Windows writes"),
    C("x509-issuer-open-quote",
      """CertMapUser 'X509:<I>CN="open<SR>0102' """ + ACCOUNT,
      "X509:<I> issuer: the quoted value of CN is not closed"),
    C("x509-issuer-trailing-separator",
      "CertMapUser X509:<I>DC=com,<SR>0102 " + ACCOUNT,
      "X509:<I> issuer: the name ends with a separator"),
    C("x509-issuer-unquoted-special",
      "CertMapUser X509:<I>CN=a<b<SR>0102 " + ACCOUNT,
      "X509:<I> issuer: the value of CN holds one of = \" < > # and must "
      "be in double quotes"),
    C("x509-serial-not-hex", "CertMapUser X509:<I>CN=CA<SR>zz " + ACCOUNT,
      "X509:<SR> (the serial number) has a character that is not a hex "
      "digit: 'z'"),
    C("x509-serial-overlong",
      "CertMapUser X509:<I>CN=CA<SR>%s %s" % ("01" * 65, ACCOUNT),
      "X509:<SR> (the serial number) is longer than 64 bytes"),
    C("x509-ski-odd-digits", "CertMapUser X509:<SKI>abc " + ACCOUNT,
      "X509:<SKI> needs an even number of hex digits (whole bytes), not 3"),
    C("x509-ski-empty", "CertMapUser X509:<SKI> " + ACCOUNT,
      "X509:<SKI> has no hex digits"),
    C("x509-sha1-pukey-short",
      "CertMapUser X509:<SHA1-PUKEY>%s %s" % (H40[:-1], ACCOUNT),
      "X509:<SHA1-PUKEY> fingerprint must have 40 hex digits, not 39"),

    # -- accounts -------------------------------------------------------------
    C("account-empty", 'CertMapUser certs/certuser.cer ""',
      "CertMapUser: the account is empty"),
    C("account-no-domain", r'CertMapUser certs/certuser.cer "\certuser"',
      r"the account '\certuser' has no domain before the '\'"),
    C("account-no-user", r'CertMapUser certs/certuser.cer "W2K3TEST\\"',
      r"the account 'W2K3TEST\' has no user after the '\'"),
    C("account-two-backslashes", r'CertMapUser certs/certuser.cer "A\B\C"',
      r"the account 'A\B\C' has more than one '\' (write DOMAIN\user)"),
    C("account-overlong", 'CertMapUser certs/certuser.cer "%s"'
      % LONG_ACCOUNT, "the account is longer than 256 bytes"),
    C("account-non-utf8",
      b'CertMapUser certs/certuser.cer "W2K3TEST\\cert\xe9user"',
      "the account is not valid UTF-8 (byte 0xe9 at position 14)",
      where="include"),
    C("account-tab", 'CertMapUser certs/certuser.cer "W2K3TEST\\cert\tuser"',
      "the account contains a control or invisible formatting character "
      "(U+0009 at position 14)"),
    C("account-zero-width-space",
      'CertMapUser certs/certuser.cer "W2K3TEST\\cert\u200buser"',
      "the account contains a control or invisible formatting character "
      "(U+200B at position 14)"),
    C("account-c1-control",
      'CertMapUser certs/certuser.cer "W2K3TEST\\cert\u0085user"'.encode(),
      "(U+0085 at position 14)", where="include"),
    C("account-bidi-override",
      'CertMapUser certs/certuser.cer "W2K3TEST\\\u202eresu"',
      "(U+202E at position 10)"),

    # -- conflicting duplicates ----------------------------------------------
    C("user-same-file-two-accounts",
      "CertMapUser certs/certuser.cer %s\n"
      r'CertMapUser certs/certuser.pem "W2K3TEST\somebodyelse"' % ACCOUNT,
      r"is already mapped to 'W2K3TEST\certuser' (at @CONF@:@LINE-1@)"),
    C("user-file-then-sha256-other-account",
      "CertMapUser certs/certuser.pem %s\n"
      r'CertMapUser sha256:@CU256@ "W2K3TEST\other"' % ACCOUNT,
      r"is already mapped to 'W2K3TEST\certuser' (at @CONF@:@LINE-1@)"),
    C("user-key-form-two-accounts",
      "CertMapUser spki-sha256:%s %s\n"
      r'CertMapUser spki-sha256:%s "W2K3TEST\other"' % (H64, ACCOUNT, H64),
      r"is already mapped to 'W2K3TEST\certuser' (at @CONF@:@LINE-1@)"),

    # -- CertMapDeny ----------------------------------------------------------
    C("deny-no-argument", "CertMapDeny", "CertMapDeny takes one argument"),
    C("deny-two-arguments", "CertMapDeny certs/denied.pem certs/bob.pem",
      "CertMapDeny takes one argument"),
    C("deny-empty", 'CertMapDeny ""',
      "CertMapDeny takes one argument"),
    C("user-empty-certificate", 'CertMapUser "" ' + ACCOUNT,
      "CertMapUser: takes a certificate and an account"),
    C("deny-bad-sha1", "CertMapDeny sha1:12345",
      "CertMapDeny: sha1: fingerprint must have 40 hex digits, not 5"),
    C("deny-weak-form", 'CertMapDeny "X509:<S>CN=denied"',
      "CertMapDeny: X509:<S> (the subject alone)" + WEAK),
    C("deny-key-file", "CertMapDeny bad/key-only.pem",
      "CertMapDeny: certificate file @ROOT@/bad/key-only.pem " + PRIVATE_KEY),

    # -- CertMapDomain -------------------------------------------------------
    C("domain-backslash", r'CertMapDomain "W2K3\TEST"',
      r"CertMapDomain: the domain 'W2K3\TEST' must not contain '\'"),
    C("domain-empty", 'CertMapDomain ""',
      "CertMapDomain takes one argument"),
    C("domain-control", 'CertMapDomain "W2K3\x7fTEST"',
      "CertMapDomain: the domain contains a control or invisible "
      "formatting character (U+007F at position 5)"),
    C("domain-overlong", "CertMapDomain " + "D" * 300,
      "CertMapDomain: the domain is longer than 256 bytes"),
    C("domain-two-values", "CertMapDomain W2K3TEST CONTOSO",
      "CertMapDomain takes one argument"),

    # -- CertMapFile ---------------------------------------------------------
    C("file-missing", "CertMapFile maps/none.map",
      "CertMapFile: cannot stat map file @ROOT@/maps/none.map: "
      "No such file or directory"),
    C("file-directory", "CertMapFile maps",
      "CertMapFile: ", "@ROOT@/maps", "not a regular file",
      files={"maps/ok.map": "# nothing\n"}),
    C("file-device", "CertMapFile /dev/null",
      "CertMapFile: map file /dev/null is not a regular file"),
    C("file-fifo", "CertMapFile maps/pipe.map",
      "CertMapFile: map file @ROOT@/maps/pipe.map is not a regular file",
      files={"maps/ok.map": "# nothing\n"}, fifos=["maps/pipe.map"]),
    C("file-no-argument", "CertMapFile", "CertMapFile takes one argument"),
    C("mapfile-short-sha256", "CertMapFile maps/bad.map",
      "sha256: fingerprint must have 64 hex digits, not 63",
      mapfile=("maps/bad.map", 3),
      files={"maps/bad.map": "# users\n\nsha256:%s W2K3TEST\\x\n"
             % H64[:-1]}),
    C("mapfile-open-quote", "CertMapFile maps/bad.map",
      "a quoted value is not closed", mapfile=("maps/bad.map", 2),
      files={"maps/bad.map": "sha256:%s A\\a\nsha1:%s \"A\\b\n"
             % (H64, H40)}),
    C("mapfile-quote-then-text", "CertMapFile maps/bad.map",
      "a closing quote must be followed by a blank",
      mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": "\"sha1:%s\"x A\\b\n" % H40}),
    C("mapfile-too-many-fields", "CertMapFile maps/bad.map",
      "too many fields (a line is CERT ACCOUNT or deny CERT; quote a value "
      "that contains blanks)", mapfile=("maps/bad.map", 4),
      files={"maps/bad.map": "#\n#\n#\nsha1:%s W2K3TEST\\John Smith\n"
             % H40}),
    C("mapfile-account-missing", "CertMapFile maps/bad.map",
      "the account is missing (a line is CERT ACCOUNT)",
      mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": "sha1:%s\n" % H40}),
    C("mapfile-deny-without-cert", "CertMapFile maps/bad.map",
      "a deny line is: deny CERT", mapfile=("maps/bad.map", 2),
      files={"maps/bad.map": "deny sha1:%s\ndeny\n" % H40}),
    C("mapfile-nul-byte", "CertMapFile maps/bad.map",
      "the line contains a NUL byte", mapfile=("maps/bad.map", 2),
      files={"maps/bad.map": b"sha1:" + H40.encode() + b" A\\a\n"
             b"sha256:" + H64.encode() + b" A\\b\x00c\n"}),
    C("mapfile-account-non-utf8", "CertMapFile maps/bad.map",
      "the account is not valid UTF-8 (byte 0xff at position 3)",
      mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": b"sha1:" + H40.encode() + b" A\\\xffb\n"}),
    C("mapfile-bom-crlf-bad-line-2", "CertMapFile maps/bad.map",
      "sha1: fingerprint has a character that is not a hex digit: 'x'",
      mapfile=("maps/bad.map", 2),
      files={"maps/bad.map": b"\xef\xbb\xbfsha1:" + H40.encode() +
             b" A\\a\r\nsha1:" + b"x" * 40 + b" A\\b\r\n"}),
    C("mapfile-missing-cert-file", "CertMapFile maps/bad.map",
      "cannot read certificate file @ROOT@/maps/certuser.cer",
      mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": "certuser.cer W2K3TEST\\certuser\n"}),
    C("mapfile-key-as-cert", "CertMapFile maps/bad.map",
      "certificate file @ROOT@/bad/key-only.pem " + PRIVATE_KEY,
      mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": "../bad/key-only.pem W2K3TEST\\certuser\n"}),
    C("mapfile-weak-form", "CertMapFile maps/bad.map",
      "X509:<S> (the subject alone)" + WEAK, mapfile=("maps/bad.map", 1),
      files={"maps/bad.map": "'X509:<S>CN=certuser' W2K3TEST\\certuser\n"}),
    C("mapfile-same-cert-two-accounts", "CertMapFile maps/bad.map",
      r"is already mapped to 'W2K3TEST\a'", mapfile=("maps/bad.map", 3),
      files={"maps/bad.map": "../certs/certuser.cer W2K3TEST\\a\n\n"
             "../certs/certuser.pem W2K3TEST\\b\n"}),
    C("mapfile-conflicts-with-directive",
      'CertMapUser certs/certuser.cer "W2K3TEST\\a"\n'
      "CertMapFile maps/bad.map",
      r"already mapped to 'W2K3TEST\a'", mapfile=("maps/bad.map", 2),
      files={"maps/bad.map": "# x\n../certs/certuser.pem W2K3TEST\\b\n"}),

    # -- CertMapRule ---------------------------------------------------------
    C("rule-bad-expression",
      r'''CertMapRule "%{SSL_CLIENT_S_DN_O} === 'x'" "A\b"''',
      "CertMapRule: the condition \"%{SSL_CLIENT_S_DN_O} === 'x'\" is not "
      "a valid httpd expression: "),
    C("rule-request-header-variable",
      r'''CertMapRule "%{HTTP_X_USER} == 'x'" "A\b"''',
      "is not a valid httpd expression: the variable %{HTTP_X_USER} "
      + EXPR_REFUSED),
    C("rule-req-function",
      r'''CertMapRule "req('X-User') == 'x'" "A\b"''',
      "the function req " + EXPR_REFUSED),
    C("rule-url-variable",
      r'''CertMapRule "%{REQUEST_URI} =~ /admin/" "A\b"''',
      "the variable %{REQUEST_URI} " + EXPR_REFUSED),
    C("rule-env-function",
      r'''CertMapRule "%{ENV:WHO} == 'x'" "A\b"''',
      "the function ENV " + EXPR_REFUSED),
    C("rule-file-operator",
      r'''CertMapRule "-f '/etc/passwd'" "A\b"''',
      "the operator -f " + EXPR_REFUSED),
    C("rule-account-template-header",
      r'''CertMapRule "%{SSL_CLIENT_S_DN_O} == 'x'" "A\%{HTTP_X_USER}"''',
      "CertMapRule: the account \"A\\%{HTTP_X_USER}\" is not a valid httpd "
      "string expression: the variable %{HTTP_X_USER} " + EXPR_REFUSED),
    C("rule-account-template-unclosed",
      r'''CertMapRule "%{SSL_CLIENT_S_DN_O} == 'x'" '''
      r'''"A\%{SSL_CLIENT_S_DN_CN"''',
      "CertMapRule: the account \"A\\%{SSL_CLIENT_S_DN_CN\" is not a valid "
      "httpd string expression"),
    C("rule-account-invalid",
      r'''CertMapRule "%{SSL_CLIENT_S_DN_O} == 'x'" "A\B\C"''',
      r"CertMapRule: the account 'A\B\C' has more than one '\'"),
    C("rule-one-argument", r'''CertMapRule "%{SSL_CLIENT_S_DN_O} == 'x'"''',
      "CertMapRule: takes an expression and an account or 'deny'"),
    C("rule-unquoted-expression",
      r'''CertMapRule %{SSL_CLIENT_S_DN_O} == 'x' "A\b"''',
      "CertMapRule: takes only an expression and an account or 'deny'; "
      "put the expression in double quotes"),

    # -- CertMapUPNDomain ----------------------------------------------------
    C("upn-suffix-with-at", "CertMapUPNDomain @contoso.com CONTOSO",
      "CertMapUPNDomain: the UPN suffix '@contoso.com' must be a domain name "
      "such as contoso.com"),
    C("upn-suffix-empty", 'CertMapUPNDomain "" CONTOSO',
      "CertMapUPNDomain takes two arguments"),
    C("upn-suffix-with-blank", 'CertMapUPNDomain "contoso .com" CONTOSO',
      "CertMapUPNDomain: the UPN suffix 'contoso .com' must be a domain "
      "name"),
    C("upn-domain-backslash", r'CertMapUPNDomain contoso.com "CON\TOSO"',
      r"CertMapUPNDomain: the domain 'CON\TOSO' must not contain '\'"),
    C("upn-domain-control", 'CertMapUPNDomain contoso.com "CON\x1bTOSO"',
      "CertMapUPNDomain: the domain contains a control or invisible "
      "formatting character (U+001B at position 4)"),
    C("upn-one-argument", "CertMapUPNDomain contoso.com",
      "CertMapUPNDomain takes two arguments"),

    # -- CertMapPassword -----------------------------------------------------
    C("password-not-a-flag", "CertMapPassword Maybe",
      "CertMapPassword must be On or Off"),
    C("password-no-value", "CertMapPassword",
      "CertMapPassword must be On or Off"),

    # -- CertMapForward ------------------------------------------------------
    C("forward-unknown-format", "CertMapForward json",
      "CertMapForward: unknown format 'json'; use " + FORMATS),
    C("forward-empty-format", 'CertMapForward ""',
      "CertMapForward takes 1-2 arguments"),
    C("forward-header-with-blank", 'CertMapForward pem "X Cert"',
      "CertMapForward: 'X Cert' is not a valid header name"),
    C("forward-header-with-colon", "CertMapForward pem X-Cert:",
      "CertMapForward: 'X-Cert:' is not a valid header name"),
    C("forward-header-overlong", "CertMapForward pem X-" + "a" * 200,
      "CertMapForward: the header name 'X-%s' is longer than 128 characters"
      % ("a" * 200)),
    C("forward-rfc9440-chain-name-overlong",
      "CertMapForward rfc9440 X-" + "c" * 124,
      "CertMapForward: the header name 'X-%s-Chain' is longer than 128 "
      "characters" % ("c" * 124)),
    C("forward-same-header-twice",
      "CertMapForward pem X-Cert\nCertMapForward arr x_cert",
      "CertMapForward: the header 'x_cert' is already filled by "
      "CertMapForward pem in this section"),
    C("forward-chain-header-collision",
      "CertMapForward rfc9440 X-Cert\nCertMapForward pem X-Cert-Chain",
      "the header 'X-Cert-Chain' is already filled by CertMapForward "
      "rfc9440 in this section"),
    C("forward-none-with-header", "CertMapForward none X-Cert",
      "CertMapForward: 'none' stands alone"),
    C("forward-format-after-none",
      "CertMapForward none\nCertMapForward pem",
      "CertMapForward: this section already says 'CertMapForward none'"),
    C("forward-three-arguments", "CertMapForward pem X-Cert X-Other",
      "CertMapForward takes 1-2 arguments"),

    # -- CertMapForwardUser --------------------------------------------------
    C("forward-user-two-headers", "CertMapForwardUser X-User X-Other",
      "CertMapForwardUser: takes at most one header name"),
    C("forward-user-bad-header", "CertMapForwardUser X/User",
      "CertMapForwardUser: 'X/User' is not a valid header name"),
    C("forward-user-non-ascii-header", "CertMapForwardUser X-Us\u00e9r",
      "CertMapForwardUser: 'X-Us\u00e9r' is not a valid header name"),
    C("forward-user-collides-with-forward",
      "CertMapForward pem X-Who\nCertMapForwardUser x-who",
      "CertMapForwardUser: the header 'x-who' is already filled by "
      "CertMapForward pem in this section"),

    C("forward-user-header-filled-by-parent-forward",
      "<Location /app>\nCertMapForward pem X-Remote-User\n</Location>\n"
      "<Location /app/x>\nCertMap Optional\nCertMapForwardUser\n"
      "</Location>",
      "CertMapForwardUser: ", "'X-Remote-User'", where="vhost",
      marker="CertMapForwardUser"),

    # -- CertMapScrubHeader --------------------------------------------------
    C("scrub-in-location", "CertMapScrubHeader X-Client-DN",
      "CertMapScrubHeader not allowed in <Location> context"),
    C("scrub-in-directory", "CertMapScrubHeader X-Client-DN",
      "CertMapScrubHeader not allowed in <Directory> context", where="dir"),
    C("scrub-in-files",
      '<Files "*.cgi">\nCertMapScrubHeader X-Client-DN\n</Files>',
      "CertMapScrubHeader not allowed in <Files> context", where="vhost",
      marker="CertMapScrubHeader X-Client-DN"),
    C("scrub-no-argument", "CertMapScrubHeader",
      "CertMapScrubHeader: takes at least one header name", where="vhost"),
    C("scrub-name-129", "CertMapScrubHeader X-" + "s" * 127,
      "CertMapScrubHeader: the header name 'X-%s' is longer than 128 "
      "characters" % ("s" * 127), where="vhost"),
    C("scrub-bad-name", "CertMapScrubHeader X-Good X(bad)",
      "CertMapScrubHeader: 'X(bad)' is not a valid header name",
      where="vhost"),
    C("scrub-bad-name-global", 'CertMapScrubHeader X-A "X A"',
      "CertMapScrubHeader: 'X A' is not a valid header name",
      where="global"),
    # httpd's ITERATE stops at an empty word: X-B would silently not be
    # scrubbed at all (checked at run time: it reaches a backend)
    C("scrub-empty-name-hides-next", 'CertMapScrubHeader X-A "" X-B',
      "CertMapScrubHeader: ", "'' is not a valid header name",
      where="vhost"),

    # -- header names that frame the request --------------------------------
    C("scrub-content-length", "CertMapScrubHeader Content-Length",
      "CertMapScrubHeader: ", "'Content-Length'", where="vhost"),
    C("scrub-transfer-encoding", "CertMapScrubHeader transfer_encoding",
      "CertMapScrubHeader: ", "'transfer_encoding'", where="global"),
    C("forward-content-length", "CertMapForward pem Content-Length",
      "CertMapForward: ", "'Content-Length'"),
    C("forward-user-transfer-encoding",
      "CertMapForwardUser Transfer-Encoding",
      "CertMapForwardUser: ", "'Transfer-Encoding'"),
    C("forward-user-host", "CertMapForwardUser Host",
      "CertMapForwardUser: ", "'Host'"),
    C("forward-connection", "CertMapForward arr Connection",
      "CertMapForward: ", "'Connection'"),

    # -- wrong context and other places ---------------------------------------
    C("error-in-virtual-host", "CertMapUser sha256:xyz " + ACCOUNT,
      "CertMapUser: sha256: fingerprint has a character that is not a hex "
      "digit: 'x'", where="vhost"),
    C("error-in-main-server", "CertMapDomain " + "D" * 300,
      "CertMapDomain: the domain is longer than 256 bytes", where="global"),
    C("error-in-directory", "CertMap Sometimes",
      "CertMap: must be On, Off or Optional, not 'Sometimes'", where="dir"),
    C("error-in-included-file",
      b"# included\nCertMap On\nCertMapDeny sha256:" + H64[:10].encode(),
      "CertMapDeny: sha256: fingerprint must have 64 hex digits, not 10",
      where="include"),
]


# -- files the cases refer to ---------------------------------------------

@pytest.fixture(scope="module")
def bad_files(pki):
    """{path under ServerRoot: bytes}: certificate files that must be
    refused, made from the test PKI's real certificates and keys."""
    cu = pki.clients["certuser"]
    other = pki.clients["other"]
    cert_pem = cu.cert.public_bytes(serialization.Encoding.PEM)
    cert_der = cu.cert.public_bytes(serialization.Encoding.DER)
    other_pem = other.cert.public_bytes(serialization.Encoding.PEM)
    other_der = other.cert.public_bytes(serialization.Encoding.DER)
    key_pem = cu.key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    key_der = cu.key.private_bytes(serialization.Encoding.DER,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    p12 = pkcs12.serialize_key_and_certificates(
        b"certuser", cu.key, cu.cert, None, serialization.NoEncryption())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                       "certuser")]))
           .sign(cu.key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM))
    lines = cert_pem.splitlines(keepends=True)
    return {
        "bad/empty.pem": b"",
        "bad/key-only.pem": key_pem,
        "bad/key.der": key_der,
        "bad/with-key.pem": cert_pem + key_pem,
        "bad/bundle.p12": p12,
        "bad/two-certs.pem": cert_pem + other_pem,
        "bad/two-certs.der": cert_der + other_der,
        "bad/request.csr": csr,
        # BEGIN and half the body, no END line
        "bad/truncated.pem": b"".join(lines[:len(lines) // 2]),
        # a well-formed PEM CERTIFICATE block whose content is not X.509
        "bad/not-x509.pem": b"-----BEGIN CERTIFICATE-----\n"
                            b"aGVsbG8gd29ybGQsIG5vdCBhIGNlcnRpZmljYXRl\n"
                            b"-----END CERTIFICATE-----\n",
        "bad/junk.bin": bytes(range(256)) * 4,
    }


def _server(httpd, case, bad_files):
    loc = "<Location /x>\n    CertMap On\n%s\n</Location>"
    snippet = global_snippet = ""
    files = dict(bad_files)
    files.update(case.files)
    if case.where == "loc":
        snippet = loc % case.snippet
    elif case.where == "vhost":
        snippet = case.snippet
    elif case.where == "global":
        global_snippet = case.snippet
    elif case.where == "dir":
        snippet = '<Directory "@ROOT@/htdocs">\n%s\n</Directory>' \
            % case.snippet
    elif case.where == "include":
        snippet = loc % "    Include conf/extra.conf"
        files["conf/extra.conf"] = case.snippet + b"\n"
    else:
        raise ValueError(case.where)
    srv = httpd(snippet, global_snippet=global_snippet, start=False,
                files=files)
    for rel in case.fifos:
        os.mkfifo(srv.path(rel))
    return srv


def _configtest(srv, timeout):
    """srv.configtest() with a time limit: (rc, output), rc None when
    apache2 -t was still running after `timeout` seconds (it is killed)."""
    try:
        p = subprocess.run([APACHE2, "-t", "-f", srv.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=httpd_env(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, "apache2 -t hung for %d s:\n%s" % (
            timeout, (e.stdout or b"").decode(errors="replace"))
    return p.returncode, p.stdout.decode(errors="replace")


def _bad_line(case):
    """(text to look for, directive name) of the offending line."""
    text = case.snippet
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    last = [ln for ln in text.split("\n") if ln.strip()][-1].strip()
    marker = case.marker or last
    return marker, marker.split()[0]


def _location(srv, case, marker):
    """(file, line) that httpd must name for the case: the last line of
    the file that is exactly the marker (blanks around it aside), read
    back from the file as written."""
    path = srv.path("conf/extra.conf") if case.where == "include" \
        else srv.conf
    with open(path, "rb") as f:
        lines = f.read().decode("latin-1").split("\n")
    if case.where != "include":
        marker = marker.encode().decode("latin-1")
    found = [i for i, ln in enumerate(lines, 1) if ln.strip() == marker]
    assert found, "%r not in %s" % (marker, path)
    return path, found[-1]


def _expand(srv, fragment, line, pki):
    return _log_escaped(fragment.replace("@ROOT@", srv.root)
                        .replace("@CONF@", srv.conf)
                        .replace("@LINE-1@", str(line - 1))
                        .replace("@CU256@", cu_sha256(pki)))


def _log_escaped(text):
    """How httpd's error log (and so `apache2 -t`) shows a message: a
    backslash doubled, control and non-ASCII bytes as \\xHH."""
    out = []
    for b in text.encode():
        if b == 0x5c:
            out.append("\\\\")
        elif b < 0x20 or b >= 0x7f:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def _assert_no_crash(rc, out):
    """apache2 -t ended by itself with status 1: not by a signal (a
    negative status from subprocess, or 128+N from a shell), and no
    crash or sanitizer report in what it printed."""
    assert rc == 1, "apache2 -t exited with %r:\n%s" % (rc, out)
    for bad in ("Segmentation fault", "core dumped", "AddressSanitizer",
                "runtime error:", "Aborted", "free(): ", "malloc(): "):
        assert bad not in out, out


def test_matrix_is_large_and_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len({(c.snippet, c.where, tuple(sorted(c.files.items())))
                for c in CASES}) == len(CASES)
    assert len(CASES) >= 35
    families = {_bad_line(c)[1] for c in CASES}
    for d in ("CertMap", "CertMapUser", "CertMapDeny", "CertMapDomain",
              "CertMapFile", "CertMapRule", "CertMapUPNDomain",
              "CertMapPassword", "CertMapForward", "CertMapForwardUser",
              "CertMapScrubHeader"):
        assert d in families, d


@pytest.fixture(scope="module")
def checked(module_httpd, pki, bad_files):
    """{case id: (case, server, rc, output)}: every case's `apache2 -t`,
    run a few at a time (each is mostly httpd starting up)."""
    prepared = []
    for case in CASES:
        if isinstance(case.snippet, str):
            case = case._replace(snippet=case.snippet.replace(
                "@CU256@", cu_sha256(pki)))
        prepared.append((case, _server(module_httpd, case, bad_files)))
    with ThreadPoolExecutor(max_workers=3) as ex:
        runs = [ex.submit(_configtest, srv, FIFO_TIMEOUT if case.fifos
                          else CONFIGTEST_TIMEOUT)
                for case, srv in prepared]
        return {case.id: (case, srv) + run.result()
                for (case, srv), run in zip(prepared, runs)}


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_config(checked, pki, case_id):
    case, srv, rc, out = checked[case_id]
    marker, directive = _bad_line(case)
    path, line = _location(srv, case, marker)

    _assert_no_crash(rc, out)
    head = "Syntax error on line %d of %s:" % (line, path)
    assert head in out, "expected %r in:\n%s" % (head, out)
    msg = out.split(head, 1)[1].strip()
    # The sentence names the directive first (httpd's own messages such as
    # "takes one argument" do too).
    assert msg.startswith(directive), msg
    for frag in case.expect:
        frag = _expand(srv, frag, line, pki)
        assert frag in msg, "%r not in the message:\n%s" % (frag, msg)
    if case.mapfile:
        rel, mline = case.mapfile
        where = "%s:%d: " % (srv.path(rel), mline)
        assert where in msg, "%r not in the message:\n%s" % (where, msg)
    # nothing was started
    assert not os.path.exists(srv.pid_file)


# -- .htaccess: checked per request, so by a running server ----------------

HTACCESS_CASES = [
    # (directory, .htaccess text, the sentence httpd logs)
    ("fwd", "CertMapForward pem\n", "CertMapForward not allowed here"),
    ("fwduser", "CertMapForwardUser\n", "CertMapForwardUser not allowed here"),
    ("scrub", "CertMapScrubHeader X-A\n",
     "CertMapScrubHeader not allowed here"),
    ("badfp", "CertMap On\nCertMapUser sha256:12 W2K3TEST\\x\n",
     "CertMapUser: sha256: fingerprint must have 64 hex digits, not 2"),
]


@pytest.fixture(scope="module")
def ht_server(module_httpd, pki):
    files = {"htdocs/%s/.htaccess" % d: text for d, text, _ in HTACCESS_CASES}
    files["htdocs/none/.htaccess"] = "CertMap On\n"
    # AuthConfig only: the directives above need more or are not
    # .htaccess directives at all
    return module_httpd("", dirs=[d for d, _, _ in HTACCESS_CASES] +
                        ["none"], files=files)


@pytest.mark.parametrize("d,text,sentence", HTACCESS_CASES,
                         ids=["htaccess-" + c[0] for c in HTACCESS_CASES])
def test_bad_htaccess(ht_server, pki, d, text, sentence):
    r = get(ht_server, pki, "/%s/index.html" % d,
            client=pki.clients["certuser"])
    assert r.status == 500, r
    ht = os.path.join(ht_server.docroot, d, ".htaccess")
    lines = ht_server.wait_error_lines("%s: %s" % (ht, sentence))
    assert len(lines) >= 1, ht_server.read_error_log()[-2000:]
    # the server goes on serving: the good .htaccess next door works
    r = get(ht_server, pki, "/none/index.html",
            client=pki.clients["certuser"])
    assert r.status == 403, r
    assert r.header("X-Certmap-Reason") == "cert-unmapped", r
    assert "exit signal" not in ht_server.read_error_log()
