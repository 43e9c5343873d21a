# SPDX-License-Identifier: MIT
"""The renewal application (续期申请): tick kinds, add people, attach scans, give a contact,
validate locally (every violation at once), submit."""
from __future__ import annotations

import ctypes
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from . import _lib
from ._handle import Handle, PathLike
from .enums import Business, IdType

if TYPE_CHECKING:
    from .order import Order
    from .session import Person, Session

#: Part name of the commitment letter scan (承诺函).
ATTACH_COMMITMENT_LETTER = "attachments.commitment_letter"
#: Part name of the legal representative's ID scan (optional).
ATTACH_LEGAL_REP_ID_SCAN = "legal_rep.id_scan"
#: Largest attachment the platform accepts, in bytes (3 MiB).
ATTACHMENT_MAX_SIZE = 3145728


def person_scan_part(index: int) -> str:
    """Part name of person ``index``'s ID scan (0-based): ``persons[i].id_scan``."""
    return "persons[%d].id_scan" % index


class Application(Handle):
    """A renewal (or new-certificate) application made from a logged-in session, which it keeps
    alive. Filling and validating send nothing; ``submit()`` sends it and returns the Order."""

    _free_fn = _lib.zrca_application_free

    def __init__(self, session: "Session", business: Business = Business.RENEWAL) -> None:
        self._ptr = None
        p = _lib.ApplicationP()
        session._call(_lib.zrca_application_new, ctypes.byref(p), session._h, int(business))
        super().__init__(p, session)
        self.session = session

    @classmethod
    def _wrap(cls, ptr: Any, session: "Session") -> "Application":
        """An application the library built (RenewalPlan.application()), owned from now on."""
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, session)
        self.session = session
        return self

    def _call(self, fn: Any, *args: Any) -> int:
        """Call a C function on this application through its session (``Session._call``)."""
        return self.session._call(fn, *args, pins=(self,))

    def set_org(self, years: int = 1, count: int = 1) -> None:
        """Tick (count > 0) or untick (count 0) the organisation certificate (企业机构证书)."""
        self._call(_lib.zrca_application_set_org, self._h, years, count)

    def set_legal_rep(self, id_number: str, id_type: IdType = IdType.ID_CARD, years: int = 1,
                      count: int = 1) -> None:
        """Tick the legal-representative certificate (法定代表人证书)."""
        self._call(_lib.zrca_application_set_legal_rep, self._h, int(id_type), _lib.b(id_number), years, count)

    def add_person(self, name: str, id_number: str, position: str, years: int = 1, count: int = 1) -> int:
        """Add a person (其他个人证书); returns the index for ``person_scan_part()``."""
        idx = ctypes.c_size_t()
        self._call(_lib.zrca_application_add_person, self._h, ctypes.byref(idx), _lib.b(name),
                   _lib.b(id_number), _lib.b(position), years, count)
        return int(idx.value)

    def add_known_person(self, person: "Person", years: int = 1, count: int = 1) -> int:
        """Add a person applied for before (添加), as the platform has them on record (a ``Person``
        from ``Session.persons()``; the library does the same from its C record)."""
        return self.add_person(person.name, person.id_number, person.position, years, count)

    @property
    def person_count(self) -> int:
        """How many persons the application lists."""
        return int(_lib.zrca_application_person_count(self._h))

    def attach_file(self, part: str, path: PathLike) -> None:
        """Attach a file by path; it is checked on validate and streamed on submit, so it must
        stay in place until then."""
        self._call(_lib.zrca_application_attach_file, self._h, _lib.b(part, "the part name"), _lib.p(path))

    def attach_data(self, part: str, data: bytes, filename: Optional[str] = None) -> None:
        """Attach bytes (copied)."""
        data = bytes(data)
        self._call(_lib.zrca_application_attach_data, self._h, _lib.b(part), data, len(data), _lib.b(filename))

    def set_contact(self, name: str, mobile: str, email: str) -> None:
        """联系人, 手机号码, 电子邮箱."""
        self._call(_lib.zrca_application_set_contact, self._h, _lib.b(name), _lib.b(mobile), _lib.b(email))

    def set_remark(self, remark: Optional[str]) -> None:
        """The remark (备注); None removes it."""
        self._call(_lib.zrca_application_set_remark, self._h, _lib.b(remark))

    def validate(self) -> None:
        """Check every rule locally; raises ValidationError listing every violation."""
        self._call(_lib.zrca_application_validate, self._h)

    @property
    def amount_fen(self) -> int:
        """The amount to pay in fen (分), as the library computes it from the fee schedule."""
        out = ctypes.c_int64()
        self._call(_lib.zrca_application_amount, ctypes.byref(out), self._h)
        return int(out.value)

    @property
    def amount(self) -> Decimal:
        """The amount in yuan."""
        return Decimal(self.amount_fen) / 100

    @property
    def idempotency_key(self) -> str:
        """The key that makes a resubmission of this application the same order (Idempotency-Key)."""
        return _lib.s(_lib.zrca_application_idempotency_key(self._h)) or ""

    def to_json(self) -> str:
        """The application's JSON part as it would be sent."""
        out = ctypes.c_void_p()
        self._call(_lib.zrca_application_to_json, ctypes.byref(out), self._h)
        try:
            return (ctypes.string_at(out.value) if out.value else b"").decode("utf-8")
        finally:
            _lib.zrca_free(out)

    def to_dict(self) -> Dict[str, Any]:
        """The application's JSON part as a dict (``to_json()`` parsed)."""
        return json.loads(self.to_json())

    def submit(self) -> "Order":
        """Validate, then send (下一步). Nothing is sent when validation fails."""
        from .order import Order
        p = _lib.OrderP()
        self._call(_lib.zrca_application_submit, ctypes.byref(p), self._h)
        return Order(p, self.session)

    def __repr__(self) -> str:
        return "<Application %s>" % ("closed" if self.closed else self.idempotency_key)
