# SPDX-License-Identifier: MIT
"""新购 (doc/protocol.md section 19): shipping of a blank key, the holder's receipt, issuance onto the key with
a proof by the new key; every check broken once."""
import datetime as _dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from platform_client import PERSON, apply, b64, ec_key, make_csr, proof, renewal_app, rsa_key, sign, unb64, valid_id

NEW_TAG = b"ZRCA-NEW-PROOF-V1"


def new_proof(key, nonce, csr_der, number, index):
    return sign(key, NEW_TAG + b"\x00" + nonce + hashlib.sha256(csr_der).digest() + number.encode() + b"\x00"
                + str(index).encode())


class NewOrder:
    """An account with an approved (paid) new-certificate order; shipped and received unless told."""

    def __init__(self, p, app=None, account="acme", ship=True, receive=True, enterprise=None):
        self.p = p
        self.client = p.create_account(account, enterprise=enterprise) if enterprise else p.create_account(account)
        r = apply(self.client, app or renewal_app(business="new"))
        assert r.status == 201, r
        self.number = r.json["number"]
        o = r.json
        res = self.act("pay", {"method": "alipay", "amount_fen": o["amount_fen"]})
        assert res.status == 200, res
        self.order = p.review(self.number)
        if ship:
            res = self.ship(tracking_number="SF1234567890", key_serial="1A29BLANK0000001")
            assert res.status == 200, res
            if receive:
                res = self.act("receive")
                assert res.status == 200, res

    def act(self, action, body=None, key="auto"):
        return self.client.post("/api/v1/orders/%s/%s" % (self.number, action), body if body is not None else {},
                                key=key)

    def ship(self, **body):
        return self.p.op.post("/api/v1/operator/orders/%s/ship" % self.number, body)

    def path(self, suffix="", idx=1):
        return "/api/v1/orders/%s/items/%d%s" % (self.number, idx, suffix)

    def challenge(self, idx=1):
        r = self.client.post(self.path("/challenge", idx), {}, key=None)
        assert r.status == 201, r
        return r.json

    def body(self, ch, key, csr=None, proof_key=None, idx=1, proof_bytes=None):
        csr = csr if csr is not None else make_csr(key)
        pr = proof_bytes if proof_bytes is not None else new_proof(proof_key or key, unb64(ch["nonce"]), csr,
                                                                   self.number, idx)
        return {"challenge_id": ch["challenge_id"], "csr": b64(csr), "proof": b64(pr)}

    def issue(self, key, key_id="auto", idx=1, **kw):
        ch = self.challenge(idx)
        return self.client.post(self.path("/issue", idx), self.body(ch, key, idx=idx, **kw), key=key_id)

    def get(self):
        return self.client.get("/api/v1/orders/" + self.number).json


def test_ship_and_receive_transitions(platform):
    n = NewOrder(platform, ship=False)
    o = n.get()
    assert (o["order_status"], o["shipping_status"], o["shipment"]) == ("awaiting_issuance", "none", None)
    assert o["actions"] == ["view"] and o["items"][0]["actions"] == ["view"]
    # no receipt before the key is posted; no challenge before it is received
    res = n.act("receive")
    assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", "receive")
    res = n.client.post(n.path("/challenge"), {}, key=None)
    assert (res.status, res.error["rule"]) == (409, "issue")
    res = n.ship(tracking_number="x" * 65)
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "tracking_number", "max_length")
    res = n.ship(carrier="SF")
    assert res.status == 422
    res = n.ship(tracking_number="SF1234567890", key_serial="1A29BLANK0000001")
    assert res.status == 200 and res.json["shipping_status"] == "awaiting_receipt"
    assert res.json["shipment"]["tracking_number"] == "SF1234567890"
    assert res.json["shipment"]["received_at"] is None
    o = n.get()
    assert o["actions"] == ["view", "receive"] and o["items"][0]["actions"] == ["view"]
    sms = [x["text"] for x in n.client.get("/api/v1/notifications").json["items"]]
    assert any("SF1234567890" in t for t in sms)
    res = n.ship()
    assert (res.status, res.error["rule"]) == (409, "ship")
    res = n.client.post(n.path("/challenge"), {}, key=None)
    assert (res.status, res.error["rule"]) == (409, "issue")
    res = n.act("receive", {"note": 1})
    assert res.status == 422
    res = n.act("receive", key=None)
    assert res.status == 400  # Idempotency-Key required
    res = n.act("receive", key="rcv-1")
    assert res.status == 200 and res.json["shipping_status"] == "received"
    assert res.json["shipment"]["received_at"] is not None
    assert res.json["actions"] == ["view"] and res.json["items"][0]["actions"] == ["view", "issue"]
    again = n.act("receive", key="rcv-1")  # a replay answers the same
    assert again.status == 200 and again.json == res.json
    res = n.act("receive")
    assert (res.status, res.error["rule"]) == (409, "receive")


