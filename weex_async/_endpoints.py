"""Endpoints as data: one frozen spec per endpoint, which the client's single call path runs.

An endpoint without weights cannot be declared, so it cannot be sent: the limiter never fails open.
A new endpoint (or API version) is a new table entry, not new code.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from ._limiter._admission import Priority
from ._wire import (
    V2BatchPlaceAnswer,
    V2Order,
    V2PlaceAnswer,
    V3CancelItem,
    V3Order,
    V3PlaceItem,
)
from .models import BatchCancelResult, CancelOrderResult, ServerTime

__all__ = [
    "CANCEL_ALL_ORDERS",
    "CANCEL_ALL_ORDERS_V3",
    "CANCEL_BATCH_ORDERS",
    "CANCEL_BATCH_ORDERS_V3",
    "CANCEL_ORDER",
    "CANCEL_ORDER_V3",
    "OPEN_ORDERS",
    "OPEN_ORDERS_V3",
    "ORDER_DETAIL",
    "ORDER_DETAIL_V3",
    "PLACE_ORDER",
    "PLACE_ORDERS",
    "PLACE_ORDERS_V3",
    "PLACE_ORDER_V3",
    "SERVER_TIME",
    "Endpoint",
]

T = TypeVar("T")


def _check_weights(instance: Endpoint[Any], attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{instance.name}: {attribute.name} must be an int >= 0")


@attrs.frozen
class Endpoint(Generic[T]):
    """One REST endpoint.

    Attributes:
        name: the client method's name.
        method: the HTTP method.
        path: the request path.
        ip_weight: weight charged to the IP pool per call (every call has one).
        uid_weight: weight charged to the account pool per call (every signed call has one).
        signed: whether the call carries ACCESS-* headers.
        response_type: the model the answer decodes into.
        idempotent: safe to send again when the first answer was lost.
        priority: the call's place in the limiter's queue.
        trade: counts against the trade-rate cap (place / cancel).
    """

    name: str
    method: str
    path: str
    ip_weight: int = attrs.field(validator=_check_weights)
    uid_weight: int = attrs.field(validator=_check_weights)
    signed: bool
    response_type: type[T]
    idempotent: bool
    priority: Priority
    trade: bool = False

    def __attrs_post_init__(self) -> None:
        if self.ip_weight < 1 or (self.signed and self.uid_weight < 1):
            raise ValueError(f"{self.name}: every call needs its IP (and, if signed, UID) weight")


CANCEL_BATCH_ORDERS: Endpoint[BatchCancelResult] = Endpoint(
    name="cancel_batch_orders",
    method="POST",
    path="/capi/v2/order/cancel_batch_orders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=BatchCancelResult,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

#: V3's batch cancel: a JSON body on DELETE (signed like POST), at most 10 ids, an array answer.
CANCEL_BATCH_ORDERS_V3: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    name="cancel_batch_orders_v3",
    method="DELETE",
    path="/capi/v3/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

SERVER_TIME: Endpoint[ServerTime] = Endpoint(
    name="server_time",
    method="GET",
    path="/capi/v2/market/time",
    ip_weight=1,
    uid_weight=0,
    signed=False,
    response_type=ServerTime,
    idempotent=True,
    priority=Priority.SYSTEM,
)


# -- the companion endpoints (weex-api.md §7; V3 weights from WEEX's V3 pages) --------------------
# Cancels are idempotent (sent again, the worst answer is "not found") and outrank everything else;
# placements are never sent twice (a lost answer may hide a live order); queries come last.

CANCEL_ORDER: Endpoint[CancelOrderResult] = Endpoint(
    name="cancel_order",
    method="POST",
    path="/capi/v2/order/cancel_order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=CancelOrderResult,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

#: The id goes in the query string: ``?orderId=`` or ``?origClientOrderId=``.
CANCEL_ORDER_V3: Endpoint[V3CancelItem] = Endpoint(
    name="cancel_order_v3",
    method="DELETE",
    path="/capi/v3/order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=V3CancelItem,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

#: V2's answer is not documented: decoded as plain JSON (``object``) and read defensively.
CANCEL_ALL_ORDERS: Endpoint[object] = Endpoint(
    name="cancel_all_orders",
    method="POST",
    path="/capi/v2/order/cancelAllOrders",
    ip_weight=40,
    uid_weight=50,
    signed=True,
    response_type=object,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

CANCEL_ALL_ORDERS_V3: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    name="cancel_all_orders_v3",
    method="DELETE",
    path="/capi/v3/allOpenOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

PLACE_ORDER: Endpoint[V2PlaceAnswer] = Endpoint(
    name="place_order",
    method="POST",
    path="/capi/v2/order/placeOrder",
    ip_weight=2,
    uid_weight=5,
    signed=True,
    response_type=V2PlaceAnswer,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)

PLACE_ORDER_V3: Endpoint[V3PlaceItem] = Endpoint(
    name="place_order_v3",
    method="POST",
    path="/capi/v3/order",
    ip_weight=2,
    uid_weight=5,
    signed=True,
    response_type=V3PlaceItem,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)

#: At most 20 orders, all of one symbol.
PLACE_ORDERS: Endpoint[V2BatchPlaceAnswer] = Endpoint(
    name="place_orders",
    method="POST",
    path="/capi/v2/order/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=V2BatchPlaceAnswer,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)

#: At most 10 orders (WEEX's V3 page), each with its own symbol.
PLACE_ORDERS_V3: Endpoint[tuple[V3PlaceItem, ...]] = Endpoint(
    name="place_orders_v3",
    method="POST",
    path="/capi/v3/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3PlaceItem, ...],
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)

OPEN_ORDERS: Endpoint[tuple[V2Order, ...]] = Endpoint(
    name="open_orders",
    method="GET",
    path="/capi/v2/order/current",
    ip_weight=2,
    uid_weight=2,
    signed=True,
    response_type=tuple[V2Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)

OPEN_ORDERS_V3: Endpoint[tuple[V3Order, ...]] = Endpoint(
    name="open_orders_v3",
    method="GET",
    path="/capi/v3/openOrders",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=tuple[V3Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)

ORDER_DETAIL: Endpoint[V2Order] = Endpoint(
    name="order_detail",
    method="GET",
    path="/capi/v2/order/detail",
    ip_weight=2,
    uid_weight=2,
    signed=True,
    response_type=V2Order,
    idempotent=True,
    priority=Priority.QUERY,
)

ORDER_DETAIL_V3: Endpoint[V3Order] = Endpoint(
    name="order_detail_v3",
    method="GET",
    path="/capi/v3/order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=V3Order,
    idempotent=True,
    priority=Priority.QUERY,
)
