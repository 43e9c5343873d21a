# SPDX-License-Identifier: MIT
"""Outside attacks on `zrca update` (i11-attack): every exit code must be the one doc/zrca.1 names,
and no failure may print success or "aborted" when nothing happened.

    attack_cli.py BUILD_DIR [CASE ...]

Found on i11-attack and fixed since: `--force` without `--abort` ran an update (now exit 2); an
absent item left a journal that `--abort` then "aborted" (now exit 8, nothing started); the EHELD
message after a forced abort was formatted from freed memory. Resisted all along: path characters
in order numbers (exit 4), the held/force/release flow, confirmed + --abort --force (9), platform down
(5, abort removes nothing), the lock (9), a wrong PIN (6).

Reuses run.py's World (a platform, the demo account, a SoftHSM token). Each case prints
"ok", "VIOLATION" or "NOTE" lines; the exit status is the number of violations.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

results = []


def report(kind, case, msg):
    results.append((kind, case, msg))
    print("%s %s: %s" % (kind, case, msg), flush=True)


class Res:
    pass


def zrca_bytes(w, args, env=None):
    """Run zrca; decode its output leniently, and report output that is not UTF-8 (a corrupted
    message: the CLI prints UTF-8 only)."""
    e = dict(w.env)
    e.update(env or {})
    p = subprocess.run([w.zrca_bin] + list(args), capture_output=True, env=e, stdin=subprocess.DEVNULL,
                       timeout=180)
    r = Res()
    r.returncode = p.returncode
    r.stdout = p.stdout.decode("utf-8", "replace")
    r.stderr = p.stderr.decode("utf-8", "replace")
    for name, raw in (("stdout", p.stdout), ("stderr", p.stderr)):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            report("VIOLATION", "corrupted-message", "zrca %s: %s is not UTF-8 (a freed message?): %r" % (
                " ".join(args), name, raw[:120]))
    return r


def expect_exit(w, case, args, code, env=None):
    r = zrca_bytes(w, args, env=env)
    if r.returncode != code:
        report("VIOLATION", case, "zrca %s: exit %d, doc says %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), r.returncode, code, r.stdout[-800:], r.stderr[-800:]))
    else:
        report("ok", case, "zrca %s -> %d" % (" ".join(args), code))
    return r


def approved_order(w):
    w.provision(days=20)
    letter, scan = w.attachments()
    number = w.zjson("apply", "--person", "赵国栋", "--id-scan", scan, "--letter", letter,
                     *run.CONTACT)["order"]["number"]
    w.ctl("approve", number)
    return number


def case_usage(w):
    """Options and arguments that are not the command's: exit 2, nothing done."""
    number = approved_order(w)
    expect_exit(w, "item-not-a-number", ["update", number, "abc"], 2)
    # Order numbers with path characters: never a file outside the state dir, never success.
    for bad in ("../../etc/passwd", "Ca1/../x", "a" * 200):
        r = w.zrca("update", bad, expect=None)
        if r.returncode == 0 or "证书更新成功" in r.stdout:
            report("VIOLATION", "path-order", "zrca update %r: exit %d" % (bad, r.returncode))
        else:
            report("ok" if r.returncode in (2, 4, 8) else "NOTE", "path-order",
                   "zrca update %r -> %d %s" % (bad[:40], r.returncode, r.stderr.strip()[-200:]))
        r = w.zrca("update", bad, "--abort", expect=None)
        if r.returncode == 0 or "aborted" in r.stdout.lower():
            report("VIOLATION", "path-order-abort", "zrca update %r --abort: exit %d %s" % (
                bad, r.returncode, r.stdout))
        else:
            report("ok" if r.returncode in (2, 4, 8) else "NOTE", "path-order-abort",
                   "zrca update %r --abort -> %d" % (bad[:40], r.returncode))
    escaped = [p for p in ("/etc/passwd.journal", os.path.join(w.tmp, "x.journal")) if os.path.exists(p)]
    if escaped:
        report("VIOLATION", "path-order", "journal outside the state dir: %s" % escaped)
    # An item that is not in the order: 8 (not found), for update and abort.
    expect_exit(w, "item-absent", ["update", number, "7"], 8)
    jdir = os.path.join(w.tmp, "state", "updates")
    left = sorted(os.listdir(jdir)) if os.path.isdir(jdir) else []
    left = [f for f in left if f.endswith(".journal")]
    if left:
        report("NOTE", "item-absent", "an update of an item that does not exist left journals: %s" % left)
    expect_exit(w, "item-absent-abort", ["update", number, "7", "--abort"], 8)
    # --force without --abort is an option `update` does not take alone: 2, and nothing done.
    r = expect_exit(w, "force-without-abort", ["update", number, "--force"], 2)
    info = w.zjson("token", "info")
    if len(info["certificates"]) != 1 or "证书更新成功" in r.stdout:
        report("VIOLATION", "force-without-abort", "a full update ran (%d certificates on the key)"
               % len(info["certificates"]))


