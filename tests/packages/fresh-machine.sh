#!/bin/bash
# SPDX-License-Identifier: MIT
# The packages tried as a new user would, on a machine that has none of the
# build dependencies (issue 15):
#
#     bash tests/packages/fresh-machine.sh [--debs DIR] [--keep]
#
#   1. builds the .debs (tests/packages/check-packages.sh --build-only), or
#      takes them from DIR (--debs DIR);
#   2. debootstraps a minimal Debian 12 (bookworm, --variant=minbase, the
#      mirror of /etc/apt/sources.list.d/debian.sources) under build/ and
#      checks that no build dependency (compiler, CMake, pkg-config, a -dev
#      package...) is in it;
#   3. in that chroot, as root: apt-get install ./*.deb for libzrca1, zrca,
#      python3-zrca and libzrca-doc (their Depends come from the archive),
#      plus softhsm2 (the USB key's stand-in) and man-db; checks again that no
#      build dependency came along, and that libzrca-dev's Depends resolve
#      (simulated: it would bring the -dev packages, as it must);
#   4. as an ordinary user of the chroot: zrca --version, zrca help, man zrca,
#      every man page the packages ship, import zrca in python3, the Doxygen
#      reference of libzrca-doc; then the demo's renewal (scripts/demo.sh)
#      with the packaged zrca only: a SoftHSM token in the chroot, the
#      reference platform (tests/platform/zrca-platformd --demo) on the host
#      on 127.0.0.1 (a chroot shares the host's network), the operator's steps
#      (provisioning the old certificate, approving the order) done on the
#      host with tests/platform/zrca-platformctl;
#   5. checks that the key holds the new certificate (another serial, the end
#      a year later) and its e-seal, and prints a summary.
#
# Needs root (debootstrap, chroot, mounts) and the network to the Debian
# mirror; takes minutes. It is NOT a step of scripts/test.sh for that reason.
# Everything it mounts is unmounted and its directory (build/fresh-machine.*)
# removed on the way out, whatever happens; --keep leaves the chroot there
# (unmounted) to look into. debootstrap's downloads are kept in
# build/fresh-machine-cache for the next run (build/ is ignored by git).
set -euo pipefail
trap 'echo "fresh-machine: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
CTL="$PY $ROOT/tests/platform/zrca-platformctl"
SUITE=bookworm
# What a user gets: the runtime packages. libzrca-dev is for building against
# libzrca (its Depends are -dev packages); only its installability is checked.
USER_PKGS=(libzrca1 zrca python3-zrca libzrca-doc)
EXTRA_PKGS=(softhsm2 man-db)
# None of these may be in the chroot, before or after the install.
BUILD_DEPS=(gcc gcc-12 cpp make cmake pkg-config pkgconf libssl-dev libcurl4-openssl-dev
            libp11-kit-dev libyajl-dev python3-dev libpython3-dev python3-all-dev libc6-dev
            build-essential dpkg-dev debhelper dh-python doxygen libcmocka-dev fakeroot)
BUILD_CMDS=(cc gcc c99 cmake pkg-config pkgconf make doxygen dpkg-buildpackage)
DEMO_USER=zuser
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
say() { echo "fresh-machine: $*"; }
die() { echo "fresh-machine: $*" >&2; exit 1; }

DEBS_IN="" KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
        --debs) DEBS_IN=$(cd "${2:?--debs DIR}" && pwd); shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "usage: $0 [--debs DIR] [--keep]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"

mkdir -p "$ROOT/build"
WORK=$(mktemp -d "$ROOT/build/fresh-machine.XXXXXX")
CH=$WORK/root
PLATFORM_PID=""
MOUNTS=() # mounted points, in order

