# SPDX-License-Identifier: MIT
"""Callbacks from C into Python.

Every C callback type has one module-level thunk (a CFUNCTYPE object created once, alive for the
life of the process); the ``void *payload`` the library hands back is the key of a Slot in a
registry, and the Slot holds the Python callable. No per-handle CFUNCTYPE object exists, so no
handle can be kept alive by a callback and no callback can be called after its Slot is gone.

A callable that raises: the exception is stored in its Slot and the thunk returns non-zero (stop),
so the library returns ZRCA_EUSER; ``call()`` then re-raises the stored exception, chained to
the library's error (``exc.__cause__`` is the CallbackStopped with code ZRCA_EUSER).

Ctrl-C: a call that may block (everything a Session does over the network: reads, actions,
``Order.wait()``, updates, renewal planning) runs, when made from the main thread, in a helper
thread while the main thread waits for it in a way a signal interrupts. On KeyboardInterrupt the
main thread stops waiting at once and re-raises it unchanged; the call's callbacks are told to
stop (each answers "stop" without calling Python), so the library returns ZRCA_EUSER at its next
callback (the next poll of a wait, the next step of an update), and the handles the call uses
stay alive until it has: closing them meanwhile only marks them closed, the C objects are freed
when the call ends, and using them meanwhile first waits for that. A KeyboardInterrupt raised
inside a callback made on the main thread is re-raised unchanged as well, never turned into
CallbackStopped, and a log callback's is re-raised once the C call returns.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence

if TYPE_CHECKING:
    from ._handle import Handle

from . import _lib
from .errors import ZrcaError, error_from_record

_lock = threading.Lock()
_registry: Dict[int, "Slot"] = {}
_keys = itertools.count(1)


class Slot:
    """A registered Python callable, addressed by ``key`` from C."""

    __slots__ = ("key", "fn", "error", "extra", "stopped", "__weakref__")

    def __init__(self, fn: Any, extra: Any = None) -> None:
        """Register ``fn``; ``extra`` is kept for the thunk (e.g. the Order of a wait)."""
        self.fn = fn
        self.extra = extra
        self.error: Optional[BaseException] = None
        #: Set on Ctrl-C: the thunk answers "stop" without calling ``fn``.
        self.stopped = False
        with _lock:
            self.key = next(_keys)
            _registry[self.key] = self

    @property
    def payload(self) -> ctypes.c_void_p:
        """The ``void *payload`` the library hands back to the thunk."""
        return ctypes.c_void_p(self.key)

    def release(self) -> None:
        """Unregister: the thunk answers "stop" from now on."""
        with _lock:
            _registry.pop(self.key, None)
        self.fn = None
        self.extra = None

    def fail(self, exc: BaseException) -> None:
        """Keep the callable's first exception, for ``call()`` to re-raise."""
        if self.error is None:
            self.error = exc


def _slot(payload: Optional[int]) -> Optional[Slot]:
    """The live Slot of a payload; None when it was released or stopped (the thunk stops)."""
    if not payload:
        return None
    sl = _registry.get(payload)
    if sl is None or sl.stopped:
        return None
    return sl


def live_slots() -> int:
    """Number of registered callables (for leak tests)."""
    return len(_registry)


_pending = threading.local()


def _note_interrupt(exc: BaseException) -> None:
    """A KeyboardInterrupt that a callback could not pass on (a log line): re-raised by
    ``call()`` once the C call returns."""
    if getattr(_pending, "interrupt", None) is None:
        _pending.interrupt = exc


def _finish(rc: int, slots: Iterable[Optional[Slot]]) -> Any:
    """After the C call, in its thread (the error record is thread-local): the exception to
    raise, or None."""
    err = error_from_record(rc) if rc < 0 else None
    ki = getattr(_pending, "interrupt", None)
    if ki is not None:
        _pending.interrupt = None
    for sl in slots:
        if sl is not None and sl.error is not None:
            exc, sl.error = sl.error, None
            if isinstance(exc, KeyboardInterrupt):
                return exc  # unchanged: not chained to CallbackStopped
            if err is not None:
                exc.__cause__ = err
            return exc
    if ki is not None:
        return ki
    return err


