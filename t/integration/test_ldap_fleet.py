"""The directory source in a fleet (issue 7): a real OpenLDAP slapd
(t/lib/slapd.py) and two real httpd servers configured alike, mapping by
altSecurityIdentities.

- an entry added to the directory maps on both servers once their negative
  cache entry for that certificate expires (CertMapLDAPNegativeTTL), and
  not before; one search per server per negative TTL;
- a deleted entry is refused on both once mod_ldap's positive cache
  (LDAPCacheTTL) expires;
- two entries holding the same certificate: 403 directory-ambiguous,
  never one of the two accounts;
- slapd down: accounts in mod_ldap's cache keep working, certificates in
  the negative cache stay 403 cert-unmapped, anything else is 503
  directory-unavailable (under CertMap Optional too) with the reason in
  the error log; slapd back on the same port: the next request maps, no
  httpd restart;
- a concurrent burst of 1,000 requests with 100 unknown certificates makes
  at most one directory search per certificate.

Expected values are computed here: altSecurityIdentities strings from the
certificates with python3-cryptography (KB5014754 forms), accounts and DNs
from the entries this file writes, search counts from slapd's own log."""

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import client
from slapd import Slapd

NEG_TTL = 3        # CertMapLDAPNegativeTTL of the fleet servers
POS_TTL = 4        # LDAPCacheTTL (mod_ldap's positive cache)
SLACK = 2.0        # scheduling slack allowed past a TTL
EARLY = 1.0        # how much earlier than its TTL a cache may let go
#                    (a cache keeping whole seconds may round down)
DOMAIN = "FLEET"


# ---------------------------------------------------------------------------
# altSecurityIdentities strong forms, from the certificate (KB5014754)

_WINDOWS_NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU",
                  "2.5.4.6": "C", "0.9.2342.19200300.100.1.25": "DC"}


def ad_issuer_serial(cert):
    """X509:<I>ISSUER<SR>SERIAL: issuer RDNs in encoded order (the test
    CAs' names need no quoting), serial's DER content bytes reversed."""
    parts = []
    for rdn in cert.issuer.rdns:
        (attr,) = list(rdn)
        value = attr.value
        assert not any(ch in value for ch in ',+="\n<>#;'), value
        parts.append("%s=%s" % (_WINDOWS_NAMES[attr.oid.dotted_string],
                                value))
    n = cert.serial_number
    content = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return "X509:<I>%s<SR>%s" % (",".join(parts), content[::-1].hex().upper())


def pukey_hex(cert):
    """SHA-1 of the subjectPublicKey bits (for P-256 the X9.62 point)."""
    bits = cert.public_key().public_bytes(
        serialization.Encoding.X962,
        serialization.PublicFormat.UncompressedPoint)
    return hashlib.sha1(bits).hexdigest()


def ad_pukey(cert):
    return "X509:<SHA1-PUKEY>" + pukey_hex(cert)


def ad_ski(cert):
    ski = cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    return "X509:<SKI>" + ski.hex().upper()


# ---------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope="module")
def directory(pki):
    top = tempfile.mkdtemp(prefix="certmap-slapd-")
    d = Slapd(top)
    d.start()
    yield d
    d.close()
    if not os.environ.get("CERTMAP_KEEP"):
        shutil.rmtree(top, ignore_errors=True)


def _conf(directory, neg_ttl, pos_ttl):
    """(global snippet, vhost snippet) of a fleet server."""
    global_snippet = "\n".join([
        "LDAPCacheTTL %d" % pos_ttl,
        "LDAPOpCacheTTL %d" % pos_ttl,
        "LDAPConnectionTimeout 2",
        "CertMapLDAPNegativeTTL %d" % neg_ttl,
    ])
    snippet = "\n".join([
        "CertMap On",
        'CertMapLDAPURL "%s"' % directory.base_url(attr="sAMAccountName"),
        "CertMapLDAPMatch altsecid",
        "CertMapLDAPDomain %s" % DOMAIN,
        '<Location "/optional">',
        "    CertMap Optional",
        "</Location>",
    ])
    return global_snippet, snippet


@pytest.fixture(scope="module")
def fleet(module_httpd, directory):
    """Two servers, same configuration, same directory."""
    g, s = _conf(directory, NEG_TTL, POS_TTL)
    return [module_httpd(s, global_snippet=g, dirs=["optional"]),
            module_httpd(s, global_snippet=g, dirs=["optional"])]


# ---------------------------------------------------------------------------
# Requests

MAPPED_REASON = ""
UNMAPPED = (403, "", "cert-unmapped")


def mapped(name):
    return (200, "%s\\%s" % (DOMAIN, name), MAPPED_REASON)


