"""Fixtures for the mod_certmap integration tests.

Run with:  /usr/bin/python3 -m pytest -q t/integration
Every server binds 127.0.0.1 only and is stopped by its fixture, pass or
fail.  See t/lib/server.py for the environment variables (CERTMAP_MODULE,
CERTMAP_PRELOAD for the ASan build, CERTMAP_KEEP)."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))

import pki as pki_mod  # noqa: E402
from echo import EchoServer  # noqa: E402
import server as server_mod  # noqa: E402


@pytest.fixture(scope="session")
def module_so():
    path = server_mod.module_path()
    assert os.path.isfile(path), (
        "mod_certmap.so not found at %s: build it (autoreconf -fi && "
        "./configure && make) or set CERTMAP_MODULE" % path)
    return path


@pytest.fixture(scope="session")
def pki(module_so):
    d = tempfile.mkdtemp(prefix="certmap-pki-")
    os.chmod(d, 0o755)
    p = pki_mod.TestPKI.create(d)
    yield p
    if not os.environ.get("CERTMAP_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


class _Factory:
    def __init__(self, pki):
        self.pki = pki
        self.servers = []

    def __call__(self, snippet="", start=True, **kw):
        srv = server_mod.HttpdServer(self.pki, snippet=snippet, **kw)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def cleanup(self):
        for srv in self.servers:
            srv.stop()


@pytest.fixture(scope="module")
def module_httpd(pki):
    """Factory for servers shared by all tests of one module."""
    f = _Factory(pki)
    yield f
    f.cleanup()


@pytest.fixture
def httpd(pki):
    """Factory for servers that live for one test."""
    f = _Factory(pki)
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def backend():
    """An echo backend (t/lib/echo.py) shared by the tests of one module:
    it records every request a proxied test server sends it."""
    be = EchoServer().start()
    yield be
    be.stop()
