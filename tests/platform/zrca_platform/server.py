# SPDX-License-Identifier: MIT
"""HTTPS front of the reference platform: routing, limits, auth, idempotency, faults."""
import email.message
import email.utils
import hmac
import json
import re
import secrets
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from . import keylogin
from . import newcert
from . import revocation
from . import sm2crl
from .service import Service
from .util import ApiError, canonical, dumps, not_found, now_ts, sha256_hex

MAX_JSON = 1024 * 1024
MAX_MULTIPART = 64 * 1024 * 1024
MAX_DEPTH = 32
DRAIN = 16 * 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

N = r"(?P<number>[^/]+)"
I = r"(?P<idx>[^/]+)"
A = r"(?P<account>[^/]+)"
R = r"(?P<rid>[^/]+)"

# (method, path regex, fault endpoint name, handler name, auth, idempotency, body)
ROUTES = [
    ("POST", r"/api/v1/session", "session.create", "login", None, None, "json"),
    ("POST", r"/api/v1/session/challenge", "session.challenge", "login_challenge", None, None, "json"),
    ("DELETE", r"/api/v1/session", "session.delete", "logout", "account", None, None),
    ("GET", r"/api/v1/account", "account.get", "account", "account", None, None),
    ("GET", r"/api/v1/enterprise", "enterprise.get", "enterprise", "account", None, None),
    ("GET", r"/api/v1/certificates", "certificates.list", "certificates", "account", None, None),
    ("GET", r"/api/v1/persons", "persons.list", "persons", "account", None, None),
    ("GET", r"/api/v1/fees", "fees.get", "fees", "account", None, None),
    ("GET", r"/api/v1/notifications", "notifications.list", "notifications", "account", None, None),
    ("POST", r"/api/v1/applications", "applications.create", "apply", "account", "required", "multipart"),
    ("GET", r"/api/v1/orders", "orders.list", "orders", "account", None, None),
    ("GET", r"/api/v1/orders/" + N, "orders.get", "order", "account", None, None),
    ("PUT", r"/api/v1/orders/" + N, "orders.edit", "edit", "account", "required", "multipart"),
    ("POST", r"/api/v1/orders/" + N + "/cancel", "orders.cancel", "cancel", "account", "required", "json"),
    ("POST", r"/api/v1/orders/" + N + "/pay", "orders.pay", "pay", "account", "required", "json"),
    ("POST", r"/api/v1/orders/" + N + "/resubmit", "orders.resubmit", "resubmit", "account", "required", "json"),
    ("POST", r"/api/v1/orders/" + N + "/rate", "orders.rate", "rate", "account", "required", "json"),
    ("POST", r"/api/v1/orders/" + N + "/receive", "orders.receive", "receive", "account", "required", "json"),
    ("GET", r"/api/v1/orders/" + N + "/receipt", "orders.receipt", "receipt", "account", None, None),
    ("GET", r"/api/v1/orders/" + N + "/items/" + I, "items.get", "item", "account", None, None),
    ("POST", r"/api/v1/orders/" + N + "/items/" + I + "/challenge", "items.challenge", "challenge", "account",
     "optional", "json"),
    ("POST", r"/api/v1/orders/" + N + "/items/" + I + "/issue", "items.issue", "issue", "account", "required",
     "json"),
    ("GET", r"/api/v1/orders/" + N + "/items/" + I + "/certificate", "items.certificate", "certificate", "account",
     None, None),
    ("POST", r"/api/v1/orders/" + N + "/items/" + I + "/confirm", "items.confirm", "confirm", "account", "required",
     "json"),
    ("GET", r"/api/v1/orders/" + N + "/items/" + I + "/seal", "items.seal", "seal", "account", None, None),
    # revocation (section 17)
    ("POST", r"/api/v1/revocations/challenge", "revocations.challenge", "rev_challenge", "account", "optional",
     "json"),
    ("POST", r"/api/v1/revocations", "revocations.create", "rev_create", "account", "required", "json"),
    ("GET", r"/api/v1/revocations", "revocations.list", "rev_list", "account", None, None),
    ("GET", r"/api/v1/revocations/" + R, "revocations.get", "rev_get", "account", None, None),
    ("GET", r"/crl/issuing\.crl", "crl.get", "crl", None, None, None),
    ("GET", r"/crl/issuing\.crt", "crl.issuer", "crl_issuer", None, None, None),
    ("GET", r"/crl/sm2-issuing\.crl", "crl.sm2", "sm2_crl", None, None, None),
    ("GET", r"/crl/sm2-issuing\.crt", "crl.sm2_issuer", "sm2_crl_issuer", None, None, None),
    # operator
    ("GET", r"/api/v1/operator/revocations", None, "op_revocations", "operator", None, None),
    ("POST", r"/api/v1/operator/revocations/" + R + "/review", None, "op_rev_review", "operator", "optional",
     "json"),
    ("POST", r"/api/v1/operator/crl", None, "op_crl", "operator", "optional", "json"),
    ("POST", r"/api/v1/operator/accounts", None, "op_create_account", "operator", "optional", "json"),
    ("GET", r"/api/v1/operator/accounts", None, "op_accounts", "operator", None, None),
    ("POST", r"/api/v1/operator/accounts/" + A + "/orders", None, "op_bulk", "operator", "optional", "json"),
    ("GET", r"/api/v1/operator/orders/" + N, None, "op_order", "operator", None, None),
    ("POST", r"/api/v1/operator/orders/" + N + "/review", None, "op_review", "operator", "optional", "json"),
    ("POST", r"/api/v1/operator/orders/" + N + "/ship", None, "op_ship", "operator", "optional", "json"),
    ("POST", r"/api/v1/operator/orders/" + N + "/deliver", None, "op_deliver", "operator", "optional", "json"),
    ("POST", r"/api/v1/operator/orders/" + N + "/items/" + I + "/fulfil", None, "op_fulfil", "operator",
     "optional", "json"),
    ("GET", r"/api/v1/operator/orders/" + N + "/items/" + I + "/issuances", None, "op_issuances", "operator",
     None, None),
    ("POST", r"/api/v1/operator/orders/" + N + "/items/" + I + "/reissue", None, "op_reissue", "operator",
     "optional", "json"),
    ("POST", r"/api/v1/operator/orders/" + N + "/items/" + I + "/release", None, "op_release", "operator",
     "optional", "json"),
    ("GET", r"/api/v1/operator/issuer", None, "op_issuer", "operator", None, None),
    ("PUT", r"/api/v1/operator/issuer", None, "op_put_issuer", "operator", "optional", "json"),
    ("POST", r"/api/v1/operator/certificates", None, "op_provision", "operator", "optional", "json"),
    ("GET", r"/api/v1/operator/settings", None, "op_settings", "operator", None, None),
    ("PUT", r"/api/v1/operator/settings", None, "op_put_settings", "operator", "optional", "json"),
    ("GET", r"/api/v1/operator/stats", None, "op_stats", "operator", None, None),
    ("DELETE", r"/api/v1/operator/stats", None, "op_clear_stats", "operator", None, None),
    ("GET", r"/api/v1/operator/faults", None, "op_faults", "operator", None, None),
    ("POST", r"/api/v1/operator/faults", None, "op_add_fault", "operator", "optional", "json"),
    ("DELETE", r"/api/v1/operator/faults", None, "op_clear_faults", "operator", None, None),
    ("DELETE", r"/api/v1/operator/faults/(?P<fault>[0-9]+)", None, "op_del_fault", "operator", None, None),
]
COMPILED = [(m, re.compile("^" + p + "$"), name, h, auth, idem, body) for m, p, name, h, auth, idem, body in ROUTES]
ENDPOINT_NAMES = sorted({r[2] for r in ROUTES if r[2]})


