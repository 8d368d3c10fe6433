"""WEEX API V2: ``/capi/v2/...``, snake_case bodies, ``cmt_btcusdt`` symbols.

Everything V2 is here: its endpoints (paths, weights), its wire shapes, how each call is spelled and
how each answer becomes a public model. Weights and shapes: docs/weex-facts.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs

from ._api import (
    TRIGGER_PAGE,
    Api,
    ClosePositionItem,
    Placement,
    accepted,
    acks,
    decimal_text,
    order_prices,
)
from ._checks import (
    MAX_IDS_V2,
    MAX_ORDERS_V2,
    Key,
    check_symbol,
    one_name,
    page_query,
)
from ._decode import CONVERTER, DECODE_ERRORS
from ._endpoints import Call, Endpoint, declared, request
from ._limiter import Priority
from .errors import InvalidRequestError
from .models import (
    BatchCancelResult,
    CancelAllResult,
    CancelOrderResult,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    TriggerOrder,
)

__all__ = ["ENDPOINTS", "V2Api"]


# -- wire shapes (attribute names are the wire's: WEEX mixes conventions within one answer) -------


@attrs.frozen
class V2PlaceAnswer:
    """``placeOrder``: ``{"client_oid": null, "order_id": "596471064624628269"}``."""

    order_id: str
    client_oid: str = ""


@attrs.frozen
class V2PlaceItem:
    """One item of ``batchOrders``' ``order_info``."""

    order_id: str = ""
    client_oid: str = ""
    result: bool = False
    error_code: str = ""
    error_message: str = ""


@attrs.frozen
class V2BatchPlaceAnswer:
    """``batchOrders``: ``{"order_info": [...], "result": true}``."""

    order_info: tuple[V2PlaceItem, ...] = ()
    result: bool = False


@attrs.frozen
class V2Order:
    """One order of ``order/current`` and ``order/detail``."""

    order_id: str
    symbol: str = ""
    size: Decimal | None = None
    client_oid: str = ""
    createTime: int = 0
    filled_qty: Decimal | None = None
    fee: Decimal | None = None
    price: Decimal | None = None
    price_avg: Decimal | None = None
    status: str = ""
    type: str = ""
    order_type: str = ""
    totalProfits: Decimal | None = None
    contracts: int | None = None
    filledQtyContracts: int | None = None


@attrs.frozen
class V2PlanOrder(V2Order):
    """One order of ``order/currentPlan``: an order's fields plus its trigger (whose name varies
    between copies of WEEX's page: ``triggerPrice`` or ``trigger_price``)."""

    triggerPrice: Decimal | None = None
    trigger_price: Decimal | None = None
    triggerPriceType: str = ""
    presetTakeProfitPrice: Decimal | None = None
    presetStopLossPrice: Decimal | None = None


# -- endpoints -------------------------------------------------------------------------------------
# Cancels are idempotent (sent again, the worst answer is "not found") and outrank everything else;
# placements are never sent twice (a lost answer may hide a live order); queries come last.

