# SPDX-License-Identifier: MIT
"""Business rules of the platform API v1 (doc/protocol.md): accounts, reads, applications,
orders, the update of an item, seals, and the operator's side. HTTP-free: the server and the
CLI both call these with a sqlite3 connection."""
import datetime as _dt
import hashlib
import hmac
import json
import math
import os
import re
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import idnum, issuer, kmc, newcert, pki, receipt, revocation
from .util import (ApiError, Violations, b64d, b64e, conflict, dumps, has_control, is_int, not_found,
                   now_dt, parse_ts, sha256_hex, ts, UTC, validation_error)

ROLES = ("tenderer", "tendering_agent", "bidder")
KINDS = ("org", "legal_rep", "personal")
BUSINESSES = ("renewal", "new")
PAY_METHODS = ("alipay", "wechat_pay", "bank_transfer")
KIND_CN = {"org": "机构", "legal_rep": "法定代表人", "personal": "其他个人"}
BUSINESS_CN = {"renewal": "续期", "new": "新购"}
FEES = {("renewal", k, 1): 0 for k in KINDS}
FEES.update({("new", k, 1): 40000 for k in KINDS})
FEE_INCLUDES = ["年认证服务费用", "年电子签章费用", "USB-KEY费用"]
ISSUER_NAME = "ZRCA参考数字认证中心"
PLATFORM_NAME = "中燃电子招标采购交易平台"
SMS_PREFIX = "【中燃电子招标采购交易平台】"
MAX_ATTACHMENT = 3 * 1024 * 1024
MAX_PERSONS = 50
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
OPEN_ORDER = ("awaiting_verification", "awaiting_issuance")


# ---------------------------------------------------------------- passwords

# "test": PBKDF2 with 1000 iterations, for the test suites' throwaway accounts (reference platform
# only, never the demo account): the real hashes cost about 100 ms a login, which an update's
# benchmark would otherwise measure as the client's wait.
PBKDF2_ITERATIONS = {"pbkdf2": 120000, "test": 1000}


def hash_password(password, method="scrypt"):
    salt = os.urandom(16)
    pw = password.encode("utf-8")
    if method in PBKDF2_ITERATIONS:
        it = PBKDF2_ITERATIONS[method]
        h = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
        return "pbkdf2_sha256$%d$%s$%s" % (it, salt.hex(), h.hex())
    h = hashlib.scrypt(pw, salt=salt, n=16384, r=8, p=1, dklen=32)
    return "scrypt$16384$8$1$%s$%s" % (salt.hex(), h.hex())


def verify_password(password, stored):
    pw = password.encode("utf-8")
    parts = stored.split("$")
    if parts[0] == "scrypt" and len(parts) == 6:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        h = hashlib.scrypt(pw, salt=bytes.fromhex(parts[4]), n=n, r=r, p=p, dklen=32, maxmem=256 * 1024 * 1024)
        return hmac.compare_digest(h.hex(), parts[5])
    if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
        h = hashlib.pbkdf2_hmac("sha256", pw, bytes.fromhex(parts[2]), int(parts[1]))
        return hmac.compare_digest(h.hex(), parts[3])
    return False


# ---------------------------------------------------------------- attachment typing

def file_type(data):
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"GIF87a") or data.startswith(b"GIF89a"):
        return "gif"
    if data.startswith(b"%PDF-"):
        return "pdf"
    return None


# ---------------------------------------------------------------- generic field checks

def check_unknown(v, obj, allowed, prefix):
    for k in obj:
        if k not in allowed:
            v.add(prefix + k, "unknown_field", "unknown field %r" % k)


def req_str(v, obj, key, field, max_len, required=True):
    """Validate a string field; return it or None."""
    x = obj.get(key)
    if x is None or x == "":
        if required:
            v.add(field, "required", "%s is required" % field)
        return None
    if not isinstance(x, str):
        v.add(field, "type", "%s must be a string" % field)
        return None
    if len(x) > max_len:
        v.add(field, "max_length", "%s is longer than %d characters" % (field, max_len))
        return None
    return x


def req_int(v, obj, key, field, lo, hi):
    x = obj.get(key)
    if x is None:
        v.add(field, "required", "%s is required" % field)
        return None
    if not is_int(x):
        v.add(field, "type", "%s must be an integer" % field)
        return None
    if not lo <= x <= hi:
        v.add(field, "range", "%s must be between %d and %d" % (field, lo, hi))
        return None
    return x


def check_id_number(v, field, value, id_type="id_card"):
    """Validate and return the normalised ID number, or None."""
    if value is None or value == "":
        v.add(field, "required", "%s is required" % field)
        return None
    if not isinstance(value, str):
        v.add(field, "type", "%s must be a string" % field)
        return None
    if id_type == "passport":
        if not idnum.PASSPORT.match(value):
            v.add(field, "format", "%s: passport number must be 5-17 characters A-Z 0-9" % field)
            return None
        return value
    value = idnum.normalise(value)
    rule = idnum.id_card_rule(value)
    if rule:
        v.add(field, rule, "%s: %s" % (field, idnum.RULE_TEXT[rule]))
        return None
    return value


def paging(query):
    v = Violations()
    out = {}
    for name, default, hi in (("page", 1, 10 ** 9), ("per_page", 20, 100)):
        raw = query.get(name)
        if raw is None or raw == "":
            out[name] = default
            continue
        if not re.match(r"^[0-9]{1,10}$", raw):
            v.add(name, "type", "%s must be a decimal integer" % name)
            continue
        n = int(raw)
        if not 1 <= n <= hi:
            v.add(name, "range", "%s must be between 1 and %d" % (name, hi))
            continue
        out[name] = n
    return v, out


def page_result(items, page, per_page, total):
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "pages": math.ceil(total / per_page) if total else 0}


# ---------------------------------------------------------------- the service