def match(method, path):
    allowed = []
    for m, rx, name, h, auth, idem, body in COMPILED:
        mo = rx.match(path)
        if mo:
            if m == method:
                return (name, h, auth, idem, body), {k: unquote(v) for k, v in mo.groupdict().items()}, None
            allowed.append(m)
    return None, None, allowed


class _Dup(Exception):
    pass


def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise _Dup(k)
        d[k] = v
    return d


def _bad_const(c):
    raise ValueError("constant %s" % c)


def _depth_ok(obj):
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return True


def parse_json(data, what="body"):
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("BOM")
        obj = json.loads(text, object_pairs_hook=_pairs, parse_constant=_bad_const)
    except _Dup as e:
        raise ApiError(400, "malformed_json", "%s: duplicate key %r" % (what, str(e)))
    except RecursionError:
        raise ApiError(400, "malformed_json", "%s: nested deeper than %d" % (what, MAX_DEPTH))
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, "malformed_json", "%s is not valid JSON: %s" % (what, e))
    if not isinstance(obj, dict):
        raise ApiError(400, "malformed_json", "%s must be a JSON object" % what)
    if not _depth_ok(obj):
        raise ApiError(400, "malformed_json", "%s: nested deeper than %d" % (what, MAX_DEPTH))
    return obj


