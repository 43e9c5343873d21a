# SPDX-License-Identifier: MIT
"""POST /api/v1/applications: every rule of the seed's form, each broken once, and idempotency."""
import copy
import datetime as _dt
import re

import pytest

from platform_client import (BMP, DOCX, GIF, JPG, PDF, PERSON, PNG, apply, ec_key, files_for, key_id, multipart_body,
                             renewal_app, valid_id)

LR_ID = valid_id("330106", "19700101", "011")  # the legal representative's number in create_account()
P2 = ("李测试", valid_id("440305", "19920202", "246"), "招标专员")


@pytest.fixture
def acme(platform):
    """An account whose person PERSON holds a current personal certificate, with an org and legal-rep one."""
    c = platform.create_account("acme")
    platform.provision("acme", "personal", ec_key(), days=30, holder_name=PERSON[0], holder_id=PERSON[1],
                       position=PERSON[2])
    platform.provision("acme", "org", ec_key(), days=60)
    platform.provision("acme", "legal_rep", ec_key(), days=90)
    return c


def full_app():
    return renewal_app(org={"years": 1, "count": 1},
                       legal_rep={"id_type": "id_card", "id_number": LR_ID, "years": 1, "count": 1})


def test_accepted_application_becomes_an_order(platform, acme):
    app = full_app()
    app["remark"] = "备注"
    before = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    r = apply(acme, app, files_for(app, **{"legal_rep.id_scan": GIF}))
    assert r.status == 201, r
    o = r.json
    assert r.header("Location") == "/api/v1/orders/" + o["number"]
    assert re.match(r"^Ca[0-9]{25}$", o["number"])
    stamp = _dt.datetime.strptime(o["number"][2:16], "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)
    assert before - _dt.timedelta(seconds=2) <= stamp <= before + _dt.timedelta(seconds=5)
    assert (o["review_status"], o["order_status"], o["payment_status"], o["shipping_status"]) == (
        "not_reviewed", "awaiting_verification", "not_required", "none")
    assert o["amount_fen"] == 0 and o["quantity"] == 3
    assert o["summary"] == "数量:3;续期(机构[测试acme有限公司];法定代表人[钱测试];其他个人[王测试])"
    assert [i["kind"] for i in o["items"]] == ["org", "legal_rep", "personal"]
    assert [i["index"] for i in o["items"]] == [1, 2, 3]
    assert o["items"][2]["certificate_type"] == "证书续期 (其他个人*1,CA证书)"
    assert all(i["old_certificate_serial"] for i in o["items"])
    assert o["actions"] == ["view", "edit", "resubmit", "cancel"]
    assert {a["field"]: a["type"] for a in o["attachments"]} == {
        "attachments.commitment_letter": "pdf", "persons[0].id_scan": "jpg", "legal_rep.id_scan": "gif"}
    assert o["contact"] == app["contact"] and o["remark"] == "备注"
    certs = acme.get("/api/v1/certificates").json["items"]
    assert all(c["renewable"] is False for c in certs)  # bound to the open order
    assert acme.get("/api/v1/orders/" + o["number"]).json == o


def test_new_certificate_application_costs_400_yuan(platform):
    c = platform.create_account("acme")
    app = renewal_app(persons=[PERSON, P2], business="new")
    app["persons"][1]["count"] = 2
    r = apply(c, app)
    assert r.status == 201, r
    o = r.json
    assert o["amount_fen"] == 3 * 40000 and o["payment_status"] == "unpaid" and o["quantity"] == 3
    assert o["actions"] == ["view", "edit", "resubmit", "pay", "cancel"]
    assert o["items"][0]["certificate_type"] == "证书新购 (其他个人*1,CA证书)"
    assert all(i["old_certificate_serial"] is None and i["actions"] == ["view"] for i in o["items"])
    persons = c.get("/api/v1/persons").json["items"]
    assert {p["id_number"] for p in persons} == {PERSON[1], P2[1]}


def test_every_attachment_type_accepted_by_content(platform, acme):
    for data in (JPG, BMP, GIF, PDF):
        app = renewal_app(persons=[], org={"years": 1, "count": 1})
        r = apply(acme, app, {"attachments.commitment_letter": data})
        assert r.status == 201, r
        assert acme.post("/api/v1/orders/%s/cancel" % r.json["number"], {}).status == 200


def test_lowercase_x_is_normalised(platform):
    c = platform.create_account("acme")
    num = None
    for seq in range(100, 999):
        cand = valid_id("110101", "19850505", str(seq))
        if cand.endswith("X"):
            num = cand
            break
    app = renewal_app(persons=[("张测试", num[:-1] + "x", "职员")], business="new")
    r = apply(c, app)
    assert r.status == 201, r
    assert r.json["application"]["persons"][0]["id_number"] == num
    assert r.json["items"][0]["holder_id_number"] == num


def test_attachment_of_exactly_3_mib(platform, acme):
    app = renewal_app()
    exact = PDF + b"\x00" * (3 * 1024 * 1024 - len(PDF))
    r = apply(acme, app, files_for(app, **{"attachments.commitment_letter": exact}))
    assert r.status == 201, r
    assert r.json["attachments"][0]["size"] == 3145728
    app2 = renewal_app(persons=[], org={"years": 1, "count": 1})
    r = apply(acme, app2, {"attachments.commitment_letter": exact + b"\x00"})
    assert r.status == 422
    assert (r.error["field"], r.error["rule"]) == ("attachments.commitment_letter", "max_size")


def mutate(path, value):
    def f(app, files):
        obj = app
        keys = path.split(".")
        for k in keys[:-1]:
            m = re.match(r"^(\w+)\[(\d+)\]$", k)
            obj = obj[m.group(1)][int(m.group(2))] if m else obj[k]
        last = keys[-1]
        m = re.match(r"^(\w+)\[(\d+)\]$", last)
        if value is DELETE:
            del obj[last]
        elif m:
            obj[m.group(1)][int(m.group(2))] = value
        else:
            obj[last] = value
    return f


DELETE = object()


def set_files(kw):
    def f(app, files):
        for k, v in kw.items():
            if v is DELETE:
                files.pop(k, None)
            else:
                files[k] = v
    return f


def add_person(p):
    def f(app, files):
        app["persons"].append({"name": p[0], "id_number": p[1], "position": p[2], "years": 1, "count": 1})
        files["persons[%d].id_scan" % (len(app["persons"]) - 1)] = JPG
    return f


def many_persons(app, files):
    for i in range(51):
        app["persons"].append({"name": "人%d" % i, "id_number": valid_id("110101", "19800101", "%03d" % i),
                               "position": "职员", "years": 1, "count": 1})
        files["persons[%d].id_scan" % i] = JPG


def no_kinds(app, files):
    app["persons"] = []
    app.pop("org", None)
    app.pop("legal_rep", None)
    files.pop("persons[0].id_scan")


CASES = [
    # (name, mutation, field, rule)
    ("business missing", mutate("business", DELETE), "business", "required"),
    ("business unknown", mutate("business", "renew"), "business", "enum"),
    ("no kind ticked", no_kinds, "application", "kind_required"),
    ("org not an object", mutate("org", [1]), "org", "type"),
    ("years not offered", mutate("org.years", 2), "org.years", "not_offered"),
    ("years a string", mutate("org.years", "1"), "org.years", "type"),
    ("years missing", mutate("persons[0].years", DELETE), "persons[0].years", "required"),
    ("count 0", mutate("persons[0].count", 0), "persons[0].count", "range"),
    ("count 11", mutate("org.count", 11), "org.count", "range"),
    ("count boolean", mutate("org.count", True), "org.count", "type"),
    ("count missing", mutate("legal_rep.count", DELETE), "legal_rep.count", "required"),
    ("legal rep id type", mutate("legal_rep.id_type", "driver"), "legal_rep.id_type", "enum"),
    ("legal rep id missing", mutate("legal_rep.id_number", ""), "legal_rep.id_number", "required"),
    ("legal rep check digit", mutate("legal_rep.id_number", LR_ID[:17] + ("0" if LR_ID[17] != "0" else "1")),
     "legal_rep.id_number", "check_digit"),
    ("legal rep passport format", lambda a, f: a["legal_rep"].update(id_type="passport", id_number="e12"),
     "legal_rep.id_number", "format"),
    ("legal rep not the enterprise's", mutate("legal_rep.id_number", valid_id("110101", "19660606", "777")),
     "legal_rep.id_number", "mismatch"),
    ("id 17 digits", mutate("persons[0].id_number", PERSON[1][:17]), "persons[0].id_number", "format"),
    ("id letters", mutate("persons[0].id_number", "11010119900101123A"), "persons[0].id_number", "format"),
    ("id region", mutate("persons[0].id_number", valid_id("990101", "19900101", "123")), "persons[0].id_number",
     "region"),
    ("id birth date Feb 30", mutate("persons[0].id_number", valid_id("110101", "19900230", "123")),
     "persons[0].id_number", "birth_date"),
    ("id born in the future", mutate("persons[0].id_number", valid_id("110101", "20991231", "123")),
     "persons[0].id_number", "birth_date"),
    ("id born before 1900", mutate("persons[0].id_number", valid_id("110101", "18991231", "123")),
     "persons[0].id_number", "birth_date"),
    ("id check digit", mutate("persons[0].id_number", PERSON[1][:17] + ("1" if PERSON[1][17] != "1" else "2")),
     "persons[0].id_number", "check_digit"),
    ("id not a string", mutate("persons[0].id_number", 110101199001011234), "persons[0].id_number", "type"),
    ("same person twice", add_person(PERSON), "persons[1].id_number", "duplicate"),
    ("name missing", mutate("persons[0].name", DELETE), "persons[0].name", "required"),
    ("name too long", mutate("persons[0].name", "名" * 33), "persons[0].name", "max_length"),
    ("name control char", mutate("persons[0].name", "王\n测试"), "persons[0].name", "format"),
    ("position missing", mutate("persons[0].position", ""), "persons[0].position", "required"),
    ("person not an object", mutate("persons[0]", "王测试"), "persons[0]", "type"),
    ("persons not an array", lambda a, f: (a.update(persons={"x": 1}), f.pop("persons[0].id_scan")),
     "persons", "type"),
    ("51 persons", lambda a, f: (no_kinds(a, f), many_persons(a, f)), "persons", "max_items"),
    ("contact missing", mutate("contact", DELETE), "contact", "required"),
    ("contact name missing", mutate("contact.name", DELETE), "contact.name", "required"),
    ("mobile 10 digits", mutate("contact.mobile", "1380013800"), "contact.mobile", "format"),
    ("mobile 12 prefix", mutate("contact.mobile", "12800138000"), "contact.mobile", "format"),
    ("mobile missing", mutate("contact.mobile", DELETE), "contact.mobile", "required"),
    ("email format", mutate("contact.email", "contact.example.com"), "contact.email", "format"),
    ("email missing", mutate("contact.email", ""), "contact.email", "required"),
    ("email too long", mutate("contact.email", "a" * 250 + "@b.cn"), "contact.email", "max_length"),
    ("remark too long", mutate("remark", "x" * 201), "remark", "max_length"),
    ("unknown top field", mutate("kind", "org"), "kind", "unknown_field"),
    ("unknown nested field", mutate("persons[0].phone", "1"), "persons[0].phone", "unknown_field"),
    ("no certificate to renew", add_person(P2), "persons[1]", "no_certificate"),
    ("count above certificates", mutate("persons[0].count", 2), "persons[0]", "exceeds_certificates"),
    ("commitment letter missing", set_files({"attachments.commitment_letter": DELETE}), "attachments.commitment_letter",
     "required"),
    ("id scan missing", set_files({"persons[0].id_scan": DELETE}), "persons[0].id_scan", "required"),
    ("png refused", set_files({"persons[0].id_scan": PNG}), "persons[0].id_scan", "file_type"),
    ("docx refused", set_files({"attachments.commitment_letter": DOCX}), "attachments.commitment_letter", "file_type"),
    ("text named pdf refused", set_files({"attachments.commitment_letter": b"hello, I am a pdf"}),
     "attachments.commitment_letter", "file_type"),
    ("empty attachment", set_files({"persons[0].id_scan": b""}), "persons[0].id_scan", "empty"),
    ("attachment over 3 MiB", set_files({"persons[0].id_scan": JPG + b"\x00" * (3 * 1024 * 1024)}),
     "persons[0].id_scan", "max_size"),
    ("unknown part", set_files({"attachments.business_licence": PDF}), "attachments.business_licence",
     "unknown_part"),
    ("scan for a person not there", lambda a, f: f.__setitem__("persons[3].id_scan", JPG), "persons[3].id_scan",
     "unknown_part"),
    ("legal rep scan without legal rep", lambda a, f: (a.pop("legal_rep"), f.__setitem__("legal_rep.id_scan", JPG)),
     "legal_rep.id_scan", "unknown_part"),
]


@pytest.mark.parametrize("name,change,field,rule", CASES, ids=[c[0] for c in CASES])
def test_rule_broken(platform, acme, name, change, field, rule):
    app = full_app()
    files = files_for(app)
    change(app, files)
    r = apply(acme, app, files)
    assert r.status == 422, r
    err = r.error
    assert err["code"] == "validation_failed"
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in err["errors"]], err
    assert (err["field"], err["rule"]) == (err["errors"][0]["field"], err["errors"][0]["rule"])
    assert acme.get("/api/v1/orders").json["total"] == 0  # nothing was made


