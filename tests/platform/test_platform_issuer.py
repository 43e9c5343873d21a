# SPDX-License-Identifier: MIT
"""The faulty issuer (doc/protocol.md section 13) and the operator's way out (reissue, release, section 12).

Every kind in both modes: the answered certificate has exactly the intended defect (the facts of a good
answer with one fact changed), mode recorded answers it again on every resume, mode wire only once."""
import datetime as _dt
import json
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from platform_client import Platform, Renewal, ec_key, key_id, unb64
from test_platform_update import load_pem, spki, verify_by

ISSUER = "/api/v1/operator/issuer"
GOOD_KU = {"digital_signature", "content_commitment"}
GOOD_EKU = [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
KU_ATTRS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
            "key_cert_sign", "crl_sign")
GOOD = {"parses": True, "trailing_bytes": False, "ca": False, "key_usage": GOOD_KU, "eku": GOOD_EKU,
        "not_after_offset": _dt.timedelta(0), "not_before_in_future": False, "not_before_ahead": False,
        "subject_der_same": True,
        "own_key": True, "serial_matches": True, "chain": "issuing,root", "platform_issuer": True,
        "hash": "sha256", "signature_ok": True, "unknown_critical": False}
DEFECT = {
    "ca_true": {"ca": True},
    "key_cert_sign": {"key_usage": GOOD_KU | {"key_cert_sign"}},
    "crl_sign": {"key_usage": GOOD_KU | {"crl_sign"}},
    "no_key_usage": {"key_usage": None},
    "no_extended_key_usage": {"eku": None},
    "key_usage_extra": {"key_usage": GOOD_KU | {"key_encipherment"}},
    "extended_key_usage_extra": {"eku": GOOD_EKU + [ExtendedKeyUsageOID.SERVER_AUTH]},
    "key_usage_missing": {"key_usage": {"digital_signature"}},
    "end_plus_day": {"not_after_offset": _dt.timedelta(days=1)},
    "end_minus_second": {"not_after_offset": -_dt.timedelta(seconds=1)},
    "not_before_future": {"not_before_in_future": True, "not_before_ahead": True},
    "subject_case": {"subject_der_same": False},
    "subject_trailing_space": {"subject_der_same": False},
    "subject_string_type": {"subject_der_same": False},
    "wrong_serial": {"serial_matches": False},
    "other_key": {"own_key": False},
    "other_ca": {"chain": "other", "platform_issuer": False},
    "expired_chain": {"chain": "other", "platform_issuer": False},
    "weak_issuer_key": {"chain": "other", "platform_issuer": False},
    "sha1_signature": {"hash": "sha1"},
    "bad_signature": {"signature_ok": False},
    "unknown_critical_extension": {"unknown_critical": True},
    "not_der": None,  # nothing but "it does not parse"
    "trailing_bytes": {"trailing_bytes": True},
    "md5_rsa_or_weak_digest": {"hash": "md5", "chain": "other", "platform_issuer": False},
    "chain_reversed": {"chain": "root,issuing"},
    "chain_leaf_repeated": {"chain": "leaf,issuing,root"},
    "clock_ahead": {"not_before_ahead": True},
}
KINDS = list(DEFECT)
# the kinds of the encryption half of a dual certificate (section 21): test_platform_dual.py
ENC_KINDS = ["enc_wrong_key", "enc_wrong_subject", "enc_signing_usage", "enc_other_ca", "enc_expired",
             "enc_envelope_other_key", "enc_envelope_corrupt", "enc_missing", "enc_same_key_as_signing"]
