"""The session: one account on one platform (login, 我的账户 reads)."""
from __future__ import annotations

import ctypes
import datetime as _dt
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Generic, Iterator, List, Optional, Sequence, TypeVar,
                    Union, overload)

from . import _lib
from ._callbacks import CREDENTIALS_THUNK, SecretBuffer, Slot, call
from ._handle import Handle, PathLike, Seconds, to_datetime, to_ms, seq_index
from .enums import Business, CertKind, CertStatus, IdType, LogLevel, Role
from .log import LogCallback, make_log_options

if TYPE_CHECKING:
    from .application import Application
    from .order import Order, OrderIterator
    from .plan import RenewalPlan, RenewReport
    from .transport import Transport

#: Asked for the password again when the platform token expired: (account) -> password or None.
CredentialsCallback = Callable[[str], Union[str, bytes, bytearray, None]]

T = TypeVar("T")


class _List(Handle, Sequence[T], Generic[T]):
    """A list handle read from the platform: a sequence whose items borrow from it (an item keeps
    its list alive; reading an item of a closed list raises ValueError)."""

    _count_fn: Any = None
    _get_fn: Any = None
    _item_cls: Any = None

    def __init__(self, ptr: Any, session: "Session") -> None:
        super().__init__(ptr, session)
        self.session = session

    def __len__(self) -> int:
        return int(type(self)._count_fn(self._h))

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> List[T]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = seq_index(i, len(self))
        p = type(self)._get_fn(self._h, i)
        if not p:
            raise IndexError("list index out of range")
        return type(self)._item_cls(self, p)

    def __iter__(self) -> Iterator[T]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return "<%s of %s>" % (type(self).__name__, "closed" if self.closed else len(self))


class _Item:
    """An item borrowed from a list: holds the list (so it stays alive) and the C pointer."""

    __slots__ = ("_list", "_p")

    def __init__(self, lst: Handle, p: Any) -> None:
        self._list = lst
        self._p = p

    @property
    def _c(self) -> Any:
        self._list._h  # raises if the list was closed
        return self._p


class Certificate(_Item):
    """One certificate of the account (证书信息), as the platform lists it."""

    __slots__ = ()

    @property
    def id(self) -> int: return int(_lib.zrca_certificate_id(self._c))
    @property
    def kind(self) -> CertKind: return CertKind(_lib.zrca_certificate_kind(self._c))
    @property
    def holder(self) -> str: return _lib.s(_lib.zrca_certificate_holder(self._c)) or ""
    @property
    def holder_id_number(self) -> Optional[str]: return _lib.s(_lib.zrca_certificate_holder_id_number(self._c))
    @property
    def serial(self) -> str: return _lib.s(_lib.zrca_certificate_serial(self._c)) or ""
    @property
    def subject(self) -> str: return _lib.s(_lib.zrca_certificate_subject(self._c)) or ""
    @property
    def issuer(self) -> str: return _lib.s(_lib.zrca_certificate_issuer(self._c)) or ""
    @property
    def not_before(self) -> Optional[_dt.datetime]: return to_datetime(_lib.zrca_certificate_not_before(self._c))
    @property
    def not_after(self) -> Optional[_dt.datetime]: return to_datetime(_lib.zrca_certificate_not_after(self._c))
    @property
    def status(self) -> CertStatus: return CertStatus(_lib.zrca_certificate_status(self._c))
    @property
    def key_serial(self) -> Optional[str]: return _lib.s(_lib.zrca_certificate_key_serial(self._c))
    @property
    def days_left(self) -> int: return int(_lib.zrca_certificate_days_left(self._c))
    @property
    def renewal_opens_at(self) -> Optional[_dt.datetime]:
        return to_datetime(_lib.zrca_certificate_renewal_opens_at(self._c))
    @property
    def renewal_closes_at(self) -> Optional[_dt.datetime]:
        return to_datetime(_lib.zrca_certificate_renewal_closes_at(self._c))
    @property
    def renewable(self) -> bool: return bool(_lib.zrca_certificate_renewable(self._c))

    @property
    def der(self) -> bytes:
        n = ctypes.c_size_t()
        p = _lib.zrca_certificate_der(self._c, ctypes.byref(n))
        return _lib.borrowed_bytes(p, n)

    def __repr__(self) -> str:
        return "<Certificate %s %s %s until %s>" % (self.kind.wire_name, self.holder, self.serial, self.not_after)


