#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Give each Doxygen man3 page of a struct a whatis entry: Doxygen writes the NAME line of a
struct without a description when the struct has no brief; use the first sentence of its
"Detailed Description" (man -k and lintian's bad-whatis-entry want "name \\- text")."""
import re
import sys

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        i = lines.index(".SH NAME")
    except ValueError:
        continue
    if "\\-" in lines[i + 1]:
        continue
    text = ""
    for j, line in enumerate(lines):
        if line.startswith('.SH "Detailed Description"'):
            body = [x for x in lines[j + 1:j + 6] if x and not x.startswith(".")]
            if body:
                text = re.split(r"\\&\.(?:\s|$)", body[0].strip(), maxsplit=1)[0].strip()
            break
    lines[i + 1] = "%s \\- %s" % (lines[i + 1].strip(), text or "libzrca data structure")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
