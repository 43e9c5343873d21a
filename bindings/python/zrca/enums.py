# SPDX-License-Identifier: MIT
"""The library's enumerations as Python enums, with the wire names and the seed's labels the
library gives them."""
from __future__ import annotations

import enum
from typing import Any, Dict, Tuple

from . import _lib


class _Named(enum.IntEnum):
    """An enum whose members know their wire name and Chinese label (from the library)."""

    @property
    def wire_name(self) -> str:
        """The wire name (doc/protocol.md), from the library."""
        return _lib.s(_NAMES[type(self)][0](int(self))) or ""

    @property
    def label(self) -> str:
        """The seed's Chinese label (UTF-8), from the library."""
        return _lib.s(_NAMES[type(self)][1](int(self))) or ""

    @classmethod
    def _missing_(cls, value: object) -> "_Named":
        # The C enums are only ever appended to: an unknown value from a newer library maps
        # to the "unknown" member (0) rather than failing.
        return cls(0)


_NAMES: Dict[type, Tuple[Any, Any]] = {}


def _bind(cls: type, name_fn: Any, label_fn: Any) -> None:
    _NAMES[cls] = (name_fn, label_fn)


class Status(enum.IntEnum):
    """zrca_status: 0 or a negative error code."""
    OK = 0
    ERROR = -1
    EINVAL = -2
    ENOMEM = -3
    EVERSION = -4
    EVALIDATION = -5
    EUSER = -6
    ENOTINIT = -7
    EIO = -8
    ENOTFOUND = -9
    ESTATE = -10
    ETIMEOUT = -11
    ENETWORK = -12
    ETLS = -13
    EPROTOCOL = -14
    ETOOBIG = -15
    EAUTH = -16
    EEXPIRED = -17
    EPLATFORM = -18
    ECONFLICT = -19
    EFORBIDDEN = -20
    EPIN_INCORRECT = -21
    EPIN_LOCKED = -22
    EPIN_FINAL_TRY = -23
    ETOKEN = -24
    ETOKEN_ABSENT = -25
    ECRYPTO = -26
    EVERIFY = -27
    ELOCKED = -28
    ENOTSUPPORTED = -29
    EEXISTS = -30
    ERATELIMIT = -31
    EBUSY = -32
    ECANCELLED = -33
    EFORK = -34
    EPIN_REQUIRED = -35
    EHELD = -36
    EREVOKED = -37

    @property
    def symbol(self) -> str:
        """The C name, e.g. "ZRCA_EPIN_LOCKED"."""
        return _lib.s(_lib.zrca_status_name(int(self))) or ""

    @property
    def description(self) -> str:
        """The library's text for the code (``zrca_strerror``)."""
        return _lib.s(_lib.zrca_strerror(int(self))) or ""


class CertKind(_Named):
    """The kind of a certificate: organisation, legal representative, personal (ANY filters nothing)."""
    UNKNOWN = 0
    ANY = 0
    ORG = 1
    LEGAL_REP = 2
    PERSONAL = 3


class Business(_Named):
    """The business of an application or order (证书续期 renewal, new certificate, ...)."""
    UNKNOWN = 0
    RENEWAL = 1
    NEW = 2


class IdType(_Named):
    """The type of an identity document (ID card, passport, ...)."""
    UNKNOWN = 0
    ID_CARD = 1
    PASSPORT = 2


class Role(_Named):
    """The account's role on the platform: tenderer (招标人), tendering agent (招标代理) or bidder (投标人)."""
    UNKNOWN = 0
    TENDERER = 1
    TENDERING_AGENT = 2
    BIDDER = 3


class LoginMethod(enum.IntEnum):
    """How a session logged in (``zrca_login_method``): not at all, with the password, or with the
    USB key (证书登录, ``Session.login_key``)."""
    NONE = 0
    PASSWORD = 1
    CERTIFICATE = 2


class CertStatus(enum.IntEnum):
    """The state of a certificate on the platform (valid, expired, pending confirmation, superseded,
    revoked); ANY filters nothing."""
    ANY = 0
    VALID = 1
    EXPIRED = 2
    PENDING_CONFIRMATION = 3
    SUPERSEDED = 4
    REVOKED = 5

    @classmethod
    def _missing_(cls, value: object) -> "CertStatus":
        return cls.ANY