class CertificateList(_List[Certificate]):
    _free_fn = _lib.zrca_certificate_list_free
    _count_fn = _lib.zrca_certificate_list_count
    _get_fn = _lib.zrca_certificate_list_get
    _item_cls = Certificate


class Person(_Item):
    """A person applied for before (添加 picks from these)."""

    __slots__ = ()

    @property
    def id(self) -> int: return int(_lib.zrca_person_id(self._c))
    @property
    def name(self) -> str: return _lib.s(_lib.zrca_person_name(self._c)) or ""
    @property
    def id_type(self) -> IdType: return IdType(_lib.zrca_person_id_type(self._c))
    @property
    def id_number(self) -> str: return _lib.s(_lib.zrca_person_id_number(self._c)) or ""
    @property
    def position(self) -> str: return _lib.s(_lib.zrca_person_position(self._c)) or ""
    @property
    def first_applied_at(self) -> Optional[_dt.datetime]:
        return to_datetime(_lib.zrca_person_first_applied_at(self._c))
    @property
    def last_applied_at(self) -> Optional[_dt.datetime]:
        return to_datetime(_lib.zrca_person_last_applied_at(self._c))

    def __repr__(self) -> str:
        return "<Person %s %s>" % (self.name, self.position)


class PersonList(_List[Person]):
    _free_fn = _lib.zrca_person_list_free
    _count_fn = _lib.zrca_person_list_count
    _get_fn = _lib.zrca_person_list_get
    _item_cls = Person


class Fee(_Item):
    """One entry of the fee schedule (收费标准)."""

    __slots__ = ()

    @property
    def business(self) -> Business: return Business(_lib.zrca_fee_business(self._c))
    @property
    def kind(self) -> CertKind: return CertKind(_lib.zrca_fee_kind(self._c))
    @property
    def years(self) -> int: return int(_lib.zrca_fee_years(self._c))
    @property
    def price_fen(self) -> int: return int(_lib.zrca_fee_price_fen(self._c))

    def __repr__(self) -> str:
        return "<Fee %s %s %dy %d fen>" % (self.business.wire_name, self.kind.wire_name, self.years, self.price_fen)


class FeeSchedule(_List[Fee]):
    _free_fn = _lib.zrca_fee_schedule_free
    _count_fn = _lib.zrca_fee_schedule_count
    _get_fn = _lib.zrca_fee_schedule_get
    _item_cls = Fee

    @property
    def currency(self) -> str:
        return _lib.s(_lib.zrca_fee_schedule_currency(self._h)) or ""

    @property
    def includes(self) -> List[str]:
        h = self._h
        return [_lib.s(_lib.zrca_fee_schedule_includes(h, i)) or ""
                for i in range(_lib.zrca_fee_schedule_includes_count(h))]

    def price(self, business: Business, kind: CertKind, years: int) -> Optional[int]:
        """Price of one certificate in fen, or None when not offered."""
        out = ctypes.c_int64()
        rc = _lib.zrca_fee_schedule_price(ctypes.byref(out), self._h, int(business), int(kind), int(years))
        if rc == -9:  # ZRCA_ENOTFOUND: not offered
            _lib.zrca_error_clear()
            return None
        from ._callbacks import check
        check(rc)
        return int(out.value)


class Notification(_Item):
    """One notification sent to the account (the SMS)."""

    __slots__ = ()

    @property
    def id(self) -> int: return int(_lib.zrca_notification_id(self._c))
    @property
    def channel(self) -> str: return _lib.s(_lib.zrca_notification_channel(self._c)) or ""
    @property
    def mobile(self) -> str: return _lib.s(_lib.zrca_notification_mobile(self._c)) or ""
    @property
    def text(self) -> str: return _lib.s(_lib.zrca_notification_text(self._c)) or ""
    @property
    def order_number(self) -> Optional[str]: return _lib.s(_lib.zrca_notification_order_number(self._c))
    @property
    def sent_at(self) -> Optional[_dt.datetime]: return to_datetime(_lib.zrca_notification_sent_at(self._c))

    def __repr__(self) -> str:
        return "<Notification %s to %s: %s>" % (self.channel, self.mobile, self.text)


