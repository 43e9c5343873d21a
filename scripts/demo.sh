#!/bin/bash
# SPDX-License-Identifier: MIT
# The main job (README's first command):
#
#     bash scripts/demo.sh
#
# installs what is needed (scripts/deps.sh), builds libzrca and its `zrca`
# command, starts the reference platform with its demo account and a SoftHSM
# USB key holding a certificate that ends in 20 days, then plays the seed's
# renewal flow (doc: /work/shared/seed, DOMAIN.md) with `zrca`:
#
#   1-2  数字证书服务, log in with the account and password
#   3-5  证书续期: the renewal application with the commitment letter and the ID scan
#   6    订单管理: the operator approves, the SMS arrives
#   7-10 更新 → 一键更新 with the key's PIN, then 签章更新 with the PIN again
#   11   证书更新成功: the new certificate's owner, serial and validity next to the old
#
# Everything it starts is stopped and its temporary directory removed on the
# way out, whatever happens. Secrets go through files in that directory
# (--password-file / --pin-file, here as ZRCA_PASSWORD_FILE / ZRCA_PIN_FILE),
# never the command line.
#
# ZRCA_DEMO_BUILD_DIR=DIR reuses an existing build (no deps, no build): the
# test suite runs the demo that way.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
CTL="$PY $ROOT/tests/platform/zrca-platformctl"

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B="" N=""; fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ -n "${ZRCA_DEMO_BUILD_DIR:-}" ]; then
    BUILD=$ZRCA_DEMO_BUILD_DIR
else
    bash scripts/deps.sh
    BUILD=$ROOT/build/demo
    step "building libzrca and zrca in $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_BUILD_TESTS=OFF >/dev/null
    if ! cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/demo-build.log" 2>&1; then
        tail -40 "$BUILD/demo-build.log"
        echo "demo: the build failed (log: $BUILD/demo-build.log)" >&2
        exit 1
    fi
