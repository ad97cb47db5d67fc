"""`make install` puts the module where apxs says and, on a Debian layout,
certmap.load/certmap.conf into mods-available so that `a2enmod certmap`
works (and enables ssl, which it depends on).  Installs into a DESTDIR,
never into the system."""

import os
import shutil
import subprocess

import pytest

from server import module_path


def _builddir():
    # CERTMAP_MODULE is BUILDDIR/.libs/mod_certmap.so
    return os.path.dirname(os.path.dirname(module_path()))


def _apxs(var):
    return subprocess.run(["apxs", "-q", var], check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("destdir"))
    p = subprocess.run(["make", "-C", _builddir(), "install",
                        "DESTDIR=" + dest],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode()
    return dest


def test_module_installed_into_apxs_libexecdir(destdir):
    so = os.path.join(destdir + _apxs("LIBEXECDIR"), "mod_certmap.so")
    assert os.path.isfile(so)
    with open(so, "rb") as f, open(module_path(), "rb") as g:
        assert f.read() == g.read()


@pytest.mark.skipif(not os.path.isdir("/etc/apache2/mods-available"),
                    reason="not a Debian httpd layout")
def test_a2enmod_certmap_enables_it_and_ssl(destdir):
    confdir = os.path.join(destdir + _apxs("SYSCONFDIR"))
    avail = os.path.join(confdir, "mods-available")
    with open(os.path.join(avail, "certmap.load")) as f:
        load = f.read()
    assert "# Depends: ssl" in load
    assert ("LoadModule certmap_module %s/mod_certmap.so"
            % _apxs("LIBEXECDIR")) in load
    assert os.path.isfile(os.path.join(avail, "certmap.conf"))

    # a2enmod on the DESTDIR tree, with Debian's own module files beside
    # ours so that the dependencies (ssl, then its own) can be followed.
    for name in os.listdir("/etc/apache2/mods-available"):
        if not name.startswith("certmap."):
            shutil.copy(os.path.join("/etc/apache2/mods-available", name),
                        avail)
    os.makedirs(os.path.join(confdir, "mods-enabled"), exist_ok=True)
    env = dict(os.environ, APACHE_CONFDIR=confdir)
    p = subprocess.run(["a2enmod", "-q", "certmap"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, p.stdout.decode()
    enabled = os.listdir(os.path.join(confdir, "mods-enabled"))
    assert "certmap.load" in enabled
    assert "ssl.load" in enabled
