# SPDX-License-Identifier: MIT
"""The SM2 dual certificate (doc/protocol.md section 21): the KMC's ENVELOPEDKEYBLOB byte by byte, the
encryption certificate of a provisioning and of a renewal, the wire's members and refusals, the answer
re-obtained byte for byte, confirm and revocation of the pair, and every faulty issuer kind of the
encryption half. The envelope is opened with the signing key's private key (openssl) and the private
key found is checked against the encryption certificate by openssl too, not only by kmc.py's own
curve arithmetic."""
import base64
import datetime as dt
import hashlib
import os
import sqlite3
import struct
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from platform_client import PERSON, Platform, apply, ec_key, key_id, make_csr, renewal_app, unb64
from test_platform_sm2 import ossl, slash_subject, sm2_csr, sm2_key, sm2_sign, write
from zrca_platform import kmc, sm2

UTC = dt.timezone.utc
ENVELOPE = "gmt0016-enveloped-key-blob"
ENC_KU = {"key_encipherment", "data_encipherment", "key_agreement"}
SIGN_KU = {"digital_signature", "content_commitment"}
KU_ATTRS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
            "key_cert_sign", "crl_sign")
SM2_OID = bytes.fromhex("06082a811ccf5501822d")


def b64(b):
    return base64.b64encode(b).decode()


def pem_of(path):
    with open(path, "rb") as f:
        return f.read()


def spki_of_private(d, tmp):
    """The SubjectPublicKeyInfo openssl derives from the private scalar d alone (an SEC1 key without its
    public key: OpenSSL computes d·G when it loads it)."""
    body = bytes.fromhex("020101") + b"\x04\x20" + d + b"\xa0" + bytes([len(SM2_OID)]) + SM2_OID
    sec1 = b"\x30" + bytes([len(body)]) + body
    return ossl(["pkey", "-inform", "DER", "-pubout", "-outform", "DER"], tmp, data=sec1).stdout


def spki_of_key_file(path, tmp):
    return ossl(["pkey", "-in", path, "-pubout", "-outform", "DER"], tmp).stdout


# ---- the envelope, byte by byte ------------------------------------------------------------------------

def test_envelope_layout(tmp_path):
    d = str(tmp_path)
    sig_key = sm2_key(d, "sig.key")
    sig_spki = spki_of_key_file(sig_key, d)
    pair = kmc.make_key_pair()
    k = os.urandom(16)
    blob = kmc.envelope(sig_spki, pair, sym_key=k)
    assert len(blob) == 388
    # the ULONGs, little-endian
    assert blob[0:4] == b"\x01\x00\x00\x00" and blob[4:8] == b"\x01\x04\x00\x00" and blob[8:12] == b"\x00\x01\x00\x00"
    assert blob[76:80] == b"\x00\x01\x00\x00" and blob[368:372] == b"\x10\x00\x00\x00"
    # 64-byte fields: 32 zero bytes, then the value
    for off in (12, 80, 144, 208, 272):
        assert blob[off:off + 32] == bytes(32), off
    # the private key: SM4-ECB (no padding) under k, decrypted here by the cryptography package
    dec = Cipher(algorithms.SM4(k), modes.ECB()).decryptor()
    d_key = dec.update(blob[44:76]) + dec.finalize()
    assert d_key == pair.d
    # PubKey: x, y of the KMC key, which openssl derives from d alone
    assert kmc.point_spki(blob[112:144], blob[176:208]) == spki_of_private(d_key, d) == pair.spki
    # C1 ‖ C3 ‖ C2 rebuilt as the DER SM2Cipher: openssl decrypts it with the signing key to k
    der = kmc.sm2_cipher_der(blob[240:272], blob[304:336], blob[336:368], blob[372:388])
    write(d, "c.der", der)
    assert ossl(["pkeyutl", "-decrypt", "-inkey", sig_key, "-in", "c.der"], d).stdout == k
    # C3 = SM3(x2 ‖ k ‖ y2): 32 bytes; C2 16 bytes; they differ from k (encrypted)
    assert blob[372:388] != k
    # open_envelope agrees, with the signing key only
    assert kmc.open_envelope(blob, pem_of(sig_key)) == pair.d
    with pytest.raises(kmc.EnvelopeError) as e:
        kmc.open_envelope(blob, pair.pem)
    assert e.value.rule == "decrypt"


def _with(blob, off, data):
    b = bytearray(blob)
    b[off:off + len(data)] = data
    return bytes(b)


