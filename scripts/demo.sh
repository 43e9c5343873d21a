#!/bin/bash
# The main job (README's first command): install what is needed, build
# libzrca, and show what it can do so far.
#
# Today that is the foundation: the library loads, reports its version and
# features, and (when the reference platform is present) the platform starts
# with its demo data and is stopped again. The full renewal flow - log in,
# apply, approval and SMS, one-click update with the PIN, e-seal update - is
# played here once the update module lands (see the issues).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bash scripts/deps.sh
BUILD=$ROOT/build/demo
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZRCA_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
echo "== built $(readlink -f "$BUILD/libzrca.so") (SONAME $(readelf -d "$BUILD/libzrca.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'))"
echo "== examples/version: what the loaded library says of itself"
"$BUILD/examples/version"

if [ -x tests/platform/zrca-platformd ]; then
    data=$(mktemp -d)
    out=$(mktemp)
    tests/platform/zrca-platformd --data "$data" --listen 127.0.0.1:0 --demo >"$out" 2>"$data.log" &
    pid=$!
    trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.log" "$out"' EXIT
    for _ in $(seq 1 100); do
        [ -s "$out" ] && break
        sleep 0.1
    done
    echo "== reference platform started with demo data:"
    head -1 "$out"
    url=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$out")
    ca=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["ca_file"])' "$out")
    echo "== its fee schedule over verified TLS (curl --cacert):"
    curl -sS --cacert "$ca" "$url/api/v1/fees" -H "Authorization: Bearer $(curl -sS --cacert "$ca" -X POST "$url/api/v1/session" -H 'Content-Type: application/json' -d '{"account":"demo","password":"Demo-2026!"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')" | head -c 600; echo
    echo "== stopping the platform"
fi
echo "== demo done"
