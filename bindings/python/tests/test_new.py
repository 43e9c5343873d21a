# SPDX-License-Identifier: MIT
"""新购 through the bindings (doc/protocol.md §19): a new certificate applied for, paid, approved,
shipped by the operator, received with Order.receive(), then issued onto a BLANK SoftHSM token with the
existing Update API; the e-seal on the key; a second receipt refused."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest

import zrca
from conftest import World
from support import make_id

_n = itertools.count(1)


def test_new_certificate_onto_a_blank_key(platform, softhsm, scans, pins, tmp_path):
    n = next(_n)
    account, label = "pynew%d" % n, "pyblank%d" % n
    platform.create_account(account)
    softhsm.add_token(label)
    holder, hid = "孙新人", make_id("3301061993041512" + str(n % 10))
    w = World(platform, softhsm, account, label, zrca.CertKind.PERSONAL, holder, hid, str(tmp_path / "state"))
    pdf, jpg = scans
    with w.session() as s:
        with s.new_application(zrca.Business.NEW) as app:
            i = app.add_person(holder, hid, "项目经理", years=1, count=1)
            app.attach_file(zrca.person_scan_part(i), jpg)
            app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
            app.set_contact("许静怡", "13800138000", "xu.jingyi@example.com")
            assert app.amount_fen == 40000
            order = app.submit()
        assert order.business == zrca.Business.NEW
        [item] = order.items
        assert item.old_serial is None
        order.pay(zrca.PaymentMethod.ALIPAY)
        platform.review(order.number, approve=True)
        order.refresh()
        assert order.status == zrca.OrderStatus.AWAITING_ISSUANCE
        assert zrca.OrderAction.ISSUE not in order.items[0].actions
        with pytest.raises(zrca.StateError):
            order.receive()                     # nothing posted yet: refused locally
        platform.operator("POST", "/orders/%s/ship" % order.number,
                          {"tracking_number": "SF0001", "key_serial": "BLANK1"})
        order.refresh()
        assert order.shipping_status == zrca.ShippingStatus.AWAITING_RECEIPT
        assert zrca.OrderAction.RECEIVE in order.actions
        assert (order.tracking_number, order.shipped_key_serial) == ("SF0001", "BLANK1")
        order.receive()
        assert order.shipping_status == zrca.ShippingStatus.RECEIVED
        assert zrca.OrderAction.RECEIVE not in order.actions
        assert zrca.OrderAction.ISSUE in order.items[0].actions
        assert zrca.OrderAction.ISSUE.wire_name == "issue"
        p = pins()
        with w.token() as token:
            result = order.items[0].update(token, pin=p)
        assert p.purposes == [zrca.PinPurpose.CERT_UPDATE, zrca.PinPurpose.SEAL_UPDATE]
        assert result.owner == holder and result.status == "valid" and result.seal_id
        assert not result.old_serial            # nothing replaced
        assert result.not_after - result.not_before == dt.timedelta(days=365)
        order.refresh()
        assert order.status == zrca.OrderStatus.COMPLETED
        assert order.items[0].new_serial == result.serial
        order.close()
    with w.token() as token:
        token.login(bytearray(b"246810"))
        with token.certificates() as certs:
            assert [(c.serial, c.holder, c.has_private_key) for c in certs] == [(result.serial, holder, True)]
            assert certs[0].der == result.der
