# SPDX-License-Identifier: MIT
"""Renewal planning (beyond i信): which certificates are due, the application that renews them,
and the whole seed flow in one call (plan, submit, wait for the approval, update each token)."""
from __future__ import annotations

import ctypes
import datetime as _dt
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union,
                    overload)

from . import _lib
from ._callbacks import RENEW_EVENT_THUNK, RENEW_WAIT_THUNK, SCAN_THUNK, Slot, call
from ._handle import Handle, PathLike, Seconds, to_datetime, to_ms, seq_index
from .enums import CertKind, KeyType, RenewOutcome, Status
from .errors import ZrcaError
from .token import PinCallback, Token

if TYPE_CHECKING:
    from .application import Application
    from .session import Session
    from .update import ProgressCallback

#: Where the ID scan of a person is: (holder, id_number) -> a file path, or None when there is
#: none (the application then fails validation). An exception stops the call and is re-raised.
ScanCallback = Callable[[str, str], Optional[PathLike]]

#: The wait of renew_auto(): (order number, seconds waited) -> a true value to stop waiting.
RenewWaitProgress = Callable[[str, float], Any]

#: renew_auto(on_event=...): called with each RenewEntry as its outcome is set (resumed, updated,
#: submitted with its order number as soon as the order exists, waiting for review, ...). An
#: exception is kept and re-raised once the call returns.
RenewEvent = Callable[["RenewEntry"], Any]

Tokens = Union[Token, Iterable[Token], None]
When = Union[int, float, _dt.datetime, None]


@dataclass(frozen=True)
class PlanEntry:
    """A certificate due for renewal: its kind, holder, serial (lowercase hex), end of validity,
    and the Token (one of those given to the plan) that holds it, or None."""
    kind: CertKind
    holder: str
    serial: str
    not_after: Optional[_dt.datetime]
    token: Optional[Token]


@dataclass(frozen=True)
class RenewEntry:
    """What renew_auto() did with one certificate: ``outcome``; once UPDATED or RESUMED the new
    serial and end of validity; once FAILED or ACTION_NEEDED the status code (``error``, Status.OK
    otherwise); the ``order`` and ``item`` it is in, the Token given that holds it, and
    ``message`` (what a person must do, the review comment, the error) when there is one."""
    kind: CertKind
    holder: str
    old_serial: str
    old_not_after: Optional[_dt.datetime]
    outcome: RenewOutcome
    new_serial: Optional[str]
    new_not_after: Optional[_dt.datetime]
    error: Status
    order: Optional[str] = None
    item: Optional[int] = None
    token: Optional[Token] = None
    message: Optional[str] = None


@dataclass(frozen=True)
class RenewReport(Sequence[RenewEntry]):
    """What renew_auto() did: the order filed (None for a dry run or when nothing was due) and one
    RenewEntry per certificate of the plan (a sequence of them)."""
    order_number: Optional[str]
    entries: Tuple[RenewEntry, ...]

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, i: int) -> RenewEntry: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[RenewEntry]: ...

    def __getitem__(self, i: Any) -> Any:
        return self.entries[i]

    def __iter__(self) -> Iterator[RenewEntry]:
        return iter(self.entries)


def _status(code: int) -> Status:
    try:
        return Status(code)
    except ValueError:
        return Status.ERROR


def _entry(p: Any, i: int, toks: Sequence[Token] = ()) -> RenewEntry:
    """Certificate ``i`` of a C report; its token is one of ``toks`` (the tokens given)."""
    r = _lib.RenewReportP(p) if isinstance(p, int) else p
    tp = _lib.zrca_renew_report_token(r, i)
    token = next((t for t in toks if t._h.value == tp), None) if tp else None
    item = _lib.zrca_renew_report_item_index(r, i)
    return RenewEntry(
        CertKind(_lib.zrca_renew_report_kind(r, i)), _lib.s(_lib.zrca_renew_report_holder(r, i)) or "",
        _lib.s(_lib.zrca_renew_report_old_serial(r, i)) or "",
        to_datetime(_lib.zrca_renew_report_old_not_after(r, i)),
        RenewOutcome(_lib.zrca_renew_report_outcome(r, i)), _lib.s(_lib.zrca_renew_report_new_serial(r, i)),
        to_datetime(_lib.zrca_renew_report_new_not_after(r, i)),
        _status(_lib.zrca_renew_report_error(r, i)), _lib.s(_lib.zrca_renew_report_item_order(r, i)),
        item or None, token, _lib.s(_lib.zrca_renew_report_message(r, i)))


def _take_report(p: Any, toks: Sequence[Token] = ()) -> Optional[RenewReport]:
    """The report as a snapshot; the C report is freed."""
    if not p:
        return None
    try:
        entries = [_entry(p, i, toks) for i in range(_lib.zrca_renew_report_count(p))]
        return RenewReport(_lib.s(_lib.zrca_renew_report_order(p)), tuple(entries))
    finally:
        _lib.zrca_renew_report_free(p)


