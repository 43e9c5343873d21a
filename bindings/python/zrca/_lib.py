# SPDX-License-Identifier: MIT
"""ctypes declarations of libzrca: loading, structs, callback types and every prototype the
package uses. Private: the rest of the package is the public API."""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import operator
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int64, c_long, c_size_t,
                    c_ubyte, c_uint, c_uint64, c_void_p)
from typing import Any, Dict, List, Optional, Tuple

#: The oldest library this package works with (major must match, minor at least this).
REQUIRED_VERSION = (1, 0)


class LibraryError(ImportError):
    """libzrca could not be found or loaded, or its version does not fit these bindings."""


# ---------------------------------------------------------------------------------- loading

def _candidates() -> List[str]:
    """Where to look, in order: $ZRCA_LIBRARY, $ZRCA_BUILD_DIR, the source tree's build dirs."""
    out: List[str] = []
    env = os.environ.get("ZRCA_LIBRARY")
    if env:
        out.append(env)
    bdir = os.environ.get("ZRCA_BUILD_DIR")
    if bdir:
        out.append(os.path.join(bdir, "libzrca.so.1"))
    # bindings/python/zrca/_lib.py -> the repository root, when run from a checkout
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if os.path.isfile(os.path.join(root, "include", "zrca.h")):
        found = glob.glob(os.path.join(root, "build", "libzrca.so.1"))
        found += glob.glob(os.path.join(root, "build", "*", "libzrca.so.1"))
        found += glob.glob(os.path.join(root, "build", "*", "*", "libzrca.so.1"))
        found = [f for f in found if os.path.exists(f) and not _sanitized(os.path.dirname(f))]
        found.sort(key=lambda f: os.path.getmtime(f), reverse=True)  # the newest build first
        out.extend(found)
    return out


def _sanitized(build_dir: str) -> bool:
    """A sanitizer build (ZRCA_SANITIZE set): its library cannot be dlopen()ed into Python (the
    ASan runtime must come first), so the search skips it."""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("ZRCA_SANITIZE:"):
                    return bool(line.split("=", 1)[1].strip())
    except OSError:
        pass
    return False


def _load() -> ctypes.CDLL:
    errors = []
    explicit = os.environ.get("ZRCA_LIBRARY")
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            if explicit and path == explicit:
                raise LibraryError("ZRCA_LIBRARY=%s cannot be loaded: %s" % (path, e)) from e
            errors.append("%s: %s" % (path, e))
    name = ctypes.util.find_library("zrca")
    for n in ([name] if name else []) + ["libzrca.so.1"]:
        try:
            return ctypes.CDLL(n)
        except OSError as e:
            errors.append("%s: %s" % (n, e))
    raise LibraryError("libzrca not found (set ZRCA_LIBRARY to the path of libzrca.so.1); tried: "
                       + "; ".join(errors))


lib = _load()
#: The file the library was loaded from.
LIBRARY_PATH: str = getattr(lib, "_name", "")


# ---------------------------------------------------------------------------------- conversion
#
# One conversion of Python values for C, used for every argument of every prototype (through
# _proto) and every member of every struct (through Struct.__setattr__): a string is UTF-8 (a
# path-like: the file system encoding) and may not hold a NUL, which C would take for its end;
# an integer must fit the C type, which ctypes would otherwise wrap (-1 as an unsigned int is
# 4294967295). Either raises ValueError / OverflowError naming what was refused.

_INT_TYPES = (c_int, c_uint, c_long, ctypes.c_ulong, c_int64, c_uint64, c_size_t, ctypes.c_ssize_t,
              ctypes.c_short, ctypes.c_ushort, ctypes.c_int8, ctypes.c_uint8, ctypes.c_int16,
              ctypes.c_uint16, ctypes.c_int32, ctypes.c_uint32, ctypes.c_longlong, ctypes.c_ulonglong)


def _int_range(ctype: Any) -> Tuple[int, int]:
    bits = 8 * ctypes.sizeof(ctype)
    if ctype(-1).value < 0:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


_RANGES: Dict[Any, Tuple[int, int]] = {t: _int_range(t) for t in _INT_TYPES}


def to_c(value: Any, ctype: Any, what: str = "argument") -> Any:
    """``value`` converted for a C parameter or struct member of type ``ctype``.

    Strings (``c_char_p``): None stays NULL; ``str`` is encoded as UTF-8, a path-like with
    ``os.fsencode``, ``bytes`` pass as they are; a NUL inside raises ValueError. A ctypes
    character array (a secret's C buffer) passes untouched. Integers (every C integer type):
    anything with ``__index__`` (int, bool, IntEnum, IntFlag); a value outside the type's range
    raises OverflowError. Other types pass to ctypes unchanged."""
    if ctype is c_char_p:
        if value is None or isinstance(value, (ctypes.Array, ctypes.c_char_p)):
            return value
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
        elif isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, os.PathLike):
            data = os.fsencode(value)
        else:
            raise TypeError("%s must be str, bytes or a path, not %s" % (what, type(value).__name__))
        if b"\0" in data:
            raise ValueError("%s contains a NUL character, which C would take for the end of the string: %r"
                             % (what, value))
        return data
    rng = _RANGES.get(ctype)
    if rng is not None:
        try:
            v = operator.index(value)
        except TypeError:
            raise TypeError("%s must be an integer, not %s" % (what, type(value).__name__)) from None
        if not rng[0] <= v <= rng[1]:
            raise OverflowError("%s %d is out of range for C %s (%d to %d)"
                                % (what, v, ctype.__name__, rng[0], rng[1]))
        return v
    return value


_MEMBER_TYPES: Dict[Any, Dict[str, Any]] = {}


class Struct(Structure):
    """A ctypes Structure whose members are set through ``to_c`` (checked, never cut or wrapped)."""

    def __setattr__(self, name: str, value: Any) -> None:
        types = _MEMBER_TYPES.get(type(self))
        if types is None:
            types = _MEMBER_TYPES[type(self)] = {f[0]: f[1] for f in getattr(type(self), "_fields_", ())}
        t = types.get(name)
        if t is not None:
            value = to_c(value, t, "%s.%s" % (type(self).__name__, name))
        super().__setattr__(name, value)