class ReviewStatus(_Named):
    """The platform's review of an order (not reviewed, approved, rejected)."""
    UNKNOWN = 0
    NOT_REVIEWED = 1
    APPROVED = 2
    REJECTED = 3


class OrderStatus(_Named):
    """The state of an order: awaiting verification, awaiting issuance, completed, closed."""
    UNKNOWN = 0
    AWAITING_VERIFICATION = 1
    AWAITING_ISSUANCE = 2
    COMPLETED = 3
    CLOSED = 4


class PaymentStatus(_Named):
    """Whether an order is paid (or needs no payment)."""
    UNKNOWN = 0
    UNPAID = 1
    PAID = 2
    NOT_REQUIRED = 3


class PaymentMethod(_Named):
    """How an order is paid."""
    NONE = 0
    ALIPAY = 1
    WECHAT = 2
    BANK_TRANSFER = 3


class ShippingStatus(_Named):
    """Whether a USB key shipped for the order was received (NONE: nothing shipped)."""
    UNKNOWN = 0
    NONE = 1
    AWAITING_RECEIPT = 2
    RECEIVED = 3


class ItemStatus(_Named):
    """The state of one order item (one certificate) through review, issuance and update."""
    UNKNOWN = 0
    PENDING = 1
    ISSUED = 2
    COMPLETED = 3
    CANCELLED = 4


class OrderAction(enum.IntFlag):
    """The actions (操作) allowed on an order or item, as a set of flags."""
    VIEW = 1 << 0
    EDIT = 1 << 1
    RESUBMIT = 1 << 2
    PAY = 1 << 3
    CANCEL = 1 << 4
    RATE = 1 << 5
    UPDATE = 1 << 6
    RECEIVE = 1 << 7  # 确认签收: the USB key posted for a new-certificate order arrived
    ISSUE = 1 << 8    # 制证: a new item's certificate issued onto the blank key (Update)

    @property
    def wire_name(self) -> str:
        """Wire name of a single action ("view", ...)."""
        return _lib.s(_lib.zrca_order_action_name(int(self))) or ""

    @property
    def label(self) -> str:
        """Seed label of a single action ("查看", ...)."""
        return _lib.s(_lib.zrca_order_action_label(int(self))) or ""


class WaitFor(enum.IntFlag):
    """What Order.wait() waits for."""
    APPROVED = 1 << 0
    REJECTED = 1 << 1
    CLOSED = 1 << 2
    COMPLETED = 1 << 3
    ANY_CHANGE = 1 << 4


class LogLevel(enum.IntEnum):
    """Severity of a log line, from ERROR to TRACE."""
    NONE = 0
    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5

    @property
    def wire_name(self) -> str:
        """The level's name as the library writes it (``zrca_log_level_name``)."""
        return _lib.s(_lib.zrca_log_level_name(int(self))) or ""


class KeyType(enum.IntEnum):
    """The type of a key pair: RSA, EC P-256, SM2 (OTHER: a type the library does not name; NONE:
    keep the old key's type where an option takes one)."""
    NONE = 0
    RSA = 1
    EC_P256 = 2
    OTHER = 3
    SM2 = 4


class Backend(enum.IntEnum):
    """Where a token lives: PKCS#11 through p11-kit, the software token, a custom backend, or a
    vendor's SKF library (GM/T 0016)."""
    PKCS11 = 0
    SOFT = 1
    CUSTOM = 2
    SKF = 3


class PinUser(enum.IntEnum):
    """Whose PIN: the user's, the security officer's, or the context-specific one of a signature."""
    USER = 0
    SO = 1
    CONTEXT = 2  # the user PIN again, for one signature by a key with KeyFlags.ALWAYS_AUTHENTICATE


class PinPurpose(enum.IntEnum):
    """Why a PIN is asked (shown to the person): a login, the certificate update, the e-seal update,
    an unlock, a PIN change."""
    LOGIN = 0
    CERT_UPDATE = 1
    SEAL_UPDATE = 2
    UNLOCK = 3
    CHANGE = 4


