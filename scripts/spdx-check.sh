#!/bin/bash
# SPDX-License-Identifier: MIT
# Every tracked source file carries "SPDX-License-Identifier: MIT" as its
# first line (after a shebang, and a Python coding line, when there is one), in
# the file's comment syntax: "/* ... */" for C and headers, "# ..." for Python,
# shell and CMake. Sources: *.c *.h *.py *.sh CMakeLists.txt *.cmake *.cmake.in
# *.pc.in, and tracked files without an extension that start with a bash, sh
# or python shebang.
#
#   scripts/spdx-check.sh              check: list the files without it, fail if any
#   scripts/spdx-check.sh --fix [F..]  add it where missing (to F.. only, when given)
set -euo pipefail
cd "$(dirname "$0")/.."
ID="SPDX-License-Identifier: MIT"

sources() {
    git ls-files -- '*.c' '*.h' '*.py' '*.sh' 'CMakeLists.txt' '*/CMakeLists.txt' '*.cmake' \
        '*.cmake.in' '*.pc.in'
    git ls-files | while IFS= read -r f; do
        case "${f##*/}" in *.*) continue ;; esac
        [ -f "$f" ] && head -n1 "$f" | grep -Eq '^#!.*(bash|/sh|python)' && echo "$f"
    done
}

comment_of() {  # the SPDX line for a file
    case "$1" in
        *.c | *.h) echo "/* $ID */" ;;
        *) echo "# $ID" ;;
    esac
}

header_lines() {  # lines that must stay above the SPDX line: shebang, then a Python coding line
    local f=$1 n=0
    if head -n1 "$f" | grep -q '^#!'; then n=1; fi
    case "$f" in
        *.py) if sed -n "$((n + 1))p" "$f" | grep -Eq '^#.*coding[:=]'; then n=$((n + 1)); fi ;;
    esac
    echo "$n"
}

has_id() {
    local f=$1 n
    n=$(header_lines "$f")
    [ "$(sed -n "$((n + 1))p" "$f")" = "$(comment_of "$f")" ]
}

fix_one() {
    local f=$1 n line tmp
    has_id "$f" && return 0
    if grep -q "$ID" "$f"; then
        echo "spdx: $f has the identifier, but not as its first line: fix it by hand" >&2
        return 1
    fi
    n=$(header_lines "$f")
    line=$(comment_of "$f")
    tmp=$(mktemp)
    { head -n "$n" "$f"; echo "$line"; tail -n +"$((n + 1))" "$f"; } >"$tmp"
    cat "$tmp" >"$f"  # keeps the file's mode
    rm -f "$tmp"
    echo "spdx: added to $f"
}

if [ "${1:-}" = "--fix" ]; then
    shift
    rc=0
    if [ $# -gt 0 ]; then
        for f in "$@"; do fix_one "$f" || rc=1; done
    else
        while IFS= read -r f; do fix_one "$f" || rc=1; done < <(sources | sort -u)
    fi
    exit $rc
fi

missing=()
total=0
while IFS= read -r f; do
    total=$((total + 1))
    has_id "$f" || missing+=("$f")
done < <(sources | sort -u)
if [ ${#missing[@]} -gt 0 ]; then
    printf 'spdx: missing in %s\n' "${missing[@]}" >&2
    echo "spdx: ${#missing[@]} of $total source files lack the header (scripts/spdx-check.sh --fix adds it)" >&2
    exit 1
fi
echo "spdx: all $total source files carry \"$ID\""