def _raise(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        exc.__cause__ = None
        exc.__suppress_context__ = True
    raise exc


def call(fn: Callable[..., int], *args: Any, slots: Iterable[Optional[Slot]] = (),
         pins: Sequence["Handle"] = ()) -> int:
    """Call a fallible C function; raise on a negative status. A callback's stored exception is
    re-raised in preference to the library's own error (which becomes its __cause__); a
    KeyboardInterrupt is re-raised unchanged.

    With ``pins`` (the handles the call uses) and on the main thread, the call may block: it runs
    in a helper thread and Ctrl-C interrupts the wait for it at once (the module's docstring)."""
    slots = list(slots)
    if pins and threading.current_thread() is threading.main_thread():
        return _call_interruptible(fn, args, slots, pins)
    rc = fn(*args)
    exc = _finish(rc, slots)
    if exc is not None:
        _raise(exc)
    return rc


def _call_interruptible(fn: Callable[..., int], args: Any, slots: List[Optional[Slot]],
                        pins: Sequence["Handle"]) -> int:
    for h in pins:
        h._settle()  # a call cut short by Ctrl-C still running on one of them: wait for its end
    done = threading.Event()
    box: List[Any] = [0, None]

    def run() -> None:
        try:
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C is the main thread's
            except (AttributeError, OSError, ValueError):  # pragma: no cover
                pass
            rc = fn(*args)
            box[0], box[1] = rc, _finish(rc, slots)
        except BaseException as e:  # pragma: no cover - a bug of the bindings, passed on
            box[1] = e
        finally:
            for sl in slots:
                if sl is not None:
                    sl.stopped = False  # a session's own callbacks serve its next calls
            done.set()
            for h in pins:
                h._unpin(done)

    for h in pins:
        h._pin(done)
    worker = threading.Thread(target=run, name="zrca-call", daemon=True)
    try:
        worker.start()
    except BaseException:
        for h in pins:
            h._unpin(done)
        raise
    try:
        while not done.wait(0.25):
            pass
    except KeyboardInterrupt:
        for sl in slots:
            if sl is not None:
                sl.stopped = True
        for h in pins:
            h._detach(done)
        raise
    if box[1] is not None:
        _raise(box[1])
    return int(box[0])


def check(rc: int) -> int:
    """Raise the error of a negative status (the calling thread's error record)."""
    if rc < 0:
        raise error_from_record(rc)
    return rc


def _unraisable(exc: BaseException, what: str) -> None:
    hook = getattr(sys, "unraisablehook", None)
    if hook is None:  # pragma: no cover
        return
    try:
        class _U:
            exc_type = type(exc)
            exc_value = exc
            exc_traceback = exc.__traceback__
            err_msg = "Exception ignored in " + what
            object = None
        hook(_U)  # type: ignore[arg-type]
    except Exception:
        pass


# ---------------------------------------------------------------------------------- log

def _log_thunk(level: int, domain: Optional[bytes], message: Optional[bytes], payload: Optional[int]) -> None:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return
    try:
        from .enums import LogLevel
        try:
            lv = LogLevel(level)
        except ValueError:
            lv = LogLevel.TRACE
        sl.fn(lv, _lib.s(domain) or "", _lib.s(message) or "")
    except KeyboardInterrupt as e:  # cannot stop the call: re-raised when it returns
        _note_interrupt(e)
    except BaseException as e:  # a log callback cannot stop anything: report it, go on
        _unraisable(e, "a zrca log callback")


LOG_THUNK = _lib.LOG_FN(_log_thunk)


# ---------------------------------------------------------------------------------- secrets

def secret_bytes(value: Any) -> bytearray:
    """A PIN or password as a fresh bytearray (wipeable), from str, bytes or bytearray."""
    if isinstance(value, bytearray):
        return bytearray(value)
    if isinstance(value, (bytes, memoryview)):
        return bytearray(value)
    if isinstance(value, str):
        return bytearray(value, "utf-8")
    raise TypeError("a PIN or password must be str, bytes or bytearray, not %s" % type(value).__name__)


def wipe(buf: Any) -> None:
    """Zero a mutable buffer (bytearray or ctypes array) in place."""
    if isinstance(buf, bytearray):
        for i in range(len(buf)):
            buf[i] = 0
    elif isinstance(buf, ctypes.Array):
        ctypes.memset(ctypes.addressof(buf), 0, ctypes.sizeof(buf))


class SecretBuffer:
    """A NUL-terminated C copy of a secret, zeroed when the ``with`` block ends."""

    def __init__(self, value: Any) -> None:
        data = secret_bytes(value)
        try:
            if 0 in data:
                raise ValueError("a PIN or password cannot contain a NUL character")
            self.buf = ctypes.create_string_buffer(len(data) + 1)
            ctypes.memmove(self.buf, (ctypes.c_char * len(data)).from_buffer(data), len(data))
        finally:
            wipe(data)  # our copy; a bytearray the caller passed stays theirs to wipe

    def __enter__(self) -> Any:
        return self.buf

    def __exit__(self, *exc: Any) -> None:
        wipe(self.buf)


def _write_secret(value: Any, buf: int, size: int, what: str) -> int:
    """Write a PIN/password returned by a callback into the library's buffer. 0 or raise."""
    data = secret_bytes(value)
    try:
        if 0 in data:
            raise ValueError("the %s contains a NUL character" % what)
        if len(data) + 1 > size:
            raise ValueError("the %s is longer than the %d bytes the library accepts" % (what, size - 1))
        if data:
            ctypes.memmove(buf, (ctypes.c_char * len(data)).from_buffer(data), len(data))
        ctypes.memset(buf + len(data), 0, 1)
    finally:
        wipe(data)
        if isinstance(value, bytearray):  # ours to wipe too: documented
            wipe(value)
    return 0


# ---------------------------------------------------------------------------------- PIN

def _pin_thunk(buf: int, size: int, req: Any, payload: Optional[int]) -> int:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        from .token import PinRequest
        value = sl.fn(PinRequest._from_c(req.contents))
        if value is None:
            return 1
        return _write_secret(value, buf, size, "PIN")
    except BaseException as e:
        sl.fail(e)
        return 1


PIN_THUNK = _lib.PIN_FN(_pin_thunk)


# ---------------------------------------------------------------------------------- credentials

def _credentials_thunk(account: Optional[bytes], buf: int, size: int, payload: Optional[int]) -> int:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        value = sl.fn(_lib.s(account) or "")
        if value is None:
            return 1
        return _write_secret(value, buf, size, "password")
    except BaseException as e:
        sl.fail(e)
        return 1


CREDENTIALS_THUNK = _lib.CREDENTIAL_FN(_credentials_thunk)


# ---------------------------------------------------------------------------------- progress

def _wait_thunk(order: Optional[int], elapsed_ms: int, payload: Optional[int]) -> int:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        return 1 if sl.fn(sl.extra, elapsed_ms / 1000.0) else 0
    except BaseException as e:
        sl.fail(e)
        return 1


WAIT_THUNK = _lib.WAIT_FN(_wait_thunk)


def _update_progress_thunk(step: int, item_index: int, payload: Optional[int]) -> int:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        from .enums import UpdateStep
        return 1 if sl.fn(UpdateStep(step), item_index) else 0
    except BaseException as e:
        sl.fail(e)
        return 1


UPDATE_PROGRESS_THUNK = _lib.UPDATE_PROGRESS_FN(_update_progress_thunk)


def _foreach_thunk(info: Any, payload: Optional[int]) -> int:
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        from .token import TokenInfo
        return 1 if sl.fn(TokenInfo._from_c(info.contents)) else 0
    except BaseException as e:
        sl.fail(e)
        return 1


FOREACH_THUNK = _lib.FOREACH_FN(_foreach_thunk)


def _renew_wait_thunk(order: Optional[int], elapsed_ms: int, payload: Optional[int]) -> int:
    """The wait of Session.renew_auto(): the order is the library's own, so the callable gets its
    number (the order filed), not an Order object."""
    sl = _slot(payload)
    if sl is None or sl.fn is None:
        return 1
    try:
        number = _lib.s(_lib.zrca_order_number(_lib.OrderP(order))) if order else None
        return 1 if sl.fn(number or "", elapsed_ms / 1000.0) else 0
    except BaseException as e:
        sl.fail(e)
        return 1


RENEW_WAIT_THUNK = _lib.WAIT_FN(_renew_wait_thunk)


def _renew_event_thunk(report: Optional[int], index: int, payload: Optional[int]) -> None:
    """zrca_renew_options::event: the Slot's ``extra`` turns (report, index) into a RenewEntry
    (zrca.plan._entry with the tokens given); the callable gets that entry."""
    sl = _slot(payload)
    if sl is None or sl.fn is None or not report:
        return
    try:
        sl.fn(sl.extra(report, index))
    except BaseException as e:
        sl.fail(e)


RENEW_EVENT_THUNK = _lib.RENEW_EVENT_FN(_renew_event_thunk)


# ---------------------------------------------------------------------------------- scans

def _scan_thunk(holder: Optional[bytes], id_number: Optional[bytes], payload: Optional[int]) -> Optional[int]:
    """person_scan(holder, id_number) -> a path or None. The library copies the path before it
    calls again, so the Slot keeps only the last one (in ``extra``). After an exception nothing
    more is asked: every later call answers NULL (the application then fails validation) and
    the exception is re-raised once the C call returns."""
    sl = _slot(payload)
    if sl is None or sl.fn is None or sl.error is not None:
        return None
    try:
        path = sl.fn(_lib.s(holder) or "", _lib.s(id_number) or "")
        if path is None:
            sl.extra = None
            return None
        data = os.fsencode(path)
        if b"\0" in data:
            raise ValueError("the scan path of %s contains a NUL character" % (_lib.s(holder) or "?"))
        buf = ctypes.create_string_buffer(data)
        sl.extra = buf
        return ctypes.addressof(buf)
    except BaseException as e:
        sl.fail(e)
        sl.extra = None
        return None


SCAN_THUNK = _lib.SCAN_FN(_scan_thunk)


__all__ = ["Slot", "call", "check", "ZrcaError"]
