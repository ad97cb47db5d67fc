"""The demo behind build/demo: a private httpd with mod_certmap on
127.0.0.1, real TLS requests, and what the server logged for each."""

import os
import shutil
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "t", "lib"))

import client  # noqa: E402
from pki import TestPKI  # noqa: E402
from server import HttpdServer  # noqa: E402


def show(label, resp):
    env = resp.env if resp.status == 200 else {}
    reason = "" if resp.status == 200 else _reason(resp)
    print("  %-34s -> %d %s" % (label, resp.status,
                                "REMOTE_USER=" + env.get("REMOTE_USER", "")
                                if resp.status == 200 else reason))


def _reason(resp):
    for word in resp.text.replace("(", " ").replace(")", " ").split():
        if word.startswith(("cert-", "tls-")):
            return "reason=" + word.rstrip(".")
    return ""


def main():
    work = tempfile.mkdtemp(prefix="certmap-demo-")
    os.chmod(work, 0o755)
    print("== demo PKI in %s" % work)
    pki = TestPKI.create(os.path.join(work, "pki"))
    cu, other, denied = (pki.clients[n] for n in ("certuser", "other",
                                                  "denied"))
    # Mapped, and about to expire: shows cert-expired on a long-lived
    # connection, where mod_ssl's handshake verdict is already given.
    short, short_end = pki.make_shortlived(8)
    snippet = """
    <Location /secure>
        CertMap On
        CertMapUser %s "W2K3TEST\\certuser"
        CertMapUser sha256:%s "W2K3TEST\\shortlived"
        CertMapDeny sha256:%s
    </Location>
""" % (cu.cert_der, short.sha256, denied.sha256)
    server = HttpdServer(pki, snippet=snippet, dirs=["secure"],
                         loglevel="warn")
    print("== httpd configuration (inside the TLS virtual host, "
          "SSLVerifyClient optional):")
    print(snippet)
    server.start()
    try:
        print("== httpd with mod_certmap listening on https://127.0.0.1:%d"
              % server.port)
        print("== requests to /secure/env.cgi (a CGI that prints "
              "REMOTE_USER):")
        show("certuser (mapped)", client.get(server, pki, "/secure/env.cgi",
                                              cu))
        show("other (not mapped)", client.get(server, pki,
                                               "/secure/env.cgi", other))
        show("denied (CertMapDeny)", client.get(server, pki,
                                                 "/secure/env.cgi", denied))
        show("no certificate", client.get(server, pki, "/secure/env.cgi"))
        try:
            client.get(server, pki, "/secure/env.cgi",
                       pki.clients["expired"])
            print("  expired certificate: unexpectedly got through")
        except (ssl.SSLError, ConnectionError, OSError) as e:
            print("  %-34s -> TLS handshake refused by mod_ssl (%s)"
                  % ("expired certificate", type(e).__name__))
        with client.Conn(server, pki, short) as conn:
            show("shortlived (expires in a moment)",
                 conn.get("/secure/env.cgi"))
            wait = short_end.timestamp() - time.time() + 1.5
            time.sleep(max(wait, 0))
            show("same connection, after it expired",
                 conn.get("/secure/env.cgi"))
        time.sleep(0.5)
        print("\n== access log (%u, then %{CERTMAP_REASON}e last):")
        for line in server.access_log_lines():
            print("  " + line)
        print("\n== error log lines from mod_certmap:")
        for line in server.read_error_log().splitlines():
            if "CERTMAP" in line:
                print("  " + line[line.index("[client"):]
                      if "[client" in line else "  " + line)
    finally:
        server.stop()
        print("\n== httpd stopped")
        if os.environ.get("CERTMAP_KEEP"):
            print("== demo PKI kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