unmount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
    MOUNTS=()
    # Anything still mounted under the chroot (a service's own mount, ...), deepest first.
    if [ -d "$CH" ]; then
        awk -v r="$CH/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
    fi
}
still_mounted() { [ -d "$CH" ] && awk -v r="$CH/" 'index($2, r) == 1 {f=1} END {exit !f}' /proc/mounts; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM ERR
    if [ -n "$PLATFORM_PID" ]; then
        kill "$PLATFORM_PID" 2>/dev/null || true
        wait "$PLATFORM_PID" 2>/dev/null || true
    fi
    # A process left in the chroot (gpg-agent, ...) would hold its mounts.
    if [ -d "$CH" ]; then
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/root" 2>/dev/null)" = "$CH" ] && kill "${p#/proc/}" 2>/dev/null || true
        done
    fi
    unmount_all
    if still_mounted; then
        echo "fresh-machine: something is still mounted under $CH; $WORK left in place" >&2
        awk -v r="$CH/" 'index($2, r) == 1 {print "  " $2}' /proc/mounts >&2
    elif [ $KEEP -eq 1 ]; then
        echo "fresh-machine: --keep: the chroot is left in $CH (unmounted)"
    else
        rm -rf --one-file-system "$WORK"
    fi
    [ $rc -eq 0 ] || echo "fresh-machine: FAILED (exit $rc); platform stopped, chroot unmounted" >&2
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Commands in the chroot: as root, or as the new user, with a clean environment.
CENV=(LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
as_root() { chroot "$CH" /usr/bin/env -i "${CENV[@]}" HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }
UENV=()
as_user() {
    chroot --userspec="$DEMO_USER:$DEMO_USER" "$CH" /usr/bin/env -i "${CENV[@]}" \
        HOME=/home/$DEMO_USER USER=$DEMO_USER "${UENV[@]}" "$@"
}
uzrca() { printf '[chroot]$ zrca %s\n' "$*"; as_user zrca "$@"; } # shown, as the demo does
json() { $PY -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }

# The build dependencies present in the chroot, as packages and as commands; empty when none.
build_deps_present() {
    local p
    for p in "${BUILD_DEPS[@]}"; do
        as_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" && echo "$p"
    done
    for p in "${BUILD_CMDS[@]}"; do
        as_root sh -c "command -v $p" >/dev/null 2>&1 && echo "command:$p"
    done
    for p in /usr/include/openssl /usr/include/curl /usr/include/p11-kit-1 /usr/include/yajl \
             /usr/include/stdio.h; do
        [ -e "$CH$p" ] && echo "file:$p"
    done
    return 0
}
assert_no_build_deps() {
    local found
    found=$(build_deps_present | tr '\n' ' ')
    [ -z "$found" ] || die "build dependencies in the chroot $1: $found"
    say "no build dependency in the chroot $1 (checked: ${#BUILD_DEPS[@]} packages, ${#BUILD_CMDS[@]} commands, the headers)"
}

# ---- 1. the packages --------------------------------------------------------------------------
mkdir "$WORK/debs"
if [ -n "$DEBS_IN" ]; then
    say "1. the packages from $DEBS_IN"
    cp "$DEBS_IN"/*.deb "$WORK/debs/"
else
    say "1. building the packages (tests/packages/check-packages.sh --build-only)"
    bash "$ROOT/tests/packages/check-packages.sh" --build-only "$WORK/debs"
fi
version=$(bash "$ROOT/tests/packages/check-version.sh" "$ROOT" | sed -n 's/^ok: version \([^ ]*\) .*/\1/p')
[ -n "$version" ] || die "no version from tests/packages/check-version.sh"
for p in "${USER_PKGS[@]}" libzrca-dev; do
    ls "$WORK/debs/${p}_${version}_"*.deb >/dev/null 2>&1 || die "no ${p}_${version}_*.deb"
done

# ---- 2. a minimal Debian 12 -------------------------------------------------------------------
command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
say "2. debootstrap --variant=minbase $SUITE from $MIRROR into $CH"
t0=$(date +%s)
# The base system's .debs are kept for the next run in build/fresh-machine-cache (ignored by git).
mkdir -p "$ROOT/build/fresh-machine-cache"
if ! debootstrap --variant=minbase --cache-dir="$ROOT/build/fresh-machine-cache" "$SUITE" "$CH" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
    tail -30 "$WORK/debootstrap.log" >&2
    die "debootstrap failed"
fi
say "debootstrap: $(( $(date +%s) - t0 )) s, $(du -sh --one-file-system "$CH" | cut -f1)"
# The archive as a Debian 12 machine has it: the release, its updates, security.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$CH/etc/apt/sources.list.d/debian.sources"
    rm -f "$CH/etc/apt/sources.list"
fi
cp /etc/resolv.conf "$CH/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' >"$CH/usr/sbin/policy-rc.d" # no service starts in the chroot
chmod 755 "$CH/usr/sbin/policy-rc.d"
mount -t proc proc "$CH/proc" && MOUNTS+=("$CH/proc")
mount -t sysfs sysfs "$CH/sys" && MOUNTS+=("$CH/sys")
mount --bind /dev "$CH/dev" && MOUNTS+=("$CH/dev")
mount -t devpts devpts "$CH/dev/pts" -o newinstance,ptmxmode=0666 && MOUNTS+=("$CH/dev/pts")
mount -t tmpfs tmpfs "$CH/run" && MOUNTS+=("$CH/run")
mkdir -p "$CH/run/lock" && chmod 1777 "$CH/run/lock"
as_root dpkg-query -W -f='${Package}\n' | sort >"$WORK/pkgs-before.txt"
size_before=$(du -sk --one-file-system "$CH" | cut -f1)
say "the chroot: Debian $(cat "$CH/etc/debian_version"), $(wc -l <"$WORK/pkgs-before.txt") packages"
assert_no_build_deps "before the install"

# ---- 3. the install, as root in the chroot ----------------------------------------------------
mkdir "$CH/tmp/debs"
debs=()
for p in "${USER_PKGS[@]}"; do
    cp "$WORK/debs/${p}_${version}_"*.deb "$CH/tmp/debs/"
    debs+=("./$(basename "$(ls "$WORK/debs/${p}_${version}_"*.deb)")")
done
cp "$WORK/debs/libzrca-dev_${version}_"*.deb "$CH/tmp/"
say "3. [chroot]# apt-get update && apt-get install ${debs[*]} ${EXTRA_PKGS[*]}"
as_root apt-get update -qq >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log" >&2; die "apt-get update failed"; }
if ! as_root sh -c "cd /tmp/debs && apt-get install -y ${debs[*]} ${EXTRA_PKGS[*]}" \
        >"$WORK/install.log" 2>&1; then
    tail -40 "$WORK/install.log" >&2
    die "apt-get install of the packages failed in the chroot (a missing or wrong Depends is a packaging bug)"
fi
grep -E '^(Need to get|After this operation|[0-9]+ upgraded)' "$WORK/install.log" | sed 's/^/  /' || true
for p in "${USER_PKGS[@]}"; do
    v=$(as_root dpkg-query -W -f='${Version}' "$p")
    [ "$v" = "$version" ] || die "$p is $v in the chroot, not $version"
done
as_root dpkg-query -W -f='${Package}\n' | sort >"$WORK/pkgs-after.txt"
added=$(comm -13 "$WORK/pkgs-before.txt" "$WORK/pkgs-after.txt")
assert_no_build_deps "after the install"
# libzrca-dev: not for a user of the demo, but its Depends must resolve from the archive.
if ! as_root sh -c "cd /tmp && apt-get install -s -y ./libzrca-dev_${version}_*.deb" \
        >"$WORK/dev-sim.log" 2>&1; then
    tail -20 "$WORK/dev-sim.log" >&2
    die "libzrca-dev would not install (simulated) in the chroot"
fi
say "libzrca-dev installable (simulated): $(grep -c '^Inst ' "$WORK/dev-sim.log") packages it would bring"
rm -rf "$CH/tmp/debs" "$CH/tmp/libzrca-dev_"*.deb
as_root apt-get clean
size_after=$(du -sk --one-file-system "$CH" | cut -f1)

# ---- 4. as a new user -------------------------------------------------------------------------
as_root useradd --create-home --shell /bin/bash "$DEMO_USER"
say "4. as the user $DEMO_USER in the chroot"
zrca_version=$(as_user zrca --version)
echo "[chroot]\$ zrca --version"; echo "$zrca_version"
grep -q "libzrca $version" <<<"$zrca_version" || die "zrca --version does not say libzrca $version"
echo "[chroot]\$ zrca help | head -5"
as_user zrca help >"$WORK/help.txt"
head -5 "$WORK/help.txt"
grep -q '^commands:' "$WORK/help.txt" || die "zrca help lists no commands"
echo "[chroot]\$ MANWIDTH=80 man -P cat zrca | head -12"
as_user env MANWIDTH=80 man -P cat zrca >"$WORK/man-zrca.txt" 2>"$WORK/man-zrca.err" \
    || { cat "$WORK/man-zrca.err" >&2; die "man zrca failed"; }
head -12 "$WORK/man-zrca.txt"
[ "$(wc -l <"$WORK/man-zrca.txt")" -gt 50 ] || die "man zrca is too short"
# Every man page the packages ship, rendered; man -w finds each by its name.
mapfile -t manpages < <(as_root dpkg -L "${USER_PKGS[@]}" | grep -E '^/usr/share/man/man[0-9]/[^/]+\.gz$' | sort)
[ ${#manpages[@]} -gt 0 ] || die "the packages ship no man page"
manfail=() manlines=0 manwarn=0
for m in "${manpages[@]}"; do
    b=$(basename "$m" .gz); sec=${b##*.}; name=${b%.*}
    out=$(as_user env MANWIDTH=80 man -P cat "$sec" "$name" 2>"$WORK/man.err") || { manfail+=("$b: $(head -1 "$WORK/man.err")"); continue; }
    [ -n "$out" ] || { manfail+=("$b: empty"); continue; }
    # troff's layout warnings (a line it cannot break at 80 columns: long CJK runs) are
    # counted, not failed; anything else on stderr is.
    manwarn=$((manwarn + $(grep -cE "can't break line|can(no|')t adjust line" "$WORK/man.err" || true)))
    bad=$(grep -v '^$' "$WORK/man.err" | grep -vE "can't break line|can(no|')t adjust line" || true)
    [ -z "$bad" ] || manfail+=("$b: $(head -1 <<<"$bad")")
    manlines=$((manlines + $(wc -l <<<"$out")))
done
[ ${#manfail[@]} -eq 0 ] || { printf '  %s\n' "${manfail[@]}" >&2; die "${#manfail[@]} man pages do not render"; }
man3_count=$(grep -c '/man3/' <<<"$(printf '%s\n' "${manpages[@]}")" || true)
whatis_out=$(as_user whatis zrca 2>&1 || true)
say "man pages: ${#manpages[@]} shipped (man1: $(grep -c '/man1/' <<<"$(printf '%s\n' "${manpages[@]}")" || true), man3: $man3_count), every one rendered ($manlines lines, $manwarn troff layout warnings); whatis zrca: $whatis_out"
pyver=$(as_user python3 -c 'import zrca; print(zrca.library_version_string())')
echo "[chroot]\$ python3 -c 'import zrca; print(zrca.library_version_string())'"; echo "$pyver"
[ "$pyver" = "$version" ] || die "python3 zrca says $pyver, not $version"
as_user python3 -c 'import zrca, sys; sys.exit(0 if zrca.__file__.startswith("/usr/lib/python3/dist-packages/") else zrca.__file__)'
REF=/usr/share/doc/libzrca-doc/html/index.html
[ -f "$CH$REF" ] || die "no $REF in the chroot"
grep -qi 'libzrca' "$CH$REF" || die "$REF does not name libzrca"
ref_pages=$(find "$CH/usr/share/doc/libzrca-doc/html" -name '*.html' | wc -l)
say "the reference: $REF ($ref_pages HTML pages); guides: $(cd "$CH/usr/share/doc/libzrca-doc" && ls -d *.md* 2>/dev/null | tr '\n' ' ')"

# ---- 4b. the demo's renewal with the packaged zrca ----------------------------------------------
say "4b. the demo's renewal: the platform on the host, the key (SoftHSM) in the chroot"
$PY -c 'import cryptography' 2>/dev/null || {
    say "installing python3-cryptography on the host (the reference platform needs it)"
    apt-get install -y -qq --no-install-recommends python3-cryptography >/dev/null
}
PDATA=$WORK/platform
$PY "$ROOT/tests/platform/zrca-platformd" --data "$PDATA" --listen 127.0.0.1:0 --demo \
    >"$WORK/platform.json" 2>"$WORK/platform.log" &
PLATFORM_PID=$!
for _ in $(seq 1 300); do
    [ -s "$WORK/platform.json" ] && break
    kill -0 "$PLATFORM_PID" 2>/dev/null || { cat "$WORK/platform.log" >&2; die "the platform did not start"; }
    sleep 0.1
done
[ -s "$WORK/platform.json" ] || die "the platform did not start"
url=$(json 'd["url"]' <"$WORK/platform.json")
$CTL --data "$PDATA" settings --review-retry-after 1 >/dev/null
# What the user is given: the platform's address, its two CA files, the account and its
# password, the key's PIN; files in the user's home, secrets readable by the user alone.
UH=/home/$DEMO_USER
mkdir -p "$CH$UH/zrca"
cp "$(json 'd["ca_file"]' <"$WORK/platform.json")" "$CH$UH/zrca/platform-tls-ca.pem"
cp "$(json 'd["platform_ca_file"]' <"$WORK/platform.json")" "$CH$UH/zrca/issuer-ca.pem"
(umask 077 && printf 'Demo-2026!\n' >"$CH$UH/zrca/password" && printf '246810\n' >"$CH$UH/zrca/pin")
mkdir -p "$CH$UH/softhsm/tokens"
printf 'directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$UH" >"$CH$UH/softhsm/softhsm2.conf"
as_root chown -R "$DEMO_USER:$DEMO_USER" "$UH"
UENV=("ZRCA_URL=$url" "ZRCA_CA_FILE=$UH/zrca/platform-tls-ca.pem" "ZRCA_ISSUER_CA_FILE=$UH/zrca/issuer-ca.pem"
      ZRCA_ACCOUNT=demo "ZRCA_PASSWORD_FILE=$UH/zrca/password" "ZRCA_PIN_FILE=$UH/zrca/pin"
      "SOFTHSM2_CONF=$UH/softhsm/softhsm2.conf" "ZRCA_MODULE=$SOFTHSM_MODULE" ZRCA_TOKEN_LABEL=zrca-demo)
say "platform $url (on the host), account demo; in the chroot: ZRCA_URL, ZRCA_CA_FILE, ZRCA_ISSUER_CA_FILE, ZRCA_ACCOUNT, ZRCA_PASSWORD_FILE, ZRCA_PIN_FILE, ZRCA_MODULE=$SOFTHSM_MODULE"

echo "[chroot]\$ softhsm2-util --init-token --free --label zrca-demo --so-pin ... --pin ..."
as_user softhsm2-util --init-token --free --label zrca-demo --so-pin 13579-so --pin 246810 >/dev/null
KEY_SERIAL=$(as_user zrca token info --json | json 'd["serial"]')
HOLDER=赵国栋
HOLDER_ID=$(as_user zrca persons --json | json '[p["id_number"] for p in d["persons"] if p["name"]=="'$HOLDER'"][0]')
ENTERPRISE=$(as_user zrca login --json | json 'd["enterprise"]["name"]')
uzrca token provision-csr --key-label "$HOLDER" --subject "CN=$HOLDER,OU=技术负责人,O=$ENTERPRISE,C=CN" \
    --out "$UH/old.csr"
NOT_AFTER=$(date -u -d '+20 days' +%Y-%m-%dT00:00:00Z)
echo "[host, operator]\$ zrca-platformctl provision --account demo --kind personal ... --not-after $NOT_AFTER"
$CTL --data "$PDATA" provision --account demo --kind personal --holder-name "$HOLDER" \
    --holder-id "$HOLDER_ID" --position 技术负责人 --csr "$CH$UH/old.csr" --not-after "$NOT_AFTER" \
    --key-serial "$KEY_SERIAL" --out "$WORK/old.pem" >/dev/null
cp "$WORK/old.pem" "$CH$UH/old.pem" && as_root chown "$DEMO_USER:" "$UH/old.pem"
uzrca token import-cert "$UH/old.pem"
as_user zrca token info --json >"$WORK/token-before.json"
old_serial=$(json '[c["serial"] for c in d["certificates"]][0]' <"$WORK/token-before.json")
old_end=$(json '[c["not_after"] for c in d["certificates"]][0]' <"$WORK/token-before.json")
[ "$(json 'len(d["certificates"])' <"$WORK/token-before.json")" = 1 ] || die "the key should hold one certificate"
say "the key $KEY_SERIAL holds $HOLDER's certificate $old_serial, ending $old_end"

uzrca login
uzrca certs --kind personal --status valid
printf '%%PDF-1.4\n%% 承诺函 (commitment letter), demo\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' \
    >"$CH$UH/commitment-letter.pdf"
$PY -c 'import sys; open(sys.argv[1],"wb").write(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00"*64 + b"\xff\xd9")' \
    "$CH$UH/id-scan.jpg"
as_root chown "$DEMO_USER:" "$UH/commitment-letter.pdf" "$UH/id-scan.jpg"
uzrca apply --person "$HOLDER" --id-scan "$UH/id-scan.jpg" --letter "$UH/commitment-letter.pdf" \
    --contact 许静怡 --mobile 13905710000 --email xu.jingyi@demo.example.com | tee "$WORK/apply.out"
ORDER=$(awk '/订单号:/ {print $2; exit}' "$WORK/apply.out")
[ -n "$ORDER" ] || die "no order number from zrca apply"
echo "[host, operator]\$ zrca-platformctl approve $ORDER"
$CTL --data "$PDATA" approve "$ORDER" >/dev/null
uzrca order "$ORDER" --wait --interval 1 --timeout 120
uzrca update "$ORDER" | tee "$WORK/update.out"
uzrca seal
as_user zrca seal --json >"$WORK/seal.json"
seal_id=$($PY - "$WORK/seal.json" <<'PY'
import json, sys
seals = [s for s in json.load(open(sys.argv[1]))["seals"] if s.get("bound_to_certificate")]
if not seals:
    sys.exit("no e-seal bound to the new certificate on the key")
print(seals[0].get("id") or seals[0].get("seal_id") or "?")
PY
)
echo "[chroot]\$ zrca renew --auto --json --window-days 30 ... (nothing left to renew)"
as_user zrca renew --auto --json --window-days 30 --letter "$UH/commitment-letter.pdf" \
    --contact 许静怡 --mobile 13905710000 --email xu.jingyi@demo.example.com | tee "$WORK/renew.json"
[ "$(json 'd["nothing_to_renew"]' <"$WORK/renew.json")" = True ] || die "renew --auto found something to renew"

# ---- 5. the key holds the new certificate ------------------------------------------------------
as_user zrca token info --json >"$WORK/token-after.json"
read -r new_serial new_end old_label < <($PY - "$WORK/token-after.json" "$old_serial" "$old_end" <<'PY'
import datetime as dt, json, sys
d = json.load(open(sys.argv[1]))
old_serial, old_end = sys.argv[2], sys.argv[3]
certs = d["certificates"]
new = [c for c in certs if c["serial"] != old_serial]
if len(new) != 1:
    sys.exit("the key should hold one new certificate; it holds: %s" % [c["serial"] for c in certs])
# The update archives the old certificate on the key (归档原证书): it may stay there.
old = [c for c in certs if c["serial"] == old_serial]
def when(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
gain = when(new[0]["not_after"]) - when(old_end)
if not dt.timedelta(days=364) <= gain <= dt.timedelta(days=367):
    sys.exit("the new certificate ends %s, %s after the old one, not a year" % (new[0]["not_after"], gain))
print(new[0]["serial"], new[0]["not_after"], (old[0]["label"] or "?") if old else "-")
PY
)
[ -n "${new_end:-}" ] || die "no new certificate on the key"

# A user who names no module: zrca asks p11-kit for the modules it knows, and
# libsofthsm2 registers its own there; the key must be found so too.
echo "[chroot]\$ zrca token list   (no ZRCA_MODULE, no label: the modules p11-kit knows)"
as_user env -u ZRCA_MODULE -u ZRCA_TOKEN_LABEL zrca token list --json >"$WORK/token-list.json"
p11_found=$(json '",".join(t.get("label", "?") for t in d["tokens"])' <"$WORK/token-list.json")
echo "  tokens: $p11_found"
grep -qw zrca-demo <<<"$p11_found" || die "zrca token list without ZRCA_MODULE does not find the key (p11-kit)"

# ---- summary ----------------------------------------------------------------------------------
n_added=$(grep -c . <<<"$added" || true)
echo
echo "== fresh-machine summary"
echo "chroot:        Debian $(cat "$CH/etc/debian_version") minbase ($SUITE, $MIRROR), $(wc -l <"$WORK/pkgs-before.txt") packages, $((size_before / 1024)) MiB"
echo "installed:     ${USER_PKGS[*]} $version + ${EXTRA_PKGS[*]}: $n_added packages, +$(((size_after - size_before) / 1024)) MiB ($((size_after / 1024)) MiB in all)"
echo "from archive:  $(grep -vxE "$(IFS='|'; echo "${USER_PKGS[*]}")" <<<"$added" | tr '\n' ' ')"
echo "build deps:    none in the chroot before or after (${#BUILD_DEPS[@]} packages, ${#BUILD_CMDS[@]} commands, headers)"
echo "zrca:          $zrca_version"
echo "python3-zrca:  zrca.library_version_string() = $pyver"
echo "man pages:     ${#manpages[@]} rendered (zrca.1 and $man3_count man3; $manwarn troff layout warnings); reference $REF ($ref_pages pages)"
echo "platform:      $url (host), account demo; key $KEY_SERIAL (SoftHSM in the chroot, found through p11-kit too), order $ORDER"
echo "renewal:       old serial $old_serial, ends $old_end (on the key now as: ${old_label/#-/removed})"
echo "               new serial $new_serial, ends $new_end (a year later); e-seal $seal_id bound to it"
echo "fresh-machine: ok"