def _checked(f: Any, name: str, argtypes: Tuple[Any, ...]) -> Any:
    """``f`` with its arguments passed through ``to_c`` first (strings and integers only)."""
    checks = [(i, t) for i, t in enumerate(argtypes) if t is c_char_p or t in _RANGES]
    if not checks:
        return f

    def call(*args: Any) -> Any:
        a = list(args)
        for i, t in checks:
            if i < len(a):
                a[i] = to_c(a[i], t, "argument %d of %s()" % (i + 1, name))
        return f(*a)

    call.__name__ = name
    call.__doc__ = "%s() with checked arguments." % name
    call.__wrapped__ = f  # type: ignore[attr-defined]
    return call


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    try:
        f = getattr(lib, name)
    except AttributeError as e:
        raise LibraryError("%s (%s) lacks %s(): too old for these bindings" % (LIBRARY_PATH, "libzrca", name)) from e
    f.restype = restype
    f.argtypes = list(argtypes)
    return _checked(f, name, argtypes)


# Prototypes of optional features, resolved on first use (the module's __getattr__) so that the
# package still loads against a library without them: check has(feature) before calling one.
_LAZY: Dict[str, Tuple[Any, ...]] = {}


def _lazy(name: str, restype: Any, *argtypes: Any) -> None:
    _LAZY[name] = (restype,) + argtypes


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    f = _proto(name, *spec)
    globals()[name] = f
    return f


_features: Dict[str, bool] = {}


def has(feature: str) -> bool:
    """zrca_has_feature(), remembered (the loaded library does not change)."""
    v = _features.get(feature)
    if v is None:
        v = _features[feature] = bool(zrca_has_feature(feature.encode("utf-8")))
    return v


# ---------------------------------------------------------------------------------- handles

class SessionP(c_void_p): pass
class EnterpriseP(c_void_p): pass
class CertificateListP(c_void_p): pass
class CertificateP(c_void_p): pass
class PersonListP(c_void_p): pass
class PersonP(c_void_p): pass
class FeeScheduleP(c_void_p): pass
class FeeP(c_void_p): pass
class NotificationListP(c_void_p): pass
class NotificationP(c_void_p): pass
class ApplicationP(c_void_p): pass
class OrderP(c_void_p): pass
class OrderItemP(c_void_p): pass
class OrderIterP(c_void_p): pass
class TokenP(c_void_p): pass
class CertListP(c_void_p): pass
class CertP(c_void_p): pass
class KeyP(c_void_p): pass
class UpdateResultP(c_void_p): pass
class UpdateP(c_void_p): pass
class TransportResponseP(c_void_p): pass
class RenewalPlanP(c_void_p): pass
class RenewReportP(c_void_p): pass
class SealListP(c_void_p): pass
class SealP(c_void_p): pass


# ---------------------------------------------------------------------------------- structs

class Error(Struct):
    _fields_ = [("code", c_int), ("message", c_char_p), ("field", c_char_p), ("rule", c_char_p),
                ("remote_code", c_char_p), ("http_status", c_int), ("tries_left", c_int),
                ("violation_count", c_size_t)]


class Violation(Struct):
    _fields_ = [("field", c_char_p), ("rule", c_char_p), ("message", c_char_p)]


LOG_FN = CFUNCTYPE(None, c_int, c_char_p, c_char_p, c_void_p)


class LogOptions(Struct):
    _fields_ = [("version", c_uint), ("level", c_int), ("callback", LOG_FN), ("payload", c_void_p)]


class TransportHeader(Struct):
    _fields_ = [("name", c_char_p), ("value", c_char_p)]


class TransportPart(Struct):
    _fields_ = [("name", c_char_p), ("filename", c_char_p), ("content_type", c_char_p),
                ("data", c_void_p), ("size", c_size_t), ("path", c_char_p)]


class TransportRequest(Struct):
    _fields_ = [("method", c_char_p), ("url", c_char_p), ("headers", POINTER(TransportHeader)),
                ("header_count", c_size_t), ("body", c_void_p), ("body_size", c_size_t),
                ("content_type", c_char_p), ("parts", POINTER(TransportPart)), ("part_count", c_size_t),
                ("max_response_size", c_uint64), ("connect_timeout_ms", c_long), ("timeout_ms", c_long),
                ("fresh_connection", c_int)]


SEND_FN = CFUNCTYPE(c_int, c_void_p, POINTER(TransportRequest), c_void_p)
FREE_FN = CFUNCTYPE(None, c_void_p)
TRANSPORT_VERSION = 1


class Transport(Struct):
    _fields_ = [("version", c_uint), ("self", c_void_p), ("send", SEND_FN), ("free", FREE_FN)]


CREDENTIAL_FN = CFUNCTYPE(c_int, c_char_p, c_void_p, c_size_t, c_void_p)


class SessionOptions(Struct):
    _fields_ = [("version", c_uint), ("base_url", c_char_p), ("ca_file", c_char_p), ("ca_path", c_char_p),
                ("pinned_public_key", c_char_p), ("insecure_skip_tls_verify", c_int),
                ("connect_timeout_ms", c_long), ("timeout_ms", c_long), ("proxy", c_char_p),
                ("user_agent", c_char_p), ("retry_attempts", c_uint), ("retry_base_ms", c_uint),
                ("retry_max_ms", c_uint), ("max_response_size", c_size_t), ("log", POINTER(LogOptions)),
                ("state_dir", c_char_p), ("transport", POINTER(Transport)),
                ("credentials", CREDENTIAL_FN), ("credentials_payload", c_void_p),
                ("issuer_ca_file", c_char_p)]


class TokenOptions(Struct):
    _fields_ = [("version", c_uint), ("backend", c_int), ("uri", c_char_p), ("serial", c_char_p),
                ("label", c_char_p), ("module_path", c_char_p), ("soft_dir", c_char_p),
                ("custom", c_void_p), ("log", POINTER(LogOptions)), ("skf_library", c_char_p)]


class LoginOptions(Struct):
    _fields_ = [("version", c_uint), ("purpose", c_int), ("allow_final_try", c_int)]


class KeygenOptions(Struct):
    _fields_ = [("version", c_uint), ("type", c_int), ("bits", c_uint), ("label", c_char_p), ("flags", c_uint)]


class SealOptions(Struct):
    _fields_ = [("version", c_uint), ("serial", c_char_p), ("issuer_ca_file", c_char_p)]


class SofttokenOptions(Struct):
    _fields_ = [("version", c_uint), ("label", c_char_p), ("serial", c_char_p), ("user_pin", c_char_p),
                ("so_pin", c_char_p), ("max_tries", c_uint), ("kdf_iterations", c_uint)]


