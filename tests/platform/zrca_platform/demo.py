# SPDX-License-Identifier: MIT
"""--demo: a tenderer account with fictional people, certificates and orders in every state of the
seed's order list. Every name and number here is made up; the ID numbers are generated with valid
GB 11643 check digits."""
import datetime as _dt
import json

from cryptography.hazmat.primitives.asymmetric import ec

from . import idnum, pki
from .service import FEES, Service
from .util import now_dt, sha256_hex, ts

ACCOUNT = "demo"
PASSWORD = "Demo-2026!"
ENTERPRISE = "江南示范燃气工程有限公司"
LEGAL_REP = ("周明远", idnum.make_id("330106", "19780615", "451"))
PERSONS = [
    ("林晓雯", idnum.make_id("330102", "19900307", "852"), "项目负责人"),
    ("陈志航", idnum.make_id("310104", "19851122", "317"), "采购经理"),
    ("许静怡", idnum.make_id("440305", "19930418", "226"), "招标专员"),
    ("赵国栋", idnum.make_id("110105", "19791030", "593"), "技术负责人"),
    ("孙悦", idnum.make_id("320102", "19950812", "064"), "商务专员"),
]
CONTACT = {"name": "许静怡", "mobile": "13905710000", "email": "xu.jingyi@demo.example.com"}
FAKE_PDF = b"%PDF-1.4\n% demo commitment letter (fictional)\n%%EOF\n"
FAKE_JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


def ensure_demo(store):
    svc = Service(store)
    conn = store.connect()
    try:
        with store.tx(conn):
            if svc.account_row(conn, ACCOUNT):
                return False
            svc.create_account(conn, {
                "account": ACCOUNT, "password": PASSWORD, "role": "tenderer",
                "enterprise": {"name": ENTERPRISE, "unified_social_credit_code": idnum.make_uscc("91330106MA2H3K7W5"),
                               "legal_representative": {"name": LEGAL_REP[0], "id_type": "id_card",
                                                        "id_number": LEGAL_REP[1]},
                               "address": "浙江省杭州市示范区样例路 1 号", "phone": "0571-80000000",
                               "email": "office@demo.example.com"}})
            _populate(store, svc, conn)
        return True
    finally:
        conn.close()


