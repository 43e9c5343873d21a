# SPDX-License-Identifier: MIT
"""Base of every object that owns a library handle."""
from __future__ import annotations

import datetime as _dt
import os
import threading
import weakref
from typing import Any, Callable, Optional, Tuple, Union


class Handle:
    """Owns one C handle, freed by ``close()`` (idempotent), ``__exit__`` or ``__del__``.

    A handle refers to the handles it borrows from (its parents) strongly, so a parent is never
    freed while a child lives. A parent knows its children only weakly (no reference cycle): when
    a parent is closed explicitly, it closes its children first.

    A call that Ctrl-C cut short may still run in its helper thread (``_callbacks.call``); the
    handles it uses are pinned until it ends: ``close()`` then only marks them closed and the C
    handle is freed when the call ends, and any other use waits for that end first.
    """

    _free_fn: Optional[Callable[[Any], None]] = None

    def __init__(self, ptr: Any, *parents: "Handle") -> None:
        """Own ``ptr``, a C handle made from ``parents`` (kept alive while this one lives)."""
        self._ptr = ptr
        self._parents: Tuple["Handle", ...] = parents
        self._children: Optional["weakref.WeakSet[Handle]"] = None
        for p in parents:
            p._adopt(self)

    def _adopt(self, child: "Handle") -> None:
        if self._children is None:
            self._children = weakref.WeakSet()
        self._children.add(child)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (or the handle's parent was closed)."""
        return getattr(self, "_ptr", None) is None

    @property
    def _h(self) -> Any:
        if self.__dict__.get("_detached"):
            self._settle()
        ptr = getattr(self, "_ptr", None)
        if ptr is None:
            raise ValueError("%s is closed" % type(self).__name__)
        return ptr

    # -- calls in a helper thread (Ctrl-C) ------------------------------------------------------

    def _pin(self, call: threading.Event) -> None:
        with _pin_lock:
            self.__dict__.setdefault("_calls", []).append(call)

    def _unpin(self, call: threading.Event) -> None:
        """The call ended: free the C handle if it was closed meanwhile."""
        with _pin_lock:
            calls = self.__dict__.get("_calls", [])
            if call in calls:
                calls.remove(call)
            detached = self.__dict__.get("_detached", [])
            if call in detached:
                detached.remove(call)
            ptr = None
            if not calls and self.__dict__.get("_deferred") is not None:
                ptr, self._deferred = self._deferred, None
        if ptr is not None:
            self._release(ptr)

    def _detach(self, call: threading.Event) -> None:
        """Ctrl-C left ``call`` running: later uses of this handle wait for its end."""
        with _pin_lock:
            self.__dict__.setdefault("_detached", []).append(call)

    def _settle(self) -> None:
        """Wait (interruptibly) for the calls Ctrl-C left running on this handle."""
        for call in list(self.__dict__.get("_detached") or ()):
            while not call.wait(0.25):
                pass

    # -- lifetime ---------------------------------------------------------------------------------

    def _release(self, ptr: Any) -> None:
        """Free the C handle; subclasses release their callbacks after calling this."""
        fn = type(self)._free_fn
        if fn is not None:
            fn(ptr)

    def close(self) -> None:
        """Free the C handle (its children first); idempotent."""
        ptr = getattr(self, "_ptr", None)
        if ptr is None:
            return
        children = self._children
        if children is not None:
            for c in list(children):
                c.close()
        self._ptr = None
        with _pin_lock:
            if self.__dict__.get("_calls"):
                self._deferred = ptr  # freed by _unpin when the running call ends
                return
        self._release(ptr)

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_pin_lock = threading.Lock()


def to_datetime(t: int) -> Optional[_dt.datetime]:
    """Unix seconds (UTC) as an aware datetime; 0 (absent) as None."""
    if not t:
        return None
    return _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc)


Seconds = Union[int, float, _dt.timedelta, None]


def to_ms(value: Seconds) -> int:
    """Seconds (int, float or timedelta) as whole milliseconds; None as 0 (the default)."""
    if value is None:
        return 0
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    ms = int(round(float(value) * 1000))
    if ms < 0:
        raise ValueError("a duration cannot be negative")
    return ms


PathLike = Union[str, "os.PathLike[str]"]


def seq_index(i: int, n: int, what: str = "list") -> int:
    """A sequence index made absolute (negative counts from the end); IndexError when out of range."""
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError("%s index out of range" % what)
    return i