def test_envelope_refusals(tmp_path):
    """Every rule of the Opening paragraph: each broken alone is refused with its rule."""
    d = str(tmp_path)
    sig_key = sm2_key(d, "sig.key")
    sig_pem = pem_of(sig_key)
    sig_spki = spki_of_key_file(sig_key, d)
    pair = kmc.make_key_pair()
    k = os.urandom(16)
    blob = kmc.envelope(sig_spki, pair, sym_key=k)
    cases = [(blob[:-1], "length"), (blob + b"\x00", "length"), (b"", "length"),
             (_with(blob, 0, struct.pack("<I", 2)), "version"),
             (_with(blob, 0, struct.pack(">I", 1)), "version"),  # big-endian is not the layout
             (_with(blob, 4, struct.pack("<I", 0x402)), "algorithm"),
             (_with(blob, 8, struct.pack("<I", 128)), "bits"),
             (_with(blob, 76, struct.pack("<I", 255)), "bit_length"),
             (_with(blob, 368, struct.pack("<I", 32)), "cipher_length")]
    for off in (12, 80, 144, 208, 272):
        cases.append((_with(blob, off + 31, b"\x01"), "padding"))
    cases.append((_with(blob, 44 + 7, bytes([blob[51] ^ 0x80])), "public_key"))  # d changed
    cases.append((_with(blob, 112, bytes([blob[112] ^ 0x01])), "public_key"))  # PubKey.X changed
    cases.append((_with(blob, 340, bytes([blob[340] ^ 0x01])), "decrypt"))  # C3 changed
    cases.append((_with(blob, 380, bytes([blob[380] ^ 0x01])), "decrypt"))  # C2 changed

    def enc(data):
        c = Cipher(algorithms.SM4(k), modes.ECB()).encryptor()
        return c.update(data) + c.finalize()
    cases.append((_with(blob, 44, enc(bytes(32))), "private_key"))  # d = 0
    cases.append((_with(blob, 44, enc(kmc.N.to_bytes(32, "big"))), "private_key"))  # d = n
    for bad, rule in cases:
        with pytest.raises(kmc.EnvelopeError) as e:
            kmc.open_envelope(bad, sig_pem)
        assert e.value.rule == rule, (rule, e.value)
    # a 32-byte symmetric key enveloped instead of 16 bytes
    x1, y1, c3, c2 = kmc.sm2_encrypt(sig_spki, os.urandom(32))
    assert len(c2) == 32
    der = kmc.sm2_cipher_der(x1, y1, c3, c2)
    write(d, "c.der", der)
    assert len(ossl(["pkeyutl", "-decrypt", "-inkey", sig_key, "-in", "c.der"], d).stdout) == 32
    assert kmc.open_envelope(blob, sig_pem) == pair.d  # the untouched one still opens


def test_sm2_cipher_integers_normalised():
    """OpenSSL's INTEGERs are minimal DER: 33 bytes with a leading 00, or shorter than 32."""
    assert kmc._int32(b"\x00" + b"\xff" * 32, "x") == b"\xff" * 32
    assert kmc._int32(b"\x01\x02", "x") == bytes(30) + b"\x01\x02"
    for bad in (b"\x01" * 33, b"\x80" + bytes(31)):
        with pytest.raises(kmc.EnvelopeError):
            kmc._int32(bad, "x")
    # and the encoder gives back what OpenSSL expects: 00 before a high bit, none before a small value
    assert kmc._der_int(b"\xff" + bytes(31)) == b"\x02\x21\x00\xff" + bytes(31)
    assert kmc._der_int(bytes(31) + b"\x05") == b"\x02\x01\x05"


def test_curve_arithmetic_agrees_with_openssl(tmp_path):
    d = str(tmp_path)
    for i in range(3):
        key = sm2_key(d, "k%d.key" % i)
        scalar = kmc.private_scalar(pem_of(key))
        x, y = kmc.point_mul(int.from_bytes(scalar, "big"))
        assert kmc.point_spki(x.to_bytes(32, "big"), y.to_bytes(32, "big")) == spki_of_key_file(key, d)


# ---- through the routes ----------------------------------------------------------------------------------