class TokenInfo(Struct):
    _fields_ = [("label", c_char_p), ("serial", c_char_p), ("manufacturer", c_char_p), ("model", c_char_p),
                ("backend", c_char_p), ("module", c_char_p), ("uri", c_char_p), ("flags", c_uint),
                ("user_pin", c_uint), ("so_pin", c_uint), ("tries_left", c_int), ("min_pin_len", c_size_t),
                ("max_pin_len", c_size_t), ("logged_in", c_int)]


class PinRequest(Struct):
    _fields_ = [("token_label", c_char_p), ("token_serial", c_char_p), ("purpose", c_int), ("user", c_int),
                ("tries_left", c_int), ("final_try", c_int), ("pin_flags", c_uint), ("min_len", c_size_t),
                ("max_len", c_size_t)]


PIN_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, POINTER(PinRequest), c_void_p)
FOREACH_FN = CFUNCTYPE(c_int, POINTER(TokenInfo), c_void_p)


class OrderFilter(Struct):
    _fields_ = [("version", c_uint), ("business", c_int), ("kind", c_int), ("from_", c_char_p),
                ("to", c_char_p), ("number", c_char_p), ("per_page", c_uint)]


WAIT_FN = CFUNCTYPE(c_int, c_void_p, c_uint64, c_void_p)


class WaitOptions(Struct):
    _fields_ = [("version", c_uint), ("conditions", c_uint), ("timeout_ms", c_uint64),
                ("min_interval_ms", c_uint), ("max_interval_ms", c_uint), ("progress", WAIT_FN),
                ("payload", c_void_p)]


UPDATE_PROGRESS_FN = CFUNCTYPE(c_int, c_int, c_uint, c_void_p)


class AbortOptions(Struct):
    _fields_ = [("version", c_uint), ("force", c_int)]


class UpdateOptions(Struct):
    _fields_ = [("version", c_uint), ("pin", PIN_FN), ("pin_payload", c_void_p), ("single_login", c_int),
                ("allow_final_try", c_int), ("key_type", c_int), ("key_bits", c_uint), ("delete_old", c_int),
                ("progress", UPDATE_PROGRESS_FN), ("progress_payload", c_void_p)]


# The scan callback returns a path; c_void_p (not c_char_p): the thunk returns the address of a
# buffer it keeps alive, where a c_char_p return would point into a freed bytes object.
SCAN_FN = CFUNCTYPE(c_void_p, c_char_p, c_char_p, c_void_p)


class PlanOptions(Struct):
    _fields_ = [("version", c_uint), ("window_days", c_uint), ("now", c_int64), ("include_absent", c_int),
                ("commitment_letter", c_char_p), ("person_scan", SCAN_FN), ("scan_payload", c_void_p),
                ("contact_name", c_char_p), ("contact_mobile", c_char_p), ("contact_email", c_char_p)]


RENEW_EVENT_FN = CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)


class RenewOptions(Struct):
    _fields_ = [("version", c_uint), ("plan", POINTER(PlanOptions)), ("update", POINTER(UpdateOptions)),
                ("wait", POINTER(WaitOptions)), ("dry_run", c_int), ("no_wait", c_int),
                # version 2
                ("event", RENEW_EVENT_FN), ("event_payload", c_void_p), ("lock_wait_ms", c_uint64)]


# Versions of the option structs these bindings fill.
LOG_OPTIONS_VERSION = 1
SESSION_OPTIONS_VERSION = 1
TOKEN_OPTIONS_VERSION = 1
# Version 2 (skf_library) is asked for only when an SKF library is given.
TOKEN_OPTIONS_VERSION_SKF = 2
LOGIN_OPTIONS_VERSION = 1
SOFTTOKEN_OPTIONS_VERSION = 1
KEYGEN_OPTIONS_VERSION = 1
ORDER_FILTER_VERSION = 1
WAIT_OPTIONS_VERSION = 1
UPDATE_OPTIONS_VERSION = 1
PLAN_OPTIONS_VERSION = 1
RENEW_OPTIONS_VERSION = 2

PIN_MAX = 255
BYTES = POINTER(c_ubyte)
#: A buffer with its length (may hold NULs): passed as a pointer, never checked as a string.
DATA = c_void_p
SIZE_P = POINTER(c_size_t)
CCP = c_char_p
I64 = c_int64

# ---------------------------------------------------------------------------------- common.h
zrca_init = _proto("zrca_init", c_int)
zrca_shutdown = _proto("zrca_shutdown", c_int)
zrca_version = _proto("zrca_version", CCP, POINTER(c_int), POINTER(c_int), POINTER(c_int))
zrca_has_feature = _proto("zrca_has_feature", c_int, CCP)
zrca_error_last = _proto("zrca_error_last", POINTER(Error))
zrca_error_violation = _proto("zrca_error_violation", POINTER(Violation), c_size_t)
zrca_error_clear = _proto("zrca_error_clear", None)
zrca_strerror = _proto("zrca_strerror", CCP, c_int)
zrca_status_name = _proto("zrca_status_name", CCP, c_int)
zrca_free = _proto("zrca_free", None, c_void_p)
for _n in ("cert_kind", "business", "id_type", "role"):
    globals()["zrca_%s_name" % _n] = _proto("zrca_%s_name" % _n, CCP, c_int)
    globals()["zrca_%s_label" % _n] = _proto("zrca_%s_label" % _n, CCP, c_int)
    globals()["zrca_%s_from_name" % _n] = _proto("zrca_%s_from_name" % _n, c_int, CCP)
zrca_log_options_init = _proto("zrca_log_options_init", c_int, POINTER(LogOptions), c_uint)
zrca_log_set_global = _proto("zrca_log_set_global", c_int, POINTER(LogOptions))
zrca_log_level_name = _proto("zrca_log_level_name", CCP, c_int)