ACCEPTABLE = ["chain_reversed", "chain_leaf_repeated", "clock_ahead"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One platform for the many kind x mode flows (each on its own account)."""
    p = Platform(tmp_path_factory.mktemp("issuer") / "data")
    try:
        yield p
    finally:
        p.stop()


def set_fault(p, fault, mode=None, count=None):
    body = {"fault": fault}
    if mode:
        body["mode"] = mode
    if count is not None:
        body["count"] = count
    r = p.op.call("PUT", ISSUER, body)
    assert r.status == 200, r
    return r.json


def renewal(p):
    return Renewal(p, account="u" + uuid.uuid4().hex[:12])


def ca_der(p, name):
    with open("%s/ca/%s.pem" % (p.data, name), "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)


def promised_not_after(r):
    return x509.load_der_x509_certificate(r.old_der).not_valid_after + _dt.timedelta(days=365)


def _ku(cert):
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return None
    assert ku.critical
    return {a for a in KU_ATTRS if getattr(ku.value, a)}


def _eku(cert):
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _signed_by(issuer, cert):
    try:
        verify_by(issuer, cert)
        return True
    except Exception:
        return False


def answer_cert(ans):
    """The certificate of an answer, ignoring bytes after its DER (the trailing_bytes kind); None if none."""
    der = unb64(ans["certificate"])
    if len(der) > 4 and der[0] == 0x30 and der[1] & 0x80:
        n = der[1] & 0x7F
        der = der[:2 + n + int.from_bytes(der[2:2 + n], "big")]
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def facts(p, r, ans, new_key):
    """What a client checking the answer would find, one fact per rule."""
    assert set(ans) == {"certificate", "chain", "serial", "not_before", "not_after"}
    assert ans["not_after"] == promised_not_after(r).strftime("%Y-%m-%dT%H:%M:%SZ")  # always the promise
    der = unb64(ans["certificate"])
    cert = answer_cert(ans)
    if cert is None:
        return {"parses": False}
    chain = [unb64(c) for c in ans["chain"]]
    issuing, root = ca_der(p, "issuing"), ca_der(p, "root")
    own = cert.public_bytes(serialization.Encoding.DER)
    shapes = {(issuing, root): "issuing,root", (root, issuing): "root,issuing",
              (own, issuing, root): "leaf,issuing,root"}
    chain_certs = [x509.load_der_x509_certificate(c) for c in chain]
    by = [c for c in chain_certs if c.subject == cert.issuer and c.public_bytes(serialization.Encoding.DER) != own]
    old = x509.load_der_x509_certificate(r.old_der)
    now = _dt.datetime.utcnow()
    return {"parses": True, "trailing_bytes": own != der,
            "ca": cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca,
            "key_usage": _ku(cert), "eku": _eku(cert),
            "not_after_offset": cert.not_valid_after - promised_not_after(r),
            "not_before_in_future": cert.not_valid_before > now + _dt.timedelta(hours=1),
            "not_before_ahead": cert.not_valid_before > now + _dt.timedelta(seconds=60),
            "subject_der_same": cert.subject.public_bytes() == old.subject.public_bytes(),
            "own_key": spki(new_key) == cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
            "serial_matches": int(ans["serial"], 16) == cert.serial_number,
            "chain": shapes.get(tuple(chain), "other"),
            "platform_issuer": cert.issuer == x509.load_der_x509_certificate(issuing).subject,
            "hash": cert.signature_hash_algorithm.name, "signature_ok": bool(by) and _signed_by(by[0], cert),
            "unknown_critical": any(e.critical and isinstance(e.value, x509.UnrecognizedExtension)
                                    for e in cert.extensions)}


def expected(kind):
    if DEFECT[kind] is None:
        return {"parses": False}
    e = dict(GOOD)
    e.update(DEFECT[kind])
    return e


def check_kind_details(p, r, ans, kind):
    """What the facts do not say: the details of the subject and issuer kinds."""
    if not DEFECT[kind]:
        return
    cert = answer_cert(ans)
    old = x509.load_der_x509_certificate(r.old_der)
    chain = [x509.load_der_x509_certificate(unb64(c)) for c in ans["chain"]]
    root = load_pem(p.info["platform_ca_file"])
    if kind == "subject_case":
        assert cert.subject.rfc4514_string() != old.subject.rfc4514_string()
        assert cert.subject.rfc4514_string().lower() == old.subject.rfc4514_string().lower()
        assert "C=cn" in cert.subject.rfc4514_string()
    elif kind == "subject_trailing_space":
        cn = [a for a in cert.subject if a.oid == x509.NameOID.COMMON_NAME][0].value
        old_cn = [a for a in old.subject if a.oid == x509.NameOID.COMMON_NAME][0].value
        assert cn == old_cn + " "
    elif kind == "subject_string_type":
        assert cert.subject.rfc4514_string() == old.subject.rfc4514_string()
        assert [a._type for a in cert.subject] != [a._type for a in old.subject]
    elif kind == "other_ca":
        assert len(chain) == 1 and chain[0].subject == chain[0].issuer and chain[0] != root
        verify_by(chain[0], chain[0])
        verify_by(chain[0], cert)
    elif kind in ("expired_chain", "weak_issuer_key", "md5_rsa_or_weak_digest"):
        assert len(chain) == 2 and chain[1] == root
        verify_by(root, chain[0])
        verify_by(chain[0], cert)
        now = _dt.datetime.utcnow()
        assert (chain[0].not_valid_after < now) == (kind == "expired_chain")
        if kind == "weak_issuer_key":
            assert isinstance(chain[0].public_key(), rsa.RSAPublicKey) and chain[0].public_key().key_size == 1024
    elif kind == "not_before_future":
        assert cert.not_valid_before - _dt.datetime.utcnow() > _dt.timedelta(hours=23)


def issue_with_fault(p, kind, mode):
    r = renewal(p)
    set_fault(p, kind, mode)
    new_key = ec_key()
    k = key_id()
    ch = r.challenge()
    body = r.issue_body(ch, new_key)
    res = r.client.post(r.path("/issue"), body, key=k)
    assert res.status == 201, res
    return r, new_key, body, k, res


@pytest.mark.parametrize("mode", ["recorded", "wire"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind(shared, kind, mode):
    p = shared
    r, new_key, body, k, res = issue_with_fault(p, kind, mode)
    assert set_fault(p, None)["fault"] is None
    assert facts(p, r, res.json, new_key) == expected(kind)
    check_kind_details(p, r, res.json, kind)
    again = r.client.get(r.path("/certificate"))
    replay = r.client.post(r.path("/issue"), body, key=k)
    assert replay.header("Idempotent-Replayed") == "true"
    _, resumed = r.issue(new_key)  # a new challenge, the same key: the 200 already-issued answer
    assert resumed.status == 200, resumed
    certs = {c["serial"]: c for c in r.client.get("/api/v1/certificates").json["items"]}
    pending = [c for c in certs.values() if c["status"] == "pending_confirmation"]
    assert len(pending) == 1
    if mode == "recorded" or kind == "clock_ahead":  # clock_ahead: stored as sent in both modes
        assert again.body == res.body and replay.body == res.body and resumed.body == res.body
        if kind not in ("wrong_serial", "not_der"):
            assert pending[0]["serial"] == res.json["serial"]
            assert unb64(pending[0]["certificate"]) == answer_cert(res.json).public_bytes(serialization.Encoding.DER)
    else:
        good = again.json
        assert facts(p, r, good, new_key) == GOOD
        assert replay.body == again.body and resumed.body == again.body
        assert pending[0]["serial"] == good["serial"]
        if kind in ("chain_reversed", "chain_leaf_repeated", "wrong_serial", "trailing_bytes"):
            good_der = unb64(good["certificate"])  # the answer is about the same good certificate
            assert unb64(res.json["certificate"])[:len(good_der)] == good_der
    if kind in ACCEPTABLE:  # acceptable: confirm of its serial completes
        conf = r.client.post(r.path("/confirm"), {"serial": res.json["serial"]})
        assert conf.status == 200 and conf.json["order_status"] == "completed"


def test_setting_shape_validation_and_count(platform):
    g = platform.op.get(ISSUER)
    assert g.status == 200
    assert g.json == {"fault": None, "mode": "recorded", "remaining": 0, "kinds": KINDS + ENC_KINDS,
                      "acceptable": ACCEPTABLE}
    s = set_fault(platform, "ca_true")
    assert (s["fault"], s["mode"], s["remaining"]) == ("ca_true", "recorded", 1000000)
    for body, field, rule in [({"fault": "nope"}, "fault", "enum"), ({"fault": "ca_true", "mode": "x"}, "mode", "enum"),
                              ({"fault": "ca_true", "count": 0}, "count", "range"),
                              ({"fault": "ca_true", "count": 1000001}, "count", "range"),
                              ({"fault": "ca_true", "count": "1"}, "count", "type"),
                              ({"fault": "ca_true", "extra": 1}, "extra", "unknown_field"), ({}, "fault", "required")]:
        res = platform.op.call("PUT", ISSUER, body)
        assert res.status == 422 and (res.error["field"], res.error["rule"]) == (field, rule), (body, res)
    assert platform.op.get(ISSUER).json["remaining"] == 1000000  # refused requests changed nothing
    assert platform.client().get(ISSUER).status == 401
    # count: the next two issuances are faulty, then the issuer is good again
    set_fault(platform, "ca_true", "wire", 2)
    results = []
    for i in range(3):
        r = Renewal(platform, account="acct%d" % i)
        key, res = r.issue()
        results.append(facts(platform, r, res.json, key)["ca"])
    assert results == [True, True, False]
    assert platform.op.get(ISSUER).json == dict(g.json, mode="wire")


def test_setting_survives_restart_and_cli(platform):
    set_fault(platform, "end_plus_day", "wire", 5)
    platform.restart()
    assert platform.op.get(ISSUER).json["fault"] == "end_plus_day"
    shown = json.loads(platform.ctl("issuer-fault", "--show").stdout)
    assert (shown["fault"], shown["mode"], shown["remaining"]) == ("end_plus_day", "wire", 5)
    out = json.loads(platform.ctl("issuer-fault", "sha1_signature", "--count", "2").stdout)
    assert (out["fault"], out["mode"], out["remaining"]) == ("sha1_signature", "recorded", 2)
    assert platform.op.get(ISSUER).json["fault"] == "sha1_signature"  # the running server sees it
    r = Renewal(platform)
    key, res = r.issue()
    assert facts(platform, r, res.json, key)["hash"] == "sha1"
    assert platform.op.get(ISSUER).json["remaining"] == 1
    assert json.loads(platform.ctl("issuer-fault", "--clear").stdout)["fault"] is None
    assert platform.ctl("issuer-fault", "bogus", check=False).returncode == 1
    assert platform.ctl("issuer-fault", check=False).returncode == 2
    assert platform.op.get(ISSUER).json["fault"] is None


def issuances(p, r):
    res = p.op.get("/api/v1/operator/orders/%s/items/1/issuances" % r.number)
    assert res.status == 200
    return res.json["items"]


def op_path(r, action):
    return "/api/v1/operator/orders/%s/items/1/%s" % (r.number, action)


@pytest.mark.parametrize("how", ["api", "cli"])
def test_reissue(platform, how):
    r = Renewal(platform)
    set_fault(platform, "other_key", count=2)  # the reissue is faulty once more, then good
    new_key = ec_key()
    k = key_id()
    body = r.issue_body(r.challenge(), new_key)
    bad = r.client.post(r.path("/issue"), body, key=k)
    assert bad.status == 201 and not facts(platform, r, bad.json, new_key)["own_key"]
    assert issuances(platform, r)[0]["status"] == "pending_confirmation"

    def reissue():
        if how == "cli":
            return json.loads(platform.ctl("reissue", r.number, 1).stdout)
        res = platform.op.post(op_path(r, "reissue"), {})
        assert res.status == 201, res
        return res.json
    again_bad = reissue()
    assert facts(platform, r, again_bad, new_key) == expected("other_key")
    good = reissue()
    assert facts(platform, r, good, new_key) == GOOD  # the key of the CSR, not the bad certificate's
    assert r.client.get(r.path("/certificate")).json == good
    assert r.client.post(r.path("/issue"), body, key=k).json == good  # the old replay answers the new one
    _, resumed = r.issue(new_key)
    assert resumed.status == 200 and resumed.json == good
    iss = issuances(platform, r)
    assert [(i["status"], i["reissue"]) for i in iss] == [("revoked", False), ("revoked", True),
                                                          ("pending_confirmation", True)]
    assert iss[2]["serial"] == good["serial"] and iss[0]["public_key_sha256"] == iss[2]["public_key_sha256"]
    res = r.client.post(r.path("/confirm"), {"serial": bad.json["serial"]})
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "serial", "mismatch")
    conf = r.client.post(r.path("/confirm"), {"serial": good["serial"]})
    assert conf.status == 200 and conf.json["order_status"] == "completed"
    assert issuances(platform, r)[2]["status"] == "valid"
    res = platform.op.post(op_path(r, "reissue"), {})
    assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", "reissue")


def test_release(platform):
    r = Renewal(platform)
    set_fault(platform, "expired_chain", count=1)
    k1 = ec_key()
    body = r.issue_body(r.challenge(), k1)
    bad = r.client.post(r.path("/issue"), body, key="first-issue")
    assert bad.status == 201
    open_ch = r.challenge()  # an open challenge, dropped by the release
    res = platform.op.post(op_path(r, "release"), {"x": 1})
    assert res.status == 422 and res.error["rule"] == "unknown_field"
    rel = platform.op.post(op_path(r, "release"), {})
    assert rel.status == 200, rel
    item = rel.json["items"][0]
    assert (item["status"], item["certificate_serial"], item["actions"]) == ("pending", None, ["view", "update"])
    assert [(i["status"], i["reissue"]) for i in issuances(platform, r)] == [("revoked", False)]
    assert r.client.get(r.path("/certificate")).error["code"] == "not_issued"
    res = r.client.post(r.path("/confirm"), {"serial": bad.json["serial"]})
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "serial", "mismatch")
    res = r.client.post(r.path("/issue"), body, key="first-issue")  # no longer replayed: executed, refused
    assert res.status == 409 and res.header("Idempotent-Replayed") is None
    res = r.client.post(r.path("/issue"), r.issue_body(open_ch, ec_key()))
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "challenge_id", "mismatch")
    _, res = r.issue(k1)  # the released key
    assert (res.status, res.error["field"], res.error["rule"]) == (422, "csr", "released_key")
    k2 = ec_key()
    _, good = r.issue(k2)
    assert good.status == 201 and facts(platform, r, good.json, k2) == GOOD
    conf = r.client.post(r.path("/confirm"), {"serial": good.json["serial"]})
    assert conf.status == 200 and conf.json["order_status"] == "completed"
    for action in ("release", "reissue"):
        res = platform.op.post(op_path(r, action), {})
        assert (res.status, res.error["code"], res.error["rule"]) == (409, "invalid_transition", action)
    assert platform.op.post("/api/v1/operator/orders/Ca0/items/1/release", {}).status == 404
    assert platform.op.post("/api/v1/operator/orders/%s/items/9/reissue" % r.number, {}).status == 404


def test_release_by_cli_and_pending_item(platform):
    r = Renewal(platform)
    res = platform.op.post(op_path(r, "release"), {})
    assert (res.status, res.error["rule"]) == (409, "release")
    _, issued = r.issue()
    out = json.loads(platform.ctl("release", r.number, 1).stdout)
    assert out["items"][0]["status"] == "pending"
    assert platform.ctl("release", r.number, 1, check=False).returncode == 1
    certs = {c["serial"]: c["status"] for c in r.client.get("/api/v1/certificates").json["items"]}
    assert certs[issued.json["serial"]] == "revoked" and certs[r.old_serial] == "valid"
