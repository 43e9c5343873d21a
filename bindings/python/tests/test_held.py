# SPDX-License-Identifier: MIT
"""Update safety through the bindings: a recorded bad certificate holds the update (UpdateHeld with
the rule), the journal says so, abort refuses to delete a certified key unless forced, and the
operator's re-issue lets the same call finish."""
from __future__ import annotations

import pytest

import zrca
from conftest import fill_application
from support import PASSWORD


def test_held_then_reissued(make_world, scans, pins):
    w = make_world(kind=zrca.CertKind.PERSONAL)
    pdf, jpg = scans
    with zrca.Session(w.platform.url, **w.platform.session_options(state_dir=w.state_dir)) as s:
        s.login(w.account, PASSWORD)
        with s.new_application(zrca.Business.RENEWAL) as app:
            fill_application(app, w, pdf, jpg)
            order = app.submit()
        w.platform.review(order.number, approve=True)
        order.refresh()
        with pytest.raises(zrca.NotFound):
            zrca.journal_state(s, order.number, 1)
        w.platform.operator("PUT", "/issuer", {"fault": "end_plus_day", "mode": "recorded"})
        with w.token() as token:
            with pytest.raises(zrca.UpdateHeld) as ei:
                order.items[0].update(token, pin=pins())
            assert ei.value.status is zrca.Status.EHELD and ei.value.code == -36
            assert ei.value.rule == "not_after" and ei.value.field == "certificate"
            step, flags = zrca.journal_state(s, order.number, 1)
            assert step == zrca.UpdateStep.ISSUE
            assert flags & zrca.UPDATE_HELD and flags & zrca.UPDATE_ISSUED
            # The platform certified the staged key: abort refuses and removes nothing.
            with pytest.raises(zrca.StateError):
                zrca.abort(s, order.number, 1, token, pin=pins())
            assert zrca.journal_state(s, order.number, 1)[0] == zrca.UpdateStep.ISSUE
            w.platform.operator("PUT", "/issuer", {"fault": None})
            w.platform.operator("POST", "/orders/%s/items/1/reissue" % order.number, {})
            result = zrca.resume(s, order.number, 1, token, pin=pins())
            assert result.status == "valid" and result.seal_id
            step, flags = zrca.journal_state(s, order.number, 1)
            assert step == zrca.UpdateStep.DONE and flags == zrca.UPDATE_ISSUED
        order.close()


def test_abort_reports_what_it_removed(make_world, scans, pins):
    w = make_world(kind=zrca.CertKind.PERSONAL)
    pdf, jpg = scans
    with zrca.Session(w.platform.url, **w.platform.session_options(state_dir=w.state_dir)) as s:
        s.login(w.account, PASSWORD)
        with s.new_application(zrca.Business.RENEWAL) as app:
            fill_application(app, w, pdf, jpg)
            order = app.submit()
        w.platform.review(order.number, approve=True)
        order.refresh()
        with w.token() as token:
            with pytest.raises(zrca.CallbackStopped):
                order.items[0].update(token, pin=pins(),
                                      progress=lambda st, ix: st == zrca.UpdateStep.PROOF)
            removed = zrca.abort(s, order.number, 1, token, pin=pins())
            assert removed == zrca.ABORT_REMOVED_JOURNAL | zrca.ABORT_REMOVED_KEY
            with pytest.raises(zrca.NotFound):
                zrca.abort(s, order.number, 1, token, pin=pins())
        order.close()
