"""A private Apache httpd instance for the mod_certmap integration tests.

Writes a self-contained configuration into a fresh temporary directory (its
own ServerRoot, DefaultRuntimeDir, PidFile, logs, docroot, CGI), binds
127.0.0.1 only, and starts/stops /usr/sbin/apache2 by the PID in its own
PidFile.  Usable without pytest (the demo script can use it too):

    srv = HttpdServer(pki, snippet='CertMap On\\nCertMapUser ...')
    srv.start()
    ...
    srv.stop()

Environment:
    CERTMAP_MODULE   path of mod_certmap.so (default: <repo>/.libs/mod_certmap.so)
    CERTMAP_PRELOAD  put into LD_PRELOAD for httpd (the ASan build of the
                     module needs its runtime preloaded); ASAN_OPTIONS then
                     gets detect_leaks=0 (httpd's pools look like leaks)
    CERTMAP_KEEP     if set, the server directory is not removed on stop
    CERTMAP_VALGRIND a directory: every httpd runs in the foreground as
                     `apache2 -X` (one process, no children) under
                     valgrind's memcheck, which writes DIR/vg.PID.log when
                     it exits; `apache2 -t` runs under memcheck too.
                     DIR/servers.tsv says which test ran which PID and how
                     many requests it served.  build/valgrind sets this and
                     reads the logs.  Under -X a graceful restart is not
                     possible: graceful() skips the test (pytest.skip).
    CERTMAP_VALGRIND_OPTS  more valgrind options (e.g. --track-origins=yes)
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

APACHE2 = "/usr/sbin/apache2"
MODULE_DIR = "/usr/lib/apache2/modules"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_MODULE = os.path.join(REPO_ROOT, ".libs", "mod_certmap.so")

# Stock modules, loaded explicitly (no Debian envvars, no /etc/apache2).
# mod_log_config and mod_unixd are compiled into Debian's apache2
# (`apache2 -l`); loading them again is an error, so they are not listed.
STOCK_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("authz_groupfile_module", "mod_authz_groupfile.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authn_file_module", "mod_authn_file.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("mime_module", "mod_mime.so"),
    ("ssl_module", "mod_ssl.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("cgid_module", "mod_cgid.so"),
    ("alias_module", "mod_alias.so"),
    ("env_module", "mod_env.so"),
    ("headers_module", "mod_headers.so"),
    ("setenvif_module", "mod_setenvif.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_ajp_module", "mod_proxy_ajp.so"),
    ("ldap_module", "mod_ldap.so"),
    ("http2_module", "mod_http2.so"),
]

ACCESS_LOG_FORMAT = r'"%h %l %u %t \"%r\" %>s %b \"%{CERTMAP_REASON}e\""'

CGI_SCRIPT = """#!/usr/bin/python3 -S
import os
print("Content-Type: text/plain")
print()
for k in ("REMOTE_USER", "AUTH_TYPE", "CERTMAP_USER", "CERTMAP_DOMAIN",
          "CERTMAP_MATCH", "CERTMAP_REASON", "REDIRECT_CERTMAP_REASON",
          "REDIRECT_STATUS", "SSL_CLIENT_VERIFY"):
    print("%s=%s" % (k, os.environ.get(k, "")))
