# SPDX-License-Identifier: MIT
"""The USB key (天威盾) or a software token: information, PIN, certificates, keys, data objects."""
from __future__ import annotations

import ctypes
import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union, overload

from . import _lib
from ._callbacks import FOREACH_THUNK, PIN_THUNK, SecretBuffer, Slot, call
from ._handle import Handle, PathLike, to_datetime, seq_index
from .enums import (Backend, KeyFlags, KeyType, LogLevel, PinFlag, PinPurpose, PinUser, SealState, Status,
                    TokenFlag)
from .errors import NotSupported
from .log import LogCallback, make_log_options

Secret = Union[str, bytes, bytearray]


@dataclass(frozen=True)
class PinRequest:
    """What a PIN callback is asked: which token, what for, tries left (None if unknown). ``user``
    is PinUser.CONTEXT when the PIN is for one signature by a key that needs it every time."""
    token_label: str
    token_serial: str
    purpose: PinPurpose
    user: PinUser
    tries_left: Optional[int]
    final_try: bool
    pin_flags: PinFlag
    min_len: int
    max_len: int

    @classmethod
    def _from_c(cls, r: Any) -> "PinRequest":
        return cls(_lib.s(r.token_label) or "", _lib.s(r.token_serial) or "", PinPurpose(r.purpose),
                   PinUser(r.user), None if r.tries_left < 0 else r.tries_left, bool(r.final_try),
                   PinFlag(r.pin_flags), int(r.min_len), int(r.max_len))


#: A PIN callback: (request) -> the PIN (str, bytes or bytearray), or None to stop. A bytearray
#: returned is zeroed once copied; never log the PIN.
PinCallback = Callable[[PinRequest], Optional[Secret]]


@dataclass(frozen=True)
class TokenInfo:
    """A token's information and PIN state, as read (a snapshot)."""
    label: str
    serial: str
    manufacturer: str
    model: str
    backend: str
    module: str
    uri: str
    flags: TokenFlag
    user_pin: PinFlag
    so_pin: PinFlag
    tries_left: Optional[int]
    min_pin_len: int
    max_pin_len: int
    logged_in: bool

    @classmethod
    def _from_c(cls, i: Any) -> "TokenInfo":
        return cls(_lib.s(i.label) or "", _lib.s(i.serial) or "", _lib.s(i.manufacturer) or "",
                   _lib.s(i.model) or "", _lib.s(i.backend) or "", _lib.s(i.module) or "", _lib.s(i.uri) or "",
                   TokenFlag(i.flags), PinFlag(i.user_pin), PinFlag(i.so_pin),
                   None if i.tries_left < 0 else i.tries_left, int(i.min_pin_len), int(i.max_pin_len),
                   bool(i.logged_in))


def _token_options(backend: Backend, uri: Optional[str], serial: Optional[str], label: Optional[str],
                   module_path: Optional[PathLike], soft_dir: Optional[PathLike],
                   log: Optional[LogCallback], log_level: LogLevel,
                   skf_library: Optional[PathLike] = None) -> Tuple[_lib.TokenOptions, List[Any], Optional[Slot]]:
    o = _lib.TokenOptions()
    # Version 2 only for an SKF library: a library that knows only version 1 still opens the rest.
    version = _lib.TOKEN_OPTIONS_VERSION_SKF if skf_library is not None else _lib.TOKEN_OPTIONS_VERSION
    call(_lib.zrca_token_options_init, ctypes.byref(o), version)
    o.backend = int(backend)
    if skf_library is not None:
        o.skf_library = _lib.p(skf_library, "skf_library")
    o.uri = _lib.b(uri)
    o.serial = _lib.b(serial)
    o.label = _lib.b(label)
    o.module_path = _lib.p(module_path, "module_path")
    o.soft_dir = _lib.p(soft_dir, "soft_dir")
    keep: List[Any] = []
    slot = None
    if log is not None:
        lo, slot = make_log_options(log, log_level)
        keep.append(lo)
        o.log = ctypes.pointer(lo)
    return o, keep, slot


