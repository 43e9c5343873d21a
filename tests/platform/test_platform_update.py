# SPDX-License-Identifier: MIT
"""The update of an item: challenge, CSR, proof, issue, confirm, seal; every check broken once."""
import base64
import datetime as _dt
import hashlib
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from platform_client import (PERSON, Renewal, apply, b64, ec_key, key_id, make_csr, proof, renewal_app, rsa_key,
                             unb64, valid_id)


def load_pem(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def verify_by(issuer_cert, cert):
    pub = issuer_cert.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    else:
        pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def issuances(p, number, idx=1):
    r = p.op.get("/api/v1/operator/orders/%s/items/%d/issuances" % (number, idx))
    assert r.status == 200
    return r.json["items"]


def check_certificate(p, r, res, new_key, years=1):
    body = res.json
    assert set(body) == {"certificate", "chain", "serial", "not_before", "not_after"}
    cert = x509.load_der_x509_certificate(unb64(body["certificate"]))
    issuing = x509.load_der_x509_certificate(unb64(body["chain"][0]))
    root = x509.load_der_x509_certificate(unb64(body["chain"][1]))
    assert root == load_pem(p.info["platform_ca_file"])
    verify_by(root, issuing)
    verify_by(issuing, cert)
    old = x509.load_der_x509_certificate(r.old_der)
    assert cert.subject.public_bytes() == old.subject.public_bytes()
    assert spki(new_key) == cert.public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cert.not_valid_after == old.not_valid_after + _dt.timedelta(days=365 * years)
    assert body["not_after"] == cert.not_valid_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(body["serial"]) == 32 and int(body["serial"], 16) == cert.serial_number
    assert cert.serial_number.bit_length() > 120
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return cert


@pytest.mark.parametrize("old,new", [("ec", "ec"), ("rsa2048", "rsa3072"), ("ec", "rsa2048"), ("rsa3072", "ec")])
def test_whole_update(platform, old, new):
    keys = {"ec": ec_key, "rsa2048": lambda: rsa_key(2048), "rsa3072": lambda: rsa_key(3072)}
    old_key = keys[old]()
    new_key = keys[new]() if new != old else (rsa_key(2048, 1) if new == "rsa2048" else ec_key())
    r = Renewal(platform, key=old_key)
    c = r.client
    assert c.get(r.path("/certificate")).json["error"]["code"] == "not_issued"
    assert c.get(r.path("/seal")).error["code"] == "not_confirmed"
    ch = r.challenge()
    assert ch["challenge_id"].startswith("ch_") and len(unb64(ch["nonce"])) == 32
    assert ch["key_algorithms"] == [{"type": "rsa", "bits": 2048}, {"type": "rsa", "bits": 3072},
                                    {"type": "ec", "curve": "P-256"}, {"type": "sm2"}]
    old_cert = x509.load_der_x509_certificate(r.old_der)
    assert ch["subject"] == old_cert.subject.rfc4514_string()
    assert unb64(ch["subject_der"]) == old_cert.subject.public_bytes()
    assert ch["old_certificate_serial"] == r.old_serial and ch["years"] == 1
    assert ch["key_usage"] == ["digitalSignature", "nonRepudiation"]
    assert ch["extended_key_usage"] == ["clientAuth", "emailProtection"]
    # the CSR carries the old subject (also allowed: empty)
    csr = x509.CertificateSigningRequestBuilder().subject_name(old_cert.subject).sign(new_key, hashes.SHA256())
    csr_der = csr.public_bytes(serialization.Encoding.DER)
    body = r.issue_body(ch, new_key, csr=csr_der)
    body["key_serial"] = "1A29TEST00000002"
    res = c.post(r.path("/issue"), body)
    assert res.status == 201, res
    cert = check_certificate(platform, r, res, new_key)
    # before confirm: the old certificate stays valid, the new one waits
    certs = {x["serial"]: x for x in c.get("/api/v1/certificates").json["items"]}
    assert certs[r.old_serial]["status"] == "valid"
    assert certs[res.json["serial"]]["status"] == "pending_confirmation"
    assert certs[res.json["serial"]]["key_serial"] == "1A29TEST00000002"
    item = c.get(r.path()).json
    assert item["status"] == "issued" and item["certificate_serial"] == res.json["serial"]
    assert item["actions"] == ["view", "update"]
    again = c.get(r.path("/certificate"))
    assert again.status == 200 and again.json == res.json
    assert c.get(r.path("/seal")).error["code"] == "not_confirmed"
    conf = c.post(r.path("/confirm"), {"serial": res.json["serial"]})
    assert conf.status == 200, conf
    o = conf.json
    assert o["order_status"] == "completed" and o["items"][0]["status"] == "completed"
    assert o["items"][0]["actions"] == ["view"] and o["actions"] == ["view", "rate"]
    certs = {x["serial"]: x for x in c.get("/api/v1/certificates").json["items"]}
    assert certs[r.old_serial]["status"] == "superseded"
    assert certs[res.json["serial"]]["status"] == "valid"
    assert len(issuances(platform, r.number)) == 1
    check_seal(platform, c, r, res.json, cert)
    # the confirm's answer carries the same e-seal record (§10.5), again on a repeated confirm
    assert o["seal"] == c.get(r.path("/seal")).json["seal"]
    again = c.post(r.path("/confirm"), {"serial": res.json["serial"]})
    assert again.status == 200 and again.json["seal"] == o["seal"]


def test_stats_count_requests_and_connections(platform):
    """The operator's stats count the account side's requests and the connections that carried them."""
    r = Renewal(platform)
    assert platform.op.call("DELETE", "/api/v1/operator/stats").status == 204
    c = r.client
    c.get(r.path())
    c.get(r.path("/certificate"))
    c.close()
    c.get(r.path())
    st = platform.op.get("/api/v1/operator/stats").json
    assert st["requests"] == 3 and st["connections"] == 2, st
    assert [(x["method"], x["path"]) for x in st["items"]] == [("GET", r.path()), ("GET", r.path("/certificate")),
                                                               ("GET", r.path())]
    assert platform.op.call("DELETE", "/api/v1/operator/stats").status == 204
    assert platform.op.get("/api/v1/operator/stats").json == {"requests": 0, "connections": 0, "items": []}


def check_seal(p, c, r, issued, cert):
    s = c.get(r.path("/seal"))
    assert s.status == 200, s
    seal = s.json["seal"]
    assert set(seal) == {"seal_id", "certificate_serial", "certificate_sha256", "name", "image_type", "image",
                         "valid_from", "valid_to", "signature_algorithm", "signature"}
    cert_der = unb64(issued["certificate"])
    assert seal["certificate_serial"] == issued["serial"]
    assert seal["certificate_sha256"] == hashlib.sha256(cert_der).hexdigest()
    assert seal["name"] == PERSON[0]
    assert (seal["valid_from"], seal["valid_to"]) == (issued["not_before"], issued["not_after"])
    image = unb64(seal["image"])
    assert seal["image_type"] == "image/png" and image.startswith(b"\x89PNG\r\n\x1a\n")
    msg = (b"ZRCA-SEAL-V1\x00" + seal["seal_id"].encode() + b"\x00" + seal["certificate_serial"].encode() + b"\x00"
           + hashlib.sha256(cert_der).digest() + seal["name"].encode("utf-8") + b"\x00"
           + seal["image_type"].encode() + b"\x00" + hashlib.sha256(image).digest()
           + seal["valid_from"].encode() + b"\x00" + seal["valid_to"].encode() + b"\x00")
    issuing = x509.load_der_x509_certificate(unb64(issued["chain"][0]))
    assert seal["signature_algorithm"] == "ecdsa-with-SHA256"
    issuing.public_key().verify(unb64(seal["signature"]), msg, ec.ECDSA(hashes.SHA256()))
    assert c.get(r.path("/seal")).body == s.body  # the same record every time


def test_seed_dates(platform):
    """In the seed a certificate ending 2027-04-10 was renewed to 2028-04-09 (one year bought)."""
    c = platform.create_account("acme")
    key = ec_key()
    prov = platform.provision("acme", "personal", key, holder_name=PERSON[0], holder_id=PERSON[1],
                              not_after="2027-04-10T00:00:00Z")
    res = apply(c, renewal_app())
    r = Renewal.attach(platform, c, res.json["number"], key, unb64(prov["certificate"]))
    platform.review(r.number)
    _, res = r.issue()
    assert res.status == 201, res
    assert res.json["not_after"] == "2028-04-09T00:00:00Z"


def test_org_and_legal_rep_items_and_partial_confirm(platform):
    c = platform.create_account("acme")
    k_org, k_lr = ec_key(), ec_key()
    org = platform.provision("acme", "org", k_org, days=100)
    lr = platform.provision("acme", "legal_rep", k_lr, days=100)
    app = renewal_app(persons=[], org={"years": 1, "count": 1},
                      legal_rep={"id_type": "id_card", "id_number": valid_id("330106", "19700101", "011"),
                                 "years": 1, "count": 1})
    res = apply(c, app)
    assert res.status == 201, res
    r = Renewal.attach(platform, c, res.json["number"])
    platform.review(r.number)
    r.old_key, r.old_der = k_org, unb64(org["certificate"])
    _, i1 = r.issue(idx=1)
    assert i1.status == 201, i1
    conf = c.post(r.path("/confirm", 1), {"serial": i1.json["serial"]})
    assert conf.json["order_status"] == "awaiting_issuance"
    assert [i["status"] for i in conf.json["items"]] == ["completed", "pending"]
    seal = c.get(r.path("/seal", 1)).json["seal"]
    assert seal["name"] == "测试acme有限公司"
    r.old_key, r.old_der = k_lr, unb64(lr["certificate"])
    _, i2 = r.issue(idx=2)
    assert i2.status == 201, i2
    conf = c.post(r.path("/confirm", 2), {"serial": i2.json["serial"]})
    assert conf.json["order_status"] == "completed"
    assert c.get(r.path("/seal", 2)).json["seal"]["name"] == "钱测试"


# ------------------------------------------------------------------ every check, broken once

@pytest.fixture
def ren(platform):
    return Renewal(platform)


def post_issue(r, body, key="auto"):
    return r.client.post(r.path("/issue"), body, key=key)


def expect_422(res, field, rule):
    assert res.status == 422, res
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in res.error["errors"]]