fi
ZRCA_BIN=$BUILD/examples/bin/zrca
[ -x "$ZRCA_BIN" ] || { echo "demo: no $ZRCA_BIN: build first" >&2; exit 1; }
SOFTHSM_MODULE=${ZRCA_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
export LD_LIBRARY_PATH=$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
zrca() { printf '$ zrca %s\n' "$*"; "$ZRCA_BIN" "$@"; }
zq() { "$ZRCA_BIN" "$@"; } # quiet: for values the demo reads
json() { $PY -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

# ---- what the demo starts, and how it is stopped --------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zrca-demo.XXXXXX")
PLATFORM_PID=""
APPROVER_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for p in $APPROVER_PID $PLATFORM_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
    if [ $rc -eq 0 ]; then
        echo "== demo done: platform stopped, $TMP removed"
    else
        echo "== demo FAILED (exit $rc): platform stopped, $TMP removed" >&2
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "libzrca $("$BUILD/examples/version" | head -1 | cut -d' ' -f2) and zrca: $("$ZRCA_BIN" version)"

# ---- 1. 数字证书服务: the reference platform with the demo account ----------------------------
step "1. 数字证书服务: the reference platform (tests/platform/zrca-platformd --demo)"
$PY tests/platform/zrca-platformd --data "$TMP/platform" --listen 127.0.0.1:0 --demo \
    >"$TMP/platform.json" 2>"$TMP/platform.log" &
PLATFORM_PID=$!
for _ in $(seq 1 300); do
    [ -s "$TMP/platform.json" ] && break
    kill -0 "$PLATFORM_PID" 2>/dev/null || { cat "$TMP/platform.log" >&2; exit 1; }
    sleep 0.1
done
[ -s "$TMP/platform.json" ] || { echo "demo: the platform did not start" >&2; exit 1; }
export ZRCA_URL=$(json 'd["url"]' <"$TMP/platform.json")
export ZRCA_CA_FILE=$(json 'd["ca_file"]' <"$TMP/platform.json")
export ZRCA_ISSUER_CA_FILE=$(json 'd["platform_ca_file"]' <"$TMP/platform.json")
export ZRCA_ACCOUNT=demo
export ZRCA_PASSWORD_FILE=$TMP/password ZRCA_PIN_FILE=$TMP/pin ZRCA_STATE_DIR=$TMP/state
(umask 077 && printf 'Demo-2026!\n' >"$ZRCA_PASSWORD_FILE" && printf '246810\n' >"$ZRCA_PIN_FILE")
echo "platform $ZRCA_URL (TLS CA $ZRCA_CA_FILE), account demo"
$CTL --data "$TMP/platform" settings --review-retry-after 1 >/dev/null # poll every second

# ---- the USB key: SoftHSM with a certificate that ends in 20 days ----------------------------
step "the USB key (天威盾): a SoftHSM token holding a certificate that ends in 20 days"
mkdir -p "$TMP/softhsm/tokens"
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$TMP" >"$TMP/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$TMP/softhsm/softhsm2.conf
softhsm2-util --init-token --free --label zrca-demo --so-pin 13579-so --pin 246810 >/dev/null
export ZRCA_MODULE=$SOFTHSM_MODULE ZRCA_TOKEN_LABEL=zrca-demo
KEY_SERIAL=$(zq token info --json | json 'd["serial"]')
HOLDER=赵国栋
HOLDER_ID=$(zq persons --json | json '[p["id_number"] for p in d["persons"] if p["name"]=="'$HOLDER'"][0]')
ENTERPRISE=$(zq login --json | json 'd["enterprise"]["name"]')
zrca token provision-csr --key-label "$HOLDER" --subject "CN=$HOLDER,OU=技术负责人,O=$ENTERPRISE,C=CN" \
    --out "$TMP/old.csr"
NOT_AFTER=$(date -u -d '+20 days' +%Y-%m-%dT00:00:00Z)
run $CTL --data "$TMP/platform" provision --account demo --kind personal --holder-name "$HOLDER" \
    --holder-id "$HOLDER_ID" --position 技术负责人 --csr "$TMP/old.csr" --not-after "$NOT_AFTER" \
    --key-serial "$KEY_SERIAL" --out "$TMP/old.pem" >/dev/null
zrca token import-cert "$TMP/old.pem"
zrca token info

# ---- 2. log in ----------------------------------------------------------------------------------
step "2. 登录: the account and password registered on the platform"
zrca login

# ---- 3-5. the renewal application ----------------------------------------------------------------
step "3. 证书续期: the certificates, and the people applied for before"
zrca certs --kind personal --status valid
zrca persons

step "4-5. the application: 其他个人证书 for $HOLDER, 1 year, the ID scan and the 承诺函, the contact"
# A commitment letter (PDF) and an ID card scan (JPEG), as the form asks.
printf '%%PDF-1.4\n%% 承诺函 (commitment letter), demo\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' \
    >"$TMP/commitment-letter.pdf"
$PY -c 'import sys; open(sys.argv[1],"wb").write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00"*64 + b"\xff\xd9")' \
    "$TMP/id-scan.jpg"
zrca apply --person "$HOLDER" --id-scan "$TMP/id-scan.jpg" --letter "$TMP/commitment-letter.pdf" \
    --contact 许静怡 --mobile 13905710000 --email xu.jingyi@demo.example.com | tee "$TMP/apply.out"
ORDER=$(awk '/订单号:/ {print $2; exit}' "$TMP/apply.out")
[ -n "$ORDER" ] || { echo "demo: no order number" >&2; exit 1; }

# ---- 6. review, the SMS ---------------------------------------------------------------------------
step "6. 订单管理: the order under review"
zrca orders --number "$ORDER"
step "6. the operator approves the order (zrca-platformctl approve, in 3 s); zrca waits for it"
(sleep 3 && $CTL --data "$TMP/platform" approve "$ORDER" >/dev/null) &
APPROVER_PID=$!
zrca order "$ORDER" --wait --interval 1 --timeout 120
wait "$APPROVER_PID"
APPROVER_PID=""

# ---- 7-11. the one-click update, the e-seal update ------------------------------------------------
step "7-11. 更新 → 一键更新 with the key's PIN, then 签章更新 with the PIN again"
zrca update "$ORDER" | tee "$TMP/update.out"
step "the e-seal on the key, the order, and renew --auto (nothing left to renew)"
zrca seal
# The demo fails unless the key holds an e-seal bound to the new certificate.
zq seal --json | $PY -c 'import json, sys
seals = [s for s in json.load(sys.stdin)["seals"] if s["bound_to_certificate"]]
sys.exit(0 if seals else "no e-seal bound to the new certificate on the key")'
zrca orders --number "$ORDER"
zrca renew --auto --json --window-days 30 --letter "$TMP/commitment-letter.pdf" \
    --contact 许静怡 --mobile 13905710000 --email xu.jingyi@demo.example.com

step "回执打印: the order's receipt, a PDF to print (its first lines, as pdftotext reads them)"
zrca receipt "$ORDER" --out "$TMP/receipt.pdf"
if command -v pdftotext >/dev/null; then
    pdftotext -layout -l 1 "$TMP/receipt.pdf" - | sed -e '/^[[:space:]]*$/d' | head -12
fi

step "证书登录: log in with the USB key and its PIN, no account, no password (the new certificate)"
(unset ZRCA_PASSWORD_FILE ZRCA_ACCOUNT && zrca login --key)
OLD_SERIAL=$(openssl x509 -in "$TMP/old.pem" -noout -serial | cut -d= -f2)
step "证书登录 with the old certificate $OLD_SERIAL: superseded by the renewal, the platform refuses it"
if (unset ZRCA_PASSWORD_FILE ZRCA_ACCOUNT && zrca login --key --serial "$OLD_SERIAL" 2>&1); then
    echo "demo: the superseded certificate logged in" >&2
    exit 1
fi

step "11. 证书更新成功 (i信): $HOLDER's certificate on key $KEY_SERIAL"
sed -n '/证书更新成功/,$p' "$TMP/update.out"
