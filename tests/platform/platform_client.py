# SPDX-License-Identifier: MIT
"""Test-side client for the reference platform: a strict HTTPS client, key/CSR helpers, multipart."""
import base64
import datetime as _dt
import hashlib
import http.client
import json
import os
import secrets
import select
import signal
import ssl
import subprocess
import sys
import time
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
DAEMON = os.path.join(HERE, "zrca-platformd")
CTL = os.path.join(HERE, "zrca-platformctl")
sys.path.insert(0, HERE)
from zrca_platform import idnum  # noqa: E402

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
BMP = b"BM" + b"\x00" * 100
GIF = b"GIF89a" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
DOCX = b"PK\x03\x04" + b"\x00" * 100


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s)


def key_id():
    return str(uuid.uuid4())


class Result:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def error(self):
        return self.json["error"]

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<Result %d %s>" % (self.status, self.body[:300])


class Client:
    """One HTTPS connection (reopened when the server closes it)."""

    def __init__(self, url, ca_file, token=None):
        assert url.startswith("https://")
        hostport = url[len("https://"):]
        self.host, _, port = hostport.rpartition(":")
        self.port = int(port)
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.token = token
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        return self.conn

    def raw(self, method, path, body=None, headers=None):
        """Send; return Result. Connection errors propagate (tests for faults expect them)."""
        h = dict(headers or {})
        if self.token and "Authorization" not in h:
            h["Authorization"] = "Bearer " + self.token
        if body is not None:
            h.setdefault("Content-Length", str(len(body)))
        c = self._conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return Result(r.status, hdrs, data)

    def call(self, method, path, obj=None, key=None, headers=None, token=None):
        h = dict(headers or {})
        body = None
        if obj is not None:
            body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            h["Content-Type"] = "application/json"
        if key is not None:
            h["Idempotency-Key"] = key
        if token is not None:
            h["Authorization"] = "Bearer " + token
        return self.raw(method, path, body, h)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, obj=None, key="auto", **kw):
        if key == "auto":
            key = key_id()
        return self.call("POST", path, {} if obj is None else obj, key=key, **kw)

    def multipart(self, method, path, app, files, key="auto", boundary=None, headers=None):
        body, ctype = multipart_body(app, files, boundary)
        h = {"Content-Type": ctype}
        h.update(headers or {})
        if key == "auto":
            key = key_id()
        if key is not None:
            h["Idempotency-Key"] = key
        return self.raw(method, path, body, h)


def multipart_body(app, files, boundary=None):
    boundary = boundary or "----zrca" + secrets.token_hex(12)
    out = []
    parts = []
    if app is not None:
        parts.append(("application", json.dumps(app, ensure_ascii=False).encode("utf-8"), "application/json", None))
    for name, data in (files.items() if isinstance(files, dict) else files):
        parts.append((name, data, "application/octet-stream", "scan.bin"))
    for name, data, ctype, fn in parts:
        out.append(b"--" + boundary.encode() + b"\r\n")
        disp = 'form-data; name="%s"' % name
        if fn:
            disp += '; filename="%s"' % fn
        out.append(("Content-Disposition: %s\r\nContent-Type: %s\r\n\r\n" % (disp, ctype)).encode())
        out.append(data + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out), "multipart/form-data; boundary=" + boundary


# ------------------------------------------------------------------ keys, CSRs, proofs

_RSA_CACHE = {}


def rsa_key(bits=2048, slot=0):
    """RSA keys are slow to make: tests share a few per bit size."""
    k = (bits, slot)
    if k not in _RSA_CACHE:
        _RSA_CACHE[k] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _RSA_CACHE[k]


def ec_key(curve=ec.SECP256R1):
    return ec.generate_private_key(curve())


def make_csr(key, subject=None):
    b = x509.CertificateSigningRequestBuilder().subject_name(subject if subject is not None else x509.Name([]))
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def sign(key, data):
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def proof(old_key, nonce, csr_der, number, index):
    msg = (b"ZRCA-RENEW-PROOF-V1" + b"\x00" + nonce + hashlib.sha256(csr_der).digest()
           + number.encode("ascii") + b"\x00" + str(index).encode("ascii"))
    return sign(old_key, msg)


def today():
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def valid_id(region="110101", birth="19900101", seq="123"):
    return idnum.make_id(region, birth, seq)


# ------------------------------------------------------------------ the daemon

