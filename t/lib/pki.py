"""A throwaway test PKI for mod_certmap, built with python3-cryptography.

Usable from pytest fixtures and from plain scripts (the demo): nothing here
imports pytest.

    from pki import TestPKI
    pki = TestPKI.create("/tmp/somewhere")
    pki.clients["certuser"].cert_der      # path of certuser.cer
    pki.clients["certuser"].sha256        # lower-case hex fingerprint

Layout written under the directory given:

    ca/root.pem            self-signed root CA
    ca/intermediate.pem    intermediate CA, issued by the root
    ca/trust.pem           root + intermediate: the server's
                           SSLCACertificateFile
    ca/crl.pem             CRLs of the intermediate (lists `revoked`) and of
                           the root (empty): SSLCARevocationFile
    ca/untrusted-ca.pem    a separate CA the server does not trust
    server/server.pem      server certificate (127.0.0.1 + localhost SANs)
                           followed by the intermediate: SSLCertificateFile
    server/server.key      its key: SSLCertificateKeyFile
    clients/NAME.pem       client certificate, PEM
    clients/NAME.key       its private key, PEM (PKCS#8, unencrypted)
    clients/NAME.cer       client certificate, DER (what IIS exports)
    clients/NAME-combined.pem  certificate + key (for curl --cert / ab -E)

Trust choice: client certificates are issued by the intermediate and the
server's SSLCACertificateFile holds root *and* intermediate, so a client
only has to send its own certificate (what browsers and curl do with a
single-certificate PEM).  mod_ssl/OpenSSL then builds client -> intermediate
-> root from its own store; SSLVerifyDepth 3 is plenty.  The server sends its
own chain (server.pem has the intermediate appended), and clients verify it
against ca/root.pem alone.

Clients:
    certuser   CN=certuser,O=W2K3TEST              (the mapped one)
    other      CN=other,O=W2K3TEST                 (never mapped)
    denied     CN=denied,O=W2K3TEST                (used with CertMapDeny)
    bob        CN=bob,O=W2K3TEST                   (bare account tests)
    expired    CN=expired,O=W2K3TEST               notAfter in the past
    revoked    CN=revoked,O=W2K3TEST               listed in ca/crl.pem
    untrusted  CN=certuser,O=W2K3TEST              same subject as certuser,
                                                   issued by the untrusted CA
    shortlived made on demand: TestPKI.make_shortlived(seconds)
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ONE_DAY = datetime.timedelta(days=1)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _key():
    # EC P-256: fast to generate, supported by every client used here.
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn, org="W2K3TEST"):
    # O first, CN last: the RFC 2253 / 4514 string is then "CN=...,O=...".
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def sha256_hex(cert):
    """Lower-case hex SHA-256 fingerprint of a certificate's DER."""
    return cert.fingerprint(hashes.SHA256()).hex()


def sha1_hex(cert):
    """Lower-case hex SHA-1 fingerprint (the Windows thumbprint)."""
    return cert.fingerprint(hashes.SHA1()).hex()


def colon_hex(hexstr, sep=":"):
    """'abcd..' -> 'AB:CD:..' (the form openssl and Windows dialogs show)."""
    hexstr = hexstr.upper()
    return sep.join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


# The Microsoft UPN otherName (szOID_NT_PRINCIPAL_NAME).
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


def upn_san(upn):
    """A SubjectAlternativeName entry carrying a Microsoft UPN, DER-encoded
    as Windows does: otherName [0] EXPLICIT UTF8String."""
    raw = upn.encode("utf-8")
    assert len(raw) < 128
    return x509.OtherName(UPN_OID, bytes([0x0C, len(raw)]) + raw)


def fingerprint_of_file(path, algo="sha256"):
    """Fingerprint (hex) of the single certificate in a PEM or DER file."""
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" in data:
        cert = x509.load_pem_x509_certificate(data)
    else:
        cert = x509.load_der_x509_certificate(data)
    return sha256_hex(cert) if algo == "sha256" else sha1_hex(cert)


class Issuer:
    """A CA: its certificate and key."""

    def __init__(self, cert, key):
        self.cert = cert
        self.key = key


