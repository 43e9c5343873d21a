# SPDX-License-Identifier: MIT
"""Start-up, the JSON line, the CA files, TLS, restart, demo data, the CLI, concurrency."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from platform_client import (CTL, DAEMON, PERSON, Platform, Renewal, apply, ec_key, idnum, make_csr, renewal_app)


def load_pem(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def test_json_line_and_files(platform):
    info = platform.info
    assert set(info) >= {"url", "ca_file", "platform_ca_file", "operator_token", "data", "pid"}
    assert re.match(r"^https://127\.0\.0\.1:[0-9]+$", info["url"])
    for k in ("ca_file", "platform_ca_file"):
        assert os.path.isabs(info[k]) and info[k].startswith(platform.data)
    root = load_pem(info["platform_ca_file"])
    issuing = load_pem(os.path.join(platform.data, "ca", "issuing.pem"))
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root.public_key().verify(issuing.signature, issuing.tbs_certificate_bytes, ec.ECDSA(issuing.signature_hash_algorithm))
    assert issuing.issuer == root.subject
    with open(os.path.join(platform.data, "operator-token")) as f:
        assert f.read().strip() == info["operator_token"]
    # the TLS certificate: for 127.0.0.1 and localhost, from the TLS CA in ca_file
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    port = int(info["url"].rsplit(":", 1)[1])
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                der = t.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)][:1] == ["127.0.0.1"]


def test_untrusted_tls_refused(platform):
    ctx = ssl.create_default_context()  # the system store does not know the platform's TLS CA
    port = int(platform.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="127.0.0.1")


def test_restart_keeps_orders_certificates_and_ca(platform):
    r = Renewal(platform)
    new_key, res = r.issue(key="issue-key-1")
    assert res.status == 201
    files = {}
    for rel in ("ca/root.pem", "ca/issuing.pem", "tls/ca.pem", "operator-token"):
        with open(os.path.join(platform.data, rel), "rb") as f:
            files[rel] = f.read()
    token = r.client.token
    before_orders = r.client.get("/api/v1/orders").json
    before_certs = r.client.get("/api/v1/certificates").json
    platform.restart()
    for rel, data in files.items():
        with open(os.path.join(platform.data, rel), "rb") as f:
            assert f.read() == data, rel
    assert platform.operator_token == files["operator-token"].decode().strip()
    c = platform.client(token)  # the session survived too
    assert c.get("/api/v1/orders").json == before_orders
    after_certs = c.get("/api/v1/certificates").json
    # days_left is derived from the clock at each read and may tick down between the two reads
    for b, a in zip(before_certs["items"], after_certs["items"]):
        assert 0 <= b.pop("days_left") - a.pop("days_left") <= 1
    assert after_certs == before_certs
    again = c.get(r.path("/certificate"))
    assert again.status == 200 and again.json == res.json


def test_restart_with_sigterm(platform):
    c = platform.create_account("acme")
    platform.restart(signal.SIGTERM)
    assert platform.proc.poll() is None
    c = platform.client(c.token)  # a new port after the restart, the same token
    assert c.get("/api/v1/enterprise").status == 200


def test_token_ttl_flag(tmp_path):
    p = Platform(tmp_path / "d", extra=["--token-ttl", "77"])
    try:
        c = p.client()
        r = c.call("POST", "/api/v1/session", {"account": "x", "password": "y"})
        assert r.status == 401
        p.create_account("acme")
        r = c.call("POST", "/api/v1/session", {"account": "acme", "password": "Passw0rd!"})
        assert r.json["expires_in"] == 77
    finally:
        p.stop()


def test_daemon_usage_errors(tmp_path):
    p = subprocess.run([DAEMON], capture_output=True, timeout=30)
    assert p.returncode == 2
    p = subprocess.run([DAEMON, "--data", str(tmp_path), "--listen", "nonsense"], capture_output=True, timeout=30)
    assert p.returncode == 2


SEED_REAL = ["宏信", "刘翀", "李枝凝", "张先莉", "lyncent", "1A29531403260417", "33757766530"]


def test_demo_data(demo):
    c = demo.login("demo", "Demo-2026!")
    ent = c.get("/api/v1/enterprise").json
    assert ent["role"] == "tenderer"
    assert idnum.id_card_rule(ent["legal_representative"]["id_number"]) is None
    persons = c.get("/api/v1/persons").json["items"]
    assert len(persons) >= 5
    for p in persons:
        assert idnum.id_card_rule(p["id_number"]) is None
        assert re.match(r"^[\u4e00-\u9fff]{2,4}$", p["name"])
    certs = c.get("/api/v1/certificates?per_page=100").json["items"]
    assert {x["kind"] for x in certs if x["status"] == "valid"} == {"org", "legal_rep", "personal"}
    assert any(x["status"] == "valid" and x["days_left"] < 30 for x in certs)
    orders = c.get("/api/v1/orders?per_page=100").json["items"]
    states = {(o["business"], o["review_status"], o["order_status"], o["shipping_status"]): o for o in orders}
    seed_rows = {
        ("renewal", "approved", "completed", "none"): ["view", "rate"],
        ("renewal", "not_reviewed", "closed", "none"): ["view"],
        ("renewal", "approved", "awaiting_issuance", "none"): ["view"],
        ("new", "approved", "completed", "awaiting_receipt"): ["view", "rate", "receive"],
        ("new", "not_reviewed", "awaiting_verification", "none"): None,
    }
    for k, actions in seed_rows.items():
        assert k in states, k
        if actions:
            assert states[k]["actions"] == actions, k
    row5 = [o for o in orders if o["business"] == "new" and o["payment_status"] == "unpaid"][0]
    assert row5["amount_fen"] == 40000
    assert row5["actions"] == ["view", "edit", "resubmit", "pay", "cancel"]
    ai = states[("renewal", "approved", "awaiting_issuance", "none")]
    assert all(i["actions"] == ["view", "update"] for i in ai["items"])
    assert any(o["review_status"] == "rejected" and o["review_comment"] for o in orders)
    assert any(o["shipping_status"] == "received" and o["rating"] for o in orders)
    # nothing real from the seed
    with open(os.path.join(demo.data, "platform.db"), "rb") as f:
        db = f.read()
    dump = subprocess.run(["/usr/bin/python3", "-c", "import sqlite3,sys;c=sqlite3.connect(sys.argv[1]);"
                           "print('\\n'.join(c.iterdump()))", os.path.join(demo.data, "platform.db")],
                          capture_output=True, text=True).stdout
    for s in SEED_REAL:
        assert s not in dump and s.encode() not in db
    # --demo again on restart does not duplicate
    n = len(orders)
    demo.restart()
    c = demo.login("demo", "Demo-2026!")
    assert c.get("/api/v1/orders").json["total"] == n


def test_demo_account_renews_a_provisioned_key(demo):
    """A test can put a demo person's expiring certificate on a key and renew it."""
    c = demo.login("demo", "Demo-2026!")
    lin = [p for p in c.get("/api/v1/persons").json["items"] if p["name"] == "林晓雯"][0]
    key = ec_key()
    prov = demo.provision("demo", "personal", key, days=10, holder_name=lin["name"], holder_id=lin["id_number"],
                          position=lin["position"])
    app = renewal_app(persons=[(lin["name"], lin["id_number"], lin["position"])])
    r = apply(c, app)
    assert r.status == 201, r
    # the soonest-ending current certificate is the one renewed: the key's (10 days) before the demo's (20)
    assert r.json["items"][0]["old_certificate_serial"] == prov["serial"]