def _login_options(purpose: PinPurpose, allow_final_try: bool) -> _lib.LoginOptions:
    lo = _lib.LoginOptions()
    call(_lib.zrca_login_options_init, ctypes.byref(lo), _lib.LOGIN_OPTIONS_VERSION)
    lo.purpose = int(purpose)
    lo.allow_final_try = 1 if allow_final_try else 0
    return lo


def _need_always_authenticate(what: str) -> None:
    """NotSupported unless the loaded library has the "always-authenticate" feature."""
    if not _lib.has(_lib.ALWAYS_AUTHENTICATE):
        raise NotSupported(int(Status.ENOTSUPPORTED), "%s needs a libzrca with the \"%s\" feature; %s lacks it"
                           % (what, _lib.ALWAYS_AUTHENTICATE, _lib.LIBRARY_PATH or "the loaded library"))


def list_tokens(*, backend: Backend = Backend.PKCS11, uri: Optional[str] = None, serial: Optional[str] = None,
                label: Optional[str] = None, module_path: Optional[PathLike] = None,
                soft_dir: Optional[PathLike] = None, skf_library: Optional[PathLike] = None) -> List[TokenInfo]:
    """The tokens the backend sees that match the selectors, without opening one."""
    o, keep, _ = _token_options(backend, uri, serial, label, module_path, soft_dir, None, LogLevel.WARN,
                                skf_library)
    found: List[TokenInfo] = []
    slot = Slot(lambda info: found.append(info))
    try:
        call(_lib.zrca_token_foreach, ctypes.byref(o), FOREACH_THUNK, slot.payload, slots=[slot])
    finally:
        slot.release()
    return found


def create_softtoken(directory: PathLike, *, label: str, user_pin: Secret, so_pin: Secret,
                     serial: Optional[str] = None, max_tries: int = 0, kdf_iterations: int = 0) -> None:
    """Create a software token in ``directory`` (made if missing; must be empty)."""
    o = _lib.SofttokenOptions()
    call(_lib.zrca_softtoken_options_init, ctypes.byref(o), _lib.SOFTTOKEN_OPTIONS_VERSION)
    o.label = _lib.b(label)
    o.serial = _lib.b(serial)
    o.max_tries = int(max_tries)
    o.kdf_iterations = int(kdf_iterations)
    with SecretBuffer(user_pin) as up, SecretBuffer(so_pin) as sp:
        o.user_pin = ctypes.cast(up, ctypes.c_char_p)
        o.so_pin = ctypes.cast(sp, ctypes.c_char_p)
        try:
            call(_lib.zrca_softtoken_create, _lib.p(directory, "directory"), ctypes.byref(o))
        finally:
            o.user_pin = None
            o.so_pin = None