class NotificationList(_List[Notification]):
    _free_fn = _lib.zrca_notification_list_free
    _count_fn = _lib.zrca_notification_list_count
    _get_fn = _lib.zrca_notification_list_get
    _item_cls = Notification


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
        slots, self._slots = self._slots, []
        for sl in slots:
            sl.release()

    def _call(self, fn: Any, *args: Any, extra: Any = ()) -> int:
        """Call a C function that may reach this session's callbacks."""
        return call(fn, *args, slots=list(self._slots) + list(extra))

    # -------------------------------------------------------------- login

    def login(self, account: str, password: Union[str, bytes, bytearray]) -> None:
        """Log in (``POST /api/v1/session``). The password is copied into a C buffer wiped after
        the call; a bytearray you pass stays yours to wipe."""
        with SecretBuffer(password) as pw:
            self._call(_lib.zrca_session_login, self._h, _lib.b(account), pw)

    def logout(self) -> None:
        self._call(_lib.zrca_session_logout, self._h)

    @property
    def account(self) -> Optional[str]:
        return _lib.s(_lib.zrca_session_account(self._h))

    @property
    def role(self) -> Role:
        return Role(_lib.zrca_session_role(self._h))

    @property
    def expires_at(self) -> Optional[_dt.datetime]:
        return to_datetime(_lib.zrca_session_expires_at(self._h))

    @property
    def state_dir(self) -> str:
        return _lib.s(_lib.zrca_session_state_dir(self._h)) or ""

    # -------------------------------------------------------------- reads

    def enterprise(self) -> Enterprise:
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
        p = _lib.CertificateListP()
        self._call(_lib.zrca_session_certificates, ctypes.byref(p), self._h, int(kind), int(status))
        return CertificateList(p, self)

    def persons(self) -> PersonList:
        p = _lib.PersonListP()
        self._call(_lib.zrca_session_persons, ctypes.byref(p), self._h)
        return PersonList(p, self)

    def fees(self) -> FeeSchedule:
        p = _lib.FeeScheduleP()
        self._call(_lib.zrca_session_fees, ctypes.byref(p), self._h)
        return FeeSchedule(p, self)

    def notifications(self) -> NotificationList:
        p = _lib.NotificationListP()
        self._call(_lib.zrca_session_notifications, ctypes.byref(p), self._h)
        return NotificationList(p, self)

    # -------------------------------------------------------------- applications and orders

    def new_application(self, business: Business = Business.RENEWAL) -> "Application":
        from .application import Application
        return Application(self, business)

    def order(self, number: str) -> "Order":
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
        """The whole seed flow in one call: plan the certificates due, submit the application
        that renews them, wait for the approval, then update every one whose token is among
        ``tokens``. Nothing due is success with an empty report (no order filed).

        Keywords: the plan's (``commitment_letter``, ``person_scan(holder, id_number) -> path``,
        ``contact_name``, ``contact_mobile``, ``contact_email``, ``window_days``, ``now``,
        ``include_absent``); each update's (``pin``, ``single_login``, ``allow_final_try``,
        ``key_type``, ``key_bits``, ``delete_old``, ``progress``); the wait's (``wait_timeout``,
        10 min by default, ``wait_min_interval``, ``wait_max_interval``,
        ``wait_progress(order_number, seconds)``); ``dry_run`` (validate, send nothing: every
        entry PLANNED) and ``no_wait`` (submit and stop: SUBMITTED).

        Raises ValidationError (the application), Timeout (no review in time), StateError
        (rejected or closed), or the first update's error; a failure after planning carries the
        RenewReport as ``exc.report`` (on the library's error: the exception raised, or the
        ``__cause__`` of a callback's exception, which is re-raised as always)."""
        from .plan import renew_auto
        return renew_auto(self, tokens, **options)

    def __repr__(self) -> str:
        if self.closed:
            return "<Session closed>"
        return "<Session %s account=%s>" % (self.base_url, self.account)
