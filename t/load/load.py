#!/usr/bin/python3
"""Load test with identity checks for mod_certmap.

    python3 t/load/load.py --clients 64 --certs 1000 --requests 100000 \\
        --restarts 3 --map-changes 3

What it does:
- issues --certs client certificates (EC P-256, t/lib/pki.py) and sorts
  them into classes: mapped by the map file (most; by sha256, sha256 with
  colons, sha1 or spki-sha256, accounts with a domain, bare, with a blank
  or with non-ASCII letters), not mapped, denied by a `deny` line of the
  map file, denied by `CertMapDeny` in the configuration, denied by
  `CertMapDeny` although the map file maps them, and one probe
  certificate; "no certificate" is one more identity;
- starts an echo backend (t/load/backend.py: answers with the
  X-Remote-User values and the per-request nonce it received) and a real
  httpd with mod_ssl (t/lib/server.py, SSLVerifyClient optional) whose
  <Location /app> has CertMap On, CertMapFile, CertMapDeny lines,
  CertMapForwardUser, and reverse-proxies to the backend;
- runs --clients client threads (in --procs processes).  Each thread
  walks the identities in its own stride (so that together they use every
  certificate), opens a connection with one identity (TLS 1.3, or 1.2 for
  a quarter of them), sends 1 to 30 keep-alive requests on it, closes it
  and takes the next identity.  Every request carries a fresh random nonce
  (header and query); a tenth also carry a forged X-Remote-User header;
- checks every response against what this script expects for the
  certificate (its own table, never the server's answer): 200 with the
  account in the response's X-Remote-User (r->user) and exactly that one
  X-Remote-User value plus the request's own nonce at the backend; or 403
  with the expected CERTMAP_REASON (X-Certmap-Reason) and no backend echo;
- during the run, spread over its course, performs --map-changes
  replacements of the map file (atomic rename; certificates move between
  accounts, mapped <-> unmapped, mapped <-> denied, the probe gets a new
  account each time) and --restarts graceful restarts, alternating
  (--overlap N: the last N map changes are each followed at once by a
  graceful restart, before the change was seen served);
- afterwards checks every answered request's access-log line (%u and the
  status, found by its nonce), checks every identity once more on a new
  connection, counts crashed children in the error log and checks that
  the parent still runs.

The window around a map change.  The script knows versions 0..M of the
table.  `pending` is the newest version written to disk, `confirmed` the
newest version the script has seen served: the script sets pending = v,
renames the file into place, then polls the probe certificate on new
connections until its answer is version v's, and only then sets
confirmed = v.  A request is correct when its answer is the expected one
of a version between `confirmed` read just before the request was sent
and `pending` read just after the response arrived.  So once the probe
showed the change, a request sent afterwards that gets the old identity
is counted as wrong.  After each change the script also asks every
certificate whose answer changed, on a new connection, and expects the
new answer.

Retries.  A keep-alive connection the server closes while idle (graceful
restart) can take a request the client already sent: the client then sees
the connection end before a single byte of a response.  Only then, and
only on a connection that had already been answered, the GET is retried
once on a new connection (what HTTP clients do, RFC 9112 9.3.1), and
counted as a retry.  Anything else is a failed request: a connection
error on a new connection, an error or a timeout after response bytes
arrived, an incomplete response, any 5xx, a retry that fails, or a retried
request that the access log shows the server had answered.

Exit status: 0 when every target is met (0 wrong identities, 0
unexpected statuses, 0 failed requests, 0 crashed children, 0 access-log
mismatches, every restart and map change done during the load and every
change confirmed, every certificate used, the parent alive), 1 otherwise,
2 when it could not run.  --json FILE writes the figures as JSON.
Everything listens on 127.0.0.1; servers are stopped by their PIDs.
CERTMAP_MODULE, CERTMAP_PRELOAD and CERTMAP_KEEP work as for the tests
(t/lib/server.py).
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402

from pki import TestPKI  # noqa: E402
from server import HttpdServer  # noqa: E402

MAP_REL = "maps/load.map"
LOAD_LOG_REL = "logs/load.log"
FORGED = "LOAD\\forged"

# Outcome tuples: (status, reason or None, account or None)
REQUIRED = (403, "cert-required", None)
UNMAPPED = (403, "cert-unmapped", None)
DENIED = (403, "cert-denied", None)


def mapped(account):
    return (200, None, account)


def describe(outcome):
    status, reason, account = outcome
    return "%d %s" % (status, account if status == 200 else reason)


# -- identities and the versions of the table ---------------------------------

class Ident:
    """One identity a connection can present: a certificate or none."""

    def __init__(self, idx, kind, client=None):
        self.idx = idx
        self.kind = kind          # probe mapped unmapped deny-file
        #                           deny-conf deny-both nocert
        self.client = client
        self.forms = {}
        if client is not None:
            cert = client.cert
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo)
            sha256 = cert.fingerprint(hashes.SHA256()).hex()
            self.forms = {
                "sha256": "sha256:" + sha256,
                "sha256-colons": "sha256:" + ":".join(
                    sha256[i:i + 2].upper() for i in range(0, 64, 2)),
                "sha1": "sha1:" + cert.fingerprint(hashes.SHA1()).hex(),
                "spki-sha256": "spki-sha256:"
                               + hashlib.sha256(spki).hexdigest(),
            }


def base_account(idx, rng):
    r = rng.random()
    if r < 0.05:
        return "LOAD\\müller.%05d" % idx           # non-ASCII (UTF-8)
    if r < 0.08:
        return "LOAD\\first last %05d" % idx       # a blank
    if r < 0.10:
        return "user%05d" % idx                     # bare account
    return "LOAD\\u%05d" % idx


def pick_form(rng):
    r = rng.random()
    if r < 0.55:
        return "sha256"
    if r < 0.65:
        return "sha256-colons"
    if r < 0.85:
        return "sha1"
    return "spki-sha256"


class Table:
    """The map file's versions and what every identity should get."""

    def __init__(self, idents, n_versions, rng, inject_wrong=0):
        self.idents = idents
        self.states = []     # per version: {idx: ("map", acct, form) |
        #                                     ("none",) | ("deny", form)}
        self.expected = []   # per version: [outcome per idx]
        self.changed = []    # per version: [idx whose outcome changed]
        pool = [i for i in idents if i.kind in ("mapped", "unmapped",
                                                 "deny-file")]
        state = {}
        for i in idents:
            if i.kind == "probe":
                state[i.idx] = ("map", "LOAD\\probe.v0", "sha256")
            elif i.kind in ("mapped", "deny-both"):
                state[i.idx] = ("map", base_account(i.idx, rng),
                                pick_form(rng))
            elif i.kind == "deny-file":
                state[i.idx] = ("deny", pick_form(rng))
            elif i.kind in ("unmapped", "deny-conf"):
                state[i.idx] = ("none",)
        self._add(state)
        for v in range(1, n_versions):
            state = dict(state)
            probe = [i for i in idents if i.kind == "probe"][0]
            state[probe.idx] = ("map", "LOAD\\probe.v%d" % v, "sha256")
            by = {"map": [], "none": [], "deny": []}
            for i in pool:
                by[state[i.idx][0]].append(i.idx)
            for lst in by.values():
                rng.shuffle(lst)

            def take(kind, share):
                n = max(1, int(len(pool) * share))
                out, by[kind][:] = by[kind][:n], by[kind][n:]
                return out

            for idx in take("map", 0.06):          # another account
                state[idx] = ("map", "LOAD\\u%05d.v%d" % (idx, v),
                              pick_form(rng))
            for idx in take("map", 0.02):          # mapped -> unmapped
                state[idx] = ("none",)
            for idx in take("none", 0.02):         # unmapped -> mapped
                state[idx] = ("map", "LOAD\\new%05d.v%d" % (idx, v),
                              pick_form(rng))
            for idx in take("map", 0.01):          # mapped -> denied
                state[idx] = ("deny", pick_form(rng))
            for idx in take("deny", 0.01):         # denied -> mapped
                state[idx] = ("map", "LOAD\\back%05d.v%d" % (idx, v),
                              pick_form(rng))
            for idx in take("map", 0.02):          # same account, new form
                state[idx] = ("map", state[idx][1], pick_form(rng))
            self._add(state)
        # --inject-wrong: the checker must notice an expectation that the
        # server (rightly) does not meet.
        victims = [i.idx for i in idents if i.kind == "mapped"][:inject_wrong]
        for exp in self.expected:
            for idx in victims:
                if exp[idx][0] == 200:
                    exp[idx] = mapped(exp[idx][2] + ".injected")

    def _add(self, state):
        exp = []
        for i in self.idents:
            if i.kind == "nocert":
                exp.append(REQUIRED)
            elif i.kind in ("deny-conf", "deny-both"):
                exp.append(DENIED)
            else:
                s = state[i.idx]
                exp.append(mapped(s[1]) if s[0] == "map" else
                           UNMAPPED if s[0] == "none" else DENIED)
        prev = self.expected[-1] if self.expected else None
        self.changed.append([] if prev is None else
                            [k for k in range(len(exp)) if exp[k] != prev[k]])
        self.states.append(state)
        self.expected.append(exp)

    def map_text(self, v):
        lines = ["# mod_certmap load test, map file version %d" % v]
        state = self.states[v]
        for i in self.idents:
            s = state.get(i.idx)
            if s is None or s[0] == "none":
                continue
            if s[0] == "map":
                lines.append('%s "%s"' % (i.forms[s[2]], s[1]))
            else:
                lines.append("deny %s" % i.forms[s[1]])
        return "\n".join(lines) + "\n"

    def allowed(self, idx, lo, hi):
        return {self.expected[v][idx] for v in range(lo, hi + 1)}


