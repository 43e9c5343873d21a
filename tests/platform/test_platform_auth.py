# SPDX-License-Identifier: MIT
"""Sessions, tokens, the operator's token, the reads, and the HTTP-level rules (errors, limits)."""
import http.client
import json
import re
import time

import pytest

from platform_client import PERSON, Renewal, ec_key

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_login_and_logout(platform):
    platform.create_account("acme")
    c = platform.client()
    r = c.call("POST", "/api/v1/session", {"account": "acme", "password": "Passw0rd!"})
    assert r.status == 201
    assert set(r.json) == {"token", "expires_at", "expires_in", "account", "role", "method"}
    assert r.json["method"] == "password"
    assert r.json["expires_in"] == 3600 and TS.match(r.json["expires_at"])
    assert r.json["account"] == "acme" and r.json["role"] == "tenderer"
    c.token = r.json["token"]
    assert c.get("/api/v1/account").json["account"] == "acme"
    r = c.call("DELETE", "/api/v1/session")
    assert r.status == 204 and r.body == b""
    r = c.get("/api/v1/account")
    assert r.status == 401 and r.error["code"] == "unauthorized"


def test_scrypt_account_login(platform):
    r = platform.op.post("/api/v1/operator/accounts", {
        "account": "s1", "password": "Secr3t!", "role": "bidder",
        "enterprise": {"name": "某某公司", "legal_representative": {"name": "甲", "id_type": "passport",
                                                                   "id_number": "E12345678"}}})
    assert r.status == 201
    c = platform.login("s1", "Secr3t!")
    assert c.get("/api/v1/enterprise").json["role"] == "bidder"
    r = platform.op.post("/api/v1/operator/accounts", {"account": "s1", "password": "x", "enterprise": {
        "name": "x", "legal_representative": {"name": "甲", "id_type": "passport", "id_number": "E12345678"}}})
    assert r.status == 409 and r.error["code"] == "already_exists"


@pytest.mark.parametrize("body", [{"account": "acme", "password": "wrong"}, {"account": "nobody", "password": "x"}])
def test_invalid_credentials(platform, body):
    platform.create_account("acme")
    r = platform.client().call("POST", "/api/v1/session", body)
    assert r.status == 401 and r.error["code"] == "invalid_credentials"


def test_login_validation_lists_every_field(platform):
    r = platform.client().call("POST", "/api/v1/session", {"user": "x"})
    assert r.status == 422 and r.error["code"] == "validation_failed"
    got = {(e["field"], e["rule"]) for e in r.error["errors"]}
    assert got == {("user", "unknown_field"), ("account", "required"), ("password", "required")}


@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer nonsense", "Basic YWNtZTpQYXNzdzByZCE="])
def test_unauthorized(platform, auth):
    h = {"Authorization": auth} if auth else {}
    r = platform.client().raw("GET", "/api/v1/orders", headers=h)
    assert r.status == 401 and r.error["code"] == "unauthorized"
    assert r.header("WWW-Authenticate").startswith("Bearer")


def test_token_expired(platform):
    platform.create_account("acme")
    platform.settings(token_ttl=1)
    c = platform.login("acme", "Passw0rd!")
    assert c.get("/api/v1/fees").status == 200
    time.sleep(1.2)
    r = c.get("/api/v1/fees")
    assert r.status == 401 and r.error["code"] == "token_expired"
    # a new login works, and the operator's GET shows the setting
    platform.settings(token_ttl=3600)
    assert platform.op.get("/api/v1/operator/settings").json["token_ttl"] == 3600
    assert platform.login("acme", "Passw0rd!").get("/api/v1/fees").status == 200


def test_operator_auth(platform):
    c = platform.create_account("acme")
    r = c.get("/api/v1/operator/settings")
    assert r.status == 403 and r.error["code"] == "forbidden"
    r = platform.client().get("/api/v1/operator/settings")
    assert r.status == 401 and r.error["code"] == "unauthorized"
    r = platform.client("wrong").get("/api/v1/operator/settings")
    assert r.status == 401
    # the operator token is not an account token
    r = platform.op.get("/api/v1/orders")
    assert r.status == 401


def test_reads(platform):
    c = platform.create_account("acme")
    ent = c.get("/api/v1/enterprise").json
    assert ent["name"] == "测试acme有限公司" and ent["role"] == "tenderer"
    assert set(ent["legal_representative"]) == {"name", "id_type", "id_number"}
    fees = c.get("/api/v1/fees").json
    assert fees["currency"] == "CNY" and len(fees["items"]) == 6
    assert {(f["business"], f["kind"], f["years"], f["price_fen"]) for f in fees["items"]} == {
        ("renewal", "org", 1, 0), ("renewal", "legal_rep", 1, 0), ("renewal", "personal", 1, 0),
        ("new", "org", 1, 40000), ("new", "legal_rep", 1, 40000), ("new", "personal", 1, 40000)}
    assert c.get("/api/v1/persons").json == {"items": [], "page": 1, "per_page": 20, "total": 0, "pages": 0}
    assert c.get("/api/v1/notifications").json["total"] == 0
    key = ec_key()
    prov = platform.provision("acme", "personal", key, days=20, holder_name=PERSON[0], holder_id=PERSON[1],
                              position=PERSON[2], key_serial="1A29TEST00000009")
    platform.provision("acme", "org", ec_key(), days=400)
    certs = c.get("/api/v1/certificates").json
    assert certs["total"] == 2
    first = certs["items"][0]  # soonest-ending first
    assert first["serial"] == prov["serial"] and re.match(r"^[0-9a-f]{32}$", first["serial"])
    assert first["kind"] == "personal" and first["holder"] == PERSON[0] and first["holder_id_number"] == PERSON[1]
    assert first["status"] == "valid" and first["key_serial"] == "1A29TEST00000009"
    assert first["days_left"] in (19, 20) and first["renewable"] is True
    assert first["renewal_window"] == {"opens_at": first["not_before"], "closes_at": first["not_after"]}
    assert "CN=" + PERSON[0] in first["subject"]
    org = certs["items"][1]
    assert org["kind"] == "org" and org["holder_id_number"] is None and org["holder"] == ent["name"]
    assert c.get("/api/v1/certificates?kind=org").json["total"] == 1
    assert c.get("/api/v1/certificates?status=expired").json["total"] == 0
    persons = c.get("/api/v1/persons").json["items"]
    assert [(p["name"], p["id_number"], p["position"]) for p in persons] == [PERSON]
    assert c.get("/api/v1/notifications?per_page=5").json["per_page"] == 5


