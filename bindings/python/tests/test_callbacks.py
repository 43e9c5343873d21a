# SPDX-License-Identifier: MIT
"""Callbacks: PIN, wait and update progress, credentials, log. A callback that raises stops the
call, the library returns ZRCA_EUSER, and the wrapper re-raises the callback's own exception
(its __cause__ is the library's CallbackStopped)."""
from __future__ import annotations

import sys
import threading

import pytest

import zrca
from support import PASSWORD, USER_PIN


class Closed(Exception):
    pass


def _euser(exc: BaseException) -> None:
    cause = exc.__cause__
    assert isinstance(cause, zrca.CallbackStopped), repr(cause)
    assert cause.code == zrca.Status.EUSER == -6


def test_pin_callback_that_raises(approved, pins):
    w = approved(kind=zrca.CertKind.LEGAL_REP)
    base = zrca._live_slots()
    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        p = pins(raise_at=1)
        with pytest.raises(RuntimeError, match="closed the PIN dialog") as ei:
            order.update_item(w.item_index, t, pin=p)
        _euser(ei.value)
        assert order.items[0].status == zrca.ItemStatus.PENDING     # nothing issued
        # The journal kept the state: the same call with a PIN that answers finishes it.
        p = pins()
        r = order.update_item(w.item_index, t, pin=p)
        assert p.purposes == [zrca.PinPurpose.CERT_UPDATE, zrca.PinPurpose.SEAL_UPDATE]
        assert r.owner == w.holder
    assert zrca._live_slots() == base          # every callback's slot released


def test_pin_callback_that_declines(make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    with w.token() as t:
        asked = []
        with pytest.raises(zrca.CallbackStopped) as ei:
            t.login_with(lambda req: asked.append(req) or None)
        assert ei.value.code == zrca.Status.EUSER
        assert asked[0].purpose == zrca.PinPurpose.LOGIN and asked[0].token_label == w.token_label
        pin = bytearray(USER_PIN.encode())
        t.login_with(lambda req: pin)
        assert pin == bytearray(len(USER_PIN))       # a bytearray returned is wiped once copied
        assert t.info().logged_in


def test_update_progress_stops_between_steps(approved, pins):
    w = approved(kind=zrca.CertKind.ORG)
    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        seen = []

        def progress(step, index):
            seen.append(step)
            return step == zrca.UpdateStep.CHALLENGE     # a true value stops

        with pytest.raises(zrca.CallbackStopped):
            order.update_item(w.item_index, t, pin=pins(), progress=progress)
        assert seen[-1] == zrca.UpdateStep.CHALLENGE and seen[0] == zrca.UpdateStep.CHECK
    # Step by step from the journal, then done (the key inserted again: a new token handle).
    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        p = pins()
        with zrca.Update(order, w.item_index, t, pin=p) as u:
            assert u.next_step in (zrca.UpdateStep.LOGIN, zrca.UpdateStep.CHALLENGE)  # resumed, not restarted
            ran = list(u)
            assert ran[-1] == zrca.UpdateStep.ARCHIVE and u.next_step == zrca.UpdateStep.DONE
            assert u.result is not None and u.result.owner == w.holder
        assert p.purposes == [zrca.PinPurpose.CERT_UPDATE, zrca.PinPurpose.SEAL_UPDATE]


def test_wait_progress(approved, make_world, scans):
    w = make_world(kind=zrca.CertKind.ORG)
    pdf, _ = scans
    with w.session() as s:
        with s.new_application() as app:
            app.set_org()
            app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
            app.set_contact("许静怡", "13800138000", "xu@example.com")
            order = app.submit()
        # A progress callback that raises: re-raised, the library saw ZRCA_EUSER.
        def boom(o, secs):
            raise Closed("the person closed the window")
        with pytest.raises(Closed) as ei:
            order.wait(timeout=30, min_interval=0.05, progress=boom)
        _euser(ei.value)
        # One that returns True stops with CallbackStopped.
        with pytest.raises(zrca.CallbackStopped):
            order.wait(timeout=30, min_interval=0.05, progress=lambda o, secs: True)
        # A rejection with a comment is met (WaitFor.REJECTED), seen through the progress.
        w.platform.review(order.number, approve=False, comment="承诺函不清晰")
        seen = []
        met = order.wait(timeout=30, min_interval=0.05, progress=lambda o, secs: seen.append(o.review_status))
        assert met == zrca.WaitFor.REJECTED and seen[-1] == zrca.ReviewStatus.REJECTED
        assert order.review_comment == "承诺函不清晰"
        # Nothing happens within the timeout: Timeout.
        with pytest.raises(zrca.Timeout):
            order.wait(zrca.WaitFor.COMPLETED, timeout=0.3, min_interval=0.05)


def test_credentials_callback_on_expiry(platform, make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    platform.operator("PUT", "/settings", {"token_ttl": 1})
    try:
        asked = []
        with w.session(credentials=lambda account: asked.append(account) or PASSWORD) as s:
            import time
            time.sleep(2.1)
            assert s.enterprise().name                  # logged in again from the callback
            assert asked == [w.account]

        def refuse(account):
            raise Closed("no password now")
        with w.session(credentials=refuse) as s:
            time.sleep(2.1)
            with pytest.raises(Closed):
                s.certificates()
    finally:
        platform.operator("PUT", "/settings", {"token_ttl": 3600})


def test_log_callbacks(platform, make_world, monkeypatch):
    w = make_world(kind=zrca.CertKind.ORG)
    # A session's callback gets the session's lines, redacted.
    lines = []
    with w.session(log=lambda lv, dom, msg: lines.append((lv, dom, msg)), log_level=zrca.LogLevel.TRACE) as s:
        s.certificates()
    assert any(dom == "http" and lv == zrca.LogLevel.DEBUG for lv, dom, msg in lines)
    assert not any(PASSWORD in msg for _, _, msg in lines)
    # The global callback, used without a session one; another thread logs through it too.
    glines = []
    zrca.set_global_log(lambda lv, dom, msg: glines.append((dom, msg, threading.get_ident())), zrca.LogLevel.DEBUG)
    try:
        def worker():
            with w.session() as s2:
                s2.certificates()
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert any(t == th.ident for _, _, t in glines)
    finally:
        zrca.set_global_log(None)
    n = len(glines)
    with w.session() as s:
        s.certificates()
    assert len(glines) == n                      # removed
    # A log callback that raises cannot stop the call: it goes to sys.unraisablehook.
    caught = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: caught.append(u.exc_value))

    def bad(lv, dom, msg):
        raise Closed("log sink is full")
    with w.session(log=bad, log_level=zrca.LogLevel.DEBUG) as s:
        assert len(s.certificates()) == 1
    assert caught and isinstance(caught[0], Closed)
