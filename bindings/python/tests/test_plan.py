# SPDX-License-Identifier: MIT
"""Renewal planning: nothing due (an empty plan, renew_auto reports nothing and files no order);
a dry run (the plan matched to the token, the application it builds, every entry PLANNED and no
order filed; a scan callback that raises stops the call); renew_auto end to end with a thread
playing the operator (the order approved, the certificate updated on its token for a year)."""
from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pytest

import zrca
from conftest import Pins

CONTACT = dict(contact_name="许静怡", contact_mobile="13800138000", contact_email="xu.jingyi@example.com")


def order_numbers(w):
    with w.session() as s:
        return [o.number for o in s.orders()]


class Operator(threading.Thread):
    """Approves the first order that waits for review (as tests/update/test_update.c's approver)."""

    def __init__(self, w):
        super().__init__(daemon=True)
        self.w = w
        self.stop = threading.Event()
        self.approved = []
        self.error = None

    def run(self):
        try:
            with self.w.session() as s:
                deadline = time.monotonic() + 30
                while not self.stop.is_set() and not self.approved and time.monotonic() < deadline:
                    for o in s.orders():
                        with o:
                            if o.review_status == zrca.ReviewStatus.NOT_REVIEWED:
                                self.w.platform.review(o.number, approve=True)
                                self.approved.append(o.number)
                    self.stop.wait(0.05)
        except BaseException as e:  # reported by the test
            self.error = e


def test_nothing_due(make_world, scans):
    w = make_world(kind=zrca.CertKind.ORG, days=200)
    pdf, _ = scans
    base_slots = zrca._live_slots()
    with w.session() as s, w.token() as t:
        with s.renewal_plan([t]) as plan:
            assert len(plan) == 0 and not plan and list(plan) == []
            with pytest.raises(zrca.NotFound):
                plan.application()
        # 200 days left is inside a 250-day window: then it is due, on this token.
        with s.renewal_plan(t, window_days=250) as plan:
            [e] = plan
            assert (e.kind, e.holder, e.serial) == (zrca.CertKind.ORG, w.holder, w.old_serial)
            assert e.not_after == w.old_not_after and e.token is t
        report = s.renew_auto([t], commitment_letter=pdf, **CONTACT)
        assert report.order_number is None
        assert len(report) == 0 and list(report) == []
    assert order_numbers(w) == []
    assert zrca._live_slots() == base_slots


def test_dry_run(make_world, scans):
    w = make_world(kind=zrca.CertKind.PERSONAL, days=20)
    pdf, jpg = scans
    asked = []

    def scan(holder, id_number):
        asked.append((holder, id_number))
        return jpg

    base_slots = zrca._live_slots()
    with w.session() as s, w.token() as t:
        opts = dict(commitment_letter=pdf, person_scan=scan, **CONTACT)
        # Without its token, nothing is planned unless asked for.
        with s.renewal_plan([], **opts) as plan:
            assert len(plan) == 0
        with s.renewal_plan([], include_absent=True, **opts) as plan:
            [e] = plan
            assert e.token is None and e.serial == w.old_serial
        with s.renewal_plan([t], **opts) as plan:
            assert len(plan) == 1 and plan.tokens == (t,)
            e = plan[0]
            assert plan[-1] == e and plan[:] == [e]
            assert (e.kind, e.holder, e.serial) == (zrca.CertKind.PERSONAL, w.holder, w.old_serial)
            assert e.not_after == w.old_not_after and e.not_after.tzinfo == dt.timezone.utc
            assert e.token is t
            # The application it builds: the person with the scan, the letter, the contact.
            with plan.application() as app:
                assert isinstance(app, zrca.Application) and app.session is s
                assert asked == [(w.holder, w.holder_id)]
                app.validate()
                d = app.to_dict()
                assert [p["id_number"] for p in d["persons"]] == [w.holder_id]
                assert app.person_count == 1
        assert zrca._live_slots() == base_slots

        report = s.renew_auto([t], dry_run=True, **opts)
        assert report.order_number is None
        [r] = report
        assert r.outcome == zrca.RenewOutcome.PLANNED
        assert (r.kind, r.holder, r.old_serial, r.old_not_after) == (
            zrca.CertKind.PERSONAL, w.holder, w.old_serial, w.old_not_after)
        assert r.new_serial is None and r.new_not_after is None and r.error == zrca.Status.OK

        # A scan callback that raises stops the call: its exception comes back, chained to the
        # library's (the application without the scan failed validation); nothing is sent.
        def broken(holder, id_number):
            raise RuntimeError("the scanner jammed")

        with pytest.raises(RuntimeError, match="jammed") as ei:
            s.renew_auto([t], commitment_letter=pdf, person_scan=broken, **CONTACT)
        assert isinstance(ei.value.__cause__, zrca.ValidationError)
        assert [x.outcome for x in ei.value.__cause__.report] == [zrca.RenewOutcome.PLANNED]
        with s.renewal_plan([t], commitment_letter=pdf, person_scan=broken, **CONTACT) as plan:
            with pytest.raises(RuntimeError, match="jammed"):
                plan.application()
        assert zrca._live_slots() == base_slots
    assert order_numbers(w) == []


