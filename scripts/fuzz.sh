#!/bin/bash
# SPDX-License-Identifier: MIT
# Build the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and
# UBSan in build/fuzz, then run each for $FUZZ_SECONDS seconds (default 60)
# from its seed corpus tests/fuzz/corpus/<name>/. New inputs go to
# build/fuzz/corpus/<name>/; crashes to build/fuzz/crash-<name>-*.
#
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh     # the long run, ten minutes each
#   bash scripts/fuzz.sh json enterprise       # only some targets
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD_DIR:-build/fuzz}
SECS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-$(nproc)}

if ! CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_FUZZ=ON \
        -DZRCA_SANITIZE=address,undefined -DZRCA_BUILD_EXAMPLES=OFF \
        -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >"$BUILD.log" 2>&1; then
    tail -20 "$BUILD.log"; echo "fuzz: configure failed"; exit 1
fi
if [ $# -gt 0 ]; then
    names=("$@")
else
    mapfile -t names < <(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
if ! cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}" >>"$BUILD.log" 2>&1; then
    tail -30 "$BUILD.log"; echo "fuzz: build failed"; exit 1
fi

failed=0
for n in "${names[@]}"; do
    exe=$(find "$BUILD" -name "fuzz_$n" -type f -perm -u+x | head -1)
    work="$BUILD/corpus/$n"
    mkdir -p "$work"
    seeds=()
    [ -d "tests/fuzz/corpus/$n" ] && seeds+=("tests/fuzz/corpus/$n")
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       "$exe" -max_total_time="$SECS" -max_len=262144 -rss_limit_mb=2048 -timeout=20 \
              -artifact_prefix="$BUILD/crash-$n-" -print_final_stats=0 \
              "$work" "${seeds[@]}" >"$BUILD/fuzz_$n.log" 2>&1; then
        echo "fuzz: $n: ok ($(grep -o 'Done [0-9]* runs' "$BUILD/fuzz_$n.log" | tail -1))"
    else
        tail -40 "$BUILD/fuzz_$n.log"
        echo "fuzz: $n: FAILED (log $BUILD/fuzz_$n.log)"
        failed=1
    fi
done
exit $failed
