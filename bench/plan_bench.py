#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The cost of renew --auto per certificate due (issue 12, item 5).

    bench/plan_bench.py BUILD_DIR [N ...]        (default: 1 10 50)

For each N: a reference platform and a SoftHSM token of their own (as tests/examples/run.py
makes them), N personal certificates of N people made on the token through the platform's
operator API, all due; then build/bench/plan_bench runs renew --auto as a dry run (plan, the
platform's open orders, the application built and validated, nothing sent) and prints the CPU
time of this process (getrusage: the library, OpenSSL, libcurl and SoftHSM) of its fastest
round; then the certificates are filed (zrca renew --auto --no-wait), approved by the operator,
and plan_bench runs one real renew --auto that updates them all on the token (new key,
certificate, e-seal each), timed the same way. The last lines compare the cost per certificate at each N with the cost at the first N.
A benchmark to run by hand, not part of the test suite.
"""
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "examples"))
import run  # noqa: E402  (World: a platform and a SoftHSM token in a temporary directory)

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(i):
    """An 18-digit ID card number with its check digit (GB 11643)."""
    body = "330106%s%03d" % ((datetime.date(1980, 1, 1) + datetime.timedelta(days=i * 97)).strftime("%Y%m%d"),
                             i % 1000)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def provision(w, i, ent, serial):
    holder = "测试员%02d" % i
    csr, pem = w.path("csr-%d.der" % i), w.path("cert-%d.pem" % i)
    w.zrca("token", "provision-csr", "--key-label", "bench-%d" % i, "--subject",
           "CN=%s,OU=技术负责人,O=%s,C=CN" % (holder, ent), "--out", csr)
    na = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=20)).strftime("%Y-%m-%dT00:00:00Z")
    w.ctl("provision", "--account", "demo", "--kind", "personal", "--holder-name", holder, "--holder-id",
          id_number(i), "--position", "技术负责人", "--csr", csr, "--not-after", na, "--key-serial", serial,
          "--out", pem)
    w.zrca("token", "import-cert", pem)


def measure(build, n, rounds=3):
    w = run.World(build)
    try:
        ent = w.zjson("login")["enterprise"]["name"]
        serial = w.zjson("token", "info")["serial"]
        letter, scan = w.attachments()
        os.makedirs(w.path("scans"))
        for i in range(n):
            provision(w, i, ent, serial)
            with open(scan, "rb") as src, open(os.path.join(w.path("scans"), id_number(i) + ".jpg"), "wb") as dst:
                dst.write(src.read())
        env = dict(w.env)
        env["ZRCA_PASSWORD"] = open(env["ZRCA_PASSWORD_FILE"]).read().strip()
        r = subprocess.run([os.path.join(build, "bench", "plan_bench"), scan, letter, str(rounds)],
                           capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:
            raise SystemExit("plan_bench failed at N=%d: %s" % (n, r.stderr))
        dry = json.loads(r.stdout)
        if dry["certificates"] != n:
            raise SystemExit("N=%d: %d certificates planned" % (n, dry["certificates"]))
        number = w.zjson("renew", "--auto", "--no-wait", "--window-days", "30", "--letter", letter,
                         "--scan-dir", w.path("scans"), *run.CONTACT)["order"]
        w.ctl("approve", number)
        env["ZRCA_PIN"] = run.USER_PIN
        wrap = os.environ.get("PLAN_BENCH_WRAP", "").split()  # e.g. "perf record -g -o FILE" to profile
        r = subprocess.run(wrap + [os.path.join(build, "bench", "plan_bench"), scan, letter, "1", "update"],
                           capture_output=True, text=True, env=env, timeout=1800)
        if r.returncode != 0:
            raise SystemExit("plan_bench update failed at N=%d: %s" % (n, r.stderr))
        upd = json.loads(r.stdout)
        if upd["certificates"] != n:
            raise SystemExit("N=%d: %d certificates updated" % (n, upd["certificates"]))
        return dry, upd
    finally:
        w.close()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    build = os.path.abspath(sys.argv[1])
    ns = [int(x) for x in sys.argv[2:]] or [1, 10, 50]
    results = []
    print("%4s | %-40s | %-46s" % ("", "dry run (plan, orders, application)", "run that updates every item"))
    print("%4s | %10s %12s %16s | %10s %12s %22s" % ("N", "CPU ms", "ms / cert", "old listings ms", "CPU ms",
                                                     "ms / cert", "process ms / cert"))
    for n in ns:
        dry, upd = measure(build, n)
        results.append((n, dry, upd))
        print("%4d | %10.1f %12.2f %16.1f | %10.1f %12.2f %22.2f" % (
            n, dry["cpu_ms"], dry["cpu_ms_per_certificate"], dry["old_extra_listing_cpu_ms"], upd["cpu_ms"],
            upd["cpu_ms_per_certificate"], upd["process_cpu_ms"] / n), flush=True)
    ok = True
    n0, dry0, upd0 = results[0]
    for n, dry, upd in results[1:]:
        for what, m, m0 in (("dry run", dry, dry0), ("update run", upd, upd0)):
            ratio = m["cpu_ms_per_certificate"] / m0["cpu_ms_per_certificate"]
            ok = ok and ratio <= 1.2
            print("N=%d %s: %.2f x the cost per certificate at N=%d (limit 1.2): %s" % (
                n, what, ratio, n0, "ok" if ratio <= 1.2 else "OVER"))
    if len(results) >= 2:
        (na, _, ua), (nb, _, ub) = results[-2], results[-1]
        print("marginal cost of one more certificate, N=%d to %d: update run %.2f ms" % (
            na, nb, (ub["cpu_ms"] - ua["cpu_ms"]) / (nb - na)))
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
