# SPDX-License-Identifier: MIT
"""libzrca for Python: renew CA certificates held on USB keys on the China Gas e-procurement
platform (中燃电子招标采购交易平台).

    import zrca
    with zrca.Session(url, ca_file=ca) as s:
        s.login("demo", "Demo-2026!")
        for c in s.certificates():
            print(c.holder, c.not_after)

The library is loaded from $ZRCA_LIBRARY, then $ZRCA_BUILD_DIR, then a build directory of the
source tree these bindings sit in, then the system; its version is checked on import.
"""
from __future__ import annotations

from typing import Tuple

from . import _lib
from ._callbacks import live_slots as _live_slots
from ._lib import LIBRARY_PATH, LibraryError
from .application import (ATTACH_COMMITMENT_LETTER, ATTACH_LEGAL_REP_ID_SCAN, ATTACHMENT_MAX_SIZE, Application,
                          person_scan_part)
from .config import ConfigError, config_paths, load_config
from .enums import (Backend, Business, CertKind, CertStatus, IdType, ItemStatus, KeyFlags, KeyType, LogLevel,
                    LoginMethod, OrderAction, OrderStatus, PaymentMethod, PaymentStatus, PinFlag, PinPurpose, PinUser,
                    RenewOutcome, ReviewStatus, Role, SealState, ShippingStatus, Status, TokenFlag, UpdateStep,
                    WaitFor)
from .errors import (AlreadyExists, AmbiguousToken, AuthError, Busy, CallbackStopped, Cancelled, Conflict,
                     CryptoError, ForkError, Forbidden, InvalidArgument, IOFailure, Locked, NetworkError, NotFound,
                     NotInitialized, NotSupported, OutOfMemory, PinError, PinFinalTry, PinIncorrect, PinLocked,
                     PinRequired, PlatformError, ProtocolError, RateLimited, SessionExpired, StateError, Timeout,
                     TLSError, TokenAbsent, TokenError, TooBig, UpdateHeld, Revoked, ValidationError, VerifyError,
                     VersionMismatch, Violation, ZrcaError)
from .log import set_global_log, to_logging
from .order import Order, OrderItem, OrderIterator
from .plan import PlanEntry, RenewalPlan, RenewEntry, RenewReport
from .session import (Certificate, CertificateList, Enterprise, Fee, FeeSchedule, Notification, NotificationList,
                      Person, PersonList, Session)
from .revocation import (Crl, CrlStatus, Revocation, RevocationStatus, RevokeReason, revocation_request, revocations,
                         revoke)
from .serial import DUE_WINDOW_DAYS, SERIAL_BUFSIZE, serial_canonical, serial_cmp, subject_to_der
from .token import (Key, PinRequest, Seal, Token, TokenCertificate, TokenCertList, TokenInfo, create_softtoken,
                    list_tokens)
from .transport import HttpTransport, Part, Request, Response, Transport, TransportError
from .update import (ABORT_REMOVED_CERTIFICATE, ABORT_REMOVED_JOURNAL, ABORT_REMOVED_KEY, UPDATE_ABORTING,
                     UPDATE_HELD, UPDATE_ISSUED, Update, UpdateResult, abort, journal_state, resume, update_item)

__version__ = "1.0.0"


def library_version() -> Tuple[int, int, int]:
    """The loaded library's version (major, minor, patch)."""
    ma, mi, pa, _ = _lib.version()
    return (ma, mi, pa)


def library_version_string() -> str:
    """The loaded library's version as a string, e.g. "1.0.0"."""
    return _lib.version()[3] or ""


def has_feature(name: str) -> bool:
    """Whether the loaded library has a feature ("session", "pkcs11", "update", "always-authenticate",
    ...)."""
    return bool(_lib.zrca_has_feature(_lib.b(name, "a feature name")))


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("annotations", "Tuple")]