# ---------------------------------------------------------------------------------- session.h
zrca_session_options_init = _proto("zrca_session_options_init", c_int, POINTER(SessionOptions), c_uint)
zrca_session_new = _proto("zrca_session_new", c_int, POINTER(SessionP), POINTER(SessionOptions))
zrca_session_free = _proto("zrca_session_free", None, SessionP)
zrca_session_login = _proto("zrca_session_login", c_int, SessionP, CCP, CCP)
zrca_session_logout = _proto("zrca_session_logout", c_int, SessionP)
zrca_session_account = _proto("zrca_session_account", CCP, SessionP)
zrca_session_role = _proto("zrca_session_role", c_int, SessionP)
zrca_session_login_key = _proto("zrca_session_login_key", c_int, SessionP, TokenP, CertP)
zrca_session_login_method = _proto("zrca_session_login_method", c_int, SessionP)
for _n in ("serial", "holder", "enterprise"):
    globals()["zrca_session_cert_" + _n] = _proto("zrca_session_cert_" + _n, CCP, SessionP)
zrca_session_cert_kind = _proto("zrca_session_cert_kind", c_int, SessionP)
zrca_session_expires_at = _proto("zrca_session_expires_at", I64, SessionP)
zrca_session_state_dir = _proto("zrca_session_state_dir", CCP, SessionP)

zrca_session_enterprise = _proto("zrca_session_enterprise", c_int, POINTER(EnterpriseP), SessionP)
zrca_enterprise_free = _proto("zrca_enterprise_free", None, EnterpriseP)
for _n in ("name", "uscc", "legal_rep_name", "legal_rep_id_number", "address", "phone", "email"):
    globals()["zrca_enterprise_" + _n] = _proto("zrca_enterprise_" + _n, CCP, EnterpriseP)
zrca_enterprise_legal_rep_id_type = _proto("zrca_enterprise_legal_rep_id_type", c_int, EnterpriseP)
zrca_enterprise_role = _proto("zrca_enterprise_role", c_int, EnterpriseP)

zrca_session_certificates = _proto("zrca_session_certificates", c_int, POINTER(CertificateListP), SessionP,
                                   c_int, c_int)
zrca_certificate_list_free = _proto("zrca_certificate_list_free", None, CertificateListP)
zrca_certificate_list_count = _proto("zrca_certificate_list_count", c_size_t, CertificateListP)
zrca_certificate_list_get = _proto("zrca_certificate_list_get", CertificateP, CertificateListP, c_size_t)
for _n in ("id", "not_before", "not_after", "days_left", "renewal_opens_at", "renewal_closes_at"):
    globals()["zrca_certificate_" + _n] = _proto("zrca_certificate_" + _n, I64, CertificateP)
for _n in ("holder", "holder_id_number", "serial", "subject", "issuer", "key_serial"):
    globals()["zrca_certificate_" + _n] = _proto("zrca_certificate_" + _n, CCP, CertificateP)
for _n in ("kind", "status", "renewable"):
    globals()["zrca_certificate_" + _n] = _proto("zrca_certificate_" + _n, c_int, CertificateP)
zrca_certificate_expired = _proto("zrca_certificate_expired", c_int, CertificateP, I64)
zrca_certificate_due = _proto("zrca_certificate_due", c_int, CertificateP, c_uint, I64)
zrca_certificate_der = _proto("zrca_certificate_der", BYTES, CertificateP, SIZE_P)

zrca_session_persons = _proto("zrca_session_persons", c_int, POINTER(PersonListP), SessionP)
zrca_person_list_free = _proto("zrca_person_list_free", None, PersonListP)
zrca_person_list_count = _proto("zrca_person_list_count", c_size_t, PersonListP)
zrca_person_list_get = _proto("zrca_person_list_get", PersonP, PersonListP, c_size_t)
for _n in ("id", "first_applied_at", "last_applied_at"):
    globals()["zrca_person_" + _n] = _proto("zrca_person_" + _n, I64, PersonP)
for _n in ("name", "id_number", "position"):
    globals()["zrca_person_" + _n] = _proto("zrca_person_" + _n, CCP, PersonP)
zrca_person_id_type = _proto("zrca_person_id_type", c_int, PersonP)

zrca_session_fees = _proto("zrca_session_fees", c_int, POINTER(FeeScheduleP), SessionP)
zrca_fee_schedule_free = _proto("zrca_fee_schedule_free", None, FeeScheduleP)
zrca_fee_schedule_currency = _proto("zrca_fee_schedule_currency", CCP, FeeScheduleP)
zrca_fee_schedule_includes_count = _proto("zrca_fee_schedule_includes_count", c_size_t, FeeScheduleP)
zrca_fee_schedule_includes = _proto("zrca_fee_schedule_includes", CCP, FeeScheduleP, c_size_t)
zrca_fee_schedule_count = _proto("zrca_fee_schedule_count", c_size_t, FeeScheduleP)
zrca_fee_schedule_get = _proto("zrca_fee_schedule_get", FeeP, FeeScheduleP, c_size_t)
zrca_fee_schedule_price = _proto("zrca_fee_schedule_price", c_int, POINTER(c_int64), FeeScheduleP, c_int,
                                 c_int, c_int)
zrca_fee_business = _proto("zrca_fee_business", c_int, FeeP)
zrca_fee_kind = _proto("zrca_fee_kind", c_int, FeeP)
zrca_fee_years = _proto("zrca_fee_years", c_int, FeeP)
zrca_fee_price_fen = _proto("zrca_fee_price_fen", I64, FeeP)

zrca_session_notifications = _proto("zrca_session_notifications", c_int, POINTER(NotificationListP),
                                    SessionP)
zrca_notification_list_free = _proto("zrca_notification_list_free", None, NotificationListP)
zrca_notification_list_count = _proto("zrca_notification_list_count", c_size_t, NotificationListP)
zrca_notification_list_get = _proto("zrca_notification_list_get", NotificationP, NotificationListP, c_size_t)
zrca_notification_id = _proto("zrca_notification_id", I64, NotificationP)
zrca_notification_sent_at = _proto("zrca_notification_sent_at", I64, NotificationP)
for _n in ("channel", "mobile", "text", "order_number"):
    globals()["zrca_notification_" + _n] = _proto("zrca_notification_" + _n, CCP, NotificationP)

# ---------------------------------------------------------------------------------- revocation.h
class RevocationP(c_void_p): pass
class RevocationListP(c_void_p): pass
class CrlP(c_void_p): pass


REVOKE_OPTIONS_VERSION = 1
CRL_OPTIONS_VERSION = 2


class RevokeOptions(Struct):
    _fields_ = [("version", c_uint), ("serial", c_char_p), ("reason", c_int), ("comment", c_char_p),
                ("key", KeyP), ("certificate", c_void_p), ("certificate_len", c_size_t),
                ("idempotency_key", c_char_p)]


