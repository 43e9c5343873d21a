# SPDX-License-Identifier: MIT
"""Small shared helpers: time, JSON, base64, the API error type."""
import base64
import binascii
import datetime as _dt
import hashlib
import json
import re
import time

UTC = _dt.timezone.utc


def now_dt():
    """Current UTC time truncated to whole seconds."""
    return _dt.datetime.now(UTC).replace(microsecond=0)


def ts(dt):
    """RFC 3339 UTC, exactly YYYY-MM-DDTHH:MM:SSZ."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ts():
    return ts(now_dt())


_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parse_ts(s):
    """Parse our RFC 3339 form; raise ValueError otherwise."""
    if not isinstance(s, str) or not _TS_RE.match(s):
        raise ValueError("not YYYY-MM-DDTHH:MM:SSZ")
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def epoch():
    return time.time()


def dumps(obj):
    """Response JSON: compact, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def canonical(obj):
    """Canonical JSON used for idempotency fingerprints (doc/protocol.md section 4)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def b64e(data):
    return base64.b64encode(data).decode("ascii")


def b64d(s):
    """Strict standard base64; raise ValueError."""
    if not isinstance(s, str):
        raise ValueError("not a string")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError(str(e))


def serial_hex(n):
    h = format(n, "x")
    if len(h) % 2:
        h = "0" + h
    return h


class ApiError(Exception):
    """An error response: status, code, message, field, rule, errors list, headers."""

    def __init__(self, status, code, message, field=None, rule=None, errors=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        self.errors = errors
        self.headers = headers or {}

    def body(self):
        err = {"code": self.code, "message": self.message, "field": self.field, "rule": self.rule}
        if self.errors is not None:
            err["errors"] = self.errors
        return {"error": err}


class Violations:
    """Collects every validation violation; raise() gives one 422 validation_failed."""

    def __init__(self):
        self.items = []

    def add(self, field, rule, message):
        self.items.append({"field": field, "rule": rule, "message": message})

    def has(self, prefix=None):
        if prefix is None:
            return bool(self.items)
        return any(e["field"] == prefix or (e["field"] or "").startswith(prefix + ".")
                   or (e["field"] or "").startswith(prefix + "[") for e in self.items)

    def raise_if_any(self):
        if self.items:
            first = self.items[0]
            n = len(self.items)
            msg = first["message"] if n == 1 else "%s (and %d more)" % (first["message"], n - 1)
            raise ApiError(422, "validation_failed", msg, first["field"], first["rule"], errors=list(self.items))


def validation_error(field, rule, message):
    v = Violations()
    v.add(field, rule, message)
    v.raise_if_any()


def conflict(code, message, rule=None):
    return ApiError(409, code, message, None, rule)


def not_found(what="resource"):
    return ApiError(404, "not_found", "%s not found" % what)


def is_int(x):
    return type(x) is int


def has_control(s):
    return any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in s)
