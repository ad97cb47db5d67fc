# build/deps.sh - sourced by build/test and build/demo: installs, with apt,
# the Debian 12 packages that building and testing mod_certmap needs.
# Only what is missing is installed, so a prepared machine pays nothing.

CERTMAP_PACKAGES="gcc make autoconf automake libtool pkg-config
 apache2 apache2-dev apache2-utils libssl-dev check
 python3 python3-pytest python3-cryptography curl openssl ca-certificates
 tomcat10 slapd ldap-utils python3-h2"

certmap_install_deps() {
    local missing="" pkg
    for pkg in $CERTMAP_PACKAGES "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
                | grep -q "install ok installed"; then
            missing="$missing $pkg"
        fi
    done
    [ -z "$missing" ] && return 0
    echo "== installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "These Debian packages are missing:$missing" >&2
        echo "Run this script as root, or install them with apt-get first." >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || return 1
    # --no-install-recommends would leave out mod_ssl's friends; keep
    # Debian's defaults.  Services do not start in containers; if one
    # does, tests use their own ports and never touch it.
    apt-get install -y -qq $missing >/dev/null || return 1
}

# Configure and build in an out-of-tree directory: $1 = build dir, the rest
# are extra configure arguments.
certmap_build() {
    local top builddir
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    builddir=$1
    shift
    if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] \
            || [ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
        (cd "$top" && autoreconf -fi >/dev/null 2>&1) || {
            echo "autoreconf failed" >&2; return 1; }
    fi
    # An in-tree configure blocks out-of-tree builds; clean it first.
    if [ -f "$top/config.status" ]; then
        echo "== the source tree was configured in place; running 'make distclean' there"
        (cd "$top" && make -s distclean >/dev/null 2>&1) || rm -f "$top/config.status"
    fi
    mkdir -p "$builddir"
    (cd "$builddir" && "$top/configure" -q "$@" && make -s -j2) || {
        echo "build failed in $builddir" >&2; return 1; }
}
