"""WEEX's documented answers, read strictly (every key known), and the endpoint table kept whole."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest

from weex_async import (
    CancelOrderResult,
    ClosePositionResult,
    Order,
    OrderAck,
    Priority,
    ServerTime,
    TriggerOrder,
)
from weex_async._api import Api
from weex_async._checks import ApiVersion
from weex_async._client import API
from weex_async._decode import make_converter
from weex_async._endpoints import Call, Endpoint
from weex_async.testing._exchange import WEIGHTS as FAKE_WEIGHTS

from .helpers import limit_order

# -- WEEX's documented answers, decoded strictly ---------------------------------------------------


T = TypeVar("T")
STRICT = make_converter(strict=True)
V2, V3 = API["v2"], API["v3"]


def strict(call: Call[T], payload: Any) -> T:
    """The result of ``call`` for this answer, every key of which must be known."""
    return call.result(httpx.Response(200, json=payload), STRICT)


def test_documented_v2_answers() -> None:
    detail = {
        "symbol": "cmt_btcusdt",
        "size": "2143",
        "client_oid": "892754345",
        "createTime": "1716595200000",
        "filled_qty": "53",
        "fee": "12",
        "order_id": "5716595202300",
        "price": "65000",
        "price_avg": "6200",
        "status": "pending",
        "type": "open_long",
        "order_type": "normal",
        "totalProfits": "100",
    }
    order = strict(V2.order_detail(1), detail)
    assert order == Order(
        "5716595202300",
        "892754345",
        "cmt_btcusdt",
        "pending",
        "BUY",
        "LONG",
        Decimal(2143),
        Decimal(53),
        Decimal(65000),
        Decimal(6200),
        "GTC",
        1716595200000,
        Decimal(12),
    )
    assert strict(V2.open_orders(None, None, None), [detail]) == (order,)
    cancel = {
        "order_id": "596476148997685805",
        "client_oid": None,
        "symbol": "cmt_bchusdt",
        "result": True,
        "err_code": None,
        "err_msg": None,
    }
    assert strict(V2.cancel_order(1, None, None), cancel) == CancelOrderResult(
        "596476148997685805", "", True, "", None, "cmt_bchusdt"
    )
    placed = {"client_oid": None, "order_id": "596471064624628269"}
    ack = strict(V2.place_order(limit_order("v2", "c")), placed)
    assert ack.order_id == "596471064624628269"
    batch = {
        "order_info": [
            {
                "order_id": "596476148997685805",
                "client_oid": "order12346",
                "result": True,
                "error_code": "",
                "error_message": "",
            }
        ],
        "result": True,
    }
    (placement,) = V2.place_orders([limit_order("v2", "order12346")])  # one request
    acks = strict(placement.call, batch)
    assert acks == (OrderAck("596476148997685805", "order12346", True, "", ""),)
    # cancelAllOrders, as WEEX's page shows it: the id a JSON number above 2**53, read exactly.
    cancelled_all = [{"orderId": 696026685023191898, "success": True}]
    result = strict(V2.cancel_all(None), cancelled_all)
    assert result.cancelled == ("696026685023191898",)
    assert result.raw == cancelled_all


def test_documented_v3_answers() -> None:
    detail = {
        "avgPrice": "68990.5",
        "clientOrderId": "my-order-0001",
        "cumQuote": "689.905",
        "executedQty": "0.01",
        "orderId": 702345678901234567,
        "origQty": "0.01",
        "price": "69000",
        "reduceOnly": False,
        "side": "BUY",
        "positionSide": "LONG",
        "status": "FILLED",
        "stopPrice": "0",
        "symbol": "BTCUSDT",
        "time": 1764505700123,
        "timeInForce": "GTC",
        "type": "LIMIT",
        "updateTime": 1764505701456,
        "workingType": "CONTRACT_PRICE",
    }
    order = strict(V3.order_detail(1), detail)
    assert order.order_id == "702345678901234567"  # a JSON number above 2**53, exact
    assert (order.avg_price, order.filled_quantity, order.is_open) == (
        Decimal("68990.5"),
        Decimal("0.01"),
        False,
    )
    open_item = {
        **detail,
        "status": "NEW",
        "avgPrice": "0",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
    }
    (listed,) = strict(V3.open_orders(None, None, None), [open_item])
    assert listed.is_open
    assert listed.avg_price is None
    item = {
        "orderId": "702345678901234567",
        "origClientOrderId": "my-order-0001",
        "success": True,
        "errorCode": "",
        "errorMessage": "",
    }
    assert strict(V3.server_time(), {"serverTime": 1716710918113}) == ServerTime(
        1716710918113, "1716710918.113", "2024-05-26T08:08:38.113Z"
    )
    assert strict(V3.cancel_order(1, None, None), item).result
    all_items = [
        {"orderId": 702345678901234567, "success": True, "errorCode": "", "errorMessage": ""}
    ]
    assert strict(V3.cancel_all(None), all_items).cancelled == ("702345678901234567",)
    answers = [
        {
            "orderId": "702345678901234567",
            "clientOrderId": "batch-1",
            "success": True,
            "errorCode": "",
            "errorMessage": "",
        },
        {
            "orderId": "",
            "clientOrderId": "batch-2",
            "success": False,
            "errorCode": "PRICE_OUT_OF_RANGE",
            "errorMessage": "price is invalid",
        },
    ]
    requested = [limit_order("v3", "batch-1"), limit_order("v3", "batch-2")]
    placements = V3.place_orders(requested)  # one POST /capi/v3/order per order
    assert [p.call.endpoint.path for p in placements] == ["/capi/v3/order"] * 2
    acks = [strict(p.call, answer) for p, answer in zip(placements, answers, strict=True)]
    assert [a[0].error_code for a in acks] == ["", "PRICE_OUT_OF_RANGE"]
    assert strict(V3.place_order(requested[0]), answers[0]).success


def test_trigger_order_answers() -> None:
    # V3: an item of openAlgoOrders as ccxt records it from the live exchange (nulls included).
    algo = {
        "algoId": 737074389748547944,
        "clientAlgoId": "d574f517-cea5-433e-b029-415590d3bb80",
        "algoType": "CONDITIONAL",
        "orderType": "STOP_MARKET",
        "symbol": "DOGEUSDT",
        "side": "SELL",
        "positionSide": "LONG",
        "timeInForce": "IOC",
        "quantity": "100",
        "algoStatus": "UNTRIGGERED",
        "actualOrderId": 737074043320009064,
        "actualPrice": "0.00000",
        "triggerPrice": "0.02000",
        "price": "0.00000",
        "tpTriggerPrice": None,
        "tpPrice": None,
        "slTriggerPrice": None,
        "slPrice": None,
        "tpOrderType": None,
        "workingType": "CONTRACT_PRICE",
        "closePosition": False,
        "reduceOnly": True,
        "createTime": 1775732228695,
        "updateTime": 1775732228695,
        "triggerTime": 0,
    }
    (trigger,) = strict(V3.open_trigger_orders(None), [algo])
    assert trigger == TriggerOrder(
        "737074389748547944",
        "d574f517-cea5-433e-b029-415590d3bb80",
        "DOGEUSDT",
        "UNTRIGGERED",
        "SELL",
        "LONG",
        Decimal(100),
        Decimal("0.02"),
        1775732228695,
    )
    assert trigger.is_open
    # V2: an order's fields plus the trigger price; a numeric status stays open.
    plan = {
        "symbol": "cmt_btcusdt",
        "size": "1",
        "client_oid": None,
        "createTime": "1716595200000",
        "filled_qty": "0",
        "fee": "0",
        "order_id": "5716595202300",
        "price": "65000",
        "price_avg": "0",
        "status": 1,
        "type": "close_long",
        "order_type": "normal",
        "totalProfits": "0",
        "triggerPrice": "64000",
    }
    (trigger,) = strict(V2.open_trigger_orders(None), [plan])
    assert (trigger.order_id, trigger.status, trigger.side, trigger.trigger_price) == (
        "5716595202300",
        "1",
        "SELL",
        Decimal(64000),
    )
    assert trigger.is_open
    # Both cancel-alls of trigger orders answer per order.
    v3_all = [{"orderId": 712345678901234567, "success": True, "errorCode": "", "errorMessage": ""}]
    assert strict(V3.cancel_all_triggers(None), v3_all).cancelled == ("712345678901234567",)
    v2_all = [{"orderId": 696026685023191898, "success": True}]
    assert strict(V2.cancel_all_triggers(None), v2_all).cancelled == ("696026685023191898",)
    # closePositions: one verdict per position, ids exact.
    (closed,) = strict(V3.close_positions(None), [_CLOSED])
    assert closed == ClosePositionResult("689987235755328154", True, "702345678901234580", "")
    refused = {"positionId": 1, "success": False, "successOrderId": 0, "errorMessage": "no"}
    assert strict(V2.close_positions(None), [refused]) == (
        ClosePositionResult("1", False, "", "no"),
    )


# -- the endpoint table: weights, priorities, a route in the fake, a documented answer -------------

#: (method, IP weight, UID weight, priority, idempotent) of every endpoint, by version and name.
TABLE = {
    ("v2", "server_time"): ("GET", 1, 0, Priority.SYSTEM, True),
    ("v3", "server_time_v3"): ("GET", 1, 0, Priority.SYSTEM, True),
    ("v2", "cancel_batch_orders"): ("POST", 5, 10, Priority.CANCEL, True),
    ("v3", "cancel_batch_orders_v3"): ("DELETE", 5, 10, Priority.CANCEL, True),
    ("v2", "cancel_order"): ("POST", 2, 3, Priority.CANCEL, True),
    ("v3", "cancel_order_v3"): ("DELETE", 2, 3, Priority.CANCEL, True),
    ("v2", "cancel_all_orders"): ("POST", 40, 50, Priority.CANCEL, True),
    ("v3", "cancel_all_orders_v3"): ("DELETE", 5, 10, Priority.CANCEL, True),
    ("v2", "place_order"): ("POST", 2, 5, Priority.PLACE, False),
    ("v3", "place_order_v3"): ("POST", 2, 5, Priority.PLACE, False),
    ("v2", "place_orders"): ("POST", 5, 10, Priority.PLACE, False),
    ("v2", "open_orders"): ("GET", 2, 2, Priority.QUERY, True),
    ("v3", "open_orders_v3"): ("GET", 2, 3, Priority.QUERY, True),
    ("v2", "order_detail"): ("GET", 2, 2, Priority.QUERY, True),
    ("v3", "order_detail_v3"): ("GET", 2, 3, Priority.QUERY, True),
    ("v2", "open_trigger_orders"): ("GET", 3, 3, Priority.QUERY, True),
    ("v3", "open_trigger_orders_v3"): ("GET", 3, 3, Priority.QUERY, True),
    ("v3", "cancel_all_trigger_orders_v3"): ("DELETE", 5, 10, Priority.CANCEL, True),
    ("v2", "order_history"): ("GET", 10, 10, Priority.QUERY, True),
    ("v3", "order_history_v3"): ("GET", 10, 10, Priority.QUERY, True),
    ("v2", "close_positions"): ("POST", 50, 50, Priority.CANCEL, False),
    ("v3", "close_positions_v3"): ("POST", 50, 50, Priority.CANCEL, False),
}

_V3_ITEM = {"orderId": 7, "origClientOrderId": "", "success": True, "errorCode": ""}
_V2_ITEM = {"order_id": "7", "client_oid": "", "result": True, "err_msg": ""}
#: closePositions, as WEEX's V3 page and ccxt's recording show it (ids as JSON numbers).
_CLOSED = {
    "positionId": 689987235755328154,
    "success": True,
    "successOrderId": 702345678901234580,
    "errorMessage": "",
}

#: One documented (or seed) answer per endpoint, and the call that reads it.
DOCUMENTED: dict[tuple[str, str], tuple[Callable[[Api], Call[Any]], Any]] = {
    ("v2", "server_time"): (
        lambda api: api.server_time(),
        {"epoch": "1716710918.113", "iso": "2024-05-26T08:08:38.113Z", "timestamp": 1716710918113},
    ),
    ("v3", "server_time_v3"): (lambda api: api.server_time(), {"serverTime": 1716710918113}),
    ("v2", "cancel_batch_orders"): (
        lambda api: api.cancel_batch_orders(["7"], None, None),
        {
            "result": True,
            "orderIds": ["7"],
            "clientOids": [],
            "cancelOrderResultList": [_V2_ITEM],
            "failInfos": [],
        },
    ),
    ("v3", "cancel_batch_orders_v3"): (
        lambda api: api.cancel_batch_orders(["7"], None, None),
        [_V3_ITEM],
    ),
    ("v2", "cancel_order"): (lambda api: api.cancel_order("7", None, None), _V2_ITEM),
    ("v3", "cancel_order_v3"): (lambda api: api.cancel_order("7", None, None), _V3_ITEM),
    ("v2", "cancel_all_orders"): (lambda api: api.cancel_all(None), [_V2_ITEM]),
    ("v3", "cancel_all_orders_v3"): (lambda api: api.cancel_all(None), [_V3_ITEM]),
    ("v2", "place_order"): (
        lambda api: api.place_order(limit_order("v2", "c")),
        {"client_oid": None, "order_id": "7"},
    ),
    ("v3", "place_order_v3"): (
        lambda api: api.place_order(limit_order("v3", "c")),
        {
            "orderId": "7",
            "clientOrderId": "c",
            "success": True,
            "errorCode": "",
            "errorMessage": "",
        },
    ),
    ("v2", "place_orders"): (
        lambda api: api.place_orders([limit_order("v2", "c")])[0].call,
        {"order_info": [{"order_id": "7", "client_oid": "c", "result": True}], "result": True},
    ),
    ("v2", "open_orders"): (lambda api: api.open_orders(None, None, None), []),
    ("v3", "open_orders_v3"): (lambda api: api.open_orders(None, None, None), []),
    ("v2", "order_detail"): (lambda api: api.order_detail("7"), {"order_id": "7"}),
    ("v3", "order_detail_v3"): (lambda api: api.order_detail("7"), {"orderId": 7}),
    ("v2", "open_trigger_orders"): (lambda api: api.open_trigger_orders(None), []),
    ("v3", "open_trigger_orders_v3"): (lambda api: api.open_trigger_orders(None), []),
    ("v3", "cancel_all_trigger_orders_v3"): (lambda api: api.cancel_all_triggers(None), [_V3_ITEM]),
    ("v2", "order_history"): (lambda api: api.order_history(None, 100, 0), [{"order_id": "7"}]),
    ("v3", "order_history_v3"): (
        lambda api: api.order_history(None, 100, 0),
        # an item of /capi/v3/order/history as Weex.Net's recorded sample shows it
        [
            {
                "orderId": 702345678901234567,
                "symbol": "BTCUSDT",
                "side": "BUY",
                "positionSide": "LONG",
                "status": "FILLED",
                "type": "LIMIT",
                "time": 1764400000000,
                "price": "65000",
                "origQty": "0.01",
                "executedQty": "0.01",
                "avgPrice": "64999.5",
                "updateTime": 1764400001234,
                "clientOrderId": "hist-1",
                "cumQuote": "649.995",
                "timeInForce": "GTC",
            }
        ],
    ),
    ("v2", "close_positions"): (lambda api: api.close_positions(None), [_CLOSED]),
    ("v3", "close_positions_v3"): (lambda api: api.close_positions("BTCUSDT"), [_CLOSED]),
}


def every_endpoint() -> list[tuple[str, Endpoint[Any]]]:
    seen: dict[tuple[str, str], tuple[str, Endpoint[Any]]] = {}
    for version, api in API.items():
        for endpoint in api.endpoints:
            seen.setdefault((endpoint.method, endpoint.path), (version, endpoint))
    return list(seen.values())


def test_endpoint_table() -> None:
    declared = {(version, e.name): e for version, e in every_endpoint()}
    assert set(declared) == set(TABLE)
    for key, (method, ip, uid, priority, idempotent) in TABLE.items():
        endpoint = declared[key]
        assert (endpoint.method, endpoint.ip_weight, endpoint.uid_weight) == (method, ip, uid)
        assert (endpoint.priority, endpoint.idempotent) == (priority, idempotent)
        assert endpoint.signed == (priority is not Priority.SYSTEM)
        assert endpoint.trade == (priority in (Priority.CANCEL, Priority.PLACE))


def test_every_endpoint_has_a_route_in_the_fake_exchange() -> None:
    assert {(e.method, e.path): (e.ip_weight, e.uid_weight) for _, e in every_endpoint()} == (
        FAKE_WEIGHTS
    )


@pytest.mark.parametrize(("version", "name"), sorted(TABLE))
def test_every_endpoint_reads_a_documented_answer_strictly(version: ApiVersion, name: str) -> None:
    """A new endpoint without a documented answer here fails: its shape would go unchecked."""
    api = API[version]
    (endpoint,) = [e for v, e in every_endpoint() if (v, e.name) == (version, name)]
    make_call, answer = DOCUMENTED[(version, name)]
    call = make_call(api)
    assert call.endpoint is endpoint
    strict(call, answer)  # raises on any key the shape does not know
