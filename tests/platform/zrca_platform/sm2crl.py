# SPDX-License-Identifier: MIT
"""The SM2 issuing CA's CRL (doc/protocol.md sections 17.6 and 21): every revoked certificate the SM2
issuing CA issued, signing certificates and the encryption certificates of dual holders alike, signed
SM2-with-SM3 by that CA, served at CRL_PATH next to the EC issuing CA's CRL of revocation.py.

The cryptography package cannot sign with SM2: the CRL is built by it, signed by a placeholder key, and
its TBSCertList re-signed by the SM2 CA with the SM2-with-SM3 AlgorithmIdentifier put in its place (as
pki._sm2_certificate does for certificates)."""
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import pki, sm2
from .util import now_dt, parse_ts, ts

CRL_PATH = "/crl/sm2-issuing.crl"
CA_PATH = "/crl/sm2-issuing.crt"
SCHEMA = """
CREATE TABLE IF NOT EXISTS sm2_crl (
  id INTEGER PRIMARY KEY CHECK (id = 1), number INTEGER NOT NULL, this_update TEXT NOT NULL,
  next_update TEXT NOT NULL, der BLOB NOT NULL);
"""


def available(pki_):
    """True once the SM2 CA exists (made by the first SM2 request, section 20, perhaps by another process:
    zrca-platformctl); then loaded."""
    if pki_._sm2ca is None and not os.path.exists(os.path.join(pki_.dir, "sm2ca", "issuing.pem")):
        return False
    pki_.sm2ca
    return True


def _entries(pki_, conn):
    """(serial, revoked_at, reason) of every revoked certificate the SM2 issuing CA issued."""
    issuer = pki_.sm2_issuing.subject
    issuer_s = issuer.rfc4514_string()
    out = [tuple(r) for r in conn.execute(
        "SELECT e.serial, e.revoked_at, e.reason FROM crl_entries e JOIN certificates c ON c.serial=e.serial "
        "WHERE c.issuer=?", (issuer_s,))]
    for r in conn.execute("SELECT e.serial, e.revoked_at, e.reason, k.der FROM crl_entries e "
                          "JOIN encryption_certs k ON k.serial=e.serial"):
        if x509.load_der_x509_certificate(bytes(r[3])).issuer == issuer:  # not a faulty issuer's rogue CA
            out.append((r[0], r[1], r[2]))
    return sorted(out, key=lambda e: (e[1], e[0]))


def build(pki_, conn, number, this_update, next_update):
    from .revocation import _reason_flag
    iss = pki_.sm2_issuing
    b = (x509.CertificateRevocationListBuilder().issuer_name(iss.subject)
         .last_update(this_update).next_update(next_update)
         .add_extension(x509.CRLNumber(number), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
             iss.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False))
    for serial, revoked_at, reason in _entries(pki_, conn):
        flag = _reason_flag(reason)
        entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(parse_ts(revoked_at))
        if flag != x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        b = b.add_revoked_certificate(entry.build())
    placeholder = b.sign(pki._PLACEHOLDER, hashes.SHA256())
    tbs = placeholder.tbs_certlist_bytes
    kids = sm2._sequence(tbs)
    parts = [tbs[k[1]:k[3]] for k in kids]
    parts[1 if kids[0][0] == 0x02 else 0] = pki.SM2_WITH_SM3_ALG  # after the version INTEGER (v2)
    new_tbs = pki._der(0x30, b"".join(parts))
    der = pki._der(0x30, new_tbs + pki.SM2_WITH_SM3_ALG + pki._der(0x03, b"\x00" + pki_.sm2ca.sign(new_tbs)))
    x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.DER)  # it parses
    return der


def current(store, conn):
    """The DER CRL to serve: the stored one, made anew when there is none, when a certificate was revoked
    since, or when half its validity has passed. None when there is no SM2 CA."""
    from .revocation import CRL_VALIDITY
    pki_ = store.pki
    if not available(pki_):
        return None
    r = conn.execute("SELECT * FROM sm2_crl WHERE id=1").fetchone()
    if r is not None:
        half = parse_ts(r["this_update"]) + (parse_ts(r["next_update"]) - parse_ts(r["this_update"])) / 2
        newest = conn.execute("SELECT MAX(revoked_at) AS m FROM crl_entries").fetchone()["m"]
        if now_dt() < half and (newest is None or newest < r["this_update"]):  # same second: made anew
            return bytes(r["der"])
    with store.tx(conn):
        number = (r["number"] if r else 0) + 1
        tu = now_dt()
        nu = tu + CRL_VALIDITY
        der = build(pki_, conn, number, tu, nu)
        conn.execute("INSERT OR REPLACE INTO sm2_crl(id, number, this_update, next_update, der) VALUES (1,?,?,?,?)",
                     (number, ts(tu), ts(nu), der))
    return der
