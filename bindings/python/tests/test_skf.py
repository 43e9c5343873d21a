# SPDX-License-Identifier: MIT
"""The SKF backend (GM/T 0016) from Python, on the mock SKF library the C build makes
(tests/skf/mock_skf.c, a real shared object): Backend.SKF with skf_library (token options
version 2), or an skf: URI naming the library (version 1); an RSA key made, a signature verified
with the cryptography package; the PIN counter; a library lacking a required function."""
from __future__ import annotations

import os
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import zrca

BUILD = os.environ.get("ZRCA_BUILD_DIR", "")
MOCK = os.path.join(BUILD, "tests", "skf", "mock-skf.so")
MOCK_NOVERIFY = os.path.join(BUILD, "tests", "skf", "mock-skf-noverify.so")
USER_PIN = "12345678"
ADMIN_PIN = "admin-87654321"


@pytest.fixture
def device(tmp_path: Any, monkeypatch: Any) -> Iterator[str]:
    if not os.path.isfile(MOCK):
        pytest.skip("no mock SKF library (set ZRCA_BUILD_DIR to a build with the C tests)")
    root = tmp_path / "skf"
    app = root / "dev0" / "ZRCA_APP"
    for d in (app / "c", app / "f"):
        d.mkdir(parents=True)
    (root / "dev0" / "device").write_text("label=Py SKF\nserial=PY-0001\nmanufacturer=Mock SKF Vendor\n")
    (app / "pins").write_text("user=%s\nadmin=%s\numax=3\nuleft=3\namax=3\naleft=3\n" % (USER_PIN, ADMIN_PIN))
    monkeypatch.setenv("MOCK_SKF_DIR", str(root))
    yield str(root)


def test_skf_token_rsa(device: str) -> None:
    infos = zrca.list_tokens(backend=zrca.Backend.SKF, skf_library=MOCK)
    assert [i.serial for i in infos] == ["PY-0001"]
    with zrca.Token(backend=zrca.Backend.SKF, skf_library=MOCK) as t:
        info = t.info()
        assert info.backend == "skf" and info.label == "Py SKF" and info.model == "ZRCA_APP"
        assert info.uri.startswith("skf:library=") and info.tries_left == 3
        t.login(USER_PIN)
        key = t.generate_key(zrca.KeyType.RSA, 2048, "py-key")
        sig = key.sign(b"challenge")
        pub = serialization.load_der_public_key(key.public_der())
        pub.verify(sig, b"challenge", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        key.delete()
        uri = info.uri
    # Version 1 options: the library named by the skf: URI.
    with zrca.Token(backend=zrca.Backend.SKF, uri=uri) as t:
        assert t.info().serial == "PY-0001"


def test_skf_pin_counter(device: str) -> None:
    with zrca.Token(backend=zrca.Backend.SKF, skf_library=MOCK) as t:
        with pytest.raises(zrca.PinIncorrect) as ei:
            t.login("wrong-pin")
        assert ei.value.tries_left == 2
        t.login(USER_PIN)


def test_skf_library_refused(device: str) -> None:
    with pytest.raises(zrca.ZrcaError) as ei:
        zrca.Token(backend=zrca.Backend.SKF, skf_library=MOCK_NOVERIFY)
    assert ei.value.code == zrca.Status.ETOKEN and "SKF_VerifyPIN" in ei.value.message
    with pytest.raises(zrca.InvalidArgument) as ei2:
        zrca.Token(backend=zrca.Backend.SKF)
    assert ei2.value.field == "skf_library"