def test_cli(platform, tmp_path):
    out = json.loads(platform.ctl("create-account", "cli1", "--password", "pw-123456").stdout)
    assert out == {"account": "cli1", "role": "tenderer"}
    assert platform.ctl("create-account", "cli1", "--password", "x", check=False).returncode == 1
    assert "cli1" in platform.ctl("accounts").stdout.decode()
    assert json.loads(platform.ctl("token").stdout)["operator_token"] == platform.operator_token
    key = ec_key()
    csr = tmp_path / "k.csr"
    csr.write_bytes(x509.load_der_x509_csr(make_csr(key)).public_bytes(serialization.Encoding.PEM))
    out = json.loads(platform.ctl("provision", "--account", "cli1", "--kind", "personal", "--holder-name",
                                  PERSON[0], "--holder-id", PERSON[1], "--position", PERSON[2], "--csr", csr,
                                  "--not-after", "2027-04-10T00:00:00Z", "--out", tmp_path / "c.pem").stdout)
    cert = load_pem(tmp_path / "c.pem")
    assert cert.not_valid_after.isoformat() == "2027-04-10T00:00:00"
    assert format(cert.serial_number, "x").zfill(32) == out["serial"]
    c = platform.login("cli1", "pw-123456")
    r = apply(c, renewal_app())
    assert r.status == 201
    number = r.json["number"]
    assert number in platform.ctl("orders", "--account", "cli1").stdout.decode()
    assert json.loads(platform.ctl("show", number).stdout)["account"] == "cli1"
    platform.ctl("reject", number, "--comment", "扫描件不清晰")
    assert c.get("/api/v1/orders/" + number).json["review_status"] == "rejected"
    assert c.post("/api/v1/orders/%s/resubmit" % number, {}).status == 200
    platform.ctl("approve", number)
    o = c.get("/api/v1/orders/" + number).json
    assert o["order_status"] == "awaiting_issuance"
    sms = json.loads(platform.ctl("notifications", "--account", "cli1").stdout)["items"]
    assert len(sms) == 2 and "扫描件不清晰" in sms[0]["text"] and "审核通过" in sms[1]["text"]
    assert json.loads(platform.ctl("issuances", number, "1").stdout) == {"items": []}
    s = json.loads(platform.ctl("settings", "--challenge-ttl", "42").stdout)
    assert s["challenge_ttl"] == 42
    platform.ctl("fault", "orders.get", "status", "--status", "503", "--retry-after", "3")
    assert len(json.loads(platform.ctl("faults").stdout)["items"]) == 1
    r = c.get("/api/v1/orders/" + number)  # the running server sees the CLI's fault
    assert r.status == 503 and r.header("Retry-After") == "3"
    platform.ctl("fault", "orders.get", "delay", "--delay-ms", "1")
    assert json.loads(platform.ctl("faults", "--clear").stdout) == {"items": []}
    # a new-certificate order: fulfil and deliver through the CLI
    app = renewal_app(business="new")
    r = apply(c, app)
    n2 = r.json["number"]
    assert c.post("/api/v1/orders/%s/pay" % n2, {"method": "alipay", "amount_fen": 40000}).status == 200
    platform.ctl("approve", n2)
    platform.ctl("fulfil", n2, "1", "--csr", csr, "--out", tmp_path / "n.pem")
    assert load_pem(tmp_path / "n.pem").public_key().public_numbers() == key.public_key().public_numbers()
    platform.ctl("deliver", n2)
    assert c.get("/api/v1/orders/" + n2).json["shipping_status"] == "received"
    p = subprocess.run([CTL, "--data", platform.data], capture_output=True)
    assert p.returncode == 2
    p = platform.ctl("approve", n2, check=False)
    assert p.returncode == 1 and b"invalid_transition" in p.stderr


def test_fifty_concurrent_clients(platform):
    platform.create_account("acme")
    errors = []
    results = []
    barrier = threading.Barrier(50)

    def worker():
        try:
            c = platform.client()
            barrier.wait(timeout=30)
            r = c.call("POST", "/api/v1/session", {"account": "acme", "password": "Passw0rd!"})
            assert r.status == 201, r
            c.token = r.json["token"]
            for path in ("/api/v1/orders", "/api/v1/fees", "/api/v1/certificates"):
                assert c.get(path).status == 200
            results.append(1)
            c.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(results) == 50
