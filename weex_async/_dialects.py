"""How each API version spells each call: endpoints, request bodies and queries, answers.

``WeexClient(api_version=...)`` picks one dialect, and every method goes through it, so user code
is the same on V2 and V3 and gets the same result types back. A difference between the versions is
found here, by the call's name, and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
import cattrs

from ._cancel import check_symbol, orders_to_cancel
from ._decode import CONVERTER
from ._endpoints import (
    CANCEL_ALL_ORDERS,
    CANCEL_ALL_ORDERS_V3,
    CANCEL_BATCH_ORDERS,
    CANCEL_BATCH_ORDERS_V3,
    CANCEL_ORDER,
    CANCEL_ORDER_V3,
    OPEN_ORDERS,
    OPEN_ORDERS_V3,
    ORDER_DETAIL,
    ORDER_DETAIL_V3,
    PLACE_ORDER,
    PLACE_ORDER_V3,
    PLACE_ORDERS,
    PLACE_ORDERS_V3,
    Endpoint,
)
from ._wire import (
    V2BatchPlaceAnswer,
    V2Order,
    V2PlaceAnswer,
    V3CancelItem,
    V3Order,
    V3PlaceItem,
)
from .errors import InvalidRequestError
from .models import (
    CLIENT_OID_PATTERN,
    BatchCancelResult,
    CancelAllResult,
    CancelOrderResult,
    Order,
    OrderAck,
    OrderRequest,
)

__all__ = ["DIALECTS", "OUTCOME_UNKNOWN", "V2", "V3", "Call", "Dialect"]

#: ``OrderAck.error_code`` of an order the exchange's answer did not mention: it may be live.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


@attrs.frozen
class Call:
    """One request as the version spells it: the endpoint, a JSON body and/or a query."""

    endpoint: Endpoint[Any]
    body: Any = None
    params: dict[str, str] | None = None


def _text(number: Decimal) -> str:
    """A decimal as WEEX wants it: a plain string, never an exponent (``1E+2`` -> ``"100"``)."""
    return format(number, "f")


def _prices(order: OrderRequest, take_profit_field: str, stop_loss_field: str) -> dict[str, str]:
    """The order's prices that are set, under the version's field names."""
    prices = {
        "price": order.price,
        take_profit_field: order.take_profit_price,
        stop_loss_field: order.stop_loss_price,
    }
    return {field: _text(value) for field, value in prices.items() if value is not None}


def _id_or_cid(order_id: str | None, client_oid: str | None) -> tuple[str, str]:
    if (order_id is None) == (client_oid is None):
        raise InvalidRequestError("pass order_id or client_oid (exactly one)")
    if order_id is not None:
        orders_to_cancel([order_id], None, allow_empty=False)
        return "ids", order_id
    assert client_oid is not None
    orders_to_cancel(None, [client_oid], allow_empty=False)
    return "cids", client_oid


def _page_params(symbol: str | None, limit: int | None, page: int | None) -> dict[str, str]:
    check_symbol(symbol)
    params: dict[str, str] = {}
    if symbol is not None:
        params["symbol"] = symbol
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidRequestError("limit must be an integer from 1 to 100")
        params["limit"] = str(limit)
    if page is not None:
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise InvalidRequestError("page must be an integer >= 0")
        params["page"] = str(page)
    return params


def _order_id_params(order_id: str) -> dict[str, str]:
    orders_to_cancel([order_id], None, allow_empty=False)
    return {"orderId": order_id}


def _acks(orders: Sequence[OrderRequest], answered: dict[str, OrderAck]) -> tuple[OrderAck, ...]:
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


def _v3_reason(item: V3CancelItem) -> str:
    if item.success:
        return ""
    if item.errorCode and item.errorMessage:
        return f"{item.errorCode} ({item.errorMessage})"
    return item.errorCode or item.errorMessage


def _v3_cancel_result(item: V3CancelItem) -> CancelOrderResult:
    return CancelOrderResult(
        order_id=item.orderId,
        client_oid=item.origClientOrderId,
        result=item.success,
        err_msg=_v3_reason(item),
        err_code=item.errorCode or None,
    )


def _unknown_shape_results(raw: Any) -> tuple[CancelOrderResult, ...]:
    """Per-order verdicts from an undocumented answer (V2 cancel all), read defensively."""
    if isinstance(raw, dict):
        items = [*raw.get("cancelOrderResultList", ()), *raw.get("failInfos", ())]
    elif isinstance(raw, list):
        items = raw
    else:
        return ()
    results: dict[str, CancelOrderResult] = {}
    for item in items:
        try:
            if isinstance(item, dict) and "success" in item:
                result = _v3_cancel_result(CONVERTER.structure(item, V3CancelItem))
            else:
                result = CONVERTER.structure(item, CancelOrderResult)
        except (cattrs.BaseValidationError, TypeError, ValueError, KeyError):
            continue  # kept in ``raw``
        results[result.order_id or result.client_oid] = result  # a failInfos item wins
    return tuple(results.values())


class Dialect:
    """One API version's spelling of every call. Subclassed once per version.

    Attributes:
        version: ``"v2"`` or ``"v3"``.
        endpoint: the batch cancel's endpoint.
        max_ids: the most ids in one batch cancel.
        max_orders: the most orders in one batch placement.
        ids_field: the batch cancel body's field for exchange ids.
        cids_field: the batch cancel body's field for client ids.
        ids_as_numbers: send exchange ids as JSON numbers (V3 documents ``Array<Long>``).
        sends_symbol: the cancel bodies take a ``symbol`` (V2; V3 documents none, so none is sent).
        cid_pattern: a stricter rule for client ids, if the version has one.
    """

    version: str
    endpoint: Endpoint[Any]
    max_ids: int
    max_orders: int
    ids_field: str
    cids_field: str
    ids_as_numbers: bool
    sends_symbol: bool
    cid_pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"<Dialect {self.version}>"

    # -- batch cancel ----------------------------------------------------------------------------

    def request(
        self, ids: Sequence[str] | None, cids: Sequence[str] | None, symbol: str | None
    ) -> dict[str, Any]:
        """Check one batch cancel's arguments and build its body (nothing is sent on error)."""
        key, names = orders_to_cancel(ids, cids, allow_empty=False)
        if len(names) > self.max_ids:
            raise InvalidRequestError(
                f"{len(names)} {key} in one call; WEEX {self.version.upper()} accepts at most "
                f"{self.max_ids} (use cancel_orders for any number)"
            )
        self.check_names(key, names)
        check_symbol(symbol)
        return self.body(key, names, symbol)

    def check_names(self, key: str, names: Sequence[str]) -> None:
        """The version's own rules on ids, beyond the common ones."""
        if key == "cids" and self.cid_pattern is not None:
            for name in names:
                if not self.cid_pattern.fullmatch(name):
                    raise InvalidRequestError(
                        f"client order id {name!r} does not match WEEX {self.version.upper()}'s "
                        f"rule {self.cid_pattern.pattern}"
                    )

    def body(self, key: str, names: Sequence[str], symbol: str | None) -> dict[str, Any]:
        if key == "ids":
            body: dict[str, Any] = {
                self.ids_field: [int(n) for n in names] if self.ids_as_numbers else list(names)
            }
        else:
            body = {self.cids_field: list(names)}
        if symbol is not None and self.sends_symbol:
            body["symbol"] = symbol
        return body

    def result(self, answer: Any) -> BatchCancelResult:
        """The batch cancel's answer as a ``BatchCancelResult``."""
        raise NotImplementedError

    # -- the companion calls ---------------------------------------------------------------------

    def cancel_order(
        self, order_id: str | None, client_oid: str | None, symbol: str | None
    ) -> Call:
        raise NotImplementedError

    def cancel_order_result(self, answer: Any) -> CancelOrderResult:
        raise NotImplementedError

    def cancel_all(self, symbol: str | None) -> Call:
        raise NotImplementedError

    def cancel_all_result(self, answer: Any) -> CancelAllResult:
        raise NotImplementedError

    def order_body(self, order: OrderRequest) -> dict[str, Any]:
        """One order's fields as the version spells them."""
        raise NotImplementedError

    def place_order(self, order: OrderRequest) -> Call:
        raise NotImplementedError

    def place_order_result(self, answer: Any, order: OrderRequest) -> OrderAck:
        raise NotImplementedError

    def place_orders(self, orders: Sequence[OrderRequest]) -> Call:
        raise NotImplementedError

    def place_orders_result(
        self, answer: Any, orders: Sequence[OrderRequest]
    ) -> tuple[OrderAck, ...]:
        raise NotImplementedError

    def open_orders(self, symbol: str | None, limit: int | None, page: int | None) -> Call:
        raise NotImplementedError

    def order_detail(self, order_id: str) -> Call:
        raise NotImplementedError

    def order(self, answer: Any) -> Order:
        """One order of ``open_orders`` or ``order_detail`` as an ``Order``."""
        raise NotImplementedError

    def check_orders(self, orders: Sequence[OrderRequest]) -> None:
        """The checks on a batch placement common to both versions (nothing is sent on error)."""
        if isinstance(orders, OrderRequest) or not all(
            isinstance(order, OrderRequest) for order in orders
        ):
            raise InvalidRequestError("place_orders takes a list of OrderRequest")
        if not 1 <= len(orders) <= self.max_orders:
            raise InvalidRequestError(
                f"WEEX {self.version.upper()} places 1 to {self.max_orders} orders per call, "
                f"got {len(orders)}"
            )
        cids = [order.client_oid for order in orders]
        if len(set(cids)) != len(cids):
            raise InvalidRequestError("each order of a batch needs its own client_oid")
        for order in orders:
            self.check_order(order)

    def check_order(self, order: OrderRequest) -> None:
        if not isinstance(order, OrderRequest):
            raise InvalidRequestError("place_order takes an OrderRequest")
        self.check_names("cids", [order.client_oid])


