#!/bin/bash
# SPDX-License-Identifier: MIT
# Install the Debian 12 packages libzrca needs to build, test and run its
# demo. Runs apt-get only when something is missing, so a second run costs
# nothing. Needs root (or sudo) on a fresh machine.
set -euo pipefail
PACKAGES=(
    build-essential cmake pkg-config git ca-certificates
    libssl-dev libcurl4-openssl-dev libp11-kit-dev p11-kit libyajl-dev   # the four dependencies
    openssl softhsm2 opensc p11-kit-modules                              # tokens for tests and the demo (p11-kit-trust)
    libcmocka-dev valgrind abigail-tools clang libclang-rt-14-dev clang-format doxygen
    python3 python3-cryptography python3-pytest python3-venv python3-pip python3-jsonschema # reference platform, bindings
    python3-reportlab fonts-wqy-microhei poppler-utils                   # receipts: made as PDF, rendered in tests
    systemd                                                              # systemd-analyze verify of the timer
)
# `deps.sh bench`: also what scripts/bench-cmp.sh needs (OpenSSL's pkcs11 engine for
# `openssl cmp`, GNU time for the peak RSS of a process).
if [ "${1:-}" = bench ]; then
    PACKAGES+=(libengine-pkcs11-openssl time)
fi
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
