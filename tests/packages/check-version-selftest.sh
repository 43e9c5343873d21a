#!/bin/bash
# SPDX-License-Identifier: MIT
# check-version.sh bites: on a copy of the files it reads, it passes as they
# are and fails when any one of them says another version.
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=(CMakeLists.txt include/zrca/common.h debian/changelog bindings/python/pyproject.toml
       bindings/python/zrca/__init__.py CHANGELOG.md)
fresh() {
    rm -rf "$tmp/t"
    for f in "${files[@]}"; do mkdir -p "$tmp/t/$(dirname "$f")"; cp "$src/$f" "$tmp/t/$f"; done
}
fresh
bash "$src/tests/packages/check-version.sh" "$tmp/t" >/dev/null
edits=(
    "CMakeLists.txt|s/^project(zrca VERSION [0-9.]*/project(zrca VERSION 9.9.9/"
    "include/zrca/common.h|s/^#define ZRCA_VERSION_PATCH .*/#define ZRCA_VERSION_PATCH 99/"
    "include/zrca/common.h|s/^#define ZRCA_VERSION_STRING .*/#define ZRCA_VERSION_STRING \"9.9.9\"/"
    "debian/changelog|1s/^libzrca ([^)]*)/libzrca (9.9.9)/"
    "bindings/python/pyproject.toml|s/^version = .*/version = \"9.9.9\"/"
    "bindings/python/zrca/__init__.py|s/^__version__ = .*/__version__ = \"9.9.9\"/"
    "CHANGELOG.md|0,/^## \[[0-9]/s/^## \[[0-9][^]]*\]/## [9.9.9]/"
)
for e in "${edits[@]}"; do
    fresh
    f=${e%%|*}
    sed -i "${e#*|}" "$tmp/t/$f"
    cmp -s "$src/$f" "$tmp/t/$f" && { echo "selftest: the edit of $f changed nothing" >&2; exit 1; }
    if bash "$src/tests/packages/check-version.sh" "$tmp/t" >/dev/null 2>&1; then
        echo "selftest: a different version in $f went unnoticed" >&2
        exit 1
    fi
done
echo "ok: check-version.sh passes the tree and catches a different version in each of ${#edits[@]} places"
