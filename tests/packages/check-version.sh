#!/bin/bash
# SPDX-License-Identifier: MIT
# One version everywhere: CMake's project(VERSION), the headers' ZRCA_VERSION_*
# (what zrca_version() returns), debian/changelog, the Python package
# (pyproject.toml and zrca.__version__) and the newest release of CHANGELOG.md.
# With a built library as $2, what zrca_version() returns at run time too.
# Usage: check-version.sh SOURCE_DIR [LIBZRCA_SO]
set -euo pipefail
src=${1:-$(dirname "$0")/../..}
lib=${2:-}
cd "$src"
declare -A v
v[cmake]=$(sed -n 's/^project(zrca VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
h=include/zrca/common.h
v[headers]=$(printf '%s.%s.%s' "$(awk '/#define ZRCA_VERSION_MAJOR/ {print $3}' $h)" \
    "$(awk '/#define ZRCA_VERSION_MINOR/ {print $3}' $h)" "$(awk '/#define ZRCA_VERSION_PATCH/ {print $3}' $h)")
v[headers_string]=$(sed -n 's/^#define ZRCA_VERSION_STRING "\(.*\)"/\1/p' $h)
v[debian]=$(sed -n '1s/^libzrca (\([^)]*\)).*/\1/p' debian/changelog)
v[pyproject]=$(sed -n 's/^version = "\(.*\)"/\1/p' bindings/python/pyproject.toml)
v[python]=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings/python/zrca/__init__.py)
v[changelog]=$(sed -n 's/^## \[\([0-9][^]]*\)\].*/\1/p' CHANGELOG.md | head -1)
if [ -n "$lib" ]; then
    v[runtime]=$(/usr/bin/python3 -c 'import ctypes, sys
l = ctypes.CDLL(sys.argv[1]); l.zrca_version.restype = ctypes.c_char_p
print(l.zrca_version(None, None, None).decode())' "$lib")
fi
ref=${v[cmake]}
bad=0
for k in "${!v[@]}"; do
    if [ "${v[$k]}" != "$ref" ]; then
        echo "version mismatch: $k says '${v[$k]}', CMakeLists.txt says '$ref'" >&2
        bad=1
    fi
done
[ -n "$ref" ] || { echo "no version in CMakeLists.txt" >&2; exit 1; }
[ "$bad" -eq 0 ] || exit 1
echo "ok: version $ref in ${#v[@]} places (${!v[*]})"