def ask(srv, pki, cert_client, path="/index.html"):
    """(status, X-Remote-User, X-Certmap-Reason) of one request on a new
    TLS connection presenting `cert_client`."""
    r = client.get(srv, pki, path, client=cert_client)
    return r.status, r.header("X-Remote-User") or "", reason_of(r.headers)


def reason_of(headers):
    """X-Certmap-Reason; mod_headers writes an unset variable as
    "(null)", which means no reason, like an empty value."""
    reason = headers.get("X-Certmap-Reason") or ""
    return "" if reason == "(null)" else reason


def wait_for(srv, pki, cert_client, want, deadline):
    """Poll until the answer is `want`; returns the time it first was, or
    fails with the last answer seen."""
    got = None
    while time.time() < deadline:
        got = ask(srv, pki, cert_client)
        if got == want:
            return time.time()
        time.sleep(0.1)
    pytest.fail("port %d: wanted %r, still %r at the deadline\n%s"
                % (srv.port, want, got, srv.read_error_log()[-3000:]))


def error_tail(srv, n=15):
    return "\n".join(srv.read_error_log().splitlines()[-n:])


# ---------------------------------------------------------------------------
# Tests

def test_added_entry_maps_on_both_after_negative_ttl(fleet, directory, pki):
    c = pki.issue("fleet-added")
    altsecid = ad_issuer_serial(c.cert)
    # Not in the directory yet: refused, and the refusal is cached.
    t_first = {}
    for srv in fleet:
        t_first[srv.port] = time.time()
        assert ask(srv, pki, c) == UNMAPPED, error_tail(srv)
    assert directory.search_count(pukey_hex(c.cert)) == 2, (
        "one search per server expected:\n%s" % directory.searches()[-6:])

    dn = directory.add_user("fleet-added", altsecid=[altsecid])

    # Within the negative TTL both still refuse, without asking again.
    checked = 0
    for srv in fleet:
        if time.time() - t_first[srv.port] < NEG_TTL - EARLY - 0.3:
            checked += 1
            assert ask(srv, pki, c) == UNMAPPED, error_tail(srv)
    assert checked, "too slow to see the negative cache at work"
    assert directory.search_count(pukey_hex(c.cert)) == 2

    # After it both map, neither earlier than the TTL nor much later.
    for srv in fleet:
        t = wait_for(srv, pki, c, mapped("fleet-added"),
                     t_first[srv.port] + NEG_TTL + SLACK)
        took = t - t_first[srv.port]
        assert took >= NEG_TTL - EARLY, (
            "port %d mapped %.2fs after the cached refusal, before the "
            "negative TTL of %ds" % (srv.port, took, NEG_TTL))
    # One more search per server (the one that found the entry); the
    # answers since came from mod_ldap's cache.
    assert directory.search_count(pukey_hex(c.cert)) == 4, \
        directory.searches()[-8:]

    # The entry's DN is the match; the account carries the LDAP domain.
    for srv in fleet:
        r = client.get(srv, pki, "/env.cgi", client=c)
        env = r.env
        assert r.status == 200, (r.status, r.text)
        assert env["REMOTE_USER"] == "%s\\fleet-added" % DOMAIN, env
        assert env["CERTMAP_DOMAIN"] == DOMAIN, env
        assert env["CERTMAP_MATCH"].lower() == dn.lower(), env


def test_deleted_entry_refused_on_both_after_positive_ttl(fleet, directory,
                                                          pki):
    c = pki.issue("fleet-deleted", ski=True)
    dn = directory.add_user("fleet-deleted", altsecid=[ad_ski(c.cert)])
    t_cached = {}
    for srv in fleet:
        t_cached[srv.port] = time.time()
        assert ask(srv, pki, c) == mapped("fleet-deleted"), error_tail(srv)

    directory.delete(dn)
    assert directory.search_dns("(cn=fleet-deleted)") == []

    # mod_ldap's cache still answers for a while ...
    checked = 0
    for srv in fleet:
        if time.time() - t_cached[srv.port] < POS_TTL - EARLY - 0.3:
            checked += 1
            assert ask(srv, pki, c) == mapped("fleet-deleted"), \
                error_tail(srv)
    assert checked, "too slow to see mod_ldap's cache at work"
    # ... then both refuse, within the positive TTL (plus slack).
    for srv in fleet:
        t = wait_for(srv, pki, c, UNMAPPED,
                     t_cached[srv.port] + POS_TTL + SLACK)
        took = t - t_cached[srv.port]
        assert took >= POS_TTL - EARLY, (
            "port %d refused %.2fs after caching, before LDAPCacheTTL %ds"
            % (srv.port, took, POS_TTL))


