# SPDX-License-Identifier: MIT
"""Fixtures of the bindings' tests: the reference platform (one per test session, in a temporary
directory), SoftHSM (one per test module, with a test-only p11-kit configuration; HOME and
SOFTHSM2_CONF set while the module runs and restored after), and "worlds": an account with a
certificate on a SoftHSM token, set up through the bindings themselves."""
from __future__ import annotations

import base64
import datetime as dt
import itertools
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package from this checkout
sys.path.insert(0, HERE)

import zrca  # noqa: E402
import support  # noqa: E402
from support import PASSWORD, USER_PIN  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Platform]:
    p = support.Platform(str(tmp_path_factory.mktemp("platform")))
    try:
        # Orders under review answer polls with Retry-After: 1 s instead of 5, to keep waits short.
        p.operator("PUT", "/settings", {"review_retry_after": 1})
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def softhsm() -> Iterator[support.SoftHSM]:
    if not support.available():
        pytest.skip("SoftHSM2 is not installed")
    h = support.SoftHSM()
    try:
        yield h
    finally:
        h.close()


_seq = itertools.count(1)


@dataclass
class World:
    """An account whose certificate (kind ``kind``) sits on a SoftHSM token."""
    platform: support.Platform
    softhsm: support.SoftHSM
    account: str
    token_label: str
    kind: zrca.CertKind
    holder: str
    holder_id: Optional[str]
    state_dir: str
    old_serial: str = ""
    old_not_after: Optional[dt.datetime] = None
    order_number: str = ""
    item_index: int = 0

    def token(self) -> zrca.Token:
        return zrca.Token(module_path=support.SOFTHSM_MODULE, label=self.token_label)

    def session(self, **kw: Any) -> zrca.Session:
        s = zrca.Session(self.platform.url, **self.platform.session_options(state_dir=self.state_dir, **kw))
        try:
            s.login(self.account, PASSWORD)
        except BaseException:
            s.close()
            raise
        return s


def _provision(w: World, key_type: zrca.KeyType, days: int = 20, always_authenticate: bool = False) -> None:
    """A key made on the token, certified by the platform, written next to it (the USB key the
    seed starts from: a certificate ending within 20 days, or ``days``); with
    ``always_authenticate`` a key that needs the PIN for every signature."""
    with w.token() as t:
        t.login(USER_PIN)
        if always_authenticate:
            t.set_pin_callback(lambda req: USER_PIN)
        with t.generate_key(key_type, 2048 if key_type == zrca.KeyType.RSA else 256, "provisioning",
                            always_authenticate=always_authenticate) as k:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p")]).public_bytes()
            csr = k.make_csr(name)
            not_after = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(
                hour=0, minute=0, second=0, microsecond=0)
            kind = w.kind.wire_name
            r = w.platform.provision(w.account, kind, csr, not_after,
                                     holder_name=w.holder if w.kind == zrca.CertKind.PERSONAL else None,
                                     holder_id=w.holder_id, key_serial=w.token_label)
            k.write_cert(base64.b64decode(r["certificate"]), w.holder)
            k.set_label(w.holder)
        with t.certificates() as certs:
            assert len(certs) == 1
            w.old_serial = certs[0].serial.lower()
            w.old_not_after = certs[0].not_after


@pytest.fixture
def make_world(platform: support.Platform, softhsm: support.SoftHSM,
               tmp_path: Any) -> Callable[..., World]:
    def make(kind: zrca.CertKind = zrca.CertKind.PERSONAL, key_type: zrca.KeyType = zrca.KeyType.EC_P256,
             role: str = "tenderer", days: int = 20, always_authenticate: bool = False) -> World:
        n = next(_seq)
        account = "py%d_%d" % (os.getpid(), n)
        platform.create_account(account, role)
        label = "pykey%d" % n
        softhsm.add_token(label)
        if kind == zrca.CertKind.PERSONAL:
            holder, holder_id = "林晓雯", support.make_id("1101011990030785" + str(n % 10))
        elif kind == zrca.CertKind.LEGAL_REP:
            holder, holder_id = support.LEGAL_REP, support.LEGAL_REP_ID
        else:
            holder, holder_id = support.ENTERPRISE, None
        w = World(platform, softhsm, account, label, kind, holder, holder_id, str(tmp_path / ("state%d" % n)))
        _provision(w, key_type, days, always_authenticate)
        return w
    return make


@pytest.fixture
def scans(tmp_path: Any) -> Any:
    """Attachments as files: a small PDF (commitment letter) and a JPEG (ID scan)."""
    pdf = tmp_path / "commitment-letter.pdf"
    pdf.write_bytes(support.PDF)
    jpg = tmp_path / "id-scan.jpg"
    jpg.write_bytes(support.JPEG)
    return pdf, jpg


def fill_application(app: zrca.Application, w: World, pdf: Any, jpg: Any) -> None:
    """The renewal of the world's certificate, with its attachments and a contact."""
    if w.kind == zrca.CertKind.ORG:
        app.set_org(years=1, count=1)
    elif w.kind == zrca.CertKind.LEGAL_REP:
        app.set_legal_rep(w.holder_id or "", zrca.IdType.ID_CARD, years=1, count=1)
    else:
        i = app.add_person(w.holder, w.holder_id or "", "项目负责人", years=1, count=1)
        app.attach_file(zrca.person_scan_part(i), jpg)
    app.attach_file(zrca.ATTACH_COMMITMENT_LETTER, pdf)
    app.set_contact("许静怡", "13800138000", "xu.jingyi@example.com")


@pytest.fixture
def approved(make_world: Callable[..., World], scans: Any) -> Callable[..., World]:
    """A world whose renewal application was submitted and approved."""
    def make(**kw: Any) -> World:
        w = make_world(**kw)
        pdf, jpg = scans
        with w.session() as s, s.new_application(zrca.Business.RENEWAL) as app:
            fill_application(app, w, pdf, jpg)
            with app.submit() as order:
                w.order_number = order.number
                w.item_index = order.items[0].index
        w.platform.review(w.order_number, approve=True)
        return w
    return make


class Pins:
    """A PIN callback that records what it was asked (never the PIN)."""

    def __init__(self, pin: str = USER_PIN, wrong_at: int = 0, raise_at: int = 0) -> None:
        self.pin = pin
        self.wrong_at = wrong_at
        self.raise_at = raise_at
        self.requests: List[zrca.PinRequest] = []

    def __call__(self, request: zrca.PinRequest) -> bytearray:
        self.requests.append(request)
        n = len(self.requests)
        if n == self.raise_at:
            raise RuntimeError("the person closed the PIN dialog")
        return bytearray(b"000000" if n == self.wrong_at else self.pin.encode())

    @property
    def purposes(self) -> List[zrca.PinPurpose]:
        return [r.purpose for r in self.requests]


@pytest.fixture
def pins() -> Callable[..., Pins]:
    return Pins
