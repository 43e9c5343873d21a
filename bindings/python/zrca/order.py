# SPDX-License-Identifier: MIT
"""Orders (我的账户 → 订单管理): read, list, act, wait; items and their one-click update."""
from __future__ import annotations

import ctypes
import datetime as _dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Union

from . import _lib
from ._callbacks import WAIT_THUNK, Slot
from ._handle import Handle, Seconds, to_datetime, to_ms
from .enums import (Business, CertKind, ItemStatus, OrderAction, OrderStatus, PaymentMethod, PaymentStatus,
                    ReviewStatus, ShippingStatus, WaitFor)

if TYPE_CHECKING:
    from .application import Application
    from .session import Session
    from .token import Token
    from .update import PinCallback, ProgressCallback, UpdateResult

#: Wait progress: (order, seconds waited) -> a true value to stop waiting (CallbackStopped).
WaitProgress = Callable[["Order", float], Any]


class OrderItem:
    """One item (one certificate) of an order. Reads through the order each time, so it follows
    the order's refreshes; it keeps the order alive."""

    __slots__ = ("order", "_i")

    def __init__(self, order: "Order", i: int) -> None:
        self.order = order
        self._i = i

    @property
    def _c(self) -> Any:
        p = _lib.zrca_order_item_at(self.order._h, self._i)
        if not p:
            raise IndexError("the order no longer has item %d" % self._i)
        return p

    @property
    def index(self) -> int:
        """The platform's item number (1-based, 序号), as the update wants it."""
        return int(_lib.zrca_order_item_index(self._c))
    @property
    def kind(self) -> CertKind:
        """The kind of certificate."""
        return CertKind(_lib.zrca_order_item_kind(self._c))
    @property
    def holder(self) -> str:
        """The holder: a person's name or the enterprise."""
        return _lib.s(_lib.zrca_order_item_holder(self._c)) or ""
    @property
    def holder_id_number(self) -> Optional[str]:
        """The holder's ID number, or None (organisation certificates)."""
        return _lib.s(_lib.zrca_order_item_holder_id_number(self._c))
    @property
    def certificate_name(self) -> str:
        """The certificate's name as the platform lists it."""
        return _lib.s(_lib.zrca_order_item_certificate_name(self._c)) or ""
    @property
    def certificate_type(self) -> str:
        """The certificate's type as the platform lists it."""
        return _lib.s(_lib.zrca_order_item_certificate_type(self._c)) or ""
    @property
    def years(self) -> int:
        """How many years the certificate is renewed for."""
        return int(_lib.zrca_order_item_years(self._c))
    @property
    def quantity(self) -> int:
        """How many certificates the item is for."""
        return int(_lib.zrca_order_item_quantity(self._c))
    @property
    def price_fen(self) -> int:
        """The item's price in fen."""
        return int(_lib.zrca_order_item_price_fen(self._c))
    @property
    def status(self) -> ItemStatus:
        """The item's state."""
        return ItemStatus(_lib.zrca_order_item_status(self._c))
    @property
    def old_serial(self) -> Optional[str]:
        """The serial of the certificate being renewed."""
        return _lib.s(_lib.zrca_order_item_old_serial(self._c))
    @property
    def new_serial(self) -> Optional[str]:
        """The serial of the certificate issued by the update, once done."""
        return _lib.s(_lib.zrca_order_item_new_serial(self._c))
    @property
    def actions(self) -> OrderAction:
        """The actions allowed on this item now (``OrderAction`` flags), e.g. UPDATE."""
        return OrderAction(_lib.zrca_order_item_actions(self._c))

    def update(self, token: "Token", **options: Any) -> "UpdateResult":
        """The one-click update of this item on ``token`` (see ``zrca.update_item``)."""
        from .update import update_item
        return update_item(self.order, self.index, token, **options)

    def __repr__(self) -> str:
        return "<OrderItem %d %s %s %s>" % (self.index, self.kind.wire_name, self.holder, self.status.wire_name)