#: V2 ``type``: (side, position side) -> open long 1, open short 2, close long 3, close short 4.
_V2_TYPES = {
    ("BUY", "LONG"): "1",
    ("SELL", "SHORT"): "2",
    ("SELL", "LONG"): "3",
    ("BUY", "SHORT"): "4",
}
#: V2 ``order_type``: time in force -> 0 normal, 1 post-only, 2 FOK, 3 IOC.
_V2_ORDER_TYPES = {"GTC": "0", "POST_ONLY": "1", "FOK": "2", "IOC": "3"}
#: V2 answers' ``order_type`` -> time in force.
_V2_TIME_IN_FORCE = {
    "normal": "GTC",
    "postonly": "POST_ONLY",
    "fok": "FOK",
    "ioc": "IOC",
    **{code: tif for tif, code in _V2_ORDER_TYPES.items()},
}
_V2_TYPE_NAMES = {"1": "open_long", "2": "open_short", "3": "close_long", "4": "close_short"}


def _v2_side(order_type: str) -> tuple[str, str]:
    """V2 answers' ``type`` (``open_long``, ``burst_liquidate_short``, ...) -> (side, position)."""
    name = _V2_TYPE_NAMES.get(order_type, order_type).lower()
    opening = name.startswith("open_")
    if name.endswith("_long"):
        return ("BUY" if opening else "SELL"), "LONG"
    if name.endswith("_short"):
        return ("SELL" if opening else "BUY"), "SHORT"
    return "", ""


