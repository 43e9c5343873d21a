#!/bin/bash
# SPDX-License-Identifier: MIT
# Every public header compiles alone, as strict C11 and as C++.
set -euo pipefail
inc=$1 cc=${2:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for h in "$inc"/zrca.h "$inc"/zrca/*.h "$inc"/zrca/sys/*.h; do
    [ -f "$h" ] || continue
    rel=${h#"$inc"/}
    printf '#include <%s>\n#include <%s>\nint zrca_header_check_%d;\n' "$rel" "$rel" "$n" > "$tmp/t$n.c"
    "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -I"$inc" -c "$tmp/t$n.c" -o "$tmp/t$n.o" || { echo "FAIL (C): $rel"; exit 1; }
    cp "$tmp/t$n.c" "$tmp/t$n.cpp"
    "$cxx" -std=c++11 -Wall -Wextra -pedantic -Werror -I"$inc" -c "$tmp/t$n.cpp" -o "$tmp/t${n}x.o" || { echo "FAIL (C++): $rel"; exit 1; }
    n=$((n + 1))
done
echo "ok: $n headers compile alone as C11 and C++"
