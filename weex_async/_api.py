"""``Api``: what every API version can be asked, each answer a typed ``Call``.

``WeexClient(api_version=...)`` holds one ``Api`` (``V2Api`` in ``_v2``, ``V3Api`` in ``_v3``), and
each of its methods is one line: build the version's ``Call``, send it through the request layer.
So user code is the same on V2 and V3 and gets the same result types back; a difference between
the versions lives in its version's module, under the method's name, and nowhere else.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from ._checks import ApiVersion, Key, check_symbol, checked_names, order_names
from ._endpoints import Call, Endpoint, request
from .errors import BadRequestError, InvalidRequestError
from .models import (
    BatchCancelResult,
    CancelAllResult,
    CancelOrderResult,
    ClosePositionResult,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    TriggerOrder,
)

__all__ = [
    "NOT_SENT",
    "OUTCOME_UNKNOWN",
    "TRIGGER_PAGE",
    "Api",
    "ClosePositionItem",
    "Placement",
    "accepted",
    "acks",
    "decimal_text",
    "order_prices",
]

#: Trigger orders per listing: the most WEEX's V2 and V3 pages document (``limit`` up to 100).
TRIGGER_PAGE = 100

#: ``OrderAck.error_code`` of an order the exchange's answer did not mention, or whose request
#: got no clear answer: it may be live.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
#: ``OrderAck.error_code`` of an order whose request was never sent: it is certainly not live.
NOT_SENT = "NOT_SENT"


@attrs.frozen
class Placement:
    """One request of a batch placement: the call, and the orders it carries, in order.

    V2 places a batch in one request; V3 has no batch placement WEEX accepts, so each order is
    its own request (docs/weex-facts.md).
    """

    call: Call[tuple[OrderAck, ...]]
    orders: tuple[OrderRequest, ...]


def decimal_text(number: Decimal) -> str:
    """A decimal as WEEX wants it: a plain string, never an exponent (``1E+2`` -> ``"100"``)."""
    return format(number, "f")


def order_prices(
    order: OrderRequest, take_profit_field: str, stop_loss_field: str
) -> dict[str, str]:
    """The order's prices that are set, under the version's field names."""
    prices = {
        "price": order.price,
        take_profit_field: order.take_profit_price,
        stop_loss_field: order.stop_loss_price,
    }
    return {field: decimal_text(value) for field, value in prices.items() if value is not None}


def accepted(ack: OrderAck) -> OrderAck:
    """A single placement's ack, or the exchange's refusal raised as ``BadRequestError``."""
    if not ack.success:
        raise BadRequestError(
            ack.error_message or "order refused", status_code=200, code=ack.error_code or None
        )
    return ack


def acks(orders: Sequence[OrderRequest], answered: dict[str, OrderAck]) -> tuple[OrderAck, ...]:
    """One ack per order asked for, in the order asked; a silent answer is said to be unknown."""
    return tuple(
        answered.get(order.client_oid)
        or OrderAck(
            "",
            order.client_oid,
            False,
            OUTCOME_UNKNOWN,
            "not in the exchange's answer: the order may be live (look it up by client_oid)",
        )
        for order in orders
    )


@attrs.frozen
class ClosePositionItem:
    """One item of ``closePositions`` (V2 and V3): ids as strings or JSON numbers."""

    positionId: str
    success: bool = False
    successOrderId: str = ""
    errorMessage: str = ""


def _closed_positions(answer: tuple[ClosePositionItem, ...]) -> tuple[ClosePositionResult, ...]:
    return tuple(
        ClosePositionResult(
            position_id=item.positionId,
            success=item.success,
            order_id=item.successOrderId if item.successOrderId not in ("", "0") else "",
            error_message=item.errorMessage,
        )
        for item in answer
    )


class Api(abc.ABC):
    """One API version: how it spells every call, and how its answers become the public models.

    Attributes:
        version: ``"v2"`` or ``"v3"``.
        max_ids: the most ids in one batch cancel.
        max_orders: the most orders in one batch placement.
        cid_pattern: the version's own rule for client order ids, if stricter than the common one.
        endpoints: every endpoint of the version (the fake exchange must route each one).
        places_one_by_one: ``place_orders`` sends a request per order (V3): an error of one is its
            order's ack, even when there is one order; else a batch's one request's error is raised.
    """

    version: ClassVar[ApiVersion]
    places_one_by_one: ClassVar[bool] = False
    max_ids: ClassVar[int]
    max_orders: ClassVar[int]
    cid_pattern: ClassVar[re.Pattern[str] | None] = None
    endpoints: ClassVar[tuple[Endpoint[Any], ...]]

    def __repr__(self) -> str:
        return f"<Api {self.version}>"

    # -- checks common to both versions ------------------------------------------------------------

    def cancel_batch_orders(
        self, ids: Iterable[Any] | None, cids: Iterable[Any] | None, symbol: str | None
    ) -> Call[BatchCancelResult]:
        """One batch cancel, its arguments checked (nothing is sent on error)."""
        key, names = order_names(ids, cids)
        checked_names(key, names, self.max_ids, self.cid_pattern)
        check_symbol(symbol, self.version)
        return self.cancel_batch(key, names, symbol)

    def check_order(self, order: object) -> OrderRequest:
        if not isinstance(order, OrderRequest):
            raise InvalidRequestError("place_order takes an OrderRequest")
        checked_names("cids", [order.client_oid], 1, self.cid_pattern)
        check_symbol(order.symbol, self.version)
        return order

    def check_orders(self, orders: object) -> list[OrderRequest]:
        """A batch placement's orders, checked (nothing is sent on error)."""
        if isinstance(orders, OrderRequest) or not isinstance(orders, Iterable):
            raise InvalidRequestError("place_orders takes a list of OrderRequest; use place_order")
        batch = [self.check_order(order) for order in orders]
        if not 1 <= len(batch) <= self.max_orders:
            raise InvalidRequestError(
                f"WEEX {self.version.upper()} places 1 to {self.max_orders} orders per call, "
                f"got {len(batch)}"
            )
        cids = [order.client_oid for order in batch]
        if len(set(cids)) != len(cids):
            raise InvalidRequestError("each order of a batch needs its own client_oid")
        return batch

    # -- each version's spelling -------------------------------------------------------------------

    @abc.abstractmethod
    def server_time(self) -> Call[ServerTime]:
        """The exchange's clock (public, IP weight 1)."""

    @abc.abstractmethod
    def cancel_batch(
        self, key: Key, names: Sequence[str], symbol: str | None
    ) -> Call[BatchCancelResult]:
        """A batch cancel of ``names`` (already checked)."""

    @abc.abstractmethod
    def cancel_order(
        self, order_id: str | int | None, client_oid: str | None, symbol: str | None
    ) -> Call[CancelOrderResult]:
        """Cancel one order."""

    @abc.abstractmethod
    def cancel_all(self, symbol: str | None) -> Call[CancelAllResult]:
        """Cancel every open order (of one symbol)."""

    @abc.abstractmethod
    def place_order(self, order: OrderRequest) -> Call[OrderAck]:
        """Place one order; its reader raises ``BadRequestError`` when the exchange refuses it."""

    @abc.abstractmethod
    def place_orders(self, orders: Sequence[OrderRequest]) -> tuple[Placement, ...]:
        """The requests that place a batch of orders (checked): their acks, in the order of the
        placements, are one ack per order, in the order given."""

    @abc.abstractmethod
    def open_orders(
        self, symbol: str | None, limit: int | None, page: int | None
    ) -> Call[tuple[Order, ...]]:
        """One page of the account's open orders."""

    @abc.abstractmethod
    def order_detail(self, order_id: str | int) -> Call[Order]:
        """One order, open or not."""

    @abc.abstractmethod
    def order_history(self, symbol: str | None, limit: int, page: int) -> Call[tuple[Order, ...]]:
        """One page (from 0) of the account's closed orders, the most recently closed first."""

    @abc.abstractmethod
    def open_trigger_orders(self, symbol: str | None) -> Call[tuple[TriggerOrder, ...]]:
        """The first page (up to ``TRIGGER_PAGE``) of the open trigger orders."""

    @abc.abstractmethod
    def cancel_all_triggers(self, symbol: str | None) -> Call[CancelAllResult]:
        """Cancel every open trigger order (of one symbol)."""

    def close_positions(self, symbol: str | None) -> Call[tuple[ClosePositionResult, ...]]:
        """Market-close every open position (of one symbol): never retried once it may have
        been sent. Both versions spell it alike (path and weights aside)."""
        check_symbol(symbol, self.version)
        body = {"symbol": symbol} if symbol is not None else {}
        return request(self.close_positions_endpoint, _closed_positions, body=body)

    #: the version's ``closePositions`` endpoint
    close_positions_endpoint: ClassVar[Endpoint[tuple[ClosePositionItem, ...]]]
