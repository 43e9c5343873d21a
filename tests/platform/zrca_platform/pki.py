# SPDX-License-Identifier: MIT
"""The reference platform's CAs: root, issuing CA, TLS CA and server certificate; issuance; proofs; seals."""
import datetime as _dt
import hashlib
import ipaddress
import os
import ssl
import struct
import threading
import warnings
import zlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import sm2
from .util import UTC, now_dt, serial_hex

PROOF_LABEL = b"ZRCA-RENEW-PROOF-V1"
SEAL_LABEL = b"ZRCA-SEAL-V1"
KEY_ALGORITHMS = [{"type": "rsa", "bits": 2048}, {"type": "rsa", "bits": 3072}, {"type": "ec", "curve": "P-256"},
                  {"type": "sm2"}]
KEY_USAGE_NAMES = ["digitalSignature", "nonRepudiation"]
EKU_NAMES = ["clientAuth", "emailProtection"]
KEY_USAGE_ATTRS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
LEAF_KEY_USAGE = frozenset({"digital_signature", "content_commitment"})
LEAF_EKU = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)


def random_serial():
    b = bytearray(os.urandom(16))
    b[0] &= 0x7F
    if b[0] == 0:
        b[0] = 1
    return int.from_bytes(bytes(b), "big")


def _write_atomic(path, data, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn, o="ZRCA Reference Platform"):
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, o),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(subject, key, issuer_name, issuer_key, pathlen, days, not_before=None):
    """A CA certificate valid from not_before (default: now - 1 day) for `days` days after now
    (negative: it ended that many days ago)."""
    now = now_dt()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(random_serial())
         .not_valid_before(not_before or now - _dt.timedelta(days=1))
         .not_valid_after(now + _dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    return b.sign(issuer_key, hashes.SHA256())


def _load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


# ---- SM2 holders (GM/T 0015): the Python cryptography package has no SM2 keys --------------------

class SM2PublicKey:
    """An SM2 public key, as its SubjectPublicKeyInfo DER (what `spki_der()` gives for any key)."""

    def __init__(self, spki):
        if not sm2.spki_is_sm2(spki):
            raise ValueError("not an SM2 SubjectPublicKeyInfo")
        self.spki = bytes(spki)

    def public_bytes(self, encoding=None, format=None):
        return self.spki

    def key_id(self):
        """SHA-1 of the public key's BIT STRING (RFC 5280 4.2.1.2, method 1)."""
        kids = sm2._sequence(self.spki)
        bits = self.spki[kids[1][2]:kids[1][3]]
        return hashlib.sha1(bits[1:]).digest()


class SM2Request:
    """A PKCS#10 request for an SM2 key whose SM2-with-SM3 self-signature (GM/T 0009 default ID)
    verifies: the two things the platform asks of a request, its subject and its key."""

    def __init__(self, der):
        subject_der, spki, sig_alg = sm2.csr_parts(der)
        if sig_alg != sm2.OID_SM2_WITH_SM3:
            raise ValueError("an SM2 request is signed with SM2-with-SM3")
        self._key = SM2PublicKey(spki)
        tbs, _, _, signature = sm2._signed_parts(der)
        self.is_signature_valid = sm2.verify(spki, signature, tbs)
        self.subject = x509.load_der_x509_csr(der).subject

    def public_key(self):
        return self._key


def load_csr(der):
    """A request: cryptography's, or an SM2Request when its key is SM2 (raises ValueError when it is
    neither a request cryptography reads nor an SM2 one)."""
    try:
        subject_der, spki, sig_alg = sm2.csr_parts(der)
    except (sm2.SM2Error, IndexError):
        spki = None
    if spki is not None and sm2.spki_is_sm2(spki):
        return SM2Request(der)
    csr = x509.load_der_x509_csr(der)
    csr.public_key()
    return csr


def load_public_key(spki):
    """A SubjectPublicKeyInfo DER as a key: cryptography's, or an SM2PublicKey."""
    if sm2.spki_is_sm2(spki):
        return SM2PublicKey(spki)
    return serialization.load_der_public_key(spki)


def cert_public_key(cert):
    """The certificate's public key: cryptography's, or an SM2PublicKey."""
    try:
        return cert.public_key()
    except UnsupportedAlgorithm:
        _, spki, _, _ = sm2.cert_parts(cert.public_bytes(serialization.Encoding.DER))
        return SM2PublicKey(spki)


SM2_WITH_SM3_ALG = bytes.fromhex("300a06082a811ccf55018375")  # AlgorithmIdentifier, no parameters
_PLACEHOLDER = ec.derive_private_key(1, ec.SECP256R1())  # signs only what is re-signed below


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _der(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _sm2_certificate(built, spki, sign, alg=None):
    """`built` (signed by a placeholder) with its key replaced by `spki` and signed again by `sign`
    (bytes -> signature) under `alg` (AlgorithmIdentifier DER; None: the one `built` has)."""
    tbs = built.tbs_certificate_bytes
    kids = sm2._sequence(tbs)
    parts = [tbs[k[1]:k[3]] for k in kids]
    i = 1 if kids[0][0] == 0xA0 else 0  # [0] version
    if alg is not None:
        parts[i + 1] = alg
    parts[i + 5] = spki
    new_tbs = _der(0x30, b"".join(parts))
    if alg is None:
        outer = sm2._sequence(built.public_bytes(serialization.Encoding.DER))
        der = built.public_bytes(serialization.Encoding.DER)
        alg = der[outer[1][1]:outer[1][3]]
    der = _der(0x30, new_tbs + alg + _der(0x03, b"\x00" + sign(new_tbs)))
    return x509.load_der_x509_certificate(der)


def _load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


class PKI:
    """CA material kept in DIR/ca and DIR/tls; made on first start."""

    def __init__(self, data_dir):
        self.dir = data_dir
        self.ca_dir = os.path.join(data_dir, "ca")
        self.tls_dir = os.path.join(data_dir, "tls")
        self.root_pem = os.path.join(self.ca_dir, "root.pem")
        self.issuing_pem = os.path.join(self.ca_dir, "issuing.pem")
        self.tls_ca_pem = os.path.join(self.tls_dir, "ca.pem")
        self.server_pem = os.path.join(self.tls_dir, "server.pem")
        self.server_key = os.path.join(self.tls_dir, "server.key")
        self._ensure()
        self.root = _load_cert(self.root_pem)
        self.issuing = _load_cert(self.issuing_pem)
        self.issuing_key = _load_key(os.path.join(self.ca_dir, "issuing.key"))
        self.root_der = self.root.public_bytes(serialization.Encoding.DER)
        self.issuing_der = self.issuing.public_bytes(serialization.Encoding.DER)
        # the CRL's URL (section 17.5), written by zrca-platformd when it listens: certificates issued
        # from then on carry it as their CRL distribution point
        # every root a holder's certificate may chain to: the EC root, and the SM2 root once an SM2
        # holder made the SM2 CA (doc/protocol.md section 20)
        self.roots_pem = os.path.join(self.ca_dir, "roots.pem")
        self._sm2ca = None
        self._sm2_lock = threading.Lock()
        if os.path.exists(os.path.join(self.dir, "sm2ca", "issuing.pem")):
            self.sm2ca  # made before: loaded, and the bundle names its root
        else:
            self._write_roots()
        self.crl_url_file = os.path.join(self.ca_dir, "crl-url")
        self.crl_url = None
        if os.path.exists(self.crl_url_file):
            with open(self.crl_url_file, encoding="ascii") as f:
                self.crl_url = f.read().strip() or None

    @property
    def sm2ca(self):
        """The SM2 root and issuing CA (sm2.SM2CA in DIR/sm2ca), made on first use."""
        with self._sm2_lock:
            if self._sm2ca is None:
                self._sm2ca = sm2.SM2CA(self.dir)
                self.sm2_issuing = x509.load_der_x509_certificate(self._sm2ca.issuing_der)
                self._write_roots()
            return self._sm2ca

    def _write_roots(self):
        with open(self.root_pem, "rb") as f:
            data = f.read()
        if self._sm2ca is not None:
            with open(self._sm2ca.root_pem, "rb") as f:
                data += f.read()
        _write_atomic(self.roots_pem, data)

    def chain_for(self, cert):
        """The answer's chain of a certificate this platform issued: the SM2 CA's for SM2."""
        import base64
        if cert.signature_algorithm_oid.dotted_string == sm2.OID_SM2_WITH_SM3 and self._sm2ca is not None:
            return [base64.b64encode(self._sm2ca.issuing_der).decode(),
                    base64.b64encode(self._sm2ca.root_der).decode()]
        return self.chain_b64

    def set_crl_url(self, url):
        self.crl_url = url
        _write_atomic(self.crl_url_file, url.encode("ascii") + b"\n")

    def _ensure(self):
        os.makedirs(self.ca_dir, exist_ok=True)
        os.makedirs(self.tls_dir, exist_ok=True)
        pem = serialization.Encoding.PEM
        if not os.path.exists(self.issuing_pem):
            root_key = ec.generate_private_key(ec.SECP256R1())
            root_name = _name("ZRCA Reference Root CA")
            root = _ca_cert(root_name, root_key, root_name, root_key, 1, 365 * 20)
            iss_key = ec.generate_private_key(ec.SECP256R1())
            iss = _ca_cert(_name("ZRCA Reference Issuing CA"), iss_key, root_name, root_key, 0, 365 * 15)
            _write_atomic(os.path.join(self.ca_dir, "root.key"), _key_pem(root_key), 0o600)
            _write_atomic(os.path.join(self.ca_dir, "issuing.key"), _key_pem(iss_key), 0o600)
            _write_atomic(self.root_pem, root.public_bytes(pem))
            _write_atomic(self.issuing_pem, iss.public_bytes(pem))
        need_server = not os.path.exists(self.server_pem)
        if not os.path.exists(self.tls_ca_pem):
            tls_key = ec.generate_private_key(ec.SECP256R1())
            tls_name = _name("ZRCA Reference Platform TLS CA")
            tls_ca = _ca_cert(tls_name, tls_key, tls_name, tls_key, 0, 365 * 20)
            _write_atomic(os.path.join(self.tls_dir, "ca.key"), _key_pem(tls_key), 0o600)
            _write_atomic(self.tls_ca_pem, tls_ca.public_bytes(pem))
            need_server = True
        if not need_server:
            cert = _load_cert(self.server_pem)
            if cert.not_valid_after.replace(tzinfo=UTC) < now_dt() + _dt.timedelta(days=30):
                need_server = True
        if need_server:
            tls_ca = _load_cert(self.tls_ca_pem)
            tls_key = _load_key(os.path.join(self.tls_dir, "ca.key"))
            key = ec.generate_private_key(ec.SECP256R1())
            now = now_dt()
            cert = (x509.CertificateBuilder().subject_name(_name("localhost"))
                    .issuer_name(tls_ca.subject).public_key(key.public_key()).serial_number(random_serial())
                    .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=825))
                    .add_extension(x509.SubjectAlternativeName([
                        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False,
                                                 key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                 encipher_only=False, decipher_only=False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(tls_key.public_key()),
                                   critical=False)
                    .sign(tls_key, hashes.SHA256()))
            _write_atomic(self.server_key, _key_pem(key), 0o600)
            _write_atomic(self.server_pem, cert.public_bytes(pem))

    def ssl_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_pem, self.server_key)
        return ctx

    @property
    def chain_b64(self):
        import base64
        return [base64.b64encode(self.issuing_der).decode(), base64.b64encode(self.root_der).decode()]

    def issue(self, subject, public_key, not_before, not_after):
        """An end-entity certificate from the issuing CA. Returns the cryptography certificate."""
        return self.leaf(subject, public_key, not_before, not_after)

    def leaf(self, subject, public_key, not_before, not_after, ca=False, key_usage=LEAF_KEY_USAGE,
             eku=LEAF_EKU, extra=(), issuer=None, hash_alg=None):
        """The end-entity certificate of doc/protocol.md section 10.4, with overrides (the faulty issuer
        uses them): ca (basicConstraints cA), key_usage (KeyUsage attribute names, None: no extension),
        eku (OIDs, None: no extension), extra ((extension, critical) pairs), issuer ((certificate, key),
        default the issuing CA), hash_alg (default SHA-256)."""
        sm2_key = isinstance(public_key, SM2PublicKey)
        if sm2_key and issuer is None:  # an SM2 holder: the SM2 issuing CA signs (SM2-with-SM3)
            self.sm2ca
            issuer_cert, issuer_key = self.sm2_issuing, None
        else:
            issuer_cert, issuer_key = issuer or (self.issuing, self.issuing_key)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_cert.subject)
             .public_key(_PLACEHOLDER.public_key() if sm2_key else public_key).serial_number(random_serial())
             .not_valid_before(not_before).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if key_usage is not None:
            b = b.add_extension(x509.KeyUsage(**{n: n in key_usage for n in KEY_USAGE_ATTRS}), critical=True)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        ski = (x509.SubjectKeyIdentifier(public_key.key_id()) if sm2_key
               else x509.SubjectKeyIdentifier.from_public_key(public_key))
        b = (b.add_extension(ski, critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                 issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False))
        if self.crl_url and issuer is None:  # an SM2 certificate: the SM2 issuing CA's CRL (sm2crl.py)
            url = self.crl_url.rsplit("/crl/", 1)[0] + "/crl/sm2-issuing.crl" if sm2_key else self.crl_url
            b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(url)], None, None, None)]), critical=False)
        for ext, critical in extra:
            b = b.add_extension(ext, critical=critical)
        with warnings.catch_warnings():  # SHA-1 / MD5 on purpose (faulty issuer)
            warnings.simplefilter("ignore")
            if not sm2_key:
                return b.sign(issuer_key, hash_alg or hashes.SHA256())
            if issuer_key is None:
                return _sm2_certificate(b.sign(_PLACEHOLDER, hashes.SHA256()), public_key.spki,
                                        self.sm2ca.sign, SM2_WITH_SM3_ALG)
            # an SM2 key under another CA (the faulty issuer's): that CA's own algorithm
            h = hash_alg or hashes.SHA256()
            if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
                def sign(tbs):
                    return issuer_key.sign(tbs, ec.ECDSA(h))
            else:
                def sign(tbs):
                    return issuer_key.sign(tbs, padding.PKCS1v15(), h)
            return _sm2_certificate(b.sign(issuer_key, h), public_key.spki, sign)

    @property
    def root_key(self):
        return _load_key(os.path.join(self.ca_dir, "root.key"))

    def sub_ca(self, name, key, days, not_before=None):
        """An intermediate CA under the platform root (faulty issuer: expired or weak ones)."""
        return _ca_cert(_name(name), key, self.root.subject, self.root_key, 0, days, not_before)

    @staticmethod
    def self_signed_ca(name, key):
        n = _name(name, "ZRCA Rogue Authority")
        return _ca_cert(n, key, n, key, 0, 365 * 5)

    def sign_blob(self, data, cert_der=None):
        """The issuing CA's signature over `data`; the SM2 issuing CA's (SM2-with-SM3, its ID) when
        `cert_der` is a certificate it issued: a record is signed by the CA of its certificate."""
        if (cert_der is not None and self._sm2ca is not None
                and sm2.cert_parts(cert_der)[2] == sm2.OID_SM2_WITH_SM3):
            return "SM2-with-SM3", self.sm2ca.sign(data)
        k = self.issuing_key
        if isinstance(k, ec.EllipticCurvePrivateKey):
            return "ecdsa-with-SHA256", k.sign(data, ec.ECDSA(hashes.SHA256()))
        return "sha256WithRSAEncryption", k.sign(data, padding.PKCS1v15(), hashes.SHA256())