def test_two_entries_with_one_certificate_are_ambiguous(fleet, directory,
                                                        pki):
    c = pki.issue("fleet-twin")
    directory.add_user("fleet-twin-a", altsecid=[ad_pukey(c.cert)])
    # b holds the value in upper case: caseIgnoreMatch finds it all the same
    directory.add_user("fleet-twin-b", altsecid=[
        "X509:<SHA1-PUKEY>" + pukey_hex(c.cert).upper()])
    # independently: the directory really holds two matching entries
    assert len(directory.search_dns(
        "(altSecurityIdentities=%s)" % ad_pukey(c.cert))) == 2
    n0 = len(directory.searches())

    for srv in fleet:
        for _ in range(2):          # the second answer from the cache
            r = client.get(srv, pki, "/env.cgi", client=c)
            assert r.status == 403, (r.status, r.text, error_tail(srv))
            assert r.header("X-Certmap-Reason") == "directory-ambiguous", \
                (r.headers, error_tail(srv))
            assert (r.header("X-Remote-User") or "") == ""
            assert "directory-ambiguous" in r.text, r.text
            assert "fleet-twin-" not in r.text, r.text
            line = srv.wait_access_line(r.path)
            assert re.search(r'" 403 \S+ "directory-ambiguous"$', line), line
            assert "fleet-twin-" not in line, line
        lines = srv.wait_error_lines("CERTMAP", "directory-ambiguous")
        assert lines, error_tail(srv)
    # one search per server: the ambiguous answer is cached too
    since = directory.searches()[n0:]
    assert len([x for x in since if pukey_hex(c.cert) in x[4].lower()]) \
        == 2, since


def test_directory_down_and_back(fleet, directory, pki):
    """cached: mapped just before the outage (mod_ldap's cache); refused:
    refused just before (negative cache); late: in the directory, never
    asked; unknown: not in the directory, never asked."""
    cached = pki.issue("fleet-cached")
    refused = pki.issue("fleet-refused")
    late = pki.issue("fleet-late")
    unknown = pki.issue("fleet-unknown")
    directory.add_user("fleet-cached", altsecid=[ad_pukey(cached.cert)])
    directory.add_user("fleet-late", altsecid=[ad_issuer_serial(late.cert)])
    t_cached = time.time()
    for srv in fleet:
        assert ask(srv, pki, cached) == mapped("fleet-cached"), \
            error_tail(srv)
        assert ask(srv, pki, refused) == UNMAPPED, error_tail(srv)

    directory.stop()
    try:
        assert time.time() - t_cached < NEG_TTL - EARLY - 0.3, \
            "too slow to test"
        for srv in fleet:
            # in mod_ldap's cache: still served; in the negative cache:
            # still refused as unmapped
            assert ask(srv, pki, cached) == mapped("fleet-cached"), \
                error_tail(srv)
            assert ask(srv, pki, refused) == UNMAPPED, error_tail(srv)
        for srv in fleet:
            # not cached, whether in the directory or not: 503, also
            # where the certificate is optional (never anonymous)
            for who, path in ((late, "/index.html"),
                              (unknown, "/index.html"),
                              (unknown, "/optional/index.html")):
                r = client.get(srv, pki, path, client=who)
                assert r.status == 503, (r.status, r.text, error_tail(srv))
                assert r.header("X-Certmap-Reason") == \
                    "directory-unavailable", (r.headers, error_tail(srv))
                assert (r.header("X-Remote-User") or "") == ""
                assert "directory-unavailable" in r.text, r.text
                line = srv.wait_access_line(r.path)
                assert re.search(r'" 503 \S+ "directory-unavailable"$',
                                 line), line
            # the per-request refusal, and the LDAP error once, at error
            # level, naming the directory
            assert srv.wait_error_lines("CERTMAP", "directory-unavailable",
                                        "fleet-late"), error_tail(srv)
            why = [ln for ln in srv.error_lines()
                   if re.search(r"CERTMAP004\d", ln)
                   and re.search(r"\[certmap:(error|crit|alert|emerg)\]", ln)
                   and (directory.hostport in ln
                        or "contact" in ln.lower())]
            assert why, ("no error-level CERTMAP004x line naming %s or the "
                         "LDAP error:\n%s" % (directory.hostport,
                                              error_tail(srv, 30)))
    finally:
        directory.start()

    # back on the same port: the next request maps, no httpd restart
    for srv in fleet:
        assert ask(srv, pki, late) == mapped("fleet-late"), error_tail(srv)
        assert ask(srv, pki, unknown) == UNMAPPED, error_tail(srv)
        # Optional: anonymous, CERTMAP_REASON still says why (README)
        assert ask(srv, pki, unknown, "/optional/index.html") == \
            (200, "", "cert-unmapped"), error_tail(srv)