def test_duplicate_part(platform, acme):
    app = renewal_app()
    files = list(files_for(app).items()) + [("persons[0].id_scan", JPG)]
    r = acme.multipart("POST", "/api/v1/applications", app, files)
    assert r.status == 422 and {"field": "persons[0].id_scan", "rule": "duplicate"} in [
        {"field": e["field"], "rule": e["rule"]} for e in r.error["errors"]]


def test_bidder_needs_no_personal_certificates(platform):
    c = platform.create_account("bid", role="bidder")
    r = apply(c, renewal_app(business="new"))
    assert r.status == 422 and (r.error["field"], r.error["rule"]) == ("persons", "not_allowed_for_bidder")
    app = renewal_app(persons=[], org={"years": 1, "count": 1}, business="new")
    assert apply(c, app).status == 201


def test_tendering_agent_may_ask_personal_certificates(platform):
    c = platform.create_account("agent", role="tendering_agent")
    assert apply(c, renewal_app(business="new")).status == 201


def test_org_renewal_without_org_certificate(platform):
    c = platform.create_account("acme")
    app = renewal_app(persons=[], org={"years": 1, "count": 1})
    r = apply(c, app)
    assert (r.status, r.error["field"], r.error["rule"]) == (422, "org", "no_certificate")


def test_renewal_in_progress(platform, acme):
    app = renewal_app()
    assert apply(acme, app).status == 201
    r = apply(acme, app)
    assert (r.status, r.error["field"], r.error["rule"]) == (422, "persons[0]", "renewal_in_progress")