class V2Dialect(Dialect):
    """V2: ``/capi/v2/order/...``, snake_case bodies, ``cmt_btcusdt`` symbols."""

    version = "v2"
    endpoint = CANCEL_BATCH_ORDERS
    max_ids = 50  # the 40912 error's text; not documented
    max_orders = 20
    ids_field = "ids"
    cids_field = "cids"
    ids_as_numbers = False
    sends_symbol = True

    def result(self, answer: Any) -> BatchCancelResult:
        assert isinstance(answer, BatchCancelResult)
        return answer

    def cancel_order(
        self, order_id: str | None, client_oid: str | None, symbol: str | None
    ) -> Call:
        key, name = _id_or_cid(order_id, client_oid)
        check_symbol(symbol)
        body = {"orderId": name} if key == "ids" else {"clientOid": name}
        if symbol is not None:
            body["symbol"] = symbol
        return Call(CANCEL_ORDER, body=body)

    def cancel_order_result(self, answer: Any) -> CancelOrderResult:
        assert isinstance(answer, CancelOrderResult)
        return answer

    def cancel_all(self, symbol: str | None) -> Call:
        check_symbol(symbol)
        body = {"cancelOrderType": "normal"}
        if symbol is not None:
            body["symbol"] = symbol
        return Call(CANCEL_ALL_ORDERS, body=body)

    def cancel_all_result(self, answer: Any) -> CancelAllResult:
        return CancelAllResult(_unknown_shape_results(answer), answer)

    def order_body(self, order: OrderRequest) -> dict[str, Any]:
        body = {
            "client_oid": order.client_oid,
            "size": _text(order.quantity),
            "type": _V2_TYPES[(order.side, order.position_side)],
            "order_type": _V2_ORDER_TYPES[order.time_in_force],
            "match_price": "1" if order.order_type == "MARKET" else "0",
        }
        return {**body, **_prices(order, "presetTakeProfitPrice", "presetStopLossPrice")}

    def place_order(self, order: OrderRequest) -> Call:
        self.check_order(order)
        return Call(PLACE_ORDER, body={"symbol": order.symbol, **self.order_body(order)})

    def place_order_result(self, answer: Any, order: OrderRequest) -> OrderAck:
        assert isinstance(answer, V2PlaceAnswer)
        return OrderAck(answer.order_id, answer.client_oid or order.client_oid)

    def place_orders(self, orders: Sequence[OrderRequest]) -> Call:
        self.check_orders(orders)
        symbols = {order.symbol for order in orders}
        if len(symbols) != 1:
            raise InvalidRequestError("a V2 batch placement takes orders of one symbol only")
        body = {
            "symbol": orders[0].symbol,
            "orderDataList": [self.order_body(order) for order in orders],
        }
        return Call(PLACE_ORDERS, body=body)

    def place_orders_result(
        self, answer: Any, orders: Sequence[OrderRequest]
    ) -> tuple[OrderAck, ...]:
        assert isinstance(answer, V2BatchPlaceAnswer)
        answered = {
            item.client_oid: OrderAck(
                item.order_id, item.client_oid, item.result, item.error_code, item.error_message
            )
            for item in answer.order_info
        }
        return _acks(orders, answered)

    def open_orders(self, symbol: str | None, limit: int | None, page: int | None) -> Call:
        return Call(OPEN_ORDERS, params=_page_params(symbol, limit, page))

    def order_detail(self, order_id: str) -> Call:
        return Call(ORDER_DETAIL, params=_order_id_params(order_id))

    def order(self, answer: Any) -> Order:
        assert isinstance(answer, V2Order)
        side, position_side = _v2_side(answer.type)
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
            time_in_force=_V2_TIME_IN_FORCE.get(
                answer.order_type.lower(), answer.order_type.upper()
            ),
            created_at=answer.createTime,
            fee=answer.fee,
        )