BURST_CERTS = 100
BURST_CONNS_PER_CERT = 2
BURST_REQS_PER_CONN = 5
BURST_PAIRS = 4          # 8 client threads, two per certificate in flight

# the burst server: its own access log with the child's PID, and two
# children from the start, so that both take connections (the negative
# cache and its in-flight marks are shared across processes)
PIDLOG = ('LogFormat "%P %>s %U%q \\"%{CERTMAP_REASON}e\\"" pidlog\n'
          'CustomLog "@ROOT@/logs/pid.log" pidlog')
TWO_CHILDREN = "StartServers 2\nMinSpareThreads 32"


def test_burst_of_unknown_certificates_searches_each_once(
        module_httpd, directory, pki):
    """1,000 requests, 100 unknown certificates, 8 client threads in 4
    pairs: both threads of a pair open a keep-alive connection with the
    same certificate and send their first request at the same moment
    (a barrier), so two requests for one certificate are in the server
    together, 4 certificates at a time.  At most one directory search per
    certificate; every answer 403 cert-unmapped."""
    g, s = _conf(directory, 60, POS_TTL)   # long negative TTL: one burst
    t_setup = time.time()
    srv = module_httpd(s + "\n" + PIDLOG,
                       global_snippet=g + "\n" + TWO_CHILDREN)
    certs = [pki.issue("fleet-burst-%03d" % i) for i in range(BURST_CERTS)]
    pukeys = [pukey_hex(c.cert) for c in certs]
    # independently: none of them is in the directory
    assert directory.search_dns("(|%s)" % "".join(
        "(altSecurityIdentities=%s)" % ad_pukey(c.cert) for c in certs)) == []

    results = []
    errors = []
    lock = threading.Lock()
    barriers = [threading.Barrier(BURST_CONNS_PER_CERT, timeout=30)
                for _ in range(BURST_PAIRS)]

    def worker(pair):
        barrier = barriers[pair]
        for c in certs[pair::BURST_PAIRS]:
            try:
                conn = http.client.HTTPSConnection(
                    "127.0.0.1", srv.port, timeout=30,
                    context=client.ssl_context(pki, c))
                conn.connect()          # the TLS handshake, before the race
                barrier.wait()
                got = []
                for _ in range(BURST_REQS_PER_CONN):
                    conn.request("GET", client.unique("/index.html"))
                    r = conn.getresponse()
                    r.read()
                    got.append((c.name, r.status,
                                r.getheader("X-Remote-User") or "",
                                reason_of(r.headers)))
                conn.close()
                with lock:
                    results.extend(got)
            except Exception as e:       # noqa: BLE001 - reported below
                barrier.abort()
                with lock:
                    errors.append("%s: %r" % (c.name, e))
                return

    n0 = directory.search_count()
    t0 = time.time()
    t_setup = t0 - t_setup
    threads = [threading.Thread(target=worker, args=(p,))
               for p in range(BURST_PAIRS)
               for _ in range(BURST_CONNS_PER_CERT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.time() - t0
    assert not errors, errors[:5]
    total = BURST_CERTS * BURST_CONNS_PER_CERT * BURST_REQS_PER_CONN
    assert len(results) == total
    bad = [x for x in results if x[1:] != UNMAPPED]
    assert not bad, ("%d of %d answers not 403 cert-unmapped, e.g. %r\n%s"
                     % (len(bad), total, bad[:5], error_tail(srv)))

    logged = directory.searches()[n0:]
    searches = len(logged)
    per_cert = [len([x for x in logged if p in x[4].lower()])
                for p in pukeys]
    # the server's own log agrees: 1,000 refusals with the reason
    deadline = time.time() + 5
    while True:
        with open(srv.path("logs/pid.log")) as f:
            logged_requests = f.read().splitlines()
        if len(logged_requests) >= total or time.time() > deadline:
            break
        time.sleep(0.05)
    refusals = [ln for ln in logged_requests
                if re.match(r'\d+ 403 /index\.html\?r=\d+ "cert-unmapped"$',
                            ln)]
    assert len(refusals) == total == len(logged_requests), \
        logged_requests[:5]
    pids = set(ln.split()[0] for ln in logged_requests)
    print("burst: setup %.2fs, %d requests in %.2fs by %d child process(es), "
          "%d directory searches" % (t_setup, total, took, len(pids),
                                     searches))
    assert searches <= BURST_CERTS, (
        "%d searches for %d certificates (per certificate: max %d)"
        % (searches, BURST_CERTS, max(per_cert)))
    # each unknown certificate had to be asked about once
    assert per_cert == [1] * BURST_CERTS, per_cert

