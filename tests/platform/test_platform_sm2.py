# SPDX-License-Identifier: MIT
"""The reference platform's SM2 CA (zrca_platform/sm2.py), checked with the openssl command line:
the chain verifies with the distinguishing ID and not without it, a certificate keeps the request's
subject byte for byte and gets exactly the dates and extensions asked, and every way a request or a
signature can be wrong is refused with its rule."""
import datetime as dt
import os
import subprocess

import pytest

from zrca_platform import sm2

UTC = dt.timezone.utc


def ossl(args, cwd, data=None, check=True):
    r = subprocess.run(["openssl"] + args, cwd=cwd, input=data, capture_output=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r


def sm2_key(d, name="ee.key"):
    ossl(["genpkey", "-algorithm", "SM2", "-out", name], d)
    return os.path.join(d, name)


def sm2_csr(d, key, subj="/C=CN/O=江南示范燃气工程有限公司/OU=项目负责人/CN=林晓雯", distid="1234567812345678"):
    r = ossl(["req", "-new", "-key", key, "-sm3", "-sigopt", "distid:" + distid, "-utf8", "-subj", subj,
              "-config", "/dev/null", "-outform", "DER"], d)
    return r.stdout


def write(d, name, data):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return sm2.SM2CA(str(tmp_path_factory.mktemp("sm2data")))


def test_ca_is_sm2_and_verifies_only_with_the_id(ca, tmp_path):
    d = str(tmp_path)
    root = write(d, "root.der", ca.root_der)
    iss = write(d, "iss.der", ca.issuing_der)
    text = ossl(["x509", "-inform", "DER", "-in", iss, "-noout", "-text"], d).stdout.decode()
    assert "SM2-with-SM3" in text and "CA:TRUE, pathlen:0" in text
    for der in (ca.root_der, ca.issuing_der):
        _, spki, alg, _ = sm2.cert_parts(der)
        assert alg == sm2.OID_SM2_WITH_SM3 and sm2.spki_is_sm2(spki)
    ossl(["x509", "-inform", "DER", "-in", root, "-out", "root.pem"], d)
    ossl(["x509", "-inform", "DER", "-in", iss, "-out", "iss.pem"], d)
    ok = ossl(["verify", "-CAfile", "root.pem", "-vfyopt", "distid:1234567812345678", "iss.pem"], d, check=False)
    assert ok.returncode == 0, ok.stderr
    bad = ossl(["verify", "-CAfile", "root.pem", "iss.pem"], d, check=False)
    assert bad.returncode != 0, "an SM2 chain verified without its distinguishing ID"
    other = ossl(["verify", "-CAfile", "root.pem", "-vfyopt", "distid:1234567812345679", "iss.pem"], d, check=False)
    assert other.returncode != 0


def test_issue_keeps_subject_dates_and_extensions(ca, tmp_path):
    d = str(tmp_path)
    csr = sm2_csr(d, sm2_key(d))
    subject, spki = ca.check_csr(csr)
    nb = dt.datetime(2026, 12, 3, 6, 51, 2, tzinfo=UTC)
    na = dt.datetime(2027, 12, 3, 6, 51, 2, tzinfo=UTC)
    serial = int.from_bytes(os.urandom(16), "big") >> 1
    cert = ca.issue(csr, serial, nb, na, crl_url="https://127.0.0.1:8443/crl/sm2.crl")
    c_subject, c_spki, alg, c_serial = sm2.cert_parts(cert)
    assert c_subject == subject, "the certificate's subject is not the request's DER"
    assert c_spki == spki and alg == sm2.OID_SM2_WITH_SM3 and c_serial == serial
    write(d, "c.der", cert)
    text = ossl(["x509", "-inform", "DER", "-in", "c.der", "-noout", "-text", "-dates", "-nameopt", "utf8"],
                d).stdout.decode()
    assert "notBefore=Dec  3 06:51:02 2026 GMT" in text and "notAfter=Dec  3 06:51:02 2027 GMT" in text
    assert "Digital Signature, Non Repudiation" in text
    assert "TLS Web Client Authentication, E-mail Protection" in text
    assert "CA:FALSE" in text and "URI:https://127.0.0.1:8443/crl/sm2.crl" in text
    for name, der in (("root.pem", ca.root_der), ("iss.pem", ca.issuing_der)):
        ossl(["x509", "-inform", "DER", "-out", name], d, data=der)
    ossl(["x509", "-inform", "DER", "-in", "c.der", "-out", "c.pem"], d)
    # `openssl verify -vfyopt` sets the ID on the leaf only: the leaf against the issuing CA as a
    # partial chain, the issuing CA against the root (test above)
    r = ossl(["verify", "-partial_chain", "-CAfile", "iss.pem", "-vfyopt", "distid:1234567812345678", "c.pem"],
             d, check=False)
    assert r.returncode == 0, r.stderr
    r = ossl(["verify", "-partial_chain", "-CAfile", "root.pem", "-vfyopt", "distid:1234567812345678", "c.pem"],
             d, check=False)
    assert r.returncode != 0, "the leaf verified against the root it was not signed by"


def test_csr_refusals(ca, tmp_path):
    d = str(tmp_path)
    key = sm2_key(d)
    good = sm2_csr(d, key)
    # signed with another distinguishing ID than the one the CA is told
    with pytest.raises(sm2.SM2Error) as e:
        ca.check_csr(sm2_csr(d, key, distid="ALICE123@YAHOO.COM"))
    assert e.value.rule == "signature"
    # ... which the CA accepts when told that ID
    ca.check_csr(sm2_csr(d, key, distid="ALICE123@YAHOO.COM"), distid=b"ALICE123@YAHOO.COM")
    # one bit of the signed part flipped
    bad = bytearray(good)
    bad[40] ^= 0x01
    with pytest.raises(sm2.SM2Error) as e:
        ca.check_csr(bytes(bad))
    assert e.value.rule in ("signature", "der")
    # the last byte of the signature flipped
    bad = bytearray(good)
    bad[-1] ^= 0x01
    with pytest.raises(sm2.SM2Error) as e:
        ca.check_csr(bytes(bad))
    assert e.value.rule in ("signature", "der")
    # a P-256 key with ECDSA-SHA256: not SM2
    ossl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p256.key"], d)
    p256 = ossl(["req", "-new", "-key", "p256.key", "-sha256", "-subj", "/CN=x", "-config", "/dev/null",
                 "-outform", "DER"], d).stdout
    with pytest.raises(sm2.SM2Error) as e:
        ca.check_csr(p256)
    assert e.value.rule == "signature_algorithm"
    # truncated, empty, trailing bytes
    for junk in (good[:-5], b"", good + b"\x00", b"\x30\x84\xff\xff\xff\xff"):
        with pytest.raises(sm2.SM2Error) as e:
            ca.check_csr(junk)
        assert e.value.rule == "der"
    # a CSR that is refused is never issued
    with pytest.raises(sm2.SM2Error):
        ca.issue(p256, 5, dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC))


