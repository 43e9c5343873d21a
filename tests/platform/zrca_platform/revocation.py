# SPDX-License-Identifier: MIT
"""Revocation (吊销申请) and the CRL, doc/protocol.md section 17.

A revocation request names one of the account's certificates and a reason; without a proof it is made
by the account's password session alone (a lost key), with a proof the certificate's own key signs it
(section 17.2). Every request is reviewed by the operator, signed or not; an approval revokes the
certificate and publishes a new CRL of the issuing CA, served without authentication at CRL_PATH."""
import datetime as _dt
import hashlib
import os
import re
import secrets
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import pki
from .util import (UTC, Violations, b64d, b64e, conflict, has_control, not_found, now_dt, parse_ts, ts,
                   validation_error)

SCHEMA = """
CREATE TABLE IF NOT EXISTS revocations (
  id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, serial TEXT NOT NULL, kind TEXT NOT NULL,
  holder TEXT NOT NULL, reason TEXT NOT NULL, comment TEXT, signed INTEGER NOT NULL, status TEXT NOT NULL,
  review_comment TEXT, created_at TEXT NOT NULL, reviewed_at TEXT);
CREATE INDEX IF NOT EXISTS revocations_account ON revocations(account_id, id);
CREATE TABLE IF NOT EXISTS revocation_challenges (
  id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, nonce BLOB NOT NULL, created_at TEXT NOT NULL,
  expires_epoch REAL NOT NULL, expires_at TEXT NOT NULL, used_at TEXT);
CREATE TABLE IF NOT EXISTS crl_entries (
  serial TEXT PRIMARY KEY, revoked_at TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crl (
  id INTEGER PRIMARY KEY CHECK (id = 1), number INTEGER NOT NULL, this_update TEXT NOT NULL,
  next_update TEXT NOT NULL, der BLOB NOT NULL, pinned INTEGER NOT NULL DEFAULT 0);
"""

PROOF_LABEL = b"ZRCA-REVOKE-PROOF-V1"
CRL_PATH = "/crl/issuing.crl"
CRL_VALIDITY = _dt.timedelta(days=7)
CHALLENGE_TTL = 300
# the request's reasons and the RFC 5280 CRLReason each is published with
REASONS = {"key_lost": x509.ReasonFlags.key_compromise,
           "key_compromised": x509.ReasonFlags.key_compromise,
           "holder_left": x509.ReasonFlags.affiliation_changed,
           "info_changed": x509.ReasonFlags.superseded,
           "no_longer_needed": x509.ReasonFlags.cessation_of_operation}
# the operator's reissue and release (section 12) revoke too; their CRL reasons
OPERATOR_REASONS = {"superseded": x509.ReasonFlags.superseded,
                    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation}
MAX_COMMENT = 200


def canonical_serial(s):
    """True when s is a certificate serial in the canonical form of section 1 (lowercase hex, even
    length, no leading 00 byte, positive, at most 20 bytes)."""
    return (isinstance(s, str) and re.match(r"^[0-9a-f]{2,40}$", s) is not None and len(s) % 2 == 0
            and not s.startswith("00"))


def proof_message(nonce, cert_der, serial, reason):
    """Section 17.2, byte by byte."""
    return (PROOF_LABEL + b"\x00" + nonce + hashlib.sha256(cert_der).digest() + serial.encode("ascii") + b"\x00"
            + reason.encode("ascii"))


def record_revoked(conn, serial, reason, when=None):
    """A certificate revoked: its CRL entry (reason: a key of REASONS or OPERATOR_REASONS)."""
    conn.execute("INSERT OR IGNORE INTO crl_entries(serial, revoked_at, reason) VALUES (?,?,?)",
                 (serial, ts(when or now_dt()), reason))
    conn.execute("UPDATE crl SET pinned=0 WHERE id=1")


def revocation_info(conn, serial):
    """(revoked_at, reason) of a revoked certificate, or (None, None)."""
    r = conn.execute("SELECT revoked_at, reason FROM crl_entries WHERE serial=?", (serial,)).fetchone()
    return (r["revoked_at"], r["reason"]) if r else (None, None)


def _json(r):
    return {"id": r["id"], "certificate_serial": r["serial"], "kind": r["kind"], "holder": r["holder"],
            "reason": r["reason"], "comment": r["comment"], "signed": bool(r["signed"]), "status": r["status"],
            "review_comment": r["review_comment"], "created_at": r["created_at"], "reviewed_at": r["reviewed_at"]}


