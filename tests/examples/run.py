#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The examples and the zrca command against the reference platform and SoftHSM.

    run.py BUILD_DIR TEST

Each test starts its own platform (tests/platform/zrca-platformd --demo) in a
temporary directory, and its own SoftHSM token store there, and stops and
removes them at the end, pass or fail. A test fails with a message and exit 1.
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRC = os.environ.get("ZRCA_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = "/usr/bin/python3"
SOFTHSM = os.environ.get("ZRCA_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
USER_PIN, SO_PIN = "246810", "13579-so"
CONTACT = ["--contact", "许静怡", "--mobile", "13905710000", "--email", "xu.jingyi@demo.example.com"]


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class World:
    """A platform with the demo account, a SoftHSM token, secrets in files, and the env for zrca."""

    def __init__(self, build):
        self.build = build
        self.bin = os.path.join(build, "examples")
        self.zrca_bin = os.path.join(self.bin, "bin", "zrca")
        self.tmp = tempfile.mkdtemp(prefix="zrca-examples-")
        self.data = os.path.join(self.tmp, "platform")
        self.proc = subprocess.Popen([PY, os.path.join(SRC, "tests/platform/zrca-platformd"), "--data", self.data,
                                      "--listen", "127.0.0.1:0", "--demo"], stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.tmp, "platform.log"), "w"), text=True)
        line = self.proc.stdout.readline()
        check(line, "the platform did not start: " + open(os.path.join(self.tmp, "platform.log")).read()[-2000:])
        self.info = json.loads(line)
        self.ctl("settings", "--review-retry-after", "1")
        pw, pin = os.path.join(self.tmp, "password"), os.path.join(self.tmp, "pin")
        for path, value in ((pw, "Demo-2026!"), (pin, USER_PIN)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(value + "\n")
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("ZRCA_") and k not in ("ZRCA_SOURCE_DIR", "ZRCA_BUILD_DIR"):
                del self.env[k]
        self.env.update({"ZRCA_URL": self.info["url"], "ZRCA_CA_FILE": self.info["ca_file"],
                         "ZRCA_ISSUER_CA_FILE": self.info["platform_ca_file"], "ZRCA_ACCOUNT": "demo",
                         "ZRCA_PASSWORD_FILE": pw, "ZRCA_PIN_FILE": pin,
                         "ZRCA_STATE_DIR": os.path.join(self.tmp, "state"),
                         "ZRCA_CONFIG": "",  # no configuration file of the machine or the user
                         "LD_LIBRARY_PATH": build})
        os.makedirs(os.path.join(self.tmp, "softhsm", "tokens"))
        conf = os.path.join(self.tmp, "softhsm", "softhsm2.conf")
        with open(conf, "w") as f:
            f.write("directories.tokendir = %s/softhsm/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % self.tmp)
        self.env["SOFTHSM2_CONF"] = conf
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "zrca-test", "--so-pin", SO_PIN,
                        "--pin", USER_PIN], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.env.update({"ZRCA_MODULE": SOFTHSM, "ZRCA_TOKEN_LABEL": "zrca-test"})

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def ctl(self, *args):
        r = subprocess.run([PY, os.path.join(SRC, "tests/platform/zrca-platformctl"), "--data", self.data] + list(args),
                           capture_output=True, text=True)
        check(r.returncode == 0, "zrca-platformctl %s: %s" % (" ".join(args), r.stderr))
        return json.loads(r.stdout)

    def run(self, argv, expect=0, env=None, stdin=None, timeout=120):
        e = dict(self.env)
        e.update(env or {})
        r = subprocess.run(argv, capture_output=True, text=True, env=e, input=stdin, timeout=timeout,
                           stdin=None if stdin is not None else subprocess.DEVNULL)
        if expect is not None and r.returncode != expect:
            raise Fail("%s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), r.returncode, expect, r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def zrca(self, *args, expect=0, env=None):
        return self.run([self.zrca_bin] + list(args), expect=expect, env=env)

    def zjson(self, *args, expect=0, env=None):
        r = self.zrca("--json", *args, expect=expect, env=env)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise Fail("zrca %s --json: not one JSON document: %r" % (" ".join(args), r.stdout[:500]))

    def example(self, name, *args, expect=0, env=None):
        return self.run([os.path.join(self.bin, name)] + list(args), expect=expect, env=env)

    def person_id(self, name):
        return [p["id_number"] for p in self.zjson("persons")["persons"] if p["name"] == name][0]

    def provision(self, holder="赵国栋", days=20, label=None):
        """A key on the token and a personal certificate for it from the operator, ending in `days`."""
        label = label or holder
        ent = self.zjson("login")["enterprise"]["name"]
        csr = self.path("csr-%s.der" % label)
        self.zrca("token", "provision-csr", "--key-label", label, "--subject",
                  "CN=%s,OU=技术负责人,O=%s,C=CN" % (holder, ent), "--out", csr)
        na = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime(
            "%Y-%m-%dT00:00:00Z")
        pem = self.path("cert-%s.pem" % label)
        serial = self.zjson("token", "info")["serial"]
        out = self.ctl("provision", "--account", "demo", "--kind", "personal", "--holder-name", holder,
                       "--holder-id", self.person_id(holder), "--position", "技术负责人", "--csr", csr,
                       "--not-after", na, "--key-serial", serial, "--out", pem)
        imported = self.zjson("token", "import-cert", pem)
        check(imported["serial"].lstrip("0") == out["serial"].lstrip("0"), "imported serial %s != %s" % (
            imported["serial"], out["serial"]))
        return out, pem

    def attachments(self):
        letter, scan = self.path("letter.pdf"), self.path("scan.jpg")
        with open(letter, "wb") as f:
            f.write(b"%PDF-1.4\n% commitment letter\n%%EOF\n")
        with open(scan, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9")
        return letter, scan

    def approve_later(self, number, delay=2.0, reject=None):
        def go():
            time.sleep(delay)
            if reject:
                self.ctl("reject", number, "--comment", reject)
            else:
                self.ctl("approve", number)
        t = threading.Thread(target=go)
        t.start()
        return t

    def provision_many(self, n):
        """N personal certificates of N people on the token, all due in 20 days, and a scan of each
        in scans/ (for renew --auto --scan-dir). Returns the directory of scans and the letter."""
        ent = self.zjson("login")["enterprise"]["name"]
        serial = self.zjson("token", "info")["serial"]
        letter, scan = self.attachments()
        scans = self.path("scans")
        os.makedirs(scans, exist_ok=True)
        na = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=20)).strftime(
            "%Y-%m-%dT00:00:00Z")
        for i in range(n):
            holder, pid = "测试员%02d" % i, id_number(i)
            csr, pem = self.path("csr-m%d.der" % i), self.path("cert-m%d.pem" % i)
            self.zrca("token", "provision-csr", "--key-label", "many-%d" % i, "--subject",
                      "CN=%s,OU=技术负责人,O=%s,C=CN" % (holder, ent), "--out", csr)
            self.ctl("provision", "--account", "demo", "--kind", "personal", "--holder-name", holder,
                     "--holder-id", pid, "--position", "技术负责人", "--csr", csr, "--not-after", na,
                     "--key-serial", serial, "--out", pem)
            self.zrca("token", "import-cert", pem)
            shutil.copyfile(scan, os.path.join(scans, pid + ".jpg"))
        return scans, letter


ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(i):
    """The i-th 18-digit ID card number of a made-up person, with its check digit (GB 11643)."""
    body = "330106%s%03d" % ((datetime.date(1980, 1, 1) + datetime.timedelta(days=i * 97)).strftime("%Y%m%d"),
                             i % 1000)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


# ---- the examples ---------------------------------------------------------------------------

def test_examples_seed_flow(w):
    """list_certs, apply, watch_order, update: the seed's flow with the example programs."""
    old, _ = w.provision(days=20)
    r = w.example("list_certs", "--module", SOFTHSM, "--label", "zrca-test")
    check("赵国栋" in r.stdout and "renew now" in r.stdout, "list_certs: " + r.stdout)
    letter, scan = w.attachments()
    r = w.example("apply", "赵国栋", letter, scan, "许静怡", "13905710000", "xu@example.com")
    number = r.stdout.split("order ")[1].split(":")[0]
    check(number.startswith("Ca") and len(number) == 27, "apply: " + r.stdout)
    # A broken form: every violation printed, exit 4, nothing filed.
    before = len(w.ctl("orders", "--account", "demo")["items"])
    r = w.example("apply", "林晓雯", scan, letter, "许静怡", "1390571000", "not-an-email", expect=4)
    check("contact.mobile" in r.stderr and "contact.email" in r.stderr, "apply violations: " + r.stderr)
    check(len(w.ctl("orders", "--account", "demo")["items"]) == before, "a broken form filed an order")
    t = w.approve_later(number)
    r = w.example("watch_order", number, "60")
    t.join()
    check("审核通过" in r.stdout and "SMS to 13905710000" in r.stdout, "watch_order: " + r.stdout)
    r = w.example("update", number)
    check(r.stdout.count("PIN for") == 2 and "签章更新" in r.stdout and "证书更新成功" in r.stdout,
          "update: " + r.stdout)
    info = w.zjson("token", "info")
    certs = {c["serial"]: c for c in info["certificates"]}
    check(len(certs) == 2, "two certificates on the key after the update: %s" % certs)
    new = [c for s, c in certs.items() if s.lstrip("0") != old["serial"].lstrip("0")][0]
    check(ts(new["not_after"]) - ts(old["not_after"]) == 365 * 86400, "new validity: %s" % new)
    check(new["holder"] == "赵国栋", "new holder")
    order = w.zjson("order", number)["order"]
    check(order["order_status"] == "completed", "order: %s" % order)
    # Run again: the journal answers, nothing is issued twice.
    w.example("update", number, "1")
    check(len(w.ctl("issuances", number, "1")["items"]) == 1, "issued twice")


def test_examples_watch_rejected(w):
    letter, scan = w.attachments()
    w.provision(days=20)
    r = w.example("apply", "赵国栋", letter, scan, "许静怡", "13905710000", "xu@example.com")
    number = r.stdout.split("order ")[1].split(":")[0]
    t = w.approve_later(number, reject="承诺函扫描件不清晰")
    r = w.example("watch_order", number, "60", expect=3)
    t.join()
    check("审核不通过" in r.stdout and "承诺函扫描件不清晰" in r.stdout, "watch_order: " + r.stdout)
    w.example("update", number, expect=1)


def test_examples_own_transport(w):
    letter, scan = w.attachments()
    r = w.example("own_transport")
    check("江南示范燃气工程有限公司" in r.stdout, r.stdout)
    n = int(r.stdout.split("transport: ")[1].split(" exchanges")[0])
    check(n >= 4, "exchanges: %d" % n)  # login (with the role), the reads, logout
    # Multipart, streamed from the files: 林晓雯's certificate ends within 30 days in the demo data.
    r = w.example("own_transport", "林晓雯", letter, scan, "13905710000")
    number = r.stdout.split("order ")[1].split(" ")[0]
    shown = w.ctl("show", number)
    check(shown["review_status"] == "not_reviewed", "filed: %s" % shown)
    # TLS is verified: another CA is refused.
    r = w.example("own_transport", expect=1, env={"ZRCA_CA_FILE": w.info["platform_ca_file"]})
    check("ZRCA_" in r.stderr, r.stderr)


def test_examples_bid_guard(w):
    old, pem = w.provision(days=20)
    letter, scan = w.attachments()
    bid = w.path("bid.pdf")
    with open(bid, "wb") as f:
        f.write(b"%PDF-1.4 bid for tender ZB-2026-001\n")
    soon = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    later = (datetime.date.today() + datetime.timedelta(days=40)).isoformat()
    args = [letter, "许静怡", "13905710000", "xu@example.com", scan]
    r = w.example("bid_guard", bid, soon, *args)
    check("signed" in r.stdout, r.stdout)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    cert = x509.load_pem_x509_certificate(open(pem, "rb").read())
    cert.public_key().verify(open(bid + ".sig", "rb").read(), open(bid, "rb").read(), ec.ECDSA(hashes.SHA256()))
    os.unlink(bid + ".sig")
    r = w.example("bid_guard", bid, later, *args, expect=3)
    check("not signing" in r.stdout and "renewal filed: order Ca" in r.stdout, r.stdout)
    check(not os.path.exists(bid + ".sig"), "signed although the certificate ends before the deadline")
    number = r.stdout.split("order ")[1].split(" ")[0]
    items = w.ctl("show", number)["items"]
    check(len(items) == 1 and items[0]["holder"] == "赵国栋", "renewal order: %s" % items)
    # Already in an open renewal: nothing more to file.
    w.example("bid_guard", bid, later, *args, expect=1)


# ---- zrca ------------------------------------------------------------------------------------

def test_zrca_renew_auto(w):
    letter, scan = w.attachments()
    common = ["--letter", letter, "--scan", "赵国栋=" + scan] + CONTACT
    # Nothing to renew on the key: success, and the JSON says so.
    w.provision(days=200)
    d = w.zjson("renew", "--auto", "--window-days", "30", *common)
    check(d["ok"] is True and d["nothing_to_renew"] is True and d["certificates"] == [] and d["order"] is None,
          "nothing to renew: %s" % d)
    r = w.zrca("renew", "--auto", "--window-days", "30", *common)
    check("没有需要续期的证书" in r.stdout, r.stdout)
    # A due certificate: the dry run plans it and files nothing.
    old, _ = w.provision(days=20, label="due")
    before = len(w.ctl("orders", "--account", "demo")["items"])
    d = w.zjson("renew", "--auto", "--dry-run", "--window-days", "30", *common)
    check(d["nothing_to_renew"] is False and [c["outcome"] for c in d["certificates"]] == ["planned"], "%s" % d)
    check(len(w.ctl("orders", "--account", "demo")["items"]) == before, "the dry run filed an order")
    # The real thing: apply, wait for the approval, update.
    done = threading.Event()

    def approver():
        while not done.is_set():
            for o in w.ctl("orders", "--account", "demo")["items"]:
                if o["review_status"] == "not_reviewed" and o["business"] == "renewal" and \
                        o["order_status"] == "awaiting_verification" and o["number"] not in seen:
                    seen.add(o["number"])
                    w.ctl("approve", o["number"])
            time.sleep(0.5)
    seen = {o["number"] for o in w.ctl("orders", "--account", "demo")["items"]}
    t = threading.Thread(target=approver)
    t.start()
    try:
        d = w.zjson("renew", "--auto", "--window-days", "30", "--interval", "1", "--timeout", "60", *common)
    finally:
        done.set()
        t.join()
    check(d["ok"] and d["order"] and len(d["certificates"]) == 1, "%s" % d)
    c = d["certificates"][0]
    check(c["outcome"] == "updated" and c["old_serial"].lstrip("0") == old["serial"].lstrip("0"), "%s" % c)
    check(ts(c["new_not_after"]) - ts(c["old_not_after"]) == 365 * 86400, "%s" % c)
    # The e-seal the update wrote is found on the key, bound to the new certificate
    # (whatever its serial looks like: one starting with 0 once was missed).
    d = w.zjson("seal")
    seals = [x for x in d["seals"] if x["certificate_serial"] == c["new_serial"]]
    check(len(seals) == 1 and seals[0]["bound_to_certificate"] is True, "%s" % d)
    # The root alone does not reach the certificate: bound, signature unchecked; with the
    # issuing CA the library verifies the CA's signature (the serial given in another spelling).
    check(seals[0]["state"] == "no_issuer" and seals[0]["problem"], "%s" % d)
    issuing = os.path.join(os.path.dirname(w.info["platform_ca_file"]), "issuing.pem")
    d = w.zjson("seal", "--serial", "0x" + c["new_serial"].upper(), env={"ZRCA_ISSUER_CA_FILE": issuing})
    check(len(d["seals"]) == 1 and d["seals"][0]["state"] == "verified", "%s" % d)
    # And now nothing is left to renew.
    d = w.zjson("renew", "--auto", "--window-days", "30", *common)
    check(d["nothing_to_renew"] is True, "%s" % d)


def renewal_orders(w, but=()):
    return [o for o in w.ctl("orders", "--account", "demo")["items"]
            if o["business"] == "renewal" and o["number"] not in but]


def issuances(w, number, index=1):
    out = w.ctl("issuances", number, str(index))
    return out["items"] if isinstance(out, dict) else out


def test_zrca_renew_reentrant(w):
    """renew --auto run after run (issue 12): a review wait that times out exits 15 and the next run,
    after the approval, updates the key; an update killed halfway and one cut by the platform being
    down are resumed by the next run; every time exactly one order and one issuance."""
    letter, scan = w.attachments()
    common = ["--window-days", "30", "--interval", "1", "--letter", letter, "--scan", "赵国栋=" + scan] + CONTACT
    old, _ = w.provision(days=20)
    demo = {o["number"] for o in renewal_orders(w)}  # the demo account's own orders
    # 1. The review does not come in time: exit 15, the order number printed as soon as it exists.
    r = w.zrca("renew", "--auto", "--timeout", "2", *common, expect=15)
    check("续期订单 (order): Ca" in r.stdout and "审核中 (waiting for review)" in r.stdout, r.stdout)
    orders = renewal_orders(w, demo)
    check(len(orders) == 1, "%s" % orders)
    number = orders[0]["number"]
    # Still under review: the next run files nothing and says so with 15 again.
    d = w.zjson("renew", "--auto", "--timeout", "2", *common, expect=15)
    check(d["ok"] is False and d["exit"] == 15 and d["order"] is None and
          [(c["outcome"], c["order"], c["item"]) for c in d["certificates"]] == [("pending_review", number, 1)],
          "%s" % d)
    check(len(renewal_orders(w, demo)) == 1, "a second order was filed")
    # Approved later: the next run updates the key (no new order).
    w.ctl("approve", number)
    d = w.zjson("renew", "--auto", *common)
    check(d["ok"] and d["exit"] == 0 and len(d["certificates"]) == 1, "%s" % d)
    c = d["certificates"][0]
    check(c["outcome"] == "updated" and c["order"] == number and
          c["old_serial"].lstrip("0") == old["serial"].lstrip("0"), "%s" % c)
    check(len(renewal_orders(w, demo)) == 1 and len(issuances(w, number)) == 1, "orders or issuances")
    d = w.zjson("renew", "--auto", *common)
    check(d["ok"] and d["nothing_to_renew"], "%s" % d)

    # 2. Killed during an update: the next run resumes it.
    old2, _ = w.provision(days=20, label="second")
    d = w.zjson("renew", "--auto", "--no-wait", *common)
    number2 = d["order"]
    check(number2 and [c["outcome"] for c in d["certificates"]] == ["submitted"], "%s" % d)
    w.ctl("approve", number2)
    e = dict(w.env)
    p = subprocess.Popen([w.zrca_bin, "renew", "--auto"] + common, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, text=True, stdin=subprocess.DEVNULL)
    killed = False
    for line in p.stdout:
        if "(write)" in line:
            p.send_signal(signal.SIGKILL)
            killed = True
            break
    p.wait()
    p.stdout.close()
    p.stderr.close()
    check(killed, "the update never reached the write step")
    d = w.zjson("renew", "--auto", *common)
    check(d["ok"] and [(c["outcome"], c["order"]) for c in d["certificates"]] == [("resumed", number2)] and
          d["certificates"][0]["old_serial"].lstrip("0") == old2["serial"].lstrip("0") and
          d["certificates"][0]["kind"] == "personal", "%s" % d)
    check(len(renewal_orders(w, demo)) == 2 and len(issuances(w, number2)) == 1, "orders or issuances")

    # 3. The platform is down when the certificate is issued: the next run finishes.
    w.provision(days=20, label="third")
    number3 = w.zjson("renew", "--auto", "--no-wait", *common)["order"]
    w.ctl("approve", number3)
    w.ctl("fault", "items.issue", "drop_before", "--count", "50")
    d = w.zjson("renew", "--auto", *common, expect=5)
    check(d["exit"] == 5 and d["certificates"][0]["outcome"] == "failed", "%s" % d)
    w.ctl("faults", "--clear")
    d = w.zjson("renew", "--auto", *common)
    check(d["ok"] and [c["outcome"] for c in d["certificates"]] == ["resumed"], "%s" % d)
    check(len(renewal_orders(w, demo)) == 3 and len(issuances(w, number3)) == 1, "orders or issuances")
    check(all(o["order_status"] == "completed" for o in renewal_orders(w, demo)), "%s" % renewal_orders(w, demo))


def renew_counted(w, n):
    """renew --auto updating n approved certificates, on SoftHSM through tests/support/p11count.c:
    the PKCS#11 calls of that run."""
    scans, letter = w.provision_many(n)
    filed = w.zjson("renew", "--auto", "--no-wait", "--window-days", "30", "--letter", letter,
                    "--scan-dir", scans, *CONTACT)
    check(filed["order"] and len(filed["certificates"]) == n, "%s" % filed)
    w.ctl("approve", filed["order"])
    out = w.path("p11count.json")
    env = {"ZRCA_MODULE": os.path.abspath(os.path.join(w.build, "tests", "p11count.so")), "P11COUNT_MODULE": SOFTHSM,
           "P11COUNT_OUT": out}
    d = w.zjson("renew", "--auto", "--window-days", "30", "--letter", letter, "--scan-dir", scans, *CONTACT,
                env=env)
    check([c["outcome"] for c in d["certificates"]] == ["updated"] * n, "%s" % d)
    with open(out) as f:
        return json.load(f)


def test_zrca_renew_once(w):
    """Issue 12, item 5: a run reads the token's objects once, whatever the number of certificates
    it updates. Counted in PKCS#11 calls, not timed: the searches, the objects they return and the
    attribute reads per certificate updated must not grow from 2 certificates to 6, and the PIN is
    asked for as often for 6 as for 2 (its two logins, certificate and e-seal, once per run)."""
    small = renew_counted(w, 2)
    big_world = World(w.build)
    try:
        big = renew_counted(big_world, 6)
    finally:
        big_world.close()
    print("PKCS#11 calls of a run, 2 certificates: %s; 6: %s" % (small, big))
    for what in ("find_inits", "found", "get_attributes"):
        check(big[what] / 6 <= small[what] / 2,
              "%s per certificate grew from %.1f (2 certificates) to %.1f (6)" % (
                  what, small[what] / 2, big[what] / 6))
    # Issue 14: an object found is read in one call (a certificate) or two (a key), not one per
    # attribute (6.2 reads per object found before).
    for counts in (small, big):
        check(counts["get_attributes"] <= 3 * counts["found"],
              "%d attribute reads for %d objects found" % (counts["get_attributes"], counts["found"]))
    check(big["logins"] == small["logins"] <= 2, "logins: %d for 2 certificates, %d for 6" % (
        small["logins"], big["logins"]))
    check(big["writes"] / 6 == small["writes"] / 2, "writes per certificate: %s vs %s" % (small, big))


def test_zrca_renew_concurrent(w):
    """Two renew --auto at once file one order: the second waits for the run lock (--lock-wait), or
    says clearly that another run holds it (exit 9); a rejected order exits 16 and runs the notify
    hook; an approved one runs the deploy hook with the documented variables."""
    letter, scan = w.attachments()
    common = ["--window-days", "30", "--interval", "1", "--letter", letter, "--scan", "赵国栋=" + scan] + CONTACT
    old, _ = w.provision(days=20)
    demo = {o["number"] for o in renewal_orders(w)}  # the demo account's own orders
    e = dict(w.env)
    first = subprocess.Popen([w.zrca_bin, "--json", "renew", "--auto", "--timeout", "4"] + common,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True,
                             stdin=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not renewal_orders(w, demo) and time.time() < deadline:
        time.sleep(0.2)
    r = w.zrca("renew", "--auto", *common, expect=9)
    check("another renew run of account demo is running" in r.stderr, r.stderr)
    d = w.zjson("renew", "--auto", "--lock-wait", "60", *common, expect=15)
    out, err = first.communicate(timeout=60)
    check(first.returncode == 15, "first run: %d %s %s" % (first.returncode, out, err))
    check([c["outcome"] for c in d["certificates"]] == ["pending_review"], "%s" % d)
    orders = renewal_orders(w, demo)
    check(len(orders) == 1, "two runs filed %d orders" % len(orders))
    number = orders[0]["number"]
    # Rejected: a person must act (16), the notify hook says so.
    w.ctl("reject", number, "--comment", "承诺函不清晰")
    env_out = w.path("hook.env")
    hook = "env | grep ^ZRCA_HOOK_ | sort > %s; env | grep -c '^ZRCA_PIN=\\|^ZRCA_PASSWORD=' >> %s; true" % (
        env_out, env_out)
    secrets = {"ZRCA_PIN": USER_PIN, "ZRCA_PASSWORD": "Demo-2026!"}  # never handed to a hook
    r = w.zrca("renew", "--auto", "--notify-hook", hook, *common, expect=16, env=secrets)
    check("需人工处理" in r.stdout and "承诺函不清晰" in r.stdout, r.stdout)
    lines = open(env_out).read().split("\n")
    check("ZRCA_HOOK_OUTCOME=action_needed" in lines and "ZRCA_HOOK_ORDER=" + number in lines and
          "ZRCA_HOOK_HOLDER=赵国栋" in lines and "0" in lines and
          any(l.startswith("ZRCA_HOOK_MESSAGE=the order was rejected") for l in lines), "%s" % lines)
    # Edited and resubmitted by a person, approved: the deploy hook runs once with the new certificate.
    w.zjson("order", number, "--resubmit")
    w.ctl("approve", number)
    os.unlink(env_out)
    d = w.zjson("renew", "--auto", "--quiet", "--deploy-hook", hook, *common, env=secrets)
    c = d["certificates"][0]
    check(d["ok"] and c["outcome"] == "updated", "%s" % d)
    lines = open(env_out).read().split("\n")
    uri = w.zjson("token", "info")["uri"]
    for want in ("ZRCA_HOOK_OUTCOME=updated", "ZRCA_HOOK_HOLDER=赵国栋", "ZRCA_HOOK_KIND=personal",
                 "ZRCA_HOOK_OLD_SERIAL=" + c["old_serial"], "ZRCA_HOOK_SERIAL=" + c["new_serial"],
                 "ZRCA_HOOK_NOT_AFTER=" + c["new_not_after"], "ZRCA_HOOK_ORDER=" + number,
                 "ZRCA_HOOK_ITEM=1", "ZRCA_HOOK_TOKEN_URI=" + uri, "0"):
        check(want in lines, "%s not in %s" % (want, lines))
    # --quiet: nothing on stdout.
    r = w.zrca("renew", "--auto", "--quiet", *common)
    check(r.stdout == "", repr(r.stdout))


def test_zrca_systemd_units(build):
    """The systemd service and timer (examples/zrca/systemd) pass systemd-analyze verify without a
    single warning, with ExecStart on the zrca just built; the service is hardened; the cron line is
    one line that runs zrca renew --auto."""
    sa = shutil.which("systemd-analyze")
    if not sa:
        print("SKIP: no systemd-analyze (Debian package systemd)")
        raise SystemExit(77)
    src = os.path.join(SRC, "examples", "zrca", "systemd")
    tmp = tempfile.mkdtemp(prefix="zrca-units-")
    try:
        with open(os.path.join(src, "zrca-renew.service.in")) as f:
            service = f.read().replace("@ZRCA_BINDIR@", os.path.abspath(os.path.join(build, "examples", "bin")))
        with open(os.path.join(tmp, "zrca-renew.service"), "w") as f:
            f.write(service)
        shutil.copy(os.path.join(src, "zrca-renew.timer"), tmp)
        units = [os.path.join(tmp, u) for u in ("zrca-renew.service", "zrca-renew.timer")]
        r = subprocess.run([sa, "verify", "--man=no"] + units, capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "",
              "systemd-analyze verify: %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
        for want in ("RandomizedDelaySec=", "Persistent=true"):
            check(want in open(units[1]).read(), want)
        for want in ("LoadCredential=password:", "LoadCredential=pin:", "%d/password", "%d/pin",
                     "SuccessExitStatus=15 16", "NoNewPrivileges=yes", "ProtectSystem=strict"):
            check(want in service, want)
        check("ZRCA_PIN=" not in service and "ZRCA_PASSWORD=" not in service, "a secret in the unit")
        r = subprocess.run([sa, "security", "--offline=yes", units[0]], capture_output=True, text=True)
        if r.returncode == 0 or "exposure level" in r.stdout:
            level = float(r.stdout.rsplit("exposure level for zrca-renew.service:", 1)[1].split()[0])
            check(level <= 3.0, "exposure %.1f" % level)
        cron = [l for l in open(os.path.join(src, "zrca-renew.cron")) if l.strip() and not l.startswith("#")]
        check(cron[0].startswith("SHELL=") and len(cron) == 2 and "renew --auto" in cron[1], "%s" % cron)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_zrca_config(w):
    """Configuration files (man zrca, CONFIGURATION): every long option as a key, [COMMAND]
    sections; the command line wins over the environment, which wins over the user's file, which
    wins over the system's; a bad file is an error naming the file, the line and the key."""
    letter, scan = w.attachments()
    w.provision(days=20)
    conf = w.path("zrca.conf")

    def write(text):
        with open(conf, "w") as f:
            f.write(text)
    use = {"ZRCA_CONFIG": conf}
    # Errors name the file, the line and the key; nothing runs.
    for text, words in (("# fleet\n\nwindw-days = 3\n", ["zrca.conf:3", "unknown key 'windw-days'"]),
                        ("[renew]\nwindow-days = many\n", ["zrca.conf:2", "key 'window-days'", "many"]),
                        ("json = yes\n", ["zrca.conf:1", "key 'json'", "command line only"]),
                        ("include-absent = maybe\n", ["zrca.conf:1", "key 'include-absent'", "yes or no"]),
                        ("[renw]\n", ["zrca.conf:1", "not a section"]),
                        ("url\n", ["zrca.conf:1", "not 'key = value'"])):
        write(text)
        r = w.zrca("renew", "--auto", "--dry-run", env=use, expect=2)
        check(all(x in r.stderr for x in words), "%r: %s" % (text, r.stderr))
    d = w.zjson("renew", "--auto", "--dry-run", env=use, expect=2)
    check(d["error"]["kind"] == "usage" and "zrca.conf:1" in d["error"]["message"], "%s" % d)
    check("cannot read" in w.zrca("certs", env={"ZRCA_CONFIG": w.path("none.conf")}, expect=2).stderr, "missing")
    # What renew --auto needs, from the file: a plan of one certificate (a dry run).
    write("# the fleet's settings\naccount = demo\n[renew]\nwindow-days = 30\nletter = %s\nscan = 赵国栋=%s\n"
          "contact = 许静怡\nmobile = '13905710000'\nemail = \"xu.jingyi@demo.example.com\"\n"
          "include-absent = no\n[certs]\nkind = personal\n" % (letter, scan))
    d = w.zjson("renew", "--auto", "--dry-run", env=use)
    check(d["ok"] and [c["outcome"] for c in d["certificates"]] == ["planned"], "%s" % d)
    # A key of another command's section is not read: certs --kind personal comes from [certs].
    kinds = {c["kind"] for c in w.zjson("certs", env=use)["certificates"]}
    check(kinds == {"personal"}, "%s" % kinds)
    # The command line wins over the file.
    d = w.zjson("renew", "--auto", "--dry-run", "--window-days", "5", env=use)
    check(d["nothing_to_renew"], "%s" % d)
    # The environment wins over the file; the file over nothing.
    write("account = nobody\n")
    w.zjson("login", env=use)                                            # ZRCA_ACCOUNT=demo
    w.zjson("login", env=dict(use, ZRCA_ACCOUNT=""), expect=3)          # the file's: nobody
    w.zjson("login", "--account", "demo", env=dict(use, ZRCA_ACCOUNT=""))
    # Without ZRCA_CONFIG: the user's file ($XDG_CONFIG_HOME/zrca/config) is read.
    xdg = w.path("xdg")
    os.makedirs(os.path.join(xdg, "zrca"))
    with open(os.path.join(xdg, "zrca", "config"), "w") as f:
        f.write("[certs]\nkind = org\n")
    env = dict(w.env)
    del env["ZRCA_CONFIG"]
    env["XDG_CONFIG_HOME"] = xdg
    r = subprocess.run([w.zrca_bin, "--json", "certs"], env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    check(r.returncode == 0, r.stderr)
    kinds = {c["kind"] for c in json.loads(r.stdout)["certificates"]}
    check(kinds == {"org"}, "%s" % kinds)


def test_zrca_exit_codes(w):
    letter, scan = w.attachments()
    # 2: usage.
    w.zrca(expect=2)
    w.zrca("frobnicate", expect=2)
    w.zrca("update", "--status", "valid", "X", expect=2)
    w.zrca("login", expect=2, env={"ZRCA_URL": ""})
    d = w.zjson("certs", "--kind", "nonsense", expect=2)
    check(d["ok"] is False and d["exit"] == 2 and d["error"]["kind"] == "usage", "%s" % d)
    # 2: no secret and no terminal to ask on (stdin is not a terminal, there is no /dev/tty in ctest).
    r = w.run(["setsid", "-w", w.zrca_bin, "login"], expect=2, env={"ZRCA_PASSWORD_FILE": ""})
    check("no terminal" in r.stderr, r.stderr)
    # 3: wrong password.
    bad = w.path("badpw")
    with open(bad, "w") as f:
        f.write("wrong-password\n")
    d = w.zjson("login", expect=3, env={"ZRCA_PASSWORD_FILE": bad})
    check(d["error"]["status"] == "ZRCA_EAUTH", "%s" % d)
    # The password from the environment works too.
    d = w.zjson("login", env={"ZRCA_PASSWORD_FILE": "", "ZRCA_PASSWORD": "Demo-2026!"})
    check(d["account"] == "demo" and d["role"] == "tenderer", "%s" % d)
    # 4: a form that breaks rules: every violation, nothing sent.
    d = w.zjson("apply", "--person", "林晓雯", "--letter", scan, "--contact", "许静怡", "--mobile", "123",
                "--email", "x", expect=4)
    fields = {v["field"] for v in d["error"]["violations"]}
    check({"contact.mobile", "contact.email", "persons[0].id_scan"} <= fields, "violations: %s" % fields)
    # 8: no such order.
    w.zjson("order", "Ca2020010100000000000000000", expect=8)
    # A good application, then 9: nothing to update before the review.
    w.provision(days=20)
    d = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)
    number = d["order"]["number"]
    check(d["order"]["review_status"] == "not_reviewed", "%s" % d)
    w.zjson("update", number, expect=9)
    # 11: the wait runs out of time.
    w.zjson("order", number, "--wait", "--timeout", "2", expect=11)
    # 10: rejected while waiting.
    t = w.approve_later(number, delay=1, reject="身份证扫描件不清晰")
    d = w.zjson("order", number, "--wait", "--timeout", "60", expect=10)
    t.join()
    check(d["met"] == "rejected" and d["order"]["review_comment"] == "身份证扫描件不清晰", "%s" % d)
    check(any("审核" in n["text"] for n in d["notifications"]), "the SMS of the rejection: %s" % d)
    # 6: a wrong PIN, never retried, tries left reported when known.
    wrong = w.path("wrongpin")
    with open(wrong, "w") as f:
        f.write("000000\n")
    d = w.zjson("token", "keygen", "--key-label", "x", expect=6, env={"ZRCA_PIN_FILE": wrong})
    check(d["error"]["status"] == "ZRCA_EPIN_INCORRECT", "%s" % d)
    # 7: no such token.
    w.zjson("token", "info", expect=7, env={"ZRCA_TOKEN_LABEL": "no-such-key"})
    # 2: a PIN file that cannot be read (empty).
    empty = w.path("empty")
    open(empty, "w").close()
    w.zrca("token", "keygen", "--key-label", "x", expect=2, env={"ZRCA_PIN_FILE": empty})


def test_zrca_conventions(w):
    """--version, zrca help, zrca help CMD and CMD --help for every command; text from a hostile platform
    cannot draw on the terminal (control characters escaped), while --json keeps it exact."""
    r = w.zrca("--version")
    check(r.stdout.startswith("zrca (libzrca ") and r.stdout == w.zrca("version").stdout, r.stdout)
    check(json.loads(w.zrca("--json", "--version").stdout)["ok"] is True, "--json --version")
    listed = w.zrca("help").stdout
    commands = [l.split()[0] for l in listed.split("commands:\n")[1].split("\n\n")[0].splitlines()]
    check(len(commands) >= 12 and "update" in commands and "14 held" in listed, listed)
    for cmd in commands:
        a = w.zrca("help", cmd).stdout
        b = w.zrca(cmd, "--help").stdout
        check(a == b and a.startswith("usage: zrca [options] %s" % cmd) and "--help" in a,
              "help %s: %r / %r" % (cmd, a[:200], b[:200]))
    check("--abort" in w.zrca("help", "update").stdout and "--abort" not in w.zrca("help", "certs").stdout,
          "per-command options")
    w.zrca("help", "nope", expect=2)
    # A bare --key is `login --key` only for the login command, not when "login" is an option's value
    r = w.zrca("--account", "login", "update", "Ca2020010100000000000000000", "--key", expect=2)
    check("needs a value" in r.stderr, r.stderr)
    # A hostile review comment: ESC sequences, a bell, a C1 CSI.
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    evil = "清\x1b[2J\x1b]0;pwned\x07晰\u009b31m \u202e已批准\u202c \u2066x\u2069 — 完…"
    w.ctl("reject", number, "--comment", evil)
    out = w.zrca("order", number).stdout
    check("\x1b" not in out and "\x07" not in out and "\u009b" not in out, "raw controls reached the terminal: %r" % out)
    check("\\x1b[2J" in out and "\\u009b" in out and "清" in out and "晰" in out, "escapes: %r" % out)
    # bidirectional overrides and isolates escaped too; other U+20xx (dash, ellipsis) kept as they are
    check(not any(c in out for c in "\u202e\u202c\u2066\u2069"), "bidi controls reached the terminal: %r" % out)
    check("\\u202e" in out and "\\u2069" in out and "— 完…" in out, "bidi escapes: %r" % out)
    d = w.zjson("order", number)
    check(d["order"]["review_comment"] == evil, "JSON keeps the text exact: %r" % d["order"]["review_comment"])


def test_zrca_prompt_signals(w):
    """A signal in the middle of a no-echo prompt (Ctrl-C, Ctrl-\\, hang-up, kill) puts the terminal
    back as it was: echo on again, and the program ends by that signal."""
    import pty
    import select
    import termios
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
        e = dict(w.env)
        e.update({"ZRCA_PASSWORD_FILE": "", "ZRCA_PASSWORD": ""})
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(w.zrca_bin, [w.zrca_bin, "login"], e)
            finally:
                os._exit(127)
        out = b""
        try:
            while not out.rstrip().endswith(b":"):
                check(select.select([fd], [], [], 30)[0], "no prompt: %r" % out)
                out += os.read(fd, 4096)
            check(not termios.tcgetattr(fd)[3] & termios.ECHO, "echo is on during the prompt")
            os.kill(pid, sig)
            status = reap(pid, 10)
            check(os.waitstatus_to_exitcode(status) == -sig, "ended by %s: %r" % (sig, status))
            check(termios.tcgetattr(fd)[3] & termios.ECHO, "echo left off after %s" % sig.name)
        finally:
            os.close(fd)


def test_zrca_completion_verbose(w):
    """bash completion completes commands, a command's options and token subcommands from the program
    itself; -v shows what the library does with the key (module, login, objects), -vv its debug lines,
    never the PIN."""
    comp = os.path.join(SRC, "examples", "zrca", "completion", "zrca.bash")
    script = ('source "%s"; complete() { :; }; '
              'for line in "zrca up" "zrca update --ab" "zrca token k" "zrca help ren" "zrca --ver"; do '
              'read -ra COMP_WORDS <<< "$line"; COMP_WORDS[0]=%s; COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
              '_zrca; echo "${COMPREPLY[*]}"; done' % (comp, w.zrca_bin))
    r = w.run(["bash", "-c", script])
    check(r.stdout.split("\n")[:5] == ["update", "--abort", "keygen", "renew", "--version --verbose"], repr(r.stdout))
    if shutil.which("zsh"):
        w.run(["zsh", "-n", os.path.join(SRC, "examples", "zrca", "completion", "_zrca")])
    quiet = w.zrca("token", "info")
    check(quiet.stderr == "", "no -v, no log: %r" % quiet.stderr)
    v = w.zrca("-v", "token", "keygen", "--key-label", "verbose-test")
    check("token: opened token 'zrca-test'" in v.stderr and "before login" in v.stderr
          and "labelled 'verbose-test'" in v.stderr and "[debug]" not in v.stderr, v.stderr)
    vv = w.zrca("-v", "-v", "token", "info")
    check("[debug] pkcs11: loaded PKCS#11 module" in vv.stderr, vv.stderr)
    check(USER_PIN not in v.stderr + vv.stderr, "the PIN was logged")


def test_zrca_json_schema(w):
    """Every command's --json document, success and failure, validates against doc/zrca-json.schema.json:
    one envelope (schema, command, ok), one error shape, each command's members."""
    import jsonschema
    with open(os.path.join(SRC, "doc", "zrca-json.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    seen = set()

    def valid(*args, expect=0, env=None):
        r = w.zrca("--json", *args, expect=expect, env=env)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            raise Fail("zrca --json %s: not one JSON document: %r" % (" ".join(args), r.stdout[:300]))
        whole = dict(schema)
        if doc.get("ok") and doc.get("command") in schema["$defs"]:
            whole = {"$defs": schema["$defs"], "allOf": schema["allOf"] + [{"$ref": "#/$defs/" + doc["command"]}]}
        try:
            jsonschema.validate(doc, whole, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as e:
            raise Fail("zrca --json %s: %s\n%s" % (" ".join(args), e.message, r.stdout[:800]))
        seen.add((doc["command"], doc["ok"]))
        return doc

    w.provision(days=20)
    letter, scan = w.attachments()
    for cmd in ("login", "certs", "persons", "notifications", "orders", "seal", "version"):
        valid(cmd)
    d = valid("login", "--key")                          # 证书登录: method and the bound certificate
    check(d["method"] == "certificate" and d["certificate"]["holder"] == "赵国栋", "%s" % d)
    valid("login", "--key", "--serial", "0badc0de", expect=8)
    valid("token", "list")
    valid("token", "info")
    valid("renew", "--auto", "--dry-run", "--letter", letter, *CONTACT, expect=4)   # no ID scan
    valid("renew", "--auto", "--dry-run", "--letter", letter, "--scan", "赵国栋=" + scan, *CONTACT)
    d = valid("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)
    number = d["order"]["number"]
    valid("order", number)
    valid("update", number, expect=9)                   # not approved yet: the error shape
    valid("update", number, "--abort", expect=8)
    valid("apply", "--person", "赵国栋", "--letter", scan, *CONTACT, expect=4)
    valid("order", "Ca2020010100000000000000000", expect=8)
    valid("certs", "--kind", "nonsense", expect=2)
    valid("token", "info", expect=7, env={"ZRCA_TOKEN_LABEL": "no-such-key"})
    by_payment = {o["payment_status"]: o["number"] for o in w.zjson("orders")["orders"]}
    valid("receipt", by_payment["unpaid"], "--out", w.path("r.pdf"), expect=9)
    valid("receipt", by_payment["paid"], "--out", w.path("r.pdf"))
    w.ctl("approve", number)
    valid("update", number)
    valid("update", number, "--abort", expect=9)
    # renew --auto waiting for the review (exit 15): the error shape beside the certificates.
    w.provision(days=20, label="late")
    valid("renew", "--auto", "--timeout", "1", "--window-days", "30", "--letter", letter, "--scan",
          "赵国栋=" + scan, *CONTACT, expect=15)
    check({("update", True), ("update", False), ("certs", True), ("token info", False),
           ("renew", False)} <= seen, "%s" % seen)


def test_zrca_update_reads_once(w):
    """Issue 14, item 2: one zrca update reads the token's objects once (again after each login and
    logout), not once per step. Counted in PKCS#11 calls through tests/support/p11count.c, not
    timed: the command's own listing before the update, then the update's reads after its
    logins: 11 searches, 26 attribute reads (19 and 152 before)."""
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    w.ctl("approve", number)
    out = w.path("p11count-update.json")
    env = {"ZRCA_MODULE": os.path.abspath(os.path.join(w.build, "tests", "p11count.so")), "P11COUNT_MODULE": SOFTHSM,
           "P11COUNT_OUT": out}
    r = w.zrca("update", number, env=env)
    check("证书更新成功" in r.stdout, r.stdout)
    with open(out) as f:
        c = json.load(f)
    print("PKCS#11 calls of one update: %s" % c)
    check(c["logins"] == 2, "%s" % c)
    check(c["find_inits"] <= 12, "%d searches for one update" % c["find_inits"])
    check(c["get_attributes"] <= 3 * c["found"] + 8,
          "%d attribute reads for %d objects found" % (c["get_attributes"], c["found"]))


def test_zrca_update_held(w):
    """zrca update against a faulty issuer: held (exit 14), abort refused and truthful, the operator's
    way out, then the update finishes; abort after the end and with nothing to abort exits non-zero."""
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    # Nothing to abort yet: exit 8, not a false "aborted".
    d = w.zjson("update", number, "--abort", expect=8)
    check(d["ok"] is False and "nothing to abort" in d["error"]["message"], "%s" % d)
    w.ctl("approve", number)
    w.ctl("issuer-fault", "ca_true", "--mode", "recorded")
    r = w.zrca("update", number, expect=14)
    check("re-issue or release item 1" in r.stderr, r.stderr)
    d = w.zjson("update", number, expect=14)
    check(d["error"]["status"] == "ZRCA_EHELD" and d["error"]["rule"] == "end_entity"
          and d["error"]["kind"] == "held", "%s" % d)
    info = w.zjson("token", "info")
    check(len(info["certificates"]) == 1, "a refused certificate reached the key: %s" % info)
    # The platform certified the staged key: abort refuses and removes nothing.
    r = w.zrca("update", number, "--abort", expect=9)
    check("nothing was removed" in r.stderr, r.stderr)
    # The operator fixes issuance and re-issues: the same command finishes.
    w.ctl("issuer-fault", "--clear")
    w.ctl("reissue", number, "1")
    r = w.zrca("update", number)
    check("证书更新成功" in r.stdout, r.stdout)
    check(w.zjson("order", number)["order"]["order_status"] == "completed", "order not completed")
    # Finished: abort has nothing to abort and says so with a non-zero exit.
    r = w.zrca("update", number, "--abort", expect=9)
    check("nothing to abort" in r.stderr, r.stderr)


def test_zrca_update_resume_confirmed(w):
    """A single-item order stopped after the confirm: 'zrca update ORDER' resumes it (its journal), as
    its own hint says; --abort then refuses (the new certificate is the holder's)."""
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    w.ctl("approve", number)
    # The confirm lands but its answer (which carries the seal, doc/protocol.md §10.5) is lost.
    w.ctl("fault", "items.confirm", "drop_after", "--count", "50")
    r = w.zrca("update", number, expect=5)
    check("run 'zrca update %s' again" % number in r.stderr, r.stderr)
    check(w.zjson("order", number)["order"]["order_status"] == "completed", "the confirm did not land")
    r = w.zrca("update", number, "--abort", expect=9)
    check("resume the update" in r.stderr and "nothing was removed" in r.stderr, r.stderr)
    w.ctl("faults", "--clear")
    d = w.zjson("update", number)
    check(d["ok"] and d["items"][0]["index"] == 1 and d["items"][0]["seal_id"], "%s" % d)


def test_zrca_update_abort_reports(w):
    """--abort of an update stopped after the key was made: removes the staged key and the journal and
    says so (JSON too)."""
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    w.ctl("approve", number)
    # The platform is down when the issue is sent: the key is made, nothing issued.
    w.ctl("fault", "items.issue", "drop_before", "--count", "50")
    w.zrca("update", number, expect=5)
    w.ctl("faults", "--clear")
    d = w.zjson("update", number, "--abort")
    check(d["ok"] and d["aborted"] == [{"index": 1, "journal": True, "staged_key": True,
                                         "staged_certificate": False}], "%s" % d)
    info = w.zjson("token", "info")
    check(len(info["certificates"]) == 1, "%s" % info)
    w.zjson("update", number, "--abort", expect=8)
    d = w.zjson("update", number)
    check(d["ok"], "%s" % d)


def on_terminal(w, argv, answers, env):
    """Run argv on a new pseudo-terminal (its controlling tty); answer each prompt in turn."""
    import pty
    e = dict(w.env)
    e.update(env)
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, e)
        finally:
            os._exit(127)
    import select
    out, pending, answered = b"", list(answers), 0
    try:
        while True:
            if not select.select([fd], [], [], 30)[0]:
                raise Fail("%s: no output for 30 s after:\n%s" % (" ".join(argv), out.decode(errors="replace")))
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            # Answer a new prompt only: the terminal drops input typed before the prompt (TCSAFLUSH).
            if pending and out[answered:].strip() and out.rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                answered = len(out)
    finally:
        os.close(fd)
        status = reap(pid, 10)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def reap(pid, seconds):
    """The exit status of pid; killed (and a failure) if it has not ended within `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise Fail("pid %d did not end" % pid)


def test_zrca_prompts(w):
    """No secret in a file or the environment: asked on the terminal, without echo."""
    no_files = {"ZRCA_PASSWORD_FILE": "", "ZRCA_PIN_FILE": ""}
    rc, out = on_terminal(w, [w.zrca_bin, "login"], ["Demo-2026!"], no_files)
    check(rc == 0 and "账号 demo 的密码" in out and "登录成功" in out, "login on a terminal: %d %s" % (rc, out))
    check("Demo-2026!" not in out, "the password was echoed: " + out)
    rc, out = on_terminal(w, [w.zrca_bin, "token", "keygen", "--key-label", "t"], [USER_PIN], no_files)
    check(rc == 0 and "天威盾口令" in out and "密钥已生成" in out, "PIN on a terminal: %d %s" % (rc, out))
    check(USER_PIN not in out, "the PIN was echoed: " + out)
    # A new PIN is asked twice; two different entries are refused.
    rc, out = on_terminal(w, [w.zrca_bin, "token", "change-pin"], [USER_PIN, "111111", "222222"], no_files)
    check(rc == 2 and "differ" in out, "mismatched new PIN: %d %s" % (rc, out))
    # End of input at a prompt: cancelled (13).
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        e = dict(w.env, **no_files)
        os.execve(w.zrca_bin, [w.zrca_bin, "login"], e)
    import select
    out = b""
    try:
        while not out.rstrip().endswith(b":"):
            if not select.select([fd], [], [], 30)[0]:
                raise Fail("no password prompt: %r" % out)
            out += os.read(fd, 4096)
        os.write(fd, b"\x04")  # ^D on an empty line
        try:
            while select.select([fd], [], [], 30)[0] and os.read(fd, 4096):
                pass
        except OSError:
            pass
    finally:
        os.close(fd)
        status = reap(pid, 10)
    check(os.waitstatus_to_exitcode(status) == 13, "^D at the password prompt: %d" % os.waitstatus_to_exitcode(status))


def test_zrca_json(w):
    """Every command's --json output is one JSON document with the documented members."""
    d = w.zjson("version")
    check(d["version"].count(".") == 2, "%s" % d)
    d = w.zjson("login")
    check(d["enterprise"]["name"] == "江南示范燃气工程有限公司" and d["role_label"] == "招标人", "%s" % d)
    d = w.zjson("certs")
    check(len(d["certificates"]) >= 5 and all("not_after" in c and "status" in c for c in d["certificates"]), "%s" % d)
    d = w.zjson("certs", "--kind", "org", "--status", "valid")
    check(all(c["kind"] == "org" and c["status"] == "valid" for c in d["certificates"]), "%s" % d)
    d = w.zjson("persons")
    check({"林晓雯", "赵国栋"} <= {p["name"] for p in d["persons"]}, "%s" % d)
    d = w.zjson("notifications")
    check(len(d["notifications"]) >= 1, "%s" % d)
    d = w.zjson("orders")
    check(len(d["orders"]) == 8, "the demo's 8 orders: %d" % len(d["orders"]))
    review = {o["review_status"] for o in d["orders"]}
    check(review == {"approved", "not_reviewed", "rejected"}, "%s" % review)
    d = w.zjson("orders", "--business", "new")
    check(all(o["business"] == "new" for o in d["orders"]) and d["orders"], "%s" % d)
    issuance = [o for o in w.zjson("orders")["orders"] if o["order_status"] == "awaiting_issuance"][0]
    d = w.zjson("order", issuance["number"])
    check([i["actions"] for i in d["order"]["items"]] == [["view", "update"]] * 2, "%s" % d)
    d = w.zjson("token", "list")
    check(d["count"] == 1 and d["tokens"][0]["label"] == "zrca-test", "%s" % d)
    d = w.zjson("token", "pin")
    check(d["user_pin"]["locked"] is False and "certificates" not in d, "%s" % d)
    d = w.zjson("seal")
    check(d["seals"] == [], "%s" % d)
    w.zjson("seal", "--serial", "abcdef", expect=8)
    # Human output in the seed's words.
    r = w.zrca("orders")
    for word in ("订单号", "商品详情", "审核状态", "审核通过", "未审核", "待制证", "已完成", "已关闭"):
        check(word in r.stdout, "orders: no %s" % word)


def test_zrca_receipt(w):
    """回执打印 through the library and the command: a paid order's receipt is a PDF whose first page,
    rendered, is not blank and carries the order number; an unpaid order has none (exit 9)."""
    orders = w.zjson("orders")["orders"]
    paid = [o for o in orders if o["payment_status"] == "paid"]
    unpaid = [o for o in orders if o["payment_status"] == "unpaid"]
    check(paid and unpaid, "the demo has paid and unpaid orders: %s" % [o["payment_status"] for o in orders])
    number = paid[0]["number"]
    out = w.path("receipt.pdf")
    d = w.zjson("receipt", number, "--out", out)
    check(d["ok"] and d["order"] == number and d["file"] == out, "%s" % d)
    data = open(out, "rb").read()
    check(data.startswith(b"%PDF-") and len(data) == d["bytes"], "not the PDF: %r" % data[:20])
    text = subprocess.run(["pdftotext", "-layout", out, "-"], check=True, capture_output=True).stdout.decode()
    check(number in text and "业务回执" in text and "合计金额" in text, text)
    png = w.path("page")
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "30", "-gray", out, png], check=True)
    pgm = [f for f in os.listdir(os.path.dirname(png)) if f.startswith("page") and f.endswith(".pgm")]
    raw = open(os.path.join(os.path.dirname(png), pgm[0]), "rb").read()
    body = raw[raw.index(b"255\n") + 4:]
    ink = sum(1 for b in body if b < 200) / float(len(body))
    check(0.01 < ink < 0.5, "page 1 ink %.3f: blank or black" % ink)
    # Human output, and the refusals.
    r = w.zrca("receipt", number, "--out", w.path("again.pdf"))
    check("回执" in r.stdout and number in r.stdout, r.stdout)
    d = w.zjson("receipt", unpaid[0]["number"], "--out", w.path("none.pdf"), expect=9)
    check(d["ok"] is False and d["error"]["remote_code"] == "not_paid", "%s" % d)
    check(not os.path.exists(w.path("none.pdf")), "a file was written for an unpaid order")
    w.zjson("receipt", number, expect=2)                      # no --out
    # A hostile answer in place of the PDF is refused, and nothing is written.
    # (a GET is retried: the truncation must last longer than the retries)
    for kind, code in (("malformed", 5), ("truncate", 5)):
        w.ctl("fault", "orders.receipt", kind, "--count", "20")
        bad = w.path("bad-%s.pdf" % kind)
        d = w.zjson("receipt", number, "--out", bad, expect=code)
        check(d["ok"] is False and not os.path.exists(bad), "%s: %s" % (kind, d))
        w.ctl("faults", "--clear")
    d = w.zjson("receipt", number, "--out", out)  # and once the platform is well again
    check(d["ok"], "%s" % d)
    w.zjson("receipt", "Ca2020010100000000000000000", "--out", out, expect=8)


def id_number_of(prefix17):
    """A GB 11643 ID number: the 17 digits and their check digit."""
    return prefix17 + "10X98765432"[sum(int(d) * k for d, k in zip(prefix17, ID_WEIGHTS)) % 11]


def test_zrca_new(w):
    """新购证书 with the command, end to end on a blank SoftHSM token: zrca new, pay, approve, the update
    refused until the key is shipped and received, zrca order --receive, zrca update onto the blank key
    (certificate and e-seal), the order completed; the JSON valid against its schema's members."""
    letter, scan = w.attachments()
    holder, pid = "钱新人", id_number_of("33010619920315123")
    # A broken form is refused locally with field and rule, as apply's is; nothing filed.
    r = w.zrca("new", "--person", "%s,%s,项目经理" % (holder, pid[:17] + ("0" if pid[17] != "0" else "1")),
               "--id-scan", scan, "--letter", letter, *CONTACT, expect=4)
    check("persons[0].id_number" in r.stderr and "check_digit" in r.stderr, r.stderr)
    d = new_doc = w.zjson("new", "--person", "%s,%s,项目经理" % (holder, pid), "--id-scan", scan, "--letter",
                          letter, *CONTACT)
    o = d["order"]
    number = o["number"]
    check(d["command"] == "new" and o["business"] == "new" and o["amount_fen"] == 40000
          and o["payment_status"] == "unpaid" and "pay" in o["actions"], "%s" % d)
    check(o["items"][0]["old_serial"] is None and o["items"][0]["holder"] == holder, "%s" % o)
    w.zjson("order", number, "--pay", "alipay")
    w.ctl("approve", number)
    # Approved, not shipped: nothing to issue yet (exit 9), nothing on the key.
    r = w.zrca("update", number, expect=9)
    check("can be updated now" in r.stderr, r.stderr)
    d = w.zjson("order", number, "--receive", expect=9)
    check(d["error"]["rule"] == "receive", "%s" % d)
    w.ctl("ship", number, "--tracking-number", "SF1234567890")
    d = w.zjson("order", number)
    check(d["order"]["shipping_status"] == "awaiting_receipt" and "receive" in d["order"]["actions"]
          and d["order"]["tracking_number"] == "SF1234567890", "%s" % d)
    r = w.zrca("order", number)
    check("待签收" in r.stdout and "SF1234567890" in r.stdout and "确认签收" in r.stdout, r.stdout)
    d = w.zjson("order", number, "--receive")
    o = d["order"]
    check(o["shipping_status"] == "received" and "receive" not in o["actions"]
          and o["items"][0]["actions"] == ["view", "issue"], "%s" % o)
    check(len(w.zjson("token", "info")["certificates"]) == 0, "the token is not blank")
    r = w.zrca("update", number)
    check("新证书签发成功" in r.stdout and holder in r.stdout, r.stdout)
    info = w.zjson("token", "info")
    certs = info["certificates"]
    check(len(certs) == 1 and certs[0]["holder"] == holder, "%s" % info)
    issuing = os.path.join(os.path.dirname(w.info["platform_ca_file"]), "issuing.pem")
    seals = w.zjson("seal", env={"ZRCA_ISSUER_CA_FILE": issuing})["seals"]
    check(len(seals) == 1 and seals[0]["state"] == "verified" and seals[0]["name"] == holder, "%s" % seals)
    o = w.zjson("order", number)["order"]
    check(o["order_status"] == "completed" and o["items"][0]["status"] == "completed"
          and o["items"][0]["new_serial"] == certs[0]["serial"], "%s" % o)
    # The finished update answered again in JSON: old is null, nothing issued twice.
    d = w.zjson("update", number, "1")
    check(d["ok"] and d["items"][0]["old"] is None and d["items"][0]["new"]["serial"] == certs[0]["serial"],
          "%s" % d)
    iss = w.ctl("issuances", number, "1")["items"]
    check(len(iss) == 1, "%s" % iss)
    # Its documents against the schema (zrca new's, and update's with "old": null).
    import jsonschema
    with open(os.path.join(SRC, "doc", "zrca-json.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    for doc in (new_doc, d):
        whole = {"$defs": schema["$defs"], "allOf": schema["allOf"] + [{"$ref": "#/$defs/" + doc["command"]}]}
        jsonschema.validate(doc, whole, cls=jsonschema.Draft202012Validator)

def test_zrca_revoke(w):
    """吊销申请 with the key (signed on SoftHSM) and without; 历史吊销申请; crl-check before and after the
    approval (exit 9 once revoked); 已吊销 in certs; a stale CRL refused (exit 12); bad input refused
    locally (exit 4, nothing sent); every --json document valid against the schema."""
    import jsonschema
    with open(os.path.join(SRC, "doc", "zrca-json.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)

    def valid(doc):
        whole = dict(schema)
        if doc.get("ok") and doc.get("command") in schema["$defs"]:
            whole = {"$defs": schema["$defs"], "allOf": schema["allOf"] + [{"$ref": "#/$defs/" + doc["command"]}]}
        jsonschema.validate(doc, whole, cls=jsonschema.Draft202012Validator)
        return doc

    first, _ = w.provision(days=200, label="first")
    second, _ = w.provision(days=200, label="second")
    s1, s2 = first["serial"], second["serial"]
    # Local refusals: no request reaches the platform.
    w.zrca("revoke", s1, "--reason", "bored", expect=2)
    d = valid(w.zjson("revoke", "not-a-serial", "--reason", "key_lost", expect=4))
    check(d["error"]["field"] == "serial" and d["error"]["rule"] == "format", "%s" % d)
    d = valid(w.zjson("revoke", s1, "--reason", "key_lost", "--comment", "离" * 201, expect=4))
    check(d["error"]["rule"] == "max_length", "%s" % d)
    check(w.zjson("revocations")["revocations"] == [], "a request was sent")
    # With the key: signed on the token.
    c = valid(w.zjson("crl-check"))
    check(c["ok"] and {x["serial"]: x["status"] for x in c["certificates"]} == {s1: "good", s2: "good"}, "%s" % c)
    # (a serial in openssl's spelling is taken: upper case with colons)
    spelled = ":".join(s1[i:i + 2] for i in range(0, len(s1), 2)).upper()
    d = valid(w.zjson("revoke", spelled, "--reason", "key_compromised", "--sign", "--comment", "钥匙借出后失控"))
    r1 = d["revocation"]
    check(r1["signed"] is True and r1["status"] == "pending" and r1["certificate_serial"] == s1, "%s" % d)
    # Without the key (a lost key): account and password only.
    d = valid(w.zjson("revoke", s2, "--reason", "key_lost"))
    check(d["revocation"]["signed"] is False, "%s" % d)
    h = valid(w.zjson("revocations"))
    check([x["status"] for x in h["revocations"]] == ["pending", "pending"], "%s" % h)
    check("待审核" in w.zrca("revocations").stdout, "human list")
    w.ctl("approve-revocation", str(r1["id"]))
    c = valid(w.zjson("crl-check", expect=9))
    by = {x["serial"]: x for x in c["certificates"]}
    check(by[s1]["status"] == "revoked" and by[s1]["reason"] == "keyCompromise" and by[s1]["revoked_at"]
          and by[s2]["status"] == "good" and c["error"]["kind"] == "state", "%s" % c)
    check("已吊销" in w.zrca("crl-check", expect=9).stdout, "human crl-check")
    certs = {x["serial"]: x for x in valid(w.zjson("certs"))["certificates"]}
    check(certs[s1]["status"] == "revoked" and certs[s1]["status_label"] == "已吊销", "%s" % certs[s1])
    check("已吊销" in w.zrca("certs").stdout, "human certs")
    h = valid(w.zjson("revocations"))
    check({x["certificate_serial"]: x["status"] for x in h["revocations"]} == {s1: "approved", s2: "pending"},
          "%s" % h)
    # Revoked: no second request (the platform's 409, exit 9).
    d = valid(w.zjson("revoke", s1, "--reason", "key_lost", expect=9))
    check(d["error"]["remote_code"] == "not_revocable", "%s" % d)
    # A stale CRL is an error, never "good".
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    w.ctl("publish-crl", "--this-update", past.strftime("%Y-%m-%dT%H:%M:%SZ"),
          "--next-update", (past + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    d = valid(w.zjson("crl-check", expect=12))
    check(d["error"]["rule"] == "stale", "%s" % d)
    w.ctl("publish-crl")
    # An approved renewal whose certificate is revoked meanwhile: update refused (exit 9, EREVOKED).
    third, _ = w.provision(days=20, label="third")
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    w.ctl("approve", number)
    rid = w.zjson("revoke", third["serial"], "--reason", "holder_left")["revocation"]["id"]
    w.ctl("approve-revocation", str(rid))
    d = w.zjson("update", number, expect=9)
    check(d["error"]["status"] == "ZRCA_EREVOKED" and d["error"]["remote_code"] == "certificate_revoked", "%s" % d)
    r = w.zrca("update", number, expect=9)
    check("revoked" in r.stderr, r.stderr)


def test_zrca_orders_watch(w):
    letter, scan = w.attachments()
    w.provision(days=20)
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter, *CONTACT)["order"]["number"]
    # The demo's paid new order (赵国栋) is under review too: approve both.
    waiting = [o["number"] for o in w.zjson("orders")["orders"]
               if o["review_status"] == "not_reviewed" and o["order_status"] == "awaiting_verification"
               and o["payment_status"] != "unpaid"]
    check(number in waiting, "%s not under review: %s" % (number, waiting))

    def approve_all():
        time.sleep(3)  # after the watch's first snapshot (it reports changes from there)
        for n in waiting:
            w.ctl("approve", n)
    t = threading.Thread(target=approve_all)
    t.start()
    d = w.zjson("orders", "--watch", "--interval", "1", "--timeout", "60")
    t.join()
    changed = {e["order"]["number"] for e in d["events"] if e["event"] == "changed"}
    check(set(waiting) <= changed, "changes seen: %s" % d["events"])
    check(any(e["event"] == "sms" and e["order_number"] == number for e in d["events"]), "no SMS: %s" % d)
    # Human output, once nothing is under review: returns at once.
    r = w.zrca("orders", "--watch", "--interval", "1", "--timeout", "10")
    check("没有待审核的订单" in r.stdout, r.stdout)


def test_zrca_token(w):
    """The token subcommands on a software token made by zrca itself: keys, requests, PINs, unlock."""
    soft = w.path("soft")
    env = {"ZRCA_MODULE": "", "ZRCA_TOKEN_LABEL": "", "ZRCA_SOFT_DIR": soft}
    so = w.path("sopin")
    with open(so, "w") as f:
        f.write(SO_PIN + "\n")
    d = w.zjson("token", "init-soft", "--token-label", "soft-key", "--so-pin-file", so, env=env)
    check(d["label"] == "soft-key" and d["backend"] == "soft", "%s" % d)
    d = w.zjson("token", "keygen", "--key-label", "k1", "--key", "rsa2048", env=env)
    check(d["key_type"] == "rsa" and d["key_bits"] == 2048 and len(d["key_id"]) == 40, "%s" % d)
    csr = w.path("k1.csr")
    w.zjson("token", "csr", "--key-id", d["key_id"], "--subject", "CN=赵国栋,O=示范\\,公司,C=CN", "--out", csr,
            "--pem", env=env)
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    req = x509.load_pem_x509_csr(open(csr, "rb").read())
    check(req.is_signature_valid, "the request's signature")
    check(req.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "赵国栋" and
          req.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "示范,公司" and
          req.subject.rfc4514_string().startswith("CN="), req.subject.rfc4514_string())
    w.zjson("token", "csr", "--key-id", d["key_id"], "--subject", "XX=1", "--out", csr, env=env, expect=2)
    w.zjson("token", "csr", "--key-id", "00" * 20, "--subject", "CN=a", "--out", csr, env=env, expect=8)
    # A certificate whose key is not on the token is refused, and not left behind.
    other = w.path("other.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", w.path("other.key"), "-subj", "/CN=other", "-days", "30", "-out", other],
                   check=True, capture_output=True)
    w.zjson("token", "import-cert", other, env=env, expect=8)
    check(w.zjson("token", "info", env=env)["certificates"] == [], "a keyless certificate was left")
    # Change the PIN; the old one is then wrong.
    newpin = w.path("newpin")
    with open(newpin, "w") as f:
        f.write("135792\n")
    w.zjson("token", "change-pin", "--new-pin-file", newpin, env=env)
    d = w.zjson("token", "keygen", "--key-label", "k2", expect=6, env=env)
    check(d["error"]["status"] == "ZRCA_EPIN_INCORRECT", "%s" % d)
    # Wrong until the final try: then no PIN is sent at all.
    codes = []
    for _ in range(8):
        d = w.zjson("token", "keygen", "--key-label", "k2", expect=6, env=env)
        codes.append(d["error"]["status"])
        if codes[-1] == "ZRCA_EPIN_FINAL_TRY":
            break
    check(codes[-1] == "ZRCA_EPIN_FINAL_TRY", "no final-try refusal: %s" % codes)
    check(w.zjson("token", "pin", env=env)["user_pin"]["final_try"] is True, "final try flag")
    # 解锁服务: the SO PIN unlocks and sets a new PIN, which works.
    w.zjson("token", "unlock", "--so-pin-file", so, "--new-pin-file", w.env["ZRCA_PIN_FILE"], env=env)
    d = w.zjson("token", "keygen", "--key-label", "k3", env=env)
    check(d["key_label"] == "k3", "%s" % d)


def test_zrca_token_skf(w):
    """The token subcommands on a vendor's SKF library (GM/T 0016; the mock of tests/skf, a real shared
    object): --skf-library and ZRCA_SKF_LIBRARY, skf: token URIs, a key and a request, the PIN counter."""
    mock = os.path.join(w.build, "tests", "skf", "mock-skf.so")
    if not os.path.isfile(mock):
        print("SKIP: no mock SKF library at %s" % mock)
        raise SystemExit(77)
    root = w.path("skf")
    app = os.path.join(root, "dev0", "ZRCA_APP")
    for d in ("c", "f"):
        os.makedirs(os.path.join(app, d))
    with open(os.path.join(root, "dev0", "device"), "w") as f:
        f.write("label=天威盾 SKF\nserial=SKF-CLI-1\nmanufacturer=Mock SKF Vendor\n")
    with open(os.path.join(app, "pins"), "w") as f:
        f.write("user=%s\nadmin=%s\numax=5\nuleft=5\namax=5\naleft=5\n" % (USER_PIN, SO_PIN))
    env = {"ZRCA_MODULE": "", "ZRCA_TOKEN_LABEL": "", "MOCK_SKF_DIR": root}
    d = w.zjson("token", "info", "--skf-library", mock, env=env)
    check(d["backend"] == "skf" and d["serial"] == "SKF-CLI-1" and d["uri"].startswith("skf:library="), "%s" % d)
    uri = d["uri"]
    # The environment names the library as well; the token's own skf: URI selects it without one.
    env_lib = dict(env, ZRCA_SKF_LIBRARY=mock)
    k = w.zjson("token", "keygen", "--key-label", "cli-key", "--key", "rsa2048", env=env_lib)
    check(k["key_type"] == "rsa" and k["key_bits"] == 2048 and len(k["key_id"]) == 40, "%s" % k)
    csr = w.path("skf.csr")
    w.zjson("token", "csr", "--key-id", k["key_id"], "--subject", "CN=赵国栋,C=CN", "--out", csr, "--pem",
            "--token-uri", uri, env=env)
    from cryptography import x509
    check(x509.load_pem_x509_csr(open(csr, "rb").read()).is_signature_valid, "the request's signature")
    # A bad skf: URI is refused naming the attribute; a missing library is a token error.
    r = w.zjson("token", "info", "--token-uri", "skf:colour=blue", env=env_lib, expect=1)
    check(r["error"]["rule"] == "unknown_attribute" and "colour" in r["error"]["message"], "%s" % r)
    w.zjson("token", "info", "--skf-library", w.path("nope.so"), env=env, expect=7)
    # A wrong PIN costs a try the device counts.
    wrong = w.path("wrongpin")
    with open(wrong, "w") as f:
        f.write("000000\n")
    d = w.zjson("token", "keygen", "--key-label", "k2", env=dict(env_lib, ZRCA_PIN_FILE=wrong), expect=6)
    check(d["error"]["status"] == "ZRCA_EPIN_INCORRECT", "%s" % d)
    check(w.zjson("token", "info", env=env_lib)["tries_left"] == 4, "the device's counter")


def test_zrca_token_select(w):
    """Token selection (issue 12): a stock p11-kit configuration picks the SoftHSM key, not System Trust;
    several keys: exit 17 with every candidate's full URI, each of which selects its key when passed back."""
    env = {"ZRCA_TOKEN_LABEL": ""}
    # As root p11-kit reads only the system's configuration: where it is Debian's stock one (the trust module
    # and SoftHSM's), a command without a selector must choose the SoftHSM key (SOFTHSM2_CONF is this test's).
    stock = "/usr/share/p11-kit/modules"
    if os.getuid() == 0 and all(os.path.exists(os.path.join(stock, m)) for m in
                                ("p11-kit-trust.module", "softhsm2.module")):
        listed = w.zjson("token", "list", env=dict(env, ZRCA_MODULE=""))
        models = [t["model"] for t in listed["tokens"]]
        check("p11-kit-trust" in models and "SoftHSM v2" in models, "stock modules: %s" % models)
        d = w.zjson("token", "info", env=dict(env, ZRCA_MODULE=""))
        check(d["label"] == "zrca-test" and "module-name=softhsm2" in d["uri"], "stock choice: %s" % d)
    else:
        print("note: not root or no stock p11-kit modules: the stock configuration is left to test_token_softhsm")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "zrca-second", "--so-pin", SO_PIN,
                    "--pin", USER_PIN], env=w.env, check=True, stdout=subprocess.DEVNULL)
    r = w.zrca("token", "info", expect=17, env=env)
    check("2 keys match" in r.stderr and "--token-uri" in r.stderr, r.stderr)
    listed = [line.strip() for line in r.stderr.splitlines() if line.startswith("  pkcs11:")]
    d = w.zjson("token", "info", expect=17, env=env)
    check(d["error"]["kind"] == "ambiguous" and d["error"]["rule"] == "ambiguous", "%s" % d)
    uris = [v["message"] for v in d["error"]["violations"] if v["rule"] == "candidate"]
    check(sorted(uris) == sorted(listed) and len(uris) == 2, "%s / %s" % (uris, listed))
    labels = set()
    for uri in uris:
        check("?module-name=softhsm2&module-path=" in uri and ";slot-id=" in uri and ";token=" in uri, uri)
        info = w.zjson("token", "info", "--token-uri", uri, env=env)
        check(info["uri"] == uri, "%s != %s" % (info["uri"], uri))
        labels.add(info["label"])
    check(labels == {"zrca-test", "zrca-second"}, "%s" % labels)
    listed = w.zjson("token", "list", env=env)
    check(sorted(t["uri"] for t in listed["tokens"]) == sorted(uris), "%s" % listed)
    # What p11-kit would silently drop is refused, naming the attribute.
    d = w.zjson("token", "info", "--token-uri", "pkcs11:token=zrca-test;colour=blue", expect=1, env=env)
    check(d["error"]["rule"] == "unknown_attribute" and "colour" in d["error"]["message"], "%s" % d)
    w.zjson("token", "info", "--token-uri", "pkcs11:token=zrca-test?module-name=softhsm2", env=env)
    d = w.zjson("token", "info", "--token-uri", "pkcs11:token=zrca-test?module-name=opensc-pkcs11", expect=7,
                env=env)


def test_zrca_keylogin_renew(w):
    """证书登录 (issue 17): zrca login --key, then renew --auto and update with --login-key and no password
    anywhere (no file, no ZRCA_PASSWORD*, no account), the platform's token expiring on the way; after the
    renewal the key logs in with the new certificate."""
    letter, scan = w.attachments()
    common = ["--letter", letter, "--scan", "赵国栋=" + scan] + CONTACT
    old, _ = w.provision(days=20, label="due")
    # From here on no password exists: the file is gone and nothing names it.
    os.remove(w.path("password"))
    for k in ("ZRCA_PASSWORD_FILE", "ZRCA_PASSWORD", "ZRCA_ACCOUNT"):
        w.env.pop(k, None)
    check(not os.path.exists(w.path("password")) and not any(k.startswith("ZRCA_PASSWORD") for k in w.env),
          "a password is still around")
    r = w.zrca("login", expect=None)
    check(r.returncode != 0, "a password login without a password: %s" % r.stdout)
    d = w.zjson("login", "--key")
    check(d["ok"] and d["account"] == "demo" and d["method"] == "certificate", "%s" % d)
    check(d["certificate"]["serial"].lstrip("0") == old["serial"].lstrip("0") and
          d["certificate"]["holder"] == "赵国栋" and d["certificate"]["kind"] == "personal", "%s" % d)
    r = w.zrca("login", "--login-key")
    check("证书登录" in r.stdout and "赵国栋" in r.stdout, r.stdout)
    # The platform's token lives 3 s: the renewal's wait outlives it and the key logs in again.
    w.ctl("settings", "--token-ttl", "3")
    done = threading.Event()
    seen = {o["number"] for o in w.ctl("orders", "--account", "demo")["items"]}

    def approver():
        while not done.is_set():
            for o in renewal_orders(w, but=seen):
                if o["review_status"] == "not_reviewed" and o["order_status"] == "awaiting_verification":
                    seen.add(o["number"])
                    time.sleep(4)
                    w.ctl("approve", o["number"])
            time.sleep(0.5)
    t = threading.Thread(target=approver)
    t.start()
    try:
        d = w.zjson("renew", "--auto", "--login-key", "--window-days", "30", "--interval", "1", "--timeout", "60",
                    *common)
    finally:
        done.set()
        t.join()
    check(d["ok"] and len(d["certificates"]) == 1 and d["certificates"][0]["outcome"] == "updated", "%s" % d)
    new_serial = d["certificates"][0]["new_serial"]
    # The new certificate logs in now (the old one is superseded on the platform).
    d = w.zjson("login", "--key")
    check(d["certificate"]["serial"].lstrip("0") == new_serial.lstrip("0"), "%s" % d)
    # zrca update with the key: a second due certificate, its order filed without waiting, approved.
    w.env["ZRCA_PASSWORD_FILE"] = w.path("password")  # provisioning reads the account: a password again
    w.env["ZRCA_ACCOUNT"] = "demo"
    with open(os.open(w.path("password"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("Demo-2026!\n")
    second, _ = w.provision(days=20, label="due2")
    os.remove(w.path("password"))
    for k in ("ZRCA_PASSWORD_FILE", "ZRCA_ACCOUNT"):
        w.env.pop(k)
    before = {o["number"] for o in renewal_orders(w)}
    d = w.zjson("renew", "--auto", "--login-key", "--no-wait", "--window-days", "30", *common)
    check([c["outcome"] for c in d["certificates"]] == ["submitted"], "%s" % d)
    number = [o["number"] for o in renewal_orders(w, but=before)]
    check(len(number) == 1, "orders: %s" % number)
    w.ctl("approve", number[0])
    time.sleep(4)  # the order outlives a token
    # ... from the configuration file's key this time (zrca update reads [update] login-key)
    conf = w.path("keylogin.conf")
    with open(conf, "w") as f:
        f.write("[update]\nlogin-key = yes\n")
    d = w.zjson("update", number[0], env={"ZRCA_CONFIG": conf})
    items = d["items"]
    check(d["ok"] and d["order_status"] == "completed" and len(items) == 1 and items[0]["new"]["serial"], "%s" % d)
    check(items[0]["old"]["serial"].lstrip("0") == second["serial"].lstrip("0"), "%s" % items[0])
    w.ctl("settings", "--token-ttl", "3600")


def test_demo(build):
    """scripts/demo.sh on this build: the seed's flow end to end, exit 0, nothing left behind."""
    env = dict(os.environ)
    env["ZRCA_DEMO_BUILD_DIR"] = build
    env["TMPDIR"] = tempfile.mkdtemp(prefix="zrca-demo-test-")
    try:
        r = subprocess.run(["bash", os.path.join(SRC, "scripts/demo.sh")], capture_output=True, text=True, env=env,
                           timeout=240, stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "demo: exit %d\n%s\n%s" % (r.returncode, r.stdout[-4000:], r.stderr[-3000:]))
        out = r.stdout
        for word in ("登录成功", "续期申请已提交审核", "审核通过", "短信 (SMS)", "[证书更新]", "[签章更新]",
                     "证书更新成功", "已完成", "\"nothing_to_renew\":true", "业务回执", "证书登录 (key login)",
                     "certificate_not_current", "demo done"):
            check(word in out, "the demo did not show %s:\n%s" % (word, out[-3000:]))
        tail = out[out.rindex("证书更新成功"):]
        check("所有者" in tail and "序列号" in tail and "有效期" in tail and "旧证书" in tail and "新证书" in tail,
              "the demo's ending: " + tail)
        # It stopped what it started and removed its directory.
        check(os.listdir(env["TMPDIR"]) == [], "left behind: %s" % os.listdir(env["TMPDIR"]))
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
            except OSError:
                continue
            if env["TMPDIR"] in cmd:
                left.append(cmd.replace("\0", " "))
        check(not left, "processes left running: %s" % left)
    finally:
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)


def test_cli_pkgconfig(build):
    """zrca builds against an installed libzrca with pkg-config alone, and runs."""
    tmp = tempfile.mkdtemp(prefix="zrca-cli-pc-")
    try:
        subprocess.run(["cmake", "--install", build, "--prefix", tmp + "/prefix"], check=True, capture_output=True)
        pcs = [os.path.join(dp, f) for dp, _, fs in os.walk(tmp) for f in fs if f == "zrca.pc"]
        check(pcs, "no zrca.pc installed")
        libdir = os.path.dirname(os.path.dirname(pcs[0]))
        check(os.path.exists(os.path.join(tmp, "prefix/bin/zrca")), "zrca not installed to bin")
        check(os.path.exists(os.path.join(tmp, "prefix/share/man/man1/zrca.1")), "man page not installed")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), LD_LIBRARY_PATH=libdir)
        # The tool itself writes JSON with yajl and PEM with OpenSSL.
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "zrca", "yajl", "libcrypto"], env=env,
                               check=True, capture_output=True, text=True).stdout.split()
        srcs = sorted(os.path.join(SRC, "examples/zrca", f) for f in os.listdir(os.path.join(SRC, "examples/zrca"))
                      if f.endswith(".c"))
        exe = os.path.join(tmp, "zrca")
        r = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + srcs + flags + ["-o", exe],
                           capture_output=True, text=True)
        check(r.returncode == 0, "cc: " + r.stderr)
        r = subprocess.run([exe, "version", "--json"], env=env, capture_output=True, text=True)
        check(r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {name[5:].replace("_", "-"): fn for name, fn in globals().items() if name.startswith("test_")}
NO_PLATFORM = {"demo", "cli-pkgconfig", "zrca-systemd-units"}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in TESTS:
        sys.stderr.write("usage: run.py BUILD_DIR {%s}\n" % ",".join(sorted(TESTS)))
        return 2
    build, name = sys.argv[1], sys.argv[2]
    if not os.path.exists(SOFTHSM) and name not in NO_PLATFORM:
        print("SKIP: no SoftHSM module at %s" % SOFTHSM)
        return 77
    start = time.time()
    w = World(build) if name not in NO_PLATFORM else None
    try:
        TESTS[name](w if w else build)
    except Fail as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    except Exception:
        traceback.print_exc()
        print("FAIL %s" % name)
        return 1
    finally:
        if w:
            w.close()
    print("ok %s (%.1f s)" % (name, time.time() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
