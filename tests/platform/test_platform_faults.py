# SPDX-License-Identifier: MIT
"""Faults switched per endpoint through the operator API, and what a retrying client sees."""
import http.client
import json
import ssl
import threading
import time

import pytest

from platform_client import Renewal, apply, ec_key, key_id, renewal_app

CONN_ERRORS = (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead, ssl.SSLError,
               http.client.BadStatusLine, OSError)


def test_status_503_with_retry_after(platform):
    c = platform.create_account("acme")
    f = platform.fault("orders.list", "status", status=503, retry_after=2)
    assert f["count"] == 1 and f["id"]
    r = c.get("/api/v1/orders")
    assert r.status == 503 and r.header("Retry-After") == "2"
    assert r.error["code"] == "unavailable"
    assert c.get("/api/v1/orders").status == 200  # used up


def test_status_500_twice(platform):
    c = platform.create_account("acme")
    platform.fault("fees.get", "status", status=500, count=2)
    res = [c.get("/api/v1/fees") for _ in range(3)]
    assert [r.status for r in res] == [500, 500, 200]
    assert res[0].error["code"] == "internal_error" and res[0].header("Retry-After") is None


def test_status_fault_does_nothing(platform):
    c = platform.create_account("acme")
    platform.fault("applications.create", "status", status=503, retry_after=1)
    platform.provision("acme", "org", ec_key(), days=30)
    app = renewal_app(persons=[], org={"years": 1, "count": 1})
    k = key_id()
    r = apply(c, app, key=k)
    assert r.status == 503
    assert c.get("/api/v1/orders").json["total"] == 0
    r = apply(c, app, key=k)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None


def test_delay(platform):
    c = platform.create_account("acme")
    platform.fault("fees.get", "delay", delay_ms=400)
    t = time.time()
    assert c.get("/api/v1/fees").status == 200
    assert time.time() - t >= 0.4
    # one-shot: the fault was consumed by that call (no upper-bound timing on a loaded machine)
    assert platform.op.get("/api/v1/operator/faults").json["items"] == []
    assert c.get("/api/v1/fees").status == 200


def test_drop_before_does_nothing(platform):
    r = Renewal(platform, approve=False)
    platform.fault("orders.cancel", "drop_before")
    k = key_id()
    with pytest.raises(CONN_ERRORS):
        r.client.post("/api/v1/orders/%s/cancel" % r.number, {}, key=k)
    assert r.client.get("/api/v1/orders/" + r.number).json["order_status"] == "awaiting_verification"
    res = r.client.post("/api/v1/orders/%s/cancel" % r.number, {}, key=k)
    assert res.status == 200 and res.header("Idempotent-Replayed") is None


def test_drop_after_application_then_replay(platform):
    c = platform.create_account("acme")
    platform.provision("acme", "org", ec_key(), days=30)
    platform.fault("applications.create", "drop_after")
    app = renewal_app(persons=[], org={"years": 1, "count": 1})
    k = key_id()
    with pytest.raises(CONN_ERRORS):
        apply(c, app, key=k)
    orders = c.get("/api/v1/orders").json
    assert orders["total"] == 1  # the server did the work
    r = apply(c, app, key=k)
    assert r.status == 201 and r.header("Idempotent-Replayed") == "true"
    assert r.json["number"] == orders["items"][0]["number"]
    assert c.get("/api/v1/orders").json["total"] == 1


def test_drop_after_issue_never_issues_twice(platform):
    r = Renewal(platform)
    platform.fault("items.issue", "drop_after")
    ch = r.challenge()
    body = r.issue_body(ch, ec_key())
    k = key_id()
    with pytest.raises(CONN_ERRORS):
        r.client.post(r.path("/issue"), body, key=k)
    got = r.client.get(r.path("/certificate"))  # resume: was a certificate issued?
    assert got.status == 200
    res = r.client.post(r.path("/issue"), body, key=k)
    assert res.status == 201 and res.header("Idempotent-Replayed") == "true"
    assert res.json == got.json
    iss = platform.op.get("/api/v1/operator/orders/%s/items/1/issuances" % r.number).json["items"]
    assert len(iss) == 1


