# SPDX-License-Identifier: MIT
"""Loading, the version check, enums, handles' lifetime: close is idempotent, a closed handle
refuses use, and no reference cycle keeps a handle alive (freed by reference counting alone)."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

import zrca
from zrca import _lib

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_and_features():
    major, minor, patch = zrca.library_version()
    assert major == _lib.REQUIRED_VERSION[0] and (major, minor) >= _lib.REQUIRED_VERSION
    assert zrca.library_version_string() == "%d.%d.%d" % (major, minor, patch)
    for f in ("error-record", "session", "token", "application", "order", "update"):
        assert zrca.has_feature(f), f
    assert not zrca.has_feature("no-such-feature")
    assert os.path.exists(zrca.LIBRARY_PATH)
    if os.environ.get("ZRCA_LIBRARY"):
        assert os.path.samefile(zrca.LIBRARY_PATH, os.environ["ZRCA_LIBRARY"])


def test_version_check_refuses_another_major(monkeypatch):
    monkeypatch.setattr(_lib, "version", lambda: (2, 0, 0, "2.0.0"))
    with pytest.raises(zrca.LibraryError, match="2.0.0"):
        _lib._check_version()
    monkeypatch.setattr(_lib, "version", lambda: (0, 9, 0, "0.9.0"))
    with pytest.raises(zrca.LibraryError):
        _lib._check_version()


def _import_with(env_changes):
    env = dict(os.environ)
    env.update(env_changes)
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-c", "import zrca, sys; sys.stdout.write(zrca.LIBRARY_PATH)"],
                          cwd=PKG, env=env, capture_output=True, text=True, timeout=60)


def test_loader_order():
    lib = zrca.LIBRARY_PATH
    # $ZRCA_LIBRARY wins, and a wrong one is an error, not a silent fallback.
    r = _import_with({"ZRCA_LIBRARY": "/nonexistent/libzrca.so.1"})
    assert r.returncode != 0 and "ZRCA_LIBRARY=/nonexistent/libzrca.so.1" in r.stderr
    # Then $ZRCA_BUILD_DIR.
    r = _import_with({"ZRCA_LIBRARY": None, "ZRCA_BUILD_DIR": os.path.dirname(lib)})
    assert r.returncode == 0, r.stderr
    assert os.path.samefile(r.stdout, os.path.join(os.path.dirname(lib), "libzrca.so.1"))
    # Then a build directory of this checkout.
    r = _import_with({"ZRCA_LIBRARY": None, "ZRCA_BUILD_DIR": None})
    assert r.returncode == 0, r.stderr
    assert "/build/" in r.stdout and r.stdout.endswith("libzrca.so.1")


def test_enums_carry_the_library_names():
    assert zrca.CertKind.PERSONAL.wire_name == "personal"
    assert zrca.CertKind.ORG.label == "企业机构证书"
    assert zrca.ReviewStatus.APPROVED.label == "审核通过"
    assert zrca.OrderStatus.AWAITING_ISSUANCE.label == "待制证"
    assert zrca.Business.RENEWAL.label == "续期"
    assert zrca.Role.BIDDER.wire_name == "bidder"
    assert zrca.OrderAction.UPDATE.label == "更新"
    assert zrca.UpdateStep.CHALLENGE.wire_name == "challenge"
    assert zrca.Status.EPIN_LOCKED.symbol == "ZRCA_EPIN_LOCKED"
    assert zrca.LogLevel.DEBUG.wire_name == "debug"
    # An unknown value from a newer library maps to "unknown", never fails.
    assert zrca.OrderStatus(99) == zrca.OrderStatus.UNKNOWN


def test_invalid_options_raise_with_field(platform):
    with pytest.raises(zrca.InvalidArgument) as ei:
        zrca.Session("ftp://example.com")
    e = ei.value
    assert e.code == zrca.Status.EINVAL == -2 and e.status is zrca.Status.EINVAL
    assert e.field == "base_url" and e.rule
    assert "ZRCA_EINVAL" in str(e)
    assert isinstance(e, ValueError)


def test_close_is_idempotent_and_children_go_first(platform):
    s = zrca.Session(platform.url, **platform.session_options())
    with s:
        pass
    assert s.closed
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.login("a", "b")


def test_no_cycle_keeps_a_session_alive(platform, tmp_path):
    """A session with every kind of callback is freed as soon as its last reference goes, with
    the garbage collector off: nothing refers back to it."""
    base = zrca._live_slots()
    gc.collect()
    gc.disable()
    try:
        s = zrca.Session(platform.url, **platform.session_options(
            log=lambda *a: None, transport=zrca.HttpTransport(ca_file=platform.ca_file),
            credentials=lambda account: "x", state_dir=str(tmp_path)))
        assert zrca._live_slots() == base + 3
        ref = weakref.ref(s)
        del s
        assert ref() is None
        assert zrca._live_slots() == base
    finally:
        gc.enable()


def test_children_keep_parents_alive_and_close_with_them(platform, approved):
    w = approved(kind=zrca.CertKind.ORG)
    gc.disable()
    try:
        s = w.session()
        o = s.order(w.order_number)
        it = o.items[0]
        sref, oref = weakref.ref(s), weakref.ref(o)
        del s, o
        assert sref() is not None and oref() is not None   # the item holds its order, the order its session
        assert it.holder
        del it
        assert sref() is None and oref() is None            # and nothing else held them
        # Closing a parent closes its children first; a child then refuses use.
        s = w.session()
        o = s.order(w.order_number)
        it = o.items[0]
        s.close()
        assert o.closed
        with pytest.raises(ValueError):
            it.holder
    finally:
        gc.enable()