class CrlOptions(Struct):
    _fields_ = [("version", c_uint), ("issuer_ca_file", c_char_p), ("now", c_int64), ("max_size", c_size_t),
                ("certificate", c_void_p), ("certificate_len", c_size_t)]


class CrlEntry(Structure):
    _fields_ = [("revoked_at", c_int64), ("reason", c_int)]


zrca_revoke_reason_name = _proto("zrca_revoke_reason_name", CCP, c_int)
zrca_revoke_reason_label = _proto("zrca_revoke_reason_label", CCP, c_int)
zrca_revocation_status_name = _proto("zrca_revocation_status_name", CCP, c_int)
zrca_revocation_status_label = _proto("zrca_revocation_status_label", CCP, c_int)
zrca_revoke_options_init = _proto("zrca_revoke_options_init", c_int, POINTER(RevokeOptions), c_uint)
zrca_revoke_validate = _proto("zrca_revoke_validate", c_int, POINTER(RevokeOptions))
zrca_revoke = _proto("zrca_revoke", c_int, POINTER(RevocationP), SessionP, POINTER(RevokeOptions))
zrca_session_revocations = _proto("zrca_session_revocations", c_int, POINTER(RevocationListP), SessionP)
zrca_session_revocation = _proto("zrca_session_revocation", c_int, POINTER(RevocationP), SessionP, c_int64)
zrca_revocation_free = _proto("zrca_revocation_free", None, RevocationP)
zrca_revocation_list_free = _proto("zrca_revocation_list_free", None, RevocationListP)
zrca_revocation_list_count = _proto("zrca_revocation_list_count", c_size_t, RevocationListP)
zrca_revocation_list_get = _proto("zrca_revocation_list_get", RevocationP, RevocationListP, c_size_t)
for _n in ("id", "created_at", "reviewed_at"):
    globals()["zrca_revocation_" + _n] = _proto("zrca_revocation_" + _n, I64, RevocationP)
for _n in ("serial", "holder", "comment", "review_comment"):
    globals()["zrca_revocation_" + _n] = _proto("zrca_revocation_" + _n, CCP, RevocationP)
for _n in ("kind", "reason", "signed", "get_status"):
    globals()["zrca_revocation_" + _n] = _proto("zrca_revocation_" + _n, c_int, RevocationP)
zrca_crl_options_init = _proto("zrca_crl_options_init", c_int, POINTER(CrlOptions), c_uint)
zrca_crl_fetch = _proto("zrca_crl_fetch", c_int, POINTER(CrlP), SessionP, POINTER(CrlOptions))
zrca_crl_from_der = _proto("zrca_crl_from_der", c_int, POINTER(CrlP), c_void_p, c_size_t, c_void_p, c_size_t,
                           POINTER(CrlOptions))
zrca_crl_free = _proto("zrca_crl_free", None, CrlP)
zrca_crl_this_update = _proto("zrca_crl_this_update", I64, CrlP)
zrca_crl_next_update = _proto("zrca_crl_next_update", I64, CrlP)
zrca_crl_number = _proto("zrca_crl_number", CCP, CrlP)
zrca_crl_count = _proto("zrca_crl_count", c_size_t, CrlP)
zrca_crl_check = _proto("zrca_crl_check", c_int, CrlP, c_void_p, c_size_t, POINTER(CrlEntry))
zrca_crl_reason_name = _proto("zrca_crl_reason_name", CCP, c_int)

# ---------------------------------------------------------------------------------- sys/transport.h
zrca_transport_response_set_status = _proto("zrca_transport_response_set_status", c_int, TransportResponseP,
                                            c_int)
zrca_transport_response_add_header = _proto("zrca_transport_response_add_header", c_int, TransportResponseP,
                                            CCP, CCP)
zrca_transport_response_write = _proto("zrca_transport_response_write", c_int, TransportResponseP, c_void_p,
                                       c_size_t)
zrca_transport_response_fail = _proto("zrca_transport_response_fail", c_int, TransportResponseP, c_int, c_int,
                                      CCP)

# ---------------------------------------------------------------------------------- application.h
zrca_application_new = _proto("zrca_application_new", c_int, POINTER(ApplicationP), SessionP, c_int)
zrca_application_free = _proto("zrca_application_free", None, ApplicationP)
zrca_application_set_org = _proto("zrca_application_set_org", c_int, ApplicationP, c_uint, c_uint)
zrca_application_set_legal_rep = _proto("zrca_application_set_legal_rep", c_int, ApplicationP, c_int, CCP,
                                        c_uint, c_uint)
zrca_application_add_person = _proto("zrca_application_add_person", c_int, ApplicationP, SIZE_P, CCP, CCP,
                                     CCP, c_uint, c_uint)
zrca_application_add_known_person = _proto("zrca_application_add_known_person", c_int, ApplicationP, SIZE_P,
                                           PersonP, c_uint, c_uint)
zrca_application_person_count = _proto("zrca_application_person_count", c_size_t, ApplicationP)
zrca_application_attach_file = _proto("zrca_application_attach_file", c_int, ApplicationP, CCP, CCP)
zrca_application_attach_data = _proto("zrca_application_attach_data", c_int, ApplicationP, CCP, DATA,
                                      c_size_t, CCP)
zrca_application_set_contact = _proto("zrca_application_set_contact", c_int, ApplicationP, CCP, CCP, CCP)
zrca_application_set_remark = _proto("zrca_application_set_remark", c_int, ApplicationP, CCP)
zrca_application_validate = _proto("zrca_application_validate", c_int, ApplicationP)
zrca_application_amount = _proto("zrca_application_amount", c_int, POINTER(c_int64), ApplicationP)
zrca_application_idempotency_key = _proto("zrca_application_idempotency_key", CCP, ApplicationP)
zrca_application_submit = _proto("zrca_application_submit", c_int, POINTER(OrderP), ApplicationP)
zrca_application_to_json = _proto("zrca_application_to_json", c_int, POINTER(c_void_p), ApplicationP)

# ---------------------------------------------------------------------------------- order.h
for _n in ("review_status", "order_status", "payment_status", "payment_method", "shipping_status",
           "item_status", "order_action"):
    globals()["zrca_%s_name" % _n] = _proto("zrca_%s_name" % _n, CCP, c_int)
    globals()["zrca_%s_label" % _n] = _proto("zrca_%s_label" % _n, CCP, c_int)
