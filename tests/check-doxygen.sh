#!/bin/bash
# SPDX-License-Identifier: MIT
# Every public declaration carries a Doxygen comment: doxygen over include/
# with WARN_IF_UNDOCUMENTED and the parameter checks must print no warning.
set -euo pipefail
inc=$1 doxygen=${2:-doxygen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/Doxyfile" <<DOX
PROJECT_NAME           = libzrca
INPUT                  = $inc
RECURSIVE              = YES
FILE_PATTERNS          = *.h
OUTPUT_DIRECTORY       = $tmp/out
GENERATE_HTML          = NO
GENERATE_LATEX         = NO
GENERATE_XML           = YES
OPTIMIZE_OUTPUT_FOR_C  = YES
EXTRACT_ALL            = NO
ENABLE_PREPROCESSING   = YES
MACRO_EXPANSION        = YES
PREDEFINED             = ZRCA_API= "ZRCA_PRINTF(a,b)="
QUIET                  = YES
WARNINGS               = YES
WARN_IF_UNDOCUMENTED   = YES
WARN_IF_DOC_ERROR      = YES
WARN_NO_PARAMDOC       = NO
WARN_LOGFILE           = $tmp/warnings.txt
DOX
"$doxygen" "$tmp/Doxyfile" >/dev/null
if [ -s "$tmp/warnings.txt" ]; then
    cat "$tmp/warnings.txt"
    echo "FAIL: $(wc -l < "$tmp/warnings.txt") Doxygen warnings on the public headers"
    exit 1
fi
n=$(grep -ho '<memberdef kind="[a-z]*"' "$tmp"/out/xml/*.xml | wc -l)
echo "ok: the public headers document all $n members without a Doxygen warning"