def test_challenge_unknown(ren):
    ch = ren.challenge()
    body = ren.issue_body(ch, ec_key())
    body["challenge_id"] = "ch_" + "0" * 32
    expect_422(post_issue(ren, body), "challenge_id", "mismatch")


def test_challenge_of_another_item(platform):
    p2 = ("李测试", valid_id("440305", "19920202", "246"), "招标专员")
    c = platform.create_account("acme")
    k1, k2 = ec_key(), ec_key()
    platform.provision("acme", "personal", k1, holder_name=PERSON[0], holder_id=PERSON[1])
    platform.provision("acme", "personal", k2, holder_name=p2[0], holder_id=p2[1])
    res = apply(c, renewal_app(persons=[PERSON, p2]))
    number = res.json["number"]
    platform.review(number)
    ch2 = c.post("/api/v1/orders/%s/items/2/challenge" % number, {}, key=None).json
    r = Renewal.attach(platform, c, number, k1,
                       unb64(c.get("/api/v1/certificates?kind=personal").json["items"][0]["certificate"]))
    expect_422(post_issue(r, r.issue_body(ch2, ec_key())), "challenge_id", "mismatch")


def test_challenge_expired(platform, ren):
    platform.settings(challenge_ttl=1)
    ch = ren.challenge()
    time.sleep(1.2)
    res = post_issue(ren, ren.issue_body(ch, ec_key()))
    assert (res.status, res.error["code"]) == (409, "challenge_expired")


