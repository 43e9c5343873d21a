# SPDX-License-Identifier: MIT
"""The session: one account on one platform (login, 我的账户 reads)."""
from __future__ import annotations

import ctypes
import datetime as _dt
import operator
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, List, Optional, Sequence, Tuple,
                    TypeVar, Union, overload)

from . import _lib
from ._callbacks import CREDENTIALS_THUNK, SecretBuffer, Slot, call
from ._handle import Handle, PathLike, Seconds, to_datetime, to_ms, seq_index
from .enums import Business, CertKind, CertStatus, IdType, LoginMethod, LogLevel, Role
from .log import LogCallback, make_log_options

if TYPE_CHECKING:
    from .application import Application
    from .order import Order, OrderIterator
    from .plan import RenewalPlan, RenewReport
    from .transport import Transport
    from .token import Token, TokenCertificate

#: Asked for the password again when the platform token expired: (account) -> password or None.
CredentialsCallback = Callable[[str], Union[str, bytes, bytearray, None]]

T = TypeVar("T")


class RecordList(Sequence[T], Generic[T]):
    """Records read from the platform in one call: an immutable sequence of snapshots.

    The C list is copied into Python objects and freed before the method that read it returns,
    so a list and its records outlive the Session (and anything else) they were read from.
    ``close()`` and ``with`` are accepted and do nothing (the handle-backed lists of earlier
    releases needed them)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        """A list of ``items`` (snapshots)."""
        self._items: Tuple[T, ...] = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> List[T]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(self._items[i])
        return self._items[seq_index(operator.index(i), len(self._items))]

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, RecordList):
            return type(self) is type(other) and self._items == other._items
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        """Always False: a snapshot has nothing to close."""
        return False

    def close(self) -> None:
        """Nothing to free (the C list was freed when it was read); kept for older code."""

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "<%s of %d>" % (type(self).__name__, len(self._items))


def _read_list(ptr: Any, free: Any, count: Any, get: Any, make: Callable[[Any], T]) -> List[T]:
    """Every item of a C list as a snapshot; the list is freed, whatever happens."""
    try:
        out = []
        for i in range(count(ptr)):
            p = get(ptr, i)
            if p:
                out.append(make(p))
        return out
    finally:
        free(ptr)


@dataclass(frozen=True)
class Certificate:
    """One certificate of the account (证书信息), as the platform listed it when it was read: a
    snapshot that outlives its Session. ``days_left``, ``expired`` and ``due`` are as of the read:
    ``days_left`` is 0 both for a certificate ending later today and for one that has ended, which
    ``expired`` tells apart; ``due`` is the library's one definition (``zrca_certificate_due()``,
    the renewal plan's: inside the 90-day window before the end, never before the platform's window
    opens, valid and renewable)."""
    id: int
    kind: CertKind
    holder: str
    holder_id_number: Optional[str]
    serial: str
    subject: str
    issuer: str
    not_before: Optional[_dt.datetime]
    not_after: Optional[_dt.datetime]
    status: CertStatus
    key_serial: Optional[str]
    days_left: int
    renewal_opens_at: Optional[_dt.datetime]
    renewal_closes_at: Optional[_dt.datetime]
    renewable: bool
    expired: bool
    due: bool
    der: bytes = field(repr=False)

    @classmethod
    def _from_c(cls, c: Any) -> "Certificate":
        n = ctypes.c_size_t()
        der = _lib.borrowed_bytes(_lib.zrca_certificate_der(c, ctypes.byref(n)), n)
        return cls(int(_lib.zrca_certificate_id(c)), CertKind(_lib.zrca_certificate_kind(c)),
                   _lib.s(_lib.zrca_certificate_holder(c)) or "", _lib.s(_lib.zrca_certificate_holder_id_number(c)),
                   _lib.s(_lib.zrca_certificate_serial(c)) or "", _lib.s(_lib.zrca_certificate_subject(c)) or "",
                   _lib.s(_lib.zrca_certificate_issuer(c)) or "",
                   to_datetime(_lib.zrca_certificate_not_before(c)), to_datetime(_lib.zrca_certificate_not_after(c)),
                   CertStatus(_lib.zrca_certificate_status(c)), _lib.s(_lib.zrca_certificate_key_serial(c)),
                   int(_lib.zrca_certificate_days_left(c)),
                   to_datetime(_lib.zrca_certificate_renewal_opens_at(c)),
                   to_datetime(_lib.zrca_certificate_renewal_closes_at(c)),
                   bool(_lib.zrca_certificate_renewable(c)), bool(_lib.zrca_certificate_expired(c, 0)),
                   bool(_lib.zrca_certificate_due(c, 0, 0)), der)

    def __repr__(self) -> str:
        return "<Certificate %s %s %s until %s>" % (self.kind.wire_name, self.holder, self.serial, self.not_after)


class CertificateList(RecordList[Certificate]):
    """The account's certificates (``Session.certificates()``): a sequence of ``Certificate``."""

    __slots__ = ()