class Token(Handle):
    """One open token. ``Token(label="...", module_path=...)`` for PKCS#11 (p11-kit's modules by
    default), ``Token(backend=Backend.SOFT, soft_dir=...)`` for the software token,
    ``Token(backend=Backend.SKF, skf_library=...)`` for a vendor's SKF library (GM/T 0016; or an
    ``skf:`` URI naming the library)."""

    _free_fn = _lib.zrca_token_free

    def __init__(self, *, backend: Backend = Backend.PKCS11, uri: Optional[str] = None,
                 serial: Optional[str] = None, label: Optional[str] = None,
                 module_path: Optional[PathLike] = None, soft_dir: Optional[PathLike] = None,
                 log: Optional[LogCallback] = None, log_level: LogLevel = LogLevel.WARN,
                 skf_library: Optional[PathLike] = None) -> None:
        self._ptr = None
        self._log_slot: Optional[Slot] = None
        self._pin_slot: Optional[Slot] = None
        o, keep, slot = _token_options(backend, uri, serial, label, module_path, soft_dir, log, log_level,
                                       skf_library)
        p = _lib.TokenP()
        try:
            call(_lib.zrca_token_open, ctypes.byref(p), ctypes.byref(o))
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        self._log_slot = slot
        super().__init__(p)

    def _release(self, ptr: Any) -> None:
        _lib.zrca_token_free(ptr)
        for sl in (self._log_slot, self._pin_slot):
            if sl is not None:
                sl.release()
        self._log_slot = None
        self._pin_slot = None

    def _pin_slots(self) -> List[Slot]:
        """The Slot of the per-signature PIN callback, for the calls that may ask it."""
        return [] if self._pin_slot is None else [self._pin_slot]

    def info(self) -> TokenInfo:
        """What the token reports of itself (a ``TokenInfo``)."""
        out = ctypes.POINTER(_lib.TokenInfo)()
        call(_lib.zrca_token_info_get, ctypes.byref(out), self._h)
        return TokenInfo._from_c(out.contents)

    def pin_state(self) -> Tuple[PinFlag, Optional[int]]:
        """The user PIN's flags and tries left (None if unknown), read now."""
        flags, tries = ctypes.c_uint(), ctypes.c_int()
        call(_lib.zrca_token_pin_state, ctypes.byref(flags), ctypes.byref(tries), self._h)
        return PinFlag(flags.value), (None if tries.value < 0 else tries.value)

    def login(self, pin: Secret, *, purpose: PinPurpose = PinPurpose.LOGIN, allow_final_try: bool = False) -> None:
        """Log in as the user. A wrong PIN raises PinIncorrect (``tries_left``); never retried."""
        lo = _login_options(purpose, allow_final_try)
        with SecretBuffer(pin) as buf:
            call(_lib.zrca_token_login, self._h, buf, ctypes.byref(lo))

    def login_with(self, pin: PinCallback, *, purpose: PinPurpose = PinPurpose.LOGIN,
                   allow_final_try: bool = False) -> None:
        """Log in with a PIN asked from a callback, once."""
        lo = _login_options(purpose, allow_final_try)
        slot = Slot(pin)
        try:
            call(_lib.zrca_token_login_cb, self._h, PIN_THUNK, slot.payload, ctypes.byref(lo), slots=[slot])
        finally:
            slot.release()

    def set_pin_callback(self, pin: Optional[PinCallback], *, purpose: PinPurpose = PinPurpose.LOGIN,
                         allow_final_try: bool = False) -> None:
        """The callback asked the user PIN for each signature by a key that needs it every time
        (``Key.always_authenticate``): once per ``Key.sign()`` or ``Key.make_csr()``, with
        ``request.user`` PinUser.CONTEXT and ``purpose``. None removes it; signing with such a
        key then raises PinRequired. A wrong PIN raises PinIncorrect and is never retried; a
        callback that returns None or raises stops the signature. Kept until replaced, removed
        or the token is closed. An update with its own ``pin`` callback asks that one instead.
        Needs the "always-authenticate" feature (NotSupported otherwise)."""
        _need_always_authenticate("Token.set_pin_callback()")
        h = self._h
        lo = _login_options(purpose, allow_final_try)
        old = self._pin_slot
        if pin is None:
            call(_lib.zrca_token_set_pin_callback, h, _lib.PIN_FN(), None, ctypes.byref(lo))
            self._pin_slot = None
        else:
            slot = Slot(pin)
            try:
                call(_lib.zrca_token_set_pin_callback, h, PIN_THUNK, slot.payload, ctypes.byref(lo))
            except BaseException:
                slot.release()
                raise
            self._pin_slot = slot
        if old is not None:  # the library no longer refers to it
            old.release()

    @property
    def pin_callback(self) -> Optional[PinCallback]:
        """The callback of set_pin_callback(), or None."""
        return None if self._pin_slot is None else self._pin_slot.fn

    @property
    def sm2_id(self) -> bytes:
        """The SM2 user ID (GM/T 0009) this token's SM2 keys sign with; b"1234567812345678" until
        set. Setting it takes 1 to 128 bytes (a str is UTF-8 encoded); a bad one raises
        InvalidArgument naming the field ``sm2_id``."""
        n = ctypes.c_size_t(0)
        p = _lib.zrca_token_sm2_id(self._h, ctypes.byref(n))
        return ctypes.string_at(p, n.value) if p else b""

    @sm2_id.setter
    def sm2_id(self, value: Union[bytes, str]) -> None:
        v = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        buf = ctypes.create_string_buffer(v, len(v) or 1)
        call(_lib.zrca_token_set_sm2_id, self._h, buf if v else None, len(v))

    def logout(self) -> None:
        """Log out of the token."""
        call(_lib.zrca_token_logout, self._h)

    def change_pin(self, old_pin: Secret, new_pin: Secret, *, allow_final_try: bool = False) -> None:
        """Change the user PIN from ``old_pin`` to ``new_pin`` (PinIncorrect on a wrong old PIN)."""
        lo = _login_options(PinPurpose.CHANGE, allow_final_try)
        with SecretBuffer(old_pin) as a, SecretBuffer(new_pin) as b:
            call(_lib.zrca_token_change_pin, self._h, a, b, ctypes.byref(lo))

    def unlock(self, so_pin: Secret, new_pin: Secret, *, allow_final_try: bool = False) -> None:
        """Unlock the user PIN with the SO PIN and set a new one (解锁服务)."""
        lo = _login_options(PinPurpose.UNLOCK, allow_final_try)
        with SecretBuffer(so_pin) as a, SecretBuffer(new_pin) as b:
            call(_lib.zrca_token_unlock, self._h, a, b, ctypes.byref(lo))

    # -------------------------------------------------------------- certificates

    def certificates(self) -> "TokenCertList":
        """The certificates on the token (a ``TokenCertList``)."""
        p = _lib.CertListP()
        call(_lib.zrca_token_list_certs, ctypes.byref(p), self._h)
        return TokenCertList(p, self)

    def write_cert(self, der: bytes, label: Optional[str] = None) -> None:
        """Write a certificate (DER or PEM) on the token, labelled ``label``."""
        der = bytes(der)
        call(_lib.zrca_token_write_cert, self._h, der, len(der), _lib.b(label))

    # -------------------------------------------------------------- keys

    def generate_key(self, key_type: KeyType = KeyType.EC_P256, bits: int = 0, label: str = "", *,
                     always_authenticate: bool = False) -> "Key":
        """Make a key pair (needs a login). With ``always_authenticate`` the token asks the user
        PIN for every signature with it (see set_pin_callback()); a token that cannot make such
        a key raises NotSupported and makes nothing."""
        p = _lib.KeyP()
        if not always_authenticate:
            call(_lib.zrca_token_generate_key, ctypes.byref(p), self._h, int(key_type), int(bits), _lib.b(label))
            return Key(p, self)
        _need_always_authenticate("a key with always_authenticate")
        o = _lib.KeygenOptions()
        call(_lib.zrca_keygen_options_init, ctypes.byref(o), _lib.KEYGEN_OPTIONS_VERSION)
        o.type = int(key_type)
        o.bits = int(bits)
        o.label = _lib.b(label)
        o.flags = int(KeyFlags.ALWAYS_AUTHENTICATE)
        call(_lib.zrca_token_generate_key_ex, ctypes.byref(p), self._h, ctypes.byref(o))
        return Key(p, self)

    def find_key(self, id_hex: str) -> "Key":
        """The key with CKA_ID ``id_hex`` (NotFound when there is none)."""
        p = _lib.KeyP()
        call(_lib.zrca_token_find_key, ctypes.byref(p), self._h, _lib.b(id_hex))
        return Key(p, self)

    # -------------------------------------------------------------- data objects

    def seals(self, serial: Optional[str] = None, issuer_ca_file: Optional[PathLike] = None) -> List["Seal"]:
        """The e-seal records on the token (电子签章), each judged by the library
        (``zrca_token_seals()``): bound to its certificate, and signed by the issuing CA when
        ``issuer_ca_file`` (the platform's root and/or issuing CA, PEM) is given. ``serial``
        (any spelling) keeps the record of one certificate."""
        o = _lib.SealOptions()
        call(_lib.zrca_seal_options_init, ctypes.byref(o), 1)
        o.serial = _lib.b(serial, "a serial")
        o.issuer_ca_file = _lib.b(issuer_ca_file, "a path")
        lst = _lib.SealListP()
        call(_lib.zrca_token_seals, ctypes.byref(lst), self._h, ctypes.byref(o))
        try:
            return [Seal._from_c(_lib.zrca_seal_list_get(lst, i))
                    for i in range(_lib.zrca_seal_list_count(lst))]
        finally:
            _lib.zrca_seal_list_free(lst)

    def read_data(self, label: str) -> bytes:
        """The bytes of the data object labelled ``label`` (NotFound when there is none)."""
        out, n = _lib.BYTES(), ctypes.c_size_t()
        call(_lib.zrca_token_read_data, ctypes.byref(out), ctypes.byref(n), self._h, _lib.b(label))
        return _lib.take_bytes(out, n)

    def write_data(self, label: str, data: bytes) -> None:
        """Write ``data`` as a data object labelled ``label`` (replacing one of that label)."""
        data = bytes(data)
        call(_lib.zrca_token_write_data, self._h, _lib.b(label), data, len(data))

    def delete_data(self, label: str) -> None:
        """Delete the data object labelled ``label``."""
        call(_lib.zrca_token_delete_data, self._h, _lib.b(label))

    def __repr__(self) -> str:
        if self.closed:
            return "<Token closed>"
        i = self.info()
        return "<Token %s serial=%s (%s)>" % (i.label, i.serial, i.backend)