class TokenFlag(enum.IntFlag):
    """What a token reports of itself (PKCS#11 token flags: login required, write-protected, PIN
    pad, ...)."""
    LOGIN_REQUIRED = 0x01
    WRITE_PROTECTED = 0x02
    USER_PIN_INITIALIZED = 0x04
    PROTECTED_AUTH_PATH = 0x08
    INITIALIZED = 0x10
    RNG = 0x20


class KeyFlags(enum.IntFlag):
    """A key's flags (Key.flags)."""
    ALWAYS_AUTHENTICATE = 0x01  # the user PIN for every signature (PKCS#11 CKA_ALWAYS_AUTHENTICATE)


class PinFlag(enum.IntFlag):
    """What a token says of its PIN (count low, final try, locked, to be changed)."""
    COUNT_LOW = 0x01
    FINAL_TRY = 0x02
    LOCKED = 0x04
    TO_BE_CHANGED = 0x08


class UpdateStep(enum.IntEnum):
    """A step of the one-click update, in order; DONE after the last."""
    NONE = 0
    CHECK = 1
    LOGIN = 2
    CHALLENGE = 3
    KEYGEN = 4
    CSR = 5
    PROOF = 6
    ISSUE = 7
    VERIFY = 8
    WRITE = 9
    CONFIRM = 10
    SEAL_LOGIN = 11
    SEAL = 12
    ARCHIVE = 13
    DONE = 14

    @property
    def wire_name(self) -> str:
        """The step's name as the journal writes it (``zrca_update_step_name``)."""
        return _lib.s(_lib.zrca_update_step_name(int(self))) or ""

    @property
    def label(self) -> str:
        """The step as the CA's client shows it (the seed's Chinese)."""
        return _lib.s(_lib.zrca_update_step_label(int(self))) or ""


class SealState(enum.IntEnum):
    """zrca_seal_verdict: how Token.seals() judged an e-seal record on the key."""
    VERIFIED = 0       # bound to its certificate and signed by its issuing CA
    BOUND = 1          # bound to its certificate; no CA given to check the signature with
    UNBOUND = 2        # names another certificate
    BAD_SIGNATURE = 3  # the issuing CA's signature does not verify
    NO_ISSUER = 4      # bound, but no chain from the certificate to the CA file: signature unchecked
    MALFORMED = 5      # not a seal record

    @property
    def wire_name(self) -> str:
        """The state's name ("verified", "bound", ...)."""
        return _lib.s(_lib.zrca_seal_state_name(int(self))) or ""


class RenewOutcome(enum.IntEnum):
    """zrca_renew_outcome: what Session.renew_auto() did with one certificate of the plan."""
    PLANNED = 0    # dry run: would be renewed
    SUBMITTED = 1  # in the submitted application, not updated (yet)
    UPDATED = 2    # renewed on its token
    NO_TOKEN = 3   # approved, but its token is not present
    FAILED = 4     # the update failed (RenewEntry.error)
    RESUMED = 5    # an interrupted update (its journal) was resumed and finished: renewed
    PENDING_REVIEW = 6  # in an order still under review: a later run updates it once approved
    ACTION_NEEDED = 7   # a person must act (rejected, held, PIN locked); RenewEntry.message says what


_bind(CertKind, _lib.zrca_cert_kind_name, _lib.zrca_cert_kind_label)
_bind(Business, _lib.zrca_business_name, _lib.zrca_business_label)
_bind(IdType, _lib.zrca_id_type_name, _lib.zrca_id_type_label)
_bind(Role, _lib.zrca_role_name, _lib.zrca_role_label)
_bind(ReviewStatus, _lib.zrca_review_status_name, _lib.zrca_review_status_label)
_bind(OrderStatus, _lib.zrca_order_status_name, _lib.zrca_order_status_label)
_bind(PaymentStatus, _lib.zrca_payment_status_name, _lib.zrca_payment_status_label)
_bind(PaymentMethod, _lib.zrca_payment_method_name, _lib.zrca_payment_method_label)
_bind(ShippingStatus, _lib.zrca_shipping_status_name, _lib.zrca_shipping_status_label)
_bind(ItemStatus, _lib.zrca_item_status_name, _lib.zrca_item_status_label)
