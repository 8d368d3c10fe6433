"""The order calls against the fake exchange, in both API versions: place, list, detail, cancel
one, cancel all; placements never sent twice, cancels retried."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from weex_async import (
    Credentials,
    Order,
    OrderRequest,
    RateLimits,
    WeexClient,
)
from weex_async._checks import ApiVersion, HttpBackend
from weex_async._client import API
from weex_async.errors import (
    BadRequestError,
    TransportError,
    UnexpectedResponseError,
)
from weex_async.testing import FakeExchange, Fault, serve

from .conftest import API_KEY
from .helpers import SYMBOL, limit_order, weights

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

# -- the whole round trip, in both versions --------------------------------------------------------


async def test_place_list_detail_cancel(
    vclient: WeexClient, exchange: FakeExchange, version: ApiVersion
) -> None:
    ack = await vclient.place_order(limit_order(version, "mm-1"))
    assert ack.success
    assert ack.client_oid == "mm-1"
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
    assert order.is_open
    assert order.created_at > 1_700_000_000_000

    assert await vclient.order_detail(ack.order_id) == order
    cancelled = await vclient.cancel_order(ack.order_id, symbol=SYMBOL[version])
    assert (cancelled.order_id, cancelled.client_oid, cancelled.result) == (
        ack.order_id,
        "mm-1",
        True,
    )
    detail = await vclient.order_detail(ack.order_id)
    assert not detail.is_open
    assert detail.status.lower() == "canceled"
    assert await vclient.open_orders() == ()

    again = await vclient.cancel_order(client_oid="mm-1")
    assert not again.result
    assert "NOT_FOUND" in again.err_msg
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
    vclient: WeexClient, exchange: FakeExchange, version: ApiVersion
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
    placed = [(5, 10)] if version == "v2" else [(2, 5)] * 5  # V3: one placement per order
    assert charged[: len(placed)] == placed
    assert charged[-1] == cancel_all


async def test_engine_code_runs_unchanged_on_both_versions(
    vclient: WeexClient, exchange: FakeExchange, version: ApiVersion
) -> None:
    """Place a ladder, look at it, cancel it all with cancel_orders: the same code, V2 or V3."""
    ladder = [limit_order(version, f"lad-{i}", price=str(60000 + i)) for i in range(8)]
    acks = await vclient.place_orders(ladder)
    live = [o.order_id for o in await vclient.open_orders() if o.is_open]
    report = await vclient.cancel_orders(ids=live)
    assert report.cancelled == tuple(a.order_id for a in acks)
    assert report.all_cancelled
    assert await vclient.open_orders() == ()


async def test_market_and_ioc_orders_do_not_rest(vclient: WeexClient, version: ApiVersion) -> None:
    market = OrderRequest(SYMBOL[version], "SELL", "SHORT", 2, order_type="MARKET", client_oid="m")
    ioc = limit_order(version, "i", time_in_force="IOC")
    filled = await vclient.order_detail((await vclient.place_order(market)).order_id)
    gone = await vclient.order_detail((await vclient.place_order(ioc)).order_id)
    assert (filled.status.lower(), filled.side, filled.position_side) == ("filled", "SELL", "SHORT")
    assert filled.filled_quantity == Decimal(2)
    assert not filled.is_open
    assert gone.status.lower() == "canceled"
    assert gone.time_in_force == "IOC"
    assert await vclient.open_orders() == ()


async def test_refused_placements(
    vclient: WeexClient, exchange: FakeExchange, version: ApiVersion
) -> None:
    await vclient.place_order(limit_order(version, "dup"))
    with pytest.raises(BadRequestError) as info:
        await vclient.place_order(limit_order(version, "dup"))
    assert info.value.code == ("40017" if version == "v2" else "DUPLICATE_CLIENT_ORDER_ID")
    acks = await vclient.place_orders([limit_order(version, "dup"), limit_order(version, "new")])
    assert [a.success for a in acks] == [False, True]
    assert acks[0].error_message
    assert not acks[0].order_id


async def test_a_placement_is_never_sent_twice(
    vclient: WeexClient, exchange: FakeExchange, version: ApiVersion
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
    creds: Credentials, exchange: FakeExchange, version: ApiVersion
) -> None:
    (order_id,) = exchange.place_resting_orders(API_KEY, 1)
    exchange.faults.next(Fault.RATE_LIMIT)  # refused, nothing done: safe to send again
    async with WeexClient(
        creds,
        base_url="http://fake",
        transport=exchange.transport(),
        api_version=version,
        rate_limits=RateLimits(ban=0.01),  # the pause after the 429, kept short
    ) as client:
        result = await client.cancel_order(order_id)
    assert result.result
    assert exchange.accounts[API_KEY].orders == {}
    assert [a.path for a in exchange.refused] == []
    assert exchange.faults.injected


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


# -- both HTTP backends: a query is signed in the form it is sent ---------------------------------


@pytest.mark.real_time("the HTTP backends on a real socket")
@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_queries_on_both_backends(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    """A client id with ``:`` and ``/`` (left as they are by one URL library, escaped by the
    other) is encoded once, signed in that form and sent in that form on both backends."""
    with serve(exchange) as url:
        for version in ("v2", "v3"):
            async with WeexClient(
                creds, base_url=url, http_backend=backend, api_version=version
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
        API["v2"].order_detail("1").result(
            httpx.Response(200, json={"order_id": "1", "size": size})
        )
