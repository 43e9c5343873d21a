#!/bin/bash
# SPDX-License-Identifier: MIT
# The shared library exports only zrca_* symbols, under SONAME libzrca.so.1.
set -euo pipefail
lib=$1
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != "libzrca.so.1" ]; then
    echo "FAIL: SONAME is '$soname', expected libzrca.so.1"; exit 1
fi
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -v '^zrca_' | grep -v '^LIBZRCA_' || true)
if [ -n "$bad" ]; then
    echo "FAIL: symbols exported outside the zrca_ prefix:"; echo "$bad"; exit 1
fi
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^zrca_' || true)
if [ "$count" -lt 1 ]; then
    echo "FAIL: no zrca_ symbol exported"; exit 1
fi
echo "ok: SONAME $soname, $count zrca_* symbols, nothing else"