def test_signatures(ca, tmp_path):
    d = str(tmp_path)
    _, iss_spki, _, _ = sm2.cert_parts(ca.issuing_der)
    msg = b"ZRCA-SEAL-V1\x00" + os.urandom(40)
    sig = ca.sign(msg)
    assert sm2.verify(iss_spki, sig, msg)
    assert not sm2.verify(iss_spki, sig, msg + b"x")
    assert not sm2.verify(iss_spki, sig, msg, distid=b"1234567812345679")
    bad = bytearray(sig)
    bad[-1] ^= 1
    assert not sm2.verify(iss_spki, bytes(bad), msg)
    # the openssl command line agrees, with the ID
    write(d, "msg", msg)
    write(d, "sig", sig)
    ossl(["x509", "-inform", "DER", "-in", write(d, "iss.der", ca.issuing_der), "-pubkey", "-noout",
          "-out", "pub.pem"], d)
    ok = ossl(["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3", "-pkeyopt",
               "distid:1234567812345678", "-in", "msg", "-sigfile", "sig"], d, check=False)
    assert ok.returncode == 0
    # a P-256 key is never taken for SM2
    ossl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p.key"], d)
    p_spki = ossl(["pkey", "-in", "p.key", "-pubout", "-outform", "DER"], d).stdout
    assert not sm2.spki_is_sm2(p_spki)
    assert not sm2.verify(p_spki, sig, msg)
    # distinguishing IDs that cannot be passed safely are refused, not passed on
    for distid in (b"", b"a:b", b"a,b", b"x" * 65, b"\xe4\xb8\xad"):
        with pytest.raises(sm2.SM2Error):
            sm2.verify(iss_spki, sig, msg, distid=distid)


