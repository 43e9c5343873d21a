# SPDX-License-Identifier: MIT
"""Revocation (吊销申请) and the CRL, doc/protocol.md section 17."""
import datetime as _dt
import hashlib
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from platform_client import PERSON, Renewal, b64, ec_key, rfc3339, rsa_key, sign, today, unb64

PERSON2 = ("李测试", "110101199001011237", "工程师")


def proof_sig(key, nonce, cert_der, serial, reason):
    msg = (b"ZRCA-REVOKE-PROOF-V1" + b"\x00" + nonce + hashlib.sha256(cert_der).digest() + serial.encode() + b"\x00"
           + reason.encode())
    return sign(key, msg)


class Holder:
    """An account with one personal certificate on a 'key'."""

    def __init__(self, p, account="acme", key=None):
        self.p = p
        self.client = p.create_account(account)
        self.key = key or ec_key()
        prov = p.provision(account, "personal", self.key, days=200, holder_name=PERSON[0], holder_id=PERSON[1],
                           position=PERSON[2])
        self.der = unb64(prov["certificate"])
        self.serial = prov["serial"]

    def signed_body(self, reason="key_compromised", key=None, der=None, comment=None):
        ch = self.client.post("/api/v1/revocations/challenge", {}, key=None)
        assert ch.status == 201, ch
        ch = ch.json
        sig = proof_sig(key or self.key, unb64(ch["nonce"]), der or self.der, self.serial, reason)
        body = {"certificate_serial": self.serial, "reason": reason,
                "proof": {"challenge_id": ch["challenge_id"], "signature": b64(sig)}}
        if comment:
            body["comment"] = comment
        return body

    def request(self, body):
        return self.client.post("/api/v1/revocations", body)


def review(p, rid, decision="approve", comment=None):
    body = {"decision": decision}
    if comment:
        body["comment"] = comment
    return p.op.post("/api/v1/operator/revocations/%d/review" % rid, body)


def cert_status(h):
    r = h.client.get("/api/v1/certificates")
    return [c for c in r.json["items"] if c["serial"] == h.serial][0]


def fetch_crl(p):
    c = p.client()
    r = c.call("GET", "/crl/issuing.crl")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/pkix-crl"
    return r.body


def test_request_without_proof_approved_revokes_and_publishes(platform, tmp_path):
    h = Holder(platform)
    crl0 = x509.load_der_x509_crl(fetch_crl(platform))
    assert crl0.get_revoked_certificate_by_serial_number(int(h.serial, 16)) is None
    r = h.request({"certificate_serial": h.serial, "reason": "key_lost", "comment": "钥匙丢了"})
    assert r.status == 201, r
    rq = r.json
    assert rq["status"] == "pending" and rq["signed"] is False and rq["reason"] == "key_lost"
    assert rq["holder"] == PERSON[0] and rq["kind"] == "personal" and rq["certificate_serial"] == h.serial
    assert r.header("Location") == "/api/v1/revocations/%d" % rq["id"]
    assert cert_status(h)["status"] == "valid"
    a = review(platform, rq["id"])
    assert a.status == 200, a
    assert a.json["status"] == "approved" and a.json["reviewed_at"]
    c = cert_status(h)
    assert c["status"] == "revoked" and c["revocation_reason"] == "key_lost" and c["revoked_at"]
    assert c["renewable"] is False
    der = fetch_crl(platform)
    crl = x509.load_der_x509_crl(der)
    issuing = x509.load_pem_x509_certificate(open(platform.data + "/ca/issuing.pem", "rb").read())
    assert crl.is_signature_valid(issuing.public_key())
    e = crl.get_revoked_certificate_by_serial_number(int(h.serial, 16))
    assert e is not None
    assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > \
        crl0.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert crl.next_update > _dt.datetime.utcnow() + _dt.timedelta(days=6)
    # openssl verifies it with the issuing CA and lists the serial with its reason
    (tmp_path / "crl.der").write_bytes(der)
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text",
                          "-CAfile", platform.data + "/ca/issuing.pem", "-verify"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "verify OK" in out.stderr + out.stdout
    assert h.serial.upper() in out.stdout.upper().replace(":", "")
    assert "Key Compromise" in out.stdout and "Next Update" in out.stdout
    # the request is in the history; the certificate cannot be requested again
    hist = h.client.get("/api/v1/revocations")
    assert hist.status == 200 and hist.json["total"] == 1 and hist.json["items"][0]["status"] == "approved"
    again = h.request({"certificate_serial": h.serial, "reason": "key_lost"})
    assert again.status == 409 and again.error["code"] == "not_revocable" and again.error["rule"] == "revoked"


