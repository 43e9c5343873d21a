# SPDX-License-Identifier: MIT
"""Hostile input never crashes the server: every JSON endpoint, every field, every wrong JSON type."""
import pytest

from platform_client import Renewal, apply, files_for, renewal_app

WRONG = [None, True, 1, -1, 1.5, "", "x" * 300, [], [1], {}, {"a": 1}]

FIELDS = {
    "session": ["account", "password"],
    "key_session": ["certificate", "challenge_id", "signature"],
    "login_challenge": [],
    "cancel": ["reason"], "pay": ["method", "amount_fen"], "resubmit": [], "rate": ["score", "comment"],
    "issue": ["challenge_id", "csr", "old_certificate", "proof", "key_serial"], "confirm": ["serial"],
    "review": ["decision", "comment"], "provision": ["account", "kind", "holder_name", "holder_id_number",
                                                     "position", "csr", "not_after", "not_before", "key_serial"],
    "fault": ["endpoint", "kind", "count", "status", "retry_after", "delay_ms"],
    "settings": ["token_ttl", "challenge_ttl", "review_retry_after", "login_challenge_ttl",
                 "login_challenges_max", "sm2_offered"],
    "account": ["account", "password", "role", "enterprise", "password_hash"],
    "bulk": ["count", "business", "start", "step_seconds"],
}


def test_no_wrong_type_crashes_a_json_endpoint(platform):
    r = Renewal(platform)
    c, op = r.client, platform.op
    targets = {
        "session": (platform.client(), "POST", "/api/v1/session"),
        "key_session": (platform.client(), "POST", "/api/v1/session"),
        "login_challenge": (platform.client(), "POST", "/api/v1/session/challenge"),
        "cancel": (c, "POST", "/api/v1/orders/%s/cancel" % r.number),
        "pay": (c, "POST", "/api/v1/orders/%s/pay" % r.number),
        "resubmit": (c, "POST", "/api/v1/orders/%s/resubmit" % r.number),
        "rate": (c, "POST", "/api/v1/orders/%s/rate" % r.number),
        "issue": (c, "POST", r.path("/issue")),
        "confirm": (c, "POST", r.path("/confirm")),
        "review": (op, "POST", "/api/v1/operator/orders/%s/review" % r.number),
        "provision": (op, "POST", "/api/v1/operator/certificates"),
        "fault": (op, "POST", "/api/v1/operator/faults"),
        "settings": (op, "PUT", "/api/v1/operator/settings"),
        "account": (op, "POST", "/api/v1/operator/accounts"),
        "bulk": (op, "POST", "/api/v1/operator/accounts/acme/orders"),
    }
    seen = set()
    for name, (client, method, path) in targets.items():
        for field in FIELDS[name] or ["anything"]:
            for value in WRONG:
                res = client.call(method, path, {field: value}, key="k-%s-%s-%d" % (name, field, len(seen)))
                seen.add((name, field, repr(value)))
                assert res.status < 500, (name, field, value, res)
                if res.status >= 400:
                    assert set(res.json["error"]) >= {"code", "message", "field", "rule"}
    assert platform.op.call("DELETE", "/api/v1/operator/faults").status == 204


@pytest.mark.parametrize("path", ["", "org", "legal_rep", "persons", "persons.0", "contact"])
def test_no_wrong_type_crashes_an_application(platform, path):
    c = platform.create_account("acme")
    for value in WRONG:
        app = renewal_app(org={"years": 1, "count": 1},
                          legal_rep={"id_type": "id_card", "id_number": "x", "years": 1, "count": 1})
        if path == "":
            keys = [("business", app), ("remark", app)]
        elif path == "persons.0":
            keys = [(k, app["persons"][0]) for k in list(app["persons"][0])]
        elif path == "persons":
            keys = [("persons", app)]
        else:
            keys = [(k, app[path]) for k in list(app[path])] + [(path, app)]
        for k, obj in keys:
            saved = obj.get(k)
            obj[k] = value
            res = apply(c, app, files_for(renewal_app()))
            assert res.status < 500 and res.status != 201 or path == "", (k, value, res)
            obj[k] = saved
