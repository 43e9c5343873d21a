# SPDX-License-Identifier: MIT
"""Test helpers for the bindings: the reference platform (started as a process, driven through its
operator API with urllib) and SoftHSM tokens in a temporary, test-only configuration."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DAEMON = os.path.join(REPO, "tests", "platform", "zrca-platformd")
SOFTHSM_MODULE = os.environ.get("ZRCA_SOFTHSM_MODULE") or "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_UTIL = "/usr/bin/softhsm2-util"

USER_PIN = "246810"
SO_PIN = "so-pin-97531"
PASSWORD = "Secret-pw-1"
ENTERPRISE = "江南测试燃气工程有限公司"
LEGAL_REP = "周明远"

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(first17: str) -> str:
    """An 18-character ID number with the right GB 11643 check digit."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def wrong_check_digit(id_number: str) -> str:
    good = id_number[17]
    bad = "0" if good != "0" else "1"
    return id_number[:17] + bad


LEGAL_REP_ID = make_id("33010219780615451")

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 200 + b"\xff\xd9"
DOCX = b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200


class Platform:
    """One zrca-platformd on its own data directory (SIGTERM on stop)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.data = os.path.join(root, "data")
        self.log_path = os.path.join(root, "platform.log")
        env = dict(os.environ)
        for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(["/usr/bin/python3", DAEMON, "--data", self.data, "--listen",
                                          "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=err, env=env)
        line = b""
        deadline = time.monotonic() + 60
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)  # type: ignore[union-attr]
                if not chunk:
                    break
                line += chunk
        if not line.endswith(b"\n"):
            self.stop()
            with open(self.log_path, "rb") as f:
                raise RuntimeError("zrca-platformd did not start: %r %r" % (line, f.read()[-3000:]))
        info = json.loads(line)
        self.url: str = info["url"]
        self.ca_file: str = info["ca_file"]
        self.platform_ca_file: str = info["platform_ca_file"]
        self.roots_file: str = info["roots_file"]  # the EC and SM2 roots (doc/protocol.md §14)
        self.operator_token: str = info["operator_token"]
        ctx = ssl.create_default_context(cafile=self.ca_file)
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   urllib.request.HTTPSHandler(context=ctx))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def session_options(self, **kw: Any) -> Dict[str, Any]:
        """Keyword arguments of zrca.Session for this platform."""
        o = dict(ca_file=self.ca_file, issuer_ca_file=self.platform_ca_file, proxy="", timeout=30)
        o.update(kw)
        return o

    # ------------------------------------------------------------------ operator API

    def operator(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.url + "/api/v1/operator" + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.operator_token)
        req.add_header("Idempotency-Key", str(uuid.uuid4()))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=60) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            raise AssertionError("operator %s %s: %d %s" % (method, path, e.code, e.read()[:2000])) from None
        return json.loads(text) if text else None

    def create_account(self, account: str, role: str = "tenderer") -> None:
        self.operator("POST", "/accounts", {
            "account": account, "password": PASSWORD, "role": role, "password_hash": "test",
            "enterprise": {"name": ENTERPRISE, "legal_representative": {
                "name": LEGAL_REP, "id_type": "id_card", "id_number": LEGAL_REP_ID}}})

    def provision(self, account: str, kind: str, csr_der: bytes, not_after: dt.datetime,
                  holder_name: Optional[str] = None, holder_id: Optional[str] = None,
                  key_serial: Optional[str] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"account": account, "kind": kind, "csr": base64.b64encode(csr_der).decode(),
                                "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if holder_name:
            body["holder_name"] = holder_name
            body["holder_id_number"] = holder_id
            body["position"] = "项目负责人"
        if key_serial:
            body["key_serial"] = key_serial
        return self.operator("POST", "/certificates", body)

    def review(self, number: str, approve: bool = True, comment: Optional[str] = None) -> Dict[str, Any]:
        body: Dict[str, Any] = {"decision": "approve" if approve else "reject"}
        if comment:
            body["comment"] = comment
        return self.operator("POST", "/orders/%s/review" % number, body)


class SoftHSM:
    """A fresh SoftHSM: its own token directory and softhsm2.conf (SOFTHSM2_CONF) and a test-only
    p11-kit configuration (HOME points at the temporary directory, whose
    ~/.config/pkcs11/pkcs11.conf says "user-config: only"), as tests/support/softhsm.c does.
    The environment is restored by close()."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="zrca-py-softhsm-")
        os.mkdir(os.path.join(self.dir, "tokens"), 0o700)
        self.conf = os.path.join(self.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n" % self.dir)
        mods = os.path.join(self.dir, ".config", "pkcs11", "modules")
        os.makedirs(mods, 0o700)
        with open(os.path.join(self.dir, ".config", "pkcs11", "pkcs11.conf"), "w") as f:
            f.write("user-config: only\n")
        with open(os.path.join(mods, "softhsm2.module"), "w") as f:
            f.write("module: %s\n" % SOFTHSM_MODULE)
        self._saved = {k: os.environ.get(k) for k in ("HOME", "SOFTHSM2_CONF", "P11_KIT_NO_USER_CONFIG")}
        os.environ["SOFTHSM2_CONF"] = self.conf
        os.environ["HOME"] = self.dir
        os.environ.pop("P11_KIT_NO_USER_CONFIG", None)

    def add_token(self, label: str, so_pin: str = SO_PIN, user_pin: str = USER_PIN) -> None:
        subprocess.run([SOFTHSM_UTIL, "--init-token", "--free", "--label", label, "--so-pin", so_pin,
                        "--pin", user_pin], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=dict(os.environ))

    def close(self) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.dir, ignore_errors=True)


def available() -> bool:
    return os.access(SOFTHSM_MODULE, os.R_OK) and os.access(SOFTHSM_UTIL, os.X_OK)
