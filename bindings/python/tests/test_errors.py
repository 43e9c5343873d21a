# SPDX-License-Identifier: MIT
"""Errors through the bindings: each failure is the exception class of its code and carries the
error record (message, field, rule, the platform's code, HTTP status, PIN tries left, every
violation of a form)."""
from __future__ import annotations

import pytest

import zrca
from support import PASSWORD, USER_PIN, DOCX, JPEG, PDF, make_id, wrong_check_digit


def test_wrong_password(platform, make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    with zrca.Session(platform.url, **platform.session_options()) as s:
        with pytest.raises(zrca.AuthError) as ei:
            s.login(w.account, "not-the-password")
        e = ei.value
        assert type(e) is zrca.AuthError
        assert e.code == zrca.Status.EAUTH == -16
        assert e.http_status == 401 and e.remote_code
        assert "not-the-password" not in str(e)
        assert s.account is None and s.expires_at is None
        # Not logged in: a read is refused too.
        with pytest.raises(zrca.AuthError):
            s.enterprise()
        # The error record was cleared by the next success.
        s.login(w.account, PASSWORD)
        assert zrca._lib.zrca_error_last() is not None and not zrca._lib.zrca_error_last()


def test_form_with_several_mistakes(platform, make_world, tmp_path):
    """Five mistakes, five violations, each with its field and rule; nothing is sent."""
    w = make_world(kind=zrca.CertKind.PERSONAL)
    t = zrca.HttpTransport(ca_file=platform.ca_file)
    big = tmp_path / "letter.pdf"
    big.write_bytes(PDF + b"\0" * (4 * 1024 * 1024))          # a 4 MB scan
    docx = tmp_path / "id.jpg"
    docx.write_bytes(DOCX)                                     # a .docx named .jpg
    with w.session(transport=t) as s, s.new_application(zrca.Business.RENEWAL) as app:
        i = app.add_person(w.holder, wrong_check_digit(w.holder_id), "项目负责人", years=1, count=1)
        app.attach_file(zrca.person_scan_part(i), docx)
        app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, big)
        app.set_contact("许静怡", "1380013800", "not-an-email")  # 10 digits
        sent = t.requests
        with pytest.raises(zrca.ValidationError) as ei:
            app.validate()
        e = ei.value
        found = {(v.field, v.rule) for v in e.violations}
        expected = {("persons[0].id_number", "check_digit"), ("persons[0].id_scan", "file_type"),
                    ("attachments.commitment_letter", "max_size"), ("contact.mobile", "format"),
                    ("contact.email", "format")}
        assert expected <= found, found
        assert e.code == zrca.Status.EVALIDATION and isinstance(e, ValueError)
        assert (e.field, e.rule) == (e.violations[0].field, e.violations[0].rule)
        assert all(v.message for v in e.violations)
        with pytest.raises(zrca.ValidationError) as ei2:
            app.submit()
        assert {(v.field, v.rule) for v in ei2.value.violations} == found
        assert t.requests == sent                               # nothing was sent
    with w.session(transport=t) as s, s.new_application(zrca.Business.RENEWAL) as app:
        good_scan = tmp_path / "scan.jpg"
        good_scan.write_bytes(JPEG)
        letter = tmp_path / "ok.pdf"
        letter.write_bytes(PDF)
        i = app.add_person(w.holder, w.holder_id, "项目负责人")
        app.attach_file(zrca.person_scan_part(i), good_scan)
        app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, letter)
        app.set_contact("许静怡", "13800138000", "xu@example.com")
        with app.submit() as order:
            assert order.review_status == zrca.ReviewStatus.NOT_REVIEWED


def test_bidder_may_not_list_persons(platform, make_world):
    """A rule of the platform's own (a bidder needs no personal certificates)."""
    w = make_world(kind=zrca.CertKind.ORG, role="bidder")
    with w.session() as s, s.new_application() as app:
        app.add_person("林晓雯", make_id("11010119900307851"), "项目负责人")
        app.attach_data(zrca.person_scan_part(0), JPEG, "scan.jpg")
        app.attach_data(zrca.ATTACH_COMMITMENT_LETTER, PDF, "letter.pdf")
        app.set_contact("许静怡", "13800138000", "xu@example.com")
        with pytest.raises(zrca.ValidationError) as ei:
            app.validate()
        assert ("persons", "not_allowed_for_bidder") in {(v.field, v.rule) for v in ei.value.violations}


def test_not_found_and_state(platform, make_world, scans):
    w = make_world(kind=zrca.CertKind.ORG)
    pdf, _ = scans
    with w.session() as s:
        with pytest.raises(zrca.NotFound) as ei:
            s.order("Ca2020072209050433757766530")
        assert ei.value.code == zrca.Status.ENOTFOUND and isinstance(ei.value, LookupError)
        with s.new_application() as app:
            app.set_org()
            app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
            app.set_contact("许静怡", "13800138000", "xu@example.com")
            order = app.submit()
        # Rating an order that is not completed: refused locally, rule = the action.
        assert zrca.OrderAction.RATE not in order.actions
        with pytest.raises(zrca.StateError) as ei:
            order.rate(5, "好")
        assert ei.value.rule == "rate"
        order.cancel("不再需要")
        assert order.status == zrca.OrderStatus.CLOSED
        with pytest.raises(zrca.StateError):
            order.cancel()
        # The order list sees it, filtered by number.
        found = list(s.orders(number=order.number))
        assert [o.number for o in found] == [order.number]
        assert found[0].status == zrca.OrderStatus.CLOSED


def test_wrong_pin(make_world):
    w = make_world(kind=zrca.CertKind.ORG)
    with w.token() as t:
        with pytest.raises(zrca.PinIncorrect) as ei:
            t.login("000000")
        e = ei.value
        assert e.code == zrca.Status.EPIN_INCORRECT and isinstance(e, zrca.PinError)
        assert e.tries_left is None or e.tries_left >= 0
        flags, tries = t.pin_state()
        assert isinstance(flags, zrca.PinFlag)
        t.login(USER_PIN)
        assert t.info().logged_in


def test_wrong_pin_in_the_update(approved, pins):
    """A wrong PIN at the e-seal prompt fails the update with PinIncorrect; it is never retried,
    and the update resumes from its journal with the right PIN."""
    w = approved(kind=zrca.CertKind.ORG)
    with w.session() as s, s.order(w.order_number) as order, w.token() as t:
        p = pins(wrong_at=2)
        with pytest.raises(zrca.PinIncorrect):
            order.update_item(w.item_index, t, pin=p)
        assert len(p.requests) == 2
    with w.session() as s, w.token() as t:
        p = pins()
        r = zrca.resume(s, w.order_number, w.item_index, t, pin=p)
        assert r.owner == w.holder and r.status == "valid"
        assert p.purposes == [zrca.PinPurpose.SEAL_UPDATE]
