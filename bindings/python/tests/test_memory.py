# SPDX-License-Identifier: MIT
"""1,000 session cycles with a flat memory curve: the resident set after 100 cycles and after
1,000 differ by less than 2 MiB (a leak of one handle, callback slot or option struct per cycle
would show). The figures are printed (pytest -s shows them)."""
from __future__ import annotations

import gc
import os
import ssl
import time

import zrca
from support import PASSWORD

PAGE = os.sysconf("SC_PAGE_SIZE")
BOUND = 2 * 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _measure(cycle, n=1000, at=100):
    gc.collect()
    t0 = time.monotonic()
    marks = {}
    for i in range(1, n + 1):
        cycle(i)
        if i in (at, n):
            gc.collect()
            marks[i] = rss()
    return marks[at], marks[n], time.monotonic() - t0


def test_session_cycles_without_network(platform, tmp_path):
    """zrca_session_new + free, each session with a log callback, a credentials callback and a
    Python transport (so each cycle registers and releases three callback slots)."""
    ctx = ssl.create_default_context(cafile=platform.ca_file)
    base_slots = zrca._live_slots()
    made = []

    def cycle(i):
        # Odd cycles with the library's libcurl transport, even ones with a Python transport.
        transport = zrca.HttpTransport(context=ctx) if i % 2 == 0 else None
        with zrca.Session(platform.url, ca_file=platform.ca_file, state_dir=str(tmp_path),
                          log=lambda *a: None, credentials=lambda a: None, transport=transport) as s:
            assert s.account is None
            made.append(1)

    at100, at1000, secs = _measure(cycle)
    assert len(made) == 1000
    growth = at1000 - at100
    print("\nsession new/free x1000: RSS %.1f MiB after 100, %.1f MiB after 1000, growth %+d KiB, %.1f s"
          % (at100 / 2**20, at1000 / 2**20, growth // 1024, secs))
    assert growth < BOUND
    assert zrca._live_slots() == base_slots


def test_login_cycles_against_the_platform(platform, make_world):
    """Full cycles over the network: new session, login, read the certificates, logout, free.
    300 of them (a login costs the platform a password hash and a TLS handshake: ~60 ms)."""
    w = make_world(kind=zrca.CertKind.ORG)

    def cycle(i):
        with zrca.Session(platform.url, **platform.session_options()) as s:
            s.login(w.account, PASSWORD)
            with s.certificates() as certs:
                assert certs[0].serial == w.old_serial
            s.logout()

    at100, at300, secs = _measure(cycle, n=300)
    growth = at300 - at100
    print("\nlogin/read/logout x300: RSS %.1f MiB after 100, %.1f MiB after 300, growth %+d KiB, %.1f s"
          % (at100 / 2**20, at300 / 2**20, growth // 1024, secs))
    assert growth < BOUND
