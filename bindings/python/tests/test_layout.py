# SPDX-License-Identifier: MIT
"""The ctypes structs match the C headers: a C probe compiled against include/ prints the size and
each member's offset of every struct the bindings declare; ctypes must agree (an ABI guard for
the bindings: a header that grows a member in the middle, or changes a type, fails here)."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

from zrca import _lib

INCLUDE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "include")

STRUCTS = {
    "zrca_error": _lib.Error, "zrca_violation": _lib.Violation, "zrca_log_options": _lib.LogOptions,
    "zrca_transport_header": _lib.TransportHeader, "zrca_transport_part": _lib.TransportPart,
    "zrca_transport_request": _lib.TransportRequest, "zrca_transport": _lib.Transport,
    "zrca_session_options": _lib.SessionOptions, "zrca_token_options": _lib.TokenOptions,
    "zrca_login_options": _lib.LoginOptions, "zrca_softtoken_options": _lib.SofttokenOptions,
    "zrca_token_info": _lib.TokenInfo, "zrca_pin_request": _lib.PinRequest,
    "zrca_order_filter": _lib.OrderFilter, "zrca_wait_options": _lib.WaitOptions,
    "zrca_update_options": _lib.UpdateOptions, "zrca_plan_options": _lib.PlanOptions,
    "zrca_renew_options": _lib.RenewOptions, "zrca_keygen_options": _lib.KeygenOptions,
    "zrca_abort_options": _lib.AbortOptions,
}
RENAMED = {("zrca_order_filter", "from_"): "from"}


def test_struct_layouts_match_the_headers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.isfile(os.path.join(INCLUDE, "zrca.h")):
        pytest.skip("no C compiler or headers")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <zrca.h>", "#include <zrca/sys/transport.h>",
             "int main(void) {"]
    for cname, cls in STRUCTS.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (cname, cname))
        for fname, _ in cls._fields_:
            member = RENAMED.get((cname, fname), fname)
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (cname, fname, cname, member))
    lines += ["return 0; }"]
    src = tmp_path / "probe.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "probe"
    subprocess.run([cc, "-std=c11", "-I", INCLUDE, "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    c = dict(line.split() for line in out if line)
    for cname, cls in STRUCTS.items():
        assert int(c[cname]) == ctypes.sizeof(cls), cname
        for fname, _ in cls._fields_:
            assert int(c["%s.%s" % (cname, fname)]) == getattr(cls, fname).offset, (cname, fname)