class Service:
    def __init__(self, store):
        self.store = store
        self.pki = store.pki

    # -------------------------------------------------- accounts and sessions

    def account_row(self, conn, name):
        return conn.execute("SELECT * FROM accounts WHERE account=?", (name,)).fetchone()

    def create_account(self, conn, body):
        v = Violations()
        check_unknown(v, body, {"account", "password", "role", "enterprise", "password_hash"}, "")
        name = req_str(v, body, "account", "account", 64)
        if name is not None and not re.match(r"^[A-Za-z0-9_.@-]+$", name):
            v.add("account", "format", "account: letters, digits and _ . @ - only")
        pw = req_str(v, body, "password", "password", 128)
        role = body.get("role", "tenderer")
        if role not in ROLES:
            v.add("role", "enum", "role must be one of %s" % ", ".join(ROLES))
        method = body.get("password_hash", "scrypt")
        if method not in ("scrypt", "pbkdf2", "test"):
            v.add("password_hash", "enum", "password_hash must be scrypt, pbkdf2 or test")
        ent = body.get("enterprise")
        if not isinstance(ent, dict):
            v.add("enterprise", "required" if ent is None else "type", "enterprise object is required")
            ent = None
        else:
            check_unknown(v, ent, {"name", "unified_social_credit_code", "legal_representative", "address",
                                   "phone", "email"}, "enterprise.")
            req_str(v, ent, "name", "enterprise.name", 100)
            for k in ("unified_social_credit_code", "address", "phone", "email"):
                req_str(v, ent, k, "enterprise." + k, 200, required=False)
            lr = ent.get("legal_representative")
            if not isinstance(lr, dict):
                v.add("enterprise.legal_representative", "required", "legal_representative object is required")
            else:
                check_unknown(v, lr, {"name", "id_type", "id_number"}, "enterprise.legal_representative.")
                req_str(v, lr, "name", "enterprise.legal_representative.name", 32)
                t = lr.get("id_type", "id_card")
                if t not in ("id_card", "passport"):
                    v.add("enterprise.legal_representative.id_type", "enum", "id_type: id_card or passport")
                else:
                    n = check_id_number(v, "enterprise.legal_representative.id_number", lr.get("id_number"), t)
                    if n:
                        lr["id_number"] = n
                        lr["id_type"] = t
        v.raise_if_any()
        if self.account_row(conn, name):
            raise ApiError(409, "already_exists", "account %r exists" % name, "account", "duplicate")
        ent_out = {"name": ent["name"],
                   "unified_social_credit_code": ent.get("unified_social_credit_code"),
                   "legal_representative": ent["legal_representative"],
                   "address": ent.get("address"), "phone": ent.get("phone"), "email": ent.get("email")}
        conn.execute("INSERT INTO accounts(account, password_hash, role, enterprise, created_at) VALUES (?,?,?,?,?)",
                     (name, hash_password(pw, method), role, json.dumps(ent_out, ensure_ascii=False), ts(now_dt())))
        return {"account": name, "role": role}

    def list_accounts(self, conn):
        return {"items": [{"account": r["account"], "role": r["role"], "created_at": r["created_at"]}
                          for r in conn.execute("SELECT * FROM accounts ORDER BY id")]}

    def check_login(self, conn, body):
        """Outside any transaction (scrypt is slow). Returns the account row."""
        v = Violations()
        check_unknown(v, body, {"account", "password"}, "")
        name = req_str(v, body, "account", "account", 64)
        pw = req_str(v, body, "password", "password", 128)
        v.raise_if_any()
        row = self.account_row(conn, name)
        if row is None or not verify_password(pw, row["password_hash"]):
            if row is None:
                verify_password(pw, hash_password("x", "pbkdf2"))  # similar time either way
            raise ApiError(401, "invalid_credentials", "wrong account or password")
        return row

    def create_session(self, conn, account_row):
        import time
        ttl = self.store.settings(conn)["token_ttl"]
        token = secrets.token_urlsafe(32)
        exp = time.time() + ttl
        conn.execute("INSERT INTO sessions(token_hash, account_id, created_at, expires_epoch) VALUES (?,?,?,?)",
                     (sha256_hex(token.encode()), account_row["id"], ts(now_dt()), exp))
        return {"token": token, "expires_at": ts(_dt.datetime.fromtimestamp(int(exp), UTC)), "expires_in": ttl,
                "account": account_row["account"], "role": account_row["role"]}

    def authenticate(self, conn, token):
        import time
        row = conn.execute("SELECT s.*, a.account, a.role, a.enterprise FROM sessions s JOIN accounts a "
                           "ON a.id = s.account_id WHERE token_hash=?", (sha256_hex(token.encode()),)).fetchone()
        if row is None or row["revoked"]:
            raise ApiError(401, "unauthorized", "unknown or logged-out token",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if time.time() >= row["expires_epoch"]:
            raise ApiError(401, "token_expired", "the token has expired; log in again",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return {"id": row["account_id"], "account": row["account"], "role": row["role"],
                "enterprise": json.loads(row["enterprise"]), "token_hash": row["token_hash"]}

    def logout(self, conn, acct):
        conn.execute("UPDATE sessions SET revoked=1 WHERE token_hash=?", (acct["token_hash"],))

    def account_json(self, conn, acct):
        r = conn.execute("SELECT created_at FROM accounts WHERE id=?", (acct["id"],)).fetchone()
        return {"account": acct["account"], "role": acct["role"], "created_at": r["created_at"]}

    # -------------------------------------------------- reads

    def enterprise_json(self, acct):
        e = dict(acct["enterprise"])
        e["role"] = acct["role"]
        return e

    def cert_json(self, conn, r, now=None):
        now = now or now_dt()
        nts = ts(now)
        status = r["status"]
        if status == "valid" and r["not_after"] <= nts:
            status = "expired"
        left = (parse_ts(r["not_after"]) - now).days
        bound = conn.execute(
            "SELECT 1 FROM items i JOIN orders o ON o.number = i.order_number WHERE i.old_serial=? "
            "AND i.status IN ('pending','issued') AND o.order_status IN ('awaiting_verification','awaiting_issuance')",
            (r["serial"],)).fetchone()
        out = {"id": r["id"], "kind": r["kind"], "holder": r["holder"], "holder_id_number": r["holder_id_number"],
              "serial": r["serial"], "subject": r["subject"], "issuer": r["issuer"],
              "not_before": r["not_before"], "not_after": r["not_after"], "status": status,
              "key_serial": r["key_serial"], "days_left": max(0, left),
              "renewal_window": {"opens_at": r["not_before"], "closes_at": r["not_after"]},
              "renewable": status == "valid" and r["not_before"] <= nts and bound is None,
              "certificate": b64e(r["der"]), "created_at": r["created_at"],
              **self._revoked_json(conn, r, status)}
        enc = kmc.entry_json(conn, r["serial"], now)  # section 21: a dual certificate's encryption twin
        if enc is not None:
            out["encryption"] = enc
        return out

    @staticmethod
    def _revoked_json(conn, r, status):
        """Section 17: a revoked certificate's revoked_at and reason (null otherwise)."""
        at, why = revocation.revocation_info(conn, r["serial"]) if status == "revoked" else (None, None)
        return {"revoked_at": at, "revocation_reason": why}

    def list_certificates(self, conn, acct, query):
        v, pg = paging(query)
        check_unknown(v, query, {"page", "per_page", "kind", "status"}, "")
        kind = query.get("kind") or None
        status = query.get("status") or None
        if kind and kind not in KINDS:
            v.add("kind", "enum", "kind must be one of org, legal_rep, personal")
        if status and status not in ("valid", "expired", "pending_confirmation", "superseded", "revoked"):
            v.add("status", "enum", "unknown certificate status")
        v.raise_if_any()
        now = now_dt()
        rows = conn.execute("SELECT * FROM certificates WHERE account_id=? ORDER BY not_after, serial",
                            (acct["id"],)).fetchall()
        items = [self.cert_json(conn, r, now) for r in rows if not kind or r["kind"] == kind]
        if status:
            items = [c for c in items if c["status"] == status]
        p, n = pg["page"], pg["per_page"]
        return page_result(items[(p - 1) * n:p * n], p, n, len(items))

    def list_persons(self, conn, acct, query):
        v, pg = paging(query)
        check_unknown(v, query, {"page", "per_page"}, "")
        v.raise_if_any()
        p, n = pg["page"], pg["per_page"]
        total = conn.execute("SELECT COUNT(*) FROM persons WHERE account_id=?", (acct["id"],)).fetchone()[0]
        rows = conn.execute("SELECT * FROM persons WHERE account_id=? ORDER BY last_applied_at DESC, id "
                            "LIMIT ? OFFSET ?", (acct["id"], n, (p - 1) * n))
        items = [{"id": r["id"], "name": r["name"], "id_type": r["id_type"], "id_number": r["id_number"],
                  "position": r["position"], "first_applied_at": r["first_applied_at"],
                  "last_applied_at": r["last_applied_at"]} for r in rows]
        return page_result(items, p, n, total)

    def fees_json(self):
        return {"currency": "CNY", "includes": FEE_INCLUDES,
                "items": [{"business": b, "kind": k, "years": y, "price_fen": p}
                          for (b, k, y), p in sorted(FEES.items(), key=lambda kv: (
                              BUSINESSES.index(kv[0][0]), KINDS.index(kv[0][1]), kv[0][2]))]}

    def list_notifications(self, conn, acct, query):
        v, pg = paging(query)
        check_unknown(v, query, {"page", "per_page"}, "")
        v.raise_if_any()
        p, n = pg["page"], pg["per_page"]
        total = conn.execute("SELECT COUNT(*) FROM notifications WHERE account_id=?", (acct["id"],)).fetchone()[0]
        rows = conn.execute("SELECT * FROM notifications WHERE account_id=? ORDER BY id DESC LIMIT ? OFFSET ?",
                            (acct["id"], n, (p - 1) * n))
        items = [{"id": r["id"], "channel": r["channel"], "mobile": r["mobile"], "text": r["text"],
                  "order_number": r["order_number"], "sent_at": r["sent_at"]} for r in rows]
        return page_result(items, p, n, total)

    def touch_person(self, conn, account_id, name, id_type, id_number, position, when):
        conn.execute("INSERT INTO persons(account_id, name, id_type, id_number, position, first_applied_at, "
                     "last_applied_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(account_id, id_number) DO UPDATE SET "
                     "name=excluded.name, position=excluded.position, last_applied_at=excluded.last_applied_at",
                     (account_id, name, id_type, id_number, position, when, when))

    # -------------------------------------------------- applications

    def current_certs(self, conn, account_id, kind, holder_id, now_s, exclude_order=None):
        """(all current certificates of this holder and kind, the ones not bound to an open item)."""
        rows = conn.execute(
            "SELECT * FROM certificates WHERE account_id=? AND kind=? AND status='valid' AND not_before<=? "
            "AND not_after>? AND holder_id_number IS ? ORDER BY not_after, serial",
            (account_id, kind, now_s, now_s, holder_id)).fetchall()
        free = []
        for r in rows:
            b = conn.execute(
                "SELECT 1 FROM items i JOIN orders o ON o.number=i.order_number WHERE i.old_serial=? "
                "AND i.status IN ('pending','issued') AND o.order_status IN ('awaiting_verification',"
                "'awaiting_issuance') AND o.number IS NOT ?", (r["serial"], exclude_order)).fetchone()
            if b is None:
                free.append(r)
        return rows, free

    def validate_application(self, conn, acct, app, parts, exclude_order=None):
        """Every rule of doc/protocol.md section 8. Returns (normalised app, items, amount, attachments)."""
        v = Violations()
        now = now_dt()
        now_s = ts(now)
        check_unknown(v, app, {"business", "org", "legal_rep", "persons", "contact", "remark"}, "")
        business = app.get("business")
        if business is None or business == "":
            v.add("business", "required", "business is required")
            business = None
        elif business not in BUSINESSES:
            v.add("business", "enum", "business must be renewal or new")
            business = None
        out = {"business": business}
        ent = acct["enterprise"]
        lrep = ent.get("legal_representative") or {}

        def years_count(obj, prefix, kind):
            y = obj.get("years")
            if y is None:
                v.add(prefix + ".years", "required", "%s.years is required" % prefix)
                y = None
            elif not is_int(y):
                v.add(prefix + ".years", "type", "%s.years must be an integer" % prefix)
                y = None
            elif business and (business, kind, y) not in FEES:
                v.add(prefix + ".years", "not_offered", "%s.years: %d year(s) is not offered" % (prefix, y))
                y = None
            c = req_int(v, obj, "count", prefix + ".count", 1, 10)
            return y, c

        org = app.get("org")
        if org is not None and not isinstance(org, dict):
            v.add("org", "type", "org must be an object or null")
            org = None
        if org is not None:
            check_unknown(v, org, {"years", "count"}, "org.")
            y, c = years_count(org, "org", "org")
            out["org"] = {"years": y, "count": c}
        lr = app.get("legal_rep")
        if lr is not None and not isinstance(lr, dict):
            v.add("legal_rep", "type", "legal_rep must be an object or null")
            lr = None
        if lr is not None:
            check_unknown(v, lr, {"id_type", "id_number", "years", "count"}, "legal_rep.")
            t = lr.get("id_type")
            num = None
            if t is None or t == "":
                v.add("legal_rep.id_type", "required", "legal_rep.id_type is required")
            elif t not in ("id_card", "passport"):
                v.add("legal_rep.id_type", "enum", "legal_rep.id_type must be id_card or passport")
            else:
                num = check_id_number(v, "legal_rep.id_number", lr.get("id_number"), t)
                if num and num != lrep.get("id_number"):
                    v.add("legal_rep.id_number", "mismatch",
                          "legal_rep.id_number is not the enterprise's legal representative's")
                    num = None
            y, c = years_count(lr, "legal_rep", "legal_rep")
            out["legal_rep"] = {"id_type": t, "id_number": num if num else lr.get("id_number"), "years": y, "count": c}
            lr_num = num
        persons = app.get("persons")
        if persons is None:
            persons = []
        if not isinstance(persons, list):
            v.add("persons", "type", "persons must be an array")
            persons = []
        if len(persons) > MAX_PERSONS:
            v.add("persons", "max_items", "at most %d persons" % MAX_PERSONS)
        if persons and acct["role"] == "bidder":
            v.add("persons", "not_allowed_for_bidder", "a bidder does not need personal certificates")
        seen = {}
        out_persons = []
        person_ok = []
        for i, p in enumerate(persons):
            f = "persons[%d]" % i
            if not isinstance(p, dict):
                v.add(f, "type", "%s must be an object" % f)
                out_persons.append(p)
                person_ok.append(None)
                continue
            check_unknown(v, p, {"name", "id_number", "position", "years", "count"}, f + ".")
            name = req_str(v, p, "name", f + ".name", 32)
            if name is not None and has_control(name):
                v.add(f + ".name", "format", "%s.name has control characters" % f)
                name = None
            num = check_id_number(v, f + ".id_number", p.get("id_number"))
            if num is not None:
                if num in seen:
                    v.add(f + ".id_number", "duplicate", "%s.id_number repeats persons[%d]" % (f, seen[num]))
                    num = None
                else:
                    seen[num] = i
            pos = req_str(v, p, "position", f + ".position", 32)
            if pos is not None and has_control(pos):
                v.add(f + ".position", "format", "%s.position has control characters" % f)
            y, c = years_count(p, f, "personal")
            out_persons.append({"name": p.get("name"), "id_number": num or p.get("id_number"),
                                "position": p.get("position"), "years": y, "count": c})
            person_ok.append((name, num, pos, y, c) if None not in (name, num, pos, y, c) else None)
        out["persons"] = out_persons
        if org is None and lr is None and not persons:
            v.add("application", "kind_required", "tick at least one kind: org, legal_rep or persons")
        contact = app.get("contact")
        if contact is None:
            v.add("contact", "required", "contact is required")
            contact = {}
        elif not isinstance(contact, dict):
            v.add("contact", "type", "contact must be an object")
            contact = {}
        else:
            check_unknown(v, contact, {"name", "mobile", "email"}, "contact.")
            cn = req_str(v, contact, "name", "contact.name", 32)
            if cn is not None and has_control(cn):
                v.add("contact.name", "format", "contact.name has control characters")
            m = req_str(v, contact, "mobile", "contact.mobile", 32)
            if m is not None and not MOBILE_RE.match(m):
                v.add("contact.mobile", "format", "contact.mobile must be 11 digits starting 13-19")
            e = req_str(v, contact, "email", "contact.email", 254)
            if e is not None and not EMAIL_RE.match(e):
                v.add("contact.email", "format", "contact.email is not an e-mail address")
        out["contact"] = {"name": contact.get("name"), "mobile": contact.get("mobile"),
                          "email": contact.get("email")}
        remark = app.get("remark")
        if remark is not None:
            req_str(v, app, "remark", "remark", 200, required=False)
        out["remark"] = remark

        # renewal: the certificates renewed
        bindings = {}
        if business == "renewal":
            def bind(field, kind, holder_id, count):
                rows, free = self.current_certs(conn, acct["id"], kind, holder_id, now_s, exclude_order)
                if not rows:
                    v.add(field, "no_certificate", "%s: no current %s certificate to renew" % (field, kind))
                elif count > len(rows):
                    v.add(field, "exceeds_certificates", "%s: count %d, but only %d current certificate(s)"
                          % (field, count, len(rows)))
                elif count > len(free):
                    v.add(field, "renewal_in_progress", "%s: the certificate is already in an open renewal order"
                          % field)
                else:
                    bindings[field] = [r["serial"] for r in free[:count]]
            if org is not None and out["org"]["count"]:
                bind("org", "org", None, out["org"]["count"])
            if lr is not None and lr_num and out["legal_rep"]["count"]:
                bind("legal_rep", "legal_rep", lr_num, out["legal_rep"]["count"])
            for i, ok in enumerate(person_ok):
                if ok and ok[4]:
                    bind("persons[%d]" % i, "personal", ok[1], ok[4])

        # attachments
        names = {"attachments.commitment_letter"}
        names.update("persons[%d].id_scan" % i for i in range(len(persons)))
        if lr is not None:
            names.add("legal_rep.id_scan")
        got = {}
        atts = []
        for name, data in parts:
            if name not in names:
                v.add(name, "unknown_part", "unexpected part %r" % name)
                continue
            if name in got:
                v.add(name, "duplicate", "part %r sent twice" % name)
                continue
            got[name] = data
            if len(data) == 0:
                v.add(name, "empty", "%s is empty" % name)
            elif len(data) > MAX_ATTACHMENT:
                v.add(name, "max_size", "%s is larger than 3 MiB (%d bytes)" % (name, MAX_ATTACHMENT))
            elif file_type(data) is None:
                v.add(name, "file_type", "%s must be jpg, jpeg, bmp, gif or pdf (judged by content)" % name)
            else:
                atts.append({"field": name, "type": file_type(data), "size": len(data),
                             "sha256": sha256_hex(data), "data": data})
        if "attachments.commitment_letter" not in got:
            v.add("attachments.commitment_letter", "required", "the commitment letter scan is required")
        for i in range(len(persons)):
            if "persons[%d].id_scan" % i not in got:
                v.add("persons[%d].id_scan" % i, "required", "persons[%d].id_scan (ID card scan) is required" % i)
        v.raise_if_any()

        items = []

        def add_items(kind, holder, hid, pos, years, count, field):
            serials = bindings.get(field, [None] * count)
            for k in range(count):
                items.append({"kind": kind, "holder": holder, "holder_id_number": hid, "position": pos,
                              "years": years, "price_fen": FEES[(business, kind, years)], "old_serial": serials[k]})
        if org is not None:
            add_items("org", ent["name"], None, None, out["org"]["years"], out["org"]["count"], "org")
        if lr is not None:
            add_items("legal_rep", lrep.get("name"), lr_num, None, out["legal_rep"]["years"],
                      out["legal_rep"]["count"], "legal_rep")
        for i, ok in enumerate(person_ok):
            name, num, pos, y, c = ok
            add_items("personal", name, num, pos, y, c, "persons[%d]" % i)
        amount = sum(it["price_fen"] for it in items)
        return out, items, amount, atts

    def _store_application(self, conn, acct, number, app, items, atts, when):
        conn.execute("DELETE FROM items WHERE order_number=?", (number,))
        conn.execute("DELETE FROM attachments WHERE order_number=?", (number,))
        for i, it in enumerate(items, 1):
            conn.execute("INSERT INTO items(order_number, idx, kind, holder, holder_id_number, position, years, "
                         "price_fen, status, old_serial) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (number, i, it["kind"], it["holder"], it["holder_id_number"], it["position"], it["years"],
                          it["price_fen"], "pending", it["old_serial"]))
        for a in atts:
            conn.execute("INSERT INTO attachments(order_number, field, type, size, sha256, data) VALUES (?,?,?,?,?,?)",
                         (number, a["field"], a["type"], a["size"], a["sha256"], a["data"]))
        for p in app["persons"]:
            self.touch_person(conn, acct["id"], p["name"], "id_card", p["id_number"], p["position"], when)

    def new_order_number(self, conn, when):
        while True:
            n = "Ca" + when.strftime("%Y%m%d%H%M%S") + "%011d" % secrets.randbelow(10 ** 11)
            if conn.execute("SELECT 1 FROM orders WHERE number=?", (n,)).fetchone() is None:
                return n

    def create_application(self, conn, acct, app, parts):
        app, items, amount, atts = self.validate_application(conn, acct, app, parts)
        when = now_dt()
        number = self.new_order_number(conn, when)
        w = ts(when)
        conn.execute("INSERT INTO orders(number, account_id, business, created_at, updated_at, application, "
                     "amount_fen, review_status, order_status, payment_status, shipping_status) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (number, acct["id"], app["business"], w, w, json.dumps(app, ensure_ascii=False), amount,
                      "not_reviewed", "awaiting_verification", "unpaid" if amount > 0 else "not_required", "none"))
        self._store_application(conn, acct, number, app, items, atts, w)
        return self.order_json(conn, self.order_row(conn, number))

    # -------------------------------------------------- orders

    def order_row(self, conn, number, account_id=None):
        if account_id is None:
            r = conn.execute("SELECT * FROM orders WHERE number=?", (number,)).fetchone()
        else:
            r = conn.execute("SELECT * FROM orders WHERE number=? AND account_id=?", (number, account_id)).fetchone()
        if r is None:
            raise not_found("order")
        return r

    @staticmethod
    def order_actions(o, rated):
        a = ["view"]
        av = o["order_status"] == "awaiting_verification"
        if av and o["review_status"] in ("not_reviewed", "rejected"):
            a += ["edit", "resubmit"]
        if av and o["payment_status"] == "unpaid":
            a.append("pay")
        if av and o["payment_status"] != "paid":
            a.append("cancel")
        if o["order_status"] == "completed" and not rated:
            a.append("rate")
        if o["shipping_status"] == "awaiting_receipt":
            a.append("receive")
        return a

    @staticmethod
    def item_actions(o, it):
        a = ["view"]
        if (o["business"] == "renewal" and o["order_status"] == "awaiting_issuance"
                and it["status"] in ("pending", "issued")):
            a.append("update")
        if (o["business"] == "new" and o["order_status"] == "awaiting_issuance"
                and o["shipping_status"] == "received" and it["status"] in ("pending", "issued")):
            a.append("issue")
        return a

    def item_json(self, o, it):
        return {"index": it["idx"], "kind": it["kind"], "holder": it["holder"],
                "holder_id_number": it["holder_id_number"], "position": it["position"], "years": it["years"],
                "quantity": 1, "price_fen": it["price_fen"], "certificate_name": it["holder"],
                "certificate_type": "证书%s (%s*1,CA证书)" % (BUSINESS_CN[o["business"]], KIND_CN[it["kind"]]),
                "status": it["status"], "old_certificate_serial": it["old_serial"],
                "certificate_serial": it["new_serial"], "actions": self.item_actions(o, it)}

    def order_json(self, conn, o):
        items = conn.execute("SELECT * FROM items WHERE order_number=? ORDER BY idx", (o["number"],)).fetchall()
        atts = conn.execute("SELECT field, type, size, sha256 FROM attachments WHERE order_number=? ORDER BY field",
                            (o["number"],)).fetchall()
        parts = []
        for kind in KINDS:
            names = []
            for it in items:
                if it["kind"] == kind and it["holder"] not in names:
                    names.append(it["holder"])
            if names:
                parts.append("%s[%s]" % (KIND_CN[kind], ",".join(names)))
        rating = json.loads(o["rating"]) if o["rating"] else None
        app = json.loads(o["application"])
        return {"number": o["number"], "business": o["business"], "created_at": o["created_at"],
                "updated_at": o["updated_at"],
                "summary": "数量:%d;%s(%s)" % (len(items), BUSINESS_CN[o["business"]], ";".join(parts)),
                "quantity": len(items), "amount_fen": o["amount_fen"], "issuer": ISSUER_NAME,
                "review_status": o["review_status"], "review_comment": o["review_comment"],
                "reviewed_at": o["reviewed_at"], "order_status": o["order_status"],
                "payment_status": o["payment_status"], "payment_method": o["payment_method"],
                "paid_at": o["paid_at"], "shipping_status": o["shipping_status"],
                "shipment": newcert.shipment(conn, o["number"]),
                "contact": app.get("contact"), "remark": app.get("remark"), "application": app,
                "attachments": [dict(a) for a in atts], "rating": rating,
                "items": [self.item_json(o, it) for it in items],
                "actions": self.order_actions(o, rating is not None)}

    def waiting_on_review(self, o):
        return (o["order_status"] == "awaiting_verification" and o["review_status"] == "not_reviewed"
                and o["payment_status"] != "unpaid")

    def list_orders(self, conn, acct, query):
        v, pg = paging(query)
        check_unknown(v, query, {"page", "per_page", "business", "kind", "from", "to", "number"}, "")
        where = ["account_id=?"]
        args = [acct["id"]]
        b = query.get("business") or None
        if b:
            if b not in BUSINESSES:
                v.add("business", "enum", "business must be renewal or new")
            where.append("business=?")
            args.append(b)
        k = query.get("kind") or None
        if k:
            if k not in KINDS:
                v.add("kind", "enum", "kind must be org, legal_rep or personal")
            where.append("EXISTS (SELECT 1 FROM items i WHERE i.order_number=orders.number AND i.kind=?)")
            args.append(k)
        dates = {}
        for name in ("from", "to"):
            d = query.get(name) or None
            if d:
                try:
                    if not re.match(r"^\d{4}-\d{2}-\d{2}$", d):
                        raise ValueError
                    dates[name] = _dt.date.fromisoformat(d)
                except ValueError:
                    v.add(name, "format", "%s must be YYYY-MM-DD" % name)
        if "from" in dates and "to" in dates and dates["from"] > dates["to"]:
            v.add("to", "range", "to is before from")
        if "from" in dates:
            where.append("substr(created_at, 1, 10) >= ?")
            args.append(dates["from"].isoformat())
        if "to" in dates:
            where.append("substr(created_at, 1, 10) <= ?")
            args.append(dates["to"].isoformat())
        num = query.get("number") or None
        if num:
            if len(num) > 27:
                v.add("number", "max_length", "number is at most 27 characters")
            where.append("instr(number, ?) > 0")
            args.append(num)
        v.raise_if_any()
        w = " AND ".join(where)
        total = conn.execute("SELECT COUNT(*) FROM orders WHERE " + w, args).fetchone()[0]
        p, n = pg["page"], pg["per_page"]
        rows = conn.execute("SELECT * FROM orders WHERE " + w + " ORDER BY created_at DESC, number DESC "
                            "LIMIT ? OFFSET ?", args + [n, (p - 1) * n]).fetchall()
        return page_result([self.order_json(conn, r) for r in rows], p, n, total)

    def _bump(self, conn, number, **fields):
        fields["updated_at"] = ts(now_dt())
        sets = ", ".join("%s=?" % k for k in fields)
        conn.execute("UPDATE orders SET %s, version=version+1 WHERE number=?" % sets, list(fields.values()) + [number])

    def _require(self, o, action, allowed):
        if not allowed:
            raise conflict("invalid_transition", "%s is not allowed: order %s, review %s, payment %s" % (
                action, o["order_status"], o["review_status"], o["payment_status"]), rule=action)

    def edit_order(self, conn, acct, number, app, parts):
        o = self.order_row(conn, number, acct["id"])
        self._require(o, "edit", "edit" in self.order_actions(o, o["rating"] is not None))
        if isinstance(app, dict) and app.get("business") not in (None, "", o["business"]) \
                and app.get("business") in BUSINESSES:
            validation_error("business", "mismatch", "business cannot change in an edit")
        app, items, amount, atts = self.validate_application(conn, acct, app, parts, exclude_order=number)
        if o["payment_status"] == "paid":
            if amount != o["amount_fen"]:
                raise conflict("amount_changed_after_payment",
                               "the order is paid; an edit may not change its amount (%d fen)" % o["amount_fen"])
            pay = "paid"
        else:
            pay = "unpaid" if amount > 0 else "not_required"
        w = ts(now_dt())
        self._store_application(conn, acct, number, app, items, atts, w)
        self._bump(conn, number, application=json.dumps(app, ensure_ascii=False), amount_fen=amount,
                   payment_status=pay)
        return self.order_json(conn, self.order_row(conn, number))

    def order_action(self, conn, acct, number, action, body):
        o = self.order_row(conn, number, acct["id"])
        v = Violations()
        rated = o["rating"] is not None
        if action == "cancel":
            check_unknown(v, body, {"reason"}, "")
            req_str(v, body, "reason", "reason", 200, required=False)
            v.raise_if_any()
            self._require(o, "cancel", "cancel" in self.order_actions(o, rated))
            self._bump(conn, number, order_status="closed", cancel_reason=body.get("reason"))
            conn.execute("UPDATE items SET status='cancelled' WHERE order_number=?", (number,))
        elif action == "pay":
            check_unknown(v, body, {"method", "amount_fen"}, "")
            m = body.get("method")
            if m is None or m == "":
                v.add("method", "required", "method is required")
            elif m not in PAY_METHODS:
                v.add("method", "enum", "method must be one of %s" % ", ".join(PAY_METHODS))
            a = body.get("amount_fen")
            if a is None:
                v.add("amount_fen", "required", "amount_fen is required")
            elif not is_int(a):
                v.add("amount_fen", "type", "amount_fen must be an integer")
            elif a != o["amount_fen"]:
                v.add("amount_fen", "mismatch", "amount_fen is not the order's amount (%d)" % o["amount_fen"])
            v.raise_if_any()
            self._require(o, "pay", "pay" in self.order_actions(o, rated))
            self._bump(conn, number, payment_status="paid", payment_method=m, paid_at=ts(now_dt()))
        elif action == "resubmit":
            check_unknown(v, body, set(), "")
            v.raise_if_any()
            self._require(o, "resubmit", "resubmit" in self.order_actions(o, rated))
            self._bump(conn, number, review_status="not_reviewed", review_comment=None, reviewed_at=None)
        elif action == "rate":
            check_unknown(v, body, {"score", "comment"}, "")
            s = req_int(v, body, "score", "score", 1, 5)
            c = req_str(v, body, "comment", "comment", 500, required=False)
            v.raise_if_any()
            if rated and o["order_status"] == "completed":
                raise conflict("already_rated", "the order was rated", rule="rate")
            self._require(o, "rate", "rate" in self.order_actions(o, rated))
            self._bump(conn, number, rating=json.dumps({"score": s, "comment": c, "rated_at": ts(now_dt())},
                                                       ensure_ascii=False))
        return self.order_json(conn, self.order_row(conn, number))

    # -------------------------------------------------- the update of an item

    def item_row(self, conn, number, idx):
        if not re.match(r"^[1-9][0-9]{0,5}$", idx or ""):
            raise not_found("item")
        r = conn.execute("SELECT * FROM items WHERE order_number=? AND idx=?", (number, int(idx))).fetchone()
        if r is None:
            raise not_found("item")
        return r

    def get_item(self, conn, acct, number, idx):
        o = self.order_row(conn, number, acct["id"])
        return self.item_json(o, self.item_row(conn, number, idx))

    def cert_row(self, conn, serial):
        return conn.execute("SELECT * FROM certificates WHERE serial=?", (serial,)).fetchone()

    def challenge(self, conn, acct, number, idx, body):
        import time
        o = self.order_row(conn, number, acct["id"])
        it = self.item_row(conn, number, idx)
        v = Violations()
        check_unknown(v, body, set(), "")
        v.raise_if_any()
        if o["business"] == "new":
            self._require(o, "issue", "issue" in self.item_actions(o, it))
            subject = newcert.subject(self, conn, o, it)
        else:
            self._require(o, "update", "update" in self.item_actions(o, it))
            old = self.cert_row(conn, it["old_serial"])
            if old["status"] == "revoked":
                raise conflict("certificate_revoked", "the certificate this item renews was revoked (section 17)",
                               rule="update")
            subject = x509.load_der_x509_certificate(old["der"]).subject
        ttl = self.store.settings(conn)["challenge_ttl"]
        cid = "ch_" + secrets.token_hex(16)
        nonce = os.urandom(32)
        exp = time.time() + ttl
        exp_s = ts(_dt.datetime.fromtimestamp(int(exp), UTC))
        conn.execute("INSERT INTO challenges(id, order_number, idx, nonce, created_at, expires_epoch, expires_at) "
                     "VALUES (?,?,?,?,?,?,?)", (cid, number, it["idx"], nonce, ts(now_dt()), exp, exp_s))
        dual = o["business"] == "renewal" and kmc.is_dual_item(conn, it)
        algs = self.key_algorithms(conn)
        out = {"challenge_id": cid, "nonce": b64e(nonce), "expires_at": exp_s,
               "key_algorithms": [a for a in algs if a["type"] == "sm2"] if dual else algs,
               "subject": subject.rfc4514_string(),
               "subject_der": b64e(subject.public_bytes()), "old_certificate_serial": it["old_serial"],
               "key_usage": pki.KEY_USAGE_NAMES, "extended_key_usage": pki.EKU_NAMES, "years": it["years"]}
        if dual:  # section 21: the KMC's encryption key pair comes enveloped to the new signing key
            out["encryption"] = kmc.challenge_member(conn, it)
        return out

    def offered(self, conn, v, csr):
        """`csr`, or None (and a violation) when its key is SM2 and SM2 is not offered."""
        if csr is not None and isinstance(csr.public_key(), pki.SM2PublicKey) and \
                {"type": "sm2"} not in self.key_algorithms(conn):
            v.add("csr", "key_algorithm", "csr: SM2 is not offered (key_algorithms)")
            return None
        return csr

    def key_algorithms(self, conn):
        """What a challenge offers: SM2 too unless the operator turned it off (setting sm2_offered)."""
        if self.store.settings(conn).get("sm2_offered", 1):
            return pki.KEY_ALGORITHMS
        return [a for a in pki.KEY_ALGORITHMS if a["type"] != "sm2"]

    def cert_response(self, r):
        return {"certificate": b64e(r["der"]),
                "chain": self.pki.chain_for(x509.load_der_x509_certificate(r["der"])), "serial": r["serial"],
                "not_before": r["not_before"], "not_after": r["not_after"]}

    def _insert_cert(self, conn, account_id, kind, holder, holder_id, cert, status, key_serial, number=None,
                     idx=None):
        serial = pki.cert_serial_hex(cert)
        der = cert.public_bytes(serialization.Encoding.DER)
        conn.execute("INSERT INTO certificates(account_id, kind, holder, holder_id_number, serial, subject, issuer, "
                     "not_before, not_after, status, key_serial, der, spki_sha256, created_at, order_number, "
                     "item_index) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (account_id, kind, holder, holder_id, serial, cert.subject.rfc4514_string(),
                      cert.issuer.rfc4514_string(), ts(cert.not_valid_before), ts(cert.not_valid_after), status,
                      key_serial, der, sha256_hex(pki.spki_der(pki.cert_public_key(cert))), ts(now_dt()), number,
                      idx))
        return self.cert_row(conn, serial)

    @staticmethod
    def _load_csr(v, field, value):
        try:
            der = b64d(value)
        except ValueError:
            v.add(field, "base64", "%s is not base64" % field)
            return None, None
        try:
            csr = pki.load_csr(der)  # cryptography's, or an SM2 request (pki.SM2Request)
        except Exception:
            v.add(field, "der", "%s is not a DER PKCS#10 request" % field)
            return None, None
        try:
            ok = csr.is_signature_valid
        except Exception:
            ok = False
        if not ok:
            v.add(field, "signature", "%s: the request's signature does not verify" % field)
            return None, None
        if not pki.key_algorithm_ok(csr.public_key()):
            v.add(field, "key_algorithm", "%s: key must be RSA 2048/3072, EC P-256 or SM2" % field)
            return None, None
        return csr, der

    def issue(self, conn, acct, number, idx, body):
        import time
        o = self.order_row(conn, number, acct["id"])
        it = self.item_row(conn, number, idx)
        if o["business"] == "new":
            return newcert.issue(self, conn, acct, number, idx, body)
        self._require(o, "update", "update" in self.item_actions(o, it))
        v = Violations()
        check_unknown(v, body, {"challenge_id", "csr", "old_certificate", "proof", "key_serial",
                                "encryption_envelope"}, "")
        cid = req_str(v, body, "challenge_id", "challenge_id", 64)
        for f in ("csr", "old_certificate", "proof"):
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
        csr, csr_der = self._load_csr(v, "csr", body["csr"])
        csr = self.offered(conn, v, csr)
        dual = kmc.is_dual_item(conn, it)
        kmc.check_request(v, body, dual, csr)
        old_cert = None
        try:
            old_der = b64d(body["old_certificate"])
            try:
                old_cert = x509.load_der_x509_certificate(old_der)
                pki.cert_public_key(old_cert)
            except Exception:
                v.add("old_certificate", "der", "old_certificate is not a DER X.509 certificate")
                old_cert = None
        except ValueError:
            v.add("old_certificate", "base64", "old_certificate is not base64")
        try:
            proof = b64d(body["proof"])
        except ValueError:
            v.add("proof", "base64", "proof is not base64")
            proof = None
        old_row = self.cert_row(conn, it["old_serial"])
        now = now_dt()
        if old_cert is not None:
            if old_der != old_row["der"]:
                v.add("old_certificate", "mismatch",
                      "old_certificate is not the certificate %s this item renews" % it["old_serial"])
                old_cert = None
            elif old_row["status"] == "revoked":
                v.add("old_certificate", "revoked",
                      "the old certificate was revoked (section 17): it cannot be renewed")
            elif old_row["status"] != "valid" or not (old_row["not_before"] <= ts(now) < old_row["not_after"]):
                v.add("old_certificate", "not_current", "the old certificate is expired, superseded or revoked")
        if csr is not None and old_cert is not None and len(csr.subject) > 0:
            def attrs(n):
                return [(a.oid.dotted_string, a.value) for a in n]
            if attrs(csr.subject) != attrs(old_cert.subject):
                v.add("csr", "subject", "the CSR's subject must be empty or the old certificate's")
        if csr is not None and old_cert is not None and proof is not None:
            msg = pki.proof_message(ch["nonce"], csr_der, number, it["idx"])
            if not pki.verify_signature(pki.cert_public_key(old_cert), proof, msg):
                v.add("proof", "signature", "the proof does not verify with the old certificate's key")
            elif pki.spki_der(csr.public_key()) == pki.spki_der(pki.cert_public_key(old_cert)):
                v.add("csr", "same_key", "the new key is the old certificate's key")
        if csr is not None and conn.execute("SELECT 1 FROM released_keys WHERE spki_sha256=?", (sha256_hex(
                pki.spki_der(csr.public_key())),)).fetchone():
            v.add("csr", "released_key", "the operator released the certificate of this key: a new key must be made")
        v.raise_if_any()
        new_spki = sha256_hex(pki.spki_der(csr.public_key()))
        conn.execute("UPDATE challenges SET used_at=? WHERE id=?", (ts(now), cid))
        if it["status"] == "issued":
            if self.latest_issuance(conn, number, it["idx"])["spki_sha256"] != new_spki:
                raise conflict("already_issued", "a certificate for another key was issued for this item (%s)"
                               % it["new_serial"])
            return 200, self.item_answer(conn, it), None
        not_after = old_cert.not_valid_after.replace(tzinfo=UTC) + _dt.timedelta(days=365 * it["years"])
        stored, sent = self._issue_item(conn, it, old_cert.subject, csr.public_key(), now, not_after,
                                        key_serial or old_row["key_serial"], cid, dual=dual)
        conn.execute("UPDATE items SET status='issued' WHERE order_number=? AND idx=?", (number, it["idx"]))
        self._bump(conn, number)
        return 201, stored, sent

    def _issue_item(self, conn, it, subject, public_key, now, not_after, key_serial, challenge_id, reissue=False,
                    dual=False):
        """One issuance for an order item through the issuer (a set faulty issuer applies): the certificate
        row, the issuance row, the item's new_serial and recorded answer; with `dual` the KMC's encryption
        certificate too (section 21). Returns (answer recorded, answer to send); they differ only under a
        faulty issuer in mode wire."""
        fault = self.take_issuer_fault(conn, dual)
        cert, stored, sent = issuer.issue(self.pki, fault, subject, public_key, now, not_after)
        row = self._insert_cert(conn, self._order_account_id(conn, it["order_number"]), it["kind"], it["holder"],
                                it["holder_id_number"], cert, "pending_confirmation", key_serial,
                                it["order_number"], it["idx"])
        if dual:
            half, m_stored, m_sent = kmc.issue_half(self.pki, fault, public_key.spki, subject, cert)
            if half is not None:
                kmc.record(conn, row["serial"], half, "pending_confirmation")
            same = sent is stored and m_sent is m_stored
            stored = dict(stored, encryption=m_stored) if m_stored else dict(stored)
            sent = stored if same else (dict(sent, encryption=m_sent) if m_sent else dict(sent))
        spki = pki.spki_der(public_key)
        conn.execute("INSERT INTO issuances(order_number, idx, serial, issued_at, spki_sha256, challenge_id, "
                     "spki_der, reissue) VALUES (?,?,?,?,?,?,?,?)",
                     (it["order_number"], it["idx"], row["serial"], ts(now), sha256_hex(spki), challenge_id, spki,
                      int(reissue)))
        conn.execute("UPDATE items SET new_serial=?, issue_answer=? WHERE order_number=? AND idx=?",
                     (row["serial"], json.dumps(stored, ensure_ascii=False), it["order_number"], it["idx"]))
        return stored, (sent if sent is not stored else None)

    def _order_account_id(self, conn, number):
        return self.order_row(conn, number)["account_id"]

    def latest_issuance(self, conn, number, idx):
        return conn.execute("SELECT * FROM issuances WHERE order_number=? AND idx=? ORDER BY id DESC LIMIT 1",
                            (number, idx)).fetchone()

    def item_answer(self, conn, it):
        """The answer recorded for the item's issued certificate (section 10.4): what every resume gets."""
        if it["issue_answer"]:
            return json.loads(it["issue_answer"])
        out = self.cert_response(self.cert_row(conn, it["new_serial"]))
        enc = kmc.twin(conn, it["new_serial"])
        if enc is not None:
            out["encryption"] = kmc.member(enc)
        return out

    def issued_certificate(self, conn, acct, number, idx):
        self.order_row(conn, number, acct["id"])
        it = self.item_row(conn, number, idx)
        if not it["new_serial"]:
            raise conflict("not_issued", "no certificate was issued for this item")
        return self.item_answer(conn, it)

    def confirm(self, conn, acct, number, idx, body):
        o = self.order_row(conn, number, acct["id"])
        it = self.item_row(conn, number, idx)
        v = Violations()
        check_unknown(v, body, {"serial"}, "")
        serial = req_str(v, body, "serial", "serial", 64)
        v.raise_if_any()
        if it["status"] == "completed" and it["new_serial"]:
            if serial != it["new_serial"]:
                validation_error("serial", "mismatch", "serial is not the certificate issued for this item")
            return self._with_seal(conn, self.order_json(conn, o), it["new_serial"])
        if it["status"] == "pending" and o["order_status"] == "awaiting_issuance":
            if conn.execute("SELECT 1 FROM issuances WHERE order_number=? AND idx=? AND serial=?",
                            (number, it["idx"], serial)).fetchone():
                validation_error("serial", "mismatch", "serial is a released certificate, no longer this item's")
            raise conflict("not_issued", "no certificate was issued for this item")
        acts = self.item_actions(o, it)
        self._require(o, "confirm", ("update" in acts or "issue" in acts) and it["status"] == "issued")
        if serial != it["new_serial"]:
            validation_error("serial", "mismatch", "serial is not the certificate issued for this item")
        conn.execute("UPDATE certificates SET status='valid' WHERE serial=?", (it["new_serial"],))
        conn.execute("UPDATE certificates SET status='superseded' WHERE serial=?", (it["old_serial"],))
        kmc.confirm(conn, it["new_serial"], it["old_serial"])  # the encryption twins (section 21)
        conn.execute("UPDATE items SET status='completed' WHERE order_number=? AND idx=?", (number, it["idx"]))
        self._make_seal(conn, acct, self.cert_row(conn, it["new_serial"]), it)
        left = conn.execute("SELECT COUNT(*) FROM items WHERE order_number=? AND status NOT IN "
                            "('completed','cancelled')", (number,)).fetchone()[0]
        if left == 0:
            self._bump(conn, number, order_status="completed")
        else:
            self._bump(conn, number)
        return self._with_seal(conn, self.order_json(conn, self.order_row(conn, number)), it["new_serial"])

    # -------------------------------------------------- seals

    def _with_seal(self, conn, order, serial):
        """The confirm's answer: the order JSON plus the item's e-seal record (§10.5)."""
        r = conn.execute("SELECT record FROM seals WHERE serial=?", (serial,)).fetchone()
        if r is not None:
            order["seal"] = json.loads(r["record"])
        return order

    def _make_seal(self, conn, acct, cert_row, it):
        ent = acct["enterprise"]
        name = ent["name"] if it["kind"] == "org" else it["holder"]
        image = pki.seal_png(name + cert_row["serial"])
        seal = {"seal_id": "seal_" + secrets.token_hex(12), "certificate_serial": cert_row["serial"],
                "certificate_sha256": sha256_hex(cert_row["der"]), "name": name, "image_type": "image/png",
                "image": b64e(image), "valid_from": cert_row["not_before"], "valid_to": cert_row["not_after"]}
        alg, sig = self.pki.sign_blob(pki.seal_message(seal, cert_row["der"], image), cert_row["der"])
        seal["signature_algorithm"] = alg
        seal["signature"] = b64e(sig)
        conn.execute("INSERT OR REPLACE INTO seals(serial, record) VALUES (?,?)",
                     (cert_row["serial"], json.dumps(seal, ensure_ascii=False)))

    def receipt(self, conn, acct, number):
        """回执打印: the order's receipt as PDF bytes, once the order is paid (or free)."""
        o = self.order_row(conn, number, acct["id"])
        if o["payment_status"] not in ("paid", "not_required"):
            raise conflict("not_paid", "the receipt is printed once the order is paid")
        if not receipt.available():
            raise ApiError(503, "receipt_unavailable", "this platform cannot print receipts "
                           "(python3-reportlab and fonts-wqy-microhei are needed)")
        ent = acct["enterprise"]["name"] if acct["enterprise"] else None
        return receipt.make(self.order_json(conn, o), acct["account"], ent, PLATFORM_NAME, ts(now_dt()))

    def seal(self, conn, acct, number, idx):
        self.order_row(conn, number, acct["id"])
        it = self.item_row(conn, number, idx)
        if it["status"] != "completed" or not it["new_serial"]:
            raise conflict("not_confirmed", "the seal exists once the item is confirmed")
        r = conn.execute("SELECT record FROM seals WHERE serial=?", (it["new_serial"],)).fetchone()
        if r is None:
            raise conflict("not_confirmed", "no seal for this item")
        return {"seal": json.loads(r["record"])}

    # -------------------------------------------------- operator

    def notify(self, conn, account_id, mobile, text, number):
        conn.execute("INSERT INTO notifications(account_id, channel, mobile, text, order_number, sent_at) "
                     "VALUES (?,?,?,?,?,?)", (account_id, "sms", mobile or "", text, number, ts(now_dt())))

    def review(self, conn, number, body):
        o = self.order_row(conn, number)
        v = Violations()
        check_unknown(v, body, {"decision", "comment"}, "")
        d = body.get("decision")
        if d not in ("approve", "reject"):
            v.add("decision", "required" if d is None else "enum", "decision must be approve or reject")
        c = req_str(v, body, "comment", "comment", 500, required=(d == "reject"))
        v.raise_if_any()
        ok = o["order_status"] == "awaiting_verification" and o["review_status"] == "not_reviewed"
        self._require(o, d, ok)
        app = json.loads(o["application"])
        mobile = (app.get("contact") or {}).get("mobile")
        bcn = BUSINESS_CN[o["business"]]
        if d == "approve":
            if o["payment_status"] == "unpaid":
                raise conflict("payment_required", "the order's amount is not paid", rule="approve")
            self._bump(conn, number, review_status="approved", review_comment=c, reviewed_at=ts(now_dt()),
                       order_status="awaiting_issuance")
            if o["business"] == "renewal":
                text = ("%s您的证书续期订单%s已审核通过。请插入待续期CA证书,登录平台在订单管理中点击【更新】进行证书续期。"
                        % (SMS_PREFIX, number))
            else:
                text = "%s您的证书新购订单%s已审核通过,证书制作完成后将寄送USB-KEY。" % (SMS_PREFIX, number)
        else:
            self._bump(conn, number, review_status="rejected", review_comment=c, reviewed_at=ts(now_dt()))
            text = "%s您的证书%s订单%s审核不通过,审核意见:%s。请修改后重新提交。" % (SMS_PREFIX, bcn, number, c)
        self.notify(conn, o["account_id"], mobile, text, number)
        return self.order_json(conn, self.order_row(conn, number))

    def operator_order(self, conn, number):
        o = self.order_row(conn, number)
        j = self.order_json(conn, o)
        j["account"] = conn.execute("SELECT account FROM accounts WHERE id=?", (o["account_id"],)).fetchone()[0]
        return j

    def _acct_by_id(self, conn, account_id):
        r = conn.execute("SELECT * FROM accounts WHERE id=?", (account_id,)).fetchone()
        return {"id": r["id"], "account": r["account"], "role": r["role"], "enterprise": json.loads(r["enterprise"])}

    def fulfil(self, conn, number, idx, body):
        o = self.order_row(conn, number)
        it = self.item_row(conn, number, idx)
        v = Violations()
        check_unknown(v, body, {"csr", "key_serial"}, "")
        req_str(v, body, "csr", "csr", 1024 * 1024)
        ks = req_str(v, body, "key_serial", "key_serial", 64, required=False)
        v.raise_if_any()
        self._require(o, "fulfil", o["business"] == "new" and o["order_status"] == "awaiting_issuance"
                      and it["status"] == "pending")
        csr, _ = self._load_csr(v, "csr", body["csr"])
        v.raise_if_any()
        acct = self._acct_by_id(conn, o["account_id"])
        ent = acct["enterprise"]
        now = now_dt()
        subject = pki.subject_for(it["kind"], ent["name"], it["holder"], it["holder_id_number"], it["position"],
                                  ent.get("unified_social_credit_code"))
        cert = self.pki.issue(subject, csr.public_key(), now, now + _dt.timedelta(days=365 * it["years"]))
        row = self._insert_cert(conn, acct["id"], it["kind"], it["holder"], it["holder_id_number"], cert, "valid",
                                ks, number, it["idx"])
        conn.execute("INSERT INTO issuances(order_number, idx, serial, issued_at, spki_sha256, challenge_id) "
                     "VALUES (?,?,?,?,?,NULL)", (number, it["idx"], row["serial"], ts(now), row["spki_sha256"]))
        conn.execute("UPDATE items SET status='completed', new_serial=? WHERE order_number=? AND idx=?",
                     (row["serial"], number, it["idx"]))
        self._make_seal(conn, acct, row, it)
        left = conn.execute("SELECT COUNT(*) FROM items WHERE order_number=? AND status NOT IN "
                            "('completed','cancelled')", (number,)).fetchone()[0]
        if left == 0:
            if o["shipping_status"] == "none":
                self._bump(conn, number, order_status="completed", shipping_status="awaiting_receipt")
            else:
                self._bump(conn, number, order_status="completed")
        else:
            self._bump(conn, number)
        return self.cert_response(row)

    def deliver(self, conn, number, body):
        o = self.order_row(conn, number)
        v = Violations()
        check_unknown(v, body, set(), "")
        v.raise_if_any()
        self._require(o, "deliver", o["shipping_status"] == "awaiting_receipt")
        self._bump(conn, number, shipping_status="received")
        return self.order_json(conn, self.order_row(conn, number))

    def issuances(self, conn, number, idx):
        self.order_row(conn, number)
        it = self.item_row(conn, number, idx)
        rows = conn.execute("SELECT * FROM issuances WHERE order_number=? AND idx=? ORDER BY id",
                            (number, it["idx"]))
        return {"items": [{"serial": r["serial"], "issued_at": r["issued_at"], "public_key_sha256": r["spki_sha256"],
                           "challenge_id": r["challenge_id"], "status": self.cert_row(conn, r["serial"])["status"],
                           "reissue": bool(r["reissue"])} for r in rows]}

    # the operator's way out of a bad recorded certificate

    def _issued_item(self, conn, number, idx, action, body):
        o = self.order_row(conn, number)
        it = self.item_row(conn, number, idx)
        v = Violations()
        check_unknown(v, body, set(), "")
        v.raise_if_any()
        self._require(o, action, it["status"] == "issued")
        return it

    def _issue_path(self, it):
        return "/api/v1/orders/%s/items/%d/issue" % (it["order_number"], it["idx"])

    def reissue(self, conn, number, idx, body):
        """A new certificate for the key of the item's latest issuance; the previous one revoked.
        Returns (answer recorded, answer to send or None)."""
        it = self._issued_item(conn, number, idx, "reissue", body)
        last = self.latest_issuance(conn, number, it["idx"])
        prev = self.cert_row(conn, it["new_serial"])
        public_key = (pki.load_public_key(last["spki_der"]) if last["spki_der"] is not None
                      else pki.cert_public_key(x509.load_der_x509_certificate(prev["der"])))
        now = now_dt()
        if it["old_serial"] is None:  # a new certificate (section 19): its subject, a year from now
            subject, not_after = newcert.subject(self, conn, self.order_row(conn, number), it), \
                newcert.not_after(now, it["years"])
        else:
            old = x509.load_der_x509_certificate(self.cert_row(conn, it["old_serial"])["der"])
            subject = old.subject
            not_after = old.not_valid_after.replace(tzinfo=UTC) + _dt.timedelta(days=365 * it["years"])
        conn.execute("UPDATE certificates SET status='revoked' WHERE serial=?", (prev["serial"],))
        revocation.record_revoked(conn, prev["serial"], "superseded")
        kmc.revoke(conn, prev["serial"], "superseded")
        stored, sent = self._issue_item(conn, it, subject, public_key, now, not_after, prev["key_serial"],
                                        None, reissue=True, dual=kmc.is_dual_item(conn, it))
        # a replay of an earlier issue request of this item answers the new certificate
        conn.execute("UPDATE idempotency SET body=? WHERE method='POST' AND path=?",
                     (dumps(stored), self._issue_path(it)))
        self._bump(conn, number)
        return stored, sent

    def release(self, conn, number, idx, body):
        """The item back to pending; its certificate revoked and its key refused from now on."""
        it = self._issued_item(conn, number, idx, "release", body)
        last = self.latest_issuance(conn, number, it["idx"])
        conn.execute("UPDATE certificates SET status='revoked' WHERE serial=?", (it["new_serial"],))
        revocation.record_revoked(conn, it["new_serial"], "cessation_of_operation")
        kmc.revoke(conn, it["new_serial"], "cessation_of_operation")
        conn.execute("UPDATE items SET status='pending', new_serial=NULL, issue_answer=NULL WHERE order_number=? "
                     "AND idx=?", (number, it["idx"]))
        conn.execute("DELETE FROM challenges WHERE order_number=? AND idx=? AND used_at IS NULL", (number, it["idx"]))
        conn.execute("DELETE FROM idempotency WHERE method='POST' AND path=?", (self._issue_path(it),))
        conn.execute("INSERT OR IGNORE INTO released_keys(spki_sha256, order_number, idx, released_at) "
                     "VALUES (?,?,?,?)", (last["spki_sha256"], number, it["idx"], ts(now_dt())))
        self._bump(conn, number)
        return self.operator_order(conn, number)

    # the faulty issuer

    def issuer_json(self, conn):
        r = conn.execute("SELECT * FROM issuer_fault WHERE id=1").fetchone()
        return {"fault": r["fault"] if r else None, "mode": r["mode"] if r else "recorded",
                "remaining": r["remaining"] if r else 0, "kinds": list(issuer.KINDS),
                "acceptable": list(issuer.ACCEPTABLE)}

    def put_issuer(self, conn, body):
        v = Violations()
        check_unknown(v, body, {"fault", "mode", "count"}, "")
        if "fault" not in body:
            v.add("fault", "required", "fault is required (null clears it)")
        elif body["fault"] is not None and body["fault"] not in issuer.KINDS:
            v.add("fault", "enum", "fault must be null or one of %s" % ", ".join(issuer.KINDS))
        mode = body.get("mode", "recorded")
        if mode not in issuer.MODES:
            v.add("mode", "enum", "mode must be recorded or wire")
        count = body.get("count", issuer.DEFAULT_COUNT)
        if not is_int(count):
            v.add("count", "type", "count must be an integer")
        elif not 1 <= count <= issuer.DEFAULT_COUNT:
            v.add("count", "range", "count must be 1..%d" % issuer.DEFAULT_COUNT)
        v.raise_if_any()
        fault = body["fault"]
        conn.execute("INSERT OR REPLACE INTO issuer_fault(id, fault, mode, remaining) VALUES (1,?,?,?)",
                     (fault, mode, count if fault else 0))
        return self.issuer_json(conn)

    def take_issuer_fault(self, conn, dual=False):
        """Inside the issuing transaction: the fault to use for this issuance (consumed), or None. A kind
        of the encryption half (section 21) is used by a dual issuance only: a single one leaves it set."""
        r = conn.execute("SELECT * FROM issuer_fault WHERE id=1 AND fault IS NOT NULL AND remaining > 0").fetchone()
        if r is None or (not dual and r["fault"] in kmc.ENC_KINDS):
            return None
        if r["remaining"] <= 1:
            conn.execute("UPDATE issuer_fault SET fault=NULL, remaining=0 WHERE id=1")
        else:
            conn.execute("UPDATE issuer_fault SET remaining=remaining-1 WHERE id=1")
        return {"fault": r["fault"], "mode": r["mode"]}

    def provision(self, conn, body):
        v = Violations()
        check_unknown(v, body, {"account", "kind", "holder_name", "holder_id_number", "position", "csr",
                                "not_after", "not_before", "key_serial", "dual"}, "")
        name = req_str(v, body, "account", "account", 64)
        kind = body.get("kind")
        if kind not in KINDS:
            v.add("kind", "required" if kind is None else "enum", "kind must be org, legal_rep or personal")
        hn = req_str(v, body, "holder_name", "holder_name", 32, required=(kind == "personal"))
        hid = body.get("holder_id_number")
        if kind == "personal" or hid is not None:
            hid = check_id_number(v, "holder_id_number", hid)
        pos = req_str(v, body, "position", "position", 32, required=False)
        ks = req_str(v, body, "key_serial", "key_serial", 64, required=False)
        req_str(v, body, "csr", "csr", 1024 * 1024)
        now = now_dt()
        nb = now - _dt.timedelta(days=1)
        na = None
        for f in ("not_before", "not_after"):
            x = body.get(f)
            if x is None:
                if f == "not_after":
                    v.add(f, "required", "not_after is required")
                continue
            try:
                d = parse_ts(x)
            except ValueError:
                v.add(f, "format", "%s must be YYYY-MM-DDTHH:MM:SSZ" % f)
                continue
            if f == "not_before":
                nb = d
            else:
                na = d
        if na is not None and na <= nb:
            v.add("not_after", "range", "not_after must be after not_before")
        v.raise_if_any()
        csr, _ = self._load_csr(v, "csr", body["csr"])
        dual = kmc.check_provision(v, body, csr)
        v.raise_if_any()
        row = self.account_row(conn, name)
        if row is None:
            raise not_found("account")
        acct = self._acct_by_id(conn, row["id"])
        ent = acct["enterprise"]
        lrep = ent.get("legal_representative") or {}
        if kind == "org":
            hn, hid = ent["name"], None
        elif kind == "legal_rep":
            hn = hn or lrep.get("name")
            hid = hid or lrep.get("id_number")
        subject = pki.subject_for(kind, ent["name"], hn, hid, pos, ent.get("unified_social_credit_code"))
        cert = self.pki.issue(subject, csr.public_key(), nb, na)
        r = self._insert_cert(conn, acct["id"], kind, hn, hid, cert, "valid", ks)
        if kind == "personal":
            self.touch_person(conn, acct["id"], hn, "id_card", hid, pos, ts(now))
        out = self.cert_response(r)
        out["certificate_id"] = r["id"]
        if dual:  # section 21: the KMC's encryption certificate, enveloped to the provisioned key
            out["encryption"] = kmc.provision(self, conn, r, csr.public_key(), subject)
        return out

    def bulk_orders(self, conn, account, body):
        row = self.account_row(conn, account)
        if row is None:
            raise not_found("account")
        v = Violations()
        check_unknown(v, body, {"count", "business", "start", "step_seconds"}, "")
        n = req_int(v, body, "count", "count", 1, 5000)
        b = body.get("business", "renewal")
        if b not in ("renewal", "new", "mixed"):
            v.add("business", "enum", "business must be renewal, new or mixed")
        step = body.get("step_seconds", 3600)
        if not is_int(step) or not 1 <= step <= 10 ** 7:
            v.add("step_seconds", "range", "step_seconds must be 1..10000000")
        start = now_dt() - _dt.timedelta(days=30)
        if body.get("start") is not None:
            try:
                start = parse_ts(body["start"])
            except ValueError:
                v.add("start", "format", "start must be YYYY-MM-DDTHH:MM:SSZ")
        v.raise_if_any()
        ent = json.loads(row["enterprise"])
        numbers = []
        for i in range(n):
            when = start + _dt.timedelta(seconds=i * step)
            bus = b if b != "mixed" else ("renewal", "new")[i % 2]
            number = self.new_order_number(conn, when)
            price = FEES[(bus, "org", 1)]
            app = {"business": bus, "org": {"years": 1, "count": 1}, "persons": [],
                   "contact": {"name": "测试联系人", "mobile": "13900000000", "email": "bulk@example.com"},
                   "remark": None}
            w = ts(when)
            conn.execute("INSERT INTO orders(number, account_id, business, created_at, updated_at, application, "
                         "amount_fen, review_status, order_status, payment_status, shipping_status) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (number, row["id"], bus, w, w, json.dumps(app, ensure_ascii=False), price,
                          "not_reviewed", "awaiting_verification", "unpaid" if price else "not_required", "none"))
            conn.execute("INSERT INTO items(order_number, idx, kind, holder, years, price_fen, status) "
                         "VALUES (?,?,?,?,?,?,?)", (number, 1, "org", ent["name"], 1, price, "pending"))
            numbers.append(number)
        return {"numbers": numbers}

    def put_settings(self, conn, body):
        v = Violations()
        names = ("token_ttl", "challenge_ttl", "review_retry_after", "login_challenge_ttl", "login_challenges_max",
                 "sm2_offered")
        check_unknown(v, body, set(names), "")
        for k in names:
            if k in body:
                x = body[k]
                lo, hi = (0, 1) if k == "sm2_offered" else (1, 10 ** 7)
                if not is_int(x):
                    v.add(k, "type", "%s must be an integer" % k)
                elif not lo <= x <= hi:
                    v.add(k, "range", "%s must be %d..%d" % (k, lo, hi))
        v.raise_if_any()
        for k, x in body.items():
            self.store.set_setting(conn, k, x)
        return self.store.settings(conn)

    # faults

    FAULT_KINDS = ("status", "delay", "drop_before", "drop_after", "truncate", "malformed")

    def add_fault(self, conn, body, endpoint_names):
        v = Violations()
        check_unknown(v, body, {"endpoint", "kind", "count", "status", "retry_after", "delay_ms"}, "")
        ep = body.get("endpoint")
        if ep not in endpoint_names and ep != "*":
            v.add("endpoint", "required" if ep is None else "enum", "unknown endpoint name")
        kind = body.get("kind")
        if kind not in self.FAULT_KINDS:
            v.add("kind", "required" if kind is None else "enum", "kind must be one of %s" % ", ".join(
                self.FAULT_KINDS))
        count = body.get("count", 1)
        if not is_int(count) or not 1 <= count <= 10 ** 6:
            v.add("count", "range", "count must be 1..1000000")
        status = body.get("status", 503 if kind == "status" else None)
        if kind == "status" and status not in (500, 502, 503, 504):
            v.add("status", "enum", "status must be 500, 502, 503 or 504")
        ra = body.get("retry_after")
        if ra is not None and (not is_int(ra) or not 0 <= ra <= 86400):
            v.add("retry_after", "range", "retry_after must be 0..86400")
        dm = body.get("delay_ms")
        if kind == "delay" and (not is_int(dm) or not 1 <= dm <= 60000):
            v.add("delay_ms", "range" if dm is not None else "required", "delay_ms must be 1..60000")
        v.raise_if_any()
        cur = conn.execute("INSERT INTO faults(endpoint, kind, status, retry_after, delay_ms, remaining, created_at) "
                           "VALUES (?,?,?,?,?,?,?)", (ep, kind, status if kind == "status" else None, ra,
                                                      dm if kind == "delay" else None, count, ts(now_dt())))
        return self.fault_json(conn.execute("SELECT * FROM faults WHERE id=?", (cur.lastrowid,)).fetchone())

    @staticmethod
    def fault_json(r):
        return {"id": r["id"], "endpoint": r["endpoint"], "kind": r["kind"], "status": r["status"],
                "retry_after": r["retry_after"], "delay_ms": r["delay_ms"], "count": r["remaining"],
                "created_at": r["created_at"]}

    def list_faults(self, conn):
        return {"items": [self.fault_json(r) for r in conn.execute("SELECT * FROM faults ORDER BY id")]}

    def take_fault(self, conn, endpoint):
        """The next fault for this endpoint, consumed (decremented); None when none."""
        if conn.execute("SELECT 1 FROM faults LIMIT 1").fetchone() is None:
            return None
        with self.store.tx(conn):
            r = conn.execute("SELECT * FROM faults WHERE endpoint IN (?, '*') AND remaining > 0 ORDER BY id LIMIT 1",
                             (endpoint,)).fetchone()
            if r is None:
                return None
            if r["remaining"] <= 1:
                conn.execute("DELETE FROM faults WHERE id=?", (r["id"],))
            else:
                conn.execute("UPDATE faults SET remaining=remaining-1 WHERE id=?", (r["id"],))
            return dict(r)
