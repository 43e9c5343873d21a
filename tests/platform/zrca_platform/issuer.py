# SPDX-License-Identifier: MIT
"""The issuer behind POST …/issue and the operator's reissue, with the switchable faulty issuer of
doc/protocol.md section 13 ("The faulty issuer"): each fault kind breaks exactly one rule a client must
check before it writes a certificate to the key; two more kinds are good variants a client must accept."""
import datetime as _dt
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import pki
from .kmc import ENC_KINDS
from .util import b64e, serial_hex, ts

MODES = ("recorded", "wire")
DEFAULT_COUNT = 1000000
PRIVATE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")
DAY = _dt.timedelta(days=1)


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def _edit_name(name, oid, edit):
    """`name` with each attribute of type `oid` replaced by edit(attribute); RDN structure kept."""
    return x509.Name([x509.RelativeDistinguishedName([edit(a) if a.oid == oid else a for a in rdn])
                      for rdn in name.rdns])


def _attr(a, value=None, asn1_type=None):
    return x509.NameAttribute(a.oid, a.value if value is None else value, _type=asn1_type or a._type)


def _other_string_type(a):
    return _attr(a, asn1_type=_ASN1Type.UTF8String if a._type != _ASN1Type.UTF8String
                 else _ASN1Type.PrintableString)


class Request:
    """What a good issuance would be: subject, key, validity; the overrides of a fault start from it."""

    def __init__(self, pki_, subject, public_key, now, not_after):
        self.pki, self.subject, self.public_key, self.now, self.not_after = pki_, subject, public_key, now, not_after

    def sub_ca(self, name, key, days, not_before=None):
        """(issuer override, chain) for a new intermediate under the real root."""
        ca = self.pki.sub_ca(name, key, days, not_before)
        return {"issuer": (ca, key)}, [b64e(_der(ca)), b64e(self.pki.root_der)]

    def rogue_ca(self):
        key = ec.generate_private_key(ec.SECP256R1())
        ca = self.pki.self_signed_ca("ZRCA Rogue CA", key)
        return {"issuer": (ca, key)}, [b64e(_der(ca))]


def _ku(*extra, drop=()):
    return {"key_usage": (pki.LEAF_KEY_USAGE | set(extra)) - set(drop)}


def _weak_digest(req):
    """MD5 needs RSA: the issuing CA's own key if it is RSA, else a new RSA-2048 intermediate."""
    if isinstance(req.pki.issuing_key, rsa.RSAPrivateKey):
        return {"hash_alg": hashes.MD5()}, None
    over, chain = req.sub_ca("ZRCA Reference Issuing CA (RSA)", rsa.generate_private_key(65537, 2048), 365 * 5)
    over["hash_alg"] = hashes.MD5()
    return over, chain


# kind -> function(Request) -> (leaf() overrides, chain or None for [issuing CA, root]); the certificate differs
CERT_FAULTS = {
    "ca_true": lambda r: ({"ca": True}, None),
    "key_cert_sign": lambda r: (_ku("key_cert_sign"), None),
    "crl_sign": lambda r: (_ku("crl_sign"), None),
    "no_key_usage": lambda r: ({"key_usage": None}, None),
    "no_extended_key_usage": lambda r: ({"eku": None}, None),
    "key_usage_extra": lambda r: (_ku("key_encipherment"), None),
    "extended_key_usage_extra": lambda r: ({"eku": pki.LEAF_EKU + (ExtendedKeyUsageOID.SERVER_AUTH,)}, None),
    "key_usage_missing": lambda r: (_ku(drop=("content_commitment",)), None),
    "end_plus_day": lambda r: ({"not_after": r.not_after + DAY}, None),
    "end_minus_second": lambda r: ({"not_after": r.not_after - _dt.timedelta(seconds=1)}, None),
    "not_before_future": lambda r: ({"not_before": r.now + DAY}, None),
    # acceptable: a platform whose clock is 2 minutes ahead of the client's (within the 300 s allowed)
    "clock_ahead": lambda r: ({"not_before": r.now + _dt.timedelta(seconds=120)}, None),
    "subject_case": lambda r: ({"subject": _edit_name(r.subject, NameOID.COUNTRY_NAME,
                                                      lambda a: _attr(a, a.value.lower()))}, None),
    "subject_trailing_space": lambda r: ({"subject": _edit_name(r.subject, NameOID.COMMON_NAME,
                                                                lambda a: _attr(a, a.value + " "))}, None),
    "subject_string_type": lambda r: ({"subject": _edit_name(r.subject, NameOID.COUNTRY_NAME,
                                                             _other_string_type)}, None),
    "other_key": lambda r: ({"public_key": ec.generate_private_key(ec.SECP256R1()).public_key()}, None),
    "other_ca": lambda r: r.rogue_ca(),
    "expired_chain": lambda r: r.sub_ca("ZRCA Reference Issuing CA (expired)", ec.generate_private_key(
        ec.SECP256R1()), -1, r.now - 31 * DAY),
    "weak_issuer_key": lambda r: r.sub_ca("ZRCA Reference Issuing CA (RSA-1024)",
                                          rsa.generate_private_key(65537, 1024), 365 * 5),
    "sha1_signature": lambda r: ({"hash_alg": hashes.SHA1()}, None),
    "bad_signature": lambda r: ({"flip_signature": True}, None),
    "unknown_critical_extension": lambda r: ({"extra": [(x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"),
                                                         True)]}, None),
    "md5_rsa_or_weak_digest": _weak_digest,
}


