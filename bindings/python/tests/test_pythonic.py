# SPDX-License-Identifier: MIT
"""Python that behaves like Python: Ctrl-C interrupts a wait at once and raises KeyboardInterrupt
unchanged; records read from a session are snapshots that outlive it; strings with a NUL and
integers out of range are refused (never cut or wrapped); every public callable has a docstring."""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import inspect
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
import weakref
from typing import Any, List

import pytest

import zrca
from zrca import _lib
from conftest import fill_application
from support import PASSWORD

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------- Ctrl-C

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import zrca
cfg = json.loads(sys.argv[2])
mode = sys.argv[3]
s = zrca.Session(cfg["url"], **cfg["options"])
s.login(cfg["account"], cfg["password"])
order = s.order(cfg["order"])
polls = []
progress = (lambda o, sec: polls.append(sec)) if mode == "progress" else None
print("waiting", flush=True)
if mode == "uncaught":
    order.wait(zrca.WaitFor.APPROVED, timeout=120, min_interval=20, max_interval=30)
    print("wait returned", flush=True)
    sys.exit(3)
t0 = time.monotonic()
try:
    order.wait(zrca.WaitFor.APPROVED, timeout=120, min_interval=5, max_interval=5, progress=progress)
except KeyboardInterrupt as e:
    print(json.dumps({"type": type(e).__name__, "cause": repr(e.__cause__), "after": time.monotonic() - t0,
                      "polls": len(polls)}), flush=True)
    # The order and its session stay usable: the next call on them first waits for the
    # interrupted C call to end (its next poll, where the stopped callback ends it).
    changed = order.refresh()
    print(json.dumps({"review": order.review_status.wire_name, "after": time.monotonic() - t0,
                      "polls": len(polls)}), flush=True)
    t1 = time.monotonic()
    s.close()
    print(json.dumps({"closed_in": time.monotonic() - t1}), flush=True)
    sys.exit(0)