def test_challenge_used_once(ren):
    ch = ren.challenge()
    k = ec_key()
    assert post_issue(ren, ren.issue_body(ch, k)).status == 201
    res = post_issue(ren, ren.issue_body(ch, k))  # another idempotency key, the same challenge
    assert (res.status, res.error["code"]) == (409, "challenge_used")


def test_csr_not_base64(ren):
    body = ren.issue_body(ren.challenge(), ec_key())
    body["csr"] = "***"
    expect_422(post_issue(ren, body), "csr", "base64")


def test_csr_not_der(ren):
    body = ren.issue_body(ren.challenge(), ec_key())
    body["csr"] = b64(b"not a csr")
    expect_422(post_issue(ren, body), "csr", "der")


def test_csr_bad_signature(ren):
    k = ec_key()
    # the last byte of the request is the last byte of the ECDSA signature's s: still DER, no longer valid
    der = bytearray(make_csr(k))
    der[-1] ^= 0x01
    expect_422(post_issue(ren, ren.issue_body(ren.challenge(), k, csr=bytes(der))), "csr", "signature")
    # a changed byte in the signed part (the key's own request, another subject afterwards)
    der = make_csr(k, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AAAA")]))
    der = der.replace(b"AAAA", b"AAAB")
    expect_422(post_issue(ren, ren.issue_body(ren.challenge(), k, csr=der)), "csr", "signature")


@pytest.mark.parametrize("keymaker", [lambda: ec.generate_private_key(ec.SECP384R1()),
                                      lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024)],
                         ids=["ec-p384", "rsa-1024"])