def build_identities(pki, n_certs, rng):
    """n_certs certificates (one of them the probe) and the no-certificate
    identity, each an Ident; returns (idents, probe)."""
    kinds = ["probe"]
    kinds += ["unmapped"] * max(2, n_certs * 8 // 100)
    kinds += ["deny-file"] * max(2, n_certs * 4 // 100)
    kinds += ["deny-conf"] * max(1, n_certs * 2 // 100)
    kinds += ["deny-both"] * max(1, n_certs * 2 // 100)
    if len(kinds) >= n_certs:
        raise SystemExit("--certs must be at least %d" % (len(kinds) + 2))
    kinds += ["mapped"] * (n_certs - len(kinds))
    rng.shuffle(kinds)
    idents = []
    for idx, kind in enumerate(kinds):
        c = pki.issue("load%05d" % idx)
        idents.append(Ident(idx, kind, c))
    idents.append(Ident(len(idents), "nocert"))
    probe = [i for i in idents if i.kind == "probe"][0]
    return idents, probe


# -- the HTTP client ----------------------------------------------------------

class ClosedBeforeResponse(Exception):
    """The connection ended before one byte of a response arrived."""


class Broken(Exception):
    """Anything else that went wrong on the wire."""


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # {lower-case name: raw value bytes}
        self.body = body


class Conn:
    """One HTTP/1.1 connection over TLS, written for the checks: it knows
    whether any byte of a response arrived before an error."""

    def __init__(self, port, ctx, timeout):
        try:
            raw = socket.create_connection(("127.0.0.1", port),
                                           timeout=timeout)
        except OSError as e:
            raise Broken("connect: %r" % e)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise Broken("TLS handshake: %r" % e)
        self.answered = 0          # responses received on this connection
        self.floor = 0             # lowest table version it can be at
        self.server_closed = False
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Broken("timeout waiting for the response")
        except (OSError, ssl.SSLError) as e:
            if self.got_bytes:
                raise Broken("error after %d response bytes: %r"
                             % (self.got_bytes, e))
            raise ClosedBeforeResponse(repr(e))
        if not data:
            if self.got_bytes:
                raise Broken("connection closed after %d response bytes"
                             % self.got_bytes)
            raise ClosedBeforeResponse("EOF")
        self.got_bytes += len(data)
        self.buf += data

    def get(self, target, headers):
        req = ["GET %s HTTP/1.1" % target, "Host: localhost"]
        req += ["%s: %s" % h for h in headers]
        data = ("\r\n".join(req) + "\r\n\r\n").encode("utf-8")
        self.got_bytes = 0
        if self.buf:
            raise Broken("%d unexpected bytes before the request"
                         % len(self.buf))
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Broken("timeout sending the request")
        except (OSError, ssl.SSLError) as e:
            raise ClosedBeforeResponse("send: %r" % e)
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise Broken("bad status line %r" % lines[0][:100])
        status = int(parts[1])
        hdrs = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            hdrs[name.strip().lower().decode("latin-1")] = value.strip()
        if b"chunked" in hdrs.get("transfer-encoding", b"").lower():
            body = self._chunked()
        else:
            n = int(hdrs.get("content-length", b"0"))
            while len(self.buf) < n:
                self._recv()
            body, self.buf = self.buf[:n], self.buf[n:]
        self.answered += 1
        if b"close" in hdrs.get("connection", b"").lower():
            self.server_closed = True
        return Response(status, hdrs, body)

    def _chunked(self):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                self._recv()
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._recv()
            body += self.buf[:size]
            self.buf = self.buf[size + 2:]
            if size == 0:
                return body


class Contexts:
    """SSL client contexts, one per (identity, TLS version), made on first
    use (loading a key costs a few ms)."""

    def __init__(self, pki, idents):
        with open(pki.root_pem) as f:
            self.root = f.read()
        self.idents = idents
        self.cache = {}
        self.lock = threading.Lock()

    def get(self, idx, tls):
        key = (idx, tls)
        ctx = self.cache.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.root)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if tls == "1.2":
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            c = self.idents[idx].client
            if c is not None:
                ctx.load_cert_chain(c.cert_pem, c.key_pem)
            with self.lock:
                self.cache[key] = ctx
        return ctx


# -- checking one response ----------------------------------------------------

def outcome_of(resp, nonce):
    """(outcome, problem): what the response says, and a sentence when it
    is malformed (echo from the wrong request, two identities, ...)."""
    user_hdr = resp.headers.get("x-remote-user", b"")
    if resp.status == 200:
        try:
            echo = json.loads(resp.body)
        except ValueError:
            return None, "200 without the backend's echo: %r" % resp.body[:80]
        if echo.get("nonce") != [nonce] or \
                ("n=" + nonce) not in echo.get("target", ""):
            return None, ("the backend's echo is of another request: "
                          "nonce %r, target %r, sent %s"
                          % (echo.get("nonce"), echo.get("target"), nonce))
        users = [u.encode("latin-1") for u in echo.get("user", [])]
        if len(users) != 1:
            return None, ("the backend received %d X-Remote-User values: %r"
                          % (len(users), users))
        if users[0] != user_hdr:
            return None, ("r->user %r but the backend received %r"
                          % (user_hdr, users[0]))
        try:
            account = users[0].decode("utf-8")
        except UnicodeDecodeError:
            return None, "account is not UTF-8: %r" % users[0]
        return mapped(account), None
    if resp.status == 403:
        if resp.body.startswith(b"{"):
            return None, "403 with a backend echo: %r" % resp.body[:80]
        if user_hdr:
            return None, "403 with r->user %r" % user_hdr
        reason = resp.headers.get("x-certmap-reason", b"").decode("latin-1")
        return (403, reason, None), None
    return (resp.status, None, None), None


# -- the worker processes -----------------------------------------------------

ERRORS_KEPT = 30


class Counts(dict):
    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n


def client_thread(g, quota, ctx, shared, cfg, table, order, out):
    """Client number g: `quota` requests; results into the dict `out`."""
    rng = random.Random(cfg["seed"] * 1000003 + g)
    counts = Counts()
    records = []               # (nonce, status, account or None)
    retried = []               # nonces of attempts given up and retried
    errors = []
    used = set()
    conf, pend, prog = shared["confirmed"], shared["pending"], \
        shared["progress"]
    done = 0
    j = 0
    serial = 0
    port, timeout = cfg["port"], cfg["timeout"]
    n_order = len(order)
    clients = cfg["clients"]

    def note(kind, text):
        counts.add(kind)
        if len(errors) < ERRORS_KEPT:
            errors.append("%s: %s" % (kind, text))

    while done < quota and not shared["stop"].value:
        ident = table.idents[order[(g + j * clients) % n_order]]
        j += 1
        tls = "1.2" if rng.random() < 0.25 else None
        n = 1 if rng.random() < 0.3 else rng.randint(2, 30)
        n = min(n, quota - done)
        conn = None
        counts.add("connections")
        counts.add("connections TLS %s" % (tls or "1.3"))
        for _ in range(n):
            if shared["stop"].value:
                break
            attempt = 0
            while True:
                serial += 1
                nonce = "%x.%x.%08x" % (g, serial, rng.getrandbits(32))
                headers = [("X-Load-Nonce", nonce)]
                if rng.random() < 0.1:
                    headers.append((rng.choice(["X-Remote-User",
                                                "x_remote_user"]), FORGED))
                    counts.add("forged")
                lo = conf.value
                fresh = conn is None
                try:
                    if conn is None:
                        conn = Conn(port, ctx.get(ident.idx, tls), timeout)
                        if attempt:
                            counts.add("retry connections")
                    resp = conn.get("/app/r?n=" + nonce, headers)
                except ClosedBeforeResponse as e:
                    was_answered = conn.answered if conn else 0
                    if conn is not None:
                        conn.close()
                    conn = None
                    if not fresh and was_answered and attempt == 0:
                        # idle keep-alive connection closed by the server
                        counts.add("retries")
                        retried.append((nonce, time.time()))
                        attempt = 1
                        continue
                    note("failed", "%s (%s connection, attempt %d)"
                         % (e, "new" if fresh else "reused", attempt + 1))
                    break
                except Exception as e:  # noqa: BLE001 - Broken and any
                    if conn is not None:
                        conn.close()
                    conn = None
                    note("failed", "%s (%s connection, attempt %d)"
                         % (e if isinstance(e, Broken) else repr(e),
                            "new" if fresh else "reused", attempt + 1))
                    break
                hi = pend.value
                counts.add("responses")
                used.add(ident.idx)
                got, problem = outcome_of(resp, nonce)
                if problem:
                    note("wrong identities", "%s: %s" % (ident.kind, problem))
                    records.append((nonce, resp.status, None))
                    break
                records.append((nonce, resp.status, got[2]))
                st = got[0]
                if st >= 500:
                    note("failed", "status %d" % st)
                if st not in (200, 403):
                    note("unexpected statuses", "status %d for %s"
                         % (st, ident.kind))
                    break
                allowed = table.allowed(ident.idx, lo, hi)
                compatible = [v for v in range(lo, hi + 1)
                              if table.expected[v][ident.idx] == got]
                if compatible and compatible[-1] < conn.floor:
                    # One connection stays in one httpd child, which
                    # applies table versions in order: a newer answer
                    # already seen here cannot be followed by an older one.
                    note("wrong identities",
                         "%s cert %d: got %s (version %d at most) after "
                         "version %d on the same connection"
                         % (ident.kind, ident.idx, describe(got),
                            compatible[-1], conn.floor))
                elif got not in allowed:
                    note("wrong identities",
                         "%s cert %d: got %s, expected %s (versions %d..%d)"
                         % (ident.kind, ident.idx, describe(got),
                            " or ".join(sorted(describe(a) for a in allowed)),
                            lo, hi))
                else:
                    conn.floor = max(conn.floor, compatible[0])
                    counts.add("checked %d" % st)
                    if lo < hi and got != table.expected[hi][ident.idx]:
                        counts.add("old answers inside a change window")
                if conn is not None and conn.server_closed:
                    counts.add("closed by the server (Connection: close)")
                    conn.close()
                    conn = None
                break
            done += 1
            prog[g] = done
        if conn is not None:
            conn.close()
    out.update(counts=counts, records=records, retried=retried,
               errors=errors, used=sorted(used))


def worker_process(p, gs, quotas, shared, cfg, table, order, result_path):
    ctx = Contexts(cfg["pki"], table.idents)
    outs = [dict() for _ in gs]
    threads = [threading.Thread(target=client_thread,
                                args=(g, q, ctx, shared, cfg, table, order, o),
                                daemon=True)
               for g, q, o in zip(gs, quotas, outs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = {"counts": Counts(), "records": [], "retried": [], "errors": [],
              "used": []}
    for o in outs:
        if not o:
            merged["errors"].append("a client thread ended without results")
            merged["counts"].add("failed")
            continue
        for k, v in o["counts"].items():
            merged["counts"].add(k, v)
        for k in ("records", "retried", "errors", "used"):
            merged[k].extend(o[k])
    with open(result_path + ".tmp", "w") as f:
        json.dump(merged, f)
    os.rename(result_path + ".tmp", result_path)


# -- the coordinator ----------------------------------------------------------

def log_escape(text):
    """What mod_log_config writes for a value (ap_escape_logitem): `"` and
    `\\` escaped with a backslash, \\b \\n \\r \\t \\v by name, every other
    byte that is not printable ASCII as \\xhh."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif c in "\b\n\r\t\v":
            out.append({"\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}[c])
        elif b < 0x20 or b >= 0x7f:
            out.append("\\x%02x" % b)
        else:
            out.append(c)
    return "".join(out)


class Run:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.counts = Counts()
        self.errors = []
        self.events = []          # dicts
        self.tmp = tempfile.mkdtemp(prefix="certmap-load-")
        os.chmod(self.tmp, 0o755)
        self.backend = None
        self.srv = None
        self.procs = []
        self.renamed = []         # time of each map-file rename

    def note(self, kind, text):
        self.counts.add(kind)
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append("%s: %s" % (kind, text))

    # -- setup ---------------------------------------------------------------

    def setup(self):
        a = self.args
        t0 = time.time()
        self.pki = TestPKI.create(os.path.join(self.tmp, "pki"))
        self.idents, self.probe = build_identities(self.pki, a.certs, self.rng)
        self.table = Table(self.idents, a.map_changes + 1, self.rng,
                           a.inject_wrong)
        self.t_certs = time.time() - t0
        self.backend = subprocess.Popen(
            [sys.executable, "-S", os.path.join(HERE, "backend.py"),
             "--procs", str(a.backend_procs)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self.backend.stdout.readline()
        if not line.startswith(b"PORT "):
            raise RuntimeError("the echo backend did not start: %r" % line)
        self.backend_port = int(line.split()[1])
        for v in range(a.map_changes + 1):
            with open(os.path.join(self.tmp, "v%d.map" % v), "w",
                      encoding="utf-8") as f:
                f.write(self.table.map_text(v))
        denies = ["        CertMapDeny %s" % i.forms["sha256"]
                  for i in self.idents if i.kind in ("deny-conf",
                                                     "deny-both")]
        snippet = "\n".join([
            "    <Location /app>",
            "        CertMap On",
            "        CertMapFile %s" % MAP_REL,
        ] + denies + [
            "        CertMapForwardUser",
            "        ProxyPass http://127.0.0.1:%d/app" % self.backend_port,
            "    </Location>"])
        per_child = a.threads_per_child
        workers = per_child * a.children
        global_snippet = "\n".join([
            "StartServers %d" % a.children,
            "ServerLimit %d" % (a.children * 4),
            "ThreadLimit %d" % max(64, per_child),
            "ThreadsPerChild %d" % per_child,
            "MaxRequestWorkers %d" % workers,
            "MinSpareThreads %d" % per_child,
            "MaxSpareThreads %d" % workers,
            'LogFormat "%{X-Load-Nonce}i %>s %P %{sec}t.%{usec_frac}t %u" '
            'loadlog',
            'CustomLog "@ROOT@/%s" loadlog' % LOAD_LOG_REL])
        with open(os.path.join(self.tmp, "v0.map"), encoding="utf-8") as f:
            v0 = f.read()
        self.srv = HttpdServer(self.pki, snippet=snippet,
                               global_snippet=global_snippet,
                               files={MAP_REL: v0},
                               loglevel=self.args.loglevel)
        self.srv.start()
        self.parent_pid = self.srv.pid
        self.ctx = Contexts(self.pki, self.idents)
        # The server answers version 0 before the load starts.
        got = self.ask(self.probe.idx)
        if got != self.table.expected[0][self.probe.idx]:
            raise RuntimeError("the probe certificate got %r at the start"
                               % (got,))

    def ask_many(self, idxs, threads=8):
        """ask() for each identity, `threads` at a time, alternating TLS
        1.3 and 1.2; {idx: answer}."""
        todo = list(idxs)
        answers = {}

        def ask_some():
            while True:
                try:
                    idx = todo.pop()
                except IndexError:
                    return
                answers[idx] = self.ask(idx, tls="1.2" if idx % 2 else None)

        helpers = [threading.Thread(target=ask_some) for _ in range(threads)]
        for t in helpers:
            t.start()
        for t in helpers:
            t.join()
        return answers

    def ask(self, idx, tls=None):
        """One request on a new connection; the outcome (or a string
        saying what went wrong)."""
        nonce = "c.%08x" % random.getrandbits(32)
        self.last_nonce = nonce
        try:
            c = Conn(self.srv.port, self.ctx.get(idx, tls), self.args.timeout)
            try:
                resp = c.get("/app/r?n=" + nonce, [("X-Load-Nonce", nonce)])
            finally:
                c.close()
        except (Broken, ClosedBeforeResponse) as e:
            return "error: %s" % e
        got, problem = outcome_of(resp, nonce)
        return problem or got

    # -- events --------------------------------------------------------------

    def judge(self, what, idx, got, exp):
        """Count a coordinator check: a transport error is a failed
        request, any other difference a wrong identity."""
        if got == exp:
            return True
        if isinstance(got, str) and got.startswith("error:"):
            self.note("failed", "%s, cert %d: %s" % (what, idx, got))
        else:
            self.note("wrong identities",
                      "%s, cert %d (%s): got %s, expected %s"
                      % (what, idx, self.idents[idx].kind,
                         got if isinstance(got, str) else describe(got),
                         describe(exp)))
        return False

    def map_change(self, v, restart=None):
        shared = self.shared
        src = os.path.join(self.tmp, "v%d.map" % v)
        dst = self.srv.path(MAP_REL)
        tmp = dst + ".new"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        shared["pending"].value = v
        t0 = time.time()
        os.rename(tmp, dst)
        self.renamed.append(t0)
        if restart is not None:
            self.restart(restart, overlapping=v)
        want = self.table.expected[v][self.probe.idx]
        got = None
        probes = []
        while time.time() - t0 < self.args.change_timeout:
            t1 = time.time() - t0
            got = self.ask(self.probe.idx)
            probes.append([round(t1, 3), round(time.time() - t0, 3),
                           got if isinstance(got, str) else describe(got),
                           self.last_nonce])
            if got == want:
                break
            if isinstance(got, str) and got.startswith("error:"):
                self.note("failed", "probe for change %d: %s" % (v, got))
            time.sleep(0.02)
        took = time.time() - t0
        ev = {"event": "map change", "version": v, "at": t0 - self.t_start,
              "progress": self.progress(), "seconds": round(took, 3),
              "probes": probes}
        if got != want:
            self.note("map changes not visible",
                      "version %d: the probe still got %r after %.1f s"
                      % (v, got, took))
            ev["confirmed"] = False
            self.events.append(ev)
            return
        shared["confirmed"].value = v
        # Every certificate whose answer changed, on a new connection
        # (8 at a time: the load goes on meanwhile).
        answers = self.ask_many(self.table.changed[v])
        bad = 0
        for idx in self.table.changed[v]:
            if not self.judge("after change %d" % v, idx, answers[idx],
                              self.table.expected[v][idx]):
                bad += 1
        ev.update(confirmed=True, changed=len(self.table.changed[v]),
                  changed_wrong=bad)
        self.events.append(ev)

    def restart(self, n, overlapping=None):
        t0 = time.time()
        ev = {"event": "graceful restart", "number": n,
              "at": t0 - self.t_start, "progress": self.progress(),
              "right_after_change": overlapping}
        try:
            self.srv.graceful(timeout=self.args.change_timeout)
            ev["done"] = True
        except Exception as e:  # noqa: BLE001 - reported
            self.note("graceful restarts failed", str(e)[:300])
            ev["done"] = False
        ev["seconds"] = round(time.time() - t0, 3)
        self.events.append(ev)

    def progress(self):
        return sum(self.shared["progress"])

    # -- the run -------------------------------------------------------------

    def run(self):
        a = self.args
        ctx = multiprocessing.get_context("fork")
        self.shared = {
            "confirmed": ctx.Value("i", 0, lock=False),
            "pending": ctx.Value("i", 0, lock=False),
            "stop": ctx.Value("i", 0, lock=False),
            "progress": ctx.Array("q", a.clients, lock=False),
        }
        # identity order: every certificate, and the no-certificate
        # identity about as often as a share of the certificates
        nocert = self.idents[-1].idx
        order = [i.idx for i in self.idents[:-1]]
        order += [nocert] * max(2, len(order) * 5 // 100)
        self.rng.shuffle(order)
        cfg = {"seed": a.seed, "port": self.srv.port, "timeout": a.timeout,
               "clients": a.clients, "pki": self.pki}
        quotas = [a.requests // a.clients + (1 if g < a.requests % a.clients
                                             else 0)
                  for g in range(a.clients)]
        procs = max(1, min(a.procs, a.clients))
        # Map changes and restarts alternate; with --overlap K the last K
        # map changes are each followed at once by a graceful restart,
        # before the change was seen served.
        pairs = min(a.overlap, a.map_changes, a.restarts)
        plan = []
        for k in range(max(a.restarts - pairs, a.map_changes - pairs)):
            if k < a.map_changes - pairs:
                plan.append(("map", k + 1, None))
            if k < a.restarts - pairs:
                plan.append(("restart", k + 1, None))
        for k in range(pairs):
            plan.append(("map", a.map_changes - pairs + k + 1,
                         a.restarts - pairs + k + 1))
        # Spread over the first three quarters or so, so that the last
        # event ends while the load still runs even on a slow machine.
        thresholds = [a.requests * (k + 1) // (len(plan) + 2)
                      for k in range(len(plan))]
        self.result_paths = []
        self.t_start = time.time()
        for p in range(procs):
            gs = list(range(p, a.clients, procs))
            path = os.path.join(self.tmp, "result-%d.json" % p)
            self.result_paths.append(path)
            pr = ctx.Process(target=worker_process,
                             args=(p, gs, [quotas[g] for g in gs],
                                   self.shared, cfg, self.table, order, path),
                             daemon=True)
            pr.start()
            self.procs.append(pr)
        deadline = self.t_start + a.max_seconds
        next_event = 0
        while any(pr.is_alive() for pr in self.procs):
            if time.time() > deadline:
                self.note("failed", "the load did not finish in %d s"
                          % a.max_seconds)
                self.shared["stop"].value = 1
                break
            if next_event < len(plan) and \
                    self.progress() >= thresholds[next_event]:
                kind, n, restart = plan[next_event]
                if self.progress() >= a.requests:
                    break          # too late: counted below
                if kind == "map":
                    self.map_change(n, restart)
                else:
                    self.restart(n)
                next_event += 1
                continue
            time.sleep(0.02)
        for pr in self.procs:
            pr.join(a.timeout + 30)
            if pr.is_alive():
                pr.terminate()
                pr.join(5)
        self.t_load = time.time() - self.t_start
        self.load_requests = self.progress()
        for kind, n, _ in plan[next_event:]:
            self.note("events not done during the load",
                      "%s %d: the load ended first" % (kind, n))
        self.collect()
        self.final_sweep()
        self.check_logs()

    def collect(self):
        self.records, self.retried, self.used = [], [], set()
        for path in self.result_paths:
            try:
                with open(path) as f:
                    r = json.load(f)
            except (OSError, ValueError):
                self.note("failed", "a client process left no results (%s)"
                          % os.path.basename(path))
                continue
            for k, v in r["counts"].items():
                self.counts.add(k, v)
            self.records.extend(r["records"])
            self.retried.extend(r["retried"])
            self.used.update(r["used"])
            for e in r["errors"]:
                if len(self.errors) < ERRORS_KEPT:
                    self.errors.append(e)

    def final_sweep(self):
        """Every identity once more, on a new connection: the last
        version's answer."""
        last = self.shared["confirmed"].value
        n = 0
        answers = self.ask_many([i.idx for i in self.idents])
        for i in self.idents:
            self.judge("final sweep", i.idx, answers[i.idx],
                       self.table.expected[last][i.idx])
            n += 1
        self.counts.add("final sweep checks", n)

    def check_logs(self):
        srv = self.srv
        time.sleep(0.3)
        lines = {}
        dup = 0
        stamps = []
        with open(srv.path(LOAD_LOG_REL), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 4)
                if len(parts) != 5:
                    continue
                if parts[0] in lines:
                    dup += 1
                # status, child pid, user
                lines[parts[0]] = (parts[1], parts[2], parts[4])
                try:
                    stamps.append(float(parts[3]))
                except ValueError:
                    pass
        stamps.sort()
        # The longest time no request ended (httpd after a graceful
        # restart starts its new children one a second).
        self.longest_gap = max([b - a for a, b in zip(stamps, stamps[1:])]
                               or [0.0])
        checked = 0
        pids = set()
        for nonce, status, account in self.records:
            got = lines.get(nonce)
            if got is None:
                self.note("access-log mismatches",
                          "no line for nonce %s" % nonce)
                continue
            want_user = log_escape(account) if account is not None else "-"
            if got[0] != str(status) or got[2] != want_user:
                self.note("access-log mismatches",
                          "nonce %s: logged %s [%s], expected %s [%s]"
                          % (nonce, got[0], got[2], status, want_user))
                continue
            checked += 1
            pids.add(got[1])
        self.counts.add("access-log lines checked", checked)
        self.counts.add("access-log duplicate nonces", dup)
        for nonce, _ in self.retried:
            if nonce in lines:
                self.note("failed", "retried request %s had been answered "
                          "by the server (access log: %s)"
                          % (nonce, lines[nonce]))
        self.child_pids = len(pids)
        log = srv.read_error_log()
        self.crashes = [l for l in log.splitlines()
                        if re.search(r"exit signal|AH00052|Segmentation "
                                     r"fault|AH00059|AH00060", l)]
        self.sanitizer = srv.sanitizer_reports()
        self.reloads = len(re.findall(r"CERTMAP0031: reloaded", log))
        # When the module logged each reload, after each rename.
        stamps = []
        for m in re.finditer(r"^\[\w+ (\w+ +\d+ [\d:]+)(\.\d+) (\d+)\] "
                             r"\[certmap:info\].*CERTMAP0031: reloaded", log,
                             re.M):
            t = time.mktime(time.strptime("%s %s" % (m.group(1), m.group(3)),
                                          "%b %d %H:%M:%S %Y"))
            stamps.append(t + float(m.group(2)))
        for ev in self.events:
            if ev["event"] != "map change":
                continue
            t0 = self.renamed[ev["version"] - 1]
            later = [t for t in stamps if t >= t0 - 0.01]
            ev["reloaded_after"] = round(later[0] - t0, 3) if later else None
        # Warnings and errors other than the module's refusals
        # (CERTMAP0001, one per 403) and mod_ssl's OpenSSL version note.
        self.warnings = [l for l in log.splitlines()
                         if re.search(r"\[[a-z_0-9]+:(warn|error|crit|alert|"
                                      r"emerg)\]", l)
                         and "CERTMAP0001:" not in l
                         and "AH01882" not in l]
        self.restarts_seen = log.count("resuming normal operations") - 1
        # The event MPM closes idle keep-alive connections when all its
        # workers are busy (or dying, as in a graceful restart).
        kills = re.findall(r"All workers are busy or dying, will shutdown "
                           r"(\d+) keep-alive connections", log)
        self.mpm_closes = (len(kills), sum(int(k) for k in kills))
        self.parent_alive = HttpdServer._alive(self.parent_pid) and \
            srv._read_pid() == self.parent_pid

    def stop(self):
        if getattr(self, "shared", None) is not None:
            self.shared["stop"].value = 1
        for pr in self.procs:
            if pr.is_alive():
                pr.terminate()
                pr.join(5)
        err = None
        if self.srv is not None:
            try:
                self.srv.stop()
            except Exception as e:  # noqa: BLE001 - sanitizer report
                err = str(e)
            self.srv = None
        if self.backend is not None:
            if self.backend.poll() is None:
                os.kill(self.backend.pid, signal.SIGTERM)
                try:
                    self.backend.wait(5)
                except subprocess.TimeoutExpired:
                    os.kill(self.backend.pid, signal.SIGKILL)
                    self.backend.wait()
            self.backend.stdout.close()
            self.backend = None
        if not os.environ.get("CERTMAP_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        return err

    # -- the summary ---------------------------------------------------------

    def summary(self):
        a, c = self.args, self.counts
        changes_ok = sum(1 for e in self.events
                         if e["event"] == "map change" and e.get("confirmed"))
        restarts_ok = sum(1 for e in self.events
                          if e["event"] == "graceful restart"
                          and e.get("done"))
        n_certs = len(self.idents) - 1
        used_certs = len([i for i in self.used if i < n_certs])
        kinds = Counts()
        for i in self.idents:
            kinds.add(i.kind)
        res = {
            "clients": a.clients, "client_processes": min(a.procs, a.clients),
            "certificates": n_certs, "certificate_classes": dict(kinds),
            "certificates_used": used_certs,
            "no_certificate_used": self.idents[-1].idx in self.used,
            "requests_asked": a.requests,
            "requests": self.load_requests,
            "responses": c.get("responses", 0),
            "checked_200": c.get("checked 200", 0),
            "checked_403": c.get("checked 403", 0),
            "connections": c.get("connections", 0),
            "connections_tls12": c.get("connections TLS 1.2", 0),
            "connections_tls13": c.get("connections TLS 1.3", 0),
            "forged_headers_sent": c.get("forged", 0),
            "wrong_identities": c.get("wrong identities", 0),
            "unexpected_statuses": c.get("unexpected statuses", 0),
            "failed_requests": c.get("failed", 0),
            "retries": c.get("retries", 0),
            "closed_by_server": c.get(
                "closed by the server (Connection: close)", 0),
            "old_answers_in_window": c.get(
                "old answers inside a change window", 0),
            "access_log_checked": c.get("access-log lines checked", 0),
            "access_log_mismatches": c.get("access-log mismatches", 0),
            "access_log_duplicates": c.get("access-log duplicate nonces", 0),
            "final_sweep_checks": c.get("final sweep checks", 0),
            "restarts_asked": a.restarts, "restarts_done": restarts_ok,
            "restarts_in_error_log": self.restarts_seen,
            "map_changes_asked": a.map_changes,
            "map_changes_confirmed": changes_ok,
            "reloads_in_error_log": self.reloads,
            "events_not_during_load": c.get("events not done during the load",
                                            0),
            "crashed_children": len(self.crashes),
            "sanitizer_reports": len(self.sanitizer),
            "parent_alive": self.parent_alive,
            "child_pids_seen": self.child_pids,
            "longest_pause_seconds": round(self.longest_gap, 2),
            "mpm_keepalive_shutdowns": self.mpm_closes[0],
            "mpm_keepalive_connections_closed": self.mpm_closes[1],
            "seconds_certificates": round(self.t_certs, 2),
            "seconds_load": round(self.t_load, 2),
            "requests_per_second": round(self.load_requests / self.t_load, 1)
            if self.t_load else 0,
            "events": self.events,
            "errors": self.errors,
            "crash_lines": self.crashes[:10],
            "sanitizer_lines": self.sanitizer[:10],
            "error_log_warnings": len(self.warnings),
            "error_log_warning_lines": self.warnings[:10],
            "module": os.environ.get("CERTMAP_MODULE", "(default)"),
            "preload": os.environ.get("CERTMAP_PRELOAD", ""),
        }
        misses = []
        for key in ("wrong_identities", "unexpected_statuses",
                    "failed_requests", "access_log_mismatches",
                    "crashed_children", "sanitizer_reports",
                    "events_not_during_load"):
            if res[key]:
                misses.append("%s = %d" % (key, res[key]))
        if not res["parent_alive"]:
            misses.append("the parent httpd is gone or changed")
        if restarts_ok != a.restarts:
            misses.append("graceful restarts %d of %d" % (restarts_ok,
                                                          a.restarts))
        if changes_ok != a.map_changes:
            misses.append("map changes confirmed %d of %d"
                          % (changes_ok, a.map_changes))
        if res["requests"] < a.requests:
            misses.append("requests %d of %d" % (res["requests"], a.requests))
        if used_certs != n_certs or not res["no_certificate_used"]:
            misses.append("certificates used %d of %d%s"
                          % (used_certs, n_certs,
                             "" if res["no_certificate_used"]
                             else ", no-certificate never"))
        if res["access_log_checked"] != res["responses"]:
            misses.append("access-log lines checked %d of %d responses"
                          % (res["access_log_checked"], res["responses"]))
        # Retries should only follow graceful restarts (old children
        # closing their idle keep-alive connections).
        starts = [self.t_start + e["at"] for e in self.events
                  if e["event"] == "graceful restart"]
        near = sum(1 for _, t in self.retried
                   if any(0 <= t - s0 <= 10 for s0 in starts))
        res["retries_within_10s_after_restart"] = near
        res["targets_missed"] = misses
        return res


def print_summary(res):
    p = print
    p("== mod_certmap load test")
    p("module                 %s%s" % (res["module"], "  (LD_PRELOAD %s)"
                                       % res["preload"] if res["preload"]
                                       else ""))
    p("clients                %d threads in %d processes"
      % (res["clients"], res["client_processes"]))
    p("certificates           %d (%s) + no certificate; used %d"
      % (res["certificates"], ", ".join("%s %d" % kv for kv in
                                         sorted(res["certificate_classes"]
                                                .items())
                                         if kv[0] != "nocert"),
         res["certificates_used"]))
    p("requests               %d (asked %d) on %d connections"
      % (res["requests"], res["requests_asked"], res["connections"]))
    p("  TLS 1.3 %d, TLS 1.2 %d; %d requests carried a forged X-Remote-User"
      " (none may reach the backend)" % (res["connections_tls13"],
                                          res["connections_tls12"],
                                          res["forged_headers_sent"]))
    p("identities checked     %d (200 with account %d, 403 with reason %d)"
      % (res["checked_200"] + res["checked_403"], res["checked_200"],
         res["checked_403"]))
    p("wrong identities       %d" % res["wrong_identities"])
    p("unexpected statuses    %d" % res["unexpected_statuses"])
    p("failed requests        %d" % res["failed_requests"])
    p("retries                %d (request sent on an idle keep-alive "
      "connection the server closed; no response byte)" % res["retries"])
    p("                       %d of them within 10 s after a graceful "
      "restart began" % res["retries_within_10s_after_restart"])
    p("                       event MPM \"all workers are busy or dying, "
      "will shutdown keep-alive connections\": %d times, %d connections"
      % (res["mpm_keepalive_shutdowns"],
         res["mpm_keepalive_connections_closed"]))
    p("Connection: close      %d (server ended a connection after a "
      "response)" % res["closed_by_server"])
    p("old answer in window   %d (before the change was confirmed: allowed)"
      % res["old_answers_in_window"])
    p("access log %%u checked  %d, mismatches %d, duplicate nonces %d"
      % (res["access_log_checked"], res["access_log_mismatches"],
         res["access_log_duplicates"]))
    p("final sweep            %d identities on new connections"
      % res["final_sweep_checks"])
    p("graceful restarts      %d of %d (error log: %d)"
      % (res["restarts_done"], res["restarts_asked"],
         res["restarts_in_error_log"]))
    p("map changes            %d of %d confirmed (error log reloads: %d)"
      % (res["map_changes_confirmed"], res["map_changes_asked"],
         res["reloads_in_error_log"]))
    for e in res["events"]:
        if e["event"] == "map change":
            r = e.get("reloaded_after")
            p("  map change v%d at %.1f s (request %d): reloaded after %s, "
              "%s to the probe after %.2f s; %s changed identities "
              "checked, %s wrong"
              % (e["version"], e["at"], e["progress"],
                 "%.2f s" % r if r is not None else "?",
                 "visible" if e.get("confirmed") else "NOT visible",
                 e["seconds"], e.get("changed", "-"),
                 e.get("changed_wrong", "-")))
        else:
            p("  graceful restart %d at %.1f s (request %d)%s: %s in %.2f s"
              % (e["number"], e["at"], e["progress"],
                 " right after map change v%d" % e["right_after_change"]
                 if e.get("right_after_change") else "",
                 "done" if e.get("done") else "FAILED", e["seconds"]))
    p("crashed children       %d; sanitizer reports %d; parent alive: %s; "
      "child PIDs seen %d" % (res["crashed_children"],
                              res["sanitizer_reports"],
                              "yes" if res["parent_alive"] else "NO",
                              res["child_pids_seen"]))
    p("longest pause          %.2f s without a finished request (access "
      "log)" % res["longest_pause_seconds"])
    p("error-log warnings     %d" % res["error_log_warnings"])
    for line in res["error_log_warning_lines"]:
        p("  " + line[:200])
    p("duration               %.1f s load (%.1f s issuing certificates); "
      "%.0f requests/s" % (res["seconds_load"], res["seconds_certificates"],
                           res["requests_per_second"]))
    for line in res["crash_lines"] + res["sanitizer_lines"]:
        p("  " + line[:300])
    if res["errors"]:
        p("first problems:")
        for e in res["errors"]:
            p("  " + e[:300])
    if res["targets_missed"]:
        p("TARGETS MISSED: " + "; ".join(res["targets_missed"]))
    else:
        p("all targets met")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="mod_certmap load test with identity checks")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--certs", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--map-changes", type=int, default=3)
    ap.add_argument("--overlap", type=int, default=0,
                    help="make the last N map changes together with a "
                         "graceful restart")
    ap.add_argument("--procs", type=int, default=2,
                    help="client processes (the clients are threads in them)")
    ap.add_argument("--backend-procs", type=int, default=2)
    ap.add_argument("--children", type=int, default=4,
                    help="httpd StartServers (ServerLimit is 4 times that)")
    ap.add_argument("--threads-per-child", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds a client waits for a response")
    ap.add_argument("--change-timeout", type=float, default=60.0,
                    help="seconds to wait for a map change to be served")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--loglevel", default="warn certmap:info mpm_event:trace1",
                    help="httpd LogLevel (certmap:info gives the reload "
                         "times, mpm_event:trace1 the keep-alive closes)")
    ap.add_argument("--inject-wrong", type=int, default=0,
                    help="expect a wrong account for N mapped certificates "
                         "(shows that the checks can fail)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args(argv)
    if a.clients < 1 or a.requests < 1:
        ap.error("--clients and --requests must be positive")
    run = Run(a)
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(130))
    try:
        run.setup()
        run.run()
        res = run.summary()
    except KeyboardInterrupt:
        run.stop()
        return 130
    except Exception:
        run.stop()
        raise
    err = run.stop()
    if err:
        res["sanitizer_reports"] += 1
        res["sanitizer_lines"].append(err[:1000])
        res["targets_missed"].append("sanitizer reports at stop")
    print_summary(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if res["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