def _unix(t: Optional[_dt.datetime]) -> int:
    """A datetime as Unix seconds for the library; None (or 0) as 0, "now"."""
    if t is None:
        return 0
    if t.tzinfo is None:
        raise ValueError("give an aware datetime (with tzinfo)")
    return int(t.timestamp())


@dataclass(frozen=True)
class Seal:
    """An e-seal record on a token (``Token.seals()``), a snapshot: the record's fields, the
    certificate it sits beside, and how the library judged it."""
    state: SealState
    problem: Optional[str]
    seal_id: Optional[str]
    name: Optional[str]
    image_type: Optional[str]
    image: bytes
    valid_from: Optional[_dt.datetime]
    valid_to: Optional[_dt.datetime]
    certificate_serial: str
    certificate_holder: str

    @property
    def valid(self) -> bool:
        """Verified, or bound with its signature not checked (no CA given, or none reaching it)."""
        return self.state in (SealState.VERIFIED, SealState.BOUND, SealState.NO_ISSUER)

    @classmethod
    def _from_c(cls, p: Any) -> "Seal":
        n = ctypes.c_size_t()
        img = _lib.borrowed_bytes(_lib.zrca_seal_image(p, ctypes.byref(n)), n)
        c = _lib.zrca_seal_cert(p)
        return cls(SealState(_lib.zrca_seal_state(p)), _lib.s(_lib.zrca_seal_problem(p)),
                   _lib.s(_lib.zrca_seal_id(p)), _lib.s(_lib.zrca_seal_name(p)),
                   _lib.s(_lib.zrca_seal_image_type(p)), img, to_datetime(_lib.zrca_seal_valid_from(p)),
                   to_datetime(_lib.zrca_seal_valid_to(p)), _lib.s(_lib.zrca_cert_serial(c)) or "",
                   _lib.s(_lib.zrca_cert_holder(c)) or "")