def test_drop_after_confirm(platform):
    r = Renewal(platform)
    _, issued = r.issue()
    platform.fault("items.confirm", "drop_after")
    k = key_id()
    with pytest.raises(CONN_ERRORS):
        r.client.post(r.path("/confirm"), {"serial": issued.json["serial"]}, key=k)
    assert r.client.get("/api/v1/orders/" + r.number).json["order_status"] == "completed"
    res = r.client.post(r.path("/confirm"), {"serial": issued.json["serial"]}, key=k)
    assert res.status == 200 and res.header("Idempotent-Replayed") == "true"


def test_truncate(platform):
    r = Renewal(platform)
    platform.fault("orders.get", "truncate")
    with pytest.raises(CONN_ERRORS):
        r.client.get("/api/v1/orders/" + r.number)
    assert r.client.get("/api/v1/orders/" + r.number).status == 200


def test_truncate_after_commit(platform):
    r = Renewal(platform, approve=False)
    platform.fault("orders.resubmit", "truncate")
    with pytest.raises(CONN_ERRORS):
        r.client.post("/api/v1/orders/%s/resubmit" % r.number, {})
    # the server did the work (the action is idempotent in effect)
    assert r.client.get("/api/v1/orders/" + r.number).json["review_status"] == "not_reviewed"


def test_malformed(platform):
    c = platform.create_account("acme")
    platform.fault("orders.list", "malformed")
    r = c.get("/api/v1/orders")
    assert r.status == 200 and int(r.header("Content-Length")) == len(r.body)
    with pytest.raises(ValueError):
        json.loads(r.body.decode("utf-8", "replace"))
    assert c.get("/api/v1/orders").json["total"] == 0


def test_wildcard_fault_and_operator_immunity(platform):
    c = platform.create_account("acme")
    platform.fault("*", "status", status=503, count=2)
    assert platform.op.get("/api/v1/operator/faults").status == 200  # the operator API is never faulted
    assert c.get("/api/v1/fees").status == 503
    assert c.get("/api/v1/enterprise").status == 503
    assert c.get("/api/v1/fees").status == 200


def test_fault_management(platform):
    c = platform.create_account("acme")
    a = platform.fault("fees.get", "status")
    platform.fault("orders.get", "delay", delay_ms=5, count=3)
    lst = platform.op.get("/api/v1/operator/faults").json["items"]
    assert [(f["endpoint"], f["kind"], f["count"]) for f in lst] == [("fees.get", "status", 1),
                                                                    ("orders.get", "delay", 3)]
    assert platform.op.call("DELETE", "/api/v1/operator/faults/%d" % a["id"]).status == 204
    assert platform.op.call("DELETE", "/api/v1/operator/faults/%d" % a["id"]).status == 404
    assert c.get("/api/v1/fees").status == 200
    assert platform.op.call("DELETE", "/api/v1/operator/faults").status == 204
    assert platform.op.get("/api/v1/operator/faults").json["items"] == []
    for body, field in (({"endpoint": "nope", "kind": "status"}, "endpoint"),
                        ({"endpoint": "fees.get", "kind": "explode"}, "kind"),
                        ({"endpoint": "fees.get", "kind": "delay"}, "delay_ms"),
                        ({"endpoint": "fees.get", "kind": "status", "status": 404}, "status"),
                        ({"endpoint": "fees.get", "kind": "status", "count": 0}, "count")):
        r = platform.op.call("POST", "/api/v1/operator/faults", body)
        assert r.status == 422 and r.error["field"] == field, body


def test_same_key_in_flight(platform):
    c = platform.create_account("acme")
    r = apply(c, renewal_app(business="new"))
    o = r.json
    platform.fault("orders.pay", "delay", delay_ms=1200)
    k = key_id()
    out = {}

    def first():
        c1 = platform.client(c.token)
        out["a"] = c1.post("/api/v1/orders/%s/pay" % o["number"], {"method": "alipay", "amount_fen": 40000}, key=k)

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.4)
    c2 = platform.client(c.token)
    b = c2.post("/api/v1/orders/%s/pay" % o["number"], {"method": "alipay", "amount_fen": 40000}, key=k)
    t.join(10)
    assert b.status == 409 and b.error["code"] == "idempotency_key_in_use" and b.header("Retry-After") == "1"
    assert out["a"].status == 200
    again = c2.post("/api/v1/orders/%s/pay" % o["number"], {"method": "alipay", "amount_fen": 40000}, key=k)
    assert again.status == 200 and again.header("Idempotent-Replayed") == "true" and again.body == out["a"].body
