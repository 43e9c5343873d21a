#!/bin/bash
# SPDX-License-Identifier: MIT
# The long allocation-failure torture (tests/torture/test_torture.c): builds
# the torture test with ASan and UBSan in build/torture and runs it with
# every N (ZRCA_TORTURE_ALL=1): each operation is run once with each of its
# allocations failed in turn. A misreport fails the test; a leak or a crash
# fails it under the sanitizers. Hours for the updates (a fresh world per N).
#
#   bash scripts/torture.sh                        # every operation, every N
#   bash scripts/torture.sh 'test_update_soft'     # one operation (cmocka filter)
#   ZRCA_TORTURE_ALL=0 bash scripts/torture.sh     # the sample of the test command
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${TORTURE_BUILD_DIR:-build/torture}
JOBS=${JOBS:-$(nproc)}

if ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_WERROR=ON \
        -DZRCA_SANITIZE=address,undefined -DZRCA_BUILD_EXAMPLES=OFF >"$BUILD.log" 2>&1; then
    tail -20 "$BUILD.log"; echo "torture: configure failed"; exit 1
fi
if ! cmake --build "$BUILD" -j"$JOBS" --target test_torture_static >>"$BUILD.log" 2>&1; then
    tail -30 "$BUILD.log"; echo "torture: build failed"; exit 1
fi
exe=$(find "$BUILD" -name test_torture_static -type f -perm -u+x | head -1)
filters=("$@")
[ ${#filters[@]} -eq 0 ] && filters=("*")
failed=0
for f in "${filters[@]}"; do
    if ! ZRCA_TORTURE_ALL=${ZRCA_TORTURE_ALL:-1} ZRCA_SOURCE_DIR="$PWD" ZRCA_TEST_FILTER="$f" \
         ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$exe"; then
        failed=1
    fi
done
[ $failed -eq 0 ] && echo "torture: passed" || echo "torture: FAILED"
exit $failed
