#!/bin/bash
# SPDX-License-Identifier: MIT
# The ABI guard must bite: in a copy of the tree, remove one exported
# function (zrca_has_feature), build the library, and expect check-abi.sh
# to fail against the committed baseline.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/CMakeLists.txt" "$src/cmake" "$src/include" "$src/lib" "$src/tests" "$src/examples" "$tmp/"
sed -i 's/^ZRCA_API int zrca_has_feature(const char \*name)$/int zrca_has_feature_removed(const char *name)/' "$tmp/lib/common.c"
sed -i '/zrca_has_feature(const char \*name);/d' "$tmp/include/zrca/common.h"
grep -q zrca_has_feature_removed "$tmp/lib/common.c"
cmake -S "$tmp" -B "$tmp/b" -DZRCA_BUILD_TESTS=OFF -DZRCA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$tmp/b" -j2 --target zrca >/dev/null
if bash "$src/tests/abi/check-abi.sh" "$tmp/b/libzrca.so" "$src/tests/abi/libzrca.abi" "$tmp/include"; then
    echo "FAIL: removing zrca_has_feature was not detected"; exit 1
fi
echo "ok: removing an exported function fails the ABI check"
