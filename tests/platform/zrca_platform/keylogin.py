# SPDX-License-Identifier: MIT
"""Logging in with the USB key (证书登录, doc/protocol.md §18): the login challenges (in memory,
short-lived, single use, capped) and the check of a certificate login."""
import datetime as _dt
import hashlib
import os
import secrets
import threading
import time

from cryptography import x509

from . import pki
from .util import ApiError, b64d, b64e, ts, UTC, validation_error

LOGIN_LABEL = b"ZRCA-LOGIN-V1"
# the defaults of the operator settings login_challenge_ttl and login_challenges_max (§12)
DEFAULT_TTL = 120
DEFAULT_MAX = 1000
KINDS = ("org", "legal_rep", "personal")


def normalize_host(host):
    """The Host header as the signature binds it: lower case, without the default port :443."""
    h = (host or "").strip().lower()
    if h.endswith(":443"):
        h = h[:-4]
    return h


def public_hosts(bound_host, port, names=()):
    """The host names a client may sign (§18.2): each configured public name as given (without a
    port: 443), else the address the platform listens on (and `localhost` for a loopback address)
    with its port unless 443."""
    out = []

    def add(h):
        h = normalize_host(h)
        if h and h not in out:
            out.append(h)
    suffix = "" if port == 443 else ":%d" % port
    for n in names:
        add(n)
    if not names:
        add(("[%s]" % bound_host if ":" in bound_host else bound_host) + suffix)
        if bound_host in ("127.0.0.1", "::1", "localhost"):
            add("localhost" + suffix)
    return out


def login_message(nonce, cert_der, challenge_id, host):
    """The bytes the key signs (§18.2)."""
    return (LOGIN_LABEL + b"\x00" + nonce + hashlib.sha256(cert_der).digest() + challenge_id.encode("ascii")
            + b"\x00" + normalize_host(host).encode("ascii"))


KEY_FIELDS = ("certificate", "challenge_id", "signature")
PASSWORD_FIELDS = ("account", "password")


def is_key_login(body):
    """A login body of the certificate shape; one that mixes both shapes is refused here (422)."""
    if not isinstance(body, dict) or not any(k in body for k in KEY_FIELDS):
        return False
    mixed = [k for k in PASSWORD_FIELDS if k in body]
    if mixed:
        validation_error(mixed[0], "one_of", "log in with account and password, or with certificate, "
                         "challenge_id and signature: not both")
    unknown = sorted(k for k in body if k not in KEY_FIELDS)
    if unknown:
        validation_error(unknown[0], "unknown_field", "unknown field %s" % unknown[0])
    return True


class KeyLogin:
    """The outstanding login challenges of one server process. Not persisted: a restart drops them,
    which only costs a client one more challenge."""

    def __init__(self, store):
        self.store = store
        self.lock = threading.Lock()
        self.open = {}  # challenge_id -> (nonce, expires_epoch)

    def _limits(self, conn):
        s = self.store.settings(conn)
        return s.get("login_challenge_ttl", DEFAULT_TTL), s.get("login_challenges_max", DEFAULT_MAX)

    def _expire(self, now):
        for cid in [c for c, (_, exp) in self.open.items() if now >= exp]:
            del self.open[cid]

    def challenge(self, conn, body):
        if body:
            validation_error(sorted(body)[0], "unknown_field", "this request takes no fields")
        ttl, cap = self._limits(conn)
        now = time.time()
        with self.lock:
            self._expire(now)
            if len(self.open) >= cap:
                soonest = min(exp for _, exp in self.open.values())
                raise ApiError(429, "too_many_challenges",
                               "%d login challenges are open; try again when one expires" % len(self.open),
                               headers={"Retry-After": str(max(1, int(soonest - now) + 1))})
            cid = "lc_" + secrets.token_hex(16)
            nonce = os.urandom(32)
            exp = now + ttl
            self.open[cid] = (nonce, exp)
        return {"challenge_id": cid, "nonce": b64e(nonce),
                "expires_at": ts(_dt.datetime.fromtimestamp(int(exp), UTC))}

    def _take(self, cid):
        """The challenge's nonce, removed (single use: a failed login uses it up as well)."""
        now = time.time()
        with self.lock:
            got = self.open.pop(cid, None)
            self._expire(now)
        if got is None:
            raise ApiError(401, "invalid_challenge", "unknown, used or expired login challenge; ask for a new one")
        nonce, exp = got
        if now >= exp:
            raise ApiError(401, "invalid_challenge", "the login challenge expired; ask for a new one")
        return nonce

    def check(self, conn, body, hosts):
        """A certificate login's body (certificate, challenge_id, signature): the account row and the
        certificate row, or ApiError. `hosts` are the platform's own public host names (§18.2): the
        signature must be made for one of them, whatever Host header the request carries (a relay
        chooses that header)."""
        errors = []
        for k in ("certificate", "challenge_id", "signature"):
            v = body.get(k)
            if v is None or v == "":
                errors.append((k, "required", "%s is required" % k))
            elif not isinstance(v, str):
                errors.append((k, "type", "%s must be a string" % k))
            elif len(v) > (64 if k == "challenge_id" else 64 * 1024):
                errors.append((k, "max_length", "%s is too long" % k))
        der = sig = None
        if not errors:
            for k in ("certificate", "signature"):
                try:
                    val = b64d(body[k])
                except ValueError:
                    errors.append((k, "base64", "%s is not base64" % k))
                    continue
                if k == "certificate":
                    der = val
                else:
                    sig = val
            if der is not None:
                try:
                    cert = x509.load_der_x509_certificate(der)
                    pki.cert_public_key(cert)
                except Exception:
                    errors.append(("certificate", "der", "certificate is not a DER X.509 certificate"))
                    der = None
        if errors:
            from .util import Violations
            v = Violations()
            for f, r, m in errors:
                v.add(f, r, m)
            v.raise_if_any()
        # The challenge is used up before anything else is told: one guess per challenge.
        nonce = self._take(body["challenge_id"])
        row = conn.execute("SELECT * FROM certificates WHERE der=?", (der,)).fetchone()
        if row is None:
            raise ApiError(401, "invalid_credentials", "unknown certificate or wrong signature")
        pub = pki.cert_public_key(cert)
        if not any(pki.verify_signature(pub, sig, login_message(nonce, der, body["challenge_id"], h)) for h in hosts):
            raise ApiError(401, "invalid_credentials", "unknown certificate or wrong signature")
        now = ts(_dt.datetime.now(UTC))
        if row["status"] != "valid" or not (row["not_before"] <= now < row["not_after"]):
            status = row["status"]
            if status == "valid":
                status = "expired" if row["not_after"] <= now else "not_yet_valid"
            raise ApiError(401, "certificate_not_current",
                           "certificate %s is %s: it cannot log in" % (row["serial"], status))
        acct = conn.execute("SELECT * FROM accounts WHERE id=?", (row["account_id"],)).fetchone()
        if acct is None:
            raise ApiError(401, "invalid_credentials", "unknown certificate or wrong signature")
        return acct, row

    @staticmethod
    def answer(session, acct, row):
        import json
        ent = json.loads(acct["enterprise"])
        out = dict(session)
        out["method"] = "certificate"
        out["certificate"] = {"serial": row["serial"], "kind": row["kind"], "holder": row["holder"],
                              "holder_id_number": row["holder_id_number"], "enterprise": ent.get("name")}
        return out