def _params(value):
    """Parse 'type; a=b; c="d"' into (type, {a: b, c: d})."""
    m = email.message.Message()
    m["x"] = value
    params = m.get_params(header="x") or []
    if not params:
        return "", {}
    main = params[0][0].strip().lower()
    return main, {k.lower(): email.utils.collapse_rfc2231_value(v) for k, v in params[1:]}


def parse_multipart(body, content_type):
    _, params = _params(content_type)
    boundary = params.get("boundary")
    if not boundary or len(boundary) > 70:
        raise ApiError(400, "malformed_multipart", "multipart boundary missing or longer than 70")
    delim = b"--" + boundary.encode("latin-1")
    pos = body.find(delim)
    if pos < 0:
        raise ApiError(400, "malformed_multipart", "no multipart boundary in the body")
    pos += len(delim)
    parts = []
    while True:
        if body[pos:pos + 2] == b"--":
            break
        if body[pos:pos + 2] != b"\r\n":
            raise ApiError(400, "malformed_multipart", "bad boundary line")
        pos += 2
        nxt = body.find(b"\r\n" + delim, pos)
        if nxt < 0:
            raise ApiError(400, "malformed_multipart", "multipart body not closed")
        raw = body[pos:nxt]
        if raw.startswith(b"\r\n"):
            head, content = b"", raw[2:]
        else:
            he = raw.find(b"\r\n\r\n")
            if he < 0:
                raise ApiError(400, "malformed_multipart", "part without headers")
            head, content = raw[:he], raw[he + 4:]
        name = None
        try:
            lines = head.decode("utf-8").split("\r\n") if head else []
        except UnicodeDecodeError:
            raise ApiError(400, "malformed_multipart", "part headers are not UTF-8")
        for line in lines:
            if ":" not in line:
                raise ApiError(400, "malformed_multipart", "bad part header line")
            k, v = line.split(":", 1)
            if k.strip().lower() == "content-disposition":
                disp, p = _params(v.strip())
                if disp != "form-data":
                    raise ApiError(400, "malformed_multipart", "part disposition must be form-data")
                name = p.get("name")
        if not name:
            raise ApiError(400, "malformed_multipart", "part without a name")
        parts.append((name, content))
        pos = nxt + 2 + len(delim)
    apps = [c for n, c in parts if n == "application"]
    if len(apps) != 1:
        raise ApiError(400, "malformed_multipart", "exactly one part named 'application' is required")
    if len(apps[0]) > MAX_JSON:
        raise ApiError(413, "payload_too_large", "the application part is larger than 1 MiB")
    app = parse_json(apps[0], "the application part")
    return app, [(n, c) for n, c in parts if n != "application"]


class Response:
    """`wire`: a body sent instead of `body` while `body` is what the idempotency record keeps (the faulty
    issuer's mode wire)."""

    def __init__(self, status, obj=None, headers=None, raw=None, wire=None):
        self.status = status
        self.wire = dumps(wire) if wire is not None else None
        self.headers = dict(headers or {})
        if raw is not None:
            self.body = raw
        elif obj is None:
            self.body = b""
        else:
            self.body = dumps(obj)
            self.headers.setdefault("Content-Type", "application/json; charset=utf-8")


