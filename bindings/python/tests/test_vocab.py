# SPDX-License-Identifier: MIT
"""One vocabulary through the bindings: the canonical serial and its comparison, a DN string made
into a DER Name by the library, bad input refused with the field and the rule named."""
from __future__ import annotations

import pytest

import zrca


@pytest.mark.parametrize("spelling, canonical", [
    ("0a3f", "0a3f"), ("A3F", "0a3f"), ("000A3F", "0a3f"), ("0a:3f", "0a3f"), ("0A 3F", "0a3f"),
    ("0x0a3f", "0a3f"), ("0", "00"), ("5F0C" * 8, "5f0c" * 8),
])
def test_serial_canonical(spelling: str, canonical: str) -> None:
    assert zrca.serial_canonical(spelling) == canonical
    assert zrca.serial_cmp(spelling, canonical) == 0


@pytest.mark.parametrize("bad", ["", "0x", "12g4", "f" * 129, "1\n2"])
def test_serial_refused(bad: str) -> None:
    with pytest.raises(zrca.InvalidArgument) as e:
        zrca.serial_canonical(bad)
    assert e.value.field == "serial"


def test_serial_cmp_by_value() -> None:
    assert zrca.serial_cmp("ff", "0100") < 0 < zrca.serial_cmp("0100", "ff")
    assert zrca.serial_cmp("not", "00") < 0
    with pytest.raises(ValueError):
        zrca.serial_cmp("0a\x00ff", "0a")  # never cut at the NUL


def test_subject_to_der() -> None:
    der = zrca.subject_to_der("CN=张三,O=某某燃气有限公司,C=CN")
    assert der[0] == 0x30 and "张三".encode() in der and b"\x13\x02CN" in der  # C as PrintableString
    assert zrca.subject_to_der("/C=CN/O=某某燃气有限公司/CN=张三") == der
    for bad, rule in [("", "required"), ("CN=", "attribute"), ("Nick=x", "attribute"), ("C=China", "value")]:
        with pytest.raises(zrca.InvalidArgument) as e:
            zrca.subject_to_der(bad)
        assert (e.value.field, e.value.rule) == ("subject", rule)


def test_seal_state_names() -> None:
    assert [s.wire_name for s in zrca.SealState] == [
        "verified", "bound", "unbound", "bad_signature", "no_issuer", "malformed"]
    assert zrca.DUE_WINDOW_DAYS == 90