@dataclass(frozen=True)
class Person:
    """A person applied for before (添加 picks from these): a snapshot that outlives its
    Session."""
    id: int
    name: str
    id_type: IdType
    id_number: str
    position: str
    first_applied_at: Optional[_dt.datetime]
    last_applied_at: Optional[_dt.datetime]

    @classmethod
    def _from_c(cls, c: Any) -> "Person":
        return cls(int(_lib.zrca_person_id(c)), _lib.s(_lib.zrca_person_name(c)) or "",
                   IdType(_lib.zrca_person_id_type(c)), _lib.s(_lib.zrca_person_id_number(c)) or "",
                   _lib.s(_lib.zrca_person_position(c)) or "", to_datetime(_lib.zrca_person_first_applied_at(c)),
                   to_datetime(_lib.zrca_person_last_applied_at(c)))

    def __repr__(self) -> str:
        return "<Person %s %s>" % (self.name, self.position)


class PersonList(RecordList[Person]):
    """The persons applied for before (``Session.persons()``): a sequence of ``Person``."""

    __slots__ = ()


@dataclass(frozen=True)
class Fee:
    """One entry of the fee schedule (收费标准): a snapshot."""
    business: Business
    kind: CertKind
    years: int
    price_fen: int

    @classmethod
    def _from_c(cls, c: Any) -> "Fee":
        return cls(Business(_lib.zrca_fee_business(c)), CertKind(_lib.zrca_fee_kind(c)),
                   int(_lib.zrca_fee_years(c)), int(_lib.zrca_fee_price_fen(c)))

    def __repr__(self) -> str:
        return "<Fee %s %s %dy %d fen>" % (self.business.wire_name, self.kind.wire_name, self.years, self.price_fen)


class FeeSchedule(RecordList[Fee]):
    """The fee schedule (``Session.fees()``): a sequence of ``Fee``, its currency and what the
    prices include."""

    __slots__ = ("currency", "includes")

    def __init__(self, items: Iterable[Fee] = (), currency: str = "", includes: Iterable[str] = ()) -> None:
        """A schedule of ``items`` priced in ``currency``; ``includes``: what a price covers."""
        super().__init__(items)
        self.currency: str = currency
        self.includes: List[str] = list(includes)

    def price(self, business: Business, kind: CertKind, years: int) -> Optional[int]:
        """Price of one certificate in fen, or None when not offered."""
        for f in self._items:
            if f.business == business and f.kind == kind and f.years == years:
                return f.price_fen
        return None


@dataclass(frozen=True)
class Notification:
    """One notification sent to the account (the SMS): a snapshot."""
    id: int
    channel: str
    mobile: str
    text: str
    order_number: Optional[str]
    sent_at: Optional[_dt.datetime]

    @classmethod
    def _from_c(cls, c: Any) -> "Notification":
        return cls(int(_lib.zrca_notification_id(c)), _lib.s(_lib.zrca_notification_channel(c)) or "",
                   _lib.s(_lib.zrca_notification_mobile(c)) or "", _lib.s(_lib.zrca_notification_text(c)) or "",
                   _lib.s(_lib.zrca_notification_order_number(c)), to_datetime(_lib.zrca_notification_sent_at(c)))

    def __repr__(self) -> str:
        return "<Notification %s to %s: %s>" % (self.channel, self.mobile, self.text)


class NotificationList(RecordList[Notification]):
    """The account's notifications (``Session.notifications()``): a sequence of
    ``Notification``."""

    __slots__ = ()


@dataclass(frozen=True)
class Enterprise:
    """企业基本信息, read once (a snapshot; the C record is freed at once)."""
    name: str
    uscc: Optional[str]
    legal_rep_name: str
    legal_rep_id_type: IdType
    legal_rep_id_number: str
    address: Optional[str]
    phone: Optional[str]
    email: Optional[str]
    role: Role