def error_response(e):
    h = dict(e.headers)
    return Response(e.status, e.body(), h)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zrca-platformd/1"
    sys_version = ""
    timeout = 60

    # ------------------------------------------------------------ plumbing

    def setup(self):
        super().setup()
        self.conn_id = self.server.next_connection_id()
        self.db = self.server.store.connect()
        self.svc = self.server.service

    def finish(self):
        try:
            super().finish()
        finally:
            self.db.close()

    def log_message(self, fmt, *args):
        if self.server.log:
            self.server.log.write("%s %s\n" % (now_ts(), fmt % args))
            self.server.log.flush()

    def send_error(self, code, message=None, explain=None):
        codes = {400: "bad_request", 408: "request_timeout", 414: "uri_too_long", 431: "headers_too_large",
                 501: "not_implemented", 505: "http_version_not_supported"}
        e = ApiError(code, codes.get(code, "bad_request"), message or "bad request")
        self.close_connection = True
        try:
            self._send(error_response(e), None)
        except OSError:
            pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_HEAD(self):
        self.close_connection = True
        self._send(error_response(ApiError(405, "method_not_allowed", "HEAD is not supported")), None)

    def _send(self, resp, fault):
        kind = fault["kind"] if fault else None
        if kind == "drop_after":
            self.close_connection = True
            self._drop()
            return
        body = resp.wire if resp.wire is not None else resp.body
        status = resp.status
        if kind == "malformed":
            n = max(len(body), 2)
            body = (b'{"' + b"\xff" * n)[:n]
            if status in (204, 304):
                status = 200
        self.send_response(status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", self.req_id if hasattr(self, "req_id") else secrets.token_hex(16))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if kind == "truncate":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._drop()
            return
        if status not in (204, 304):
            self.wfile.write(body)

    def _drop(self):
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------ one request

    def _handle(self, method):
        self.req_id = secrets.token_hex(16)
        fault = None
        self.server.count_request(self.conn_id, method, self.path)
        try:
            resp, fault = self._process(method)
        except ApiError as e:
            resp = error_response(e)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            self.close_connection = True
            return
        except Exception as e:  # never a crash: a 500 with the standard body
            import traceback
            traceback.print_exc()
            resp = error_response(ApiError(500, "internal_error", "internal error: %s" % type(e).__name__))
        if fault and fault["kind"] == "drop_before":
            self.close_connection = True
            self._drop()
            return
        try:
            self._send(resp, fault if fault and fault["kind"] in ("drop_after", "truncate", "malformed") else None)
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _read_body(self, body_kind):
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(411, "length_required", "send the body with Content-Length, not chunked")
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        if not re.match(r"^[0-9]{1,12}$", cl.strip()):
            self.close_connection = True
            raise ApiError(400, "bad_request", "bad Content-Length")
        n = int(cl)
        limit = MAX_MULTIPART if body_kind == "multipart" else MAX_JSON
        if n > limit:
            self.close_connection = True
            if n <= limit + DRAIN:
                # read and drop it, so that a client still sending gets the 413 rather than a reset
                left = n
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    left -= len(chunk)
            raise ApiError(413, "payload_too_large", "body of %d bytes is over the limit of %d" % (n, limit))
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            raise ConnectionError("short body")
        return data

    def _process(self, method):
        split = urlsplit(self.path)
        route, params, allowed = match(method, split.path)
        body_kind = route[4] if route else None
        data = self._read_body(body_kind)
        if route is None:
            if allowed:
                raise ApiError(405, "method_not_allowed", "%s is not allowed here" % method,
                               headers={"Allow": ", ".join(sorted(set(allowed)))})
            raise ApiError(404, "not_found", "no such endpoint")
        name, hname, auth, idem, body_kind = route
        fault = self.svc.take_fault(self.db, name) if name else None
        if fault:
            if fault["kind"] == "status":
                st = fault["status"] or 503
                h = {}
                if fault["retry_after"] is not None:
                    h["Retry-After"] = str(fault["retry_after"])
                code = "unavailable" if st == 503 else "internal_error"
                return error_response(ApiError(st, code, "injected fault", headers=h)), None
            if fault["kind"] == "drop_before":
                return Response(500), fault
        try:
            query = dict(parse_qsl(split.query, keep_blank_values=True, strict_parsing=False,
                                   errors="strict"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "bad_request", "bad query string")
        # authentication
        acct = None
        authz = self.headers.get("Authorization", "")
        token = authz[7:].strip() if authz[:7].lower() == "bearer " else None
        if auth == "account":
            if not token:
                raise ApiError(401, "unauthorized", "missing bearer token",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            acct = self.svc.authenticate(self.db, token)
        elif auth == "operator":
            if not token or not hmac.compare_digest(token.encode(), self.server.store.operator_token.encode()):
                if token:
                    try:
                        self.svc.authenticate(self.db, token)
                    except ApiError:
                        pass
                    else:
                        raise ApiError(403, "forbidden", "an account token cannot use the operator API")
                raise ApiError(401, "unauthorized", "operator token required")
        # body
        body = None
        ctype = self.headers.get("Content-Type", "")
        if body_kind == "json":
            if data:
                main, p = _params(ctype) if ctype else ("", {})
                if main != "application/json" or p.get("charset", "utf-8").lower() != "utf-8":
                    raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
                body = parse_json(data)
            else:
                body = {}
            fingerprint = sha256_hex(canonical(body))
        elif body_kind == "multipart":
            main, p = _params(ctype) if ctype else ("", {})
            if main != "multipart/form-data":
                raise ApiError(415, "unsupported_media_type", "send Content-Type: multipart/form-data")
            app, parts = parse_multipart(data, ctype)
            body = (app, parts)
            fingerprint = sha256_hex(canonical({"application": app,
                                                "parts": {n: sha256_hex(c) for n, c in parts}}))
        else:
            fingerprint = sha256_hex(b"")
        # idempotency
        key = self.headers.get("Idempotency-Key")
        if key is not None or idem == "required":
            if idem is None:
                key = None
            elif key is None:
                raise ApiError(400, "idempotency_key_required", "this request needs an Idempotency-Key header",
                               "Idempotency-Key", "required")
            elif not KEY_RE.match(key):
                raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key: 1-128 of A-Z a-z 0-9 - _ . :",
                               "Idempotency-Key", "format")
        scope = "operator" if auth == "operator" else ("acct:%d" % acct["id"] if acct else "anon")
        path = split.path
        call = lambda: getattr(self, "h_" + hname)(acct, params, query, body)  # noqa: E731
        if key is None:
            if fault and fault["kind"] == "delay":
                time.sleep(fault["delay_ms"] / 1000.0)
            if method == "GET" or hname == "login":
                return call(), fault
            with self.server.store.tx(self.db):
                return call(), fault
        rec = self._idem_lookup(scope, key, method, path, fingerprint)
        if rec:
            return rec, fault
        inflight = self.server.inflight
        with self.server.inflight_lock:
            if (scope, key) in inflight:
                raise ApiError(409, "idempotency_key_in_use", "a request with this Idempotency-Key is in progress",
                               "Idempotency-Key", None, headers={"Retry-After": "1"})
            inflight.add((scope, key))
        try:
            if fault and fault["kind"] == "delay":
                time.sleep(fault["delay_ms"] / 1000.0)
            with self.server.store.tx(self.db):
                rec = self._idem_lookup(scope, key, method, path, fingerprint)
                if rec:
                    return rec, fault
                resp = call()
                if 200 <= resp.status < 300:
                    keep = {k: v for k, v in resp.headers.items() if k in ("Content-Type", "Location", "ETag")}
                    self.db.execute("INSERT INTO idempotency(scope, key, method, path, fingerprint, status, headers, "
                                    "body, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                                    (scope, key, method, path, fingerprint, resp.status, json.dumps(keep),
                                     resp.body, now_ts()))
                return resp, fault
        finally:
            with self.server.inflight_lock:
                inflight.discard((scope, key))

    def _idem_lookup(self, scope, key, method, path, fingerprint):
        r = self.db.execute("SELECT * FROM idempotency WHERE scope=? AND key=?", (scope, key)).fetchone()
        if r is None:
            return None
        if r["method"] != method or r["path"] != path or r["fingerprint"] != fingerprint:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was used for another request (%s %s)" % (r["method"], r["path"]),
                           "Idempotency-Key", "reused")
        h = json.loads(r["headers"])
        h["Idempotent-Replayed"] = "true"
        return Response(r["status"], headers=h, raw=bytes(r["body"]))

    # ------------------------------------------------------------ handlers

    def h_login(self, acct, p, q, body):
        if keylogin.is_key_login(body):  # 证书登录, §18
            row, cert = self.server.keylogin.check(self.db, body, self.server.public_hosts)
            with self.server.store.tx(self.db):
                return Response(201, keylogin.KeyLogin.answer(self.svc.create_session(self.db, row), row, cert))
        row = self.svc.check_login(self.db, body)
        with self.server.store.tx(self.db):
            out = self.svc.create_session(self.db, row)
            out["method"] = "password"
            return Response(201, out)

    def h_login_challenge(self, acct, p, q, body):
        return Response(201, self.server.keylogin.challenge(self.db, body))

    def h_logout(self, acct, p, q, body):
        self.svc.logout(self.db, acct)
        return Response(204)

    def h_account(self, acct, p, q, body):
        return Response(200, self.svc.account_json(self.db, acct))

    def h_enterprise(self, acct, p, q, body):
        return Response(200, self.svc.enterprise_json(acct))

    def h_certificates(self, acct, p, q, body):
        return Response(200, self.svc.list_certificates(self.db, acct, q))

    def h_persons(self, acct, p, q, body):
        return Response(200, self.svc.list_persons(self.db, acct, q))

    def h_fees(self, acct, p, q, body):
        return Response(200, self.svc.fees_json())

    def h_notifications(self, acct, p, q, body):
        return Response(200, self.svc.list_notifications(self.db, acct, q))

    def h_apply(self, acct, p, q, body):
        o = self.svc.create_application(self.db, acct, body[0], body[1])
        return Response(201, o, {"Location": "/api/v1/orders/" + o["number"]})

    def h_orders(self, acct, p, q, body):
        return Response(200, self.svc.list_orders(self.db, acct, q))

    def h_order(self, acct, p, q, body):
        o = self.svc.order_row(self.db, p["number"], acct["id"])
        resp = Response(200, self.svc.order_json(self.db, o))
        etag = '"%s"' % sha256_hex(resp.body)[:32]
        resp.headers["ETag"] = etag
        if self.svc.waiting_on_review(o):
            resp.headers["Retry-After"] = str(self.svc.store.settings(self.db)["review_retry_after"])
        inm = self.headers.get("If-None-Match")
        if inm and etag in [t.strip() for t in inm.split(",")]:
            h = {"ETag": etag}
            if "Retry-After" in resp.headers:
                h["Retry-After"] = resp.headers["Retry-After"]
            return Response(304, headers=h)
        return resp

    def h_edit(self, acct, p, q, body):
        return Response(200, self.svc.edit_order(self.db, acct, p["number"], body[0], body[1]))

    def h_cancel(self, acct, p, q, body):
        return Response(200, self.svc.order_action(self.db, acct, p["number"], "cancel", body))

    def h_pay(self, acct, p, q, body):
        return Response(200, self.svc.order_action(self.db, acct, p["number"], "pay", body))

    def h_resubmit(self, acct, p, q, body):
        return Response(200, self.svc.order_action(self.db, acct, p["number"], "resubmit", body))

    def h_rate(self, acct, p, q, body):
        return Response(200, self.svc.order_action(self.db, acct, p["number"], "rate", body))

    def h_receive(self, acct, p, q, body):
        return Response(200, newcert.receive(self.svc, self.db, acct, p["number"], body))

    def h_receipt(self, acct, p, q, body):
        pdf = self.svc.receipt(self.db, acct, p["number"])
        return Response(200, raw=pdf, headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": 'attachment; filename="receipt-%s.pdf"' % p["number"]})

    def h_item(self, acct, p, q, body):
        return Response(200, self.svc.get_item(self.db, acct, p["number"], p["idx"]))

    def h_challenge(self, acct, p, q, body):
        return Response(201, self.svc.challenge(self.db, acct, p["number"], p["idx"], body))

    def h_issue(self, acct, p, q, body):
        st, obj, wire = self.svc.issue(self.db, acct, p["number"], p["idx"], body)
        return Response(st, obj, wire=wire)

    def h_certificate(self, acct, p, q, body):
        return Response(200, self.svc.issued_certificate(self.db, acct, p["number"], p["idx"]))

    def h_confirm(self, acct, p, q, body):
        return Response(200, self.svc.confirm(self.db, acct, p["number"], p["idx"], body))

    def h_seal(self, acct, p, q, body):
        return Response(200, self.svc.seal(self.db, acct, p["number"], p["idx"]))

    # revocation (section 17)

    def h_rev_challenge(self, acct, p, q, body):
        return Response(201, revocation.challenge(self.svc, self.db, acct, body))

    def h_rev_create(self, acct, p, q, body):
        r = revocation.create(self.svc, self.db, acct, body)
        return Response(201, r, {"Location": "/api/v1/revocations/%d" % r["id"]})

    def h_rev_list(self, acct, p, q, body):
        return Response(200, revocation.list_for(self.svc, self.db, acct, q))

    def h_rev_get(self, acct, p, q, body):
        return Response(200, revocation.get(self.svc, self.db, acct, p["rid"]))

    def h_crl(self, acct, p, q, body):
        return Response(200, raw=revocation.current(self.server.store, self.db),
                        headers={"Content-Type": "application/pkix-crl", "Cache-Control": "max-age=60"})

    def h_crl_issuer(self, acct, p, q, body):
        return Response(200, raw=self.server.store.pki.issuing_der,
                        headers={"Content-Type": "application/pkix-cert", "Cache-Control": "max-age=60"})

    def h_sm2_crl(self, acct, p, q, body):
        der = sm2crl.current(self.server.store, self.db)
        if der is None:
            raise not_found("SM2 CA (no SM2 certificate was issued yet)")
        return Response(200, raw=der, headers={"Content-Type": "application/pkix-crl", "Cache-Control": "max-age=60"})

    def h_sm2_crl_issuer(self, acct, p, q, body):
        if not sm2crl.available(self.server.store.pki):
            raise not_found("SM2 CA (no SM2 certificate was issued yet)")
        return Response(200, raw=self.server.store.pki.sm2ca.issuing_der,
                        headers={"Content-Type": "application/pkix-cert", "Cache-Control": "max-age=60"})

    def h_op_revocations(self, acct, p, q, body):
        return Response(200, revocation.operator_list(self.svc, self.db, q))

    def h_op_rev_review(self, acct, p, q, body):
        return Response(200, revocation.review(self.svc, self.db, p["rid"], body))

    def h_op_crl(self, acct, p, q, body):
        return Response(201, revocation.operator_publish(self.svc, self.db, body))

    # operator

    def h_op_create_account(self, acct, p, q, body):
        return Response(201, self.svc.create_account(self.db, body))

    def h_op_accounts(self, acct, p, q, body):
        return Response(200, self.svc.list_accounts(self.db))

    def h_op_bulk(self, acct, p, q, body):
        return Response(201, self.svc.bulk_orders(self.db, p["account"], body))

    def h_op_order(self, acct, p, q, body):
        return Response(200, self.svc.operator_order(self.db, p["number"]))

    def h_op_review(self, acct, p, q, body):
        return Response(200, self.svc.review(self.db, p["number"], body))

    def h_op_ship(self, acct, p, q, body):
        return Response(200, newcert.ship(self.svc, self.db, p["number"], body))

    def h_op_deliver(self, acct, p, q, body):
        return Response(200, self.svc.deliver(self.db, p["number"], body))

    def h_op_fulfil(self, acct, p, q, body):
        return Response(201, self.svc.fulfil(self.db, p["number"], p["idx"], body))

    def h_op_issuances(self, acct, p, q, body):
        return Response(200, self.svc.issuances(self.db, p["number"], p["idx"]))

    def h_op_reissue(self, acct, p, q, body):
        stored, sent = self.svc.reissue(self.db, p["number"], p["idx"], body)
        return Response(201, stored, wire=sent)

    def h_op_release(self, acct, p, q, body):
        return Response(200, self.svc.release(self.db, p["number"], p["idx"], body))

    def h_op_issuer(self, acct, p, q, body):
        return Response(200, self.svc.issuer_json(self.db))

    def h_op_put_issuer(self, acct, p, q, body):
        return Response(200, self.svc.put_issuer(self.db, body))

    def h_op_provision(self, acct, p, q, body):
        return Response(201, self.svc.provision(self.db, body))

    def h_op_settings(self, acct, p, q, body):
        return Response(200, self.svc.store.settings(self.db))

    def h_op_put_settings(self, acct, p, q, body):
        return Response(200, self.svc.put_settings(self.db, body))

    def h_op_stats(self, acct, p, q, body):
        return Response(200, self.server.stats_json())

    def h_op_clear_stats(self, acct, p, q, body):
        self.server.clear_stats()
        return Response(204)

    def h_op_faults(self, acct, p, q, body):
        return Response(200, self.svc.list_faults(self.db))

    def h_op_add_fault(self, acct, p, q, body):
        return Response(201, self.svc.add_fault(self.db, body, ENDPOINT_NAMES))

    def h_op_clear_faults(self, acct, p, q, body):
        self.db.execute("DELETE FROM faults")
        return Response(204)

    def h_op_del_fault(self, acct, p, q, body):
        cur = self.db.execute("DELETE FROM faults WHERE id=?", (int(p["fault"]),))
        if cur.rowcount == 0:
            raise ApiError(404, "not_found", "no such fault")
        return Response(204)


class PlatformServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, addr, store, log=None):
        self.store = store
        self.service = Service(store)
        self.keylogin = keylogin.KeyLogin(store)
        self.ssl_ctx = store.pki.ssl_context()
        self.inflight = set()
        self.inflight_lock = threading.Lock()
        self.log = log
        # The account side's requests and the TLS connections that carried them (§12, stats): what a
        # client costs the platform, counted here rather than trusted from the client.
        self.stats_lock = threading.Lock()
        self.connection_seq = 0
        self.stats = []
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)
        # The names a key login's signature may be made for (§18.2): set by zrca-platformd once the
        # port is known; never the request's own Host header.
        self.public_hosts = keylogin.public_hosts(self.server_address[0], self.server_address[1])

    def next_connection_id(self):
        with self.stats_lock:
            self.connection_seq += 1
            return self.connection_seq

    def count_request(self, conn_id, method, target):
        path = urlsplit(target).path
        if path.startswith("/api/v1/operator"):
            return
        with self.stats_lock:
            if len(self.stats) < 100000:
                self.stats.append((conn_id, method, path))

    def clear_stats(self):
        with self.stats_lock:
            self.stats = []

    def stats_json(self):
        with self.stats_lock:
            items = list(self.stats)
        return {"requests": len(items), "connections": len({c for c, _, _ in items}),
                "items": [{"connection": c, "method": m, "path": p} for c, m, p in items]}

    def finish_request(self, request, client_address):
        request.settimeout(60)
        try:  # headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms each
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            # lingering close: read what the client may still be sending (an unread body), so that the
            # kernel does not answer it with a reset that would destroy the response already sent
            try:
                tls.settimeout(0.2)
                deadline = time.time() + 1.0
                got = 0
                while time.time() < deadline and got < (4 << 20):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
            except (OSError, ssl.SSLError, ValueError):
                pass
            try:
                tls.close()
            except OSError:
                pass