def case_held_force(w):
    """Held, then --abort --force: removes key and journal (exit 0, reported truthfully); a new update
    is held (14: the platform holds a certificate for the deleted key) until the operator releases."""
    number = approved_order(w)
    w.ctl("issuer-fault", "ca_true", "--mode", "recorded")
    expect_exit(w, "held", ["update", number], 14)
    w.ctl("issuer-fault", "--clear")
    d = w.zjson("update", number, "--abort", "--force", expect=None)
    if not d.get("ok") or not d.get("aborted") or not d["aborted"][0].get("staged_key"):
        report("VIOLATION", "held-force", "forced abort of a held update: %s" % d)
    else:
        report("ok", "held-force", "%s" % d["aborted"])
    info = w.zjson("token", "info")
    if len(info["certificates"]) != 1:
        report("VIOLATION", "held-force", "after the forced abort: %s" % info)
    # A second forced abort: nothing to abort (8), never "aborted".
    r = expect_exit(w, "held-force-again", ["update", number, "--abort", "--force"], 8)
    if "aborted" in r.stdout.lower():
        report("VIOLATION", "held-force-again", "prints aborted: %s" % r.stdout)
    r = expect_exit(w, "after-force", ["update", number], 14)
    w.ctl("release", number, "1")
    d = w.zjson("update", number, expect=None)
    if not d.get("ok"):
        report("VIOLATION", "after-release", "%s" % d)
    else:
        report("ok", "after-release", "finished")
    expect_exit(w, "done-abort-force", ["update", number, "--abort", "--force"], 9)


def case_confirmed_force(w):
    """Confirmed, its answer lost: --abort --force must refuse (9) and remove nothing. (The seal
    comes in the confirm's answer, doc/protocol.md §10.5: the update stops after the confirm when
    that answer is lost, no longer when GET …/seal fails.)"""
    number = approved_order(w)
    w.ctl("fault", "items.confirm", "drop_after", "--count", "50")
    expect_exit(w, "confirm-drop-after", ["update", number], 5)
    r = expect_exit(w, "confirmed-force", ["update", number, "--abort", "--force"], 9)
    if "aborted" in r.stdout.lower() and "nothing" not in r.stderr:
        report("VIOLATION", "confirmed-force", r.stdout)
    w.ctl("faults", "--clear")
    d = w.zjson("update", number, expect=None)
    if not d.get("ok"):
        report("VIOLATION", "confirmed-force", "resume: %s" % d)


def case_platform_down(w):
    """The platform unreachable: 5, for update and abort; the abort removes nothing."""
    number = approved_order(w)
    w.ctl("fault", "items.issue", "drop_after", "--count", "50")
    expect_exit(w, "issue-drop-after", ["update", number], 5)
    w.ctl("faults", "--clear")
    r = expect_exit(w, "abort-down", ["update", number, "--abort"], 5,
                    env={"ZRCA_URL": "https://127.0.0.1:1"})
    if "aborted" in r.stdout.lower():
        report("VIOLATION", "abort-down", r.stdout)
    d = w.zjson("update", number, expect=None)
    if not d.get("ok"):
        report("VIOLATION", "abort-down", "resume: %s" % d)
    else:
        report("ok", "abort-down", "resumed and finished")


def case_locked(w):
    """Two processes on one item: the second exits 9 (another process is updating the same item)."""
    number = approved_order(w)
    w.ctl("fault", "items.issue", "delay", "--delay-ms", "6000")
    p = subprocess.Popen([w.zrca_bin, "update", number], env=w.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    time.sleep(3)
    expect_exit(w, "locked-update", ["update", number, "1"], 9)
    r = expect_exit(w, "locked-abort", ["update", number, "1", "--abort", "--force"], 9)
    if "aborted" in r.stdout.lower():
        report("VIOLATION", "locked-abort", r.stdout)
    out, err = p.communicate(timeout=120)
    if p.returncode != 0:
        report("VIOLATION", "locked", "the first process: exit %d %s" % (p.returncode, err[-500:]))
    else:
        report("ok", "locked", "the first process finished")


def case_wrong_pin(w):
    """A wrong PIN: 6, then --abort reports truthfully and a new update finishes."""
    number = approved_order(w)
    wrong = w.path("wrongpin")
    with open(wrong, "w") as f:
        f.write("000000\n")
    expect_exit(w, "wrong-pin", ["update", number], 6, env={"ZRCA_PIN_FILE": wrong})
    d = w.zjson("update", number, "--abort", expect=None)
    report("ok" if d.get("exit", 0) in (0, 8) else "VIOLATION", "wrong-pin-abort", "%s" % d)
    d = w.zjson("update", number, expect=None)
    report("ok" if d.get("ok") else "VIOLATION", "wrong-pin-then", "%s" % str(d)[:300])


def case_junk_journal(w):
    """`zrca update N 7` for an item the order does not have exits 8; it must not leave anything that
    breaks the plain `zrca update N` (which resumes every journal of the order first)."""
    number = approved_order(w)
    expect_exit(w, "item-absent", ["update", number, "7"], 8)
    r = expect_exit(w, "update-after-junk", ["update", number], 0)
    info = w.zjson("token", "info")
    if len(info["certificates"]) != 2:
        report("VIOLATION", "update-after-junk", "item 1 not renewed: %d certificates" % len(info["certificates"]))
    d = w.zjson("order", number)
    if d["order"]["order_status"] != "completed":
        report("VIOLATION", "update-after-junk", "order %s" % d["order"]["order_status"])
    # Run it once more: finished, nothing left to update; exit 0 or 9 per the man page, never a crash.
    r = w.zrca("update", number, expect=None)
    report("NOTE", "update-again", "exit %d %s" % (r.returncode, r.stderr.strip()[-200:]))


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}


def main():
    build = sys.argv[1]
    names = sys.argv[2:] or sorted(CASES)
    for name in names:
        w = run.World(build)
        try:
            CASES[name](w)
        except Exception as e:  # noqa: BLE001
            report("VIOLATION" if isinstance(e, run.Fail) else "ERROR", name, "%r" % e)
        finally:
            w.close()
    bad = [r for r in results if r[0] in ("VIOLATION", "ERROR")]
    print("%d checks, %d violations" % (len(results), len(bad)))
    return min(len(bad), 100)


if __name__ == "__main__":
    sys.exit(main())
