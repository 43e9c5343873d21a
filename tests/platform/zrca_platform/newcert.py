# SPDX-License-Identifier: MIT
"""新购: a new certificate onto a blank USB key (doc/protocol.md section 19): the operator ships the key,
the holder confirms its receipt, then issues onto it through the routes of section 10 with a proof made
by the NEW key (there is no old one)."""
import datetime as _dt
import json

from . import kmc, pki
from .util import Violations, conflict, now_dt, ts

NEW_PROOF_LABEL = b"ZRCA-NEW-PROOF-V1"
SHIP_FIELDS = ("tracking_number", "key_serial")


def new_proof_message(nonce, csr_der, number, index):
    """The bytes the new key signs (section 19.3): like section 10.3 with its own tag."""
    import hashlib
    return (NEW_PROOF_LABEL + b"\x00" + nonce + hashlib.sha256(csr_der).digest()
            + number.encode("ascii") + b"\x00" + str(index).encode("ascii"))


def shipment(conn, number):
    r = conn.execute("SELECT * FROM shipments WHERE order_number=?", (number,)).fetchone()
    if r is None:
        return None
    return {"tracking_number": r["tracking_number"], "key_serial": r["key_serial"], "shipped_at": r["shipped_at"],
            "received_at": r["received_at"]}


def can_ship(o):
    return (o["business"] == "new" and o["order_status"] == "awaiting_issuance"
            and o["shipping_status"] == "none")


def ship(svc, conn, number, body):
    """Operator: the blank USB key is posted (none -> awaiting_receipt, 待签收)."""
    from .service import check_unknown, req_str
    o = svc.order_row(conn, number)
    v = Violations()
    check_unknown(v, body, set(SHIP_FIELDS), "")
    vals = {f: req_str(v, body, f, f, 64, required=False) for f in SHIP_FIELDS}
    v.raise_if_any()
    svc._require(o, "ship", can_ship(o))
    when = ts(now_dt())
    conn.execute("INSERT OR REPLACE INTO shipments(order_number, tracking_number, key_serial, shipped_at, "
                 "received_at) VALUES (?,?,?,?,NULL)", (number, vals["tracking_number"], vals["key_serial"], when))
    svc._bump(conn, number, shipping_status="awaiting_receipt")
    app = json.loads(o["application"])
    mobile = (app.get("contact") or {}).get("mobile")
    text = "%s您的证书新购订单%s的USB-KEY已寄出%s,收到后请登录平台确认签收。" % (
        svc_prefix(), number, ("(运单号%s)" % vals["tracking_number"]) if vals["tracking_number"] else "")
    svc.notify(conn, o["account_id"], mobile, text, number)
    return svc.operator_order(conn, number)


def svc_prefix():
    from .service import SMS_PREFIX
    return SMS_PREFIX


def receive(svc, conn, acct, number, body):
    """Account: the holder confirms the key arrived (awaiting_receipt -> received, 已签收)."""
    from .service import check_unknown
    o = svc.order_row(conn, number, acct["id"])
    v = Violations()
    check_unknown(v, body, set(), "")
    v.raise_if_any()
    svc._require(o, "receive", o["shipping_status"] == "awaiting_receipt")
    conn.execute("UPDATE shipments SET received_at=? WHERE order_number=?", (ts(now_dt()), number))
    svc._bump(conn, number, shipping_status="received")
    return svc.order_json(conn, svc.order_row(conn, number))


def subject(svc, conn, o, it):
    """The subject the platform issues a new item's certificate for: built from the holder."""
    acct = svc._acct_by_id(conn, o["account_id"])
    ent = acct["enterprise"]
    return pki.subject_for(it["kind"], ent["name"], it["holder"], it["holder_id_number"], it["position"],
                           ent.get("unified_social_credit_code"))


def not_after(now, years):
    return now + _dt.timedelta(days=365 * years)


def already_holder(conn, it, account_id, now_s):
    """A current certificate of the same holder exists (made since the application was accepted)."""
    if it["holder_id_number"]:
        r = conn.execute("SELECT serial FROM certificates WHERE account_id=? AND kind=? AND holder_id_number=? "
                         "AND status='valid' AND not_after>? AND (order_number IS NULL OR order_number<>?)",
                         (account_id, it["kind"], it["holder_id_number"], now_s, it["order_number"])).fetchone()
    else:
        r = conn.execute("SELECT serial FROM certificates WHERE account_id=? AND kind=? AND holder=? "
                         "AND status='valid' AND not_after>? AND (order_number IS NULL OR order_number<>?)",
                         (account_id, it["kind"], it["holder"], now_s, it["order_number"])).fetchone()
    return r is not None


