#!/bin/bash
# SPDX-License-Identifier: MIT
# The Debian packages, end to end (a step of scripts/test.sh):
#   1. install the build dependencies (apt-get, only what is missing);
#   2. build the packages with dpkg-buildpackage from a copy of the tree (the
#      tracked and the untracked, not ignored, files) in a temporary directory;
#   3. lintian on the .changes: any error fails, warnings are listed;
#   4. install them, then use what they install: a C program built against
#      libzrca-dev with pkg-config and with CMake's find_package(zrca), the
#      zrca command, the Python module from python3-zrca, the man pages and
#      the reference; the installed version is the source's one;
#   5. purge them, and check that nothing of them is left.
# Needs root. Refuses to run when one of the packages is already installed
# (it would not leave the machine as it found it).
#
# --build-only DIR: steps 1 and 2 only, then the .debs (and the .changes and
# .buildinfo) are left in DIR; nothing is installed but the build
# dependencies. tests/packages/fresh-machine.sh builds its packages so: it
# then installs them in a debootstrapped Debian 12 that has none of the build
# dependencies and renews the demo's key there (minutes, a download: not a
# step of scripts/test.sh; run it by hand).
set -euo pipefail
# The command's first line only: the consumer check below is one long command, and its own trap
# names the line that failed inside it.
trap 'echo "packages: failed at line $LINENO: ${BASH_COMMAND%%$'"'"'\n'"'"'*}" >&2' ERR
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKGS=(libzrca1 libzrca-dev zrca python3-zrca libzrca-doc)
OUT=""
if [ "${1:-}" = --build-only ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 [--build-only DIR]" >&2; exit 2; }
    mkdir -p "$2"
    OUT=$(cd "$2" && pwd)
elif [ $# -gt 0 ]; then
    echo "usage: $0 [--build-only DIR]" >&2; exit 2
fi
BUILD_DEPS=(build-essential dpkg-dev debhelper dh-python fakeroot lintian cmake pkg-config
            libssl-dev libcurl4-openssl-dev libp11-kit-dev libyajl-dev python3 doxygen)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
say() { echo "packages: $*"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# 1. Build dependencies, like scripts/deps.sh: apt-get only when one is missing.
missing=()
for p in "${BUILD_DEPS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${PKGS[@]}"; do
    [ -z "$OUT" ] || break # building only: what is installed does not matter
    if installed "$p" || dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "config-files"; then
        echo "packages: $p is already on this machine; purge it first (apt-get purge ${PKGS[*]})" >&2
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/zrca-packages.XXXXXX)
purge() {
    local any=()
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed" && any+=("$p")
    done
    if [ ${#any[@]} -gt 0 ]; then
        $SUDO dpkg --purge "${any[@]}" >"$tmp/purge.log" 2>&1 || cat "$tmp/purge.log" >&2
    fi
}
cleanup() { [ -n "$OUT" ] || purge; rm -rf "$tmp"; } # building only: nothing to purge
trap cleanup EXIT

# 2. Build from a copy of the tree.
version=$(bash "$ROOT/tests/packages/check-version.sh" "$ROOT" | sed -n 's/^ok: version \([^ ]*\) .*/\1/p')
[ -n "$version" ] || { bash "$ROOT/tests/packages/check-version.sh" "$ROOT"; exit 1; }
mkdir "$tmp/src"
(cd "$ROOT" && git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$tmp/src")
say "building $version in $tmp"
start=$(date +%s)
if ! (cd "$tmp/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
        >"$tmp/build.log" 2>&1; then
    tail -60 "$tmp/build.log"
    echo "packages: dpkg-buildpackage failed" >&2
    exit 1
fi
say "built in $(( $(date +%s) - start )) s: $(cd "$tmp" && ls *.deb | tr '\n' ' ')"
grep -A30 "dpkg-gensymbols: warning" "$tmp/build.log" | head -40 || true
for p in "${PKGS[@]}"; do
    ls "$tmp/${p}_${version}_"*.deb >/dev/null
done
if [ -n "$OUT" ]; then
    cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$OUT/"
    say "built only: $(cd "$OUT" && ls *.deb | tr '\n' ' ')in $OUT"
    exit 0
fi

# 3. lintian: errors fail, warnings are shown.
lintian --tag-display-limit 0 "$tmp"/*.changes >"$tmp/lintian.log" 2>&1 || true
grep -v "^running with root privileges" "$tmp/lintian.log" | sed 's/ \[.*//' | sort | uniq -c || true
if grep -q "^E: " "$tmp/lintian.log"; then
    grep "^E: " "$tmp/lintian.log" >&2
    echo "packages: lintian reports errors" >&2
    exit 1
fi
say "lintian: 0 errors, $(grep -c '^W: ' "$tmp/lintian.log" || true) warnings"

# 4. Install, then use.
debs=()
for p in "${PKGS[@]}"; do debs+=("$(ls "$tmp/${p}_${version}_"*.deb)"); done
$SUDO apt-get install -y -qq --no-install-recommends "${debs[@]}" >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log"; exit 1; }
for p in "${PKGS[@]}"; do
    [ "$(dpkg-query -W -f='${Version}' "$p")" = "$version" ] || { echo "packages: $p is not $version" >&2; exit 1; }
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
test -L "/usr/lib/$multiarch/libzrca.so.1"
[ "$(objdump -p "/usr/lib/$multiarch/libzrca.so.1" | awk '/SONAME/ {print $2}')" = libzrca.so.1 ]
[ "$(pkg-config --modversion zrca)" = "$version" ]

# Everything a consumer sees comes from the system: no build tree, no prefix.
env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH -u CMAKE_PREFIX_PATH -u ZRCA_LIBRARY -u ZRCA_BUILD_DIR \
    -u PYTHONPATH bash -euo pipefail -c '
    trap "echo \"packages: consumer check failed at line \$LINENO: \$BASH_COMMAND\" >&2" ERR
    tmp=$1 version=$2 src=$3 multiarch=$4
    cd "$tmp"
    # pkg-config
    cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/consumer/consumer.c" \
        $(pkg-config --cflags --libs zrca) -o consumer_pc
    ./consumer_pc
    # Not "ldd | grep -q": grep exits at the first match, ldd may then die of SIGPIPE writing the
    # next line, and pipefail fails the check (it did, on a loaded CI machine).
    ldd ./consumer_pc >ldd.txt
    grep -Eq "libzrca.so.1 => (/usr)?/lib/$multiarch/libzrca.so.1" ldd.txt
    # CMake find_package(zrca): zrca::zrca and zrca::zrca_static
    cmake -S "$src/tests/install/consumer" -B cbuild >cmake.log
    cmake --build cbuild >cbuild.log
    ./cbuild/consumer_shared
    ./cbuild/consumer_static
    # the command
    if zrca --version >zrca-version.txt 2>&1; then
        echo "packages: zrca --version: $(cat zrca-version.txt)"
    else
        zrca version >zrca-version.txt
        echo "packages: zrca has no --version yet; zrca version: $(cat zrca-version.txt)"
    fi
    grep -q "$version" zrca-version.txt
    test -f /usr/share/man/man1/zrca.1.gz
    man -w zrca >/dev/null
    # the Python module, from python3-zrca, loading libzrca.so.1 from libzrca1
    cd /
    out=$(/usr/bin/python3 -c "import zrca; print(zrca.__version__)")
    echo "packages: python3 -c \"import zrca; print(zrca.__version__)\": $out"
    [ "$out" = "$version" ]
    /usr/bin/python3 - "$version" "$multiarch" <<"PY"
import sys, zrca
version, multiarch = sys.argv[1], sys.argv[2]
assert zrca.__file__.startswith("/usr/lib/python3/dist-packages/zrca/"), zrca.__file__
assert zrca.library_version_string() == version, zrca.library_version_string()
import os
libs = [line.split()[-1] for line in open("/proc/self/maps") if "libzrca" in line]
assert libs and all(os.path.realpath(p) == os.path.realpath("/usr/lib/%s/libzrca.so.1" % multiarch)
                    for p in libs), libs
assert zrca.has_feature("session")
PY
    # the reference
    test -f /usr/share/doc/libzrca-doc/html/index.html
    test -f /usr/share/man/man3/zrca_error.3.gz
    test -f /usr/share/doc/libzrca-doc/design.md.gz -o -f /usr/share/doc/libzrca-doc/design.md
' _ "$tmp" "$version" "$ROOT" "$multiarch"
say "installed and used: pkg-config and find_package consumers, zrca, python3 -c 'import zrca', the reference"

# 5. Purge; nothing of the packages may be left.
purge
left=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed" && left+=("$p")
done
for f in "/usr/lib/$multiarch/libzrca.so.1" /usr/include/zrca.h /usr/bin/zrca \
         /usr/lib/python3/dist-packages/zrca /usr/share/doc/libzrca-doc "/usr/lib/$multiarch/cmake/zrca"; do
    [ -e "$f" ] && left+=("$f")
done
if [ ${#left[@]} -gt 0 ]; then
    echo "packages: left behind after the purge: ${left[*]}" >&2
    exit 1
fi
say "ok: ${PKGS[*]} $version built, lint-clean of errors, installed, used and purged"