def test_ship_refused_for_renewal_and_before_approval(platform):
    c = platform.create_account("acme")
    r = apply(c, renewal_app(business="new"))
    num = r.json["number"]
    res = platform.op.post("/api/v1/operator/orders/%s/ship" % num, {})
    assert (res.status, res.error["rule"]) == (409, "ship")


def test_ship_refused_for_renewal(platform):
    from platform_client import Renewal
    r = Renewal(platform)
    res = platform.op.post("/api/v1/operator/orders/%s/ship" % r.number, {})
    assert (res.status, res.error["rule"]) == (409, "ship")


@pytest.mark.parametrize("kind", ["org", "legal_rep", "personal"])
def test_challenge_subject_for_each_kind(platform, kind):
    ent_uscc = None
    if kind == "org":
        app = renewal_app(persons=(), business="new", org={"years": 1, "count": 1})
    elif kind == "legal_rep":
        app = renewal_app(persons=(), business="new", legal_rep={"id_type": "id_card", "id_number": valid_id("330106", "19700101", "011"),
                                                                   "years": 1, "count": 1})
    else:
        app = renewal_app(business="new")
    n = NewOrder(platform, app=app)
    o = n.get()
    ent = n.client.get("/api/v1/enterprise").json
    ent_uscc = ent.get("unified_social_credit_code")
    ch = n.challenge()
    assert ch["old_certificate_serial"] is None and ch["years"] == 1
    name = x509.Name.from_rfc4514_string(ch["subject"])
    subj = ch["subject_der"]
    got = {a.oid: a.value for a in x509.Name.from_rfc4514_string(ch["subject"])}
    assert got[NameOID.COUNTRY_NAME] == "CN" and got[NameOID.ORGANIZATION_NAME] == ent["name"]
    it = o["items"][0]
    if kind == "org":
        assert got[NameOID.COMMON_NAME] == ent["name"]
        if ent_uscc:
            assert got[NameOID.SERIAL_NUMBER] == ent_uscc
    else:
        assert got[NameOID.COMMON_NAME] == it["holder"]
        assert got[NameOID.ORGANIZATIONAL_UNIT_NAME] == ("法定代表人" if kind == "legal_rep" else PERSON[2])
        assert got[NameOID.SERIAL_NUMBER] == it["holder_id_number"]
    # the certificate carries exactly subject_der
    key = ec_key()
    res = n.client.post(n.path("/issue"), n.body(ch, key))
    assert res.status == 201, res
    cert = x509.load_der_x509_certificate(unb64(res.json["certificate"]))
    assert cert.subject.public_bytes() == unb64(subj)
    assert name == cert.subject


def test_issue_confirm_seal(platform):
    n = NewOrder(platform)
    key = ec_key()
    assert n.client.get(n.path("/certificate")).error["code"] == "not_issued"
    before = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    body = n.body(n.challenge(), key)
    res = n.client.post(n.path("/issue"), body, key="issue-1")
    assert res.status == 201, res
    cert = x509.load_der_x509_certificate(unb64(res.json["certificate"]))
    spki = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # noqa
    assert spki(cert.public_key()) == spki(key.public_key())
    assert cert.not_valid_before >= before - _dt.timedelta(seconds=1)
    assert cert.not_valid_after - cert.not_valid_before == _dt.timedelta(days=365)
    assert n.get()["items"][0]["status"] == "issued"
    certs = n.client.get("/api/v1/certificates").json["items"]
    assert [(x["serial"], x["status"], x["key_serial"]) for x in certs] == [
        (res.json["serial"], "pending_confirmation", "1A29BLANK0000001")]
    # the answer is a record: GET …/certificate, the replay, and a new challenge with the same key
    assert n.client.get(n.path("/certificate")).json == res.json
    again = n.client.post(n.path("/issue"), body, key="issue-1")
    assert again.status == 201 and again.json == res.json
    resumed = n.issue(key)
    assert resumed.status == 200 and resumed.json == res.json
    other = n.issue(ec_key())
    assert (other.status, other.error["code"]) == (409, "already_issued")
    assert n.client.get(n.path("/seal")).error["code"] == "not_confirmed"
    res2 = n.client.post(n.path("/confirm"), {"serial": "00" * 16})
    assert (res2.status, res2.error["field"], res2.error["rule"]) == (422, "serial", "mismatch")
    done = n.client.post(n.path("/confirm"), {"serial": res.json["serial"]})
    assert done.status == 200, done
    assert done.json["order_status"] == "completed" and done.json["items"][0]["status"] == "completed"
    assert done.json["seal"]["certificate_serial"] == res.json["serial"]
    assert done.json["seal"]["name"] == PERSON[0]
    assert n.client.get(n.path("/seal")).json["seal"] == done.json["seal"]
    certs = n.client.get("/api/v1/certificates").json["items"]
    assert [(x["serial"], x["status"]) for x in certs] == [(res.json["serial"], "valid")]
    # nothing more to issue
    res = n.client.post(n.path("/challenge"), {}, key=None)
    assert (res.status, res.error["rule"]) == (409, "issue")


