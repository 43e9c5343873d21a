#!/bin/bash
# SPDX-License-Identifier: MIT
# Install the build into a temporary prefix, then build programs against it
# the two ways an application does: pkg-config alone, and find_package(zrca).
# Every example program is built with pkg-config alone as well.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libzrca.so.1' | head -1)")
export PKG_CONFIG_PATH=$libdir/pkgconfig
export LD_LIBRARY_PATH=$libdir

test -f "$prefix/include/zrca.h"
test -f "$libdir/libzrca.a"
test -f "$libdir/cmake/zrca/zrcaConfig.cmake"

# 1. pkg-config alone.
cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/consumer/consumer.c" \
    $(pkg-config --cflags --libs zrca) -o "$tmp/consumer_pc"
"$tmp/consumer_pc"
# The static library, with its dependencies (Requires.private) linked shared.
cc -std=c11 "$src/tests/install/consumer/consumer.c" $(pkg-config --cflags zrca) \
    "$libdir/libzrca.a" $(pkg-config --libs openssl libcurl p11-kit-1 yajl) -pthread \
    -o "$tmp/consumer_pc_static"
"$tmp/consumer_pc_static"

# 2. find_package(zrca).
cmake -S "$src/tests/install/consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log"
cmake --build "$tmp/cbuild" >"$tmp/cbuild.log"
"$tmp/cbuild/consumer_shared"
"$tmp/cbuild/consumer_static"

# 3. Every example, with pkg-config alone.
n=0
for ex in "$src"/examples/*.c; do
    [ -f "$ex" ] || continue
    cc -std=c11 -Wall -Wextra -Werror "$ex" $(pkg-config --cflags --libs zrca) -o "$tmp/ex$n"
    n=$((n + 1))
done
# 4. The zrca command, with pkg-config alone (it writes JSON with yajl and PEM with OpenSSL).
cc -std=c11 -Wall -Wextra -Werror "$src"/examples/zrca/*.c $(pkg-config --cflags --libs zrca) \
    $(pkg-config --cflags --libs yajl libcrypto) -o "$tmp/zrca"
"$tmp/zrca" version >/dev/null
echo "ok: installed; pkg-config (shared, static) and find_package (shared, static) consumers run; $n examples and the zrca command build"
