#!/bin/bash
# SPDX-License-Identifier: MIT
# The benchmark of issue 14: libzrca's update side by side with OpenSSL's CMP key update
# (`openssl cmp -cmd kur` through the pkcs11 engine against `openssl cmp`'s mock server) on
# the same SoftHSM token, EC P-256 and RSA 2048, interleaved, the tokens on tmpfs and once on
# disk. One command from a clean clone, as root (or with sudo) on Debian 12:
#
#   bash scripts/bench-cmp.sh [--runs N] [--disk-runs N] [--algs ec,rsa] [--single-login]
#
# Installs what it needs (scripts/deps.sh bench: the build dependencies, SoftHSM, OpenSSL's
# pkcs11 engine libengine-pkcs11-openssl, opensc's pkcs11-tool, GNU time), builds `zrca` in
# build/bench (RelWithDebInfo) and runs scripts/bench_cmp.py, which prints one table per case
# and the ratios. Not part of scripts/test.sh: it measures, it does not test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/deps.sh bench
BUILD=${ZRCA_BENCH_BUILD_DIR:-$ROOT/build/bench}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"${JOBS:-2}" --target zrca-cli >/dev/null
ZRCA_BIN=$(find "$BUILD" -name zrca -type f -perm -u+x | head -1)
exec /usr/bin/python3 scripts/bench_cmp.py --zrca "$ZRCA_BIN" "$@"