zrca_order_get = _proto("zrca_order_get", c_int, POINTER(OrderP), SessionP, CCP)
zrca_order_free = _proto("zrca_order_free", None, OrderP)
zrca_order_refresh = _proto("zrca_order_refresh", c_int, OrderP)
for _n in ("number", "summary", "issuer", "review_comment", "contact_name", "contact_mobile", "contact_email"):
    globals()["zrca_order_" + _n] = _proto("zrca_order_" + _n, CCP, OrderP)
for _n in ("created_at", "updated_at", "amount_fen", "reviewed_at", "paid_at"):
    globals()["zrca_order_" + _n] = _proto("zrca_order_" + _n, I64, OrderP)
for _n in ("business", "review_status", "state", "payment_status", "payment_method", "shipping_status",
           "rating"):
    globals()["zrca_order_" + _n] = _proto("zrca_order_" + _n, c_int, OrderP)
zrca_order_quantity = _proto("zrca_order_quantity", c_uint, OrderP)
zrca_order_actions = _proto("zrca_order_actions", c_uint, OrderP)
zrca_order_item_count = _proto("zrca_order_item_count", c_size_t, OrderP)
zrca_order_item_at = _proto("zrca_order_item_at", OrderItemP, OrderP, c_size_t)
for _n in ("index", "years", "quantity", "actions"):
    globals()["zrca_order_item_" + _n] = _proto("zrca_order_item_" + _n, c_uint, OrderItemP)
for _n in ("holder", "holder_id_number", "certificate_name", "certificate_type", "old_serial", "new_serial"):
    globals()["zrca_order_item_" + _n] = _proto("zrca_order_item_" + _n, CCP, OrderItemP)
zrca_order_item_kind = _proto("zrca_order_item_kind", c_int, OrderItemP)
zrca_order_item_status = _proto("zrca_order_item_status", c_int, OrderItemP)
zrca_order_item_price_fen = _proto("zrca_order_item_price_fen", I64, OrderItemP)
zrca_order_cancel = _proto("zrca_order_cancel", c_int, OrderP, CCP)
zrca_order_pay = _proto("zrca_order_pay", c_int, OrderP, c_int)
zrca_order_resubmit = _proto("zrca_order_resubmit", c_int, OrderP)
zrca_order_edit = _proto("zrca_order_edit", c_int, OrderP, ApplicationP)
zrca_order_rate = _proto("zrca_order_rate", c_int, OrderP, c_int, CCP)
zrca_order_receive = _proto("zrca_order_receive", c_int, OrderP)
zrca_order_tracking_number = _proto("zrca_order_tracking_number", CCP, OrderP)
zrca_order_shipped_key_serial = _proto("zrca_order_shipped_key_serial", CCP, OrderP)
zrca_order_receipt = _proto("zrca_order_receipt", c_int, POINTER(BYTES), SIZE_P, OrderP)
zrca_order_filter_init = _proto("zrca_order_filter_init", c_int, POINTER(OrderFilter), c_uint)
zrca_order_iter_new = _proto("zrca_order_iter_new", c_int, POINTER(OrderIterP), SessionP, POINTER(OrderFilter))
zrca_order_iter_next = _proto("zrca_order_iter_next", c_int, OrderIterP, POINTER(OrderP))
zrca_order_iter_total = _proto("zrca_order_iter_total", c_size_t, OrderIterP)
zrca_order_iter_free = _proto("zrca_order_iter_free", None, OrderIterP)
zrca_wait_options_init = _proto("zrca_wait_options_init", c_int, POINTER(WaitOptions), c_uint)
zrca_order_wait = _proto("zrca_order_wait", c_int, OrderP, POINTER(WaitOptions))

# ---------------------------------------------------------------------------------- token.h
zrca_token_options_init = _proto("zrca_token_options_init", c_int, POINTER(TokenOptions), c_uint)
zrca_login_options_init = _proto("zrca_login_options_init", c_int, POINTER(LoginOptions), c_uint)
zrca_token_open = _proto("zrca_token_open", c_int, POINTER(TokenP), POINTER(TokenOptions))
zrca_token_free = _proto("zrca_token_free", None, TokenP)
zrca_token_foreach = _proto("zrca_token_foreach", c_int, POINTER(TokenOptions), FOREACH_FN, c_void_p)
zrca_token_info_get = _proto("zrca_token_info_get", c_int, POINTER(POINTER(TokenInfo)), TokenP)
zrca_token_pin_state = _proto("zrca_token_pin_state", c_int, POINTER(c_uint), POINTER(c_int), TokenP)
zrca_token_login = _proto("zrca_token_login", c_int, TokenP, c_char_p, POINTER(LoginOptions))
zrca_token_login_cb = _proto("zrca_token_login_cb", c_int, TokenP, PIN_FN, c_void_p, POINTER(LoginOptions))
zrca_token_logout = _proto("zrca_token_logout", c_int, TokenP)
zrca_token_change_pin = _proto("zrca_token_change_pin", c_int, TokenP, c_char_p, c_char_p, POINTER(LoginOptions))
zrca_token_unlock = _proto("zrca_token_unlock", c_int, TokenP, c_char_p, c_char_p, POINTER(LoginOptions))
zrca_token_list_certs = _proto("zrca_token_list_certs", c_int, POINTER(CertListP), TokenP)
zrca_cert_list_count = _proto("zrca_cert_list_count", c_size_t, CertListP)
zrca_cert_list_get = _proto("zrca_cert_list_get", CertP, CertListP, c_size_t)
zrca_cert_list_find = _proto("zrca_cert_list_find", CertP, CertListP, CCP)
zrca_cert_list_free = _proto("zrca_cert_list_free", None, CertListP)
for _n in ("subject", "holder", "issuer", "serial", "fingerprint", "id", "label"):
    globals()["zrca_cert_" + _n] = _proto("zrca_cert_" + _n, CCP, CertP)