def issue(svc, conn, acct, number, idx, body):
    """POST …/issue for an item of a `new` order (section 19.4): no old certificate; the proof is made
    by the key the CSR carries, over the NEW proof bytes."""
    import time
    from .service import check_unknown, req_str
    from .util import b64d, sha256_hex, validation_error
    o = svc.order_row(conn, number, acct["id"])
    it = svc.item_row(conn, number, idx)
    svc._require(o, "issue", "issue" in svc.item_actions(o, it))
    v = Violations()
    check_unknown(v, body, {"challenge_id", "csr", "proof", "key_serial", "encryption_envelope"}, "")
    kmc.check_request(v, body, False, None)  # a new item is never dual (section 21): not_dual
    cid = req_str(v, body, "challenge_id", "challenge_id", 64)
    for f in ("csr", "proof"):
        req_str(v, body, f, f, 1024 * 1024)
    key_serial = req_str(v, body, "key_serial", "key_serial", 64, required=False)
    v.raise_if_any()
    ch = conn.execute("SELECT * FROM challenges WHERE id=? AND order_number=? AND idx=?",
                      (cid, number, it["idx"])).fetchone()
    if ch is None:
        validation_error("challenge_id", "mismatch", "challenge_id is not a challenge of this item")
    if time.time() >= ch["expires_epoch"]:
        raise conflict("challenge_expired", "the challenge expired at %s; ask for a new one" % ch["expires_at"])
    if ch["used_at"]:
        raise conflict("challenge_used", "the challenge was already used; ask for a new one")
    csr, csr_der = svc._load_csr(v, "csr", body["csr"])
    csr = svc.offered(conn, v, csr)
    try:
        proof = b64d(body["proof"])
    except ValueError:
        v.add("proof", "base64", "proof is not base64")
        proof = None
    subj = subject(svc, conn, o, it)
    if csr is not None and len(csr.subject) > 0:
        def attrs(n):
            return [(a.oid.dotted_string, a.value) for a in n]
        if attrs(csr.subject) != attrs(subj):
            v.add("csr", "subject", "the CSR's subject must be empty or the challenge's subject")
    if csr is not None and proof is not None:
        msg = new_proof_message(ch["nonce"], csr_der, number, it["idx"])
        if not pki.verify_signature(csr.public_key(), proof, msg):
            v.add("proof", "signature", "the proof does not verify with the new key (ZRCA-NEW-PROOF-V1)")
    if csr is not None and conn.execute("SELECT 1 FROM released_keys WHERE spki_sha256=?", (sha256_hex(
            pki.spki_der(csr.public_key())),)).fetchone():
        v.add("csr", "released_key", "the operator released the certificate of this key: a new key must be made")
    if csr is not None and conn.execute("SELECT 1 FROM certificates WHERE spki_sha256=? AND (order_number IS NULL "
                                        "OR order_number<>? OR item_index<>?)",
                                        (sha256_hex(pki.spki_der(csr.public_key())), number,
                                         it["idx"])).fetchone():
        v.add("csr", "same_key", "this key is already certified for another certificate: a new key must be made")
    v.raise_if_any()
    now = now_dt()
    new_spki = sha256_hex(pki.spki_der(csr.public_key()))
    if it["status"] != "issued" and already_holder(conn, it, o["account_id"], ts(now)):
        raise conflict("holder_has_certificate", "%s already holds a current certificate; a new one is not "
                       "issued (renew it instead)" % it["holder"])
    conn.execute("UPDATE challenges SET used_at=? WHERE id=?", (ts(now), cid))
    if it["status"] == "issued":
        if svc.latest_issuance(conn, number, it["idx"])["spki_sha256"] != new_spki:
            raise conflict("already_issued", "a certificate for another key was issued for this item (%s)"
                           % it["new_serial"])
        return 200, svc.item_answer(conn, it), None
    sh = shipment(conn, number)
    stored, sent = svc._issue_item(conn, it, subj, csr.public_key(), now, not_after(now, it["years"]),
                                   key_serial or (sh or {}).get("key_serial"), cid)
    conn.execute("UPDATE items SET status='issued' WHERE order_number=? AND idx=?", (number, it["idx"]))
    svc._bump(conn, number)
    return 201, stored, sent