class Client:
    """A client certificate with every file form the tests need."""

    def __init__(self, name, cert, key, directory):
        self.name = name
        self.cert = cert
        self.key = key
        self.cert_pem = os.path.join(directory, name + ".pem")
        self.key_pem = os.path.join(directory, name + ".key")
        self.cert_der = os.path.join(directory, name + ".cer")
        self.combined_pem = os.path.join(directory, name + "-combined.pem")
        _write(self.cert_pem, _pem(cert))
        _write(self.key_pem, _key_pem(key), 0o600)
        _write(self.cert_der, cert.public_bytes(serialization.Encoding.DER))
        _write(self.combined_pem, _pem(cert) + _key_pem(key), 0o600)

    @property
    def sha256(self):
        return sha256_hex(self.cert)

    @property
    def sha1(self):
        return sha1_hex(self.cert)

    @property
    def subject(self):
        """RFC 2253/4514 subject, e.g. 'CN=certuser,O=W2K3TEST'."""
        return self.cert.subject.rfc4514_string()

    @property
    def not_after(self):
        return self.cert.not_valid_after

    def __repr__(self):
        return "<Client %s %s>" % (self.name, self.subject)


class TestPKI:
    """Root CA, intermediate CA, server certificate, client certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.ca_dir = os.path.join(self.dir, "ca")
        self.client_dir = os.path.join(self.dir, "clients")
        self.root_pem = os.path.join(self.ca_dir, "root.pem")
        self.intermediate_pem = os.path.join(self.ca_dir, "intermediate.pem")
        self.trust_pem = os.path.join(self.ca_dir, "trust.pem")
        self.crl_pem = os.path.join(self.ca_dir, "crl.pem")
        self.untrusted_ca_pem = os.path.join(self.ca_dir, "untrusted-ca.pem")
        self.server_cert = os.path.join(self.dir, "server", "server.pem")
        self.server_key = os.path.join(self.dir, "server", "server.key")
        self.clients = {}
        self._serial_revoked = []

    # -- building blocks -------------------------------------------------

    @staticmethod
    def _ca(subject, key, issuer=None, path_len=None):
        now = _now()
        issuer_name = issuer.cert.subject if issuer else subject
        signer = issuer.key if issuer else key
        b = (x509.CertificateBuilder()
             .subject_name(subject)
             .issuer_name(issuer_name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - _ONE_DAY)
             .not_valid_after(now + 3650 * _ONE_DAY)
             .add_extension(x509.BasicConstraints(ca=True,
                                                  path_length=path_len),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=True, content_commitment=False,
                 key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=True, crl_sign=True,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                 key.public_key()), critical=False))
        if issuer:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer.key.public_key()), critical=False)
        return Issuer(b.sign(signer, hashes.SHA256()), key)

    @staticmethod
    def _leaf(subject, issuer, not_before, not_after, server_names=None,
              key=None, sans=None, serial=None, ski=False):
        key = key or _key()
        b = (x509.CertificateBuilder()
             .subject_name(subject)
             .issuer_name(issuer.cert.subject)
             .public_key(key.public_key())
             .serial_number(serial or x509.random_serial_number())
             .not_valid_before(not_before)
             .not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=True, content_commitment=False,
                 key_encipherment=False, data_encipherment=False,
                 key_agreement=True, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer.key.public_key()), critical=False))
        if server_names:
            sans = [x509.DNSName(n) for n in server_names["dns"]]
            sans += [x509.IPAddress(ipaddress.ip_address(a))
                     for a in server_names["ip"]]
            b = b.add_extension(x509.SubjectAlternativeName(sans),
                                critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            if sans:
                b = b.add_extension(x509.SubjectAlternativeName(sans),
                                    critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        if ski:
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(
                key.public_key()), critical=False)
        return b.sign(issuer.key, hashes.SHA256()), key

    def _client(self, name, cn, issuer=None, not_before=None, not_after=None,
                org="W2K3TEST"):
        now = _now()
        issuer = issuer or self.intermediate
        cert, key = self._leaf(_name(cn, org), issuer,
                               not_before or now - _ONE_DAY,
                               not_after or now + 365 * _ONE_DAY)
        c = Client(name, cert, key, self.client_dir)
        self.clients[name] = c
        return c

    def _write_crl(self):
        now = _now()
        pems = b""
        for ca, serials in ((self.intermediate, self._serial_revoked),
                            (self.root, [])):
            b = (x509.CertificateRevocationListBuilder()
                 .issuer_name(ca.cert.subject)
                 .last_update(now - _ONE_DAY)
                 .next_update(now + 30 * _ONE_DAY))
            for serial in serials:
                b = b.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(serial)
                    .revocation_date(now - _ONE_DAY)
                    .build())
            crl = b.sign(ca.key, hashes.SHA256())
            pems += crl.public_bytes(serialization.Encoding.PEM)
        _write(self.crl_pem, pems)

    # -- public API --------------------------------------------------------

    @classmethod
    def create(cls, directory):
        pki = cls(directory)
        os.makedirs(pki.dir, exist_ok=True)
        os.chmod(pki.dir, 0o755)
        now = _now()

        pki.root = cls._ca(_name("certmap test root CA", "certmap tests"),
                           _key())
        pki.intermediate = cls._ca(
            _name("certmap test intermediate CA", "certmap tests"), _key(),
            issuer=pki.root, path_len=0)
        # Same subject as certuser's issuer would be confusing in logs; the
        # untrusted CA only has to be a different, unknown CA.
        pki.untrusted_ca = cls._ca(_name("certmap untrusted CA", "elsewhere"),
                                   _key())
        _write(pki.root_pem, _pem(pki.root.cert))
        _write(pki.intermediate_pem, _pem(pki.intermediate.cert))
        _write(pki.trust_pem,
               _pem(pki.root.cert) + _pem(pki.intermediate.cert))
        _write(pki.untrusted_ca_pem, _pem(pki.untrusted_ca.cert))

        scert, skey = cls._leaf(
            _name("localhost", "certmap tests"), pki.intermediate,
            now - _ONE_DAY, now + 365 * _ONE_DAY,
            server_names={"dns": ["localhost"], "ip": ["127.0.0.1"]})
        _write(pki.server_cert, _pem(scert) + _pem(pki.intermediate.cert))
        _write(pki.server_key, _key_pem(skey), 0o600)

        pki._client("certuser", "certuser")
        pki._client("other", "other")
        pki._client("denied", "denied")
        pki._client("bob", "bob")
        pki._client("expired", "expired",
                    not_before=now - 30 * _ONE_DAY,
                    not_after=now - _ONE_DAY)
        revoked = pki._client("revoked", "revoked")
        pki._serial_revoked.append(revoked.cert.serial_number)
        pki._client("untrusted", "certuser", issuer=pki.untrusted_ca)
        pki._write_crl()
        return pki

    def issue(self, name, subject=None, issuer=None, sans=None, key=None,
              serial=None, ski=False, not_before=None, not_after=None):
        """A client certificate with whatever a test needs, written like
        the others under clients/ and kept in self.clients[name].

        subject   an x509.Name (default CN=name,O=W2K3TEST)
        issuer    an Issuer (default the intermediate; see make_ca)
        sans      list of x509.GeneralName (DNSName, UniformResourceIdentifier,
                  OtherName for a UPN: see upn_san())
        key       reuse a private key (a "renewed" certificate)
        serial    an int serial number
        ski       add a SubjectKeyIdentifier extension"""
        now = _now()
        cert, key = self._leaf(subject or _name(name), issuer or
                               self.intermediate,
                               not_before or now - _ONE_DAY,
                               not_after or now + 365 * _ONE_DAY,
                               key=key, sans=sans, serial=serial, ski=ski)
        c = Client(name, cert, key, self.client_dir)
        self.clients[name] = c
        return c

    def make_ca(self, name, subject, issuer=None, trusted=True):
        """A further CA (for issuer DNs with special characters), issued by
        `issuer` (default: self-signed) and, when `trusted`, appended to
        ca/trust.pem (start the server after this).  Writes ca/NAME.pem."""
        key = _key()
        ca = self._ca(subject, key, issuer=issuer,
                      path_len=0 if issuer else None)
        _write(os.path.join(self.ca_dir, name + ".pem"), _pem(ca.cert))
        if trusted:
            with open(self.trust_pem, "ab") as f:
                f.write(_pem(ca.cert))
        return ca

    def make_shortlived(self, seconds, name="shortlived"):
        """A client certificate (issued by the intermediate, so trusted)
        that is valid from a minute ago until `seconds` from now.
        Returns (client, not_after as an aware UTC datetime)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        # Certificates have one-second resolution: round notAfter up.
        not_after = (now + datetime.timedelta(seconds=seconds)).replace(
            microsecond=0) + datetime.timedelta(seconds=1)
        c = self._client(name, name,
                         not_before=(now - datetime.timedelta(minutes=1))
                         .replace(tzinfo=None),
                         not_after=not_after.replace(tzinfo=None))
        return c, not_after

    def write_bad_files(self, directory):
        """Files that must be refused as CertMapUser certificates.
        Returns a dict name -> path."""
        cu = self.clients["certuser"]
        other = self.clients["other"]
        with open(cu.cert_pem, "rb") as f:
            cu_pem = f.read()
        with open(other.cert_pem, "rb") as f:
            other_pem = f.read()
        with open(cu.key_pem, "rb") as f:
            key_pem = f.read()
        files = {
            "two-certs.pem": cu_pem + other_pem,
            "with-key.pem": cu_pem + key_pem,
            "key-only.pem": key_pem,
            "not-a-cert.pem": b"this is not a certificate\n",
            "garbage.cer": os.urandom(64),
            "empty.pem": b"",
        }
        out = {}
        for name, data in files.items():
            path = os.path.join(directory, name)
            _write(path, data)
            out[name] = path
        return out