def test_renew_auto(make_world, scans):
    w = make_world(kind=zrca.CertKind.PERSONAL, days=20)
    pdf, jpg = scans
    pins = Pins()
    polls = []
    op = Operator(w)
    with w.session() as s, w.token() as t:
        op.start()
        try:
            report = s.renew_auto([t], commitment_letter=pdf, person_scan=lambda holder, id_number: str(jpg),
                                  pin=pins, wait_timeout=30, wait_min_interval=0.1,
                                  wait_progress=lambda number, secs: polls.append((number, secs)), **CONTACT)
        finally:
            op.stop.set()
            op.join(30)
        assert op.error is None
        assert op.approved == [report.order_number]
        assert re.fullmatch(r"Ca20[0-9]{12}[0-9]+", report.order_number)
        assert polls and all(n == report.order_number for n, _ in polls)
        [r] = report
        assert r.outcome == zrca.RenewOutcome.UPDATED, r
        assert r.error == zrca.Status.OK
        assert (r.holder, r.old_serial, r.old_not_after) == (w.holder, w.old_serial, w.old_not_after)
        assert r.new_serial and r.new_serial != w.old_serial
        assert r.new_not_after == w.old_not_after + dt.timedelta(days=365)
        assert pins.purposes == [zrca.PinPurpose.CERT_UPDATE, zrca.PinPurpose.SEAL_UPDATE]
        with s.order(report.order_number) as order:
            assert order.status == zrca.OrderStatus.COMPLETED
            assert order.items[0].new_serial == r.new_serial
        # Renewed: nothing is due any more.
        with s.renewal_plan([t]) as plan:
            assert len(plan) == 0
    with w.token() as t:
        t.login(bytearray(b"246810"))
        with t.certificates() as certs:
            assert any(c.serial.lower().lstrip("0") == r.new_serial.lstrip("0") for c in certs)


def test_renew_auto_again(make_world, scans):
    """Re-entrant (issue 12): a review wait that times out raises Timeout with the entry
    PENDING_REVIEW and its order; the next run files nothing and reports it again; after the
    approval the next run updates it in the same order. on_event sees each outcome as it is set,
    the order number with the first."""
    w = make_world(kind=zrca.CertKind.PERSONAL, days=20)
    pdf, jpg = scans
    pins = Pins()
    opts = dict(commitment_letter=pdf, person_scan=lambda holder, id_number: str(jpg), pin=pins,
                wait_min_interval=0.1, **CONTACT)
    base_slots = zrca._live_slots()
    with w.session() as s, w.token() as t:
        events = []
        with pytest.raises(zrca.Timeout) as ei:
            s.renew_auto([t], wait_timeout=1, on_event=events.append, **opts)
        [r] = ei.value.report
        number = ei.value.report.order_number
        assert r.outcome == zrca.RenewOutcome.PENDING_REVIEW and r.order == number and r.token is t
        assert [(e.outcome, e.order) for e in events] == [(zrca.RenewOutcome.SUBMITTED, number),
                                                          (zrca.RenewOutcome.PENDING_REVIEW, number)]
        report = s.renew_auto([t], wait_timeout=1, **opts)
        assert report.order_number is None
        [r] = report
        assert (r.outcome, r.order, r.item, r.old_serial) == (
            zrca.RenewOutcome.PENDING_REVIEW, number, 1, w.old_serial)
        assert order_numbers(w) == [number]
        w.platform.review(number, approve=True)
        events = []
        report = s.renew_auto([t], on_event=events.append, lock_wait=5, **opts)
        [r] = report
        assert (r.outcome, r.order, r.item, r.token) == (zrca.RenewOutcome.UPDATED, number, 1, t)
        assert r.new_serial and r.message is None and r.error == zrca.Status.OK
        assert events == [r]
        assert order_numbers(w) == [number]
        assert len(s.renew_auto([t], **opts)) == 0
    assert zrca._live_slots() == base_slots
