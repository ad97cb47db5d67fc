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
import tomcat  # noqa: E402
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


def show_tomcat(server, pki, cu, other):
    print("\n== what Tomcat sees (its JSP prints the request's "
          "certificate, getRemoteUser(), getAuthType())")
    forged = {"ssl_client_cert": open(cu.cert_pem).read().replace("\n", " "),
              "X-Remote-User": "W2K3TEST\\administrator"}
    for label, path, who, headers in (
            ("certuser over HTTP + SSLValve", "/tomcat-http/", cu, {}),
            ("certuser over AJP", "/tomcat-ajp/", cu, {}),
            ("certuser, forging X-Remote-User", "/tomcat-http/", cu,
             {"X-Remote-User": forged["X-Remote-User"]}),
            ("other (unmapped), forging certuser's", "/tomcat-http/", other,
             {"ssl_client_cert": forged["ssl_client_cert"]})):
        r = client.get(server, pki, path + "certinfo.jsp", who,
                       headers=headers)
        if r.status != 200:
            print("  %-38s -> %d %s" % (label, r.status, _reason(r)))
            continue
        info = tomcat.parse_info(r.body)
        sha = info.get("cert_sha256") or ""
        owner = {cu.sha256: "certuser's", other.sha256: "other's"}.get(
            sha, "no")
        user = info.get("remote_user") or \
            (info.get("headers", {}).get("x-remote-user") or [None])[0]
        print("  %-38s -> %d, Tomcat holds %s certificate, user %s, "
              "auth type %s" % (label, r.status, owner, user,
                                info.get("auth_type")))


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
    tc_reason = tomcat.unavailable_reason()
    tc = None
    if tc_reason is None:
        print("== starting a private Tomcat 10 on 127.0.0.1 (the backend)")
        tc = tomcat.TomcatServer()
        tc.start()
    snippet = """
    <Location /secure>
        CertMap On
        CertMapUser %s "W2K3TEST\\certuser"
        CertMapUser sha256:%s "W2K3TEST\\shortlived"
        CertMapDeny sha256:%s
    </Location>
""" % (cu.cert_der, short.sha256, denied.sha256)
    if tc is not None:
        snippet += """
    # Tomcat over HTTP: the certificate for its SSLValve, the account
    # (Optional: an unmapped certificate gets through, without an account)
    <Location /tomcat-http/>
        CertMap Optional
        CertMapUser %s "W2K3TEST\\certuser"
        CertMapForward tomcat
        CertMapForwardUser
        %s
    </Location>
    # Tomcat over AJP: certificate and account travel natively
    <Location /tomcat-ajp/>
        CertMap On
        CertMapUser %s "W2K3TEST\\certuser"
        %s
    </Location>
""" % (cu.cert_der, tc.proxy_pass("/tomcat-http/", "https").replace(
            "ProxyPass /tomcat-http/ ", "ProxyPass "),
       cu.cert_der, tc.proxy_pass("/tomcat-ajp/", "ajp").replace(
            "ProxyPass /tomcat-ajp/ ", "ProxyPass "))
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
        if tc is not None:
            show_tomcat(server, pki, cu, other)
        else:
            print("\n== (no Tomcat backend: %s)" % tc_reason)
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
        if tc is not None:
            tc.stop()
            print("== Tomcat stopped")
        if os.environ.get("CERTMAP_KEEP"):
            print("== demo PKI kept in %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
