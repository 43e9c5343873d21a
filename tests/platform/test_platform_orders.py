# SPDX-License-Identifier: MIT
"""Orders: list, filters, pagination, ETag and polling hints, and every legal and illegal transition."""
import pytest

from platform_client import PERSON, Renewal, apply, b64, ec_key, files_for, make_csr, renewal_app, valid_id

ORDER_ACTIONS = ("view", "edit", "resubmit", "pay", "cancel", "rate", "receive")


def expected_actions(o):
    """doc/protocol.md's action table, computed independently."""
    av = o["order_status"] == "awaiting_verification"
    a = ["view"]
    if av and o["review_status"] in ("not_reviewed", "rejected"):
        a += ["edit", "resubmit"]
    if av and o["payment_status"] == "unpaid":
        a.append("pay")
    if av and o["payment_status"] != "paid":
        a.append("cancel")
    if o["order_status"] == "completed" and o["rating"] is None:
        a.append("rate")
    if o["shipping_status"] == "awaiting_receipt":
        a.append("receive")
    return a


def new_order(c, persons=(PERSON,)):
    r = apply(c, renewal_app(persons=persons, business="new"))
    assert r.status == 201, r
    return r.json


def act(c, number, action, body=None, key="auto"):
    return c.post("/api/v1/orders/%s/%s" % (number, action), body if body is not None else {}, key=key)


def pay(c, o):
    return act(c, o["number"], "pay", {"method": "alipay", "amount_fen": o["amount_fen"]})


def test_actions_table_on_every_demo_order(demo):
    c = demo.login()
    orders = c.get("/api/v1/orders?per_page=100").json["items"]
    assert len(orders) >= 8
    for o in orders:
        assert o["actions"] == expected_actions(o), o["number"]
        for it in o["items"]:
            want = ["view", "update"] if (o["business"] == "renewal" and o["order_status"] == "awaiting_issuance"
                                          and it["status"] in ("pending", "issued")) else ["view"]
            if (o["business"] == "new" and o["order_status"] == "awaiting_issuance"
                    and o["shipping_status"] == "received" and it["status"] in ("pending", "issued")):
                want = ["view", "issue"]
            assert it["actions"] == want


def test_list_pagination_over_500_orders(platform):
    c = platform.create_account("acme")
    start = "2026-01-01T00:00:00Z"
    r = platform.op.post("/api/v1/operator/accounts/acme/orders",
                         {"count": 500, "business": "mixed", "start": start, "step_seconds": 3600})
    assert r.status == 201 and len(r.json["numbers"]) == 500
    first = c.get("/api/v1/orders").json
    assert (first["page"], first["per_page"], first["total"], first["pages"]) == (1, 20, 500, 25)
    seen = []
    for page in range(1, 6):
        r = c.get("/api/v1/orders?per_page=100&page=%d" % page).json
        assert r["pages"] == 5 and len(r["items"]) == 100
        seen += [o["number"] for o in r["items"]]
    assert len(set(seen)) == 500
    created = [o["created_at"] for o in c.get("/api/v1/orders?per_page=100").json["items"]]
    assert created == sorted(created, reverse=True)
    assert c.get("/api/v1/orders?page=99").json["items"] == []


def test_list_filters(platform):
    c = platform.create_account("acme")
    platform.op.post("/api/v1/operator/accounts/acme/orders",
                     {"count": 48, "business": "mixed", "start": "2026-03-01T00:00:00Z", "step_seconds": 3600})
    r = c.get("/api/v1/orders?business=new&per_page=100").json
    assert r["total"] == 24 and all(o["business"] == "new" for o in r["items"])
    r = c.get("/api/v1/orders?from=2026-03-02&to=2026-03-02&per_page=100").json
    assert r["total"] == 24 and all(o["created_at"].startswith("2026-03-02") for o in r["items"])
    r = c.get("/api/v1/orders?from=2026-03-02").json
    assert r["total"] == 24
    r = c.get("/api/v1/orders?to=2026-03-01&business=renewal").json
    assert r["total"] == 12
    some = r["items"][3]["number"]
    r = c.get("/api/v1/orders?number=" + some).json
    assert [o["number"] for o in r["items"]] == [some]
    assert c.get("/api/v1/orders?number=Ca20260301").json["total"] == 24
    assert c.get("/api/v1/orders?kind=org").json["total"] == 48
    assert c.get("/api/v1/orders?kind=personal").json["total"] == 0
    assert c.get("/api/v1/orders?business=").json["total"] == 48