class Holder:
    """An SM2 holder on its own account, provisioned (dual or not), with an approved renewal order."""

    def __init__(self, p, d, dual=True, order=True):
        self.p, self.d = p, d
        self.account = "d" + uuid.uuid4().hex[:12]
        self.client = p.create_account(self.account)
        self.old_key = sm2_key(d, self.account + "-old.key")
        body = {"account": self.account, "kind": "personal", "csr": b64(sm2_csr(d, self.old_key)),
                "holder_name": PERSON[0], "holder_id_number": PERSON[1], "position": PERSON[2],
                "not_after": (dt.datetime.now(UTC) + dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if dual is not None:
            body["dual"] = dual
        self.prov = p.op.post("/api/v1/operator/certificates", body)
        assert self.prov.status == 201, self.prov
        self.old_der = unb64(self.prov.json["certificate"])
        self.old = x509.load_der_x509_certificate(self.old_der)
        if order:
            r = apply(self.client, renewal_app())
            assert r.status == 201, r
            self.number = r.json["number"]
            p.review(self.number)

    def path(self, suffix=""):
        return "/api/v1/orders/%s/items/1%s" % (self.number, suffix)

    def challenge(self):
        ch = self.client.post(self.path("/challenge"), {}, key=None)
        assert ch.status == 201, ch
        return ch.json

    def new_key(self, name="new"):
        return sm2_key(self.d, "%s-%s-%s.key" % (self.account, name, uuid.uuid4().hex[:6]))

    def body(self, ch, new_key=None, csr=None, envelope=ENVELOPE):
        csr = csr or sm2_csr(self.d, new_key, subj=slash_subject(self.old.subject))
        msg = (b"ZRCA-RENEW-PROOF-V1\x00" + unb64(ch["nonce"]) + hashlib.sha256(csr).digest()
               + self.number.encode() + b"\x001")
        body = {"challenge_id": ch["challenge_id"], "csr": b64(csr), "old_certificate": b64(self.old_der),
                "proof": b64(sm2_sign(self.d, self.old_key, msg))}
        if envelope is not None:
            body["encryption_envelope"] = envelope
        return body

    def issue(self, new_key=None, idem=None):
        new_key = new_key or self.new_key()
        body = self.body(self.challenge(), new_key)
        res = self.client.post(self.path("/issue"), body, key=idem or key_id())
        return new_key, body, res

    def certs(self):
        return {c["serial"]: c for c in self.client.get("/api/v1/certificates").json["items"]}


def sm2ca(p):
    return sm2.SM2CA(p.data)


def ku_of(cert):
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    return {a for a in KU_ATTRS if getattr(ku.value, a)}


def signed_by_sm2ca(p, der):
    tbs, _, alg, sig = sm2._signed_parts(der)
    _, iss_spki, _, _ = sm2.cert_parts(sm2ca(p).issuing_der)
    return alg == sm2.OID_SM2_WITH_SM3 and sm2.verify(iss_spki, sig, tbs)


def facts(p, member, signing_der, signing_key_path):
    """What a client checking the encryption half would find, one fact per rule."""
    if member is None:
        return {"present": False}
    assert set(member) == {"certificate", "serial", "enveloped_key"}
    der, blob = unb64(member["certificate"]), unb64(member["enveloped_key"])
    subject, spki, _, serial = sm2.cert_parts(der)
    s_subject, s_spki, _, _ = sm2.cert_parts(signing_der)
    cert, s_cert = x509.load_der_x509_certificate(der), x509.load_der_x509_certificate(signing_der)
    try:
        kmc.open_envelope(blob, pem_of(signing_key_path))
        opens = "ok"
    except kmc.EnvelopeError as e:
        opens = e.rule
    f = kmc.parse_envelope(blob)
    try:
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        eku = True
    except x509.ExtensionNotFound:
        eku = False
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    now = dt.datetime.utcnow()
    return {"present": True, "serial_matches": int(member["serial"], 16) == serial, "opens": opens,
            "cert_key_is_envelope_key": spki == kmc.point_spki(f["x"], f["y"]),
            "cert_key_is_signing_key": spki == s_spki, "subject_der_same": subject == s_subject,
            "key_usage": ku_of(cert), "eku": eku, "ca": bc.value.ca or not bc.critical,
            "validity_same": (cert.not_valid_before, cert.not_valid_after) == (s_cert.not_valid_before,
                                                                               s_cert.not_valid_after),
            "current": cert.not_valid_before <= now < cert.not_valid_after,
            "sm2_ca_signed": signed_by_sm2ca(p, der)}


GOOD = {"present": True, "serial_matches": True, "opens": "ok", "cert_key_is_envelope_key": True,
        "cert_key_is_signing_key": False, "subject_der_same": True, "key_usage": ENC_KU, "eku": False,
        "ca": False, "validity_same": True, "current": True, "sm2_ca_signed": True}
DEFECT = {"enc_wrong_key": {"cert_key_is_envelope_key": False},
          "enc_wrong_subject": {"subject_der_same": False},
          "enc_signing_usage": {"key_usage": SIGN_KU},
          "enc_other_ca": {"sm2_ca_signed": False},
          "enc_expired": {"validity_same": False, "current": False},
          "enc_envelope_other_key": {"opens": "decrypt"},
          "enc_envelope_corrupt": {"opens": "public_key"},
          "enc_missing": None,
          "enc_same_key_as_signing": {"cert_key_is_signing_key": True, "cert_key_is_envelope_key": False}}


def expected(kind):
    if kind is not None and DEFECT[kind] is None:
        return {"present": False}
    e = dict(GOOD)
    e.update(DEFECT.get(kind) or {})
    return e


def check_envelope_opens_to_certificate(d, member, signing_key_path):
    """The envelope opens with the signing key to a private key from which openssl derives exactly the
    encryption certificate's public key."""
    key = kmc.open_envelope(unb64(member["enveloped_key"]), pem_of(signing_key_path))
    _, spki, _, _ = sm2.cert_parts(unb64(member["certificate"]))
    assert spki_of_private(key, d) == spki
    return key


def check_encryption_certificate(p, d, member, signing_der):
    der = unb64(member["certificate"])
    cert, s_cert = x509.load_der_x509_certificate(der), x509.load_der_x509_certificate(signing_der)
    subject, spki, alg, serial = sm2.cert_parts(der)
    assert subject == sm2.cert_parts(signing_der)[0]  # the signing certificate's subject, same DER
    assert alg == sm2.OID_SM2_WITH_SM3 and sm2.spki_is_sm2(spki) and spki != sm2.cert_parts(signing_der)[1]
    assert int(member["serial"], 16) == serial and len(member["serial"]) % 2 == 0
    assert cert.version == x509.Version.v3 and len(format(serial, "x")) > 24
    assert cert.issuer == s_cert.issuer == x509.load_der_x509_certificate(sm2ca(p).issuing_der).subject
    assert (cert.not_valid_before, cert.not_valid_after) == (s_cert.not_valid_before, s_cert.not_valid_after)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert ku_of(cert) == ENC_KU
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ski == hashlib.sha1(spki[-65:]).digest()
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == s_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dps == s_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dps[0].full_name[0].value == p.url + "/crl/sm2-issuing.crl"  # the SM2 issuing CA's CRL
    # openssl verifies it under the SM2 issuing CA, with the distinguishing ID
    write(d, "enc.der", der)
    write(d, "iss.der", sm2ca(p).issuing_der)
    ossl(["x509", "-inform", "DER", "-in", "enc.der", "-out", "enc.pem"], d)
    ossl(["x509", "-inform", "DER", "-in", "iss.der", "-out", "iss.pem"], d)
    r = ossl(["verify", "-partial_chain", "-CAfile", "iss.pem", "-vfyopt", "distid:1234567812345678", "enc.pem"],
             d, check=False)
    assert r.returncode == 0, r.stderr


def test_provision_dual(platform, tmp_path):
    d = str(tmp_path)
    h = Holder(platform, d, dual=True, order=False)
    prov = h.prov.json
    assert set(prov) == {"certificate", "chain", "serial", "not_before", "not_after", "certificate_id",
                         "encryption"}
    enc = prov["encryption"]
    assert set(enc) == {"certificate", "serial", "enveloped_key"} and len(unb64(enc["enveloped_key"])) == 388
    check_encryption_certificate(platform, d, enc, h.old_der)
    check_envelope_opens_to_certificate(d, enc, h.old_key)
    # the KMC escrows the key: the platform's store holds it, and it is the certificate's
    db = sqlite3.connect(os.path.join(platform.data, "platform.db"))
    row = db.execute("SELECT signing_serial, escrow_key, enveloped_key FROM encryption_certs WHERE serial=?",
                     (enc["serial"],)).fetchone()
    assert row[0] == prov["serial"] and bytes(row[2]) == unb64(enc["enveloped_key"])
    write(d, "escrow.pem", bytes(row[1]))
    assert spki_of_key_file(os.path.join(d, "escrow.pem"), d) == sm2.cert_parts(unb64(enc["certificate"]))[1]
    # /certificates: one entry, the signing certificate, with its twin as a member
    items = h.client.get("/api/v1/certificates").json["items"]
    assert [c["serial"] for c in items] == [prov["serial"]]
    assert items[0]["encryption"] == {"serial": enc["serial"], "not_before": prov["not_before"],
                                      "not_after": prov["not_after"], "status": "valid"}
    # dual false, or absent: a single certificate, no member anywhere
    single = Holder(platform, d, dual=False, order=False)
    assert "encryption" not in single.prov.json
    assert "encryption" not in single.client.get("/api/v1/certificates").json["items"][0]
    assert "encryption" not in Holder(platform, d, dual=None, order=False).prov.json
    # refusals: dual for a key that is not SM2; dual not a boolean
    base = {"account": h.account, "kind": "personal", "holder_name": PERSON[0], "holder_id_number": PERSON[1],
            "not_after": prov["not_after"]}
    r = platform.op.post("/api/v1/operator/certificates", dict(base, csr=b64(make_csr(ec_key())), dual=True))
    assert r.status == 422 and (r.error["field"], r.error["rule"]) == ("dual", "key_algorithm"), r
    r = platform.op.post("/api/v1/operator/certificates", dict(base, csr=b64(sm2_csr(d, h.old_key)), dual="yes"))
    assert r.status == 422 and (r.error["field"], r.error["rule"]) == ("dual", "type"), r
    assert len(h.client.get("/api/v1/certificates").json["items"]) == 1  # nothing provisioned by a refusal


def rules(res):
    return {(e["field"], e["rule"]) for e in res.error["errors"]}


def test_dual_renewal(platform, tmp_path):
    d = str(tmp_path)
    h = Holder(platform, d)
    old_enc = h.prov.json["encryption"]
    ch = h.challenge()
    assert ch["encryption"] == {"envelope": ENVELOPE,
                                "key_usage": ["keyEncipherment", "dataEncipherment", "keyAgreement"],
                                "old_certificate_serial": old_enc["serial"]}
    assert ch["key_algorithms"] == [{"type": "sm2"}]
    new_key = h.new_key()
    # refusals, each with a good proof otherwise
    res = h.client.post(h.path("/issue"), h.body(ch, new_key, envelope=None))
    assert res.status == 422 and rules(res) == {("encryption_envelope", "required")}, res
    for bad in ("gmt0016", "GMT0016-ENVELOPED-KEY-BLOB", 1, True):
        res = h.client.post(h.path("/issue"), h.body(ch, new_key, envelope=bad))
        assert res.status == 422 and rules(res) == {("encryption_envelope", "value")}, (bad, res)
    res = h.client.post(h.path("/issue"), h.body(ch, csr=make_csr(ec_key())))
    assert res.status == 422 and rules(res) == {("csr", "key_algorithm")}, res
    res = h.client.post(h.path("/issue"), h.body(ch, csr=make_csr(ec_key()), envelope=None))
    assert res.status == 422 and rules(res) == {("csr", "key_algorithm"), ("encryption_envelope", "required")}
    assert all(c["status"] == "valid" for c in h.certs().values())  # nothing issued by a refusal
    # the issue: the signing certificate and its twin
    body = h.body(ch, new_key)
    idem = key_id()
    res = h.client.post(h.path("/issue"), body, key=idem)
    assert res.status == 201, res
    ans = res.json
    assert set(ans) == {"certificate", "chain", "serial", "not_before", "not_after", "encryption"}
    sm2c = sm2ca(platform)
    assert ans["chain"] == [b64(sm2c.issuing_der), b64(sm2c.root_der)]
    signing_der = unb64(ans["certificate"])
    assert sm2.cert_parts(signing_der)[1] == spki_of_key_file(new_key, d)
    check_encryption_certificate(platform, d, ans["encryption"], signing_der)
    check_envelope_opens_to_certificate(d, ans["encryption"], new_key)
    assert facts(platform, ans["encryption"], signing_der, new_key) == GOOD
    with pytest.raises(kmc.EnvelopeError):  # enveloped to the NEW signing key, not the old one
        kmc.open_envelope(unb64(ans["encryption"]["enveloped_key"]), pem_of(h.old_key))
    assert ans["encryption"]["serial"] != old_enc["serial"]
    # every re-obtaining: byte for byte the same answer, the same enveloped key
    again = h.client.get(h.path("/certificate"))
    replay = h.client.post(h.path("/issue"), body, key=idem)
    assert replay.header("Idempotent-Replayed") == "true"
    resumed = h.client.post(h.path("/issue"), h.body(h.challenge(), new_key))
    assert resumed.status == 200, resumed
    assert again.body == res.body and replay.body == res.body and resumed.body == res.body
    # /certificates: the new signing certificate pending, its twin pending too; the old pair valid
    certs = h.certs()
    assert set(certs) == {h.prov.json["serial"], ans["serial"]}
    assert certs[ans["serial"]]["encryption"] == {"serial": ans["encryption"]["serial"],
                                                  "not_before": ans["not_before"], "not_after": ans["not_after"],
                                                  "status": "pending_confirmation"}
    assert certs[h.prov.json["serial"]]["encryption"]["status"] == "valid"
    # confirm: both halves
    conf = h.client.post(h.path("/confirm"), {"serial": ans["serial"]})
    assert conf.status == 200 and conf.json["order_status"] == "completed", conf
    certs = h.certs()
    assert certs[ans["serial"]]["status"] == "valid" and certs[ans["serial"]]["encryption"]["status"] == "valid"
    old = certs[h.prov.json["serial"]]
    assert old["status"] == "superseded" and old["encryption"] == {
        "serial": old_enc["serial"], "not_before": h.prov.json["not_before"],
        "not_after": h.prov.json["not_after"], "status": "superseded"}
    # after confirm the answer is still the same record
    assert h.client.get(h.path("/certificate")).body == res.body


def test_single_item_refuses_the_envelope_member(platform, tmp_path):
    d = str(tmp_path)
    h = Holder(platform, d, dual=False)
    ch = h.challenge()
    assert "encryption" not in ch and {"type": "ec", "curve": "P-256"} in ch["key_algorithms"]
    new_key = h.new_key()
    res = h.client.post(h.path("/issue"), h.body(ch, new_key))
    assert res.status == 422 and rules(res) == {("encryption_envelope", "not_dual")}, res
    res = h.client.post(h.path("/issue"), h.body(ch, new_key, envelope="something"))
    assert rules(res) == {("encryption_envelope", "not_dual")}, res
    res = h.client.post(h.path("/issue"), h.body(ch, new_key, envelope=None))
    assert res.status == 201 and "encryption" not in res.json, res


def test_sm2_not_offered_leaves_a_dual_item_nothing(platform, tmp_path):
    h = Holder(platform, str(tmp_path))
    platform.settings(sm2_offered=0)
    ch = h.challenge()
    assert ch["key_algorithms"] == [] and ch["encryption"]["envelope"] == ENVELOPE
    res = h.client.post(h.path("/issue"), h.body(ch, h.new_key()))
    assert res.status == 422 and rules(res) == {("csr", "key_algorithm")}, res


def crl_serials(p):
    db = sqlite3.connect(os.path.join(p.data, "platform.db"))
    return {r[0]: r[1] for r in db.execute("SELECT serial, reason FROM crl_entries")}


def sm2_crl(p):
    """The SM2 issuing CA's CRL, fetched without authentication, its SM2-with-SM3 signature verified."""
    r = p.client().call("GET", "/crl/sm2-issuing.crl")
    assert r.status == 200 and r.header("Content-Type") == "application/pkix-crl", r
    tbs, _, alg, sig = sm2._signed_parts(r.body)
    iss_der = sm2ca(p).issuing_der
    assert alg == sm2.OID_SM2_WITH_SM3 and sm2.verify(sm2.cert_parts(iss_der)[1], sig, tbs)
    crl = x509.load_der_x509_crl(r.body)
    iss = x509.load_der_x509_certificate(iss_der)
    assert crl.issuer == iss.subject
    assert crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        iss.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert p.client().call("GET", "/crl/sm2-issuing.crt").body == iss_der
    return crl


def crl_reason(crl, serial):
    e = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    return None if e is None else e.extensions.get_extension_for_class(x509.CRLReason).value.reason


def test_sm2_crl_needs_the_sm2_ca(platform):
    for path in ("/crl/sm2-issuing.crl", "/crl/sm2-issuing.crt"):
        r = platform.client().call("GET", path)
        assert r.status == 404 and r.error["code"] == "not_found", r


def test_revocation_revokes_the_twin(platform, tmp_path):
    h = Holder(platform, str(tmp_path), order=False)
    serial, enc = h.prov.json["serial"], h.prov.json["encryption"]["serial"]
    r = h.client.post("/api/v1/revocations", {"certificate_serial": serial, "reason": "key_lost"})
    assert r.status == 201, r
    # the encryption certificate is not a certificate of the account's list: it is never revoked alone
    r2 = h.client.post("/api/v1/revocations", {"certificate_serial": enc, "reason": "key_lost"})
    assert r2.status == 404, r2
    rev = platform.op.post("/api/v1/operator/revocations/%d/review" % r.json["id"], {"decision": "approve"})
    assert rev.status == 200, rev
    entry = h.certs()[serial]
    assert entry["status"] == "revoked" and entry["encryption"]["status"] == "revoked"
    crl = crl_serials(platform)
    assert crl[serial] == "key_lost" and crl[enc] == "key_lost"
    # both in the SM2 issuing CA's CRL (and not in the EC issuing CA's, which did not issue them)
    crl = sm2_crl(platform)
    assert crl_reason(crl, serial) == crl_reason(crl, enc) == x509.ReasonFlags.key_compromise
    ec_crl = x509.load_der_x509_crl(platform.client().call("GET", "/crl/issuing.crl").body)
    assert ec_crl.get_revoked_certificate_by_serial_number(int(enc, 16)) is None
    write(str(tmp_path), "sm2.crl", platform.client().call("GET", "/crl/sm2-issuing.crl").body)
    text = ossl(["crl", "-inform", "DER", "-in", "sm2.crl", "-noout", "-text"], str(tmp_path)).stdout.decode()
    assert "SM2-with-SM3" in text and enc.upper() in text.replace(":", "")


def test_reissue_and_release_make_and_revoke_pairs(platform, tmp_path):
    d = str(tmp_path)
    h = Holder(platform, d)
    new_key, body, res = h.issue()
    assert res.status == 201, res
    first = res.json
    op = "/api/v1/operator/orders/%s/items/1/" % h.number
    re1 = platform.op.post(op + "reissue", {})
    assert re1.status == 201, re1
    second = re1.json
    assert second["encryption"]["serial"] != first["encryption"]["serial"]
    assert second["encryption"]["enveloped_key"] != first["encryption"]["enveloped_key"]
    check_encryption_certificate(platform, d, second["encryption"], unb64(second["certificate"]))
    check_envelope_opens_to_certificate(d, second["encryption"], new_key)  # the key of the latest issuance
    assert h.client.get(h.path("/certificate")).json == second
    certs = h.certs()
    assert certs[first["serial"]]["status"] == "revoked"
    assert certs[first["serial"]]["encryption"]["status"] == "revoked"
    assert certs[second["serial"]]["encryption"]["status"] == "pending_confirmation"
    crl = crl_serials(platform)
    assert crl[first["serial"]] == crl[first["encryption"]["serial"]] == "superseded"
    crl = sm2_crl(platform)
    assert crl_reason(crl, first["serial"]) == crl_reason(crl, first["encryption"]["serial"]) == \
        x509.ReasonFlags.superseded
    assert crl_reason(crl, second["encryption"]["serial"]) is None
    rel = platform.op.post(op + "release", {})
    assert rel.status == 200, rel
    certs = h.certs()
    assert certs[second["serial"]]["encryption"]["status"] == "revoked"
    assert crl_serials(platform)[second["encryption"]["serial"]] == "cessation_of_operation"
    assert crl_reason(sm2_crl(platform), second["encryption"]["serial"]) == x509.ReasonFlags.cessation_of_operation
    assert h.certs()[h.prov.json["serial"]]["encryption"]["status"] == "valid"  # the old pair untouched


# ---- the faulty issuer's kinds of the encryption half --------------------------------------------------------

@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    p = Platform(tmp_path_factory.mktemp("dual") / "data")
    try:
        yield p
    finally:
        p.stop()


def set_fault(p, fault, mode="recorded", count=None):
    body = {"fault": fault, "mode": mode}
    if count is not None:
        body["count"] = count
    r = p.op.call("PUT", "/api/v1/operator/issuer", body)
    assert r.status == 200, r
    return r.json


@pytest.mark.parametrize("mode", ["recorded", "wire"])
@pytest.mark.parametrize("kind", list(DEFECT))
def test_each_encryption_kind(shared, tmp_path, kind, mode):
    p = shared
    d = str(tmp_path)
    h = Holder(p, d)
    assert kind in p.op.get("/api/v1/operator/issuer").json["kinds"]
    set_fault(p, kind, mode)
    new_key = h.new_key()
    body = h.body(h.challenge(), new_key)
    idem = key_id()
    res = h.client.post(h.path("/issue"), body, key=idem)
    assert set_fault(p, None)["fault"] is None
    assert res.status == 201, res
    signing_der = unb64(res.json["certificate"])
    # the signing half is good: the CSR's key, the SM2 CA, the promised end
    assert sm2.cert_parts(signing_der)[1] == spki_of_key_file(new_key, d) and signed_by_sm2ca(p, signing_der)
    assert facts(p, res.json.get("encryption"), signing_der, new_key) == expected(kind)
    if kind == "enc_other_ca":
        enc = x509.load_der_x509_certificate(unb64(res.json["encryption"]["certificate"]))
        assert enc.issuer != x509.load_der_x509_certificate(signing_der).issuer
    again = h.client.get(h.path("/certificate"))
    replay = h.client.post(h.path("/issue"), body, key=idem)
    resumed = h.client.post(h.path("/issue"), h.body(h.challenge(), new_key))
    assert resumed.status == 200, resumed
    pending = [c for c in h.certs().values() if c["status"] == "pending_confirmation"]
    assert len(pending) == 1 and pending[0]["serial"] == res.json["serial"]
    if mode == "recorded":  # the spoilt half is the record, answered again and again
        assert again.body == res.body and replay.body == res.body and resumed.body == res.body
        if kind == "enc_missing":
            assert "encryption" not in pending[0]
        else:
            assert pending[0]["encryption"]["serial"] == res.json["encryption"]["serial"]
    else:  # only the one response was spoilt: the record is a good pair, for the same signing certificate
        good = again.json
        assert good["certificate"] == res.json["certificate"]
        assert facts(p, good["encryption"], signing_der, new_key) == GOOD
        check_envelope_opens_to_certificate(d, good["encryption"], new_key)
        assert replay.body == again.body and resumed.body == again.body
        assert pending[0]["encryption"]["serial"] == good["encryption"]["serial"]


def test_encryption_kinds_wait_for_a_dual_issuance(shared, tmp_path):
    """A kind of the encryption half is neither used nor counted down by a single issuance."""
    p = shared
    d = str(tmp_path)
    set_fault(p, "enc_wrong_subject", "recorded", 2)
    single = Holder(p, d, dual=False)
    new_key = single.new_key()
    res = single.client.post(single.path("/issue"), single.body(single.challenge(), new_key, envelope=None))
    assert res.status == 201 and "encryption" not in res.json, res
    assert p.op.get("/api/v1/operator/issuer").json["remaining"] == 2
    dual = Holder(p, d)
    new_key, _, res = dual.issue()
    assert res.status == 201
    assert facts(p, res.json["encryption"], unb64(res.json["certificate"]), new_key)["subject_der_same"] is False
    assert p.op.get("/api/v1/operator/issuer").json["remaining"] == 1
    set_fault(p, None)


def test_new_item_refuses_the_envelope_member(platform):
    """A new certificate (section 19) is never dual: encryption_envelope is not_dual there too."""
    from test_platform_new import NewOrder
    n = NewOrder(platform, account="dualnew")
    key = ec_key()
    ch = n.challenge()
    assert "encryption" not in ch
    res = n.client.post(n.path("/issue"), dict(n.body(ch, key), encryption_envelope=ENVELOPE))
    assert res.status == 422 and rules(res) == {("encryption_envelope", "not_dual")}, res
    res = n.client.post(n.path("/issue"), n.body(ch, key))
    assert res.status == 201 and "encryption" not in res.json, res


def test_ctl_provisions_a_dual_certificate(platform, tmp_path):
    d = str(tmp_path)
    platform.create_account("ctldual")
    key = sm2_key(d, "ctl.key")
    csr = write(d, "ctl.csr", sm2_csr(d, key))
    out = platform.ctl("provision", "--account", "ctldual", "--kind", "personal", "--holder-name", PERSON[0],
                       "--holder-id", PERSON[1], "--csr", csr, "--not-after", "2030-01-01T00:00:00Z", "--dual")
    import json
    ans = json.loads(out.stdout)
    check_encryption_certificate(platform, d, ans["encryption"], unb64(ans["certificate"]))
    check_envelope_opens_to_certificate(d, ans["encryption"], key)
    out = platform.ctl("provision", "--account", "ctldual", "--kind", "personal", "--holder-name", PERSON[0],
                       "--holder-id", PERSON[1], "--csr", csr, "--not-after", "2030-01-01T00:00:00Z")
    assert "encryption" not in json.loads(out.stdout)