class TokenCertificate:
    """A certificate on a token, borrowed from its list (keeps the list, and so the token, alive)."""

    __slots__ = ("_list", "_p")

    def __init__(self, lst: "TokenCertList", p: Any) -> None:
        self._list = lst
        self._p = p

    @property
    def _c(self) -> Any:
        self._list._h
        return self._p

    @property
    def token(self) -> Token:
        """The token the certificate was read from."""
        return self._list.token
    @property
    def subject(self) -> str:
        """The subject's distinguished name."""
        return _lib.s(_lib.zrca_cert_subject(self._c)) or ""
    @property
    def holder(self) -> str:
        """The holder (the subject's common name)."""
        return _lib.s(_lib.zrca_cert_holder(self._c)) or ""
    @property
    def issuer(self) -> str:
        """The issuer's distinguished name."""
        return _lib.s(_lib.zrca_cert_issuer(self._c)) or ""
    @property
    def serial(self) -> str:
        """The serial in the library's canonical form (lowercase hex, whole bytes), as the platform
        writes it; compare serials with ``zrca.serial_cmp()``."""
        return _lib.s(_lib.zrca_cert_serial(self._c)) or ""

    def expired(self, now: Optional[_dt.datetime] = None) -> bool:
        """Whether the certificate has ended at ``now`` (default: the current time)."""
        return bool(_lib.zrca_cert_expired(self._c, _unix(now)))

    def due(self, window_days: int = 0, now: Optional[_dt.datetime] = None) -> bool:
        """Whether the certificate is due for renewal at ``now`` by the library's one rule
        (``zrca_cert_due()``): not ended, and inside ``window_days`` (0: 90) of its end."""
        return bool(_lib.zrca_cert_due(self._c, window_days, _unix(now)))
    @property
    def not_before(self) -> Optional[_dt.datetime]:
        """Start of validity (aware datetime, UTC)."""
        return to_datetime(_lib.zrca_cert_not_before(self._c))
    @property
    def not_after(self) -> Optional[_dt.datetime]:
        """End of validity (aware datetime, UTC)."""
        return to_datetime(_lib.zrca_cert_not_after(self._c))
    @property
    def key_type(self) -> KeyType:
        """The type of the certificate's key."""
        return KeyType(_lib.zrca_cert_key_type(self._c))
    @property
    def key_bits(self) -> int:
        """The size of the certificate's key in bits."""
        return int(_lib.zrca_cert_key_bits(self._c))
    @property
    def fingerprint(self) -> str:
        """The SHA-256 fingerprint of the certificate, hex."""
        return _lib.s(_lib.zrca_cert_fingerprint(self._c)) or ""
    @property
    def id(self) -> str:
        """The object's CKA_ID, hex (shared with its key)."""
        return _lib.s(_lib.zrca_cert_id(self._c)) or ""
    @property
    def label(self) -> str:
        """The object's label on the token."""
        return _lib.s(_lib.zrca_cert_label(self._c)) or ""
    @property
    def has_private_key(self) -> bool:
        """Whether the token holds the private key of this certificate."""
        return bool(_lib.zrca_cert_has_private_key(self._c))

    @property
    def der(self) -> bytes:
        """The certificate, DER-encoded."""
        n = ctypes.c_size_t()
        return _lib.borrowed_bytes(_lib.zrca_cert_der(self._c, ctypes.byref(n)), n)

    def key(self) -> "Key":
        """The key pair of this certificate (needs a login)."""
        p = _lib.KeyP()
        call(_lib.zrca_cert_key, ctypes.byref(p), self.token._h, self._c)
        return Key(p, self.token)

    def set_label(self, label: str) -> None:
        """Set the certificate's label on the token."""
        call(_lib.zrca_token_cert_set_label, self.token._h, self._c, _lib.b(label))

    def delete(self) -> None:
        """Delete the certificate (not its key)."""
        call(_lib.zrca_token_cert_delete, self.token._h, self._c)

    def __repr__(self) -> str:
        return "<TokenCertificate %s serial=%s until %s>" % (self.holder, self.serial, self.not_after)