class Order(Handle):
    """An order: a snapshot refreshed by ``refresh()``, ``wait()`` and every action. It keeps its
    session alive."""

    _free_fn = _lib.zrca_order_free

    def __init__(self, ptr: Any, session: "Session") -> None:
        super().__init__(ptr, session)
        self.session = session

    @classmethod
    def _get(cls, session: "Session", number: str) -> "Order":
        p = _lib.OrderP()
        session._call(_lib.zrca_order_get, ctypes.byref(p), session._h, _lib.b(number))
        return cls(p, session)

    def _call(self, fn: Any, *args: Any, extra: Any = (), pins: Any = ()) -> int:
        """Call a C function on this order through its session (``Session._call``)."""
        return self.session._call(fn, *args, extra=extra, pins=(self,) + tuple(pins))

    def refresh(self) -> bool:
        """Read the order again; True if it changed."""
        return self._call(_lib.zrca_order_refresh, self._h) == 1

    @property
    def number(self) -> str:
        """The platform's order number (订单编号)."""
        return _lib.s(_lib.zrca_order_number(self._h)) or ""
    @property
    def business(self) -> Business:
        """The order's business (renewal, new certificate, ...)."""
        return Business(_lib.zrca_order_business(self._h))
    @property
    def created_at(self) -> Optional[_dt.datetime]:
        """When the order was filed (aware datetime, UTC)."""
        return to_datetime(_lib.zrca_order_created_at(self._h))
    @property
    def updated_at(self) -> Optional[_dt.datetime]:
        """When the order last changed (aware datetime, UTC)."""
        return to_datetime(_lib.zrca_order_updated_at(self._h))
    @property
    def summary(self) -> str:
        """The platform's one-line summary of the order."""
        return _lib.s(_lib.zrca_order_summary(self._h)) or ""
    @property
    def quantity(self) -> int:
        """How many certificates the order holds."""
        return int(_lib.zrca_order_quantity(self._h))
    @property
    def amount_fen(self) -> int:
        """The amount in fen (分)."""
        return int(_lib.zrca_order_amount_fen(self._h))
    @property
    def amount(self) -> Decimal:
        """The amount in yuan, as a Decimal."""
        return Decimal(self.amount_fen) / 100
    @property
    def issuer(self) -> str:
        """The CA that issues the order's certificates."""
        return _lib.s(_lib.zrca_order_issuer(self._h)) or ""
    @property
    def review_status(self) -> ReviewStatus:
        """The platform's review (审核状态)."""
        return ReviewStatus(_lib.zrca_order_review_status(self._h))
    @property
    def review_comment(self) -> Optional[str]:
        """The reviewer's comment (why it was rejected), or None."""
        return _lib.s(_lib.zrca_order_review_comment(self._h))
    @property
    def reviewed_at(self) -> Optional[_dt.datetime]:
        """When the order was reviewed, or None."""
        return to_datetime(_lib.zrca_order_reviewed_at(self._h))
    @property
    def status(self) -> OrderStatus:
        """The order's state (订单状态)."""
        return OrderStatus(_lib.zrca_order_state(self._h))
    @property
    def payment_status(self) -> PaymentStatus:
        """Whether the order is paid."""
        return PaymentStatus(_lib.zrca_order_payment_status(self._h))
    @property
    def payment_method(self) -> PaymentMethod:
        """How the order was paid."""
        return PaymentMethod(_lib.zrca_order_payment_method(self._h))
    @property
    def paid_at(self) -> Optional[_dt.datetime]:
        """When the order was paid, or None."""
        return to_datetime(_lib.zrca_order_paid_at(self._h))
    @property
    def shipping_status(self) -> ShippingStatus:
        """Whether a USB key was shipped for the order."""
        return ShippingStatus(_lib.zrca_order_shipping_status(self._h))
    @property
    def contact_name(self) -> str:
        """The contact person (联系人)."""
        return _lib.s(_lib.zrca_order_contact_name(self._h)) or ""
    @property
    def contact_mobile(self) -> str:
        """The contact's mobile number (手机号码), where the SMS goes."""
        return _lib.s(_lib.zrca_order_contact_mobile(self._h)) or ""
    @property
    def contact_email(self) -> str:
        """The contact's e-mail address (电子邮箱)."""
        return _lib.s(_lib.zrca_order_contact_email(self._h)) or ""
    @property
    def tracking_number(self) -> Optional[str]:
        """The tracking number (运单号) of the USB key posted for a new-certificate order, or None."""
        return _lib.s(_lib.zrca_order_tracking_number(self._h))
    @property
    def shipped_key_serial(self) -> Optional[str]:
        """The serial of the USB key posted for a new-certificate order, as the operator recorded it,
        or None."""
        return _lib.s(_lib.zrca_order_shipped_key_serial(self._h))
    @property
    def rating(self) -> int:
        """The rating given, 0 when none."""
        return int(_lib.zrca_order_rating(self._h))
    @property
    def actions(self) -> OrderAction:
        """The actions the platform allows on the order now (``OrderAction`` flags)."""
        return OrderAction(_lib.zrca_order_actions(self._h))

    @property
    def items(self) -> List[OrderItem]:
        """The items (订单清单); each reads through this order."""
        return [OrderItem(self, i) for i in range(_lib.zrca_order_item_count(self._h))]

    def item(self, index: int) -> OrderItem:
        """The item with the platform's 1-based ``index``."""
        for it in self.items:
            if it.index == index:
                return it
        raise IndexError("order %s has no item %d" % (self.number, index))

    # -------------------------------------------------------------- actions

    def cancel(self, reason: Optional[str] = None) -> None:
        """Cancel the order (撤销), with an optional reason; StateError when not allowed now."""
        self._call(_lib.zrca_order_cancel, self._h, _lib.b(reason))

    def pay(self, method: PaymentMethod) -> None:
        """Pay the order with ``method`` (支付)."""
        self._call(_lib.zrca_order_pay, self._h, int(method))

    def receipt(self) -> bytes:
        """The order's receipt (回执打印) as PDF bytes, as the platform prints it: the order, its items,
        the amounts, the payment and the platform's stamp. Conflict (remote code ``not_paid``) for an
        unpaid order."""
        out, n = _lib.BYTES(), ctypes.c_size_t()
        self._call(_lib.zrca_order_receipt, ctypes.byref(out), ctypes.byref(n), self._h)
        return _lib.take_bytes(out, n)

    def resubmit(self) -> None:
        """Submit a rejected order again (重新提交)."""
        self._call(_lib.zrca_order_resubmit, self._h)

    def receive(self) -> None:
        """Confirm that the USB key posted for a new-certificate order arrived (确认签收, shipping
        待签收 → 已签收); its items then have ``OrderAction.ISSUE`` and ``Update`` issues their
        certificates onto the key. StateError (rule ``receive``) when nothing is awaiting receipt."""
        self._call(_lib.zrca_order_receive, self._h)

    def edit(self, application: "Application") -> None:
        """Replace the order's application with ``application`` (修改) while that is allowed."""
        self._call(_lib.zrca_order_edit, self._h, application._h)

    def rate(self, score: int, comment: Optional[str] = None) -> None:
        """Rate the service (评价): ``score`` 1 to 5, an optional comment."""
        self._call(_lib.zrca_order_rate, self._h, int(score), _lib.b(comment))

    def wait(self, conditions: Union[WaitFor, int] = 0, *, timeout: Seconds = None,
             min_interval: Seconds = None, max_interval: Seconds = None,
             progress: Optional[WaitProgress] = None) -> WaitFor:
        """Poll until a condition holds (default: approved, rejected or closed); returns the
        condition met. ``progress(order, seconds)`` is called after every poll; a true return
        value stops the wait (CallbackStopped), an exception stops it and is re-raised."""
        o = _lib.WaitOptions()
        self._call(_lib.zrca_wait_options_init, ctypes.byref(o), _lib.WAIT_OPTIONS_VERSION)
        o.conditions = int(conditions)
        o.timeout_ms = to_ms(timeout)
        o.min_interval_ms = to_ms(min_interval)
        o.max_interval_ms = to_ms(max_interval)
        slot = None
        if progress is not None:
            slot = Slot(progress, extra=self)
            o.progress = WAIT_THUNK
            o.payload = slot.payload
        try:
            return WaitFor(self._call(_lib.zrca_order_wait, self._h, ctypes.byref(o), extra=[slot]))
        finally:
            if slot is not None:
                slot.release()

    def update_item(self, item_index: int, token: "Token", **options: Any) -> "UpdateResult":
        """The one-click update of item ``item_index`` (1-based) on ``token``."""
        from .update import update_item
        return update_item(self, item_index, token, **options)

    def __repr__(self) -> str:
        if self.closed:
            return "<Order closed>"
        return "<Order %s %s/%s>" % (self.number, self.review_status.wire_name, self.status.wire_name)