"""

INDEX_HTML = "hello from the certmap test server\n"


def module_path():
    return os.environ.get("CERTMAP_MODULE", DEFAULT_MODULE)


def free_port():
    """A port that was free on 127.0.0.1 a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_answers(port):
    """Something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def httpd_env():
    env = dict(os.environ)
    preload = os.environ.get("CERTMAP_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = preload
        asan = env.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
    return env


VALGRIND_SUPP = os.path.join(REPO_ROOT, "t", "valgrind.supp")
# Under memcheck httpd starts, answers and stops 20-50 times slower, and
# the leak check at exit takes seconds more.
VALGRIND_START_TIMEOUT = 180
VALGRIND_STOP_TIMEOUT = 180


def valgrind_dir():
    """The CERTMAP_VALGRIND directory, or None (the normal mode)."""
    return os.environ.get("CERTMAP_VALGRIND") or None


def valgrind_command(vdir):
    """valgrind and its options; the httpd command line follows."""
    if not os.path.isdir(vdir):
        os.makedirs(vdir, exist_ok=True)
        # httpd -X drops to User www-data; its forks (mod_cgid) log here too
        os.chmod(vdir, 0o1777)
    cmd = ["valgrind", "--tool=memcheck", "--leak-check=full",
           "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
           "--num-callers=40",
           # modules are unloaded before the leak check: keep their symbols
           "--keep-debuginfo=yes",
           "--vgdb=no", "--log-file=" + os.path.join(vdir, "vg.%p.log")]
    if os.path.isfile(VALGRIND_SUPP):
        cmd.append("--suppressions=" + VALGRIND_SUPP)
    cmd.extend(shlex.split(os.environ.get("CERTMAP_VALGRIND_OPTS", "")))
    return cmd


def valgrind_note(vdir, *fields):
    """One line of DIR/servers.tsv (read by build/valgrind)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "")
    with open(os.path.join(vdir, "servers.tsv"), "a") as f:
        f.write("\t".join([str(x) for x in fields] + [test]) + "\n")


class HttpdError(Exception):
    pass