class V3Dialect(Dialect):
    """V3: ``/capi/v3/...``, camelCase bodies, ``BTCUSDT`` symbols, ids in the query for DELETE."""

    version = "v3"
    endpoint = CANCEL_BATCH_ORDERS_V3
    max_ids = 10
    max_orders = 10
    ids_field = "orderIdList"
    cids_field = "origClientOrderIdList"
    ids_as_numbers = True
    sends_symbol = False
    cid_pattern = CLIENT_OID_PATTERN

    def result(self, answer: Any) -> BatchCancelResult:
        items = tuple(_v3_cancel_result(item) for item in answer)
        return BatchCancelResult(
            result=all(item.result for item in items),
            order_ids=tuple(i.order_id for i in items if i.result and i.order_id),
            client_oids=tuple(i.client_oid for i in items if i.result and i.client_oid),
            cancel_order_result_list=items,
            fail_infos=tuple(item for item in items if not item.result),
        )

    def cancel_order(
        self, order_id: str | None, client_oid: str | None, symbol: str | None
    ) -> Call:
        key, name = _id_or_cid(order_id, client_oid)
        self.check_names(key, [name])
        check_symbol(symbol)  # checked, not sent: V3 documents no symbol here
        params = {"orderId": name} if key == "ids" else {"origClientOrderId": name}
        return Call(CANCEL_ORDER_V3, params=params)

    def cancel_order_result(self, answer: Any) -> CancelOrderResult:
        assert isinstance(answer, V3CancelItem)
        return _v3_cancel_result(answer)

    def cancel_all(self, symbol: str | None) -> Call:
        check_symbol(symbol)
        return Call(CANCEL_ALL_ORDERS_V3, params={"symbol": symbol} if symbol else None)

    def cancel_all_result(self, answer: Any) -> CancelAllResult:
        return CancelAllResult(tuple(_v3_cancel_result(item) for item in answer), None)

    def order_body(self, order: OrderRequest) -> dict[str, Any]:
        body = {
            "symbol": order.symbol,
            "side": order.side,
            "positionSide": order.position_side,
            "type": order.order_type,
            "quantity": _text(order.quantity),
            "newClientOrderId": order.client_oid,
        }
        if order.order_type == "LIMIT":
            body["timeInForce"] = order.time_in_force
        return {**body, **_prices(order, "tpTriggerPrice", "slTriggerPrice")}

    def place_order(self, order: OrderRequest) -> Call:
        self.check_order(order)
        return Call(PLACE_ORDER_V3, body=self.order_body(order))

    @staticmethod
    def _ack(item: V3PlaceItem, client_oid: str) -> OrderAck:
        return OrderAck(
            item.orderId,
            item.clientOrderId or client_oid,
            item.success,
            item.errorCode,
            item.errorMessage,
        )

    def place_order_result(self, answer: Any, order: OrderRequest) -> OrderAck:
        assert isinstance(answer, V3PlaceItem)
        return self._ack(answer, order.client_oid)

    def place_orders(self, orders: Sequence[OrderRequest]) -> Call:
        self.check_orders(orders)
        return Call(PLACE_ORDERS_V3, body={"batchOrders": [self.order_body(o) for o in orders]})

    def place_orders_result(
        self, answer: Any, orders: Sequence[OrderRequest]
    ) -> tuple[OrderAck, ...]:
        answered = {item.clientOrderId: self._ack(item, item.clientOrderId) for item in answer}
        return _acks(orders, answered)

    def open_orders(self, symbol: str | None, limit: int | None, page: int | None) -> Call:
        return Call(OPEN_ORDERS_V3, params=_page_params(symbol, limit, page))

    def order_detail(self, order_id: str) -> Call:
        return Call(ORDER_DETAIL_V3, params=_order_id_params(order_id))

    def order(self, answer: Any) -> Order:
        assert isinstance(answer, V3Order)
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


V2 = V2Dialect()
V3 = V3Dialect()
DIALECTS: dict[str, Dialect] = {"v2": V2, "v3": V3}