def test_issue_checks(platform):
    n = NewOrder(platform)
    key = ec_key()
    ch = n.challenge()
    # an old-key-style body: old_certificate is not a member of a new item's issue
    body = n.body(ch, key)
    body["old_certificate"] = b64(b"x")
    res = n.client.post(n.path("/issue"), body)
    assert (res.status, res.error["field"]) == (422, "old_certificate")
    # the renewal's proof bytes, signed by the new key
    csr = make_csr(key)
    res = n.client.post(n.path("/issue"), n.body(ch, key, csr=csr, proof_bytes=proof(key, unb64(ch["nonce"]), csr,
                                                                                      n.number, 1)))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "proof", "signature")
    # signed by another key than the CSR's
    res = n.client.post(n.path("/issue"), n.body(ch, key, proof_key=ec_key()))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "proof", "signature")
    # bound to the order and the item: another item index
    res = n.client.post(n.path("/issue"), n.body(ch, key, csr=csr, proof_bytes=new_proof(
        key, unb64(ch["nonce"]), csr, n.number, 2)))
    assert (res.status, res.error["rule"]) == (422, "signature")
    # wrong subject
    bad = make_csr(key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "别人")]))
    res = n.client.post(n.path("/issue"), n.body(ch, key, csr=bad))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "csr", "subject")
    # wrong key algorithm
    p384 = ec.generate_private_key(ec.SECP384R1())
    res = n.client.post(n.path("/issue"), n.body(ch, p384))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "csr", "key_algorithm")
    # a proof that is not base64, a CSR that is not DER
    b = n.body(ch, key)
    b["proof"] = "@@"
    res = n.client.post(n.path("/issue"), b)
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "proof", "base64")
    b = n.body(ch, key)
    b["csr"] = b64(b"not a csr")
    res = n.client.post(n.path("/issue"), b)
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "csr", "der")
    # an empty subject is accepted (the platform's subject is used); the challenge is then used
    empty = make_csr(key, x509.Name([]))
    res = n.client.post(n.path("/issue"), n.body(ch, key, csr=empty))
    assert res.status == 201, res
    res = n.client.post(n.path("/issue"), n.body(ch, key))
    assert (res.status, res.error["code"]) == (409, "challenge_used")


def test_issue_with_rsa_and_a_certified_key_refused(platform):
    n = NewOrder(platform)
    key = rsa_key(2048)
    res = n.issue(key)
    assert res.status == 201, res
    # the same key for another new order's item: already certified
    n2 = NewOrder(platform, account="beta")
    res = n2.issue(key)
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "csr", "same_key")


def test_faulty_issuer_applies_to_new_items(platform):
    n = NewOrder(platform)
    r = platform.op.call("PUT", "/api/v1/operator/issuer", {"fault": "subject_case", "count": 1})
    assert r.status == 200, r
    key = ec_key()
    res = n.issue(key)
    assert res.status == 201
    cert = x509.load_der_x509_certificate(unb64(res.json["certificate"]))
    ch = n.challenge()
    assert cert.subject.public_bytes() != unb64(ch["subject_der"])
    # the operator re-issues: the subject is the holder's again, a year from now
    r = platform.op.post("/api/v1/operator/orders/%s/items/1/reissue" % n.number, {})
    assert r.status == 201, r
    cert = x509.load_der_x509_certificate(unb64(r.json["certificate"]))
    assert cert.subject.public_bytes() == unb64(ch["subject_der"])
    assert cert.not_valid_after - cert.not_valid_before == _dt.timedelta(days=365)


def test_fulfil_after_ship_keeps_received(platform):
    n = NewOrder(platform)
    res = platform.op.post("/api/v1/operator/orders/%s/items/1/fulfil" % n.number, {"csr": b64(make_csr(ec_key()))})
    assert res.status == 201
    o = n.get()
    assert (o["order_status"], o["shipping_status"]) == ("completed", "received")


def test_holder_with_a_current_certificate_is_not_issued_another(platform):
    # The holder got a certificate some other way after the order was approved: no second one.
    n = NewOrder(platform)
    platform.provision("acme", "personal", ec_key(), days=300, holder_name=PERSON[0], holder_id=PERSON[1],
                       position=PERSON[2])
    res = n.issue(ec_key())
    assert (res.status, res.error["code"]) == (409, "holder_has_certificate")
    assert n.get()["items"][0]["status"] == "pending"
    assert n.client.get(n.path("/certificate")).error["code"] == "not_issued"
