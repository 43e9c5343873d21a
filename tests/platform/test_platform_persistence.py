# SPDX-License-Identifier: MIT
"""A restart (kill -9) in the middle of any flow loses nothing."""
import signal

from platform_client import Renewal, apply, ec_key, key_id, renewal_app


def test_restart_between_challenge_and_issue(platform):
    r = Renewal(platform)
    ch = r.challenge()
    platform.restart()
    r.client = platform.client(r.client.token)
    res = r.client.post(r.path("/issue"), r.issue_body(ch, ec_key()))
    assert res.status == 201, res


def test_restart_between_issue_and_confirm(platform):
    r = Renewal(platform)
    k = key_id()
    ch = r.challenge()
    body = r.issue_body(ch, ec_key())
    first = r.client.post(r.path("/issue"), body, key=k)
    assert first.status == 201
    platform.restart()
    c = platform.client(r.client.token)
    assert c.get(r.path("/certificate")).json == first.json
    again = c.post(r.path("/issue"), body, key=k)
    assert again.body == first.body and again.header("Idempotent-Replayed") == "true"
    used = c.post(r.path("/issue"), body)  # the challenge was used: the record says so after the restart too
    assert (used.status, used.error["code"]) == (409, "challenge_used")
    conf = c.post(r.path("/confirm"), {"serial": first.json["serial"]})
    assert conf.status == 200 and conf.json["order_status"] == "completed"
    platform.restart(signal.SIGTERM)
    c = platform.client(r.client.token)
    assert c.get(r.path("/seal")).status == 200
    iss = platform.op.get("/api/v1/operator/orders/%s/items/1/issuances" % r.number).json["items"]
    assert len(iss) == 1


def test_restart_keeps_idempotency_records_and_orders(platform):
    c = platform.create_account("acme")
    platform.provision("acme", "org", ec_key(), days=30)
    app = renewal_app(persons=[], org={"years": 1, "count": 1})
    k = key_id()
    first = apply(c, app, key=k)
    platform.review(first.json["number"], "reject", "请补充")
    platform.restart()
    c = platform.client(c.token)
    again = apply(c, app, key=k)
    assert again.status == 201 and again.body == first.body
    o = c.get("/api/v1/orders/" + first.json["number"]).json
    assert (o["review_status"], o["review_comment"]) == ("rejected", "请补充")
    assert c.get("/api/v1/notifications").json["total"] == 1
    assert c.get("/api/v1/orders").json["total"] == 1


def test_restart_keeps_settings_and_faults(platform):
    c = platform.create_account("acme")
    platform.settings(review_retry_after=9)
    platform.fault("fees.get", "status", count=1)
    platform.restart()
    c = platform.client(c.token)
    assert c.get("/api/v1/fees").status == 503
    assert c.get("/api/v1/fees").status == 200
    assert platform.op.get("/api/v1/operator/settings").json["review_retry_after"] == 9
