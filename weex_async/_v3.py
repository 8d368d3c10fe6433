"""WEEX API V3: ``/capi/v3/...``, camelCase bodies, ``BTCUSDT`` symbols, ids in the query for
single-order calls.

Everything V3 is here: its endpoints (paths, weights), its wire shapes, how each call is spelled and
how each answer becomes a public model. Weights and shapes, and how sure each is:
docs/weex-facts.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

import attrs

from ._api import (
    TRIGGER_PAGE,
    Api,
    ClosePositionItem,
    Placement,
    accepted,
    decimal_text,
    order_prices,
)
from ._checks import (
    MAX_IDS_V3,
    MAX_ORDERS_V3,
    V3_CID_PATTERN,
    Key,
    check_symbol,
    one_name,
    page_query,
)
from ._endpoints import Call, Endpoint, declared, request
from ._limiter import Priority
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

__all__ = ["ENDPOINTS", "V3Api", "V3CancelItem", "cancel_result"]


# -- wire shapes ----------------------------------------------------------------------------------


@attrs.frozen
class V3CancelItem:
    """One item of the cancel answers (batch cancel, cancel one, cancel all)."""

    orderId: str = ""
    origClientOrderId: str = ""
    success: bool = False
    errorCode: str = ""
    errorMessage: str = ""


@attrs.frozen
class V3PlaceItem:
    """The answer of ``POST /capi/v3/order``."""

    orderId: str = ""
    clientOrderId: str = ""
    success: bool = False
    errorCode: str = ""
    errorMessage: str = ""


@attrs.frozen
class V3Order:
    """One order of ``openOrders`` and ``GET /capi/v3/order``."""

    orderId: str
    symbol: str = ""
    clientOrderId: str = ""
    avgPrice: Decimal | None = None
    cumQuote: Decimal | None = None
    executedQty: Decimal | None = None
    origQty: Decimal | None = None
    price: Decimal | None = None
    reduceOnly: bool = False
    side: str = ""
    positionSide: str = ""
    status: str = ""
    stopPrice: Decimal | None = None
    time: int = 0
    timeInForce: str = ""
    type: str = ""
    updateTime: int = 0
    workingType: str = ""
    priceProtect: bool = False
    priceMatch: str = ""
    selfTradePreventionMode: str = ""
    goodTillDate: int = 0


@attrs.frozen
class V3AlgoOrder:
    """One order of ``openAlgoOrders`` (ids and times as strings or numbers)."""

    algoId: str
    clientAlgoId: str = ""
    algoType: str = ""
    orderType: str = ""
    symbol: str = ""
    side: str = ""
    positionSide: str = ""
    timeInForce: str = ""
    quantity: Decimal | None = None
    algoStatus: str = ""
    actualOrderId: str = ""
    actualPrice: Decimal | None = None
    triggerPrice: Decimal | None = None
    price: Decimal | None = None
    tpTriggerPrice: Decimal | None = None
    tpPrice: Decimal | None = None
    slTriggerPrice: Decimal | None = None
    slPrice: Decimal | None = None
    tpOrderType: str = ""
    workingType: str = ""
    closePosition: bool = False
    reduceOnly: bool = False
    createTime: int = 0
    updateTime: int = 0
    triggerTime: int = 0


@attrs.frozen
class V3ServerTime:
    """``GET /capi/v3/market/time``: ``{"serverTime": 1764505776347}``."""

    serverTime: int


# -- endpoints -------------------------------------------------------------------------------------

SERVER_TIME: Endpoint[V3ServerTime] = Endpoint(
    "server_time_v3",
    "GET",
    "/capi/v3/market/time",
    ip_weight=1,
    uid_weight=0,
    signed=False,
    response_type=V3ServerTime,
    idempotent=True,
    priority=Priority.SYSTEM,
)

#: A JSON body on DELETE (signed like POST), at most 10 ids, an array answer.
CANCEL_BATCH_ORDERS: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    "cancel_batch_orders_v3",
    "DELETE",
    "/capi/v3/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
#: The id goes in the query string: ``?orderId=`` or ``?origClientOrderId=``.
CANCEL_ORDER: Endpoint[V3CancelItem] = Endpoint(
    "cancel_order_v3",
    "DELETE",
    "/capi/v3/order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=V3CancelItem,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
CANCEL_ALL_ORDERS: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    "cancel_all_orders_v3",
    "DELETE",
    "/capi/v3/allOpenOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)
PLACE_ORDER: Endpoint[V3PlaceItem] = Endpoint(
    "place_order_v3",
    "POST",
    "/capi/v3/order",
    ip_weight=2,
    uid_weight=5,
    signed=True,
    response_type=V3PlaceItem,
    idempotent=False,
    priority=Priority.PLACE,
    trade=True,
)
# No batch placement: WEEX documents no V3 batch-place endpoint, and the live exchange answers
# ``POST /capi/v3/batchOrders`` with ``{"code": -1150, "msg": "Request method 'POST' not
# supported"}`` (docs/weex-facts.md). ``place_orders`` sends one ``PLACE_ORDER`` per order.
OPEN_ORDERS: Endpoint[tuple[V3Order, ...]] = Endpoint(
    "open_orders_v3",
    "GET",
    "/capi/v3/openOrders",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=tuple[V3Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
ORDER_DETAIL: Endpoint[V3Order] = Endpoint(
    "order_detail_v3",
    "GET",
    "/capi/v3/order",
    ip_weight=2,
    uid_weight=3,
    signed=True,
    response_type=V3Order,
    idempotent=True,
    priority=Priority.QUERY,
)

#: Closed orders (ordinary and algo), most recent first: ``limit``, ``page`` (read as from 1, like
#: ``openAlgoOrders``). ccxt and Weex.Net charge UID 10; the IP weight is not documented: 10.
ORDER_HISTORY: Endpoint[tuple[V3Order, ...]] = Endpoint(
    "order_history_v3",
    "GET",
    "/capi/v3/order/history",
    ip_weight=10,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3Order, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
#: Open trigger ("algo") orders: ``page`` from 1 (WEEX's V3 page; ccxt and Weex.Net charge 3).
OPEN_TRIGGER_ORDERS: Endpoint[tuple[V3AlgoOrder, ...]] = Endpoint(
    "open_trigger_orders_v3",
    "GET",
    "/capi/v3/openAlgoOrders",
    ip_weight=3,
    uid_weight=3,
    signed=True,
    response_type=tuple[V3AlgoOrder, ...],
    idempotent=True,
    priority=Priority.QUERY,
)
#: Cancel every trigger order (``symbol`` optional, in the query like ``allOpenOrders``).
CANCEL_ALL_TRIGGERS: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    "cancel_all_trigger_orders_v3",
    "DELETE",
    "/capi/v3/algoOpenOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

#: Market-close every position (of one symbol). Never retried: it places market orders. WEEX
#: gives UID 50 (V3); the IP weight (and V2's) is not documented: 50 is charged, never too little.
CLOSE_POSITIONS: Endpoint[tuple[ClosePositionItem, ...]] = Endpoint(
    "close_positions_v3",
    "POST",
    "/capi/v3/closePositions",
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


def _reason(item: V3CancelItem) -> str:
    if item.success:
        return ""
    if item.errorCode and item.errorMessage and item.errorMessage != item.errorCode:
        return f"{item.errorCode} ({item.errorMessage})"
    return item.errorCode or item.errorMessage


def cancel_result(item: V3CancelItem) -> CancelOrderResult:
    """One V3 cancel item as the public ``CancelOrderResult``."""
    return CancelOrderResult(
        order_id=item.orderId,
        client_oid=item.origClientOrderId,
        result=item.success,
        err_msg=_reason(item),
        err_code=item.errorCode or None,
    )


def _batch_result(answer: tuple[V3CancelItem, ...]) -> BatchCancelResult:
    items = tuple(cancel_result(item) for item in answer)
    return BatchCancelResult(
        result=all(item.result for item in items),
        order_ids=tuple(i.order_id for i in items if i.result and i.order_id),
        client_oids=tuple(i.client_oid for i in items if i.result and i.client_oid),
        cancel_order_result_list=items,
        fail_infos=tuple(item for item in items if not item.result),
    )


def _server_time(answer: V3ServerTime) -> ServerTime:
    """V3 answers milliseconds only; ``epoch`` and ``iso`` are derived, as V2 answers them."""
    ms = answer.serverTime
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return ServerTime(ms, f"{ms // 1000}.{ms % 1000:03d}", f"{iso}.{ms % 1000:03d}Z")


def _cancel_all_result(answer: tuple[V3CancelItem, ...]) -> CancelAllResult:
    return CancelAllResult(tuple(cancel_result(item) for item in answer), None)


def _ack(item: V3PlaceItem, client_oid: str) -> OrderAck:
    return OrderAck(
        item.orderId,
        item.clientOrderId or client_oid,
        item.success,
        item.errorCode,
        item.errorMessage,
    )


def _order(answer: V3Order) -> Order:
    return Order(
        order_id=answer.orderId,
        client_oid=answer.clientOrderId,
        symbol=answer.symbol,
        status=answer.status,
        side=answer.side.upper(),
        position_side=answer.positionSide.upper(),
        quantity=answer.origQty or Decimal(0),
        filled_quantity=answer.executedQty or Decimal(0),
        price=answer.price or None,  # "0" on a market order
        avg_price=answer.avgPrice or None,  # "0" before a fill
        time_in_force=answer.timeInForce.upper(),
        created_at=answer.time,
    )


def _orders(answer: tuple[V3Order, ...]) -> tuple[Order, ...]:
    return tuple(_order(item) for item in answer)


def _trigger(answer: V3AlgoOrder) -> TriggerOrder:
    return TriggerOrder(
        order_id=answer.algoId,
        client_oid=answer.clientAlgoId,
        symbol=answer.symbol,
        status=answer.algoStatus,
        side=answer.side.upper(),
        position_side=answer.positionSide.upper(),
        quantity=answer.quantity or Decimal(0),
        trigger_price=answer.triggerPrice or None,
        created_at=answer.createTime,
    )


def _triggers(answer: tuple[V3AlgoOrder, ...]) -> tuple[TriggerOrder, ...]:
    return tuple(_trigger(item) for item in answer)


class V3Api(Api):
    """WEEX API V3."""

    version = "v3"
    places_one_by_one = True  # WEEX refuses V3 batch placement
    max_ids = MAX_IDS_V3
    max_orders = MAX_ORDERS_V3
    cid_pattern = V3_CID_PATTERN
    endpoints = ENDPOINTS
    close_positions_endpoint = CLOSE_POSITIONS

    def server_time(self) -> Call[ServerTime]:
        return request(SERVER_TIME, _server_time)

    def cancel_batch(
        self, key: Key, names: Sequence[str], symbol: str | None
    ) -> Call[BatchCancelResult]:
        # V3 documents ids as Array<Long>, and no symbol (none is sent).
        body = (
            {"orderIdList": [int(name) for name in names]}
            if key == "ids"
            else {"origClientOrderIdList": list(names)}
        )
        return request(CANCEL_BATCH_ORDERS, _batch_result, body=body)

    def cancel_order(
        self, order_id: str | int | None, client_oid: str | None, symbol: str | None
    ) -> Call[CancelOrderResult]:
        key, name = one_name(order_id, client_oid, self.cid_pattern)
        check_symbol(symbol, self.version)  # checked, not sent: V3 documents no symbol here
        params = {"orderId": name} if key == "ids" else {"origClientOrderId": name}
        return request(CANCEL_ORDER, cancel_result, params=params)

    def cancel_all(self, symbol: str | None) -> Call[CancelAllResult]:
        check_symbol(symbol, self.version)
        params = {"symbol": symbol} if symbol else None
        return request(CANCEL_ALL_ORDERS, _cancel_all_result, params=params)

    @staticmethod
    def _order_body(order: OrderRequest) -> dict[str, str]:
        body = {
            "symbol": order.symbol,
            "side": order.side,
            "positionSide": order.position_side,
            "type": order.order_type,
            "quantity": decimal_text(order.quantity),
            "newClientOrderId": order.client_oid,
        }
        if order.order_type == "LIMIT":
            body["timeInForce"] = order.time_in_force
        return {**body, **order_prices(order, "tpTriggerPrice", "slTriggerPrice")}

    def place_order(self, order: OrderRequest) -> Call[OrderAck]:
        order = self.check_order(order)

        def ack(answer: V3PlaceItem) -> OrderAck:
            return accepted(_ack(answer, order.client_oid))

        return request(PLACE_ORDER, ack, body=self._order_body(order))

    def place_orders(self, orders: Sequence[OrderRequest]) -> tuple[Placement, ...]:
        """One ``POST /capi/v3/order`` per order: V3 has no batch placement WEEX accepts. Each
        answer is the order's ack (``success: false`` is a refused order, not an error)."""

        def placement(order: OrderRequest) -> Placement:
            def ack(answer: V3PlaceItem) -> tuple[OrderAck, ...]:
                return (_ack(answer, order.client_oid),)

            return Placement(request(PLACE_ORDER, ack, body=self._order_body(order)), (order,))

        return tuple(placement(order) for order in self.check_orders(orders))

    def open_orders(
        self, symbol: str | None, limit: int | None, page: int | None
    ) -> Call[tuple[Order, ...]]:
        return request(OPEN_ORDERS, _orders, params=page_query(symbol, limit, page, self.version))

    def order_detail(self, order_id: str | int) -> Call[Order]:
        _, name = one_name(order_id, None, None)
        return request(ORDER_DETAIL, _order, params={"orderId": name})

    def order_history(self, symbol: str | None, limit: int, page: int) -> Call[tuple[Order, ...]]:
        query = page_query(symbol, limit, page, self.version)
        query["page"] = str(page + 1)  # V3 counts pages from 1
        return request(ORDER_HISTORY, _orders, params=query)

    def open_trigger_orders(self, symbol: str | None) -> Call[tuple[TriggerOrder, ...]]:
        # V3 counts pages from 1 (the first page is the default: none is sent).
        return request(
            OPEN_TRIGGER_ORDERS,
            _triggers,
            params=page_query(symbol, TRIGGER_PAGE, None, self.version),
        )

    def cancel_all_triggers(self, symbol: str | None) -> Call[CancelAllResult]:
        check_symbol(symbol, self.version)
        params = {"symbol": symbol} if symbol else None
        return request(CANCEL_ALL_TRIGGERS, _cancel_all_result, params=params)