def _date(v: Union[str, _dt.date, None]) -> Optional[bytes]:
    if v is None:
        return None
    if isinstance(v, _dt.datetime):
        v = v.astimezone(_dt.timezone.utc).date() if v.tzinfo else v.date()
    if isinstance(v, _dt.date):
        return v.isoformat().encode("ascii")
    return _lib.b(str(v), "a date")


class OrderIterator(Handle, Iterator[Order]):
    """The account's orders, newest first, one page fetched at a time. Yields Order objects
    (each its own handle, to close or let go)."""

    _free_fn = _lib.zrca_order_iter_free

    def __init__(self, session: "Session", business: Business, kind: CertKind,
                 date_from: Union[str, _dt.date, None], date_to: Union[str, _dt.date, None],
                 number: Optional[str], per_page: int) -> None:
        self._ptr = None
        f = _lib.OrderFilter()
        session._call(_lib.zrca_order_filter_init, ctypes.byref(f), _lib.ORDER_FILTER_VERSION)
        f.business = int(business)
        f.kind = int(kind)
        f.from_ = _date(date_from)
        f.to = _date(date_to)
        f.number = _lib.b(number)
        f.per_page = int(per_page)
        p = _lib.OrderIterP()
        session._call(_lib.zrca_order_iter_new, ctypes.byref(p), session._h, ctypes.byref(f))
        super().__init__(p, session)
        self.session = session

    def __iter__(self) -> "OrderIterator":
        return self

    def __next__(self) -> Order:
        if self.closed:
            raise StopIteration
        p = _lib.OrderP()
        rc = self.session._call(_lib.zrca_order_iter_next, self._h, ctypes.byref(p))
        if rc == 0:
            self._total = int(_lib.zrca_order_iter_total(self._h))
            self.close()
            raise StopIteration
        return Order(p, self.session)

    @property
    def total(self) -> int:
        """Matching orders the platform reported (once the first page was read), else 0."""
        if self.closed:
            return getattr(self, "_total", 0)
        return int(_lib.zrca_order_iter_total(self._h))
