#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The cost of renew --auto per certificate due (issue 12, item 5).

    bench/plan_bench.py BUILD_DIR [--store file|db|soft]... [N ...]   (default: all stores, 1 10 50)

For each token store and each N: a reference platform and a token of their own (as
tests/examples/run.py makes them), N personal certificates of N people made on the token through
the platform's operator API, all due; then build/bench/plan_bench runs renew --auto as a dry run
(plan, the platform's open orders, the application built and validated, nothing sent), fastest of
3 rounds; then the certificates are filed (zrca renew --auto --no-wait), approved by the operator,
and plan_bench runs one real renew --auto that updates them all on the token (new key, certificate,
e-seal each). Both are timed in wall-clock and in CPU of the process (getrusage: the library,
OpenSSL, libcurl and the PKCS#11 module); the update run also gives the CPU the reference
platform (another process, not part of the limit) spent meanwhile. Stores:

  file  SoftHSM 2, its file object store (objectstore.backend = file, Debian's default)
  db    SoftHSM 2, its SQLite object store (objectstore.backend = db), when this SoftHSM has one
  soft  libzrca's own software token (lib/softtoken)

Each store's table ends with the cost per certificate at the largest N over that at the first
(limit 1.2 on the CPU). Last, bench/p11_find_bench measures SoftHSM's own cost per search and per
write as its file store fills up, without libzrca.
A benchmark to run by hand, not part of the test suite.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "examples"))
import run  # noqa: E402  (World: a platform and a SoftHSM token in a temporary directory)

STORES = {"file": "SoftHSM 2.6, file object store", "db": "SoftHSM 2.6, SQLite object store (db)",
          "soft": "libzrca's software token"}


def use_store(w, store):
    """Point the world's zrca at a token of `store`; False when this machine has no such store."""
    if store == "db":
        tokens = w.path("softhsm-db")
        os.makedirs(tokens)
        conf = w.path("softhsm-db.conf")
        with open(conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = db\nlog.level = ERROR\n" % tokens)
        w.env["SOFTHSM2_CONF"] = conf
        r = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "zrca-test", "--so-pin",
                            run.SO_PIN, "--pin", run.USER_PIN], env=w.env, capture_output=True, text=True)
        if r.returncode != 0:
            print("store db: skipped, this SoftHSM has no SQLite object store (softhsm2-util: %s)" %
                  (r.stdout + r.stderr).strip().splitlines()[0])
            return False
    elif store == "soft":
        so = w.path("so-pin")
        with open(os.open(so, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(run.SO_PIN + "\n")
        w.env.update({"ZRCA_MODULE": "", "ZRCA_TOKEN_LABEL": "bench-soft", "ZRCA_SOFT_DIR": w.path("soft")})
        w.zrca("token", "init-soft", "--token-label", "bench-soft", "--so-pin-file", so)
    return True


def proc_cpu_ms(pid):
    """CPU (user + system) of a process and its waited-for children so far, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) * 1000.0 / os.sysconf("SC_CLK_TCK")


def plan_bench(build, env, *args):
    r = subprocess.run([os.path.join(build, "bench", "plan_bench")] + list(args), capture_output=True, text=True,
                       env=env, timeout=1800)
    if r.returncode != 0:
        raise SystemExit("plan_bench %s failed: %s" % (" ".join(args[3:]), r.stderr))
    return json.loads(r.stdout)


def measure(build, store, n, rounds=3):
    w = run.World(build)
    try:
        if not use_store(w, store):
            return None
        scans, letter = w.provision_many(n)
        scan = os.path.join(scans, run.id_number(0) + ".jpg")
        env = dict(w.env)
        env["ZRCA_PASSWORD"] = open(env["ZRCA_PASSWORD_FILE"]).read().strip()
        dry = plan_bench(build, env, scan, letter, str(rounds))
        if dry["certificates"] != n:
            raise SystemExit("N=%d: %d certificates planned" % (n, dry["certificates"]))
        number = w.zjson("renew", "--auto", "--no-wait", "--window-days", "30", "--letter", letter,
                         "--scan-dir", scans, *run.CONTACT)["order"]
        w.ctl("approve", number)
        env["ZRCA_PIN"] = run.USER_PIN
        wrap = os.environ.get("PLAN_BENCH_WRAP", "").split()  # e.g. "perf record -g -o FILE" to profile
        platform0 = proc_cpu_ms(w.proc.pid)
        r = subprocess.run(wrap + [os.path.join(build, "bench", "plan_bench"), scan, letter, "1", "update"],
                           capture_output=True, text=True, env=env, timeout=1800)
        if r.returncode != 0:
            raise SystemExit("plan_bench update failed at N=%d: %s" % (n, r.stderr))
        upd = json.loads(r.stdout)
        upd["platform_cpu_ms_per_certificate"] = (proc_cpu_ms(w.proc.pid) - platform0) / n
        if upd["certificates"] != n:
            raise SystemExit("N=%d: %d certificates updated" % (n, upd["certificates"]))
        return dry, upd
    finally:
        w.close()


def softhsm_alone(build, counts=(1, 10, 50, 150)):
    """SoftHSM's own cost per operation as its file store fills up (bench/p11_find_bench)."""
    w = run.World(build)
    try:
        r = subprocess.run([os.path.join(build, "bench", "p11_find_bench"), run.SOFTHSM, "zrca-test", run.USER_PIN]
                           + [str(c) for c in counts], capture_output=True, text=True, env=w.env, timeout=600)
        if r.returncode != 0:
            print("p11_find_bench failed: %s" % r.stderr)
            return
        print("\nSoftHSM alone (file store, no libzrca): one PKCS#11 operation, mean of 20, wall µs")
        print("%8s | %14s %24s %16s" % ("objects", "search", "search after a write", "create+destroy"))
        for line in r.stdout.splitlines():
            d = json.loads(line)
            print("%8d | %14.1f %24.1f %16.1f" % (d["objects"], d["search_us"], d["search_after_write_us"],
                                                  d["write_us"]))
    finally:
        w.close()


def main():
    args = sys.argv[1:]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    build = os.path.abspath(args.pop(0))
    stores = []
    while args and args[0] == "--store":
        stores.append(args[1])
        args = args[2:]
    stores = stores or list(STORES)
    ns = [int(x) for x in args] or [1, 10, 50]
    ok = True
    for store in stores:
        print("\nstore %s: %s" % (store, STORES[store]), flush=True)
        results = []
        for n in ns:
            m = measure(build, store, n)
            if m is None:
                break
            dry, upd = m
            if not results:
                print("%4s | %-33s | %-50s" % ("", "dry run, per certificate", "run that updates every item, per cert"))
                print("%4s | %16s %16s | %16s %16s %16s" % ("N", "wall ms", "CPU ms", "wall ms", "CPU ms",
                                                              "platform CPU ms"))
            results.append((n, dry, upd))
            print("%4d | %16.2f %16.2f | %16.2f %16.2f %16.2f" % (
                n, dry["wall_ms_per_certificate"], dry["cpu_ms_per_certificate"],
                upd["wall_ms_per_certificate"], upd["cpu_ms_per_certificate"],
                upd["platform_cpu_ms_per_certificate"]), flush=True)
        if len(results) < 2:
            continue
        (n0, dry0, upd0), (n1, dry1, upd1) = results[0], results[-1]
        for what, m, m0 in (("dry run", dry1, dry0), ("update run", upd1, upd0)):
            cpu = m["cpu_ms_per_certificate"] / m0["cpu_ms_per_certificate"]
            wall = m["wall_ms_per_certificate"] / m0["wall_ms_per_certificate"]
            ok = ok and cpu <= 1.2
            print("%s %d:%d per certificate: CPU %.2f x (limit 1.2: %s), wall %.2f x" % (
                what, n1, n0, cpu, "ok" if cpu <= 1.2 else "OVER", wall))
    if "file" in stores:
        softhsm_alone(build)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
