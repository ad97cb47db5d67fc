"""A private Apache Tomcat 10 instance for the mod_certmap integration tests.

Uses the Debian package tomcat10 (CATALINA_HOME=/usr/share/tomcat10, Java 17)
with its own CATALINA_BASE in a fresh temporary directory, binds 127.0.0.1
only, and is started and stopped by the PID of the `java` process it starts
itself (no catalina.sh, no system service).  Usable without pytest (the demo
script can use it too):

    tc = TomcatServer()
    tc.start()                        # waits until the JSP answers
    tc.proxy_pass("/app", "http")     # 'ProxyPass /app/ http://127.0.0.1:N/'
    tc.proxy_pass("/ajp", "ajp")      # '... ajp://127.0.0.1:M/ secret=...'
    ...
    tc.stop()

The instance:
    http_port         HTTP/1.1 connector, stock settings: request.isSecure()
                      is false there (the SSLValve does not change it)
    secure_http_port  HTTP/1.1 connector with secure="true" scheme="https":
                      what a connector that only httpd talks to should say
    ajp_port          AJP/1.3 connector with secretRequired and a random
                      secret (self.ajp_secret), tomcatAuthentication="false"
                      so that getRemoteUser() is httpd's r->user
    the shutdown port is disabled (-1): stop() sends SIGTERM, which runs
    Tomcat's shutdown hook, and SIGKILL if that does not end it in time.
    org.apache.catalina.valves.SSLValve sits in the Engine, so it applies to
    every connector above, AJP included (as in a typical server.xml).
    webapps/ROOT/certinfo.jsp (t/tomcat/webapp) prints what Tomcat sees as
    JSON: certificate SHA-256/subject/count, getRemoteUser(), getAuthType(),
    isSecure(), the request headers.

Environment:
    CERTMAP_TOMCAT_HOME  CATALINA_HOME (default /usr/share/tomcat10)
    CERTMAP_JAVA         the java binary (default: java on PATH)
    CERTMAP_KEEP         if set, CATALINA_BASE is not removed on stop
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

from server import free_port, port_answers

CATALINA_HOME = os.environ.get("CERTMAP_TOMCAT_HOME", "/usr/share/tomcat10")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEBAPP_DIR = os.path.join(REPO_ROOT, "t", "tomcat", "webapp")
JSP = "/certinfo.jsp"

# Flags that make a small JVM start fast; Tomcat's own catalina.sh adds the
# --add-opens lines (without them Tomcat only logs warnings).
JVM_FLAGS = [
    "-Xmx128m", "-Xss512k", "-XX:+UseSerialGC", "-Xshare:auto",
    "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
    "-Djava.security.egd=file:/dev/./urandom",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
]

# Minimal catalina.properties: Debian's class loaders, and no JAR scanning
# for TLDs/annotations (the JSP uses none; scanning costs ~1 s at start).
CATALINA_PROPERTIES = """\
package.access=sun.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.tomcat.
package.definition=sun.,java.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.naming.,org.apache.tomcat.
common.loader="${catalina.base}/lib","${catalina.base}/lib/*.jar","${catalina.home}/lib","${catalina.home}/lib/*.jar"
server.loader=
shared.loader=
tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar
tomcat.util.scan.StandardJarScanFilter.jarsToScan=
"""

# Everything to logs/catalina.out (the java process' stdout/stderr).
LOGGING_PROPERTIES = """\
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = FINE
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
"""

CONTEXT_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<Context>
    <JarScanner scanClassPath="false" scanManifest="false"/>
</Context>
"""

SERVER_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Private test instance written by t/lib/tomcat.py -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <!-- Stock HTTP connector: httpd's mod_proxy_http talks to it. -->
    <Connector protocol="HTTP/1.1" address="127.0.0.1" port="{http_port}"
               connectionTimeout="20000" maxThreads="8"
               maxHttpHeaderSize="{max_header}"/>
    <!-- The same, marked secure: isSecure() true, getScheme() https. -->
    <Connector protocol="HTTP/1.1" address="127.0.0.1"
               port="{secure_http_port}" secure="true" scheme="https"
               connectionTimeout="20000" maxThreads="8"
               maxHttpHeaderSize="{max_header}"/>
    <!-- AJP: r->user, r->ap_auth_type and the certificate travel natively. -->
    <Connector protocol="AJP/1.3" address="127.0.0.1" port="{ajp_port}"
               secretRequired="true" secret="{ajp_secret}"
               tomcatAuthentication="false" maxThreads="8"/>
    <Engine name="Catalina" defaultHost="localhost">
      <!-- Reads ssl_client_escaped_cert / ssl_client_cert (and ssl_cipher,
           ssl_session_id, ssl_cipher_usekeysize) from request headers. -->
      <Valve className="org.apache.catalina.valves.SSLValve"{valve_attrs}/>
      <Host name="localhost" appBase="webapps" unpackWARs="false"
            autoDeploy="false" deployOnStartup="true">
        <Valve className="org.apache.catalina.valves.AccessLogValve"
               directory="logs" prefix="access" suffix=".log"
               rotatable="false" buffered="false"
               pattern="%h %l %u %t &quot;%r&quot; %s %b %{{local}}p"/>
      </Host>
    </Engine>
  </Service>
