# SPDX-License-Identifier: MIT
"""Revocation (吊销申请, doc/protocol.md §17): ask the platform to revoke a certificate, with or without
its key; the account's requests (历史吊销申请); the issuing CA's CRL, verified, and a certificate
checked against it."""
from __future__ import annotations

import ctypes
import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, List, Optional, Union

from . import _lib
from ._callbacks import call
from ._handle import Handle, PathLike, to_datetime
from .enums import CertKind, _bind, _Named

if TYPE_CHECKING:
    from .session import Session
    from .token import Key, TokenCertificate


class RevokeReason(_Named):
    """Why a certificate is revoked (the wire's ``reason``)."""
    NONE = 0
    KEY_LOST = 1
    KEY_COMPROMISED = 2
    HOLDER_LEFT = 3
    INFO_CHANGED = 4
    NO_LONGER_NEEDED = 5


class RevocationStatus(_Named):
    """The review state of a revocation request: pending (待审核), approved (已吊销), rejected."""
    ANY = 0
    PENDING = 1
    APPROVED = 2
    REJECTED = 3


_bind(RevokeReason, _lib.zrca_revoke_reason_name, _lib.zrca_revoke_reason_label)
_bind(RevocationStatus, _lib.zrca_revocation_status_name, _lib.zrca_revocation_status_label)


@dataclass(frozen=True)
class Revocation:
    """One revocation request as the platform reported it: a snapshot."""
    id: int
    serial: str
    kind: CertKind
    holder: str
    reason: RevokeReason
    comment: Optional[str]
    signed: bool
    status: RevocationStatus
    review_comment: Optional[str]
    created_at: Optional[_dt.datetime]
    reviewed_at: Optional[_dt.datetime]

    @classmethod
    def _from_c(cls, c: Any) -> "Revocation":
        return cls(int(_lib.zrca_revocation_id(c)), _lib.s(_lib.zrca_revocation_serial(c)) or "",
                   CertKind(_lib.zrca_revocation_kind(c)), _lib.s(_lib.zrca_revocation_holder(c)) or "",
                   RevokeReason(_lib.zrca_revocation_reason(c)), _lib.s(_lib.zrca_revocation_comment(c)),
                   bool(_lib.zrca_revocation_signed(c)), RevocationStatus(_lib.zrca_revocation_get_status(c)),
                   _lib.s(_lib.zrca_revocation_review_comment(c)), to_datetime(_lib.zrca_revocation_created_at(c)),
                   to_datetime(_lib.zrca_revocation_reviewed_at(c)))


def _options(serial: str, reason: Union[RevokeReason, str], comment: Optional[str], key: Optional["Key"],
             certificate: Union[bytes, "TokenCertificate", None], idempotency_key: Optional[str]) -> Any:
    if isinstance(reason, str):
        names = {r.wire_name: r for r in RevokeReason if r != RevokeReason.NONE}
        if reason not in names:
            raise ValueError("unknown reason %r (one of %s)" % (reason, ", ".join(names)))
        reason = names[reason]
    o = _lib.RevokeOptions()
    call(_lib.zrca_revoke_options_init, ctypes.byref(o), _lib.REVOKE_OPTIONS_VERSION)
    o.serial = _lib.b(serial)
    o.reason = int(reason)
    o.comment = _lib.b(comment)
    o.idempotency_key = _lib.b(idempotency_key)
    keep: List[Any] = []
    if key is not None:
        o.key = key._h
    if certificate is not None:
        der = certificate if isinstance(certificate, (bytes, bytearray)) else certificate.der
        buf = ctypes.create_string_buffer(bytes(der), len(der))
        keep.append(buf)
        o.certificate = ctypes.cast(buf, ctypes.c_void_p)
        o.certificate_len = len(der)
    return o, keep


def validate(serial: str, reason: Union[RevokeReason, str], comment: Optional[str] = None, *,
             key: Optional["Key"] = None, certificate: Union[bytes, "TokenCertificate", None] = None) -> None:
    """Check a request locally, as the platform would, without sending it: ValidationError naming
    every field and rule (``serial`` format, ``reason``, ``comment`` length and characters, the
    ``certificate`` and ``key`` given to sign)."""
    o, keep = _options(serial, reason, comment, key, certificate, None)
    call(_lib.zrca_revoke_validate, ctypes.byref(o))
    del keep


def revoke(session: "Session", serial: str, reason: Union[RevokeReason, str], comment: Optional[str] = None, *,
           key: Optional["Key"] = None, certificate: Union[bytes, "TokenCertificate", None] = None,
           idempotency_key: Optional[str] = None) -> Revocation:
    """Ask the platform to revoke the certificate ``serial`` (吊销申请). Without ``key`` the request is
    the account's alone (a lost key); with the certificate's ``key`` (on a logged-in token) and the
    ``certificate`` itself, the key signs the request on the token. Validated locally first.
    NotFound: not the account's certificate; Conflict: not revocable (see ``rule``)."""
    o, keep = _options(serial, reason, comment, key, certificate, idempotency_key)
    p = _lib.RevocationP()
    extra = key.token._pin_slots() if key is not None else []
    pins = (key,) if key is not None else ()
    try:
        session._call(_lib.zrca_revoke, ctypes.byref(p), session._h, ctypes.byref(o), extra=extra, pins=pins)
        return Revocation._from_c(p)
    finally:
        _lib.zrca_revocation_free(p)
        del keep