def test_sm3_known_answer():
    # GM/T 0004-2012 appendix A, example 1
    assert sm2.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_ca_is_made_once_and_kept(tmp_path):
    a = sm2.SM2CA(str(tmp_path))
    b = sm2.SM2CA(str(tmp_path))
    assert a.root_der == b.root_der and a.issuing_der == b.issuing_der
    assert os.stat(os.path.join(str(tmp_path), "sm2ca", "issuing.key")).st_mode & 0o077 == 0


# ---- an SM2 holder through the routes (doc/protocol.md section 20) ------------------------------------------

def sm2_sign(d, key, message, distid="1234567812345678"):
    write(d, "msg", message)
    return ossl(["pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-pkeyopt", "distid:" + distid,
                 "-in", "msg"], d).stdout


def slash_subject(name):
    """A Name as openssl's -subj, in its own order (C, O, OU, CN, serialNumber)."""
    short = {"countryName": "C", "organizationName": "O", "organizationalUnitName": "OU", "commonName": "CN",
             "serialNumber": "serialNumber"}
    return "".join("/%s=%s" % (short[a.oid._name], a.value) for a in name)


def b64(b):
    import base64
    return base64.b64encode(b).decode()


def provision_sm2(platform, d, account):
    """An account whose personal certificate the operator provisions for an SM2 key made in `d`:
    (client, old key path, the provisioning answer)."""
    from platform_client import PERSON
    c = platform.create_account(account)
    old_key = sm2_key(d, "old.key")
    prov = platform.op.post("/api/v1/operator/certificates", {
        "account": account, "kind": "personal", "csr": b64(sm2_csr(d, old_key)), "holder_name": PERSON[0],
        "holder_id_number": PERSON[1], "position": PERSON[2],
        "not_after": (dt.datetime.now(UTC) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert prov.status == 201, prov
    return c, old_key, prov


def test_sm2_holder_renewed_through_the_routes(platform, tmp_path):
    import base64
    import hashlib
    from cryptography import x509
    from platform_client import apply, renewal_app
    d = str(tmp_path)
    # the operator provisions an SM2 holder: the SM2 CA is made now, and the roots file names its root
    c, old_key, prov = provision_sm2(platform, d, "sm2acct")
    old_der = base64.b64decode(prov.json["certificate"])
    _, old_spki, alg, _ = sm2.cert_parts(old_der)
    assert alg == sm2.OID_SM2_WITH_SM3 and sm2.spki_is_sm2(old_spki)
    sm2ca = sm2.SM2CA(str(platform.data))
    assert prov.json["chain"] == [b64(sm2ca.issuing_der), b64(sm2ca.root_der)]
    roots = open(platform.info["roots_file"], "rb").read()
    assert roots.count(b"BEGIN CERTIFICATE") == 2 and open(sm2ca.root_pem, "rb").read() in roots
    # a renewal order, its challenge offers SM2
    r = apply(c, renewal_app())
    assert r.status == 201, r
    number = r.json["number"]
    platform.review(number)
    path = "/api/v1/orders/%s/items/1" % number
    ch = c.post(path + "/challenge", {}, key=None)
    assert ch.status == 201 and {"type": "sm2"} in ch.json["key_algorithms"], ch
    old = x509.load_der_x509_certificate(old_der)
    new_key = sm2_key(d, "new.key")
    csr = sm2_csr(d, new_key, subj=slash_subject(old.subject))
    nonce = base64.b64decode(ch.json["nonce"])
    msg = (b"ZRCA-RENEW-PROOF-V1\x00" + nonce + hashlib.sha256(csr).digest() + number.encode() + b"\x001")
    body = {"challenge_id": ch.json["challenge_id"], "csr": b64(csr), "old_certificate": b64(old_der),
            "proof": b64(sm2_sign(d, old_key, msg))}
    # a proof made with another ID does not verify: 422 proof signature
    bad = dict(body, proof=b64(sm2_sign(d, old_key, msg, distid="9999999999999999")))
    res = c.post(path + "/issue", bad)
    assert res.status == 422 and res.error["errors"][0]["field"] == "proof", res
    ch2 = c.post(path + "/challenge", {}, key=None).json
    msg = (b"ZRCA-RENEW-PROOF-V1\x00" + base64.b64decode(ch2["nonce"]) + hashlib.sha256(csr).digest()
           + number.encode() + b"\x001")
    body.update(challenge_id=ch2["challenge_id"], proof=b64(sm2_sign(d, old_key, msg)))
    res = c.post(path + "/issue", body)
    assert res.status == 201, res
    new_der = base64.b64decode(res.json["certificate"])
    subject, spki, alg, _ = sm2.cert_parts(new_der)
    _, want_spki, _ = sm2.csr_parts(csr)
    assert alg == sm2.OID_SM2_WITH_SM3 and spki == want_spki
    assert subject == sm2.cert_parts(old_der)[0]  # the old subject, byte for byte
    assert res.json["chain"] == [b64(sm2ca.issuing_der), b64(sm2ca.root_der)]
    new = x509.load_der_x509_certificate(new_der)
    assert new.issuer == x509.load_der_x509_certificate(sm2ca.issuing_der).subject
    assert new.not_valid_after == old.not_valid_after + dt.timedelta(days=365)
    # openssl checks the signature with the ID (the issuing CA as the anchor), and not without it
    write(d, "leaf.der", new_der)
    write(d, "iss.der", sm2ca.issuing_der)
    ossl(["x509", "-inform", "DER", "-in", "leaf.der", "-out", "leaf.pem"], d)
    ossl(["x509", "-inform", "DER", "-in", "iss.der", "-out", "iss.pem"], d)
    ok = ossl(["verify", "-partial_chain", "-CAfile", "iss.pem", "-vfyopt", "distid:1234567812345678", "leaf.pem"],
              d, check=False)
    assert ok.returncode == 0, ok.stderr
    nok = ossl(["verify", "-partial_chain", "-CAfile", "iss.pem", "leaf.pem"], d, check=False)
    assert nok.returncode != 0
    conf = c.post(path + "/confirm", {"serial": res.json["serial"]})
    assert conf.status == 200 and conf.json["order_status"] == "completed", conf
    certs = {x["serial"]: x for x in c.get("/api/v1/certificates").json["items"]}
    assert certs[prov.json["serial"]]["status"] == "superseded" and certs[res.json["serial"]]["status"] == "valid"


def test_sm2_not_offered(platform, tmp_path):
    """With sm2_offered 0 a challenge offers no SM2 and an SM2 request is refused (csr key_algorithm)."""
    from platform_client import apply, renewal_app
    d = str(tmp_path)
    c, _, prov = provision_sm2(platform, d, "nosm2")
    for bad in (2, -1, "1", True):
        r = platform.op.call("PUT", "/api/v1/operator/settings", {"sm2_offered": bad})
        assert r.status == 422, (bad, r)
    assert platform.settings(sm2_offered=0)["sm2_offered"] == 0
    r = apply(c, renewal_app())
    number = r.json["number"]
    platform.review(number)
    path = "/api/v1/orders/%s/items/1" % number
    ch = c.post(path + "/challenge", {}, key=None).json
    assert {"type": "sm2"} not in ch["key_algorithms"] and {"type": "ec", "curve": "P-256"} in ch["key_algorithms"]
    csr = sm2_csr(d, sm2_key(d, "new.key"))
    res = c.post(path + "/issue", {"challenge_id": ch["challenge_id"], "csr": b64(csr),
                                   "old_certificate": prov.json["certificate"], "proof": b64(b"x" * 64)})
    assert res.status == 422 and {"field": "csr", "rule": "key_algorithm"} in [
        {"field": e["field"], "rule": e["rule"]} for e in res.error["errors"]], res
    assert platform.settings(sm2_offered=1)["sm2_offered"] == 1
    assert {"type": "sm2"} in c.post(path + "/challenge", {}, key=None).json["key_algorithms"]