def challenge(svc, conn, acct, body):
    v = Violations()
    for k in body:
        v.add(k, "unknown_field", "unknown field %r" % k)
    v.raise_if_any()
    cid = "rch_" + secrets.token_hex(16)
    nonce = os.urandom(32)
    exp = time.time() + CHALLENGE_TTL
    exp_s = ts(_dt.datetime.fromtimestamp(int(exp), UTC))
    conn.execute("INSERT INTO revocation_challenges(id, account_id, nonce, created_at, expires_epoch, expires_at) "
                 "VALUES (?,?,?,?,?,?)", (cid, acct["id"], nonce, ts(now_dt()), exp, exp_s))
    return {"challenge_id": cid, "nonce": b64e(nonce), "expires_at": exp_s}


def create(svc, conn, acct, body):
    """POST /api/v1/revocations: validate, check the certificate, verify a proof; a pending request."""
    v = Violations()
    for k in body:
        if k not in ("certificate_serial", "reason", "comment", "proof"):
            v.add(k, "unknown_field", "unknown field %r" % k)
    serial = body.get("certificate_serial")
    if serial is None or serial == "":
        v.add("certificate_serial", "required", "certificate_serial is required")
        serial = None
    elif not isinstance(serial, str):
        v.add("certificate_serial", "type", "certificate_serial must be a string")
        serial = None
    elif not canonical_serial(serial):
        v.add("certificate_serial", "format", "certificate_serial must be lowercase hex, canonical form")
        serial = None
    reason = body.get("reason")
    if reason is None or reason == "":
        v.add("reason", "required", "reason is required")
    elif not isinstance(reason, str):
        v.add("reason", "type", "reason must be a string")
    elif reason not in REASONS:
        v.add("reason", "enum", "reason must be one of " + ", ".join(REASONS))
    comment = body.get("comment")
    if comment == "":
        comment = None
    if comment is not None:
        if not isinstance(comment, str):
            v.add("comment", "type", "comment must be a string")
        elif len(comment) > MAX_COMMENT:
            v.add("comment", "max_length", "comment is longer than %d characters" % MAX_COMMENT)
        elif has_control(comment):
            v.add("comment", "format", "comment has control characters")
    proof = body.get("proof")
    signature = cid = None
    if proof is not None:
        if not isinstance(proof, dict):
            v.add("proof", "type", "proof must be an object")
        else:
            for k in proof:
                if k not in ("challenge_id", "signature"):
                    v.add("proof." + k, "unknown_field", "unknown field %r" % k)
            cid = proof.get("challenge_id")
            if cid is None or cid == "":
                v.add("proof.challenge_id", "required", "proof.challenge_id is required")
            elif not isinstance(cid, str):
                v.add("proof.challenge_id", "type", "proof.challenge_id must be a string")
            elif len(cid) > 64:
                v.add("proof.challenge_id", "max_length", "proof.challenge_id is longer than 64 characters")
            sig = proof.get("signature")
            if sig is None or sig == "":
                v.add("proof.signature", "required", "proof.signature is required")
            elif not isinstance(sig, str):
                v.add("proof.signature", "type", "proof.signature must be a string")
            elif len(sig) > 4096:
                v.add("proof.signature", "max_length", "proof.signature is longer than 4096 characters")
            else:
                try:
                    signature = b64d(sig)
                except ValueError:
                    v.add("proof.signature", "base64", "proof.signature is not base64")
    v.raise_if_any()
    cert = svc.cert_row(conn, serial)
    if cert is None or cert["account_id"] != acct["id"]:
        raise not_found("certificate")
    status = svc.cert_json(conn, cert)["status"]
    if status != "valid":
        raise conflict("not_revocable", "the certificate is %s: it cannot be revoked" % status, rule=status)
    if conn.execute("SELECT 1 FROM revocations WHERE serial=? AND status='pending'", (serial,)).fetchone():
        raise conflict("not_revocable", "a revocation request for this certificate is already pending",
                       rule="request_pending")
    signed = False
    if proof is not None:
        ch = conn.execute("SELECT * FROM revocation_challenges WHERE id=? AND account_id=?",
                          (cid, acct["id"])).fetchone()
        if ch is None:
            validation_error("proof.challenge_id", "mismatch", "proof.challenge_id is not a challenge of this account")
        if time.time() >= ch["expires_epoch"]:
            raise conflict("challenge_expired", "the challenge expired at %s; ask for a new one" % ch["expires_at"])
        if ch["used_at"]:
            raise conflict("challenge_used", "the challenge was already used; ask for a new one")
        pub = pki.cert_public_key(x509.load_der_x509_certificate(cert["der"]))
        if not pki.verify_signature(pub, signature, proof_message(ch["nonce"], cert["der"], serial, reason)):
            validation_error("proof.signature", "signature",
                             "the proof does not verify with the certificate's key over section 17.2")
        conn.execute("UPDATE revocation_challenges SET used_at=? WHERE id=?", (ts(now_dt()), cid))
        signed = True
    conn.execute("INSERT INTO revocations(account_id, serial, kind, holder, reason, comment, signed, status, "
                 "created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                 (acct["id"], serial, cert["kind"], cert["holder"], reason, comment, int(signed), "pending",
                  ts(now_dt())))
    rid = conn.execute("SELECT last_insert_rowid() AS id").fetchone()["id"]
    return _json(conn.execute("SELECT * FROM revocations WHERE id=?", (rid,)).fetchone())