zrca_cert_not_before = _proto("zrca_cert_not_before", I64, CertP)
zrca_cert_not_after = _proto("zrca_cert_not_after", I64, CertP)
zrca_cert_key_type = _proto("zrca_cert_key_type", c_int, CertP)
zrca_cert_key_bits = _proto("zrca_cert_key_bits", c_uint, CertP)
zrca_cert_has_private_key = _proto("zrca_cert_has_private_key", c_int, CertP)
zrca_cert_der = _proto("zrca_cert_der", BYTES, CertP, SIZE_P)
zrca_token_write_cert = _proto("zrca_token_write_cert", c_int, TokenP, DATA, c_size_t, CCP)
zrca_token_cert_set_label = _proto("zrca_token_cert_set_label", c_int, TokenP, CertP, CCP)
zrca_token_cert_delete = _proto("zrca_token_cert_delete", c_int, TokenP, CertP)
zrca_token_generate_key = _proto("zrca_token_generate_key", c_int, POINTER(KeyP), TokenP, c_int, c_uint, CCP)
zrca_token_find_key = _proto("zrca_token_find_key", c_int, POINTER(KeyP), TokenP, CCP)
zrca_cert_key = _proto("zrca_cert_key", c_int, POINTER(KeyP), TokenP, CertP)
zrca_key_free = _proto("zrca_key_free", None, KeyP)
zrca_key_id = _proto("zrca_key_id", CCP, KeyP)
zrca_key_label = _proto("zrca_key_label", CCP, KeyP)
zrca_key_get_type = _proto("zrca_key_get_type", c_int, KeyP)
zrca_key_bits = _proto("zrca_key_bits", c_uint, KeyP)
zrca_key_public_der = _proto("zrca_key_public_der", c_int, POINTER(BYTES), SIZE_P, KeyP)
zrca_token_set_sm2_id = _proto("zrca_token_set_sm2_id", c_int, TokenP, DATA, c_size_t)
zrca_token_sm2_id = _proto("zrca_token_sm2_id", BYTES, TokenP, SIZE_P)
zrca_key_sign = _proto("zrca_key_sign", c_int, POINTER(BYTES), SIZE_P, KeyP, DATA, c_size_t)
zrca_key_make_csr = _proto("zrca_key_make_csr", c_int, POINTER(BYTES), SIZE_P, KeyP, DATA, c_size_t)
zrca_key_make_csr_subject = _proto("zrca_key_make_csr_subject", c_int, POINTER(BYTES), SIZE_P, KeyP, CCP)
zrca_subject_to_der = _proto("zrca_subject_to_der", c_int, POINTER(BYTES), SIZE_P, CCP)
zrca_serial_canonical = _proto("zrca_serial_canonical", c_int, c_void_p, c_size_t, CCP)
zrca_serial_cmp = _proto("zrca_serial_cmp", c_int, CCP, CCP)
zrca_cert_expired = _proto("zrca_cert_expired", c_int, CertP, I64)
zrca_cert_due = _proto("zrca_cert_due", c_int, CertP, c_uint, I64)
zrca_seal_options_init = _proto("zrca_seal_options_init", c_int, POINTER(SealOptions), c_uint)
zrca_token_seals = _proto("zrca_token_seals", c_int, POINTER(SealListP), TokenP, POINTER(SealOptions))
zrca_seal_list_free = _proto("zrca_seal_list_free", None, SealListP)
zrca_seal_list_count = _proto("zrca_seal_list_count", c_size_t, SealListP)
zrca_seal_list_get = _proto("zrca_seal_list_get", SealP, SealListP, c_size_t)
zrca_seal_cert = _proto("zrca_seal_cert", CertP, SealP)
zrca_seal_state = _proto("zrca_seal_state", c_int, SealP)
for _n in ("problem", "id", "name", "image_type"):
    globals()["zrca_seal_" + _n] = _proto("zrca_seal_" + _n, CCP, SealP)
zrca_seal_image = _proto("zrca_seal_image", BYTES, SealP, SIZE_P)
zrca_seal_valid_from = _proto("zrca_seal_valid_from", I64, SealP)
zrca_seal_valid_to = _proto("zrca_seal_valid_to", I64, SealP)
zrca_seal_state_name = _proto("zrca_seal_state_name", CCP, c_int)
zrca_key_write_cert = _proto("zrca_key_write_cert", c_int, KeyP, DATA, c_size_t, CCP)
zrca_key_set_label = _proto("zrca_key_set_label", c_int, KeyP, CCP)
zrca_key_delete = _proto("zrca_key_delete", c_int, KeyP)
zrca_token_read_data = _proto("zrca_token_read_data", c_int, POINTER(BYTES), SIZE_P, TokenP, CCP)
zrca_token_write_data = _proto("zrca_token_write_data", c_int, TokenP, CCP, DATA, c_size_t)
zrca_token_delete_data = _proto("zrca_token_delete_data", c_int, TokenP, CCP)
zrca_softtoken_options_init = _proto("zrca_softtoken_options_init", c_int, POINTER(SofttokenOptions), c_uint)
zrca_softtoken_create = _proto("zrca_softtoken_create", c_int, CCP, POINTER(SofttokenOptions))

# token.h, feature "always-authenticate" (lazy: see _lazy)
ALWAYS_AUTHENTICATE = "always-authenticate"
_lazy("zrca_token_set_pin_callback", c_int, TokenP, PIN_FN, c_void_p, POINTER(LoginOptions))
_lazy("zrca_keygen_options_init", c_int, POINTER(KeygenOptions), c_uint)
_lazy("zrca_token_generate_key_ex", c_int, POINTER(KeyP), TokenP, POINTER(KeygenOptions))
_lazy("zrca_key_flags", c_uint, KeyP)

# ---------------------------------------------------------------------------------- update.h
zrca_update_step_name = _proto("zrca_update_step_name", CCP, c_int)
zrca_update_step_label = _proto("zrca_update_step_label", CCP, c_int)
zrca_update_options_init = _proto("zrca_update_options_init", c_int, POINTER(UpdateOptions), c_uint)
for _n in ("owner", "serial", "old_serial", "status", "seal_id", "seal_label", "encryption_serial"):
    globals()["zrca_update_result_" + _n] = _proto("zrca_update_result_" + _n, CCP, UpdateResultP)
for _n in ("not_before", "not_after", "old_not_after"):
    globals()["zrca_update_result_" + _n] = _proto("zrca_update_result_" + _n, I64, UpdateResultP)
zrca_update_result_der = _proto("zrca_update_result_der", BYTES, UpdateResultP, SIZE_P)
zrca_update_result_free = _proto("zrca_update_result_free", None, UpdateResultP)
zrca_update_item = _proto("zrca_update_item", c_int, POINTER(UpdateResultP), OrderP, c_uint, TokenP,
                          POINTER(UpdateOptions))