class Platform:
    """One zrca-platformd process on its own data dir."""

    def __init__(self, data_dir, demo=False, extra=()):
        self.data = str(data_dir)
        self.demo = demo
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        args = [DAEMON, "--data", self.data, "--listen", "127.0.0.1:0"] + self.extra
        if self.demo:
            args.append("--demo")
        # stderr to a file: a pipe nobody reads could fill up and stall the server
        self.stderr_path = self.data.rstrip("/") + "-stderr.log"
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
        deadline = time.time() + 30
        line = b""
        while time.time() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 4096)
                if not ch:
                    break
                line += ch
        if not line.endswith(b"\n"):
            self.stop()
            with open(self.stderr_path, "rb") as f:
                raise RuntimeError("zrca-platformd did not start: %r %r" % (line, f.read()[-4000:]))
        self.info = json.loads(line.decode())
        self.url = self.info["url"]
        self.ca_file = self.info["ca_file"]
        self.operator_token = self.info["operator_token"]
        self.op = Client(self.url, self.ca_file, self.operator_token)

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            try:
                self.proc.stdout.close()
            except Exception:
                pass
        if getattr(self, "op", None):
            self.op.close()

    def restart(self, sig=signal.SIGKILL):
        self.stop(sig)
        self.start()

    def client(self, token=None):
        return Client(self.url, self.ca_file, token)

    def login(self, account="demo", password="Demo-2026!"):
        c = self.client()
        r = c.call("POST", "/api/v1/session", {"account": account, "password": password})
        assert r.status == 201, r
        c.token = r.json["token"]
        return c

    # operator helpers

    def create_account(self, account, role="tenderer", password="Passw0rd!", enterprise=None, lr_id=None):
        ent = enterprise or {"name": "测试%s有限公司" % account, "legal_representative": {
            "name": "钱测试", "id_type": "id_card", "id_number": lr_id or valid_id("330106", "19700101", "011")}}
        r = self.op.post("/api/v1/operator/accounts", {"account": account, "password": password, "role": role,
                                                        "enterprise": ent, "password_hash": "test"})
        assert r.status == 201, r
        return self.login(account, password)

    def provision(self, account, kind, key, days=20, holder_name=None, holder_id=None, position=None,
                  not_after=None, key_serial=None, not_before=None):
        body = {"account": account, "kind": kind, "csr": b64(make_csr(key)),
                "not_after": not_after or rfc3339(today() + _dt.timedelta(days=days))}
        if holder_name:
            body["holder_name"] = holder_name
        if holder_id:
            body["holder_id_number"] = holder_id
        if position:
            body["position"] = position
        if key_serial:
            body["key_serial"] = key_serial
        if not_before:
            body["not_before"] = not_before
        r = self.op.post("/api/v1/operator/certificates", body)
        assert r.status == 201, r
        return r.json

    def review(self, number, decision="approve", comment=None):
        body = {"decision": decision}
        if comment is not None:
            body["comment"] = comment
        r = self.op.post("/api/v1/operator/orders/%s/review" % number, body)
        assert r.status == 200, r
        return r.json

    def fault(self, endpoint, kind, **kw):
        body = {"endpoint": endpoint, "kind": kind}
        body.update(kw)
        r = self.op.call("POST", "/api/v1/operator/faults", body)
        assert r.status == 201, r
        return r.json

    def settings(self, **kw):
        r = self.op.call("PUT", "/api/v1/operator/settings", kw)
        assert r.status == 200, r
        return r.json

    def ctl(self, *args, check=True):
        p = subprocess.run([CTL, "--data", self.data] + [str(a) for a in args], capture_output=True, timeout=60)
        if check:
            assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        return p


# ------------------------------------------------------------------ flows used by many tests

PERSON = ("王测试", valid_id("310104", "19880808", "135"), "项目负责人")
CONTACT = {"name": "联系人", "mobile": "13800138000", "email": "contact@example.com"}


def renewal_app(persons=(PERSON,), org=None, legal_rep=None, business="renewal"):
    app = {"business": business, "persons": [{"name": n, "id_number": i, "position": pos, "years": 1, "count": 1}
                                             for n, i, pos in persons],
           "contact": dict(CONTACT)}
    if org:
        app["org"] = org
    if legal_rep:
        app["legal_rep"] = legal_rep
    return app


def files_for(app, **extra):
    f = {"attachments.commitment_letter": PDF}
    for i in range(len(app.get("persons") or [])):
        f["persons[%d].id_scan" % i] = JPG
    f.update(extra)
    return f


def apply(client, app, files=None, key="auto"):
    return client.multipart("POST", "/api/v1/applications", app, files if files is not None else files_for(app),
                            key=key)


class Renewal:
    """An account with one personal certificate on a 'USB key' (old_key) and an approved renewal order."""

    def __init__(self, p, key=None, account="acme", approve=True, days=20):
        self.p = p
        self.client = p.create_account(account)
        self.old_key = key or ec_key()
        prov = p.provision(account, "personal", self.old_key, days=days, holder_name=PERSON[0],
                           holder_id=PERSON[1], position=PERSON[2], key_serial="1A29TEST00000001")
        self.old_der = unb64(prov["certificate"])
        self.old_serial = prov["serial"]
        r = apply(self.client, renewal_app())
        assert r.status == 201, r
        self.number = r.json["number"]
        self.order = r.json
        if approve:
            self.order = p.review(self.number)

    @classmethod
    def attach(cls, p, client, number, old_key=None, old_der=None):
        """A Renewal view of an order made some other way."""
        r = cls.__new__(cls)
        r.p, r.client, r.number, r.old_key, r.old_der = p, client, number, old_key, old_der
        return r

    def path(self, suffix="", idx=1):
        return "/api/v1/orders/%s/items/%d%s" % (self.number, idx, suffix)

    def challenge(self, idx=1):
        r = self.client.post(self.path("/challenge", idx), {}, key=None)
        assert r.status == 201, r
        return r.json

    def issue_body(self, ch, new_key, csr=None, old_key=None, old_der=None, idx=1, number=None):
        csr = csr if csr is not None else make_csr(new_key)
        pr = proof(old_key or self.old_key, unb64(ch["nonce"]), csr, number or self.number, idx)
        return {"challenge_id": ch["challenge_id"], "csr": b64(csr), "old_certificate": b64(old_der or self.old_der),
                "proof": b64(pr)}

    def issue(self, new_key=None, key="auto", idx=1, **kw):
        new_key = new_key or ec_key()
        ch = self.challenge(idx)
        return new_key, self.client.post(self.path("/issue", idx), self.issue_body(ch, new_key, idx=idx, **kw),
                                         key=key)
