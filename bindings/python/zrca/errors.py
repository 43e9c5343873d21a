# SPDX-License-Identifier: MIT
"""Exceptions: every failure of the library is a ZrcaError carrying the thread's error record
(code, message, field, rule, the platform's code and HTTP status, PIN tries left and every
violation of a form), raised as the subclass that matches its code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Type

from . import _lib
from .enums import Status


@dataclass(frozen=True)
class Violation:
    """One rule broken by one field, e.g. field ``persons[2].id_number``, rule ``check_digit``."""
    field: str
    rule: str
    message: str


class ZrcaError(Exception):
    """A libzrca call failed. ``code`` is the (negative) zrca_status, ``status`` its enum."""

    code: int
    message: str
    field: Optional[str]
    rule: Optional[str]
    remote_code: Optional[str]
    http_status: int
    tries_left: Optional[int]
    violations: List[Violation]
    #: Session.renew_auto() failing after it planned: its RenewReport (what it did), else None.
    report: Any = None

    def __init__(self, code: int, message: str, field: Optional[str] = None, rule: Optional[str] = None,
                 remote_code: Optional[str] = None, http_status: int = 0, tries_left: Optional[int] = None,
                 violations: Optional[List[Violation]] = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        self.remote_code = remote_code
        self.http_status = http_status
        self.tries_left = tries_left
        self.violations = list(violations or [])

    @property
    def status(self) -> Status:
        """The code as a ``Status`` (``Status.ERROR`` for a code these bindings do not know)."""
        try:
            return Status(self.code)
        except ValueError:
            return Status.ERROR

    def __str__(self) -> str:
        name = _lib.s(_lib.zrca_status_name(self.code)) or str(self.code)
        text = "%s: %s" % (name, self.message)
        if self.field:
            text += " [field %s, rule %s]" % (self.field, self.rule)
        return text

    def __reduce__(self):  # picklable with its members
        return (_rebuild, (type(self), self.code, self.message, self.field, self.rule, self.remote_code,
                           self.http_status, self.tries_left, self.violations))


def _rebuild(cls, *args):  # type: ignore[no-untyped-def]
    return cls(*args)


class InvalidArgument(ZrcaError, ValueError):
    """ZRCA_EINVAL: an argument is invalid."""


class OutOfMemory(ZrcaError):
    """ZRCA_ENOMEM."""


class VersionMismatch(ZrcaError):
    """ZRCA_EVERSION: options or vtable of an unknown version."""


class AmbiguousToken(InvalidArgument):
    """ZRCA_EINVAL with rule ``ambiguous``: several tokens match and none was chosen (without a
    selector only tokens that can hold keys count). ``candidates`` lists each one's full RFC 7512
    URI; pass one back as ``Token(uri=...)`` to open exactly that token."""

    @property
    def candidates(self) -> List[str]:
        """The candidates' ``pkcs11:`` URIs, in the order the backend listed them (at most 32)."""
        return [v.message for v in self.violations if v.field == "uri" and v.rule == "candidate"]


class ValidationError(ZrcaError, ValueError):
    """ZRCA_EVALIDATION: input broke rules; ``violations`` lists every one."""


class CallbackStopped(ZrcaError):
    """ZRCA_EUSER: a callback asked to stop (returned a true value, or None for a PIN)."""


class NotInitialized(ZrcaError):
    """ZRCA_ENOTINIT."""


class IOFailure(ZrcaError):
    """ZRCA_EIO: a file or device could not be read or written."""


class NotFound(ZrcaError, LookupError):
    """ZRCA_ENOTFOUND."""


class StateError(ZrcaError):
    """ZRCA_ESTATE: not allowed in the object's current state (``rule`` names the action)."""


class Timeout(ZrcaError):
    """ZRCA_ETIMEOUT."""


class NetworkError(ZrcaError):
    """ZRCA_ENETWORK: the platform could not be reached."""


class TLSError(NetworkError):
    """ZRCA_ETLS: unknown CA, wrong host, pin mismatch."""


class ProtocolError(ZrcaError):
    """ZRCA_EPROTOCOL: the platform sent something malformed."""


class TooBig(ZrcaError):
    """ZRCA_ETOOBIG: a size or depth bound was exceeded."""


class AuthError(ZrcaError):
    """ZRCA_EAUTH: wrong account or password, or not logged in."""


class SessionExpired(AuthError):
    """ZRCA_EEXPIRED: the platform session expired."""


class PlatformError(ZrcaError):
    """ZRCA_EPLATFORM: the platform reported an error."""


class Conflict(PlatformError):
    """ZRCA_ECONFLICT: the platform refused a transition (HTTP 409)."""


class Forbidden(PlatformError):
    """ZRCA_EFORBIDDEN."""


class RateLimited(PlatformError):
    """ZRCA_ERATELIMIT (HTTP 429)."""