zrca_update_begin = _proto("zrca_update_begin", c_int, POINTER(UpdateP), OrderP, c_uint, TokenP,
                           POINTER(UpdateOptions))
zrca_update_next = _proto("zrca_update_next", c_int, UpdateP)
zrca_update_step_run = _proto("zrca_update_step_run", c_int, UpdateP)
zrca_update_get_result = _proto("zrca_update_get_result", UpdateResultP, UpdateP)
zrca_update_free = _proto("zrca_update_free", None, UpdateP)
zrca_update_resume = _proto("zrca_update_resume", c_int, POINTER(UpdateResultP), SessionP, CCP, c_uint, TokenP,
                            POINTER(UpdateOptions))
zrca_update_abort = _proto("zrca_update_abort", c_int, SessionP, CCP, c_uint, TokenP, POINTER(UpdateOptions))
zrca_update_abort_ex = _proto("zrca_update_abort_ex", c_int, POINTER(c_uint), SessionP, CCP, c_uint, TokenP,
                              POINTER(UpdateOptions), POINTER(AbortOptions))
zrca_update_journal_state = _proto("zrca_update_journal_state", c_int, POINTER(c_int), POINTER(c_uint), SessionP,
                                   CCP, c_uint)

# update.h, renewal planning
zrca_plan_options_init = _proto("zrca_plan_options_init", c_int, POINTER(PlanOptions), c_uint)
zrca_renewal_plan_new = _proto("zrca_renewal_plan_new", c_int, POINTER(RenewalPlanP), SessionP, POINTER(TokenP),
                               c_size_t, POINTER(PlanOptions))
zrca_renewal_plan_free = _proto("zrca_renewal_plan_free", None, RenewalPlanP)
zrca_renewal_plan_count = _proto("zrca_renewal_plan_count", c_size_t, RenewalPlanP)
zrca_renewal_plan_kind = _proto("zrca_renewal_plan_kind", c_int, RenewalPlanP, c_size_t)
zrca_renewal_plan_holder = _proto("zrca_renewal_plan_holder", CCP, RenewalPlanP, c_size_t)
zrca_renewal_plan_serial = _proto("zrca_renewal_plan_serial", CCP, RenewalPlanP, c_size_t)
zrca_renewal_plan_not_after = _proto("zrca_renewal_plan_not_after", I64, RenewalPlanP, c_size_t)
zrca_renewal_plan_token = _proto("zrca_renewal_plan_token", c_void_p, RenewalPlanP, c_size_t)
zrca_renewal_plan_application = _proto("zrca_renewal_plan_application", c_int, POINTER(ApplicationP),
                                       RenewalPlanP)
zrca_renew_options_init = _proto("zrca_renew_options_init", c_int, POINTER(RenewOptions), c_uint)
zrca_renew_auto = _proto("zrca_renew_auto", c_int, POINTER(RenewReportP), SessionP, POINTER(TokenP), c_size_t,
                         POINTER(RenewOptions))
zrca_renew_report_count = _proto("zrca_renew_report_count", c_size_t, RenewReportP)
zrca_renew_report_order = _proto("zrca_renew_report_order", CCP, RenewReportP)
for _n in ("holder", "old_serial", "new_serial", "item_order", "message"):
    globals()["zrca_renew_report_" + _n] = _proto("zrca_renew_report_" + _n, CCP, RenewReportP, c_size_t)
for _n in ("old_not_after", "new_not_after"):
    globals()["zrca_renew_report_" + _n] = _proto("zrca_renew_report_" + _n, I64, RenewReportP, c_size_t)
for _n in ("kind", "outcome", "error"):
    globals()["zrca_renew_report_" + _n] = _proto("zrca_renew_report_" + _n, c_int, RenewReportP, c_size_t)
zrca_renew_report_item_index = _proto("zrca_renew_report_item_index", c_uint, RenewReportP, c_size_t)
zrca_renew_report_token = _proto("zrca_renew_report_token", c_void_p, RenewReportP, c_size_t)
zrca_renew_report_free = _proto("zrca_renew_report_free", None, RenewReportP)


# ---------------------------------------------------------------------------------- helpers

def s(b: Optional[bytes]) -> Optional[str]:
    """A C string from the library (UTF-8) as str, None for NULL."""
    return None if b is None else b.decode("utf-8", "replace")


def b(text: Optional[Any], what: str = "a string") -> Optional[bytes]:
    """A str (or path-like) as UTF-8 bytes for the library, None as NULL; a NUL inside raises
    ValueError (``to_c``)."""
    if text is not None and not isinstance(text, (str, bytes, bytearray, os.PathLike)):
        text = str(text)
    return to_c(text, c_char_p, what)


def p(path: Optional[Any], what: str = "a path") -> Optional[bytes]:
    """A file system path (str, bytes or path-like) as bytes for the library (``os.fsencode``),
    None as NULL; a NUL inside raises ValueError (``to_c``)."""
    return None if path is None else to_c(os.fsencode(path), c_char_p, what)


def take_bytes(ptr: Any, size: c_size_t) -> bytes:
    """Copy a buffer the library handed out (free with zrca_free) and free it."""
    try:
        return ctypes.string_at(ptr, size.value) if ptr else b""
    finally:
        zrca_free(ctypes.cast(ptr, c_void_p))


def borrowed_bytes(ptr: Any, size: c_size_t) -> bytes:
    return ctypes.string_at(ptr, size.value) if ptr else b""


def version() -> tuple:
    ma, mi, pa = c_int(), c_int(), c_int()
    text = zrca_version(ctypes.byref(ma), ctypes.byref(mi), ctypes.byref(pa))
    return (ma.value, mi.value, pa.value, s(text))


def _check_version() -> None:
    ma, mi, pa, text = version()
    if ma != REQUIRED_VERSION[0] or (ma, mi) < REQUIRED_VERSION:
        raise LibraryError("%s is libzrca %s; these bindings need %d.%d or a later 1.x"
                           % (LIBRARY_PATH, text, REQUIRED_VERSION[0], REQUIRED_VERSION[1]))


_check_version()
if zrca_init() < 0:
    _e = zrca_error_last()
    raise LibraryError("zrca_init() failed: %s" % (s(_e.contents.message) if _e else "unknown error"))
# One reference held for the life of the process: handles may be freed by the garbage collector
# after any point an atexit hook could choose, and the last zrca_shutdown() must follow them.