def test_signed_request_rsa_and_ec(platform):
    for i, key in enumerate((ec_key(), rsa_key(2048))):
        h = Holder(platform, "acct%d" % i, key)
        r = h.request(h.signed_body(comment="签名申请"))
        assert r.status == 201, r
        assert r.json["signed"] is True and r.json["status"] == "pending"  # still reviewed


def test_wrong_proof(platform):
    h = Holder(platform)
    other = ec_key()
    r = h.request(h.signed_body(key=other))
    assert r.status == 422 and r.error["field"] == "proof.signature" and r.error["rule"] == "signature"
    # the proof signs the reason: another reason does not verify
    body = h.signed_body(reason="key_compromised")
    body["reason"] = "holder_left"
    r = h.request(body)
    assert r.status == 422 and r.error["rule"] == "signature"
    body = h.signed_body()
    body["proof"]["challenge_id"] = "rch_nope"
    r = h.request(body)
    assert r.status == 422 and r.error["field"] == "proof.challenge_id" and r.error["rule"] == "mismatch"
    # a used challenge
    body = h.signed_body()
    assert h.request(body).status == 201
    r = h.client.post("/api/v1/revocations", body)
    assert r.status == 409 and r.error["code"] in ("challenge_used", "not_revocable")


@pytest.mark.parametrize("body,field,rule", [
    ({"reason": "key_lost"}, "certificate_serial", "required"),
    ({"certificate_serial": 12, "reason": "key_lost"}, "certificate_serial", "type"),
    ({"certificate_serial": "ABCD", "reason": "key_lost"}, "certificate_serial", "format"),
    ({"certificate_serial": "0012", "reason": "key_lost"}, "certificate_serial", "format"),
    ({"certificate_serial": "abc", "reason": "key_lost"}, "certificate_serial", "format"),
    ({"certificate_serial": "ab" * 21, "reason": "key_lost"}, "certificate_serial", "format"),
    ({"certificate_serial": "abcd"}, "reason", "required"),
    ({"certificate_serial": "abcd", "reason": "bored"}, "reason", "enum"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "comment": "x" * 201}, "comment", "max_length"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "comment": "a\nb"}, "comment", "format"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "comment": 5}, "comment", "type"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "extra": 1}, "extra", "unknown_field"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "proof": "x"}, "proof", "type"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "proof": {"challenge_id": "c"}}, "proof.signature",
     "required"),
    ({"certificate_serial": "abcd", "reason": "key_lost", "proof": {"challenge_id": "c", "signature": "!!"}},
     "proof.signature", "base64"),
])
def test_bad_fields(platform, body, field, rule):
    c = platform.create_account("acme")
    r = c.post("/api/v1/revocations", body)
    assert r.status == 422, r
    assert (field, rule) in [(e["field"], e["rule"]) for e in r.error["errors"]]


def test_comment_200_accepted_and_key_required(platform):
    h = Holder(platform)
    r = h.client.post("/api/v1/revocations", {"certificate_serial": h.serial, "reason": "holder_left"}, key=None)
    assert r.status == 400 and r.error["code"] == "idempotency_key_required"
    r = h.request({"certificate_serial": h.serial, "reason": "holder_left", "comment": "离" * 200})
    assert r.status == 201, r


def test_not_the_accounts_and_double_request(platform):
    h = Holder(platform)
    other = platform.create_account("other")
    r = other.post("/api/v1/revocations", {"certificate_serial": h.serial, "reason": "key_lost"})
    assert r.status == 404
    r = h.request({"certificate_serial": "7f" + "00" * 15, "reason": "key_lost"})
    assert r.status == 404
    assert h.request({"certificate_serial": h.serial, "reason": "key_lost"}).status == 201
    r = h.request({"certificate_serial": h.serial, "reason": "key_lost"})
    assert r.status == 409 and r.error["code"] == "not_revocable" and r.error["rule"] == "request_pending"
    rid = h.client.get("/api/v1/revocations").json["items"][0]["id"]
    assert other.get("/api/v1/revocations/%d" % rid).status == 404
    assert h.client.get("/api/v1/revocations/%d" % rid).status == 200


def test_reject_then_request_again_and_history(platform):
    h = Holder(platform)
    rid = h.request({"certificate_serial": h.serial, "reason": "info_changed"}).json["id"]
    assert review(platform, rid, "reject").status == 422  # comment required
    r = review(platform, rid, "reject", "请携带证明材料")
    assert r.status == 200 and r.json["status"] == "rejected" and r.json["review_comment"] == "请携带证明材料"
    assert review(platform, rid).status == 409
    assert cert_status(h)["status"] == "valid"
    rid2 = h.request({"certificate_serial": h.serial, "reason": "info_changed"}).json["id"]
    hist = h.client.get("/api/v1/revocations?per_page=1")
    assert hist.json["total"] == 2 and hist.json["pages"] == 2 and hist.json["items"][0]["id"] == rid2
    assert h.client.get("/api/v1/revocations?status=rejected").json["items"][0]["id"] == rid
    assert h.client.get("/api/v1/revocations?per_page=0").status == 422
    g = h.client.get("/api/v1/revocations/%d" % rid).json
    assert set(g) == {"id", "certificate_serial", "kind", "holder", "reason", "comment", "signed", "status",
                      "review_comment", "created_at", "reviewed_at"}
    # zrca-platformctl lists and approves
    out = platform.ctl("revocations", "--status", "pending")
    assert str(rid2) in out.stdout.decode()
    platform.ctl("approve-revocation", rid2)
    assert cert_status(h)["status"] == "revoked"


