"""The companion endpoints: place, batch place, open orders, order detail, cancel one, cancel all.

Each one against the fake exchange in both API versions (place -> open orders -> cancel), their
documented answers decoded strictly, and what is sent checked byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from weex_async import (
    CancelOrderResult,
    Credentials,
    Order,
    OrderAck,
    OrderRequest,
    Priority,
    RateLimits,
    WeexClient,
)
from weex_async._decode import decode, make_converter
from weex_async._dialects import OUTCOME_UNKNOWN, V2, V3
from weex_async._endpoints import (
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
from weex_async.errors import (
    BadRequestError,
    InvalidRequestError,
    TransportError,
    UnexpectedResponseError,
)
from weex_async.testing import FakeExchange, Fault, serve

from .conftest import API_KEY

SYMBOL = {"v2": "cmt_btcusdt", "v3": "BTCUSDT"}
STRICT = make_converter(strict=True)


def limit_order(version: str, cid: str, price: str = "65000.5", **kwargs: Any) -> OrderRequest:
    return OrderRequest(
        SYMBOL[version], "buy", "long", "0.01", price=price, client_oid=cid, **kwargs
    )


@pytest.fixture(params=["v2", "v3"])
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def vclient(
    creds: Credentials, exchange: FakeExchange, version: str
) -> AsyncIterator[WeexClient]:
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), api_version=version
    ) as client:
        yield client


def weights(exchange: FakeExchange) -> list[tuple[str, int, int]]:
    return [
        (a.path, a.ip_weight, a.uid_weight)
        for a in exchange.arrivals
        if a.path != "/capi/v2/market/time"
    ]


# -- the whole round trip, in both versions --------------------------------------------------------


async def test_place_list_detail_cancel(
    vclient: WeexClient, exchange: FakeExchange, version: str
) -> None:
    ack = await vclient.place_order(limit_order(version, "mm-1"))
    assert ack.success and ack.client_oid == "mm-1"
    assert ack.order_id in exchange.accounts[API_KEY].orders

    (order,) = await vclient.open_orders(SYMBOL[version])
    assert order == Order(
        order_id=ack.order_id,
        client_oid="mm-1",
        symbol=SYMBOL[version],
        status="open" if version == "v2" else "NEW",
        side="BUY",
        position_side="LONG",
        quantity=Decimal("0.01"),
        filled_quantity=Decimal(0),
        price=Decimal("65000.5"),
        avg_price=None,
        time_in_force="GTC",
        created_at=order.created_at,
        fee=Decimal(0) if version == "v2" else None,
    )
    assert order.is_open and order.created_at > 1_700_000_000_000

    assert await vclient.order_detail(ack.order_id) == order
    cancelled = await vclient.cancel_order(ack.order_id, symbol=SYMBOL[version])
    assert (cancelled.order_id, cancelled.client_oid, cancelled.result) == (
        ack.order_id,
        "mm-1",
        True,
    )
    detail = await vclient.order_detail(ack.order_id)
    assert not detail.is_open and detail.status.lower() == "canceled"
    assert await vclient.open_orders() == ()

    again = await vclient.cancel_order(client_oid="mm-1")
    assert not again.result and "NOT_FOUND" in again.err_msg  # a verdict, not an exception
    light, heavy = (2, 2) if version == "v2" else (2, 3)
    assert [w[1:] for w in weights(exchange)] == [
        (2, 5),  # place
        (light, heavy),  # open orders
        (light, heavy),  # detail
        (2, 3),  # cancel one
        (light, heavy),  # detail
        (light, heavy),  # open orders
        (2, 3),  # cancel one
    ]


async def test_batch_place_then_cancel_all(
    vclient: WeexClient, exchange: FakeExchange, version: str
) -> None:
    orders = [limit_order(version, f"b-{i}", price=str(100 + i)) for i in range(5)]
    acks = await vclient.place_orders(orders)
    assert [a.client_oid for a in acks] == [f"b-{i}" for i in range(5)]
    assert all(a.success and a.order_id for a in acks)
    listed = await vclient.open_orders(limit=3)
    assert [o.client_oid for o in listed] == ["b-0", "b-1", "b-2"]
    assert [o.client_oid for o in await vclient.open_orders(limit=3, page=1)] == ["b-3", "b-4"]

    result = await vclient.cancel_all_orders(SYMBOL[version])
    assert set(result.cancelled) == {a.order_id for a in acks}
    assert exchange.accounts[API_KEY].orders == {}
    cancel_all = (40, 50) if version == "v2" else (5, 10)
    charged = [w[1:] for w in weights(exchange)]
    assert (charged[0], charged[-1]) == ((5, 10), cancel_all)  # batch place ... cancel all


async def test_engine_code_runs_unchanged_on_both_versions(
    vclient: WeexClient, exchange: FakeExchange, version: str
) -> None:
    """Place a ladder, look at it, cancel it all with cancel_orders: the same code, V2 or V3."""
    ladder = [limit_order(version, f"lad-{i}", price=str(60000 + i)) for i in range(8)]
    acks = await vclient.place_orders(ladder)
    live = [o.order_id for o in await vclient.open_orders() if o.is_open]
    report = await vclient.cancel_orders(ids=live)
    assert report.cancelled == tuple(a.order_id for a in acks) and report.all_cancelled
    assert await vclient.open_orders() == ()


async def test_market_and_ioc_orders_do_not_rest(vclient: WeexClient, version: str) -> None:
    market = OrderRequest(SYMBOL[version], "SELL", "SHORT", 2, order_type="MARKET", client_oid="m")
    ioc = limit_order(version, "i", time_in_force="IOC")
    filled = await vclient.order_detail((await vclient.place_order(market)).order_id)
    gone = await vclient.order_detail((await vclient.place_order(ioc)).order_id)
    assert (filled.status.lower(), filled.side, filled.position_side) == ("filled", "SELL", "SHORT")
    assert filled.filled_quantity == Decimal(2) and not filled.is_open
    assert gone.status.lower() == "canceled" and gone.time_in_force == "IOC"
    assert await vclient.open_orders() == ()


async def test_refused_placements(
    vclient: WeexClient, exchange: FakeExchange, version: str
) -> None:
    await vclient.place_order(limit_order(version, "dup"))
    with pytest.raises(BadRequestError) as info:
        await vclient.place_order(limit_order(version, "dup"))
    assert info.value.code == ("40017" if version == "v2" else "DUPLICATE_CLIENT_ORDER_ID")
    acks = await vclient.place_orders([limit_order(version, "dup"), limit_order(version, "new")])
    assert [a.success for a in acks] == [False, True]
    assert acks[0].error_message and not acks[0].order_id


async def test_a_placement_is_never_sent_twice(
    vclient: WeexClient, exchange: FakeExchange, version: str
) -> None:
    await vclient.sync_time()  # the first signed call syncs no more
    before = exchange.requests
    exchange.faults.next(Fault.DROP_AFTER)  # the exchange places it; the answer is lost
    with pytest.raises(TransportError):
        await vclient.place_order(limit_order(version, "lost"))
    assert exchange.requests == before + 1
    (order,) = await vclient.open_orders()  # found again by its client id
    assert order.client_oid == "lost"


async def test_cancels_are_retried(
    creds: Credentials, exchange: FakeExchange, version: str
) -> None:
    (order_id,) = exchange.open_orders(API_KEY, 1)
    exchange.faults.next(Fault.RATE_LIMIT)  # refused, nothing done: safe to send again
    async with WeexClient(
        creds,
        base_url="http://fake",
        transport=exchange.transport(),
        api_version=version,
        rate_limits=RateLimits(ban=0.01),  # the pause after the 429, kept short
    ) as client:
        result = await client.cancel_order(order_id)
    assert result.result and exchange.accounts[API_KEY].orders == {}
    assert [a.path for a in exchange.refused] == [] and exchange.faults.injected


# -- the checks before sending ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"side": "hold"}, "side"),
        ({"position_side": "both"}, "position_side"),
        ({"quantity": "0"}, "positive"),
        ({"quantity": "abc"}, "not a number"),
        ({"quantity": float("nan")}, "positive"),
        ({"quantity": True}, "quantity"),
        ({"price": None}, "needs a price"),
        ({"order_type": "MARKET"}, "takes no price"),
        ({"time_in_force": "GTD"}, "time_in_force"),
        ({"client_oid": ""}, "client_oid"),
        ({"client_oid": "x" * 41}, "client_oid"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_order_request_checks(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "symbol": "cmt_btcusdt",
        "side": "BUY",
        "position_side": "LONG",
        "quantity": "1",
        "price": "10",
    }
    with pytest.raises(InvalidRequestError, match=message):
        OrderRequest(**{**fields, **kwargs})


def test_order_request_defaults() -> None:
    order = OrderRequest("BTCUSDT", "sell", "short", 0.1, price=Decimal("7E+4"))
    assert (order.side, order.position_side, order.quantity) == ("SELL", "SHORT", Decimal("0.1"))
    assert order.client_oid.startswith("wa-") and len(order.client_oid) == 35
    assert OrderRequest("BTCUSDT", "BUY", "LONG", 1, price=1).client_oid != order.client_oid
    assert V3.order_body(order)["price"] == "70000"  # never an exponent on the wire


@pytest.mark.parametrize(
    ("version", "call", "message"),
    [
        ("v2", lambda c: c.place_orders([]), "1 to 20"),
        (
            "v3",
            lambda c: c.place_orders([limit_order("v3", f"c{i}") for i in range(11)]),
            "1 to 10",
        ),
        ("v2", lambda c: c.place_orders([limit_order("v2", "a"), limit_order("v2", "a")]), "own"),
        (
            "v2",
            lambda c: c.place_orders([limit_order("v2", "a"), limit_order("v3", "b")]),
            "one symbol",
        ),
        ("v2", lambda c: c.place_orders(limit_order("v2", "a")), "list"),
        ("v3", lambda c: c.place_order(limit_order("v3", "has space")), "does not match"),
        ("v2", lambda c: c.cancel_order(), "exactly one"),
        ("v2", lambda c: c.cancel_order("1", client_oid="x"), "exactly one"),
        ("v2", lambda c: c.cancel_order("12ab"), "decimal"),
        ("v3", lambda c: c.cancel_order(client_oid="no space"), "does not match"),
        ("v2", lambda c: c.order_detail("x"), "decimal"),
        ("v2", lambda c: c.open_orders(limit=101), "limit"),
        ("v3", lambda c: c.open_orders(page=-1), "page"),
        ("v2", lambda c: c.cancel_all_orders(""), "symbol"),
    ],
)
async def test_refusals_send_nothing(version: str, call: Any, message: str) -> None:
    sent: list[httpx.Request] = []
    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version=version,
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(500)),
    ) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await call(client)
    assert sent == []


# -- what goes on the wire ---------------------------------------------------------------------


async def sent_by(version: str, call: Any, answer: Any) -> tuple[httpx.Request, Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version=version,
        transport=httpx.MockTransport(handler),
        sync_time=False,
    ) as client:
        result = await call(client)
    (request,) = seen
    assert request.headers["ACCESS-SIGN"] and request.headers["ACCESS-KEY"] == "k"
    return request, result


async def test_v2_place_order_body() -> None:
    order = OrderRequest(
        "cmt_btcusdt",
        "SELL",
        "LONG",
        "0.5",
        price="70000",
        time_in_force="POST_ONLY",
        client_oid="c1",
        take_profit_price="71000",
        stop_loss_price=69000,
    )
    request, ack = await sent_by(
        "v2", lambda c: c.place_order(order), {"client_oid": None, "order_id": "596471064624628269"}
    )
    assert (request.method, request.url.path) == ("POST", "/capi/v2/order/placeOrder")
    assert json.loads(request.content) == {
        "symbol": "cmt_btcusdt",
        "client_oid": "c1",
        "size": "0.5",
        "type": "3",  # close long
        "order_type": "1",  # post-only
        "match_price": "0",
        "price": "70000",
        "presetTakeProfitPrice": "71000",
        "presetStopLossPrice": "69000",
    }
    assert ack == OrderAck("596471064624628269", "c1")  # null client_oid: the one we sent


async def test_v3_place_order_body() -> None:
    market = OrderRequest("BTCUSDT", "BUY", "SHORT", "3", order_type="MARKET", client_oid="c.1")
    answer = {"orderId": 7023, "clientOrderId": "c.1", "success": True}
    request, ack = await sent_by("v3", lambda c: c.place_order(market), answer)
    assert (request.method, request.url.path) == ("POST", "/capi/v3/order")
    assert json.loads(request.content) == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "positionSide": "SHORT",
        "type": "MARKET",
        "quantity": "3",
        "newClientOrderId": "c.1",
    }
    assert ack == OrderAck("7023", "c.1", True, "", "")


async def test_v3_cancel_one_and_cancel_all_go_in_the_query() -> None:
    item = {"orderId": "1", "origClientOrderId": "a", "success": True}
    request, result = await sent_by("v3", lambda c: c.cancel_order(client_oid="a:b/c"), item)
    assert (request.method, request.url.path, request.content) == (
        "DELETE",
        "/capi/v3/order",
        b"",
    )
    assert request.url.params == httpx.QueryParams({"origClientOrderId": "a:b/c"})
    assert result == CancelOrderResult("1", "a", True, "", None)
    request, _ = await sent_by("v3", lambda c: c.cancel_all_orders("BTCUSDT"), [])
    assert str(request.url).endswith("/capi/v3/allOpenOrders?symbol=BTCUSDT")


@pytest.mark.parametrize(
    ("answer", "cancelled"),
    [
        ({"result": True}, ()),
        ([{"order_id": "1", "client_oid": None, "result": True, "err_msg": None}], ("1",)),
        (
            {
                "cancelOrderResultList": [
                    {"order_id": "1", "client_oid": "", "result": True, "err_msg": ""},
                    {"order_id": "2", "client_oid": "", "result": True, "err_msg": ""},
                ],
                "failInfos": [
                    {"order_id": "2", "client_oid": "", "result": False, "err_msg": "busy"}
                ],
            },
            ("1",),
        ),
        ([{"orderId": 9, "success": True}, "junk", {"order_id": []}], ("9",)),
        ("ok", ()),
    ],
)
async def test_v2_cancel_all_reads_any_answer(answer: Any, cancelled: tuple[str, ...]) -> None:
    request, result = await sent_by("v2", lambda c: c.cancel_all_orders(), answer)
    assert (request.url.path, json.loads(request.content)) == (
        "/capi/v2/order/cancelAllOrders",
        {"cancelOrderType": "normal"},
    )
    assert result.cancelled == cancelled
    assert result.raw == answer  # nothing the exchange said is lost


async def test_batch_place_answer_missing_an_order() -> None:
    orders = [limit_order("v3", "x1"), limit_order("v3", "x2")]
    answer = [{"orderId": "5", "clientOrderId": "x1", "success": True}]
    _, acks = await sent_by("v3", lambda c: c.place_orders(orders), answer)
    assert acks[0] == OrderAck("5", "x1", True, "", "")
    assert (acks[1].client_oid, acks[1].success, acks[1].error_code) == (
        "x2",
        False,
        OUTCOME_UNKNOWN,
    )


# -- WEEX's documented answers, decoded strictly ---------------------------------------------------


def strict(endpoint: Endpoint[Any], payload: Any) -> Any:
    return decode(httpx.Response(200, json=payload), endpoint.response_type, STRICT)


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
    order = V2.order(strict(ORDER_DETAIL, detail))
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
    assert [V2.order(o) for o in strict(OPEN_ORDERS, [detail])] == [order]
    cancel = {
        "order_id": "596476148997685805",
        "client_oid": None,
        "symbol": "cmt_bchusdt",
        "result": True,
        "err_code": None,
        "err_msg": None,
    }
    assert V2.cancel_order_result(strict(CANCEL_ORDER, cancel)) == CancelOrderResult(
        "596476148997685805", "", True, "", None, "cmt_bchusdt"
    )
    placed = strict(PLACE_ORDER, {"client_oid": None, "order_id": "596471064624628269"})
    assert V2.place_order_result(placed, limit_order("v2", "c")).order_id == "596471064624628269"
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
    acks = V2.place_orders_result(strict(PLACE_ORDERS, batch), [limit_order("v2", "order12346")])
    assert acks == (OrderAck("596476148997685805", "order12346", True, "", ""),)


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
    order = V3.order(strict(ORDER_DETAIL_V3, detail))
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
    (listed,) = [V3.order(o) for o in strict(OPEN_ORDERS_V3, [open_item])]
    assert listed.is_open and listed.avg_price is None
    item = {
        "orderId": "702345678901234567",
        "origClientOrderId": "my-order-0001",
        "success": True,
        "errorCode": "",
        "errorMessage": "",
    }
    assert V3.cancel_order_result(strict(CANCEL_ORDER_V3, item)).result
    all_items = [
        {"orderId": 702345678901234567, "success": True, "errorCode": "", "errorMessage": ""}
    ]
    assert V3.cancel_all_result(strict(CANCEL_ALL_ORDERS_V3, all_items)).cancelled == (
        "702345678901234567",
    )
    batch = [
        {
            "orderId": "702345678901234567",
            "clientOrderId": "batch-1",
            "success": True,
            "errorCode": "",
            "errorMessage": "",
        },
        {
            "orderId": "702345678901234568",
            "clientOrderId": "batch-2",
            "success": False,
            "errorCode": "PRICE_OUT_OF_RANGE",
            "errorMessage": "price is invalid",
        },
    ]
    requested = [limit_order("v3", "batch-1"), limit_order("v3", "batch-2")]
    acks = V3.place_orders_result(strict(PLACE_ORDERS_V3, batch), requested)
    assert [a.error_code for a in acks] == ["", "PRICE_OUT_OF_RANGE"]
    placed = strict(PLACE_ORDER_V3, batch[0])
    assert V3.place_order_result(placed, requested[0]).success


# -- weights and priorities ------------------------------------------------------------------------


def test_endpoint_table() -> None:
    expected = {
        CANCEL_BATCH_ORDERS: ("POST", 5, 10, Priority.CANCEL, True),
        CANCEL_BATCH_ORDERS_V3: ("DELETE", 5, 10, Priority.CANCEL, True),
        CANCEL_ORDER: ("POST", 2, 3, Priority.CANCEL, True),
        CANCEL_ORDER_V3: ("DELETE", 2, 3, Priority.CANCEL, True),
        CANCEL_ALL_ORDERS: ("POST", 40, 50, Priority.CANCEL, True),
        CANCEL_ALL_ORDERS_V3: ("DELETE", 5, 10, Priority.CANCEL, True),
        PLACE_ORDER: ("POST", 2, 5, Priority.PLACE, False),
        PLACE_ORDER_V3: ("POST", 2, 5, Priority.PLACE, False),
        PLACE_ORDERS: ("POST", 5, 10, Priority.PLACE, False),
        PLACE_ORDERS_V3: ("POST", 5, 10, Priority.PLACE, False),
        OPEN_ORDERS: ("GET", 2, 2, Priority.QUERY, True),
        OPEN_ORDERS_V3: ("GET", 2, 3, Priority.QUERY, True),
        ORDER_DETAIL: ("GET", 2, 2, Priority.QUERY, True),
        ORDER_DETAIL_V3: ("GET", 2, 3, Priority.QUERY, True),
    }
    for endpoint, (method, ip, uid, priority, idempotent) in expected.items():
        assert (endpoint.method, endpoint.ip_weight, endpoint.uid_weight) == (method, ip, uid)
        assert (endpoint.priority, endpoint.idempotent, endpoint.signed) == (
            priority,
            idempotent,
            True,
        )
        assert endpoint.trade == (priority is not Priority.QUERY)
    from weex_async.testing._exchange import WEIGHTS

    assert {(e.method, e.path): (e.ip_weight, e.uid_weight) for e in expected} == {
        key: value for key, value in WEIGHTS.items() if key[1] != "/capi/v2/market/time"
    }


async def until_waiting(client: WeexClient, callers: int) -> None:
    """Yield to the loop until ``callers`` wait for the in-flight slot (no clock involved)."""
    for _ in range(10_000):
        slots = [p for p in client.rate_limit_status() if p.name == "in-flight"]
        if slots[0].waiting >= callers:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never {callers} callers waiting")


async def test_cancels_jump_the_queue_of_placements_and_queries() -> None:
    """One connection slot, held: the waiting cancel goes out before the earlier place and query."""
    order: list[str] = []
    gate, holding = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        order.append(request.url.path)
        if len(order) == 1:
            holding.set()
            await gate.wait()
        if request.url.path == "/capi/v2/order/placeOrder":
            return httpx.Response(200, json={"order_id": "1", "client_oid": "p"})
        if request.url.path == "/capi/v2/order/current":
            return httpx.Response(200, json=[])
        return httpx.Response(
            200, json={"order_id": "2", "client_oid": "", "result": True, "err_msg": ""}
        )

    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        transport=httpx.MockTransport(handler),
        sync_time=False,
        max_in_flight=1,
    ) as client:
        first = asyncio.ensure_future(client.open_orders())
        await holding.wait()
        place = asyncio.ensure_future(client.place_order(limit_order("v2", "p")))
        query = asyncio.ensure_future(client.open_orders())
        await until_waiting(client, 2)
        cancel = asyncio.ensure_future(client.cancel_order("2"))
        await until_waiting(client, 3)
        gate.set()
        await asyncio.gather(first, place, query, cancel)
    assert order == [
        "/capi/v2/order/current",
        "/capi/v2/order/cancel_order",
        "/capi/v2/order/placeOrder",
        "/capi/v2/order/current",
    ]


# -- the other HTTP backend: queries signed as aiohttp sends them ---------------------------------


async def test_queries_over_aiohttp(exchange: FakeExchange, creds: Credentials) -> None:
    pytest.importorskip("httpx_aiohttp")
    with serve(exchange) as url:
        for version in ("v2", "v3"):
            async with WeexClient(
                creds, base_url=url, http_backend="aiohttp", api_version=version
            ) as client:
                cid = f"q:{version}/1"
                ack = await client.place_order(limit_order(version, cid))
                listed = await client.open_orders(SYMBOL[version], limit=5, page=0)
                assert [o.client_oid for o in listed] == [cid]
                assert (await client.order_detail(ack.order_id)).client_oid == cid
                assert (await client.cancel_order(client_oid=cid)).result
                assert (await client.cancel_all_orders(SYMBOL[version])).cancelled == ()
    assert exchange.accounts[API_KEY].orders == {}  # every signature was accepted


@pytest.mark.parametrize("size", ["abc", "NaN", True, [1]])
def test_a_malformed_decimal_is_an_unexpected_response(size: Any) -> None:
    with pytest.raises(UnexpectedResponseError, match="V2Order"):
        decode(
            httpx.Response(200, json={"order_id": "1", "size": size}), ORDER_DETAIL.response_type
        )