def _paging(query):
    from .service import paging
    return paging(query)


def list_for(svc, conn, acct, query):
    from .service import page_result
    v, pg = _paging(query)
    for k in query:
        if k not in ("page", "per_page", "status"):
            v.add(k, "unknown_field", "unknown query parameter %r" % k)
    status = query.get("status") or None
    if status and status not in ("pending", "approved", "rejected"):
        v.add("status", "enum", "status must be pending, approved or rejected")
    v.raise_if_any()
    sql, args = "FROM revocations WHERE account_id=?", [acct["id"]]
    if status:
        sql += " AND status=?"
        args.append(status)
    total = conn.execute("SELECT COUNT(*) AS n " + sql, args).fetchone()["n"]
    p, n = pg["page"], pg["per_page"]
    rows = conn.execute("SELECT * " + sql + " ORDER BY id DESC LIMIT ? OFFSET ?", args + [n, (p - 1) * n])
    return page_result([_json(r) for r in rows], p, n, total)


def _row(conn, rid, account_id=None):
    if not re.match(r"^[0-9]{1,18}$", rid or ""):
        raise not_found("revocation request")
    r = conn.execute("SELECT * FROM revocations WHERE id=?", (int(rid),)).fetchone()
    if r is None or (account_id is not None and r["account_id"] != account_id):
        raise not_found("revocation request")
    return r


def get(svc, conn, acct, rid):
    return _json(_row(conn, rid, acct["id"]))


def operator_list(svc, conn, query):
    status = query.get("status") or None
    v = Violations()
    for k in query:
        if k != "status":
            v.add(k, "unknown_field", "unknown query parameter %r" % k)
    if status and status not in ("pending", "approved", "rejected"):
        v.add("status", "enum", "status must be pending, approved or rejected")
    v.raise_if_any()
    sql = "SELECT r.*, a.account FROM revocations r JOIN accounts a ON a.id=r.account_id"
    rows = conn.execute(sql + (" WHERE r.status=?" if status else "") + " ORDER BY r.id",
                        (status,) if status else ()).fetchall()
    out = []
    for r in rows:
        j = _json(r)
        j["account"] = r["account"]
        out.append(j)
    return {"items": out}


def review(svc, conn, rid, body):
    """The operator's decision on a pending request. Approve: the certificate revoked, a new CRL."""
    r = _row(conn, rid)
    v = Violations()
    for k in body:
        if k not in ("decision", "comment"):
            v.add(k, "unknown_field", "unknown field %r" % k)
    d = body.get("decision")
    if d not in ("approve", "reject"):
        v.add("decision", "required" if d is None else "enum", "decision must be approve or reject")
    c = body.get("comment")
    if c is None or c == "":
        c = None
        if d == "reject":
            v.add("comment", "required", "comment is required to reject")
    elif not isinstance(c, str):
        v.add("comment", "type", "comment must be a string")
    elif len(c) > 500:
        v.add("comment", "max_length", "comment is longer than 500 characters")
    v.raise_if_any()
    if r["status"] != "pending":
        raise conflict("invalid_transition", "the request is already %s" % r["status"], rule=d)
    now = now_dt()
    if d == "approve":
        cert = svc.cert_row(conn, r["serial"])
        if cert["status"] != "revoked":
            conn.execute("UPDATE certificates SET status='revoked' WHERE serial=?", (r["serial"],))
        record_revoked(conn, r["serial"], r["reason"], now)
        from . import kmc
        kmc.revoke(conn, r["serial"], r["reason"], now)  # a dual certificate's encryption twin (section 21)
        publish(svc.pki, conn)
    conn.execute("UPDATE revocations SET status=?, review_comment=?, reviewed_at=? WHERE id=?",
                 ("approved" if d == "approve" else "rejected", c, ts(now), r["id"]))
    out = _json(_row(conn, rid))
    out["account"] = conn.execute("SELECT account FROM accounts WHERE id=?", (r["account_id"],)).fetchone()["account"]
    return out


