# SPDX-License-Identifier: MIT
"""The key management centre (KMC) of the SM2 dual certificate, doc/protocol.md section 21.

An SM2 holder may hold two certificates in one SKF container: the signing certificate, for a key made on
the USB key, and the encryption certificate, for a key pair the KMC makes. The KMC delivers that key
pair enveloped to the new signing public key as a GM/T 0016 ENVELOPEDKEYBLOB (388 bytes, layout below,
SKF_ImportECCKeyPair imports it) and keeps (escrows) the private key, as real KMCs do.

The blob, every ULONG 32-bit little-endian, every integer big-endian right-aligned in its 64-byte field:

    0   Version 1 | 4 ulSymmAlgID 0x401 (SGD_SM4_ECB) | 8 ulBits 256
    12  cbEncryptedPriKey: 32 zero bytes, SM4-ECB(k, d) (32 bytes, no padding)
    76  PubKey.BitLen 256 | 80 PubKey.X (32 zero + 32) | 144 PubKey.Y (32 zero + 32)
    208 ECCCipherBlob.X (32 zero + x1) | 272 .Y (32 zero + y1) | 336 .HASH (C3, 32)
    368 .CipherLen 16 | 372 .Cipher (C2, 16)                                           = 388 bytes

k is a fresh 16-byte SM4 key, (C1, C3, C2) its SM2 encryption (GM/T 0003.4) to the signing public key
made by `openssl pkeyutl -encrypt`, which gives the GM/T 0009 SM2Cipher DER
SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }.

The platform's side: the encryption certificate of a signing certificate (its "twin") is kept in the
table encryption_certs, with the enveloped key and the escrowed key, so that every re-obtaining of an
issue answer gives the same bytes.
"""
import datetime as _dt
import os
import shutil
import struct
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

from . import pki, sm2
from .util import UTC, b64e, now_dt, ts

ENVELOPE = "gmt0016-enveloped-key-blob"
KEY_USAGE_NAMES = ["keyEncipherment", "dataEncipherment", "keyAgreement"]
KEY_USAGE = frozenset({"key_encipherment", "data_encipherment", "key_agreement"})
BLOB_LEN = 388
VERSION = 1
SGD_SM4_ECB = 0x00000401
BITS = 256
CIPHER_LEN = 16
_TIMEOUT = 30