sys.exit(4)
"""


def _under_review(platform: Any, make_world: Any, scans: Any) -> Any:
    """A world with a renewal order submitted and left under review (nobody approves it)."""
    w = make_world()
    pdf, jpg = scans
    with w.session() as s, s.new_application(zrca.Business.RENEWAL) as app:
        fill_application(app, w, pdf, jpg)
        with app.submit() as order:
            w.order_number = order.number
    return w


def _start_child(w: Any, mode: str) -> subprocess.Popen:
    cfg = {"url": w.platform.url, "account": w.account, "password": PASSWORD, "order": w.order_number,
           "options": {k: (os.fspath(v) if isinstance(v, os.PathLike) else v)
                       for k, v in w.platform.session_options(state_dir=w.state_dir).items()}}
    p = subprocess.Popen([sys.executable, "-c", CHILD, PKG, json.dumps(cfg), mode],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = b""
    deadline = time.monotonic() + 60
    while not line.endswith(b"waiting\n") and time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 1)
        if r:
            chunk = os.read(p.stdout.fileno(), 1)  # type: ignore[union-attr]
            if not chunk:
                break
            line += chunk
    assert line.endswith(b"waiting\n"), (line, p.stderr.read() if p.poll() is not None else b"")  # type: ignore
    time.sleep(1.5)  # inside the wait: the C side sleeps 20 s before its first poll
    return p


@pytest.mark.parametrize("mode", ["uncaught", "progress"])
def test_ctrl_c_interrupts_a_wait(platform, make_world, scans, mode):
    """SIGINT during Order.wait() (the library sleeping 20 s between polls): the process gets
    KeyboardInterrupt within a second, unchanged (not CallbackStopped, no cause); uncaught, Python
    dies of SIGINT; caught, the order and session remain usable."""
    w = _under_review(platform, make_world, scans)
    p = _start_child(w, mode)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    took = time.monotonic() - t0
    if mode == "uncaught":
        assert took < 2.0, (took, err)
        assert p.returncode == -signal.SIGINT, (p.returncode, out, err)
        assert b"KeyboardInterrupt" in err and b"CallbackStopped" not in err, err
        assert b"wait returned" not in out
        return
    assert p.returncode == 0, (out, err)
    lines = [json.loads(x) for x in out.decode().splitlines()]
    assert lines[0]["type"] == "KeyboardInterrupt" and lines[0]["cause"] == "None", lines
    assert lines[0]["after"] < 1.5 + 1.0, lines          # 1.5 s into the wait, then at once
    assert lines[0]["polls"] == 0                        # interrupted in the sleep, before any poll
    assert lines[1]["review"] == "not_reviewed", lines   # usable again once the C call ended
    assert 4.0 < lines[1]["after"] < 12, lines           # ... at its next poll (5 s), not before
    assert lines[1]["polls"] == 0                        # the stopped callback never ran Python
    assert lines[2]["closed_in"] < 1.0
    assert b"Traceback" not in err, err


def test_keyboard_interrupt_in_a_callback_is_not_turned_into_callback_stopped(platform, approved, pins):
    """A KeyboardInterrupt raised by a callback comes out unchanged (no CallbackStopped, no cause):
    from an update's progress callback (run in the helper thread) and from a PIN callback of a
    token login (run on the main thread)."""
    w = approved()
    base = zrca._live_slots()
    calls: List[Any] = []

    def progress(step: Any, index: int) -> None:
        calls.append(step)
        raise KeyboardInterrupt

    def pin(request: Any) -> str:
        calls.append(request)
        raise KeyboardInterrupt

    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        with pytest.raises(KeyboardInterrupt) as ei:
            order.update_item(w.item_index, t, pin=pins(), progress=progress)
        assert ei.value.__cause__ is None and len(calls) == 1
        with pytest.raises(KeyboardInterrupt) as ei:
            t.login_with(pin)
        assert ei.value.__cause__ is None and len(calls) == 2
    assert zrca._live_slots() == base


# ------------------------------------------------------------------------------- snapshots

def test_records_outlive_their_session(platform, approved):
    """Certificates, persons, fees, notifications and the enterprise read from a session are plain
    frozen dataclasses: they stay readable after the session is closed and collected."""
    w = approved()
    s = w.session()
    certs = s.certificates()
    persons = s.persons()
    fees = s.fees()
    notes = s.notifications()
    ent = s.enterprise()
    sref = weakref.ref(s)
    s.close()
    del s
    gc.collect()
    assert sref() is None                                  # nothing read holds the session
    assert len(certs) >= 1
    c = certs[0]
    assert c.holder == w.holder and c.serial and c.not_after is not None and c.der[:1] == b"\x30"
    assert c.kind == zrca.CertKind.PERSONAL and isinstance(c.renewable, bool)
    assert [p.name for p in persons] == [w.holder] and persons[0].id_number == w.holder_id
    assert fees.currency == "CNY" and fees.price(zrca.Business.RENEWAL, zrca.CertKind.PERSONAL, 1) == 0
    assert fees.price(zrca.Business.RENEWAL, zrca.CertKind.PERSONAL, 7) is None
    assert all(isinstance(f.price_fen, int) for f in fees)
    assert all(n.text for n in notes)
    assert ent.name
    for rec in (c, persons[0], fees[0], ent) + tuple(notes[:1]):
        assert dataclasses.is_dataclass(rec)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(rec, dataclasses.fields(rec)[0].name, None)
    assert certs[-1] == certs[len(certs) - 1] and certs[:1] == [c]
    assert c == dataclasses.replace(c) and hash(c) == hash(dataclasses.replace(c))
    assert pickle.loads(pickle.dumps(c)) == c and pickle.loads(pickle.dumps(persons[0])) == persons[0]
    assert len({c, dataclasses.replace(c)}) == 1
    with certs as same:                                    # the old handle-style use still works
        assert same is certs
    certs.close()
    assert certs[0].holder == w.holder and not certs.closed


# ------------------------------------------------------------------------------- conversions

def test_to_c_refuses_nul_and_out_of_range():
    """The one conversion helper: no silent cut at a NUL, no silent wrap of an integer."""
    with pytest.raises(ValueError, match="NUL"):
        _lib.to_c("张\x00三", ctypes.c_char_p)
    with pytest.raises(ValueError, match="NUL"):
        _lib.to_c(b"a\x00b", ctypes.c_char_p)
    with pytest.raises(ValueError, match="NUL"):
        _lib.p("dir/\x00/file")
    assert _lib.to_c("张三", ctypes.c_char_p) == "张三".encode()
    assert _lib.to_c(None, ctypes.c_char_p) is None
    for ctype, lo, hi in ((ctypes.c_uint, 0, 2**32 - 1), (ctypes.c_int, -2**31, 2**31 - 1),
                          (ctypes.c_size_t, 0, 2**64 - 1), (ctypes.c_int64, -2**63, 2**63 - 1)):
        assert _lib.to_c(lo, ctype) == lo and _lib.to_c(hi, ctype) == hi
        with pytest.raises(OverflowError):
            _lib.to_c(lo - 1, ctype)
        with pytest.raises(OverflowError):
            _lib.to_c(hi + 1, ctype)
    with pytest.raises(TypeError):
        _lib.to_c(1.5, ctypes.c_uint)
    assert _lib.to_c(zrca.Business.RENEWAL, ctypes.c_int) == int(zrca.Business.RENEWAL)
    o = _lib.WaitOptions()
    with pytest.raises(OverflowError):
        o.min_interval_ms = -1
    with pytest.raises(ValueError):
        o2 = _lib.SessionOptions()
        o2.base_url = b"https://a\x00b"
    with pytest.raises(OverflowError):                      # every prototype checks its arguments
        _lib.zrca_status_name(2**40)


def test_nul_and_range_through_the_api(platform, make_world):
    """'张\\x00三' is refused, not submitted as '张'; a count of -1 is refused, not 4294967295."""
    w = make_world()
    with pytest.raises(ValueError, match="NUL"):
        zrca.Session(w.platform.url + "\x00/evil", **w.platform.session_options())
    with pytest.raises(OverflowError):
        zrca.Session(w.platform.url, retry_attempts=-1, **w.platform.session_options())
    with pytest.raises(OverflowError):
        zrca.Session(w.platform.url, max_response_size=2**70, **w.platform.session_options())
    with w.session() as s:
        with pytest.raises(ValueError, match="NUL"):
            s.login(w.account + "\x00x", PASSWORD)
        with s.new_application() as app:
            with pytest.raises(ValueError, match="NUL"):
                app.add_person("张\x00三", w.holder_id or "", "项目负责人")
            assert app.person_count == 0
            with pytest.raises(OverflowError):
                app.add_person("张三", w.holder_id or "", "项目负责人", count=-1)
            with pytest.raises(OverflowError):
                app.set_org(years=2**32)
            assert app.person_count == 0
            with pytest.raises(ValueError, match="NUL"):
                app.set_contact("许静怡", "13800138000", "xu@example.com\x00.evil")
            with pytest.raises(ValueError, match="NUL"):
                app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, "letter\x00.pdf")
            with pytest.raises(ValueError, match="NUL"):
                app.set_remark("a\x00b")
        with pytest.raises(ValueError, match="NUL"):
            s.order("Ca\x00123")
        with pytest.raises(OverflowError):
            next(s.orders(per_page=-1))


# ------------------------------------------------------------------------------- docstrings

def _public_callables() -> List[Any]:
    """(name, object) of every public function, class, method and property of the package's
    public modules (those whose name does not start with ``_``), each once."""
    import importlib
    import pkgutil
    modules = [zrca] + [importlib.import_module("zrca." + m.name) for m in pkgutil.iter_modules(zrca.__path__)
                        if not m.name.startswith("_")]
    seen = set()
    out = []
    for mod in modules:
        for n, obj in sorted(vars(mod).items()):
            if n.startswith("_") or not str(getattr(obj, "__module__", "")).startswith("zrca"):
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            out.append(("%s.%s" % (obj.__module__, obj.__qualname__), obj))
            if not inspect.isclass(obj):
                continue
            for an, av in sorted(vars(obj).items()):
                if an.startswith("_"):
                    continue
                if isinstance(av, (staticmethod, classmethod)):
                    av = av.__func__
                if isinstance(av, property) or inspect.isfunction(av):
                    out.append(("%s.%s.%s" % (obj.__module__, obj.__qualname__, an), av))
    return out


def test_every_public_callable_has_a_docstring():
    """Every public function, class, method and property says what it does."""
    items = _public_callables()
    missing = [name for name, obj in items if not (obj.__doc__ and obj.__doc__.strip())]
    assert len(items) > 200
    assert not missing, "%d of %d public callables lack a docstring:\n  %s" % (
        len(missing), len(items), "\n  ".join(missing))