</Server>
"""


class TomcatError(Exception):
    pass


def _xml_attr(value):
    return (str(value).replace("&", "&amp;").replace('"', "&quot;")
            .replace("<", "&lt;").replace(">", "&gt;"))


def java_binary():
    return os.environ.get("CERTMAP_JAVA") or shutil.which("java") \
        or "/usr/bin/java"


def unavailable_reason():
    """None if a Tomcat 10 can be started here, else a sentence why not."""
    for jar in ("bin/bootstrap.jar", "bin/tomcat-juli.jar", "lib/catalina.jar",
                "etc/web.xml"):
        if not os.path.exists(os.path.join(CATALINA_HOME, jar)):
            return ("Tomcat 10 is not installed (%s is missing): install the "
                    "Debian package tomcat10 (build/deps.sh does)"
                    % os.path.join(CATALINA_HOME, jar))
    if not os.access(java_binary(), os.X_OK):
        return "no java binary found (the tomcat10 package pulls in Java 17)"
    return None


class TomcatServer:
    """One Tomcat instance (see the module docstring).

    valve_attrs  extra attributes for the SSLValve element, e.g.
                 {"sslClientCertHeader": "X-Client-Cert"}
    max_header   maxHttpHeaderSize of the HTTP connectors (Tomcat's
                 default is 8192)
    ajp_secret   the AJP connector's secret (default: random hex)
    contexts     web applications holding certinfo.jsp: "ROOT" answers
                 /certinfo.jsp, "app" answers /app/certinfo.jsp (what the
                 conf-examples proxy to)
    """

    def __init__(self, valve_attrs=None, max_header=8192, ajp_secret=None,
                 contexts=("ROOT",)):
        reason = unavailable_reason()
        if reason:
            raise TomcatError(reason)
        self.base = tempfile.mkdtemp(prefix="certmap-tomcat-")
        os.chmod(self.base, 0o755)
        self.http_port = free_port()
        self.secure_http_port = free_port()
        self.ajp_port = free_port()
        # The secret travels in the AJP forward request (attribute 0x0C);
        # hex so that it needs no quoting in httpd.conf or server.xml.
        self.ajp_secret = ajp_secret or secrets.token_hex(16)
        self.contexts = list(contexts)
        self.valve_attrs = dict(valve_attrs or {})
        self.max_header = max_header
        self.proc = None
        self.pid = None
        self.start_seconds = None
        self.log_path = os.path.join(self.base, "logs", "catalina.out")
        self.access_log = os.path.join(self.base, "logs", "access.log")
        self._write_base()

    # -- layout ------------------------------------------------------------

    def path(self, rel):
        return os.path.join(self.base, rel)

    def _write(self, rel, text):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p

    def _write_base(self):
        for d in ["conf", "logs", "temp", "work"] + \
                ["webapps/" + c for c in self.contexts]:
            os.makedirs(self.path(d), exist_ok=True)
        self._write_server_xml()
        self._write("conf/catalina.properties", CATALINA_PROPERTIES)
        self._write("conf/logging.properties", LOGGING_PROPERTIES)
        self._write("conf/context.xml", CONTEXT_XML)
        # The default servlet, the JSP servlet and the MIME types.
        shutil.copy(os.path.join(CATALINA_HOME, "etc", "web.xml"),
                    self.path("conf/web.xml"))
        for ctx in self.contexts:
            for name in os.listdir(WEBAPP_DIR):
                shutil.copy(os.path.join(WEBAPP_DIR, name),
                            self.path(os.path.join("webapps", ctx, name)))

    def _write_server_xml(self):
        attrs = "".join(' %s="%s"' % (k, _xml_attr(v))
                        for k, v in sorted(self.valve_attrs.items()))
        self._write("conf/server.xml", SERVER_XML.format(
            http_port=self.http_port, secure_http_port=self.secure_http_port,
            ajp_port=self.ajp_port, ajp_secret=_xml_attr(self.ajp_secret),
            max_header=int(self.max_header), valve_attrs=attrs))

    # -- control -------------------------------------------------------------

    def command(self):
        bindir = os.path.join(CATALINA_HOME, "bin")
        return [java_binary()] + JVM_FLAGS + [
            "-Djava.util.logging.config.file=" +
            self.path("conf/logging.properties"),
            "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
            "-Dcatalina.base=" + self.base,
            "-Dcatalina.home=" + CATALINA_HOME,
            "-Djava.io.tmpdir=" + self.path("temp"),
            "-classpath", os.path.join(bindir, "bootstrap.jar") + ":" +
            os.path.join(bindir, "tomcat-juli.jar"),
            "org.apache.catalina.startup.Bootstrap", "start",
        ]

    def start(self, timeout=60):
        """Start java, wait until the JSP answers on the HTTP connector
        (compiling it: the first request costs most) and the other two
        connectors accept connections.  self.start_seconds is the time from
        exec to a ready server.  A port taken between choosing it and
        Tomcat binding it gets one retry on fresh ports.  On failure the
        process is stopped, CATALINA_BASE removed (unless CERTMAP_KEEP) and
        TomcatError raised with the end of catalina.out."""
        for attempt in (1, 2):
            try:
                return self._start_once(timeout)
            except TomcatError as e:
                if attempt == 2 or "Address already in use" not in str(e):
                    # the log tail is in the message; remove CATALINA_BASE
                    self.stop()
                    raise
                self.http_port = free_port()
                self.secure_http_port = free_port()
                self.ajp_port = free_port()
                self._write_server_xml()
                os.replace(self.log_path, self.log_path + ".1")

    def _start_once(self, timeout):
        t0 = time.time()
        env = dict(os.environ)
        env["CATALINA_HOME"] = CATALINA_HOME
        env["CATALINA_BASE"] = self.base
        env.pop("JAVA_TOOL_OPTIONS", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.base, env=env,
                start_new_session=True)
        self.pid = self.proc.pid
        deadline = t0 + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if "Address already in use" in self.read_log():
                break
            if all(self._jsp_answers(c) for c in self.contexts) \
                    and port_answers(self.ajp_port) \
                    and port_answers(self.secure_http_port):
                self.start_seconds = time.time() - t0
                return self
            time.sleep(0.1)
        rc = self.proc.poll()
        log = self.read_log()
        self._kill()
        raise TomcatError("Tomcat did not come up on 127.0.0.1:%d within %ds "
                          "(exit code %s); catalina.out:\n%s"
                          % (self.http_port, timeout, rc, log[-5000:]))

    def jsp_path(self, context="ROOT"):
        return JSP if context == "ROOT" else "/%s%s" % (context, JSP)

    def _jsp_answers(self, context="ROOT"):
        try:
            status, _ = self.request(self.jsp_path(context), timeout=10)
            return status == 200
        except (OSError, http.client.HTTPException):
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self, timeout=15):
        """SIGTERM our java PID (Tomcat's shutdown hook stops it cleanly),
        SIGKILL after `timeout`."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        self.proc = None
        self.pid = None

    def stop(self, timeout=15):
        """Stop our java process (see _kill), then remove CATALINA_BASE
        (unless CERTMAP_KEEP is set)."""
        self._kill(timeout)
        if not os.environ.get("CERTMAP_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- use -----------------------------------------------------------------

    def proxy_pass(self, prefix, kind="http"):
        """httpd lines that send `prefix`/ to this Tomcat's ROOT webapp.
        kind: "http" (stock connector), "https" (the secure="true" HTTP
        connector; still plain HTTP on the wire) or "ajp"."""
        prefix = prefix.rstrip("/") + "/"
        if kind == "ajp":
            target = "ajp://127.0.0.1:%d/ secret=%s" % (self.ajp_port,
                                                          self.ajp_secret)
        elif kind == "https":
            target = "http://127.0.0.1:%d/" % self.secure_http_port
        else:
            target = "http://127.0.0.1:%d/" % self.http_port
        return "ProxyPass %s %s" % (prefix, target)

    def request(self, path=JSP, headers=None, port=None, timeout=30):
        """A plain HTTP GET straight to Tomcat (no httpd); returns
        (status, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", port or self.http_port,
                                       timeout=timeout)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def info(self, headers=None, port=None):
        """What the JSP reports for a direct request, as a dict."""
        status, body = self.request(JSP, headers=headers, port=port)
        if status != 200:
            raise TomcatError("GET %s answered %d: %r" % (JSP, status,
                                                          body[:500]))
        return json.loads(body)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def parse_info(body):
    """The JSP's JSON (bytes or str) as a dict."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    return json.loads(body)


if __name__ == "__main__":
    # Smoke test: python3 t/lib/tomcat.py
    tc = TomcatServer()
    try:
        tc.start()
        print("started in %.2f s (http %d, secure http %d, ajp %d)"
              % (tc.start_seconds, tc.http_port, tc.secure_http_port,
                 tc.ajp_port))
        print(json.dumps(tc.info(), indent=1))
    finally:
        tc.stop()
