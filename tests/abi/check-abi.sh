#!/bin/bash
# SPDX-License-Identifier: MIT
# Compare the built library with the committed ABI baseline (abidiff from
# abigail-tools). Additions pass; a removed or changed symbol or a changed
# public type fails. To accept additions on purpose, regenerate the baseline:
#   cmake --build <build> --target abi-baseline   (see doc/abi.md)
set -uo pipefail
lib=$1 baseline=$2 headers=$3
if ! command -v abidiff >/dev/null; then
    echo "FAIL: abidiff not found (apt-get install abigail-tools)"; exit 1
fi
if [ ! -f "$baseline" ]; then
    echo "FAIL: no ABI baseline at $baseline"; exit 1
fi
out=$(abidiff --no-added-syms "$baseline" "$lib" 2>&1)
rc=$?
echo "$out"
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 ABI change,
# 8 incompatible change. With added symbols filtered out, any change left
# (a removed symbol, a changed struct or signature) is a break.
if [ $rc -ne 0 ]; then
    echo "FAIL: the ABI differs from the baseline (abidiff exit $rc)"; exit 1
fi
added=$(abidiff "$baseline" "$lib" 2>&1 | grep -c "^  \[A\]" || true)
echo "ok: ABI compatible with the baseline ($added symbols added since it was written)"
