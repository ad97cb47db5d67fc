"""A private OpenLDAP slapd for the mod_certmap directory tests (issue 7).

Writes a slapd.conf into a fresh directory under the `tmpdir` given, with
the test schema t/ldap/certmap-test.schema, one mdb database and anonymous
read access, and runs /usr/sbin/slapd in the foreground (`-d stats`, its
log in slapd.log there) on 127.0.0.1 only.  Usable without pytest:

    from slapd import Slapd
    with Slapd(tmpdir, suffix="dc=example,dc=com") as d:
        d.url                   # "ldap://127.0.0.1:PORT"
        d.hostport              # "127.0.0.1:PORT"
        d.base_url()            # for CertMapLDAPURL
        dn = d.add_user("alice", altsecid=["X509:<I>...<SR>..."])
        n0 = d.search_count()   # SRCH operations logged so far
        d.stop(); d.start()     # directory down / back: same port, same data

Entries made by add_user() are `cn=NAME,ou=people,SUFFIX`, object classes
inetOrgPerson + pkiUser + certmapTestUser, uid=NAME and (unless told
otherwise) sAMAccountName=NAME.

Changes go through ldapadd/ldapmodify/ldapdelete (ldap-utils) as the
rootdn, so they are live: no restart.  The base entries are loaded with
slapadd before the first start.

With pki= (a t/lib/pki.py TestPKI) slapd also gets the test server
certificate: StartTLS on the ldap:// port and an ldaps:// listener on a
second port (self.ldaps_url, self.ldaps_hostport); clients verify it
against pki.root_pem (see self.tls_env()).

Environment: CERTMAP_KEEP set → the directory is not removed by close().
"""

import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from server import free_port, port_answers

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..",
                                         ".."))
TEST_SCHEMA = os.path.join(REPO_ROOT, "t", "ldap", "certmap-test.schema")

# One SRCH request as `-d stats` logs it:
#   conn=1001 op=1 SRCH base="ou=people,dc=example,dc=com" scope=2 deref=0
#       filter="(...)"                                      (on one line)
# (the following `SRCH attr=...` line of the same operation is not counted).
_SRCH_RE = re.compile(r'conn=(\d+) op=(\d+) SRCH base="(.*?)" scope=(\d+) '
                      r'deref=\d+ filter="(.*)"$')


def _ldif_value(attr, value):
    """One `attr: value` LDIF line; base64 (`::`) when needed."""
    if isinstance(value, bytes):
        raw = value
    else:
        raw = str(value).encode("utf-8")
    safe = (raw and raw[0] not in b" :<" and raw[-1:] != b" "
            and all(0x20 <= b < 0x7f for b in raw))
    if safe:
        return "%s: %s" % (attr, raw.decode("ascii"))
    return "%s:: %s" % (attr, base64.b64encode(raw).decode("ascii"))


class SlapdError(Exception):
    pass


