# SPDX-License-Identifier: MIT
"""The seed, end to end through the bindings: log in, read the certificates, apply for the renewal
with attachments, operator approval, wait, the SMS, one-click update with the PIN asked twice
(certificate, then e-seal), the result as i信 shows it."""
from __future__ import annotations

import datetime as dt
import os
import re

import pytest

import zrca
from conftest import Pins, fill_application
from support import PASSWORD


def test_seed_flow(make_world, scans, pins):
    w = make_world(kind=zrca.CertKind.PERSONAL)
    pdf, jpg = scans
    logs = []
    with zrca.Session(w.platform.url, **w.platform.session_options(
            state_dir=w.state_dir, log=lambda lv, dom, msg: logs.append((lv, dom, msg)),
            log_level=zrca.LogLevel.DEBUG)) as s:
        # Steps 1-2: log in.
        s.login(w.account, PASSWORD)
        assert s.account == w.account
        assert s.role == zrca.Role.TENDERER
        assert s.expires_at is not None and s.expires_at.tzinfo is not None
        assert s.expires_at > dt.datetime.now(dt.timezone.utc)
        ent = s.enterprise()
        assert ent.legal_rep_id_number == w.holder_id or ent.legal_rep_name
        # 证书信息: the certificate on the key, ending within 20 days.
        certs = s.certificates(kind=zrca.CertKind.PERSONAL)
        assert len(certs) == 1
        c = certs[0]
        assert (c.kind, c.holder, c.holder_id_number) == (zrca.CertKind.PERSONAL, w.holder, w.holder_id)
        assert c.serial == w.old_serial
        assert c.status == zrca.CertStatus.VALID and c.renewable
        assert c.not_after == w.old_not_after
        assert c.not_after.tzinfo == dt.timezone.utc and 18 <= c.days_left <= 20
        assert c.der[:1] == b"\x30"
        assert [x.serial for x in certs] == [c.serial]          # iteration
        persons = s.persons()
        assert [p.name for p in persons] == [w.holder]
        fees = s.fees()
        assert fees.currency == "CNY"
        assert fees.price(zrca.Business.RENEWAL, zrca.CertKind.PERSONAL, 1) == 0
        assert fees.price(zrca.Business.RENEWAL, zrca.CertKind.PERSONAL, 7) is None

        # Steps 3-5: the renewal application, picking the person applied for before, with scans.
        with s.new_application(zrca.Business.RENEWAL) as app:
            i = app.add_known_person(persons[0], years=1, count=1)
            app.attach_file(zrca.person_scan_part(i), jpg)
            app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
            app.set_contact("许静怡", "13800138000", "xu.jingyi@example.com")
            app.validate()
            assert app.amount_fen == 0
            assert app.to_dict()["persons"][0]["id_number"] == w.holder_id
            order = app.submit()
        assert order.review_status == zrca.ReviewStatus.NOT_REVIEWED
        assert order.status == zrca.OrderStatus.AWAITING_VERIFICATION
        assert re.fullmatch(r"Ca20[0-9]{12}[0-9]+", order.number)
        assert order.created_at is not None and order.created_at.tzinfo is not None
        [item] = order.items
        assert (item.kind, item.holder, item.old_serial) == (zrca.CertKind.PERSONAL, w.holder, w.old_serial)
        assert zrca.OrderAction.UPDATE not in item.actions

        # Step 6: the operator approves; the wait sees it; the SMS was sent.
        w.platform.review(order.number, approve=True)
        polls = []
        met = order.wait(zrca.WaitFor.APPROVED | zrca.WaitFor.REJECTED, timeout=60, min_interval=0.05,
                         progress=lambda o, secs: polls.append((o.review_status, secs)))
        assert met == zrca.WaitFor.APPROVED
        assert polls and polls[-1][0] == zrca.ReviewStatus.APPROVED
        assert order.review_status == zrca.ReviewStatus.APPROVED
        assert order.status == zrca.OrderStatus.AWAITING_ISSUANCE
        assert zrca.OrderAction.UPDATE in order.items[0].actions
        sms = [n for n in s.notifications() if n.order_number == order.number]
        assert len(sms) == 1
        assert sms[0].channel == "sms" and sms[0].mobile == "13800138000" and sms[0].text
        assert sms[0].sent_at is not None

        # Steps 7-11: the one-click update with the key inserted; the PIN is asked twice.
        p = pins()
        steps = []
        with w.token() as token:
            result = order.items[0].update(token, pin=p, progress=lambda st, ix: steps.append(st))
        assert p.purposes == [zrca.PinPurpose.CERT_UPDATE, zrca.PinPurpose.SEAL_UPDATE]
        assert all(r.token_label == w.token_label for r in p.requests)
        assert steps[0] == zrca.UpdateStep.CHECK and zrca.UpdateStep.SEAL in steps
        # 证书更新成功: owner, validity extended by the year bought, status valid.
        assert result.owner == w.holder
        assert result.status == "valid"
        assert result.old_serial == w.old_serial and result.serial != w.old_serial
        assert result.old_not_after == w.old_not_after
        assert result.not_after == w.old_not_after + dt.timedelta(days=365)
        assert result.seal_id
        order.refresh()
        assert order.status == zrca.OrderStatus.COMPLETED
        assert order.items[0].status == zrca.ItemStatus.COMPLETED
        assert order.items[0].new_serial == result.serial
        # 回执打印: the receipt, a PDF carrying the order number (rendered and read in the CLI's test).
        pdf = order.receipt()
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:]
        order.close()

    # The token holds the new certificate next to its new key, and the e-seal record.
    with w.token() as token:
        token.login(bytearray(b"246810"))
        with token.certificates() as certs:
            # One spelling of a serial: the token's certificate says what the platform said.
            new = [c for c in certs if c.serial == result.serial]
            assert len(new) == 1 and new[0].has_private_key and new[0].holder == w.holder
            assert zrca.serial_cmp(new[0].serial.upper(), result.serial) == 0
            assert not new[0].expired() and not new[0].due()
            assert new[0].due(window_days=400) and new[0].expired(now=result.not_after)
            assert new[0].der == result.der
            with new[0].key() as k:
                assert k.label == w.holder
        assert result.seal_label and token.read_data(result.seal_label)
        # The e-seal record read back and judged by the library: bound without the CA, verified
        # with the issuing CA (it sits beside the platform's root).
        seals = token.seals()
        assert [(x.state, x.seal_id, x.certificate_serial) for x in seals] == \
            [(zrca.SealState.BOUND, result.seal_id, result.serial)]
        issuing = os.path.join(os.path.dirname(w.platform.platform_ca_file), "issuing.pem")
        seals = token.seals(serial="0x" + result.serial.upper(), issuer_ca_file=issuing)
        assert len(seals) == 1 and seals[0].state == zrca.SealState.VERIFIED and seals[0].valid
        assert seals[0].image and seals[0].valid_to > seals[0].valid_from
        assert token.seals(serial="01") == []
        with pytest.raises(zrca.InvalidArgument):
            token.seals(serial="not a serial")
    # Logged, and never the password or the PIN.
    assert any(dom == "http" for _, dom, _ in logs)
    assert not any(PASSWORD in m or "246810" in m for _, _, m in logs)
