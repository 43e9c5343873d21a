# SPDX-License-Identifier: MIT
"""The one-click update (更新 → 一键更新 → PIN → 签章更新) of an order item on a token."""
from __future__ import annotations

import ctypes
import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Tuple

from . import _lib
from ._callbacks import PIN_THUNK, UPDATE_PROGRESS_THUNK, Slot
from ._handle import Handle, to_datetime
from .enums import KeyType, UpdateStep
from .token import PinCallback

if TYPE_CHECKING:
    from .order import Order
    from .session import Session
    from .token import Token

#: Update progress: (step about to start, item index) -> a true value to stop (CallbackStopped).
ProgressCallback = Callable[[UpdateStep, int], Any]


@dataclass(frozen=True)
class UpdateResult:
    """What i信 shows at the end (证书更新成功): owner, serial, validity, status."""
    owner: str
    serial: str
    not_before: Optional[_dt.datetime]
    not_after: Optional[_dt.datetime]
    old_serial: str
    old_not_after: Optional[_dt.datetime]
    status: str
    seal_id: Optional[str]
    seal_label: Optional[str]
    der: bytes
    #: The new encryption certificate's serial when an SM2 dual certificate was renewed
    #: (doc/protocol.md §21), else None.
    encryption_serial: Optional[str] = None

    @classmethod
    def _from_c(cls, r: Any) -> "UpdateResult":
        n = ctypes.c_size_t()
        der = _lib.borrowed_bytes(_lib.zrca_update_result_der(r, ctypes.byref(n)), n)
        return cls(_lib.s(_lib.zrca_update_result_owner(r)) or "", _lib.s(_lib.zrca_update_result_serial(r)) or "",
                   to_datetime(_lib.zrca_update_result_not_before(r)),
                   to_datetime(_lib.zrca_update_result_not_after(r)),
                   _lib.s(_lib.zrca_update_result_old_serial(r)) or "",
                   to_datetime(_lib.zrca_update_result_old_not_after(r)),
                   _lib.s(_lib.zrca_update_result_status(r)) or "", _lib.s(_lib.zrca_update_result_seal_id(r)),
                   _lib.s(_lib.zrca_update_result_seal_label(r)), der,
                   _lib.s(_lib.zrca_update_result_encryption_serial(r)))


def _take_result(p: Any) -> Optional[UpdateResult]:
    if not p:
        return None
    try:
        return UpdateResult._from_c(p)
    finally:
        _lib.zrca_update_result_free(p)


class _Options:
    """zrca_update_options with the Slots of its callbacks (released by ``release()``)."""

    def __init__(self, pin: Optional[PinCallback], single_login: bool, allow_final_try: bool,
                 key_type: KeyType, key_bits: int, delete_old: bool, progress: Optional[ProgressCallback]) -> None:
        o = _lib.UpdateOptions()
        rc = _lib.zrca_update_options_init(ctypes.byref(o), _lib.UPDATE_OPTIONS_VERSION)
        from ._callbacks import check
        check(rc)
        o.single_login = 1 if single_login else 0
        o.allow_final_try = 1 if allow_final_try else 0
        o.key_type = int(key_type)
        o.key_bits = int(key_bits)
        o.delete_old = 1 if delete_old else 0
        self.slots: List[Slot] = []
        if pin is not None:
            s = Slot(pin)
            self.slots.append(s)
            o.pin = PIN_THUNK
            o.pin_payload = s.payload
        if progress is not None:
            s = Slot(progress)
            self.slots.append(s)
            o.progress = UPDATE_PROGRESS_THUNK
            o.progress_payload = s.payload
        self.c = o

    def release(self) -> None:
        slots, self.slots = self.slots, []
        for s in slots:
            s.release()


def _options(pin: Optional[PinCallback] = None, *, single_login: bool = False, allow_final_try: bool = False,
             key_type: KeyType = KeyType.NONE, key_bits: int = 0, delete_old: bool = False,
             progress: Optional[ProgressCallback] = None) -> _Options:
    return _Options(pin, single_login, allow_final_try, key_type, key_bits, delete_old, progress)


def update_item(order: "Order", item_index: int, token: "Token", *, pin: Optional[PinCallback] = None,
                single_login: bool = False, allow_final_try: bool = False, key_type: KeyType = KeyType.NONE,
                key_bits: int = 0, delete_old: bool = False,
                progress: Optional[ProgressCallback] = None) -> UpdateResult:
    """Update item ``item_index`` (1-based) of an approved order on ``token`` in one call,
    resuming its journal if there is one. ``pin(request)`` is asked once per login: twice by
    default (certificate, then e-seal), once with ``single_login``. ``progress(step, index)``
    runs before each step. A callback that raises stops the update (the journal stays) and its
    exception is re-raised here."""
    opts = _options(pin, single_login=single_login, allow_final_try=allow_final_try, key_type=key_type,
                    key_bits=key_bits, delete_old=delete_old, progress=progress)
    out = _lib.UpdateResultP()
    try:
        order._call(_lib.zrca_update_item, ctypes.byref(out), order._h, int(item_index), token._h,
                    ctypes.byref(opts.c), extra=opts.slots + token._pin_slots(), pins=(token,))
        result = _take_result(out)
    finally:
        opts.release()
    assert result is not None
    return result