class Slapd:
    """One slapd instance.

    tmpdir      a directory; the instance lives in a new subdirectory of it
    suffix      the database suffix (also an entry: dcObject/organization)
    pki         a TestPKI: enables StartTLS + an ldaps:// listener
    anonymous   True: anonymous clients may read everything (not passwords);
                False: only bound clients may read (for bind tests)
    start       start at construction (else call start(), or use `with`)
    """

    def __init__(self, tmpdir, suffix="dc=example,dc=com", pki=None,
                 anonymous=True, start=False):
        self.tmpdir = tmpdir
        self.suffix = suffix
        self.rootdn = "cn=admin," + suffix
        self.rootpw = "secret"
        self.people = "ou=people," + suffix
        self.pki = pki
        self.anonymous = anonymous
        self.dir = tempfile.mkdtemp(prefix="slapd-", dir=tmpdir)
        os.chmod(self.dir, 0o755)
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir)
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log_file = os.path.join(self.dir, "slapd.log")
        self.pid_file = os.path.join(self.dir, "slapd.pid")
        self.port = free_port()
        self.hostport = "127.0.0.1:%d" % self.port
        self.url = "ldap://" + self.hostport
        if pki is not None:
            self.ldaps_port = free_port()
            self.ldaps_hostport = "127.0.0.1:%d" % self.ldaps_port
            self.ldaps_url = "ldaps://" + self.ldaps_hostport
        else:
            self.ldaps_port = self.ldaps_hostport = self.ldaps_url = None
        self.proc = None
        self._log = None
        self._write_conf()
        self._load_base()
        if start:
            self.start()

    # -- configuration -------------------------------------------------------

    def _write_conf(self):
        lines = [
            "# private slapd for the mod_certmap tests",
            "include %s/core.schema" % SCHEMA_DIR,
            "include %s/cosine.schema" % SCHEMA_DIR,
            "include %s/inetorgperson.schema" % SCHEMA_DIR,
            "include %s" % TEST_SCHEMA,
            "modulepath %s" % MODULE_DIR,
            "moduleload back_mdb",
            "pidfile %s" % self.pid_file,
            "argsfile %s" % os.path.join(self.dir, "slapd.args"),
            # no idle limit: mod_ldap keeps its connection open
            "idletimeout 0",
        ]
        if self.pki is not None:
            lines += [
                "TLSCACertificateFile %s" % self.pki.trust_pem,
                "TLSCertificateFile %s" % self.pki.server_cert,
                "TLSCertificateKeyFile %s" % self.pki.server_key,
                "TLSVerifyClient never",
            ]
        lines += [
            "database mdb",
            "maxsize 67108864",
            'suffix "%s"' % self.suffix,
            'rootdn "%s"' % self.rootdn,
            "rootpw %s" % self.rootpw,
            "directory %s" % self.data_dir,
            "index objectClass eq",
            "index uid,cn,sAMAccountName,userPrincipalName eq",
            "index altSecurityIdentities,certmapFingerprint eq",
            "access to attrs=userPassword by anonymous auth by * none",
        ]
        if self.anonymous:
            lines.append("access to * by * read")
        else:
            lines.append("access to * by users read by anonymous auth")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _load_base(self):
        rdn = self.suffix.split(",")[0]
        attr, value = rdn.split("=", 1)
        if attr.lower() == "dc":
            top = ["objectClass: dcObject", "objectClass: organization",
                   "dc: " + value, "o: " + value]
        else:
            top = ["objectClass: organization", "o: " + value]
        ldif = "\n".join(["dn: " + self.suffix] + top + [
            "",
            "dn: " + self.people,
            "objectClass: organizationalUnit",
            "ou: people",
            ""]) + "\n"
        p = subprocess.run([SLAPADD, "-q", "-f", self.conf, "-b", self.suffix],
                           input=ldif.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            raise SlapdError("slapadd of the base entries failed (rc=%d):\n%s"
                             % (p.returncode,
                                p.stdout.decode(errors="replace")))

    def base_url(self, attr="sAMAccountName", scope="sub", filter=None,
                 ldaps=False):
        """An LDAP URL for CertMapLDAPURL: base ou=people, the account
        attribute, scope, filter (default (objectClass=person); "" leaves
        the filter part out)."""
        if filter is None:
            filter = "(objectClass=person)"
        url = self.ldaps_url if ldaps else self.url
        u = "%s/%s?%s?%s" % (url, self.people, attr, scope)
        if filter:
            u += "?" + filter
        return u

    # -- control -------------------------------------------------------------

    def start(self, timeout=10):
        """Start slapd on the same port(s) and data as before."""
        if self.running:
            return self
        urls = self.url + "/"
        if self.ldaps_url:
            urls += " " + self.ldaps_url + "/"
        self._log = open(self.log_file, "ab")
        self.proc = subprocess.Popen(
            [SLAPD, "-f", self.conf, "-h", urls, "-d", "stats"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if port_answers(self.port) and (
                    self.ldaps_port is None or port_answers(self.ldaps_port)):
                return self
            time.sleep(0.02)
        rc = self.proc.poll()
        self.stop()
        raise SlapdError("slapd did not come up on %s (rc=%s):\n%s"
                         % (self.hostport, rc, self.log_text()[-3000:]))

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def stop(self, timeout=10):
        """SIGTERM our slapd, wait until it is gone (port closed)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self):
        self.stop()
        if not os.environ.get("CERTMAP_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- data ----------------------------------------------------------------

    def tls_env(self):
        """Environment for ldap-utils to trust our server certificate."""
        env = dict(os.environ)
        if self.pki is not None:
            env["LDAPTLS_CACERT"] = self.pki.root_pem
        # ignore /etc/ldap/ldap.conf (LDAPNOINIT would also ignore the
        # LDAPTLS_* variables)
        env["LDAPCONF"] = os.devnull
        return env

    def _tool(self, tool, ldif, extra=()):
        cmd = [tool, "-x", "-H", self.url, "-D", self.rootdn, "-w",
               self.rootpw] + list(extra)
        p = subprocess.run(cmd, input=ldif.encode("utf-8"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=self.tls_env(), timeout=30)
        if p.returncode != 0:
            raise SlapdError("%s failed (rc=%d):\n%s\n--- input:\n%s"
                             % (os.path.basename(tool), p.returncode,
                                p.stdout.decode(errors="replace"), ldif))
        return p.stdout.decode(errors="replace")

    def modify_ldif(self, ldif):
        """Apply LDIF change records (changetype: add/modify/delete...)."""
        return self._tool("ldapmodify", ldif)

    def add(self, dn, attrs):
        """Add an entry: attrs is {attribute: value or [values]} (bytes
        values and non-ASCII are written base64).  Returns dn."""
        lines = [_ldif_value("dn", dn), "changetype: add"]
        for attr, values in attrs.items():
            if values is None:
                continue
            if not isinstance(values, (list, tuple)):
                values = [values]
            for v in values:
                lines.append(_ldif_value(attr, v))
        self.modify_ldif("\n".join(lines) + "\n")
        return dn

    def delete(self, dn):
        self._tool("ldapdelete", dn + "\n")

    def modify_replace(self, dn, attr, values):
        """Replace every value of attr (values: a value, a list, or
        None/[] to remove the attribute)."""
        if values is None:
            values = []
        if not isinstance(values, (list, tuple)):
            values = [values]
        lines = [_ldif_value("dn", dn), "changetype: modify",
                 "replace: " + attr]
        lines += [_ldif_value(attr, v) for v in values]
        lines.append("-")
        self.modify_ldif("\n".join(lines) + "\n")

    def user_dn(self, name):
        return "cn=%s,%s" % (name, self.people)

    def add_user(self, name, altsecid=(), upn=None, fingerprint=None,
                 cert_der=None, sam=None, extra=None):
        """A person entry cn=NAME,ou=people,SUFFIX.

        altsecid     list of altSecurityIdentities values
        upn          userPrincipalName
        fingerprint  certmapFingerprint value(s)
        cert_der     userCertificate;binary: DER bytes, or a path of a .cer
                     (DER) or .pem file, or a list of those
        sam          sAMAccountName; None: NAME; False: left out
        extra        {attribute: value(s)} added as given
        Returns the DN."""
        dn = self.user_dn(name)
        attrs = {
            "objectClass": ["inetOrgPerson", "pkiUser", "certmapTestUser"],
            "cn": name,
            "sn": name,
            "uid": name,
        }
        if sam is None:
            sam = name
        if sam is not False:
            attrs["sAMAccountName"] = sam
        if altsecid:
            attrs["altSecurityIdentities"] = list(altsecid)
        if upn is not None:
            attrs["userPrincipalName"] = upn
        if fingerprint is not None:
            attrs["certmapFingerprint"] = fingerprint
        if cert_der is not None:
            certs = cert_der if isinstance(cert_der, list) else [cert_der]
            attrs["userCertificate;binary"] = [_der(c) for c in certs]
        for k, v in (extra or {}).items():
            attrs[k] = v
        return self.add(dn, attrs)

    def add_service_account(self, dn, password):
        """An entry a client can bind as (simpleSecurityObject with a
        cleartext userPassword, fine for tests).  dn may be a bare name:
        then cn=NAME,SUFFIX."""
        if "=" not in dn:
            dn = "cn=%s,%s" % (dn, self.suffix)
        cn = dn.split(",")[0].split("=", 1)[1]
        return self.add(dn, {
            "objectClass": ["organizationalRole", "simpleSecurityObject"],
            "cn": cn,
            "userPassword": password,
        })

    def search(self, base=None, filter="(objectClass=*)", attrs=(),
               scope="sub", bind=True, url=None, extra=()):
        """Run ldapsearch (as the rootdn unless bind=False); returns
        (returncode, output).  Note: counts as a SRCH in the log."""
        cmd = ["ldapsearch", "-x", "-LLL", "-H", url or self.url,
               "-b", base or self.suffix, "-s", scope]
        if bind:
            cmd += ["-D", self.rootdn, "-w", self.rootpw]
        cmd += list(extra) + [filter] + list(attrs)
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.tls_env(),
                           timeout=30)
        return p.returncode, p.stdout.decode(errors="replace")

    def search_dns(self, filter, **kw):
        """DNs found by a search (raises on an LDAP error)."""
        rc, out = self.search(filter=filter, attrs=["1.1"], **kw)
        if rc != 0:
            raise SlapdError("ldapsearch %s failed (rc=%d):\n%s"
                             % (filter, rc, out))
        # unfold LDIF continuation lines first
        out = out.replace("\n ", "")
        return [line[4:] for line in out.splitlines()
                if line.startswith("dn: ")]

    # -- log -----------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_file, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def searches(self, settle=0.1):
        """Every SRCH operation logged so far, as (conn, op, base, scope,
        filter) tuples.  Waits until the log stops growing for `settle`
        seconds (at most 3 s), so requests just answered are all in."""
        deadline = time.time() + 3.0
        size = -1
        while True:
            try:
                now = os.path.getsize(self.log_file)
            except OSError:
                now = 0
            if now == size or time.time() > deadline:
                break
            size = now
            time.sleep(settle)
        out = []
        for line in self.log_text().splitlines():
            m = _SRCH_RE.search(line)
            if m:
                out.append((int(m.group(1)), int(m.group(2)), m.group(3),
                            int(m.group(4)), m.group(5)))
        return out

    def search_count(self, filter_contains=None, settle=0.1):
        """Number of SRCH operations logged so far (optionally only those
        whose filter contains the given text, compared case-insensitively).
        slapd logs each filter *normalized*: caseIgnore values and DNs
        lower-cased, a CertificateExactAssertion's serialNumber as 'HEX'H;
        so look for a hex fingerprint or key hash, not a decimal serial."""
        want = filter_contains.lower() if filter_contains else None
        return len([s for s in self.searches(settle)
                    if want is None or want in s[4].lower()])


def _der(cert):
    """DER bytes from bytes (DER or PEM) or a file path."""
    if isinstance(cert, str):
        with open(cert, "rb") as f:
            cert = f.read()
    if b"-----BEGIN" in cert:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        cert = x509.load_pem_x509_certificate(cert).public_bytes(
            serialization.Encoding.DER)
    return cert