def _token_list(tokens: Tokens) -> List[Token]:
    if tokens is None:
        return []
    if isinstance(tokens, Token):
        return [tokens]
    out = list(tokens)
    for t in out:
        if not isinstance(t, Token):
            raise TypeError("tokens must be zrca.Token objects, not %s" % type(t).__name__)
    return out


def _token_array(tokens: List[Token]) -> Any:
    """The tokens as a C array (zrca_token *const *), or NULL for none."""
    if not tokens:
        return None
    return (_lib.TokenP * len(tokens))(*[_lib.TokenP(t._h.value) for t in tokens])


def _unix(now: When) -> int:
    if now is None:
        return 0
    if isinstance(now, _dt.datetime):
        return int(now.timestamp())
    return int(now)


class _PlanOptions:
    """zrca_plan_options with the Slot of its scan callback (released by ``release()``)."""

    def __init__(self, window_days: int, now: When, include_absent: bool,
                 commitment_letter: Optional[PathLike], person_scan: Optional[ScanCallback],
                 contact_name: Optional[str], contact_mobile: Optional[str], contact_email: Optional[str]) -> None:
        o = _lib.PlanOptions()
        call(_lib.zrca_plan_options_init, ctypes.byref(o), _lib.PLAN_OPTIONS_VERSION)
        if window_days < 0:
            raise ValueError("window_days cannot be negative")
        o.window_days = int(window_days)
        o.now = _unix(now)
        o.include_absent = 1 if include_absent else 0
        o.commitment_letter = _lib.p(commitment_letter, "commitment_letter")
        o.contact_name = _lib.b(contact_name)
        o.contact_mobile = _lib.b(contact_mobile)
        o.contact_email = _lib.b(contact_email)
        self.slot: Optional[Slot] = None
        if person_scan is not None:
            self.slot = Slot(person_scan)
            o.person_scan = SCAN_THUNK
            o.scan_payload = self.slot.payload
        self.c = o

    @property
    def slots(self) -> List[Slot]:
        return [self.slot] if self.slot is not None else []

    def release(self) -> None:
        slot, self.slot = self.slot, None
        if slot is not None:
            slot.release()


class RenewalPlan(Handle, Sequence[PlanEntry]):
    """The account's certificates inside their renewal window (``window_days`` before their end,
    90 by default; valid and not already in an open renewal), a sequence of PlanEntry. A
    certificate is matched with a token given when the token holds it; without
    ``include_absent`` only certificates whose token is given are planned. Empty when nothing
    is due. The plan keeps its session and tokens alive (closing one of them closes the plan).

        with s.renewal_plan([key], commitment_letter="承诺函.pdf", person_scan=scan_of,
                            contact_name="许静怡", contact_mobile="13800138000",
                            contact_email="xu@example.com") as plan:
            for e in plan:
                print(e.kind, e.holder, e.serial, e.not_after, e.token)
            if plan:
                order = plan.application().submit()
    """

    _free_fn = _lib.zrca_renewal_plan_free

    def __init__(self, session: "Session", tokens: Tokens = (), *, window_days: int = 0, now: When = None,
                 include_absent: bool = False, commitment_letter: Optional[PathLike] = None,
                 person_scan: Optional[ScanCallback] = None, contact_name: Optional[str] = None,
                 contact_mobile: Optional[str] = None, contact_email: Optional[str] = None) -> None:
        self._ptr = None
        toks = _token_list(tokens)
        self._opts = _PlanOptions(window_days, now, include_absent, commitment_letter, person_scan,
                                  contact_name, contact_mobile, contact_email)
        p = _lib.RenewalPlanP()
        try:
            session._call(_lib.zrca_renewal_plan_new, ctypes.byref(p), session._h, _token_array(toks), len(toks),
                          ctypes.byref(self._opts.c), extra=self._opts.slots, pins=tuple(toks))
        except BaseException:
            self._opts.release()
            raise
        super().__init__(p, session, *toks)
        self.session = session
        self.tokens: Tuple[Token, ...] = tuple(toks)

    def _release(self, ptr: Any) -> None:
        _lib.zrca_renewal_plan_free(ptr)
        self._opts.release()  # the plan holds the scan callback (application() calls it)

    def __len__(self) -> int:
        return int(_lib.zrca_renewal_plan_count(self._h))

    @overload
    def __getitem__(self, i: int) -> PlanEntry: ...
    @overload
    def __getitem__(self, i: slice) -> List[PlanEntry]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = seq_index(i, len(self), "plan")
        h = self._h
        ptr = _lib.zrca_renewal_plan_token(h, i)
        token = None
        if ptr:
            token = next((t for t in self.tokens if not t.closed and t._h.value == ptr), None)
        return PlanEntry(CertKind(_lib.zrca_renewal_plan_kind(h, i)), _lib.s(_lib.zrca_renewal_plan_holder(h, i)) or "",
                         _lib.s(_lib.zrca_renewal_plan_serial(h, i)) or "",
                         to_datetime(_lib.zrca_renewal_plan_not_after(h, i)), token)

    def __iter__(self) -> Iterator[PlanEntry]:
        for i in range(len(self)):
            yield self[i]

    def application(self) -> "Application":
        """Build (not submit) the renewal application covering the plan: the organisation and
        legal-representative certificates and each person (with the scan ``person_scan`` gives),
        the commitment letter and the contact. NotFound when the plan is empty. An exception
        of ``person_scan`` is re-raised here (the application is then discarded)."""
        from .application import Application
        p = _lib.ApplicationP()
        try:
            self.session._call(_lib.zrca_renewal_plan_application, ctypes.byref(p), self._h,
                               extra=self._opts.slots, pins=(self,))
        except BaseException:
            if p.value:
                _lib.zrca_application_free(p)
            raise
        return Application._wrap(p, self.session)

    def __repr__(self) -> str:
        return "<RenewalPlan of %s>" % ("closed" if self.closed else len(self))