def test_notifications_are_the_sms(platform):
    r = Renewal(platform)
    n = r.client.get("/api/v1/notifications").json
    assert n["total"] == 1
    sms = n["items"][0]
    assert sms["channel"] == "sms" and sms["mobile"] == "13800138000" and sms["order_number"] == r.number
    assert r.number in sms["text"] and "审核通过" in sms["text"] and "更新" in sms["text"]


@pytest.mark.parametrize("query,field,rule", [
    ("per_page=0", "per_page", "range"), ("per_page=101", "per_page", "range"), ("page=0", "page", "range"),
    ("page=abc", "page", "type"), ("foo=1", "foo", "unknown_field"), ("kind=car", "kind", "enum")])
def test_list_parameters(platform, query, field, rule):
    c = platform.create_account("acme")
    r = c.get("/api/v1/certificates?" + query)
    assert r.status == 422 and (r.error["field"], r.error["rule"]) == (field, rule)


def test_not_found_and_method_not_allowed(platform):
    c = platform.create_account("acme")
    r = c.get("/api/v1/nothing")
    assert r.status == 404 and r.error == {"code": "not_found", "message": r.error["message"], "field": None,
                                           "rule": None}
    r = c.call("PUT", "/api/v1/fees", {})
    assert r.status == 405 and r.error["code"] == "method_not_allowed" and r.header("Allow") == "GET"
    r = c.get("/api/v1/orders/Ca2026010100000000000000000")
    assert r.status == 404
    assert re.match(r"^[0-9a-f]{32}$", r.header("X-Request-Id"))


def test_json_body_rules(platform):
    platform.create_account("acme")
    c = platform.client()
    path = "/api/v1/session"
    cases = [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"[1,2]", "application/json", 400, "malformed_json"),
        (b'{"account":"a","account":"b","password":"x"}', "application/json", 400, "malformed_json"),
        (b'{"account":NaN}', "application/json", 400, "malformed_json"),
        (b"\xef\xbb\xbf{}", "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        (b"{" + b'"a":{' * 40 + b"1" + b"}" * 41, "application/json", 400, "malformed_json"),
        (b'{"account":"acme","password":"Passw0rd!"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"account":"acme","password":"Passw0rd!"}', "application/json; charset=latin-1", 415,
         "unsupported_media_type"),
    ]
    for body, ctype, status, code in cases:
        r = c.raw("POST", path, body, {"Content-Type": ctype})
        assert (r.status, r.error["code"]) == (status, code), (body[:20], r)
    r = c.raw("POST", path, b'{"account":"acme","password":"Passw0rd!"}',
              {"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 201


def test_json_body_too_large(platform):
    c = platform.create_account("acme")
    body = json.dumps({"reason": "x" * (1024 * 1024)}).encode()
    r = c.raw("POST", "/api/v1/orders/CaX/cancel", body, {"Content-Type": "application/json",
                                                             "Idempotency-Key": "k"})
    assert r.status == 413 and r.error["code"] == "payload_too_large"


def test_chunked_body_refused(platform):
    c = platform.create_account("acme")
    conn = http.client.HTTPSConnection("127.0.0.1", int(platform.url.rsplit(":", 1)[1]), context=c.ctx)
    conn.putrequest("POST", "/api/v1/session")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"2\r\n{}\r\n0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 411 and json.loads(r.read())["error"]["code"] == "length_required"
    conn.close()


def test_keep_alive_carries_a_flow(platform):
    c = platform.create_account("acme")
    c.get("/api/v1/fees")
    sock = c.conn.sock
    for _ in range(5):
        assert c.get("/api/v1/orders").status == 200
    assert c.conn.sock is sock


def test_huge_body_refused_before_reading(platform):
    c = platform.create_account("acme")
    conn = http.client.HTTPSConnection("127.0.0.1", int(platform.url.rsplit(":", 1)[1]), context=c.ctx)
    conn.putrequest("POST", "/api/v1/applications")
    conn.putheader("Authorization", "Bearer " + c.token)
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(10 ** 10))
    conn.putheader("Idempotency-Key", "k1")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"] == "payload_too_large"
    assert r.getheader("Connection") == "close"
    conn.close()


def test_bad_http(platform):
    c = platform.create_account("acme")
    r = c.raw("POST", "/api/v1/session", b"{}", {"Content-Type": "application/json", "Content-Length": "x1"})
    assert r.status == 400 and r.error["code"] == "bad_request"
    c = platform.login("acme", "Passw0rd!")
    r = c.get("/api/v1/orders?number=%ff")
    assert r.status == 400 and r.error["code"] == "bad_request"