@pytest.mark.parametrize("query,field,rule", [
    ("business=lease", "business", "enum"), ("kind=car", "kind", "enum"), ("from=2026-13-01", "from", "format"),
    ("to=20260101", "to", "format"), ("from=2026-02-02&to=2026-02-01", "to", "range"),
    ("number=" + "9" * 28, "number", "max_length"), ("per_page=1000", "per_page", "range"),
    ("status=open", "status", "unknown_field")])
def test_list_filter_errors(platform, query, field, rule):
    c = platform.create_account("acme")
    r = c.get("/api/v1/orders?" + query)
    assert r.status == 422 and (r.error["field"], r.error["rule"]) == (field, rule)


def test_orders_of_another_account_are_not_found(platform):
    r = Renewal(platform)
    other = platform.create_account("other")
    assert other.get("/api/v1/orders/" + r.number).status == 404
    assert other.get("/api/v1/orders").json["total"] == 0
    assert act(other, r.number, "cancel").status == 404
    assert other.post(r.path("/challenge"), {}, key=None).status == 404
    assert other.get(r.path()).status == 404


def test_etag_and_retry_after(platform):
    c = platform.create_account("acme")
    platform.settings(review_retry_after=7)
    o = new_order(c)
    path = "/api/v1/orders/" + o["number"]
    r = c.get(path)
    etag = r.header("ETag")
    assert etag and etag.startswith('"')
    assert r.header("Retry-After") is None  # unpaid: waits on the client, not on review
    r = c.get(path, headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b"" and r.header("ETag") == etag
    assert pay(c, o).status == 200
    r = c.get(path, headers={"If-None-Match": etag})
    assert r.status == 200 and r.header("ETag") != etag
    assert r.header("Retry-After") == "7"  # paid, waiting on review
    etag2 = r.header("ETag")
    r = c.get(path, headers={"If-None-Match": etag2})
    assert r.status == 304 and r.header("Retry-After") == "7"
    platform.review(o["number"])
    r = c.get(path, headers={"If-None-Match": etag2})
    assert r.status == 200 and r.header("Retry-After") is None


def test_item_get(platform):
    r = Renewal(platform)
    it = r.client.get(r.path()).json
    assert it["index"] == 1 and it["kind"] == "personal" and it["actions"] == ["view", "update"]
    assert it["old_certificate_serial"] == r.old_serial
    assert r.client.get(r.path(idx=2)).status == 404
    assert r.client.get("/api/v1/orders/%s/items/0" % r.number).status == 404
    assert r.client.get("/api/v1/orders/%s/items/x" % r.number).status == 404


# ------------------------------------------------------------------ transitions

def test_pay(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    r = act(c, o["number"], "pay", {"method": "alipay", "amount_fen": 100})
    assert (r.status, r.error["field"], r.error["rule"]) == (422, "amount_fen", "mismatch")
    r = act(c, o["number"], "pay", {"method": "cash", "amount_fen": 40000})
    assert (r.status, r.error["field"], r.error["rule"]) == (422, "method", "enum")
    r = act(c, o["number"], "pay", {})
    assert {(e["field"], e["rule"]) for e in r.error["errors"]} == {("method", "required"),
                                                                   ("amount_fen", "required")}
    r = pay(c, o)
    assert r.status == 200
    p = r.json
    assert p["payment_status"] == "paid" and p["payment_method"] == "alipay" and p["paid_at"]
    assert p["actions"] == ["view", "edit", "resubmit"]
    r = pay(c, p)
    assert (r.status, r.error["code"], r.error["rule"]) == (409, "invalid_transition", "pay")


def test_pay_refused_when_nothing_is_owed(platform):
    r = Renewal(platform, approve=False)
    res = act(r.client, r.number, "pay", {"method": "alipay", "amount_fen": 0})
    assert (res.status, res.error["code"]) == (409, "invalid_transition")


def test_cancel(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    r = act(c, o["number"], "cancel", {"reason": "不需要了"})
    assert r.status == 200
    assert r.json["order_status"] == "closed" and r.json["actions"] == ["view"]
    assert all(i["status"] == "cancelled" for i in r.json["items"])
    for action, body in (("cancel", {}), ("pay", {"method": "alipay", "amount_fen": 40000}), ("resubmit", {}),
                         ("rate", {"score": 5})):
        res = act(c, o["number"], action, body)
        assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", action)
    res = c.multipart("PUT", "/api/v1/orders/" + o["number"], renewal_app(business="new"),
                      files_for(renewal_app()))
    assert (res.status, res.error["rule"]) == (409, "edit")


def test_cancel_after_payment_refused(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    pay(c, o)
    r = act(c, o["number"], "cancel")
    assert (r.status, r.error["code"], r.error["rule"]) == (409, "invalid_transition", "cancel")


def test_cancel_frees_the_certificate(platform):
    r = Renewal(platform, approve=False)
    assert act(r.client, r.number, "cancel").status == 200
    assert apply(r.client, renewal_app()).status == 201


def test_approve_needs_payment(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    res = platform.op.post("/api/v1/operator/orders/%s/review" % o["number"], {"decision": "approve"})
    assert (res.status, res.error["code"]) == (409, "payment_required")
    pay(c, o)
    a = platform.review(o["number"])
    assert (a["review_status"], a["order_status"]) == ("approved", "awaiting_issuance")
    assert a["actions"] == ["view"]
    sms = c.get("/api/v1/notifications").json["items"][0]
    assert "新购" in sms["text"] and o["number"] in sms["text"]
    res = platform.op.post("/api/v1/operator/orders/%s/review" % o["number"], {"decision": "approve"})
    assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", "approve")
    res = platform.op.post("/api/v1/operator/orders/%s/review" % o["number"], {"decision": "reject", "comment": "x"})
    assert (res.status, res.error["rule"]) == (409, "reject")
    for action, body in (("cancel", {}), ("resubmit", {}), ("rate", {"score": 3})):
        res = act(c, o["number"], action, body)
        assert res.status == 409 and res.error["rule"] == action


def test_review_validation(platform):
    r = Renewal(platform, approve=False)
    res = platform.op.post("/api/v1/operator/orders/%s/review" % r.number, {"decision": "reject"})
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "comment", "required")
    res = platform.op.post("/api/v1/operator/orders/%s/review" % r.number, {"decision": "maybe"})
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "decision", "enum")
    res = platform.op.post("/api/v1/operator/orders/Ca000/review", {"decision": "approve"})
    assert res.status == 404


def test_reject_edit_resubmit_approve(platform):
    r = Renewal(platform, approve=False)
    c = r.client
    rej = platform.review(r.number, "reject", "承诺函扫描件不清晰")
    assert (rej["review_status"], rej["review_comment"], rej["order_status"]) == (
        "rejected", "承诺函扫描件不清晰", "awaiting_verification")
    assert rej["actions"] == ["view", "edit", "resubmit", "cancel"]
    sms = c.get("/api/v1/notifications").json["items"][0]
    assert "审核不通过" in sms["text"] and "承诺函扫描件不清晰" in sms["text"]
    # edit: a new contact and a new scan; the same certificate stays bound (the order's own binding is free)
    app = renewal_app()
    app["contact"]["name"] = "新联系人"
    res = c.multipart("PUT", "/api/v1/orders/" + r.number, app, files_for(app))
    assert res.status == 200, res
    e = res.json
    assert e["contact"]["name"] == "新联系人" and e["review_status"] == "rejected"
    assert e["items"][0]["old_certificate_serial"] == r.old_serial
    # edit is checked like an application
    bad = renewal_app()
    bad["contact"]["mobile"] = "110"
    res = c.multipart("PUT", "/api/v1/orders/" + r.number, bad, files_for(bad))
    assert (res.status, res.error["field"]) == (422, "contact.mobile")
    res = c.multipart("PUT", "/api/v1/orders/" + r.number, renewal_app(business="new"), files_for(app))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "business", "mismatch")
    res = c.multipart("PUT", "/api/v1/orders/" + r.number, app, files_for(app), key=None)
    assert res.status == 400 and res.error["code"] == "idempotency_key_required"
    s = act(c, r.number, "resubmit")
    assert s.status == 200
    assert (s.json["review_status"], s.json["review_comment"]) == ("not_reviewed", None)
    a = platform.review(r.number)
    assert a["order_status"] == "awaiting_issuance"
    res = c.multipart("PUT", "/api/v1/orders/" + r.number, app, files_for(app))
    assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", "edit")


def test_edit_paid_order_may_not_change_amount(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    pay(c, o)
    platform.review(o["number"], "reject", "补充材料")
    app = renewal_app(persons=[PERSON, ("李测试", valid_id("440305", "19920202", "246"), "职员")], business="new")
    res = c.multipart("PUT", "/api/v1/orders/" + o["number"], app, files_for(app))
    assert (res.status, res.error["code"]) == (409, "amount_changed_after_payment")
    same = renewal_app(business="new")
    same["contact"]["email"] = "new@example.com"
    res = c.multipart("PUT", "/api/v1/orders/" + o["number"], same, files_for(same))
    assert res.status == 200 and res.json["payment_status"] == "paid"


def test_edit_recomputes_amount_when_unpaid(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    app = renewal_app(persons=[PERSON, ("李测试", valid_id("440305", "19920202", "246"), "职员")], business="new")
    res = c.multipart("PUT", "/api/v1/orders/" + o["number"], app, files_for(app))
    assert res.status == 200 and res.json["amount_fen"] == 80000 and res.json["quantity"] == 2
    assert res.json["payment_status"] == "unpaid"


def test_resubmit_unreviewed_order_keeps_it_in_queue(platform):
    r = Renewal(platform, approve=False)
    s = act(r.client, r.number, "resubmit")
    assert s.status == 200 and s.json["review_status"] == "not_reviewed"


def test_rate(platform):
    c = platform.create_account("acme")
    o = new_order(c)
    res = act(c, o["number"], "rate", {"score": 5})
    assert (res.status, res.error["rule"]) == (409, "rate")
    pay(c, o)
    platform.review(o["number"])
    # a new-certificate order: the operator issues and ships the key
    res = platform.op.post("/api/v1/operator/orders/%s/items/1/fulfil" % o["number"],
                           {"csr": b64(make_csr(ec_key())), "key_serial": "1A29NEW000000001"})
    assert res.status == 201, res
    done = c.get("/api/v1/orders/" + o["number"]).json
    assert (done["order_status"], done["shipping_status"]) == ("completed", "awaiting_receipt")
    assert done["actions"] == ["view", "rate", "receive"]
    assert done["items"][0]["status"] == "completed" and done["items"][0]["certificate_serial"] == res.json["serial"]
    certs = c.get("/api/v1/certificates").json["items"]
    assert certs[0]["serial"] == res.json["serial"] and certs[0]["key_serial"] == "1A29NEW000000001"
    res = act(c, o["number"], "rate", {"score": 6})
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "score", "range")
    res = act(c, o["number"], "rate", {"score": 4, "comment": "很好"})
    assert res.status == 200
    assert res.json["rating"]["score"] == 4 and res.json["rating"]["comment"] == "很好"
    assert res.json["actions"] == ["view", "receive"]
    res = act(c, o["number"], "rate", {"score": 5})
    assert (res.status, res.error["code"]) == (409, "already_rated")
    d = platform.op.post("/api/v1/operator/orders/%s/deliver" % o["number"], {})
    assert d.status == 200 and d.json["shipping_status"] == "received"
    d = platform.op.post("/api/v1/operator/orders/%s/deliver" % o["number"], {})
    assert (d.status, d.error["rule"]) == (409, "deliver")


def test_fulfil_refused_for_renewal_and_before_approval(platform):
    r = Renewal(platform, approve=False)
    res = platform.op.post("/api/v1/operator/orders/%s/items/1/fulfil" % r.number, {"csr": b64(make_csr(ec_key()))})
    assert (res.status, res.error["rule"]) == (409, "fulfil")
    platform.review(r.number)
    res = platform.op.post("/api/v1/operator/orders/%s/items/1/fulfil" % r.number, {"csr": b64(make_csr(ec_key()))})
    assert (res.status, res.error["rule"]) == (409, "fulfil")


def test_issue_refused_on_a_new_certificate_order_until_the_key_is_received(platform):
    # a new order's item has `issue` (doc/protocol.md section 19), not `update`, and only once received
    c = platform.create_account("acme")
    o = new_order(c)
    pay(c, o)
    platform.review(o["number"])
    res = c.post("/api/v1/orders/%s/items/1/challenge" % o["number"], {}, key=None)
    assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", "issue")


def test_update_refused_before_approval(platform):
    r = Renewal(platform, approve=False)
    res = r.client.post(r.path("/challenge"), {}, key=None)
    assert (res.status, res.error["rule"]) == (409, "update")
    res = r.client.post(r.path("/confirm"), {"serial": "00"})
    assert (res.status, res.error["code"]) == (409, "invalid_transition")


def test_operator_order_view_and_bulk_errors(platform):
    r = Renewal(platform)
    o = platform.op.get("/api/v1/operator/orders/" + r.number).json
    assert o["account"] == "acme" and o["number"] == r.number
    res = platform.op.post("/api/v1/operator/accounts/nobody/orders", {"count": 1})
    assert res.status == 404
    res = platform.op.post("/api/v1/operator/accounts/acme/orders", {"count": 0})
    assert (res.status, res.error["field"]) == (422, "count")
    assert platform.op.get("/api/v1/operator/accounts").json["items"][0]["account"] == "acme"