def renew_auto(session: "Session", tokens: Tokens = (), *, commitment_letter: Optional[PathLike] = None,
               person_scan: Optional[ScanCallback] = None, contact_name: Optional[str] = None,
               contact_mobile: Optional[str] = None, contact_email: Optional[str] = None, window_days: int = 0,
               now: When = None, include_absent: bool = False, pin: Optional[PinCallback] = None,
               single_login: bool = False, allow_final_try: bool = False, key_type: KeyType = KeyType.NONE,
               key_bits: int = 0, delete_old: bool = False, progress: Optional["ProgressCallback"] = None,
               wait_timeout: Seconds = None, wait_min_interval: Seconds = None, wait_max_interval: Seconds = None,
               wait_progress: Optional[RenewWaitProgress] = None, dry_run: bool = False,
               no_wait: bool = False, on_event: Optional[RenewEvent] = None,
               lock_wait: Seconds = None) -> RenewReport:
    """See Session.renew_auto()."""
    from .update import _options as _update_options
    toks = _token_list(tokens)
    plan = _PlanOptions(window_days, now, include_absent, commitment_letter, person_scan, contact_name,
                        contact_mobile, contact_email)
    update = None
    wait_slot = None
    event_slot = None
    try:
        update = _update_options(pin, single_login=single_login, allow_final_try=allow_final_try,
                                 key_type=key_type, key_bits=key_bits, delete_old=delete_old, progress=progress)
        ro = _lib.RenewOptions()
        call(_lib.zrca_renew_options_init, ctypes.byref(ro), _lib.RENEW_OPTIONS_VERSION)
        ro.plan = ctypes.pointer(plan.c)
        ro.update = ctypes.pointer(update.c)
        ro.dry_run = 1 if dry_run else 0
        ro.no_wait = 1 if no_wait else 0
        ro.lock_wait_ms = to_ms(lock_wait)
        if on_event is not None:
            event_slot = Slot(on_event, lambda rp, i: _entry(rp, i, toks))
            ro.event = RENEW_EVENT_THUNK
            ro.event_payload = event_slot.payload
        if any(v is not None for v in (wait_timeout, wait_min_interval, wait_max_interval, wait_progress)):
            wo = _lib.WaitOptions()
            call(_lib.zrca_wait_options_init, ctypes.byref(wo), _lib.WAIT_OPTIONS_VERSION)
            wo.timeout_ms = to_ms(wait_timeout)
            wo.min_interval_ms = to_ms(wait_min_interval)
            wo.max_interval_ms = to_ms(wait_max_interval)
            if wait_progress is not None:
                wait_slot = Slot(wait_progress)
                wo.progress = RENEW_WAIT_THUNK
                wo.payload = wait_slot.payload
            ro.wait = ctypes.pointer(wo)
        out = _lib.RenewReportP()
        try:
            session._call(_lib.zrca_renew_auto, ctypes.byref(out), session._h, _token_array(toks), len(toks),
                          ctypes.byref(ro), extra=plan.slots + update.slots + ([wait_slot] if wait_slot else [])
                          + ([event_slot] if event_slot else [])
                          + [sl for t in toks for sl in t._pin_slots()], pins=tuple(toks))
        except BaseException as e:
            # The library reports what it did also on a failure after planning: attach it to the
            # library's error (the exception itself, or the __cause__ of a callback's).
            report = _take_report(out, toks) if out.value else None
            err = e if isinstance(e, ZrcaError) else e.__cause__
            if report is not None and isinstance(err, ZrcaError):
                err.report = report
            raise
        report = _take_report(out, toks)
    finally:
        plan.release()
        if update is not None:
            update.release()
        if wait_slot is not None:
            wait_slot.release()
        if event_slot is not None:
            event_slot.release()
    assert report is not None
    return report