class HttpdServer:
    """One httpd instance.

    snippet      config text placed inside the TLS <VirtualHost>
    global_snippet  config text placed at server level (after the modules)
    plain_snippet   if not None, a second `Listen ... http` port with a plain
                    HTTP <VirtualHost> holding this text (self.plain_port)
    verify       SSLVerifyClient value for the TLS vhost (None: omit)
    crl          add SSLCARevocationFile/SSLCARevocationCheck leaf
    dirs         sub-directories of the docroot to create, each with
                 env.cgi and index.html
    files        {relative path under ServerRoot: text} written before start
                 (map files, group files, .htaccess ...)
    In every snippet, @ROOT@ is replaced by the ServerRoot (so a test can
    write <Directory "@ROOT@/htdocs/x">).
    """

    def __init__(self, pki, snippet="", global_snippet="", plain_snippet=None,
                 verify="optional", crl=False, dirs=(), files=None,
                 loglevel="warn certmap:debug"):
        self.pki = pki
        self.snippet = snippet
        self.global_snippet = global_snippet
        self.plain_snippet = plain_snippet
        self.verify = verify
        self.crl = crl
        self.dirs = list(dirs)
        self.files = dict(files or {})
        self.loglevel = loglevel
        self.root = tempfile.mkdtemp(prefix="certmap-httpd-")
        # www-data children must read the docroot and run the CGI.
        os.chmod(self.root, 0o755)
        self.conf = os.path.join(self.root, "conf", "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.access_log = os.path.join(self.root, "logs", "access.log")
        self.pid_file = os.path.join(self.root, "run", "httpd.pid")
        self.docroot = os.path.join(self.root, "htdocs")
        self.port = free_port()
        self.plain_port = free_port() if plain_snippet is not None else None
        self.pid = None
        self._proc = None  # the valgrind process (CERTMAP_VALGRIND only)
        self._write_tree()
        self._write_conf()

    # -- layout ------------------------------------------------------------

    def path(self, rel):
        return os.path.join(self.root, rel)

    def _mkdir(self, rel):
        p = self.path(rel)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o755)
        return p

    def write_file(self, rel, text, mode=0o644):
        p = self.path(rel)
        d = os.path.dirname(p)
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
            # chmod every new level up to the root
            x = d
            while x.startswith(self.root) and x != self.root:
                os.chmod(x, 0o755)
                x = os.path.dirname(x)
        data = text.encode() if isinstance(text, str) else text
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    def _write_tree(self):
        for d in ("conf", "logs", "run", "htdocs", "certs"):
            self._mkdir(d)
        # Every client certificate form under ServerRoot/certs, so configs can
        # say `CertMapUser certs/certuser.cer "W2K3TEST\certuser"`.
        for c in self.pki.clients.values():
            for src in (c.cert_pem, c.cert_der):
                shutil.copy(src, self.path("certs"))
        for d in [""] + self.dirs:
            base = os.path.join("htdocs", d)
            self.write_file(os.path.join(base, "env.cgi"), CGI_SCRIPT, 0o755)
            self.write_file(os.path.join(base, "index.html"), INDEX_HTML)
        for rel, text in self.files.items():
            self.write_file(rel, text)

    def _write_conf(self):
        lines = []
        add = lines.append
        add('ServerRoot "%s"' % self.root)
        add('DefaultRuntimeDir "%s"' % self.path("run"))
        add('PidFile "%s"' % self.pid_file)
        add("ServerName localhost")
        for name, so in STOCK_MODULES:
            add("LoadModule %s %s/%s" % (name, MODULE_DIR, so))
        add("LoadModule certmap_module %s" % module_path())
        if os.geteuid() == 0:
            add("User www-data")
            add("Group www-data")
        add('ErrorLog "%s"' % self.error_log)
        add("LogLevel %s" % self.loglevel)
        add("LogFormat %s certmap" % ACCESS_LOG_FORMAT)
        add('CustomLog "%s" certmap' % self.access_log)
        add("TypesConfig /etc/mime.types")
        add('ScriptSock "%s"' % self.path("run/cgid.sock"))
        add("Timeout 30")
        add("KeepAlive On")
        add("MaxKeepAliveRequests 0")
        add("KeepAliveTimeout 30")
        add("StartServers 1")
        add("ServerLimit 2")
        add("ThreadsPerChild 16")
        add("MaxRequestWorkers 32")
        add("MinSpareThreads 4")
        add("MaxSpareThreads 32")
        add('SSLSessionCache "shmcb:%s(512000)"' % self.path("run/scache"))
        add('DocumentRoot "%s"' % self.docroot)
        add('<Directory "%s">' % self.docroot)
        add("    Options +ExecCGI")
        add("    AddHandler cgi-script .cgi")
        add("    AllowOverride AuthConfig")
        add("    Require all granted")
        add("</Directory>")
        # The identity as headers, so static-file requests (fast, for the
        # many-request tests) show what r->user and the module's env are.
        add('Header always set X-Remote-User "expr=%{REMOTE_USER}"')
        add('Header always set X-Auth-Type "expr=%{AUTH_TYPE}"')
        add('Header always set X-Certmap-User "%{CERTMAP_USER}e"')
        add('Header always set X-Certmap-Reason "%{CERTMAP_REASON}e"')
        add("# --- global snippet")
        lines.extend(self._subst(self.global_snippet).splitlines())
        add("# --- end global snippet")
        add("Listen 127.0.0.1:%d https" % self.port)
        add("<VirtualHost 127.0.0.1:%d>" % self.port)
        add("    ServerName localhost")
        add("    SSLEngine on")
        add("    SSLProtocol -all +TLSv1.2 +TLSv1.3")
        add('    SSLCertificateFile "%s"' % self.pki.server_cert)
        add('    SSLCertificateKeyFile "%s"' % self.pki.server_key)
        add('    SSLCACertificateFile "%s"' % self.pki.trust_pem)
        if self.verify:
            add("    SSLVerifyClient %s" % self.verify)
        add("    SSLVerifyDepth 3")
        # SSL_CLIENT_VERIFY etc. for env.cgi (diagnostics only; the module
        # reads mod_ssl's variables itself).
        add("    SSLOptions +StdEnvVars")
        if self.crl:
            add('    SSLCARevocationFile "%s"' % self.pki.crl_pem)
            add("    SSLCARevocationCheck leaf")
        add("    # --- snippet")
        lines.extend(self._subst(self.snippet).splitlines())
        add("    # --- end snippet")
        add("</VirtualHost>")
        if self.plain_snippet is not None:
            add("Listen 127.0.0.1:%d http" % self.plain_port)
            add("<VirtualHost 127.0.0.1:%d>" % self.plain_port)
            add("    ServerName localhost")
            lines.extend(self._subst(self.plain_snippet).splitlines())
            add("</VirtualHost>")
        self.conf_lines = lines
        self.write_file("conf/httpd.conf", "\n".join(lines) + "\n")

    def _subst(self, text):
        return text.replace("@ROOT@", self.root)

    def line_of(self, text, nth=1):
        """1-based line number in httpd.conf of the nth line containing
        `text` (what httpd reports in errors and CERTMAP_MATCH)."""
        seen = 0
        for i, line in enumerate(self.conf_lines, 1):
            if text in line:
                seen += 1
                if seen == nth:
                    return i
        raise KeyError("%r not in the generated httpd.conf" % text)

    def match(self, text, nth=1):
        """The CERTMAP_MATCH value expected for the config line holding
        `text`: 'CONF:LINE'."""
        return "%s:%d" % (self.conf, self.line_of(text, nth))

    # -- control -------------------------------------------------------------

    def configtest(self):
        """Run `apache2 -t`; returns (returncode, combined output)."""
        vdir = valgrind_dir()
        if vdir:
            p = subprocess.Popen(valgrind_command(vdir)
                                 + [APACHE2, "-t", "-f", self.conf],
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=httpd_env())
            out, _ = p.communicate(timeout=VALGRIND_STOP_TIMEOUT)
            valgrind_note(vdir, "configtest", p.pid, 0, p.returncode)
            return p.returncode, out.decode(errors="replace")
        p = subprocess.run([APACHE2, "-t", "-f", self.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=httpd_env(), timeout=60)
        return p.returncode, p.stdout.decode(errors="replace")

    def start(self, timeout=15):
        if valgrind_dir():
            return self._start_valgrind(max(timeout, VALGRIND_START_TIMEOUT))
        p = subprocess.run([APACHE2, "-f", self.conf, "-k", "start"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=httpd_env(), timeout=60)
        out = p.stdout.decode(errors="replace")
        if p.returncode != 0:
            raise HttpdError("apache2 -k start failed (rc=%d):\n%s\n%s"
                             % (p.returncode, out, self.read_error_log()))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.pid is None:
                self.pid = self._read_pid()
            if self.pid and port_answers(self.port) and (
                    self.plain_port is None
                    or port_answers(self.plain_port)):
                return self
            if self.pid and not self._alive(self.pid):
                break
            time.sleep(0.02)
        log = self.read_error_log()
        self.stop()
        raise HttpdError("httpd did not come up on 127.0.0.1:%d\n%s\n%s"
                         % (self.port, out, log))

    def _start_valgrind(self, timeout):
        """`apache2 -X` under memcheck, in the foreground: our child, its
        PID is httpd's."""
        vdir = valgrind_dir()
        with open(self.path("logs/valgrind.out"), "wb") as out:
            self._proc = subprocess.Popen(
                valgrind_command(vdir) + [APACHE2, "-X", "-f", self.conf],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=httpd_env(), start_new_session=True)
        self.pid = self._proc.pid
        valgrind_note(vdir, "start", self.pid, "", "")
        # The ports answer after the first of httpd's two configuration
        # reads already; the PidFile is written after the second.
        deadline = time.time() + timeout
        while time.time() < deadline and self._proc.poll() is None:
            if self._read_pid() == self.pid and port_answers(self.port) and (
                    self.plain_port is None
                    or port_answers(self.plain_port)):
                return self
            time.sleep(0.1)
        log = self.read_error_log()
        try:
            with open(self.path("logs/valgrind.out"), "rb") as f:
                out = f.read().decode(errors="replace")
        except OSError:
            out = ""
        self.stop()
        raise HttpdError("httpd -X under valgrind did not come up on "
                         "127.0.0.1:%d\n%s\n%s" % (self.port, out, log))

    def _stop_valgrind(self, timeout):
        """SIGTERM, then wait for memcheck's leak check and exit."""
        proc, self._proc = self._proc, None
        requests = len(self.access_log_lines())
        killed = ""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                killed = "killed"
        # Its own process group (start_new_session): mod_cgid's daemon
        # outlives an httpd that crashed at exit; let it write its log.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        valgrind_note(valgrind_dir(), "stop", proc.pid, requests,
                      "%s%s" % (proc.returncode, killed and " " + killed))

    def _read_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def graceful(self, timeout=15):
        """Graceful restart (SIGUSR1 to our PID); waits until the parent
        logged that it resumed normal operations once more."""
        if self._proc is not None:
            import pytest
            pytest.skip("a graceful restart needs httpd's parent process; "
                        "under valgrind (CERTMAP_VALGRIND) httpd runs as "
                        "one process (-X), which ignores SIGUSR1")
        before = self.read_error_log().count("resuming normal operations")
        os.kill(self.pid or self._read_pid(), signal.SIGUSR1)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.read_error_log().count("resuming normal operations") \
                    > before:
                return
            time.sleep(0.05)
        raise HttpdError("graceful restart did not complete:\n%s"
                         % self.read_error_log()[-3000:])

    def stop(self, timeout=10):
        """SIGTERM the PID from our own PidFile, wait for it to go."""
        pid = self.pid or self._read_pid()
        if self._proc is not None:
            # our own child: waited for, never signalled by a stale PID
            self._stop_valgrind(max(timeout, VALGRIND_STOP_TIMEOUT))
            pid = None
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pid = None
        deadline = time.time() + timeout
        while pid and time.time() < deadline and self._alive(pid):
            # reap if it happens to be our child (it is not after -k start)
            time.sleep(0.05)
        if pid and self._alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid = None
        reports = self.sanitizer_reports()
        if not os.environ.get("CERTMAP_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)
        if reports:
            raise HttpdError("sanitizer reports in httpd's error log:\n"
                             + "\n".join(reports))

    # httpd's stderr is its error log, so that is where ASan and UBSan
    # write what they find in an instrumented module.
    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                         "ERROR: LeakSanitizer")

    def sanitizer_reports(self):
        return [line for line in self.read_error_log().splitlines()
                if any(m in line for m in self.SANITIZER_MARKERS)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- logs ----------------------------------------------------------------

    def read_error_log(self):
        try:
            with open(self.error_log, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def read_access_log_bytes(self):
        try:
            with open(self.access_log, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def access_log_lines(self):
        return self.read_access_log_bytes().decode(errors="replace") \
            .splitlines()

    def wait_access_line(self, needle, timeout=5.0):
        """The access-log line containing `needle` (a unique request path);
        httpd writes it after the response, so poll a little."""
        deadline = time.time() + timeout
        while True:
            for line in self.access_log_lines():
                if needle in line:
                    return line
            if time.time() > deadline:
                raise AssertionError("no access-log line with %r in:\n%s"
                                     % (needle,
                                        "\n".join(self.access_log_lines()[-20:])))
            time.sleep(0.02)

    def error_lines(self, *needles, include_debug=False):
        """Error-log lines that contain every needle.  Debug/trace lines are
        left out unless include_debug (LogLevel has certmap:debug)."""
        out = []
        for line in self.read_error_log().splitlines():
            if not include_debug and re.search(r"\[[a-z_0-9]+:(debug|trace\d)\]",
                                               line):
                continue
            if all(n in line for n in needles):
                out.append(line)
        return out

    def wait_error_lines(self, *needles, timeout=3.0, count=1, **kw):
        """Poll until at least `count` matching lines exist (then wait a
        little longer so that a duplicate would be seen too)."""
        deadline = time.time() + timeout
        lines = self.error_lines(*needles, **kw)
        while len(lines) < count and time.time() < deadline:
            time.sleep(0.02)
            lines = self.error_lines(*needles, **kw)
        time.sleep(0.05)
        return self.error_lines(*needles, **kw)