def subject_for(kind, enterprise, holder, id_number, position, uscc):
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise)]
    if kind == "org":
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, enterprise))
        if uscc:
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc))
    else:
        ou = "法定代表人" if kind == "legal_rep" else (position or "个人")
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, holder))
        if id_number:
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, id_number))
    return x509.Name(attrs)


def key_algorithm_ok(pub):
    if isinstance(pub, SM2PublicKey):
        return True
    if isinstance(pub, rsa.RSAPublicKey):
        e = pub.public_numbers().e
        return pub.key_size in (2048, 3072) and e >= 65537 and e % 2 == 1
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return isinstance(pub.curve, ec.SECP256R1)
    return False


def spki_der(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def proof_message(nonce, csr_der, number, index):
    return (PROOF_LABEL + b"\x00" + nonce + hashlib.sha256(csr_der).digest()
            + number.encode("ascii") + b"\x00" + str(index).encode("ascii"))


def verify_signature(pub, signature, message):
    """Proof signature by the old certificate's key: RSA PKCS#1 v1.5 / ECDSA, both SHA-256; SM2-with-SM3
    with GM/T 0009's default ID."""
    if isinstance(pub, SM2PublicKey):
        return sm2.verify(pub.spki, signature, message)
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            pub.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except (InvalidSignature, ValueError):
        return False


def seal_message(seal, cert_der, image):
    def a(s):
        return s.encode("ascii") + b"\x00"
    return (SEAL_LABEL + b"\x00" + a(seal["seal_id"]) + a(seal["certificate_serial"])
            + hashlib.sha256(cert_der).digest() + seal["name"].encode("utf-8") + b"\x00"
            + a(seal["image_type"]) + hashlib.sha256(image).digest()
            + a(seal["valid_from"]) + a(seal["valid_to"]))


def seal_png(seed_text, size=160):
    """A red round seal: ring, inner ring and a centre star, deterministic per text."""
    h = hashlib.sha256(seed_text.encode("utf-8")).digest()
    c = (size - 1) / 2.0
    rows = []
    import math
    star = []
    for k in range(10):
        ang = -math.pi / 2 + k * math.pi / 5
        r = size * (0.16 if k % 2 == 0 else 0.065)
        star.append((c + r * math.cos(ang), c + r * math.sin(ang)))

    def in_star(x, y):
        inside = False
        j = len(star) - 1
        for i in range(len(star)):
            xi, yi = star[i]
            xj, yj = star[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            d = math.hypot(x - c, y - c)
            red = (0.42 * size <= d <= 0.48 * size) or (0.36 * size <= d <= 0.375 * size) or in_star(x, y)
            # a ring of dots whose pattern depends on the text, so each seal differs
            if not red and 0.39 * size <= d <= 0.41 * size:
                ang = (math.atan2(y - c, x - c) + math.pi) / (2 * math.pi)
                red = bool(h[int(ang * 31) % 32] & 1)
            row += bytes((0xD0, 0x10, 0x10, 0xFF)) if red else bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def cert_serial_hex(cert):
    return serial_hex(cert.serial_number)