def resume(session: "Session", order_number: str, item_index: int, token: "Token", **options: Any) -> UpdateResult:
    """Resume an interrupted update from its journal (NotFound when there is none)."""
    opts = _options(**options)
    out = _lib.UpdateResultP()
    try:
        session._call(_lib.zrca_update_resume, ctypes.byref(out), session._h, _lib.b(order_number),
                      int(item_index), token._h, ctypes.byref(opts.c), extra=opts.slots + token._pin_slots(), pins=(token,))
        result = _take_result(out)
    finally:
        opts.release()
    assert result is not None
    return result


ABORT_REMOVED_JOURNAL = 1
ABORT_REMOVED_KEY = 2
ABORT_REMOVED_CERTIFICATE = 4
UPDATE_HELD = 1
UPDATE_ABORTING = 2
UPDATE_ISSUED = 4


def abort(session: "Session", order_number: str, item_index: int, token: "Token",
          pin: Optional[PinCallback] = None, *, force: bool = False) -> int:
    """Abort an unfinished update: delete what it staged (never the old key) and the journal.

    Refused (StateError) once the platform confirmed the new certificate, and while the platform
    holds a certificate for the staged key unless ``force``. Returns the ABORT_REMOVED_* bits of
    what was removed; NotFound when there is nothing to abort."""
    opts = _options(pin)
    ao = _lib.AbortOptions(1, 1 if force else 0)
    removed = ctypes.c_uint(0)
    try:
        session._call(_lib.zrca_update_abort_ex, ctypes.byref(removed), session._h, _lib.b(order_number),
                      int(item_index), token._h, ctypes.byref(opts.c), ctypes.byref(ao),
                      extra=opts.slots + token._pin_slots(), pins=(token,))
    finally:
        opts.release()
    return removed.value


def journal_state(session: "Session", order_number: str, item_index: int) -> Tuple[UpdateStep, int]:
    """The step an unfinished update resumes at and its UPDATE_* flags (HELD, ABORTING, ISSUED),
    read from its journal without the lock; NotFound when there is none."""
    step = ctypes.c_int(0)
    flags = ctypes.c_uint(0)
    session._call(_lib.zrca_update_journal_state, ctypes.byref(step), ctypes.byref(flags), session._h,
                  _lib.b(order_number), int(item_index))
    return UpdateStep(step.value), flags.value


class Update(Handle):
    """An update driven step by step; holds the item's lock until closed (the journal stays).

        with zrca.Update(order, 1, token, pin=ask) as u:
            for step in u:          # runs each step, yielding the step just run
                print(step.label)
            print(u.result.serial)
    """

    _free_fn = _lib.zrca_update_free

    def __init__(self, order: "Order", item_index: int, token: "Token", **options: Any) -> None:
        self._ptr = None
        self._opts = _options(**options)
        p = _lib.UpdateP()
        try:
            order._call(_lib.zrca_update_begin, ctypes.byref(p), order._h, int(item_index), token._h,
                        ctypes.byref(self._opts.c), extra=self._opts.slots + token._pin_slots(), pins=(token,))
        except BaseException:
            self._opts.release()
            raise
        super().__init__(p, order, token)
        self.order = order
        self.token = token

    def _release(self, ptr: Any) -> None:
        _lib.zrca_update_free(ptr)
        self._opts.release()

    @property
    def next_step(self) -> UpdateStep:
        """The step the next ``run_step()`` runs (DONE at the end)."""
        return UpdateStep(_lib.zrca_update_next(self._h))

    def run_step(self) -> bool:
        """Run the next step; True while more steps follow."""
        return self.order._call(_lib.zrca_update_step_run, self._h,
                                extra=self._opts.slots + self.token._pin_slots(), pins=(self, self.token)) == 1

    def __iter__(self) -> Iterator[UpdateStep]:
        while True:
            step = self.next_step
            if step == UpdateStep.DONE:
                return
            self.run_step()
            yield step

    @property
    def result(self) -> Optional[UpdateResult]:
        """The result once the update is done, else None."""
        p = _lib.zrca_update_get_result(self._h)
        return UpdateResult._from_c(p) if p else None
