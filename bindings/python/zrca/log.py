# SPDX-License-Identifier: MIT
"""Logging: the library never prints; it hands redacted lines to a callback. ``set_global_log``
sets the process-wide callback; a Session or Token takes its own ``log=`` callback."""
from __future__ import annotations

import ctypes
import logging
from typing import Callable, Optional

from . import _lib
from ._callbacks import LOG_THUNK, Slot, check
from .enums import LogLevel

#: A log callback: (level, domain, message). Messages are already redacted by the library.
LogCallback = Callable[[LogLevel, str, str], None]

_global_slot: Optional[Slot] = None


def make_log_options(callback: Optional[LogCallback], level: LogLevel) -> "tuple[_lib.LogOptions, Optional[Slot]]":
    """Log options for the library and the Slot that keeps ``callback`` reachable."""
    opts = _lib.LogOptions()
    check(_lib.zrca_log_options_init(ctypes.byref(opts), _lib.LOG_OPTIONS_VERSION))
    opts.level = int(level)
    slot = None
    if callback is not None:
        slot = Slot(callback)
        opts.callback = LOG_THUNK
        opts.payload = slot.payload
    return opts, slot


def set_global_log(callback: Optional[LogCallback], level: LogLevel = LogLevel.WARN) -> None:
    """Set (or with None, remove) the global log callback, used where no session or token
    callback applies. An exception raised by a log callback cannot stop the library: it goes
    to ``sys.unraisablehook``."""
    global _global_slot
    old = _global_slot
    if callback is None:
        check(_lib.zrca_log_set_global(None))
        _global_slot = None
    else:
        opts, slot = make_log_options(callback, level)
        try:
            check(_lib.zrca_log_set_global(ctypes.byref(opts)))
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        _global_slot = slot
    if old is not None:
        old.release()


_LEVELS = {LogLevel.ERROR: logging.ERROR, LogLevel.WARN: logging.WARNING, LogLevel.INFO: logging.INFO,
           LogLevel.DEBUG: logging.DEBUG, LogLevel.TRACE: 5}


def to_logging(logger: Optional[logging.Logger] = None) -> LogCallback:
    """A log callback that forwards to a ``logging`` logger (default ``logging.getLogger("zrca")``);
    the domain becomes a child logger (``zrca.http``, ``zrca.token``, ...)."""
    base = logger or logging.getLogger("zrca")

    def forward(level: LogLevel, domain: str, message: str) -> None:
        base.getChild(domain or "core").log(_LEVELS.get(level, logging.DEBUG), "%s", message)

    return forward