class Session(Handle):
    """One account on one platform. Create, ``login()``, read, make applications and orders;
    ``close()`` (or a ``with`` block) frees it and, first, everything made from it.

    Durations are seconds (int, float or timedelta). ``log`` is a callback (level, domain,
    message); ``transport`` a ``zrca.Transport`` (default: the library's libcurl one);
    ``credentials`` is asked for the password once when the platform token expired.
    """

    _free_fn = _lib.zrca_session_free

    def __init__(self, base_url: str, *, ca_file: Optional[PathLike] = None, ca_path: Optional[PathLike] = None,
                 issuer_ca_file: Optional[PathLike] = None, pinned_public_key: Optional[str] = None,
                 insecure_skip_tls_verify: bool = False, connect_timeout: Seconds = None,
                 timeout: Seconds = None, proxy: Optional[str] = None, user_agent: Optional[str] = None,
                 retry_attempts: int = 0, retry_base: Seconds = None, retry_max: Seconds = None,
                 max_response_size: int = 0, log: Optional[LogCallback] = None,
                 log_level: LogLevel = LogLevel.WARN, state_dir: Optional[PathLike] = None,
                 transport: Optional["Transport"] = None,
                 credentials: Optional[CredentialsCallback] = None) -> None:
        self._ptr = None
        self._slots: List[Slot] = []
        self._key_login: Optional[Tuple[Any, Any]] = None  # the token a key login signs with again
        o = _lib.SessionOptions()
        call(_lib.zrca_session_options_init, ctypes.byref(o), _lib.SESSION_OPTIONS_VERSION)
        o.base_url = _lib.b(base_url)
        o.ca_file = _lib.b(ca_file)
        o.ca_path = _lib.b(ca_path)
        o.issuer_ca_file = _lib.b(issuer_ca_file)
        o.pinned_public_key = _lib.b(pinned_public_key)
        o.insecure_skip_tls_verify = 1 if insecure_skip_tls_verify else 0
        o.connect_timeout_ms = to_ms(connect_timeout)
        o.timeout_ms = to_ms(timeout)
        o.proxy = _lib.b(proxy)
        o.user_agent = _lib.b(user_agent)
        o.retry_attempts = int(retry_attempts)
        o.retry_base_ms = to_ms(retry_base)
        o.retry_max_ms = to_ms(retry_max)
        o.max_response_size = int(max_response_size)
        o.state_dir = _lib.b(state_dir)
        log_opts = None
        if log is not None:
            log_opts, slot = make_log_options(log, log_level)
            if slot is not None:
                self._slots.append(slot)
            o.log = ctypes.pointer(log_opts)
        if credentials is not None:
            cs = Slot(credentials)
            self._slots.append(cs)
            o.credentials = CREDENTIALS_THUNK
            o.credentials_payload = cs.payload
        self._transport_slot: Optional[Slot] = None
        self.transport = transport
        if transport is not None:
            from .transport import make_vtable
            vt, ts = make_vtable(transport)
            self._transport_slot = ts
            self._slots.append(ts)
            o.transport = ctypes.pointer(vt)
        ptr = _lib.SessionP()
        try:
            call(_lib.zrca_session_new, ctypes.byref(ptr), ctypes.byref(o), slots=self._slots)
        except BaseException:
            for sl in self._slots:
                sl.release()
            self._slots = []
            raise
        super().__init__(ptr)
        self.base_url = base_url

    def _release(self, ptr: Any) -> None:
        _lib.zrca_session_free(ptr)  # calls the transport's close()
        self._key_login = None  # the token may go now: the session no longer signs with it
        slots, self._slots = self._slots, []
        for sl in slots:
            sl.release()

    def _call(self, fn: Any, *args: Any, extra: Any = (), pins: Any = ()) -> int:
        """Call a C function that may reach this session's callbacks and may block (the network):
        from the main thread, Ctrl-C interrupts it (``_callbacks.call``). ``pins``: the other
        handles it uses."""
        return call(fn, *args, slots=list(self._slots) + list(extra), pins=(self,) + tuple(pins))

    # -------------------------------------------------------------- login

    def login(self, account: str, password: Union[str, bytes, bytearray]) -> None:
        """Log in (``POST /api/v1/session``). The password is copied into a C buffer wiped after
        the call; a bytearray you pass stays yours to wipe."""
        with SecretBuffer(password) as pw:
            self._call(_lib.zrca_session_login, self._h, _lib.b(account), pw)

    def login_key(self, token: "Token", cert: "TokenCertificate") -> None:
        """Log in with the USB key (证书登录, ``zrca_session_login_key``): the key of ``cert`` on
        ``token`` signs the platform's login challenge; the account is the one the platform issued
        ``cert`` to. ``token`` must be logged in (``Token.login``); no PIN is asked here. The session
        keeps ``token`` (and the certificate's list) alive: when the platform's token expires it
        signs a fresh challenge with the same key. Refused locally: an expired certificate
        (``ValidationError``, field ``certificate``, rule ``expired``), one without its key
        (``NotFound``, rule ``no_key``); by the platform: ``AuthError`` (``remote_code``
        ``certificate_not_current``, ``invalid_credentials``, ``invalid_challenge``)."""
        self._call(_lib.zrca_session_login_key, self._h, token._h, cert._c,
                   extra=token._pin_slots(), pins=(token,))
        self._key_login = (token, cert._list)

    def logout(self) -> None:
        """Log out (the platform token is revoked); the session can log in again."""
        self._call(_lib.zrca_session_logout, self._h)
        self._key_login = None

    @property
    def login_method(self) -> LoginMethod:
        """How the session logged in: ``LoginMethod.PASSWORD``, ``CERTIFICATE`` (``login_key``) or
        ``NONE``."""
        return LoginMethod(_lib.zrca_session_login_method(self._h))

    @property
    def cert_serial(self) -> Optional[str]:
        """The serial of the certificate a key session is bound to, else None."""
        return _lib.s(_lib.zrca_session_cert_serial(self._h))

    @property
    def cert_holder(self) -> Optional[str]:
        """The holder of the bound certificate (key session), else None."""
        return _lib.s(_lib.zrca_session_cert_holder(self._h))

    @property
    def cert_enterprise(self) -> Optional[str]:
        """The enterprise of the bound certificate (key session), else None."""
        return _lib.s(_lib.zrca_session_cert_enterprise(self._h))

    @property
    def cert_kind(self) -> CertKind:
        """The kind of the bound certificate; ``CertKind.UNKNOWN`` without one."""
        return CertKind(_lib.zrca_session_cert_kind(self._h))

    @property
    def account(self) -> Optional[str]:
        """The logged-in account, or None before ``login()``."""
        return _lib.s(_lib.zrca_session_account(self._h))

    @property
    def role(self) -> Role:
        """The account's role."""
        return Role(_lib.zrca_session_role(self._h))

    @property
    def expires_at(self) -> Optional[_dt.datetime]:
        """When the platform token expires (aware datetime, UTC), or None."""
        return to_datetime(_lib.zrca_session_expires_at(self._h))

    @property
    def state_dir(self) -> str:
        """The directory of the session's journals and archives."""
        return _lib.s(_lib.zrca_session_state_dir(self._h)) or ""

    # -------------------------------------------------------------- reads

    def enterprise(self) -> Enterprise:
        """The enterprise's record (企业基本信息): a frozen snapshot."""
        p = _lib.EnterpriseP()
        self._call(_lib.zrca_session_enterprise, ctypes.byref(p), self._h)
        try:
            return Enterprise(
                _lib.s(_lib.zrca_enterprise_name(p)) or "", _lib.s(_lib.zrca_enterprise_uscc(p)),
                _lib.s(_lib.zrca_enterprise_legal_rep_name(p)) or "",
                IdType(_lib.zrca_enterprise_legal_rep_id_type(p)),
                _lib.s(_lib.zrca_enterprise_legal_rep_id_number(p)) or "",
                _lib.s(_lib.zrca_enterprise_address(p)), _lib.s(_lib.zrca_enterprise_phone(p)),
                _lib.s(_lib.zrca_enterprise_email(p)), Role(_lib.zrca_enterprise_role(p)))
        finally:
            _lib.zrca_enterprise_free(p)

    def certificates(self, kind: CertKind = CertKind.ANY, status: CertStatus = CertStatus.ANY) -> CertificateList:
        """The account's certificates (证书信息), filtered by ``kind`` and ``status``: snapshots."""
        p = _lib.CertificateListP()
        self._call(_lib.zrca_session_certificates, ctypes.byref(p), self._h, int(kind), int(status))
        return CertificateList(_read_list(p, _lib.zrca_certificate_list_free, _lib.zrca_certificate_list_count,
                                          _lib.zrca_certificate_list_get, Certificate._from_c))

    def persons(self) -> PersonList:
        """The persons applied for before: snapshots."""
        p = _lib.PersonListP()
        self._call(_lib.zrca_session_persons, ctypes.byref(p), self._h)
        return PersonList(_read_list(p, _lib.zrca_person_list_free, _lib.zrca_person_list_count,
                                     _lib.zrca_person_list_get, Person._from_c))

    def fees(self) -> FeeSchedule:
        """The fee schedule (收费标准): a snapshot."""
        p = _lib.FeeScheduleP()
        self._call(_lib.zrca_session_fees, ctypes.byref(p), self._h)
        try:
            currency = _lib.s(_lib.zrca_fee_schedule_currency(p)) or ""
            includes = [_lib.s(_lib.zrca_fee_schedule_includes(p, i)) or ""
                        for i in range(_lib.zrca_fee_schedule_includes_count(p))]
            fees = [Fee._from_c(_lib.zrca_fee_schedule_get(p, i)) for i in range(_lib.zrca_fee_schedule_count(p))]
        finally:
            _lib.zrca_fee_schedule_free(p)
        return FeeSchedule(fees, currency, includes)

    def notifications(self) -> NotificationList:
        """The notifications sent to the account (the SMS): snapshots."""
        p = _lib.NotificationListP()
        self._call(_lib.zrca_session_notifications, ctypes.byref(p), self._h)
        return NotificationList(_read_list(p, _lib.zrca_notification_list_free,
                                           _lib.zrca_notification_list_count, _lib.zrca_notification_list_get,
                                           Notification._from_c))

    # -------------------------------------------------------------- applications and orders

    def new_application(self, business: Business = Business.RENEWAL) -> "Application":
        """A new, empty application for ``business`` (an ``Application``)."""
        from .application import Application
        return Application(self, business)

    def order(self, number: str) -> "Order":
        """The order with this number (an ``Order``); NotFound when there is none."""
        from .order import Order
        return Order._get(self, number)

    def orders(self, *, business: Business = Business.UNKNOWN, kind: CertKind = CertKind.ANY,
               date_from: Union[str, _dt.date, None] = None, date_to: Union[str, _dt.date, None] = None,
               number: Optional[str] = None, per_page: int = 0) -> "OrderIterator":
        """Iterate over the account's orders, newest first, fetched lazily page by page."""
        from .order import OrderIterator
        return OrderIterator(self, business, kind, date_from, date_to, number, per_page)

    # -------------------------------------------------------------- renewal planning

    def renewal_plan(self, tokens: Any = (), **options: Any) -> "RenewalPlan":
        """The certificates due for renewal, matched with ``tokens`` (a Token or an iterable of
        them); options as ``zrca.RenewalPlan`` (window_days, now, include_absent,
        commitment_letter, person_scan, contact_name, contact_mobile, contact_email)."""
        from .plan import RenewalPlan
        return RenewalPlan(self, tokens, **options)

    def renew_auto(self, tokens: Any = (), **options: Any) -> "RenewReport":
        """The whole seed flow in one call, re-entrant: resume every interrupted update of the
        state directory (RESUMED), update every approved item whose token is among ``tokens``
        (UPDATED), report the orders under review (PENDING_REVIEW) and those a person must act on
        (ACTION_NEEDED), then plan the certificates newly due, submit the application that renews
        them, wait for the approval and update them. Run it again after a timeout, a kill or an
        outage: it finishes with one order and one issuance per certificate. Nothing to do is
        success with an empty report (no order filed). Runs of one account and state directory
        take turns (a run lock): ``lock_wait`` seconds, 0 by default (Locked at once).

        Keywords: the plan's (``commitment_letter``, ``person_scan(holder, id_number) -> path``,
        ``contact_name``, ``contact_mobile``, ``contact_email``, ``window_days``, ``now``,
        ``include_absent``); each update's (``pin``, ``single_login``, ``allow_final_try``,
        ``key_type``, ``key_bits``, ``delete_old``, ``progress``); the wait's (``wait_timeout``,
        10 min by default, ``wait_min_interval``, ``wait_max_interval``,
        ``wait_progress(order_number, seconds)``); ``dry_run`` (validate, send nothing: every
        entry PLANNED) and ``no_wait`` (submit and stop: SUBMITTED); ``on_event(entry)`` as each
        certificate's outcome is set; ``lock_wait``.

        Raises ValidationError (the application), Timeout (no review in time: the entries are
        PENDING_REVIEW), StateError (rejected or closed), or the first update's error; a failure
        after planning carries the RenewReport as ``exc.report`` (on the library's error: the
        exception raised, or the ``__cause__`` of a callback's exception, which is re-raised as
        always)."""
        from .plan import renew_auto
        return renew_auto(self, tokens, **options)

    def __repr__(self) -> str:
        if self.closed:
            return "<Session closed>"
        return "<Session %s account=%s>" % (self.base_url, self.account)