SERVER_TIME: Endpoint[ServerTime] = Endpoint(
    "server_time",
    "GET",
    "/capi/v2/market/time",
    ip_weight=1,
    uid_weight=0,
    signed=False,
    response_type=ServerTime,
    idempotent=True,
    priority=Priority.SYSTEM,
)
CANCEL_BATCH_ORDERS: Endpoint[BatchCancelResult] = Endpoint(
    "cancel_batch_orders",
    "POST",
    "/capi/v2/order/cancel_batch_orders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=BatchCancelResult,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
CANCEL_ORDER: Endpoint[CancelOrderResult] = Endpoint(
    "cancel_order",
    "POST",
    "/capi/v2/order/cancel_order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=CancelOrderResult,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
#: The answer is not documented: decoded as plain JSON (``object``) and read defensively.
CANCEL_ALL_ORDERS: Endpoint[object] = Endpoint(
    "cancel_all_orders",
    "POST",
    "/capi/v2/order/cancelAllOrders",
    ip_weight=40,
    uid_weight=50,
    signed=True,
    response_type=object,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
PLACE_ORDER: Endpoint[V2PlaceAnswer] = Endpoint(
    "place_order",
    "POST",
    "/capi/v2/order/placeOrder",
    ip_weight=2,
    uid_weight=5,
    signed=True,
    response_type=V2PlaceAnswer,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)
#: At most 20 orders, all of one symbol.
PLACE_ORDERS: Endpoint[V2BatchPlaceAnswer] = Endpoint(
    "place_orders",
    "POST",
    "/capi/v2/order/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=V2BatchPlaceAnswer,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)
OPEN_ORDERS: Endpoint[tuple[V2Order, ...]] = Endpoint(
    "open_orders",
    "GET",
    "/capi/v2/order/current",
    ip_weight=2,
    uid_weight=2,
    signed=True,
    response_type=tuple[V2Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
ORDER_DETAIL: Endpoint[V2Order] = Endpoint(
    "order_detail",
    "GET",
    "/capi/v2/order/detail",
    ip_weight=2,
    uid_weight=2,
    signed=True,
    response_type=V2Order,
    idempotent=True,
    priority=Priority.QUERY,
)

#: Closed orders, most recent first: ``pageSize`` (and ``page``, read as from 0; WEEX's V2 page is
#: not certain about paging). Weights not documented with certainty: 10/10 is charged.
ORDER_HISTORY: Endpoint[tuple[V2Order, ...]] = Endpoint(
    "order_history",
    "GET",
    "/capi/v2/order/history",
    ip_weight=10,
    uid_weight=10,
    signed=True,
    response_type=tuple[V2Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
#: Open trigger ("plan") orders. Weights from WEEX's page (3/3); the item shape is read leniently.
OPEN_TRIGGER_ORDERS: Endpoint[tuple[V2PlanOrder, ...]] = Endpoint(
    "open_trigger_orders",
    "GET",
    "/capi/v2/order/currentPlan",
    ip_weight=3,
    uid_weight=3,
    signed=True,
    response_type=tuple[V2PlanOrder, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
# V2 cancels every trigger order with CANCEL_ALL_ORDERS and ``cancelOrderType: "plan"``.

#: Market-close every position (of one symbol). Never retried: it places market orders. WEEX
#: gives UID 50 (V3); the IP weight (and V2's) is not documented: 50 is charged, never too little.
CLOSE_POSITIONS: Endpoint[tuple[ClosePositionItem, ...]] = Endpoint(
    "close_positions",
    "POST",
    "/capi/v2/order/closePositions",
    ip_weight=50,
    uid_weight=50,
    signed=True,
    response_type=tuple[ClosePositionItem, ...],
    idempotent=False,
    priority=Priority.CANCEL,
    trade=True,
)

ENDPOINTS = declared(globals())


# -- answers into public models -------------------------------------------------------------------

#: ``type``: (side, position side) -> open long 1, open short 2, close long 3, close short 4.
_TYPES = {
    ("BUY", "LONG"): "1",
    ("SELL", "SHORT"): "2",
    ("SELL", "LONG"): "3",
    ("BUY", "SHORT"): "4",
}
#: ``order_type``: time in force -> 0 normal, 1 post-only, 2 FOK, 3 IOC.
_ORDER_TYPES = {"GTC": "0", "POST_ONLY": "1", "FOK": "2", "IOC": "3"}
#: Answers' ``order_type`` -> time in force.
_TIME_IN_FORCE = {
    "normal": "GTC",
    "postonly": "POST_ONLY",
    "fok": "FOK",
    "ioc": "IOC",
    **{code: tif for tif, code in _ORDER_TYPES.items()},
}
_TYPE_NAMES = {"1": "open_long", "2": "open_short", "3": "close_long", "4": "close_short"}


def _side(order_type: str) -> tuple[str, str]:
    """Answers' ``type`` (``open_long``, ``burst_liquidate_short``, ...) -> (side, position)."""
    name = _TYPE_NAMES.get(order_type, order_type).lower()
    opening = name.startswith("open_")
    if name.endswith("_long"):
        return ("BUY" if opening else "SELL"), "LONG"
    if name.endswith("_short"):
        return ("SELL" if opening else "BUY"), "SHORT"
    return "", ""


def _order(answer: V2Order) -> Order:
    side, position_side = _side(answer.type)
    return Order(
        order_id=answer.order_id,
        client_oid=answer.client_oid,
        symbol=answer.symbol,
        status=answer.status,
        side=side,
        position_side=position_side,
        quantity=answer.size or Decimal(0),
        filled_quantity=answer.filled_qty or Decimal(0),
        price=answer.price or None,
        avg_price=answer.price_avg or None,
        time_in_force=_TIME_IN_FORCE.get(answer.order_type.lower(), answer.order_type.upper()),
        created_at=answer.createTime,
        fee=answer.fee,
    )


def _orders(answer: tuple[V2Order, ...]) -> tuple[Order, ...]:
    return tuple(_order(item) for item in answer)


def _trigger(answer: V2PlanOrder) -> TriggerOrder:
    side, position_side = _side(answer.type)
    return TriggerOrder(
        order_id=answer.order_id,
        client_oid=answer.client_oid,
        symbol=answer.symbol,
        status=answer.status,
        side=side,
        position_side=position_side,
        quantity=answer.size or Decimal(0),
        trigger_price=answer.triggerPrice or answer.trigger_price or None,
        created_at=answer.createTime,
    )


def _triggers(answer: tuple[V2PlanOrder, ...]) -> tuple[TriggerOrder, ...]:
    return tuple(_trigger(item) for item in answer)


#: V3's cancel item keys -> V2's.
_V2_WORDS = {
    "orderId": "order_id",
    "origClientOrderId": "client_oid",
    "success": "result",
    "errorCode": "err_code",
    "errorMessage": "err_msg",
}


def _in_v2_words(item: dict[str, Any]) -> dict[str, Any]:
    renamed = {_V2_WORDS[key]: value for key, value in item.items() if key in _V2_WORDS}
    renamed.setdefault("order_id", "")
    renamed.setdefault("client_oid", "")
    return renamed


def _cancel_all_result(raw: object) -> CancelAllResult:
    """Per-order verdicts from the undocumented answer, read defensively: a list of items (of
    either version's shape) or a batch-cancel-style object; anything else is kept in ``raw``."""
    if isinstance(raw, dict):
        items = [*(raw.get("cancelOrderResultList") or ()), *(raw.get("failInfos") or ())]
    elif isinstance(raw, list):
        items = raw
    else:
        return CancelAllResult((), raw)
    results: dict[str, CancelOrderResult] = {}
    for item in items:
        if isinstance(item, dict) and "success" in item:  # an item in V3's words
            item = _in_v2_words(item)
        try:
            result = CONVERTER.structure(item, CancelOrderResult)
        except DECODE_ERRORS:
            continue  # kept in ``raw``
        results[result.order_id or result.client_oid] = result  # a failInfos item wins
    return CancelAllResult(tuple(results.values()), raw)


def _place_orders_result(
    orders: Sequence[OrderRequest],
) -> Callable[[V2BatchPlaceAnswer], tuple[OrderAck, ...]]:
    def convert(answer: V2BatchPlaceAnswer) -> tuple[OrderAck, ...]:
        answered = {
            item.client_oid: OrderAck(
                item.order_id, item.client_oid, item.result, item.error_code, item.error_message
            )
            for item in answer.order_info
        }
        return acks(orders, answered)

    return convert


class V2Api(Api):
    """WEEX API V2."""

    version = "v2"
    max_ids = MAX_IDS_V2
    max_orders = MAX_ORDERS_V2
    endpoints = ENDPOINTS
    close_positions_endpoint = CLOSE_POSITIONS

    def server_time(self) -> Call[ServerTime]:
        return request(SERVER_TIME)

    def cancel_batch(
        self, key: Key, names: Sequence[str], symbol: str | None
    ) -> Call[BatchCancelResult]:
        body: dict[str, Any] = {key: list(names)}
        if symbol is not None:
            body["symbol"] = symbol
        return request(CANCEL_BATCH_ORDERS, body=body)

    def cancel_order(
        self, order_id: str | int | None, client_oid: str | None, symbol: str | None
    ) -> Call[CancelOrderResult]:
        key, name = one_name(order_id, client_oid, self.cid_pattern)
        check_symbol(symbol, self.version)
        body = {"orderId": name} if key == "ids" else {"clientOid": name}
        if symbol is not None:
            body["symbol"] = symbol
        return request(CANCEL_ORDER, body=body)

    def cancel_all(self, symbol: str | None) -> Call[CancelAllResult]:
        check_symbol(symbol, self.version)
        body = {"cancelOrderType": "normal"}
        if symbol is not None:
            body["symbol"] = symbol
        return request(CANCEL_ALL_ORDERS, _cancel_all_result, body=body)

    @staticmethod
    def _order_body(order: OrderRequest) -> dict[str, str]:
        body = {
            "client_oid": order.client_oid,
            "size": decimal_text(order.quantity),
            "type": _TYPES[(order.side, order.position_side)],
            "order_type": _ORDER_TYPES[order.time_in_force],
            "match_price": "1" if order.order_type == "MARKET" else "0",
        }
        return {**body, **order_prices(order, "presetTakeProfitPrice", "presetStopLossPrice")}

    def place_order(self, order: OrderRequest) -> Call[OrderAck]:
        order = self.check_order(order)

        def ack(answer: V2PlaceAnswer) -> OrderAck:
            return accepted(OrderAck(answer.order_id, answer.client_oid or order.client_oid))

        body = {"symbol": order.symbol, **self._order_body(order)}
        return request(PLACE_ORDER, ack, body=body)

    def place_orders(self, orders: Sequence[OrderRequest]) -> tuple[Placement, ...]:
        batch = self.check_orders(orders)
        if len({order.symbol for order in batch}) != 1:
            raise InvalidRequestError("a V2 batch placement takes orders of one symbol only")
        body = {
            "symbol": batch[0].symbol,
            "orderDataList": [self._order_body(order) for order in batch],
        }
        call = request(PLACE_ORDERS, _place_orders_result(batch), body=body)
        return (Placement(call, tuple(batch)),)

    def open_orders(
        self, symbol: str | None, limit: int | None, page: int | None
    ) -> Call[tuple[Order, ...]]:
        return request(OPEN_ORDERS, _orders, params=page_query(symbol, limit, page, self.version))

    def order_detail(self, order_id: str | int) -> Call[Order]:
        _, name = one_name(order_id, None, None)
        return request(ORDER_DETAIL, _order, params={"orderId": name})

    def order_history(self, symbol: str | None, limit: int, page: int) -> Call[tuple[Order, ...]]:
        query = page_query(symbol, limit, page, self.version)
        query["pageSize"] = query.pop("limit")
        return request(ORDER_HISTORY, _orders, params=query)

    def open_trigger_orders(self, symbol: str | None) -> Call[tuple[TriggerOrder, ...]]:
        return request(
            OPEN_TRIGGER_ORDERS, _triggers, params=page_query(symbol, TRIGGER_PAGE, 0, self.version)
        )

    def cancel_all_triggers(self, symbol: str | None) -> Call[CancelAllResult]:
        check_symbol(symbol, self.version)
        body = {"cancelOrderType": "plan"}
        if symbol is not None:
            body["symbol"] = symbol
        return request(CANCEL_ALL_ORDERS, _cancel_all_result, body=body)