def test_csr_key_algorithm(ren, keymaker):
    expect_422(post_issue(ren, ren.issue_body(ren.challenge(), keymaker())), "csr", "key_algorithm")


def test_csr_other_subject(ren):
    k = ec_key()
    csr = make_csr(k, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")]))
    expect_422(post_issue(ren, ren.issue_body(ren.challenge(), k, csr=csr)), "csr", "subject")


def test_old_certificate_of_someone_else(platform, ren):
    other_key = ec_key()
    other = platform.provision("acme", "org", other_key, days=40)
    body = ren.issue_body(ren.challenge(), ec_key(), old_key=other_key, old_der=unb64(other["certificate"]))
    expect_422(post_issue(ren, body), "old_certificate", "mismatch")


def test_old_certificate_not_der(ren):
    body = ren.issue_body(ren.challenge(), ec_key())
    body["old_certificate"] = b64(b"\x30\x03\x02\x01\x01")
    expect_422(post_issue(ren, body), "old_certificate", "der")


def test_old_certificate_expired(platform):
    c = platform.create_account("acme")
    key = ec_key()
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    prov = platform.provision("acme", "personal", key, holder_name=PERSON[0], holder_id=PERSON[1],
                              not_after=(now + _dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    res = apply(c, renewal_app())
    assert res.status == 201
    r = Renewal.attach(platform, c, res.json["number"], key, unb64(prov["certificate"]))
    platform.review(r.number)
    ch = r.challenge()
    time.sleep(max(0.0, (now + _dt.timedelta(seconds=2.2) - _dt.datetime.now(_dt.timezone.utc)).total_seconds()))
    expect_422(post_issue(r, r.issue_body(ch, ec_key())), "old_certificate", "not_current")


def test_proof_by_another_key(ren):
    body = ren.issue_body(ren.challenge(), ec_key(), old_key=ec_key())
    expect_422(post_issue(ren, body), "proof", "signature")


@pytest.mark.parametrize("what", ["nonce", "csr", "number", "index", "label"])
def test_proof_over_other_bytes(ren, what):
    ch = ren.challenge()
    k = ec_key()
    csr = make_csr(k)
    nonce = unb64(ch["nonce"])
    if what == "nonce":
        pr = proof(ren.old_key, bytes(32), csr, ren.number, 1)
    elif what == "csr":
        pr = proof(ren.old_key, nonce, make_csr(ec_key()), ren.number, 1)
    elif what == "number":
        pr = proof(ren.old_key, nonce, csr, ren.number[:-1] + ("1" if ren.number[-1] == "0" else "0"), 1)
    elif what == "index":
        pr = proof(ren.old_key, nonce, csr, ren.number, 2)
    else:
        msg = b"ZRCA-RENEW-PROOF-V2\x00" + nonce + hashlib.sha256(csr).digest() + ren.number.encode() + b"\x001"
        pr = ren.old_key.sign(msg, ec.ECDSA(hashes.SHA256()))
    body = {"challenge_id": ch["challenge_id"], "csr": b64(csr), "old_certificate": b64(ren.old_der),
            "proof": b64(pr)}
    expect_422(post_issue(ren, body), "proof", "signature")


def test_proof_not_base64(ren):
    body = ren.issue_body(ren.challenge(), ec_key())
    body["proof"] = "%%%"
    expect_422(post_issue(ren, body), "proof", "base64")


def test_new_key_is_the_old_key(ren):
    expect_422(post_issue(ren, ren.issue_body(ren.challenge(), ren.old_key)), "csr", "same_key")


def test_issue_fields_required(ren):
    res = post_issue(ren, {"extra": 1})
    got = {(e["field"], e["rule"]) for e in res.error["errors"]}
    assert got == {("extra", "unknown_field"), ("challenge_id", "required"), ("csr", "required"),
                   ("old_certificate", "required"), ("proof", "required")}
    res = post_issue(ren, ren.issue_body(ren.challenge(), ec_key()), key=None)
    assert res.status == 400 and res.error["code"] == "idempotency_key_required"


def test_already_issued_for_another_key(platform, ren):
    _, first = ren.issue()
    assert first.status == 201
    _, second = ren.issue(ec_key())
    assert (second.status, second.error["code"]) == (409, "already_issued")
    assert len(issuances(platform, ren.number)) == 1


def test_same_key_again_resumes_without_second_issuance(platform, ren):
    k = ec_key()
    _, first = ren.issue(k)
    _, again = ren.issue(k)  # a new challenge, a new idempotency key, the same new key
    assert again.status == 200 and again.json == first.json
    assert len(issuances(platform, ren.number)) == 1


def test_replay_after_challenge_expired(platform, ren):
    platform.settings(challenge_ttl=1)
    ch = ren.challenge()
    k = key_id()
    body = ren.issue_body(ch, ec_key())
    first = post_issue(ren, body, key=k)
    assert first.status == 201
    time.sleep(1.2)
    again = post_issue(ren, body, key=k)
    assert again.status == 201 and again.body == first.body and again.header("Idempotent-Replayed") == "true"
    assert len(issuances(platform, ren.number)) == 1


def test_confirm_rules(platform, ren):
    res = ren.client.post(ren.path("/confirm"), {"serial": "00"})
    assert (res.status, res.error["code"]) == (409, "not_issued")
    _, issued = ren.issue()
    serial = issued.json["serial"]
    expect_422(ren.client.post(ren.path("/confirm"), {"serial": "ab" * 16}), "serial", "mismatch")
    expect_422(ren.client.post(ren.path("/confirm"), {}), "serial", "required")
    res = ren.client.post(ren.path("/confirm"), {"serial": serial}, key=None)
    assert res.status == 400
    first = ren.client.post(ren.path("/confirm"), {"serial": serial})
    assert first.status == 200
    again = ren.client.post(ren.path("/confirm"), {"serial": serial})  # another key: answered again
    assert again.status == 200 and again.json["order_status"] == "completed"
    expect_422(ren.client.post(ren.path("/confirm"), {"serial": "ab" * 16}), "serial", "mismatch")
    # after completion: no more challenges
    res = ren.client.post(ren.path("/challenge"), {}, key=None)
    assert (res.status, res.error["rule"]) == (409, "update")


def test_challenge_body_must_be_empty(ren):
    res = ren.client.post(ren.path("/challenge"), {"algorithm": "rsa"}, key=None)
    expect_422(res, "algorithm", "unknown_field")


def test_renewal_of_the_renewed_certificate(platform, ren):
    """After confirm the new certificate is the current one: a later renewal binds it."""
    k = ec_key()
    _, issued = ren.issue(k)
    ren.client.post(ren.path("/confirm"), {"serial": issued.json["serial"]})
    res = apply(ren.client, renewal_app())
    assert res.status == 201
    assert res.json["items"][0]["old_certificate_serial"] == issued.json["serial"]
    # the superseded one can no longer serve as the old certificate
    number = res.json["number"]
    platform.review(number)
    r2 = Renewal.attach(platform, ren.client, number, ren.old_key, ren.old_der)
    expect_422(post_issue(r2, r2.issue_body(r2.challenge(), ec_key())), "old_certificate", "mismatch")
    r2.old_key, r2.old_der = k, base64.b64decode(issued.json["certificate"])
    _, res = r2.issue()
    assert res.status == 201


def test_seed_flow_on_the_demo_account(demo):
    """doc/protocol.md section 16, request by request, on the demo data."""
    c = demo.login("demo", "Demo-2026!")
    ent = c.get("/api/v1/enterprise").json
    fees = c.get("/api/v1/fees").json
    assert {"business": "renewal", "kind": "personal", "years": 1, "price_fen": 0} in fees["items"]
    soon = [x for x in c.get("/api/v1/certificates?kind=personal&status=valid").json["items"] if x["days_left"] < 30]
    assert soon
    person = [p for p in c.get("/api/v1/persons").json["items"] if p["id_number"] == soon[0]["holder_id_number"]][0]
    # the test puts that person's certificate on a "USB key": a key and a certificate provisioned for it
    old_key = ec_key()
    prov = demo.provision("demo", "personal", old_key, days=soon[0]["days_left"] - 1, holder_name=person["name"],
                          holder_id=person["id_number"], position=person["position"], key_serial="1A29DEMO99999999")
    app = renewal_app(persons=[(person["name"], person["id_number"], person["position"])])
    res = apply(c, app)
    assert res.status == 201, res
    number = res.json["number"]
    assert res.json["payment_status"] == "not_required"
    path = "/api/v1/orders/" + number
    first = c.get(path)
    assert first.header("Retry-After")
    demo.ctl("approve", number)
    polled = c.get(path, headers={"If-None-Match": first.header("ETag")})
    assert polled.status == 200 and polled.json["review_status"] == "approved"
    assert any(number in n["text"] for n in c.get("/api/v1/notifications").json["items"])
    item = polled.json["items"][0]
    assert item["actions"] == ["view", "update"] and item["old_certificate_serial"] == prov["serial"]
    r = Renewal.attach(demo, c, number, old_key, unb64(prov["certificate"]))
    ch = r.challenge()
    new_key = rsa_key(2048)
    subject = x509.load_der_x509_certificate(r.old_der).subject
    assert subject.public_bytes() == unb64(ch["subject_der"])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        new_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    issued = c.post(r.path("/issue"), r.issue_body(ch, new_key, csr=csr))
    assert issued.status == 201, issued
    cert = check_certificate(demo, r, issued, new_key)
    assert issued.json["not_after"] > soon[0]["not_after"]
    conf = c.post(r.path("/confirm"), {"serial": issued.json["serial"]})
    assert conf.json["order_status"] == "completed"
    seal = c.get(r.path("/seal")).json["seal"]
    assert seal["name"] == person["name"] and seal["certificate_serial"] == issued.json["serial"]
    assert seal["certificate_sha256"] == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert c.post("/api/v1/orders/%s/rate" % number, {"score": 5, "comment": "顺利"}).status == 200
    assert ent["role"] == "tenderer"