def test_superseded_certificate_not_revocable_and_revoked_not_renewable(platform):
    ren = Renewal(platform)
    new_key, r = ren.issue()
    assert r.status == 201
    serial = r.json["serial"]
    assert ren.client.post(ren.path("/confirm"), {"serial": serial}).status == 200
    r = ren.client.post("/api/v1/revocations", {"certificate_serial": ren.old_serial, "reason": "key_lost"})
    assert r.status == 409 and r.error["rule"] == "superseded"
    # the new certificate carries the CRL distribution point
    cert = x509.load_der_x509_certificate(unb64(
        ren.client.get(ren.path("/certificate")).json["certificate"]))
    cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    assert not cdp.critical
    assert cdp.value[0].full_name[0].value == platform.url + "/crl/issuing.crl"


def test_revoked_old_certificate_refused_for_renewal(platform):
    ren = Renewal(platform)
    rid = ren.client.post("/api/v1/revocations", {"certificate_serial": ren.old_serial,
                                                  "reason": "key_compromised"}).json["id"]
    assert review(platform, rid).status == 200
    r = ren.client.post(ren.path("/challenge"), {}, key=None)
    assert r.status == 409 and r.error["code"] == "certificate_revoked"


def test_stale_pinned_crl_and_unauthenticated(platform):
    past = today() - _dt.timedelta(days=2)
    r = platform.op.post("/api/v1/operator/crl", {"this_update": rfc3339(past),
                                                  "next_update": rfc3339(past + _dt.timedelta(days=1))})
    assert r.status == 201, r
    crl = x509.load_der_x509_crl(fetch_crl(platform))
    assert crl.next_update < _dt.datetime.utcnow()
    assert platform.op.post("/api/v1/operator/crl", {"next_update": "soon"}).status == 422
    r = platform.op.post("/api/v1/operator/crl", {})
    assert r.status == 201
    crl = x509.load_der_x509_crl(fetch_crl(platform))
    assert crl.next_update > _dt.datetime.utcnow()
    # an account token cannot review
    h = Holder(platform)
    rid = h.request({"certificate_serial": h.serial, "reason": "key_lost"}).json["id"]
    r = h.client.post("/api/v1/operator/revocations/%d/review" % rid, {"decision": "approve"})
    assert r.status == 403


def test_operator_reissue_lists_in_crl(platform):
    ren = Renewal(platform)
    new_key, r = ren.issue()
    first = r.json["serial"]
    assert platform.op.post("/api/v1/operator/orders/%s/items/1/reissue" % ren.number, {}).status == 201
    crl = x509.load_der_x509_crl(fetch_crl(platform))
    e = crl.get_revoked_certificate_by_serial_number(int(first, 16))
    assert e is not None
    assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    assert serialization  # noqa


def test_issuing_ca_served_unauthenticated(platform):
    r = platform.client().call("GET", "/crl/issuing.crt")
    assert r.status == 200 and r.header("Content-Type") == "application/pkix-cert"
    issuing = x509.load_pem_x509_certificate(open(platform.data + "/ca/issuing.pem", "rb").read())
    assert r.body == issuing.public_bytes(serialization.Encoding.DER)


def test_issue_with_revoked_old_certificate_and_application_refused(platform):
    """A challenge taken before the revocation: the issue names rule `revoked`; a new renewal
    application finds no current certificate (`no_certificate`)."""
    from platform_client import apply, renewal_app
    ren = Renewal(platform)
    ch = ren.challenge()
    rid = ren.client.post("/api/v1/revocations", {"certificate_serial": ren.old_serial,
                                                  "reason": "info_changed"}).json["id"]
    assert review(platform, rid).status == 200
    new_key = ec_key()
    r = ren.client.post(ren.path("/issue"), ren.issue_body(ch, new_key))
    assert r.status == 422 and ("old_certificate", "revoked") in [(e["field"], e["rule"]) for e in r.error["errors"]]
    ren.client.post("/api/v1/orders/%s/cancel" % ren.number, {"reason": "吊销"})
    r = apply(ren.client, renewal_app())
    assert r.status == 422 and "no_certificate" in [e["rule"] for e in r.error["errors"]], r
