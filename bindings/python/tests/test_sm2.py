# SPDX-License-Identifier: MIT
"""SM2 keys on the software token through the bindings: signatures and CSRs that the openssl
command verifies with the SM2 ID they were made with, and not with another."""
import subprocess

import pytest

import zrca
from zrca.enums import Backend, KeyType


def openssl(args, cwd, check=True):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), out))
    return r.returncode, out


@pytest.fixture
def soft(tmp_path):
    d = tmp_path / "soft"
    zrca.create_softtoken(d, label="sm2", user_pin="246810", so_pin="13579135", kdf_iterations=1000)
    t = zrca.Token(backend=Backend.SOFT, soft_dir=d)
    t.login("246810")
    try:
        yield t
    finally:
        t.close()


def verifies(tmp_path, spki, data, sig, distid):
    (tmp_path / "pub.der").write_bytes(spki)
    (tmp_path / "msg").write_bytes(data)
    (tmp_path / "sig").write_bytes(sig)
    rc, out = openssl(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin",
                       "-digest", "sm3", "-pkeyopt", "distid:" + distid, "-in", "msg", "-sigfile", "sig"],
                      tmp_path, check=False)
    return rc == 0 and "Signature Verified Successfully" in out


def test_sm2_signature_and_id(soft, tmp_path):
    assert soft.sm2_id == b"1234567812345678"
    key = soft.generate_key(KeyType.SM2)
    assert key.type == KeyType.SM2 and key.bits == 256
    spki = key.public_der()
    msg = "证书登录 challenge".encode()
    sig = key.sign(msg)
    assert sig[0] == 0x30
    assert verifies(tmp_path, spki, msg, sig, "1234567812345678")
    assert not verifies(tmp_path, spki, msg, sig, "ALICE123@YAHOO.COM")
    assert not verifies(tmp_path, spki, msg + b".", sig, "1234567812345678")
    soft.sm2_id = "ALICE123@YAHOO.COM"
    assert soft.sm2_id == b"ALICE123@YAHOO.COM"
    sig2 = key.sign(msg)
    assert verifies(tmp_path, spki, msg, sig2, "ALICE123@YAHOO.COM")
    assert not verifies(tmp_path, spki, msg, sig2, "1234567812345678")
    for bad in (b"", b"x" * 129):
        with pytest.raises(zrca.InvalidArgument) as e:
            soft.sm2_id = bad
        assert e.value.field == "sm2_id"
    assert soft.sm2_id == b"ALICE123@YAHOO.COM"


def test_sm2_csr(soft, tmp_path):
    key = soft.generate_key(KeyType.SM2)
    csr = key.make_csr("CN=林晓雯,O=江南示范燃气工程有限公司,C=CN")
    (tmp_path / "req.der").write_bytes(csr)
    _, text = openssl(["req", "-inform", "DER", "-in", "req.der", "-noout", "-text"], tmp_path)
    assert "SM2-with-SM3" in text
    # `openssl req -verify` exits 0 either way in OpenSSL 3.0: read what it says
    _, out = openssl(["req", "-inform", "DER", "-in", "req.der", "-noout", "-verify", "-vfyopt",
                      "distid:1234567812345678"], tmp_path)
    assert "verify OK" in out and "failure" not in out
    _, out = openssl(["req", "-inform", "DER", "-in", "req.der", "-noout", "-verify", "-vfyopt",
                      "distid:1234567812345679"], tmp_path, check=False)
    assert "verify OK" not in out