class TokenCertList(Handle, Sequence[TokenCertificate]):
    """The certificates on a token with their parsed information."""

    _free_fn = _lib.zrca_cert_list_free

    def __init__(self, ptr: Any, token: Token) -> None:
        super().__init__(ptr, token)
        self.token = token

    def __len__(self) -> int:
        return int(_lib.zrca_cert_list_count(self._h))

    @overload
    def __getitem__(self, i: int) -> TokenCertificate: ...
    @overload
    def __getitem__(self, i: slice) -> List[TokenCertificate]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = seq_index(i, len(self))
        return TokenCertificate(self, _lib.zrca_cert_list_get(self._h, i))

    def __iter__(self) -> Iterator[TokenCertificate]:
        for i in range(len(self)):
            yield self[i]

    def find(self, holder: str) -> Optional[TokenCertificate]:
        """The certificate of ``holder`` (CN or whole subject); None if there is none."""
        p = _lib.zrca_cert_list_find(self._h, _lib.b(holder))
        return TokenCertificate(self, p) if p else None


class Key(Handle):
    """A key pair on a token (the handle; the key stays on the token when it is closed)."""

    _free_fn = _lib.zrca_key_free

    def __init__(self, ptr: Any, token: Token) -> None:
        super().__init__(ptr, token)
        self.token = token

    @property
    def id(self) -> str:
        """The key's CKA_ID as hex."""
        return _lib.s(_lib.zrca_key_id(self._h)) or ""
    @property
    def label(self) -> str:
        """The key's label."""
        return _lib.s(_lib.zrca_key_label(self._h)) or ""
    @property
    def type(self) -> KeyType:
        """The key's type."""
        return KeyType(_lib.zrca_key_get_type(self._h))
    @property
    def bits(self) -> int:
        """The key size in bits."""
        return int(_lib.zrca_key_bits(self._h))

    @property
    def flags(self) -> KeyFlags:
        """The flags the token reported when the handle was made (none from a library without
        the "always-authenticate" feature)."""
        h = self._h
        if not _lib.has(_lib.ALWAYS_AUTHENTICATE):
            return KeyFlags(0)
        return KeyFlags(_lib.zrca_key_flags(h))

    @property
    def always_authenticate(self) -> bool:
        """Every signature needs the user PIN again (Token.set_pin_callback())."""
        return KeyFlags.ALWAYS_AUTHENTICATE in self.flags

    def public_der(self) -> bytes:
        """The public key as DER SubjectPublicKeyInfo."""
        out, n = _lib.BYTES(), ctypes.c_size_t()
        call(_lib.zrca_key_public_der, ctypes.byref(out), ctypes.byref(n), self._h)
        return _lib.take_bytes(out, n)

    def sign(self, data: bytes) -> bytes:
        """Signature on the token: SHA-256 with RSA PKCS#1 v1.5 or DER ECDSA; SM2-with-SM3 (DER r, s,
        with the token's ``sm2_id``) for an SM2 key. A key that needs the
        PIN for every signature asks the token's PIN callback once (PinRequired without one)."""
        data = bytes(data)
        out, n = _lib.BYTES(), ctypes.c_size_t()
        call(_lib.zrca_key_sign, ctypes.byref(out), ctypes.byref(n), self._h, data, len(data),
             slots=self.token._pin_slots())
        return _lib.take_bytes(out, n)

    def make_csr(self, subject: Union[str, bytes]) -> bytes:
        """A DER PKCS#10 request signed on the token, for ``subject``: a DN string (RFC 4514,
        ``"CN=张三,O=某某有限公司,C=CN"``, or OpenSSL's ``"/C=CN/O=…/CN=…"``) or a DER X.509 Name
        (bytes). A bad string raises InvalidArgument naming the rule broken."""
        out, n = _lib.BYTES(), ctypes.c_size_t()
        if isinstance(subject, str):
            call(_lib.zrca_key_make_csr_subject, ctypes.byref(out), ctypes.byref(n), self._h, subject,
                 slots=self.token._pin_slots())
            return _lib.take_bytes(out, n)
        subject_der = bytes(subject)
        call(_lib.zrca_key_make_csr, ctypes.byref(out), ctypes.byref(n), self._h, subject_der, len(subject_der),
             slots=self.token._pin_slots())
        return _lib.take_bytes(out, n)

    def write_cert(self, der: bytes, label: Optional[str] = None) -> None:
        """Write the certificate ``der`` (DER or PEM) next to this key (same ID), labelled
        ``label``."""
        der = bytes(der)
        call(_lib.zrca_key_write_cert, self._h, der, len(der), _lib.b(label))

    def set_label(self, label: str) -> None:
        """Set the key's label."""
        call(_lib.zrca_key_set_label, self._h, _lib.b(label))

    def delete(self) -> None:
        """Delete the key pair from the token."""
        call(_lib.zrca_key_delete, self._h)

    def __repr__(self) -> str:
        if self.closed:
            return "<Key closed>"
        return "<Key %s %s/%d %s%s>" % (self.label, self.type.name, self.bits, self.id,
                                        " always-authenticate" if self.always_authenticate else "")