# the faulty issuer's kinds that spoil only the encryption half (doc/protocol.md sections 13 and 21)
ENC_KINDS = ["enc_wrong_key", "enc_wrong_subject", "enc_signing_usage", "enc_other_ca", "enc_expired",
             "enc_envelope_other_key", "enc_envelope_corrupt", "enc_missing", "enc_same_key_as_signing"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS encryption_certs (
  serial TEXT PRIMARY KEY, signing_serial TEXT UNIQUE NOT NULL, status TEXT NOT NULL,
  not_before TEXT NOT NULL, not_after TEXT NOT NULL, der BLOB NOT NULL, enveloped_key BLOB NOT NULL,
  escrow_key BLOB NOT NULL, created_at TEXT NOT NULL);
"""

# ---- the SM2 curve (GM/T 0003.5), enough arithmetic to check d·G ------------------------------------

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
     0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def point_mul(k, point=G):
    """k·point on the SM2 curve (affine; None is the point at infinity)."""
    out = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _add(point, point)
        k >>= 1
    return out


class EnvelopeError(Exception):
    """An envelope that does not open; `rule` names the check."""

    def __init__(self, rule, message):
        super().__init__(message)
        self.rule = rule


# ---- keys, SM2 encryption, SM4 -----------------------------------------------------------------------

def _openssl(args, data=None, files=()):
    """Run openssl in a fresh temporary directory holding `files` ((name, bytes) pairs)."""
    d = tempfile.mkdtemp(prefix="zrca-kmc-")
    try:
        for name, content in files:
            fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        r = subprocess.run(["openssl"] + args, cwd=d, input=data, capture_output=True, timeout=_TIMEOUT)
        return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _int32(content, what):
    """A DER INTEGER's content as 32 bytes big-endian (a leading 00 dropped, a short one left-padded)."""
    v = content.lstrip(b"\x00")
    if len(v) > 32 or (content and content[0] & 0x80):
        raise EnvelopeError("der", "%s is not a 256-bit positive integer" % what)
    return v.rjust(32, b"\x00")


def _der_int(b):
    v = b.lstrip(b"\x00") or b"\x00"
    if v[0] & 0x80:
        v = b"\x00" + v
    return pki._der(0x02, v)


def spki_point(spki):
    """(x, y), 32 bytes each, of an SM2 SubjectPublicKeyInfo."""
    if not sm2.spki_is_sm2(spki) or len(spki) != len(SPKI_PREFIX) + 64 or not spki.startswith(SPKI_PREFIX):
        raise EnvelopeError("public_key", "not an uncompressed SM2 public key")
    return spki[-64:-32], spki[-32:]


def point_spki(x, y):
    return SPKI_PREFIX + x + y


class KeyPair:
    """An SM2 key pair the KMC made: d, x, y (32 bytes each), its PEM (kept, escrowed) and SPKI DER."""

    def __init__(self, d, pem):
        self.d, self.pem = d, pem
        q = point_mul(int.from_bytes(d, "big"))
        self.x, self.y = q[0].to_bytes(32, "big"), q[1].to_bytes(32, "big")
        self.spki = point_spki(self.x, self.y)


def private_scalar(pem):
    """d (32 bytes) of an SM2 private key PEM (PKCS#8 or SEC1), read from its DER."""
    rc, der, err = _openssl(["pkey", "-in", "k.pem", "-outform", "DER"], files=[("k.pem", pem)])
    if rc != 0:
        raise EnvelopeError("key", "openssl pkey: " + err.strip())
    kids = sm2._sequence(der)
    if kids[0][0] == 0x02 and der[kids[0][2]:kids[0][3]] == b"\x00":  # PKCS#8: the ECPrivateKey inside
        der = der[kids[2][2]:kids[2][3]]
        kids = sm2._sequence(der)
    if len(kids) < 2 or kids[1][0] != 0x04:
        raise EnvelopeError("key", "not an EC private key")
    return der[kids[1][2]:kids[1][3]].rjust(32, b"\x00")


def make_key_pair():
    """A fresh SM2 key pair (openssl genpkey -algorithm SM2)."""
    rc, pem, err = _openssl(["genpkey", "-algorithm", "SM2"])
    if rc != 0:
        raise EnvelopeError("key", "openssl genpkey: " + err.strip())
    pair = KeyPair(private_scalar(pem), pem)
    rc, spki, err = _openssl(["pkey", "-in", "k.pem", "-pubout", "-outform", "DER"], files=[("k.pem", pem)])
    if rc != 0 or spki != pair.spki:  # openssl's public key and d·G agree, or the curve code is wrong
        raise EnvelopeError("key", "the KMC key's public key is not d·G")
    return pair


def sm2_encrypt(spki, data):
    """(x1, y1, C3, C2) of the SM2 encryption of `data` to the key of `spki` (openssl pkeyutl)."""
    rc, der, err = _openssl(["pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem"], data=data,
                            files=[("pub.pem", sm2._pem(spki, "PUBLIC KEY"))])
    if rc != 0:
        raise EnvelopeError("encrypt", "openssl pkeyutl -encrypt: " + err.strip())
    kids = sm2._sequence(der)
    if [k[0] for k in kids] != [0x02, 0x02, 0x04, 0x04]:
        raise EnvelopeError("der", "not an SM2Cipher")
    x, y, c3, c2 = (der[k[2]:k[3]] for k in kids)
    if len(c3) != 32 or len(c2) != len(data):
        raise EnvelopeError("der", "SM2Cipher of unexpected lengths")
    return _int32(x, "x"), _int32(y, "y"), c3, c2


def sm2_cipher_der(x1, y1, c3, c2):
    """The GM/T 0009 SM2Cipher DER that OpenSSL decrypts."""
    return pki._der(0x30, _der_int(x1) + _der_int(y1) + pki._der(0x04, c3) + pki._der(0x04, c2))


def sm2_decrypt(cipher_der, private_key_pem):
    rc, out, err = _openssl(["pkeyutl", "-decrypt", "-inkey", "k.pem", "-in", "c.der"],
                            files=[("k.pem", private_key_pem), ("c.der", cipher_der)])
    if rc != 0:
        raise EnvelopeError("decrypt", "the envelope does not open with this key: " + err.strip()[:200])
    return out


def sm4_ecb(key, data, decrypt=False):
    c = Cipher(algorithms.SM4(key), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


# ---- the ENVELOPEDKEYBLOB ---------------------------------------------------------------------------

Z32 = bytes(32)


def envelope(signing_spki, pair, sym_key=None):
    """The 388-byte ENVELOPEDKEYBLOB of `pair` (a KeyPair) to the SM2 key of `signing_spki`."""
    k = sym_key or os.urandom(16)
    x1, y1, c3, c2 = sm2_encrypt(signing_spki, k)
    blob = (struct.pack("<III", VERSION, SGD_SM4_ECB, BITS) + Z32 + sm4_ecb(k, pair.d)
            + struct.pack("<I", BITS) + Z32 + pair.x + Z32 + pair.y
            + Z32 + x1 + Z32 + y1 + c3 + struct.pack("<I", CIPHER_LEN) + c2)
    assert len(blob) == BLOB_LEN
    return blob


def parse_envelope(blob):
    """The fields of a blob, its layout checked (length, constants, zero padding); raises EnvelopeError."""
    if not isinstance(blob, (bytes, bytearray)) or len(blob) != BLOB_LEN:
        raise EnvelopeError("length", "an ENVELOPEDKEYBLOB is %d bytes" % BLOB_LEN)
    blob = bytes(blob)
    version, alg, bits = struct.unpack_from("<III", blob, 0)
    bit_len, = struct.unpack_from("<I", blob, 76)
    cipher_len, = struct.unpack_from("<I", blob, 368)
    for value, want, rule in ((version, VERSION, "version"), (alg, SGD_SM4_ECB, "algorithm"), (bits, BITS, "bits"),
                              (bit_len, BITS, "bit_length"), (cipher_len, CIPHER_LEN, "cipher_length")):
        if value != want:
            raise EnvelopeError(rule, "%s is %d, not %d" % (rule, value, want))
    fields = {}
    for name, off in (("encrypted_private_key", 12), ("x", 80), ("y", 144), ("c1_x", 208), ("c1_y", 272)):
        if blob[off:off + 32] != Z32:
            raise EnvelopeError("padding", "the padding of %s is not zero" % name)
        fields[name] = blob[off + 32:off + 64]
    fields["hash"] = blob[336:368]
    fields["cipher"] = blob[372:388]
    return fields


def open_envelope(blob, signing_private_key_pem):
    """d (32 bytes big-endian) of the key pair enveloped in `blob`, opened with the signing private key;
    every rule of doc/protocol.md section 21 checked (EnvelopeError names the one broken)."""
    f = parse_envelope(blob)
    k = sm2_decrypt(sm2_cipher_der(f["c1_x"], f["c1_y"], f["hash"], f["cipher"]), signing_private_key_pem)
    if len(k) != 16:
        raise EnvelopeError("key_length", "the enveloped symmetric key is not 16 bytes")
    d = sm4_ecb(k, f["encrypted_private_key"], decrypt=True)
    n = int.from_bytes(d, "big")
    if not 1 <= n <= N - 1:
        raise EnvelopeError("private_key", "the private key is not in [1, n-1]")
    q = point_mul(n)
    if q[0].to_bytes(32, "big") != f["x"] or q[1].to_bytes(32, "big") != f["y"]:
        raise EnvelopeError("public_key", "the private key does not match PubKey")
    return d


# ---- the encryption half of an issuance ---------------------------------------------------------------

class Half:
    """One encryption certificate with its enveloped key and the escrowed key pair."""

    def __init__(self, cert, blob, pair):
        self.cert, self.blob, self.pair = cert, blob, pair
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.serial = pki.cert_serial_hex(cert)

    def member(self):
        """The `encryption` member of a provisioning or issue answer."""
        return {"certificate": b64e(self.der), "serial": self.serial, "enveloped_key": b64e(self.blob)}


def _rogue_ca(pki_):
    key = ec.generate_private_key(ec.SECP256R1())
    return pki_.self_signed_ca("ZRCA Rogue KMC CA", key), key


def _other_subject(subject):
    return x509.Name([x509.RelativeDistinguishedName([
        x509.NameAttribute(a.oid, a.value + " (KMC)", _type=a._type) if a.oid == NameOID.COMMON_NAME else a
        for a in rdn]) for rdn in subject.rdns])


def make_half(pki_, signing_spki, subject, not_before, not_after, kind=None):
    """A new KMC key pair, its encryption certificate (the SM2 issuing CA, `subject`, the validity given,
    keyUsage keyEncipherment + dataEncipherment + keyAgreement, no extendedKeyUsage) and its envelope to
    `signing_spki`; `kind` (one of ENC_KINDS but enc_missing) spoils one thing."""
    pair = make_key_pair()
    cert_spki, usage, issuer, env_spki = pair.spki, KEY_USAGE, None, signing_spki
    if kind == "enc_wrong_key":
        cert_spki = make_key_pair().spki
    elif kind == "enc_same_key_as_signing":
        cert_spki = signing_spki
    elif kind == "enc_wrong_subject":
        subject = _other_subject(subject)
    elif kind == "enc_signing_usage":
        usage = pki.LEAF_KEY_USAGE
    elif kind == "enc_other_ca":
        issuer = _rogue_ca(pki_)
    elif kind == "enc_expired":
        now = now_dt()
        not_before, not_after = now - _dt.timedelta(days=31), now - _dt.timedelta(days=1)
    elif kind == "enc_envelope_other_key":
        env_spki = make_key_pair().spki
    cert = pki_.leaf(subject, pki.SM2PublicKey(cert_spki), not_before, not_after, key_usage=usage, eku=None,
                     issuer=issuer)
    blob = envelope(env_spki, pair)
    if kind == "enc_envelope_corrupt":  # one byte of SM4-ECB(k, d): it opens to another private key
        b = bytearray(blob)
        b[12 + 32 + 5] ^= 0x01
        blob = bytes(b)
    return Half(cert, blob, pair)


def _validity(cert):
    return cert.not_valid_before.replace(tzinfo=UTC), cert.not_valid_after.replace(tzinfo=UTC)


def issue_half(pki_, fault, signing_spki, subject, signing_cert):
    """The encryption half of a dual issuance whose signing certificate is `signing_cert` (the one the
    platform records), through the faulty issuer. Returns (half to record or None, member to record or
    None, member to send or None): mode recorded records the spoilt half, mode wire sends it only."""
    kind = fault["fault"] if fault and fault["fault"] in ENC_KINDS else None
    nb, na = _validity(signing_cert)
    if kind is None:
        good = make_half(pki_, signing_spki, subject, nb, na)
        m = good.member()
        return good, m, m
    bad = None if kind == "enc_missing" else make_half(pki_, signing_spki, subject, nb, na, kind)
    bad_member = bad.member() if bad else None
    if fault["mode"] == "recorded":
        return bad, bad_member, bad_member
    good = make_half(pki_, signing_spki, subject, nb, na)
    return good, good.member(), bad_member


# ---- the store: a signing certificate's twin ------------------------------------------------------------

def twin(conn, signing_serial):
    if signing_serial is None:
        return None
    return conn.execute("SELECT * FROM encryption_certs WHERE signing_serial=?", (signing_serial,)).fetchone()


def record(conn, signing_serial, half, status):
    nb, na = _validity(half.cert)
    conn.execute("INSERT INTO encryption_certs(serial, signing_serial, status, not_before, not_after, der, "
                 "enveloped_key, escrow_key, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                 (half.serial, signing_serial, status, ts(nb), ts(na), half.der, half.blob, half.pair.pem,
                  ts(now_dt())))


def member(row):
    return {"certificate": b64e(row["der"]), "serial": row["serial"], "enveloped_key": b64e(row["enveloped_key"])}


def entry_json(conn, signing_serial, now):
    """The `encryption` member of a /certificates entry, or None for a single certificate."""
    r = twin(conn, signing_serial)
    if r is None:
        return None
    status = r["status"]
    if status == "valid" and r["not_after"] <= ts(now):
        status = "expired"
    return {"serial": r["serial"], "not_before": r["not_before"], "not_after": r["not_after"], "status": status}


def set_status(conn, signing_serial, status):
    conn.execute("UPDATE encryption_certs SET status=? WHERE signing_serial=?", (status, signing_serial))


def revoke(conn, signing_serial, reason, when=None):
    """The twin of a revoked signing certificate revoked too, with its CRL entry."""
    from . import revocation
    r = twin(conn, signing_serial)
    if r is not None:
        set_status(conn, signing_serial, "revoked")
        revocation.record_revoked(conn, r["serial"], reason, when)


def confirm(conn, new_serial, old_serial):
    """Confirm of a dual item: the new twin valid, the old one superseded."""
    set_status(conn, new_serial, "valid")
    set_status(conn, old_serial, "superseded")


# ---- the wire ---------------------------------------------------------------------------------------

def is_dual_item(conn, it):
    """A renewal item is dual when the certificate it renews has an encryption twin."""
    return twin(conn, it["old_serial"]) is not None


def challenge_member(conn=None, it=None):
    """The challenge's `encryption` member; with the item, the serial of the encryption
    certificate the renewal replaces (the old certificate's twin), so that a client archives
    exactly that one."""
    out = {"envelope": ENVELOPE, "key_usage": list(KEY_USAGE_NAMES)}
    old = twin(conn, it["old_serial"]) if conn is not None and it is not None else None
    if old is not None:
        out["old_certificate_serial"] = old["serial"]
    return out


def check_request(v, body, dual, csr):
    """The issue request's `encryption_envelope` (and a dual item's SM2 key): violations added to v."""
    present = "encryption_envelope" in body
    value = body.get("encryption_envelope")
    if not dual:
        if present:
            v.add("encryption_envelope", "not_dual", "encryption_envelope: this item has no encryption certificate")
        return
    if value is None or value == "":
        v.add("encryption_envelope", "required", "encryption_envelope is required: this item is a dual "
              "certificate, and a client that cannot take the encryption half must not renew it")
    elif value != ENVELOPE:
        v.add("encryption_envelope", "value", "encryption_envelope must be %r" % ENVELOPE)
    if csr is not None and not isinstance(csr.public_key(), pki.SM2PublicKey):
        v.add("csr", "key_algorithm", "csr: the signing key of a dual certificate must be SM2")


def check_provision(v, body, csr):
    """Provisioning's `dual`: a boolean, true only for an SM2 request. Returns whether it is dual."""
    dual = body.get("dual", False)
    if not isinstance(dual, bool):
        v.add("dual", "type", "dual must be true or false")
        return False
    if dual and csr is not None and not isinstance(csr.public_key(), pki.SM2PublicKey):
        v.add("dual", "key_algorithm", "dual: only an SM2 key has an encryption certificate")
    return dual


def provision(svc, conn, signing_row, public_key, subject):
    """Provisioning with dual: the encryption certificate of a provisioned signing certificate (same
    subject, same validity), valid at once. Returns the answer's `encryption` member."""
    nb, na = _validity(x509.load_der_x509_certificate(signing_row["der"]))
    half = make_half(svc.pki, public_key.spki, subject, nb, na)
    record(conn, signing_row["serial"], half, "valid")
    return half.member()

