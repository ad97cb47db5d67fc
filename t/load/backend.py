#!/usr/bin/python3
"""A small, fast echo backend for the load test (t/load/load.py).

For every request it answers 200 with a JSON body that says what it
received, so the client can check the identity httpd forwarded:

    {"target": "/app/r?n=NONCE",
     "nonce": ["NONCE"],               # every X-Load-Nonce value
     "user": ["W2K3TEST\\\\alice"],     # every X-Remote-User value, as
                                       # latin-1 text of the raw bytes
     "pid": 1234}

Header names are compared ignoring ASCII case; values are kept byte for
byte (latin-1 round-trips every byte).  HTTP/1.1 keep-alive is supported
(mod_proxy_http reuses backend connections).  Nothing is logged: at
100,000 requests a per-request log would cost more than the echo.

Several processes (--procs) accept on one listening socket, each with a
thread per connection, so the Python GIL does not cap the throughput at
one core.

    python3 backend.py [--port N] [--procs P]
prints "PORT n" on stdout once it listens on 127.0.0.1; SIGTERM ends it
and its worker processes.
"""

import json
import os
import signal
import socket
import sys
import threading

NONCE = b"x-load-nonce"
USER = b"x-remote-user"
MAX_HEAD = 64 * 1024


def _handle(sock):
    f = sock.makefile("rb", buffering=65536)
    try:
        while True:
            line = f.readline(MAX_HEAD)
            while line in (b"\r\n", b"\n"):
                line = f.readline(MAX_HEAD)
            if not line:
                return
            parts = line.split()
            target = parts[1] if len(parts) == 3 else b""
            nonce, user = [], []
            clen = 0
            close = parts[2:3] == [b"HTTP/1.0"]
            size = len(line)
            while True:
                line = f.readline(MAX_HEAD)
                size += len(line)
                if not line or size > MAX_HEAD:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.partition(b":")
                name = name.lower()
                value = value.strip(b" \t\r\n")
                if name == USER:
                    user.append(value.decode("latin-1"))
                elif name == NONCE:
                    nonce.append(value.decode("latin-1"))
                elif name == b"content-length":
                    clen = int(value)
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            if clen:
                f.read(clen)
            body = json.dumps({"target": target.decode("latin-1"),
                               "nonce": nonce, "user": user,
                               "pid": os.getpid()}).encode()
            sock.sendall(b"HTTP/1.1 200 OK\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: %d\r\n%s\r\n%s"
                         % (len(body),
                            b"Connection: close\r\n" if close else b"",
                            body))
            if close:
                return
    except (OSError, ValueError):
        return
    finally:
        try:
            f.close()
            sock.close()
        except OSError:
            pass


def _die_with_parent():
    """Linux: SIGTERM this worker when the first process goes away,
    however it ends."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)       # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _serve(lsock, on_term):
    signal.signal(signal.SIGTERM, on_term)
    while True:
        try:
            s, _ = lsock.accept()
        except InterruptedError:
            continue
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_handle, args=(s,), daemon=True).start()


def main(argv):
    port, procs = 0, 2
    i = 0
    while i < len(argv):
        if argv[i] == "--port":
            port = int(argv[i + 1])
        elif argv[i] == "--procs":
            procs = max(1, int(argv[i + 1]))
        else:
            sys.stderr.write("usage: backend.py [--port N] [--procs P]\n")
            return 2
        i += 2
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(512)
    kids = []
    for _ in range(procs - 1):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            _serve(lsock, lambda *a: os._exit(0))
        kids.append(pid)

    def _term(*a):
        for k in kids:
            try:
                os.kill(k, signal.SIGTERM)
            except ProcessLookupError:
                pass
        os._exit(0)

    sys.stdout.write("PORT %d\n" % lsock.getsockname()[1])
    sys.stdout.flush()
    _serve(lsock, _term)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
