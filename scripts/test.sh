#!/bin/bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it (README's second command):
#   1. clang-format check of every C file; 1b. the SPDX header of every source file;
#   2. a developer build with -Werror: every ctest test (unit tests against
#      the shared and the static library, the ABI guard, header checks, the
#      install check) and every C test once more under valgrind memcheck;
#   3. an ASan+UBSan build running the C tests again;
#   4. the Python suites (reference platform, bindings) with pytest;
#   4b. the Debian packages (tests/packages/check-packages.sh);
#   5. each fuzz target briefly.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-$(nproc)}
BUILD=${ZRCA_TEST_BUILD_DIR:-$ROOT/build/ci}
PY=/usr/bin/python3
failed=0
passed=0
# Each step's line says how long it took since the previous one (the whole must stay under the
# 30 minutes CI allows on a 2-core machine).
mark=$(date +%s)
step() { local now; now=$(date +%s); echo "== $1: $2 ($((now - mark)) s)"; mark=$now; }
step_ok() { passed=$((passed + 1)); step PASS "$1"; }
step_fail() { failed=$((failed + 1)); step FAIL "$1"; }

bash scripts/deps.sh || { echo "== FAIL: installing dependencies"; echo "0 passed, 1 failed"; exit 1; }
# The tests' temporary files (SoftHSM token directories, journals, the platform's state, pytest's
# tmp_path) go to a tmpfs when the machine has one: the suites test the code, not the disk, whose
# stalls (SoftHSM truncates and rewrites its object files on every change) cost this 2-core
# machine minutes. Durability across a crash is tested by killing processes, which a tmpfs keeps;
# bench/ measures the disk separately. ZRCA_TEST_TMPDIR=DIR chooses another place.
# A small /dev/shm (a container's 64 MiB) is passed over: the C suites peaked at about 40 MiB
# there (sampled each second); 1 GiB free leaves room for what grows.
shm_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
if [ -z "${ZRCA_TEST_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
        [ "${shm_kib:-0}" -ge 1048576 ]; then
    ZRCA_TEST_TMPDIR=$(mktemp -d /dev/shm/zrca-test.XXXXXX) || ZRCA_TEST_TMPDIR=
    # sticky and open to all, as /tmp: some tests run a child as an unprivileged user
    [ -n "$ZRCA_TEST_TMPDIR" ] && chmod 1777 "$ZRCA_TEST_TMPDIR" &&
        trap 'rm -rf "$ZRCA_TEST_TMPDIR"' EXIT
fi
if [ -n "${ZRCA_TEST_TMPDIR:-}" ]; then
    export TMPDIR="$ZRCA_TEST_TMPDIR"
    echo "== temporary files under $TMPDIR"
fi
start=$(date +%s)
mark=$start
mkdir -p "$BUILD"

# 1. Formatting.
mapfile -t cfiles < <(git ls-files --cached '*.c' '*.h')
if clang-format --dry-run --Werror "${cfiles[@]}" 2>"$BUILD/format.log"; then
    step_ok "clang-format (${#cfiles[@]} files)"
else
    head -40 "$BUILD/format.log"; step_fail "clang-format"
fi

# 1b. Licence headers: every tracked source file starts with its SPDX line.
if bash scripts/spdx-check.sh >"$BUILD/spdx.log" 2>&1; then
    step_ok "SPDX headers ($(sed -n 's/^spdx: all \([0-9]*\) .*/\1/p' "$BUILD/spdx.log") files)"
else
    tail -40 "$BUILD/spdx.log"; step_fail "SPDX headers"
fi

# 2. Developer build: -Werror, every test, then memcheck.
if cmake -S . -B "$BUILD/plain" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_WERROR=ON \
        -DZRCA_VALGRIND=ON >/dev/null && cmake --build "$BUILD/plain" -j"$JOBS" >"$BUILD/plain.log" 2>&1; then
    if ctest --test-dir "$BUILD/plain" -j"$JOBS" --output-on-failure -LE memcheck; then
        step_ok "ctest (plain build)"
    else step_fail "ctest (plain build)"; fi
    if ctest --test-dir "$BUILD/plain" -j"$JOBS" --output-on-failure -L memcheck; then
        step_ok "ctest under valgrind memcheck"
    else step_fail "ctest under valgrind memcheck"; fi
else
    tail -40 "$BUILD/plain.log"; step_fail "build (plain, -Werror)"
fi

# 3. ASan + UBSan.
if cmake -S . -B "$BUILD/asan" -DCMAKE_BUILD_TYPE=Debug -DZRCA_WERROR=ON \
        -DZRCA_SANITIZE=address,undefined >/dev/null && cmake --build "$BUILD/asan" -j"$JOBS" >"$BUILD/asan.log" 2>&1; then
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       ctest --test-dir "$BUILD/asan" -j"$JOBS" --output-on-failure; then
        step_ok "ctest under ASan+UBSan"
    else step_fail "ctest under ASan+UBSan"; fi
else
    tail -40 "$BUILD/asan.log"; step_fail "build (ASan+UBSan)"
fi

# 3b. ThreadSanitizer: the tests labelled "tsan" (a session used from several threads).
if cmake -S . -B "$BUILD/tsan" -DCMAKE_BUILD_TYPE=Debug -DZRCA_WERROR=ON -DZRCA_SANITIZE=thread \
        -DZRCA_BUILD_EXAMPLES=OFF >/dev/null &&
        cmake --build "$BUILD/tsan" -j"$JOBS" --target test_session_threads_static \
            >"$BUILD/tsan.log" 2>&1; then # the tsan tests' binaries only
    if TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
       ctest --test-dir "$BUILD/tsan" -j"$JOBS" --output-on-failure -L tsan; then
        step_ok "ctest under ThreadSanitizer"
    else step_fail "ctest under ThreadSanitizer"; fi
else
    tail -40 "$BUILD/tsan.log"; step_fail "build (TSan)"
fi

# 4. Python suites.
export ZRCA_LIBRARY="$BUILD/plain/libzrca.so.1" ZRCA_BUILD_DIR="$BUILD/plain"
for suite in tests/platform bindings/python/tests; do
    [ -d "$suite" ] || continue
    if $PY -m pytest -q -p no:cacheprovider "$suite"; then
        step_ok "pytest $suite"
    else step_fail "pytest $suite"; fi
done

# 4b. The Debian packages: built from a copy of the tree, linted, installed,
# used (C with pkg-config and find_package, zrca, python3), purged.
if bash tests/packages/check-packages.sh >"$BUILD/packages.log" 2>&1; then
    grep "^packages: \|W: \|E: " "$BUILD/packages.log" | tail -12
    step_ok "Debian packages (build, lintian, install, use, purge)"
else
    tail -60 "$BUILD/packages.log"; step_fail "Debian packages (build, lintian, install, use, purge)"
fi

# 5. Fuzz targets, briefly (scripts/fuzz.sh runs them for longer).
if [ -x scripts/fuzz.sh ] && ls tests/fuzz/*.c >/dev/null 2>&1; then
    if FUZZ_SECONDS=${FUZZ_SECONDS:-5} bash scripts/fuzz.sh; then
        step_ok "fuzz targets"
    else step_fail "fuzz targets"; fi
fi

echo "== test.sh took $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
