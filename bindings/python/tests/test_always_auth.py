# SPDX-License-Identifier: MIT
"""Keys that need the user PIN for every signature (PKCS#11 CKA_ALWAYS_AUTHENTICATE) on a real
SoftHSM token: made with Token.generate_key(always_authenticate=True), signed with the PIN asked
through Token.set_pin_callback() once per signature (request.user == PinUser.CONTEXT), refused
with PinRequired without a callback; and the bindings' feature probing (the new symbols are
resolved only when used, so the package loads against a library without them)."""
from __future__ import annotations

import gc
import itertools
import os
import subprocess
import sys
import weakref

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

import support
import zrca
from support import USER_PIN
from zrca import _lib

HAS_FEATURE = zrca.has_feature("always-authenticate")
#: The tests of the feature itself; the last two run against any library.
needs_feature = pytest.mark.skipif(not HAS_FEATURE, reason="libzrca without the always-authenticate feature")

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_seq = itertools.count(1)


class Stop(Exception):
    pass


@pytest.fixture
def token(softhsm):
    """A fresh SoftHSM token, open and logged in."""
    label = "pyaa%d_%d" % (os.getpid(), next(_seq))
    softhsm.add_token(label)
    t = zrca.Token(module_path=support.SOFTHSM_MODULE, label=label)
    try:
        t.login(USER_PIN)
        yield t
    finally:
        t.close()


def verify(key: zrca.Key, data: bytes, sig: bytes) -> None:
    """Raises cryptography's InvalidSignature unless ``sig`` is the key's signature of ``data``."""
    pub = serialization.load_der_public_key(key.public_der())
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    else:
        pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())


def _euser(exc: BaseException) -> None:
    cause = exc.__cause__
    assert isinstance(cause, zrca.CallbackStopped), repr(cause)
    assert cause.code == zrca.Status.EUSER


@needs_feature
def test_enums_and_error_class():
    assert zrca.Status.EPIN_REQUIRED == -35 and zrca.Status.EPIN_REQUIRED.symbol == "ZRCA_EPIN_REQUIRED"
    assert zrca.Status.EPIN_REQUIRED.description
    assert zrca.PinUser.CONTEXT == 2
    assert zrca.KeyFlags.ALWAYS_AUTHENTICATE == 0x01
    assert issubclass(zrca.PinRequired, zrca.PinError)
    from zrca.errors import ERROR_CLASSES
    assert ERROR_CLASSES[zrca.Status.EPIN_REQUIRED] is zrca.PinRequired


@needs_feature
def test_generate_always_authenticate_key(token):
    k = token.generate_key(zrca.KeyType.EC_P256, label="sign every time", always_authenticate=True)
    assert k.flags == zrca.KeyFlags.ALWAYS_AUTHENTICATE and isinstance(k.flags, zrca.KeyFlags)
    assert k.always_authenticate and k.label == "sign every time"
    assert "always-authenticate" in repr(k)
    plain = token.generate_key()
    assert plain.flags == zrca.KeyFlags(0) and not plain.always_authenticate
    # The flag is the token's: a handle found again, on a new token handle, reads it back.
    key_id = k.id
    with zrca.Token(module_path=support.SOFTHSM_MODULE, label=token.info().label) as t2:
        t2.login(USER_PIN)
        assert t2.find_key(key_id).always_authenticate
        assert not t2.find_key(plain.id).always_authenticate


@needs_feature
def test_sign_without_callback_raises_pin_required(token):
    k = token.generate_key(always_authenticate=True)
    assert token.pin_callback is None
    with pytest.raises(zrca.PinRequired) as ei:
        k.sign(b"data")
    e = ei.value
    assert e.status is zrca.Status.EPIN_REQUIRED and e.code == -35
    assert isinstance(e, zrca.PinError) and "ZRCA_EPIN_REQUIRED" in str(e)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aa")]).public_bytes()
    with pytest.raises(zrca.PinRequired):
        k.make_csr(name)
    assert token.info().logged_in                      # the login itself is not enough, and stays