def test_expired_certificate_cannot_be_renewed(platform):
    c = platform.create_account("acme")
    now = _dt.datetime.now(_dt.timezone.utc)
    platform.provision("acme", "personal", ec_key(), holder_name=PERSON[0], holder_id=PERSON[1],
                       not_after=(now - _dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       not_before=(now - _dt.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    r = apply(c, renewal_app())
    assert (r.status, r.error["field"], r.error["rule"]) == (422, "persons[0]", "no_certificate")


def test_every_violation_is_listed(platform, acme):
    app = full_app()
    app["contact"]["mobile"] = "123"
    app["persons"][0]["id_number"] = "1"
    app["org"]["years"] = 5
    files = files_for(app)
    del files["attachments.commitment_letter"]
    r = apply(acme, app, files)
    got = [(e["field"], e["rule"]) for e in r.error["errors"]]
    assert set(got) == {("org.years", "not_offered"), ("persons[0].id_number", "format"),
                        ("contact.mobile", "format"), ("attachments.commitment_letter", "required")}
    assert "and 3 more" in r.error["message"]


def test_multipart_shape(platform, acme):
    app = renewal_app()
    # JSON where multipart is needed
    r = acme.call("POST", "/api/v1/applications", app, key=key_id())
    assert r.status == 415 and r.error["code"] == "unsupported_media_type"
    # no application part
    body, ctype = multipart_body(None, files_for(app))
    r = acme.raw("POST", "/api/v1/applications", body, {"Content-Type": ctype, "Idempotency-Key": key_id()})
    assert r.status == 400 and r.error["code"] == "malformed_multipart"
    # application part not JSON
    body, ctype = multipart_body(None, {"application": b"{oops", **files_for(app)})
    r = acme.raw("POST", "/api/v1/applications", body, {"Content-Type": ctype, "Idempotency-Key": key_id()})
    assert r.status == 400 and r.error["code"] == "malformed_json"
    # body cut before the closing boundary
    body, ctype = multipart_body(app, files_for(app))
    r = acme.raw("POST", "/api/v1/applications", body[:-40], {"Content-Type": ctype, "Idempotency-Key": key_id()})
    assert r.status == 400 and r.error["code"] == "malformed_multipart"
    # no boundary parameter
    r = acme.raw("POST", "/api/v1/applications", body, {"Content-Type": "multipart/form-data",
                                                        "Idempotency-Key": key_id()})
    assert r.status == 400 and r.error["code"] == "malformed_multipart"
    # application part over 1 MiB
    big = dict(app, remark="x" * (1024 * 1024))
    r = apply(acme, big)
    assert r.status == 413 and r.error["code"] == "payload_too_large"


def test_multipart_over_64_mib(platform, acme):
    body = b"\x00" * (64 * 1024 * 1024 + 1)
    r = acme.raw("POST", "/api/v1/applications", body, {"Content-Type": "multipart/form-data; boundary=x",
                                                        "Idempotency-Key": key_id()})
    assert r.status == 413 and r.error["code"] == "payload_too_large"


def test_idempotency_key_required_and_checked(platform, acme):
    app = renewal_app()
    r = apply(acme, app, key=None)
    assert r.status == 400 and r.error["code"] == "idempotency_key_required"
    assert r.error["field"] == "Idempotency-Key"
    r = apply(acme, app, key="no spaces allowed")
    assert r.status == 400 and r.error["code"] == "invalid_idempotency_key"
    r = apply(acme, app, key="x" * 129)
    assert r.status == 400 and r.error["code"] == "invalid_idempotency_key"


def test_idempotent_replay(platform, acme):
    app = renewal_app()
    k = key_id()
    first = apply(acme, app, key=k)
    assert first.status == 201 and first.header("Idempotent-Replayed") is None
    # same key, same content, another boundary and another key order: the same response, byte for byte
    app2 = dict(reversed(list(copy.deepcopy(app).items())))
    again = acme.multipart("POST", "/api/v1/applications", app2, files_for(app), key=k, boundary="other-boundary")
    assert again.status == 201 and again.body == first.body
    assert again.header("Idempotent-Replayed") == "true"
    assert again.header("Location") == first.header("Location")
    assert acme.get("/api/v1/orders").json["total"] == 1
    # same key, another body: refused, nothing made
    app3 = copy.deepcopy(app)
    app3["contact"]["name"] = "别人"
    r = apply(acme, app3, key=k)
    assert r.status == 422 and r.error["code"] == "idempotency_key_reused"
    # same key, same JSON, another attachment: refused
    r = apply(acme, app, files_for(app, **{"attachments.commitment_letter": PDF + b"\n"}), key=k)
    assert r.status == 422 and r.error["code"] == "idempotency_key_reused"
    # same key on another endpoint: refused
    r = acme.post("/api/v1/orders/%s/cancel" % first.json["number"], {}, key=k)
    assert r.status == 422 and r.error["code"] == "idempotency_key_reused"
    assert acme.get("/api/v1/orders").json["total"] == 1


def test_failed_request_leaves_key_free(platform, acme):
    app = renewal_app()
    k = key_id()
    bad = copy.deepcopy(app)
    bad["contact"]["mobile"] = "1"
    assert apply(acme, bad, key=k).status == 422
    r = apply(acme, app, key=k)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None


def test_keys_are_per_account(platform, acme):
    other = platform.create_account("other")
    platform.provision("other", "org", ec_key(), days=30)
    k = key_id()
    assert apply(acme, renewal_app(), key=k).status == 201
    r = apply(other, renewal_app(persons=[], org={"years": 1, "count": 1}), key=k)
    assert r.status == 201 and r.header("Idempotent-Replayed") is None