class Busy(PlatformError):
    """ZRCA_EBUSY (HTTP 503)."""


class PinError(ZrcaError):
    """Base of the PIN errors."""


class PinIncorrect(PinError):
    """ZRCA_EPIN_INCORRECT: ``tries_left`` says how many tries remain when the token says it."""


class PinLocked(PinError):
    """ZRCA_EPIN_LOCKED: unlock with the SO PIN."""


class PinFinalTry(PinError):
    """ZRCA_EPIN_FINAL_TRY: refused, the next wrong PIN would lock the key (nothing was sent)."""


class PinRequired(PinError):
    """ZRCA_EPIN_REQUIRED: the key needs the PIN for each signature and the token has no PIN
    callback (Token.set_pin_callback)."""


class TokenError(ZrcaError):
    """ZRCA_ETOKEN: the token or its module failed."""


class TokenAbsent(TokenError):
    """ZRCA_ETOKEN_ABSENT."""


class CryptoError(ZrcaError):
    """ZRCA_ECRYPTO."""


class VerifyError(CryptoError):
    """ZRCA_EVERIFY: a certificate or signature did not verify."""


class UpdateHeld(ZrcaError):
    """ZRCA_EHELD: the platform keeps answering the update with a certificate that breaks a rule
    (``rule``); nothing was written under the holder's name. Its operator must re-issue or release
    the item; then resume."""


class Revoked(ZrcaError):
    """ZRCA_EREVOKED: the certificate was revoked (已吊销); it cannot be renewed."""


class Locked(ZrcaError):
    """ZRCA_ELOCKED: another process holds the lock."""


class NotSupported(ZrcaError):
    """ZRCA_ENOTSUPPORTED."""


class AlreadyExists(ZrcaError):
    """ZRCA_EEXISTS."""


class Cancelled(ZrcaError):
    """ZRCA_ECANCELLED."""


class ForkError(ZrcaError):
    """ZRCA_EFORK: a handle used in a child after fork(); reopen it."""


ERROR_CLASSES: Dict[int, Type[ZrcaError]] = {
    Status.EINVAL: InvalidArgument, Status.ENOMEM: OutOfMemory, Status.EVERSION: VersionMismatch,
    Status.EVALIDATION: ValidationError, Status.EUSER: CallbackStopped, Status.ENOTINIT: NotInitialized,
    Status.EIO: IOFailure, Status.ENOTFOUND: NotFound, Status.ESTATE: StateError, Status.ETIMEOUT: Timeout,
    Status.ENETWORK: NetworkError, Status.ETLS: TLSError, Status.EPROTOCOL: ProtocolError,
    Status.ETOOBIG: TooBig, Status.EAUTH: AuthError, Status.EEXPIRED: SessionExpired,
    Status.EPLATFORM: PlatformError, Status.ECONFLICT: Conflict, Status.EFORBIDDEN: Forbidden,
    Status.EPIN_INCORRECT: PinIncorrect, Status.EPIN_LOCKED: PinLocked, Status.EPIN_FINAL_TRY: PinFinalTry,
    Status.ETOKEN: TokenError, Status.ETOKEN_ABSENT: TokenAbsent, Status.ECRYPTO: CryptoError,
    Status.EVERIFY: VerifyError, Status.ELOCKED: Locked, Status.ENOTSUPPORTED: NotSupported,
    Status.EEXISTS: AlreadyExists, Status.ERATELIMIT: RateLimited, Status.EBUSY: Busy,
    Status.ECANCELLED: Cancelled, Status.EFORK: ForkError, Status.EPIN_REQUIRED: PinRequired,
    Status.EHELD: UpdateHeld, Status.EREVOKED: Revoked,
}


def error_from_record(rc: int) -> ZrcaError:
    """Build the exception for status ``rc`` from the calling thread's error record. Call it right
    after the failing call, before any other libzrca call on this thread."""
    rec = _lib.zrca_error_last()
    cls = ERROR_CLASSES.get(rc, ZrcaError)
    if rec and rec.contents.code == rc == Status.EINVAL and _lib.s(rec.contents.rule) == "ambiguous":
        cls = AmbiguousToken
    if not rec or rec.contents.code != rc:
        # No record (or one of another call): the status alone.
        return cls(rc, _lib.s(_lib.zrca_strerror(rc)) or "error")
    e = rec.contents
    violations = []
    for i in range(e.violation_count):
        v = _lib.zrca_error_violation(i)
        if v:
            violations.append(Violation(_lib.s(v.contents.field) or "", _lib.s(v.contents.rule) or "",
                                        _lib.s(v.contents.message) or ""))
    return cls(rc, _lib.s(e.message) or "", _lib.s(e.field), _lib.s(e.rule), _lib.s(e.remote_code),
               e.http_status, None if e.tries_left < 0 else e.tries_left, violations)