@needs_feature
@pytest.mark.parametrize("key_type", [zrca.KeyType.EC_P256, zrca.KeyType.RSA])
def test_callback_asked_once_per_signature(token, pins, key_type):
    base = zrca._live_slots()
    k = token.generate_key(key_type, 2048 if key_type == zrca.KeyType.RSA else 0, always_authenticate=True)
    p = pins()
    token.set_pin_callback(p, purpose=zrca.PinPurpose.CERT_UPDATE)
    assert token.pin_callback is p
    assert zrca._live_slots() == base + 1
    for i in range(3):
        data = b"message %d" % i
        sig = k.sign(data)
        assert len(p.requests) == i + 1                  # exactly once per signature
        verify(k, data, sig)
    for r in p.requests:
        assert r.user is zrca.PinUser.CONTEXT
        assert r.purpose is zrca.PinPurpose.CERT_UPDATE
        assert r.token_label == token.info().label
        assert not r.final_try
    # A CSR is one signature too, and verifies.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "林晓雯")]).public_bytes()
    csr = x509.load_der_x509_csr(k.make_csr(name))
    assert csr.is_signature_valid and len(p.requests) == 4
    assert csr.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo) == k.public_der()
    token.set_pin_callback(None)
    assert zrca._live_slots() == base


@needs_feature
def test_plain_key_signs_without_asking(token, pins):
    p = pins()
    token.set_pin_callback(p)
    k = token.generate_key()
    sig = k.sign(b"plain")
    verify(k, b"plain", sig)
    assert p.requests == []


@needs_feature
def test_wrong_pin_then_right_pin(token, pins):
    k = token.generate_key(always_authenticate=True)
    p = pins(wrong_at=1)
    token.set_pin_callback(p)
    with pytest.raises(zrca.PinIncorrect) as ei:
        k.sign(b"one")
    assert ei.value.code == zrca.Status.EPIN_INCORRECT and isinstance(ei.value, zrca.PinError)
    assert len(p.requests) == 1                         # never retried
    sig = k.sign(b"two")                                # the next signature, with the right PIN
    verify(k, b"two", sig)
    assert len(p.requests) == 2 and all(r.user is zrca.PinUser.CONTEXT for r in p.requests)


@needs_feature
def test_callback_that_raises_or_declines_stops_the_signature(token, pins):
    base = zrca._live_slots()
    k = token.generate_key(always_authenticate=True)
    p = pins(raise_at=1)
    token.set_pin_callback(p)
    with pytest.raises(RuntimeError, match="closed the PIN dialog") as ei:
        k.sign(b"data")
    _euser(ei.value)
    # The exception was consumed: the next signature works and raises nothing stale.
    verify(k, b"data", k.sign(b"data"))
    asked = []
    token.set_pin_callback(lambda req: asked.append(req) or None)     # None: the person declined
    with pytest.raises(zrca.CallbackStopped) as ei2:
        k.sign(b"data")
    assert ei2.value.code == zrca.Status.EUSER and len(asked) == 1

    def boom(req):
        raise Stop("no PIN now")
    token.set_pin_callback(boom)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aa")]).public_bytes()
    with pytest.raises(Stop) as ei3:
        k.make_csr(name)
    _euser(ei3.value)
    token.set_pin_callback(None)
    assert zrca._live_slots() == base


@needs_feature
def test_removing_the_callback(token, pins):
    k = token.generate_key(always_authenticate=True)
    p = pins()
    token.set_pin_callback(p)
    k.sign(b"with")
    token.set_pin_callback(None)
    assert token.pin_callback is None
    with pytest.raises(zrca.PinRequired):
        k.sign(b"without")
    assert len(p.requests) == 1


@needs_feature
def test_final_try_rule_reaches_the_library(token):
    """purpose and allow_final_try go to the library through zrca_login_options."""
    k = token.generate_key(always_authenticate=True)
    asked = []
    token.set_pin_callback(lambda req: asked.append(req) or USER_PIN, purpose=zrca.PinPurpose.SEAL_UPDATE,
                           allow_final_try=True)
    verify(k, b"x", k.sign(b"x"))
    assert [r.purpose for r in asked] == [zrca.PinPurpose.SEAL_UPDATE]