def _populate(store, svc, conn):
    now = now_dt()
    acct_row = svc.account_row(conn, ACCOUNT)
    acct = svc._acct_by_id(conn, acct_row["id"])
    ent = acct["enterprise"]
    uscc = ent["unified_social_credit_code"]

    def cert(kind, holder, hid, pos, nb_days, na_days, status="valid", key_serial=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subj = pki.subject_for(kind, ENTERPRISE, holder, hid, pos, uscc)
        c = store.pki.issue(subj, key.public_key(), now + _dt.timedelta(days=nb_days),
                            now + _dt.timedelta(days=na_days))
        return svc._insert_cert(conn, acct["id"], kind, holder, hid, c, status, key_serial)["serial"]

    for i, (name, num, pos) in enumerate(PERSONS):
        svc.touch_person(conn, acct["id"], name, "id_card", num, pos, ts(now - _dt.timedelta(days=400 - i)))

    org_old = cert("org", ENTERPRISE, None, None, -800, -30, "superseded", "1A29DEMO00000001")
    org_cur = cert("org", ENTERPRISE, None, None, -60, 200, "valid", "1A29DEMO00000001")
    cert("legal_rep", LEGAL_REP[0], LEGAL_REP[1], None, -300, 400, "valid", "1A29DEMO00000002")
    lin = PERSONS[0]
    cert("personal", lin[0], lin[1], lin[2], -700, -335, "superseded", "1A29DEMO00000003")
    cert("personal", lin[0], lin[1], lin[2], -345, 20, "valid", "1A29DEMO00000003")   # ends within 30 days
    chen, xu, zhao, sun = PERSONS[1], PERSONS[2], PERSONS[3], PERSONS[4]
    chen_c = cert("personal", chen[0], chen[1], chen[2], -200, 150, "valid", "1A29DEMO00000004")
    xu_c = cert("personal", xu[0], xu[1], xu[2], -60, 300, "valid", "1A29DEMO00000005")
    cert("personal", zhao[0], zhao[1], zhao[2], -400, -10, "valid", "1A29DEMO00000006")  # expired
    sun_c = cert("personal", sun[0], sun[1], sun[2], -100, 265, "valid", "1A29DEMO00000007")

    def order(days_ago, business, items, review, status, payment, shipping, comment=None, rating=None,
              persons=()):
        when = now - _dt.timedelta(days=days_ago, hours=days_ago % 7)
        number = svc.new_order_number(conn, when)
        app = {"business": business, "persons": [], "contact": CONTACT, "remark": None}
        for it in items:
            if it["kind"] == "org":
                app["org"] = {"years": 1, "count": 1}
            elif it["kind"] == "legal_rep":
                app["legal_rep"] = {"id_type": "id_card", "id_number": LEGAL_REP[1], "years": 1, "count": 1}
            else:
                app["persons"].append({"name": it["holder"], "id_number": it["hid"], "position": it["pos"],
                                       "years": 1, "count": 1})
        amount = sum(FEES[(business, it["kind"], 1)] for it in items)
        w = ts(when)
        conn.execute("INSERT INTO orders(number, account_id, business, created_at, updated_at, application, "
                     "amount_fen, review_status, review_comment, reviewed_at, order_status, payment_status, "
                     "payment_method, paid_at, shipping_status, rating) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (number, acct["id"], business, w, w, json.dumps(app, ensure_ascii=False), amount, review,
                      comment, w if review != "not_reviewed" else None, status, payment,
                      "alipay" if payment == "paid" else None, w if payment == "paid" else None, shipping,
                      json.dumps(rating, ensure_ascii=False) if rating else None))
        for i, it in enumerate(items, 1):
            conn.execute("INSERT INTO items(order_number, idx, kind, holder, holder_id_number, position, years, "
                         "price_fen, status, old_serial, new_serial) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (number, i, it["kind"], it["holder"], it.get("hid"), it.get("pos"), 1,
                          FEES[(business, it["kind"], 1)], it["status"], it.get("old"), it.get("new")))
        conn.execute("INSERT INTO attachments(order_number, field, type, size, sha256, data) VALUES (?,?,?,?,?,?)",
                     (number, "attachments.commitment_letter", "pdf", len(FAKE_PDF), sha256_hex(FAKE_PDF), FAKE_PDF))
        for i, p in enumerate(app["persons"]):
            conn.execute("INSERT INTO attachments(order_number, field, type, size, sha256, data) "
                         "VALUES (?,?,?,?,?,?)", (number, "persons[%d].id_scan" % i, "jpg", len(FAKE_JPG),
                                                  sha256_hex(FAKE_JPG), FAKE_JPG))
        return number

    def P(p, status, old=None, new=None):
        return {"kind": "personal", "holder": p[0], "hid": p[1], "pos": p[2], "status": status, "old": old,
                "new": new}

    # (1) renewal, approved, completed, shipping none -> view, rate
    order(120, "renewal", [{"kind": "org", "holder": ENTERPRISE, "status": "completed", "old": org_old,
                            "new": org_cur}], "approved", "completed", "not_required", "none")
    # (2) renewal, not reviewed, closed -> view
    order(100, "renewal", [P(zhao, "cancelled"), P(lin, "cancelled")], "not_reviewed", "closed",
          "not_required", "none")
    # (3) renewal, approved, awaiting issuance -> view; items view, update
    order(10, "renewal", [P(chen, "pending", chen_c), P(xu, "pending", xu_c)], "approved", "awaiting_issuance",
          "not_required", "none")
    # (4) new, approved, completed, awaiting receipt -> view, rate
    order(95, "new", [P(sun, "completed", None, sun_c)], "approved", "completed", "paid", "awaiting_receipt")
    # (5) new, 400 yuan, not reviewed, awaiting verification, unpaid -> view, edit, resubmit, pay, cancel
    order(2, "new", [{"kind": "org", "holder": ENTERPRISE, "status": "pending"}], "not_reviewed",
          "awaiting_verification", "unpaid", "none")
    # rejected with a comment, waiting for edit and resubmit
    order(5, "renewal", [{"kind": "legal_rep", "holder": LEGAL_REP[0], "hid": LEGAL_REP[1], "status": "pending"}],
          "rejected", "awaiting_verification", "not_required", "none", comment="承诺函扫描件不清晰,请重新上传。")
    # paid, waiting on review
    order(1, "new", [P(zhao, "pending")], "not_reviewed", "awaiting_verification", "paid", "none")
    # new, completed, received, rated
    order(300, "new", [{"kind": "legal_rep", "holder": LEGAL_REP[0], "hid": LEGAL_REP[1], "status": "completed"}],
          "approved", "completed", "paid", "received", rating={"score": 5, "comment": "办理很快。",
                                                                "rated_at": ts(now - _dt.timedelta(days=290))})
    svc.notify(conn, acct["id"], CONTACT["mobile"],
               "【中燃电子招标采购交易平台】示例短信:您的证书续期订单已审核通过。", None)