def _answer_fault(kind, good, answer):
    """The answer of a good certificate, changed for a kind whose certificate is good."""
    a = dict(answer)
    if kind == "wrong_serial":
        a["serial"] = serial_hex(pki.random_serial())
    elif kind == "not_der":
        a["certificate"] = b64e(b"ZRCA: this is not a certificate " + os.urandom(16))
    elif kind == "trailing_bytes":
        a["certificate"] = b64e(_der(good) + b"\x00\x00\x00\x00")
    elif kind == "chain_reversed":
        a["chain"] = list(reversed(a["chain"]))
    elif kind == "chain_leaf_repeated":
        a["chain"] = [a["certificate"]] + a["chain"]
    return a


ANSWER_FAULTS = ("wrong_serial", "not_der", "trailing_bytes", "chain_reversed", "chain_leaf_repeated")
ACCEPTABLE = ["chain_reversed", "chain_leaf_repeated", "clock_ahead"]
KINDS = ["ca_true", "key_cert_sign", "crl_sign", "no_key_usage", "no_extended_key_usage", "key_usage_extra",
         "extended_key_usage_extra", "key_usage_missing", "end_plus_day", "end_minus_second", "not_before_future",
         "subject_case", "subject_trailing_space", "subject_string_type", "wrong_serial", "other_key", "other_ca",
         "expired_chain", "weak_issuer_key", "sha1_signature", "bad_signature", "unknown_critical_extension",
         "not_der", "trailing_bytes", "md5_rsa_or_weak_digest", "chain_reversed", "chain_leaf_repeated",
         "clock_ahead"] + ENC_KINDS  # the last: the encryption half of a dual issuance only (kmc.py)
assert sorted(KINDS) == sorted(list(CERT_FAULTS) + list(ANSWER_FAULTS) + ENC_KINDS)


def answer(cert, chain, not_before, not_after):
    """The section 10.4 answer: not_before/not_after are the promised values, not the certificate's."""
    return {"certificate": b64e(_der(cert)), "chain": chain, "serial": pki.cert_serial_hex(cert),
            "not_before": ts(not_before), "not_after": ts(not_after)}


def _build(req, kind):
    """(certificate, answer) for one kind whose certificate is bad."""
    over, chain = CERT_FAULTS[kind](req)
    flip = over.pop("flip_signature", False)
    args = {"subject": req.subject, "public_key": req.public_key, "not_before": req.now,
            "not_after": req.not_after}
    args.update(over)
    cert = req.pki.leaf(**args)
    if flip:  # the signature BIT STRING ends the DER: one flipped byte there keeps the DER valid
        der = bytearray(_der(cert))
        der[-1] ^= 0x01
        cert = x509.load_der_x509_certificate(bytes(der))
    return cert, answer(cert, chain or req.pki.chain_for(cert), req.now, req.not_after)


def issue(pki_, fault, subject, public_key, now, not_after):
    """Issue through the issuer. `fault`: None or {"fault": kind, "mode": mode}.

    Returns (certificate to store, answer to store, answer to send). In mode `recorded` the stored
    answer is the bad one (and the stored certificate too, where the kind makes a bad certificate);
    in mode `wire` the platform stores the good certificate and answer and only sends the bad answer."""
    if fault is not None and fault["fault"] in ENC_KINDS:  # they spoil the encryption half (kmc.issue_half)
        fault = None
    req = Request(pki_, subject, public_key, now, not_after)
    kind = fault["fault"] if fault else None
    # clock_ahead is a good certificate of its own: in mode wire too it is what the platform stores
    recorded = fault is not None and (fault["mode"] == "recorded" or kind == "clock_ahead")
    if kind in CERT_FAULTS and recorded:
        cert, bad = _build(req, kind)
        return cert, bad, bad
    good = pki_.issue(subject, public_key, now, not_after)
    good_answer = answer(good, pki_.chain_for(good), now, not_after)
    if kind is None:
        return good, good_answer, good_answer
    bad = _build(req, kind)[1] if kind in CERT_FAULTS else _answer_fault(kind, good, good_answer)
    return good, bad if recorded else good_answer, bad