@needs_feature
def test_slots_released_when_replaced_and_closed(softhsm, pins):
    base = zrca._live_slots()
    label = "pyaa%d_%d" % (os.getpid(), next(_seq))
    softhsm.add_token(label)
    t = zrca.Token(module_path=support.SOFTHSM_MODULE, label=label)
    t.login(USER_PIN)
    k = t.generate_key(always_authenticate=True)
    first, second = pins(), pins()
    t.set_pin_callback(first)
    assert zrca._live_slots() == base + 1
    t.set_pin_callback(second)                          # replaced: the first slot is released
    assert zrca._live_slots() == base + 1
    k.sign(b"x")
    assert (len(first.requests), len(second.requests)) == (0, 1)
    t.close()                                           # closed: released
    assert zrca._live_slots() == base
    with pytest.raises(ValueError, match="closed"):
        t.set_pin_callback(first)
    assert zrca._live_slots() == base
    # A token dropped without close() releases it too, by reference counting alone.
    gc.collect()
    gc.disable()
    try:
        t = zrca.Token(module_path=support.SOFTHSM_MODULE, label=label)
        t.set_pin_callback(pins())
        assert zrca._live_slots() == base + 1
        ref = weakref.ref(t)
        del t
        assert ref() is None
        assert zrca._live_slots() == base
    finally:
        gc.enable()


def test_without_the_feature(token, monkeypatch):
    """Against a library without "always-authenticate" (simulated on one that has it): plain keys
    as before, no flags, and the new calls raise NotSupported without touching the missing
    symbols."""
    plain = token.generate_key()
    monkeypatch.setitem(_lib._features, _lib.ALWAYS_AUTHENTICATE, False)
    for name in _lib._LAZY:                             # as if never resolved...
        monkeypatch.delitem(vars(_lib), name, raising=False)

    def missing(name, *types):
        raise AssertionError("%s resolved" % name)
    monkeypatch.setattr(_lib, "_proto", missing)        # ...and resolving one fails the test
    assert plain.flags == zrca.KeyFlags(0) and not plain.always_authenticate
    k = token.generate_key()
    verify(k, b"x", k.sign(b"x"))
    with pytest.raises(zrca.NotSupported) as ei:
        token.set_pin_callback(lambda req: USER_PIN)
    assert ei.value.status is zrca.Status.ENOTSUPPORTED and "always-authenticate" in str(ei.value)
    with pytest.raises(zrca.NotSupported):
        token.generate_key(always_authenticate=True)


def test_new_symbols_are_resolved_lazily():
    """Importing the package resolves none of the feature's functions; the first use does."""
    code = ("import zrca; from zrca import _lib; "
            "names = ('zrca_token_set_pin_callback', 'zrca_keygen_options_init', 'zrca_token_generate_key_ex', "
            "'zrca_key_flags'); "
            "print(sorted(n for n in names if n in vars(_lib))); "
            "_lib.has(_lib.ALWAYS_AUTHENTICATE) and _lib.zrca_key_flags; print('zrca_key_flags' in vars(_lib))")
    r = subprocess.run([sys.executable, "-c", code], cwd=PKG, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", str(HAS_FEATURE)]
    with pytest.raises(AttributeError):
        _lib.zrca_no_such_function


@needs_feature
def test_update_renews_an_always_authenticate_key(approved, pins):
    """An update of a certificate whose key needs the PIN for every signature: the update's PIN
    callback answers the per-signature requests too (the token's own is not asked), and the new
    key needs the PIN for every signature as the old one did."""
    w = approved(kind=zrca.CertKind.ORG, always_authenticate=True)
    base = zrca._live_slots()
    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        token_pins = pins()
        t.set_pin_callback(token_pins)
        p = pins()
        r = order.update_item(w.item_index, t, pin=p)
        assert r.owner == w.holder
        assert token_pins.requests == []
        # The login, one PIN for each signature (the proof by the old key, the CSR by the new
        # one), the e-seal's login.
        assert [(r.user, r.purpose) for r in p.requests] == [
            (zrca.PinUser.USER, zrca.PinPurpose.CERT_UPDATE), (zrca.PinUser.CONTEXT, zrca.PinPurpose.CERT_UPDATE),
            (zrca.PinUser.CONTEXT, zrca.PinPurpose.CERT_UPDATE), (zrca.PinUser.USER, zrca.PinPurpose.SEAL_UPDATE)]
        if not t.info().logged_in:
            t.login(USER_PIN)
        with t.certificates() as certs:
            c = certs.find(w.holder)
            assert c is not None and c.serial.lower() == r.serial.lower()
            with c.key() as k:
                assert k.always_authenticate
                verify(k, b"after", k.sign(b"after"))   # through the token's callback
        assert len(token_pins.requests) == 1 and token_pins.requests[0].user is zrca.PinUser.CONTEXT
    assert zrca._live_slots() == base