def revocations(session: "Session") -> List[Revocation]:
    """The account's revocation requests (历史吊销申请), newest first."""
    p = _lib.RevocationListP()
    session._call(_lib.zrca_session_revocations, ctypes.byref(p), session._h)
    try:
        out = []
        for i in range(_lib.zrca_revocation_list_count(p)):
            c = _lib.zrca_revocation_list_get(p, i)
            if c:
                out.append(Revocation._from_c(c))
        return out
    finally:
        _lib.zrca_revocation_list_free(p)


def revocation_request(session: "Session", request_id: int) -> Revocation:
    """One revocation request by id; NotFound when it is not the account's."""
    p = _lib.RevocationP()
    session._call(_lib.zrca_session_revocation, ctypes.byref(p), session._h, int(request_id))
    try:
        return Revocation._from_c(p)
    finally:
        _lib.zrca_revocation_free(p)


@dataclass(frozen=True)
class CrlStatus:
    """What a CRL says of one certificate: ``revoked`` with its date and RFC 5280 reason, or good."""
    revoked: bool
    revoked_at: Optional[_dt.datetime]
    reason: Optional[str]


def _crl_options(issuer_ca_file: Optional[PathLike], now: Optional[_dt.datetime], max_size: int,
                 certificate: Optional[bytes] = None) -> Any:
    import os
    o = _lib.CrlOptions()
    call(_lib.zrca_crl_options_init, ctypes.byref(o), _lib.CRL_OPTIONS_VERSION)
    o.issuer_ca_file = _lib.b(os.fspath(issuer_ca_file)) if issuer_ca_file is not None else None
    o.now = int(now.timestamp()) if now is not None else 0
    o.max_size = int(max_size)
    if certificate is not None:
        buf = ctypes.create_string_buffer(bytes(certificate), len(certificate))
        o._certificate_buffer = buf  # alive as long as the options
        o.certificate = ctypes.cast(buf, ctypes.c_void_p)
        o.certificate_len = len(certificate)
    return o


class Crl(Handle):
    """A verified CRL of the platform's issuing CA: ``Crl.fetch(session)`` or ``Crl.from_der(...)``.
    A CRL whose signature does not verify up to the issuer CA file, or whose nextUpdate has
    passed (stale), is refused (VerifyError with rule ``signature``, ``issuer``, ``stale``, ...)."""

    _free_fn = _lib.zrca_crl_free

    @classmethod
    def fetch(cls, session: "Session", *, issuer_ca_file: Optional[PathLike] = None,
              now: Optional[_dt.datetime] = None, max_size: int = 0,
              certificate: Optional[bytes] = None) -> "Crl":
        """Fetch and verify the CRL from the session's platform (no login needed): the issuing
        CA's, or with ``certificate`` (DER) the one its CRL distribution point names (an SM2
        certificate's is ``sm2-issuing.crl``; fetched from the session's platform only)."""
        o = _crl_options(issuer_ca_file, now, max_size, certificate)
        p = _lib.CrlP()
        session._call(_lib.zrca_crl_fetch, ctypes.byref(p), session._h, ctypes.byref(o))
        return cls(p, session)

    @classmethod
    def from_der(cls, der: bytes, issuer_ca_file: PathLike, *, issuer: Optional[bytes] = None,
                 now: Optional[_dt.datetime] = None, max_size: int = 0) -> "Crl":
        """Verify a DER CRL against ``issuer_ca_file`` (PEM); ``issuer``: the issuing CA (DER) when
        the file holds only the root."""
        o = _crl_options(issuer_ca_file, now, max_size)
        p = _lib.CrlP()
        call(_lib.zrca_crl_from_der, ctypes.byref(p), bytes(der), len(der), issuer,
                  len(issuer) if issuer else 0, ctypes.byref(o))
        return cls(p)

    @property
    def this_update(self) -> Optional[_dt.datetime]:
        """The CRL's thisUpdate."""
        return to_datetime(_lib.zrca_crl_this_update(self._h))

    @property
    def next_update(self) -> Optional[_dt.datetime]:
        """The CRL's nextUpdate."""
        return to_datetime(_lib.zrca_crl_next_update(self._h))

    @property
    def number(self) -> Optional[str]:
        """The CRL number in lowercase hex."""
        return _lib.s(_lib.zrca_crl_number(self._h))

    def __len__(self) -> int:
        return int(_lib.zrca_crl_count(self._h))

    def check(self, certificate: Union[bytes, "TokenCertificate"]) -> CrlStatus:
        """What the CRL says of a certificate (DER bytes or a token certificate). VerifyError (rule
        ``issuer``) for a certificate another CA issued: this CRL does not cover it."""
        der = certificate if isinstance(certificate, (bytes, bytearray)) else certificate.der
        e = _lib.CrlEntry()
        rc = call(_lib.zrca_crl_check, self._h, bytes(der), len(der), ctypes.byref(e))
        if rc == 1:
            return CrlStatus(True, to_datetime(e.revoked_at), _lib.s(_lib.zrca_crl_reason_name(e.reason)))
        return CrlStatus(False, None, None)
