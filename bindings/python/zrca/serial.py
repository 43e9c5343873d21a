# SPDX-License-Identifier: MIT
"""The library's vocabulary for serials and subjects: one spelling of a certificate serial, one
comparison, and a DN string turned into a DER X.509 Name (all done by libzrca itself)."""
from __future__ import annotations

import ctypes

from . import _lib
from ._callbacks import call

SERIAL_BUFSIZE = 132
"""Bytes that hold any canonical serial (ZRCA_SERIAL_BUFSIZE)."""

DUE_WINDOW_DAYS = 90
"""The default renewal window (ZRCA_DUE_WINDOW_DAYS): due this many days before the end."""


def serial_canonical(serial: str) -> str:
    """The canonical form of a serial written in any common spelling (``"0A:3F"``, ``"0xa3f"``,
    ``"000A3F"`` all give ``"0a3f"``): lowercase hex, whole bytes. InvalidArgument (field
    ``serial``) for a string that is not a serial."""
    buf = ctypes.create_string_buffer(SERIAL_BUFSIZE)
    call(_lib.zrca_serial_canonical, buf, SERIAL_BUFSIZE, _lib.b(serial, "a serial"))
    return buf.value.decode("ascii")


def serial_cmp(a: str, b: str) -> int:
    """Compare two serials by value, whatever their spelling: 0 when equal, negative when ``a`` is
    the smaller, positive when larger (a string that is not a serial sorts first)."""
    return int(_lib.zrca_serial_cmp(_lib.b(a, "a serial"), _lib.b(b, "a serial")))


def subject_to_der(subject: str) -> bytes:
    """A subject string (RFC 4514 ``"CN=张三,O=某某有限公司,C=CN"`` or OpenSSL's ``"/C=CN/O=…/CN=…"``)
    as a DER X.509 Name; InvalidArgument (field ``subject``) naming the rule broken."""
    out, n = _lib.BYTES(), ctypes.c_size_t()
    call(_lib.zrca_subject_to_der, ctypes.byref(out), ctypes.byref(n), _lib.b(subject, "a subject"))
    return _lib.take_bytes(out, n)