# ---------------------------------------------------------------- the CRL

def _reason_flag(reason):
    return REASONS.get(reason) or OPERATOR_REASONS.get(reason) or x509.ReasonFlags.unspecified


def build(pki_, conn, number, this_update, next_update):
    """The issuing CA's CRL (X.509 v2): every revoked certificate it issued, with date and reason."""
    issuing = pki_.issuing
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuing.subject)
         .last_update(this_update).next_update(next_update)
         .add_extension(x509.CRLNumber(number), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
             issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False))
    issuer_s = issuing.subject.rfc4514_string()
    rows = conn.execute("SELECT e.serial, e.revoked_at, e.reason FROM crl_entries e JOIN certificates c "
                        "ON c.serial=e.serial WHERE c.issuer=? ORDER BY e.revoked_at, e.serial", (issuer_s,))
    for r in rows:
        flag = _reason_flag(r["reason"])
        entry = (x509.RevokedCertificateBuilder().serial_number(int(r["serial"], 16))
                 .revocation_date(parse_ts(r["revoked_at"])))
        if flag != x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        b = b.add_revoked_certificate(entry.build())
    return b.sign(pki_.issuing_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def publish(pki_, conn, this_update=None, next_update=None, pinned=False):
    """A new CRL with the next CRL number (stored; served from then on)."""
    r = conn.execute("SELECT number FROM crl WHERE id=1").fetchone()
    number = (r["number"] if r else 0) + 1
    this_update = this_update or now_dt()
    next_update = next_update or this_update + CRL_VALIDITY
    der = build(pki_, conn, number, this_update, next_update)
    conn.execute("INSERT OR REPLACE INTO crl(id, number, this_update, next_update, der, pinned) VALUES (1,?,?,?,?,?)",
                 (number, ts(this_update), ts(next_update), der, int(pinned)))
    return {"number": number, "this_update": ts(this_update), "next_update": ts(next_update)}


def current(store, conn):
    """The DER CRL to serve: the stored one, made anew when there is none, when an entry was added since,
    or when half its validity has passed (unless the operator pinned it, section 17.5)."""
    r = conn.execute("SELECT * FROM crl WHERE id=1").fetchone()
    if r is not None:
        half = parse_ts(r["this_update"]) + (parse_ts(r["next_update"]) - parse_ts(r["this_update"])) / 2
        if r["pinned"] or now_dt() < half:
            newest = conn.execute("SELECT MAX(revoked_at) AS m FROM crl_entries").fetchone()["m"]
            if r["pinned"] or newest is None or newest <= r["this_update"]:
                return bytes(r["der"])
    with store.tx(conn):
        publish(store.pki, conn)
    return bytes(conn.execute("SELECT der FROM crl WHERE id=1").fetchone()["der"])


def operator_publish(svc, conn, body):
    """POST /api/v1/operator/crl: publish a new CRL now, optionally with given times; pinned (served as is,
    even stale) until the next revocation. For tests of a client's staleness check."""
    v = Violations()
    for k in body:
        if k not in ("this_update", "next_update"):
            v.add(k, "unknown_field", "unknown field %r" % k)
    times = {}
    for k in ("this_update", "next_update"):
        if body.get(k) is not None:
            try:
                times[k] = parse_ts(body[k])
            except ValueError:
                v.add(k, "format", "%s must be YYYY-MM-DDTHH:MM:SSZ" % k)
    tu = times.get("this_update") or now_dt()
    nu = times.get("next_update") or tu + CRL_VALIDITY
    if not v.items and nu <= tu:
        v.add("next_update", "range", "next_update must be after this_update")
    v.raise_if_any()
    return publish(svc.pki, conn, tu, nu, pinned=bool(times))
