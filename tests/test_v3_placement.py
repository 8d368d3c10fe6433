"""V3 ``place_orders``: one ``POST /capi/v3/order`` per order (WEEX refuses V3 batch placement),
sent concurrently through the limiter, acks in the order given, nothing sent twice."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from weex_async import Credentials, OrderAck, WeexClient
from weex_async._api import NOT_SENT, OUTCOME_UNKNOWN
from weex_async.errors import AuthenticationError
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY
from .helpers import Wrapped, client_for, limit_order, weights

PLACE = "/capi/v3/order"


def ladder(n: int) -> list[object]:
    return [limit_order("v3", f"lad-{i}", price=str(60000 + i)) for i in range(n)]


async def test_the_fake_refuses_v3_batch_placement_as_weex_does(exchange: FakeExchange) -> None:
    async with httpx.AsyncClient(transport=exchange.transport(), base_url="http://fake") as http:
        answer = await http.post("/capi/v3/batchOrders", json={"batchOrders": []})
    assert answer.status_code == 400
    assert answer.json() == {"code": -1150, "msg": "Request method 'POST' not supported"}


async def test_an_unknown_v3_path_is_a_spring_404(exchange: FakeExchange) -> None:
    async with httpx.AsyncClient(transport=exchange.transport(), base_url="http://fake") as http:
        answer = await http.get("/capi/v3/nothing")
    assert answer.status_code == 404
    assert (answer.json()["error"], answer.json()["path"]) == ("Not Found", "/capi/v3/nothing")


async def test_v3_places_each_order_by_itself_charged_as_one_placement(
    exchange: FakeExchange,
) -> None:
    async with client_for(exchange, version="v3") as client:
        acks = await client.place_orders(ladder(7))  # type: ignore[arg-type]
        listed = {o.client_oid: o.order_id for o in await client.open_orders()}
    assert [a.client_oid for a in acks] == [f"lad-{i}" for i in range(7)]
    assert all(a.success and a.order_id for a in acks)
    assert weights(exchange)[:7] == [(PLACE, 2, 5)] * 7
    assert [listed[a.client_oid] for a in acks] == [a.order_id for a in acks]


def mock_client(handler: httpx.MockTransport) -> WeexClient:
    return WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version="v3",
        transport=handler,
        sync_time=False,
    )


def placed(request: httpx.Request, status: int = 200) -> httpx.Response:
    cid = json.loads(request.content)["newClientOrderId"]
    answer = {"orderId": f"7{cid[-1]}", "clientOrderId": cid, "success": True}
    return httpx.Response(status, json=answer)


async def test_they_go_concurrently_and_come_back_in_the_order_given() -> None:
    """Every placement is on the wire before any is answered, and the answers come back last
    first: the acks still follow the orders given."""
    n = 5
    arrived: list[str] = []
    all_in = asyncio.Event()
    answered: dict[str, asyncio.Event] = {f"lad-{i}": asyncio.Event() for i in range(n)}

    async def handler(request: httpx.Request) -> httpx.Response:
        cid = json.loads(request.content)["newClientOrderId"]
        arrived.append(cid)
        if len(arrived) == 1:  # the first goes alone (the key is not confirmed yet)
            return placed(request)
        if len(arrived) == n:
            all_in.set()
        await all_in.wait()
        later = f"lad-{int(cid[-1]) + 1}"
        if later in answered:
            await answered[later].wait()  # answered after every later order
        answered[cid].set()
        return placed(request)

    async with mock_client(httpx.MockTransport(handler)) as client:
        acks = await asyncio.wait_for(client.place_orders(ladder(n)), 30)  # type: ignore[arg-type]
    assert [a.client_oid for a in acks] == [f"lad-{i}" for i in range(n)]
    assert [a.order_id for a in acks] == [f"7{i}" for i in range(n)]
    assert sorted(arrived) == [f"lad-{i}" for i in range(n)]


async def test_a_lost_answer_is_never_sent_again_and_says_the_order_may_be_live(
    exchange: FakeExchange, creds: Credentials
) -> None:
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), api_version="v3"
    ) as client:
        await client.sync_time()
        exchange.faults.next(Fault.DROP_AFTER)  # the first placement is made, its answer lost
        acks = await client.place_orders(ladder(4))  # type: ignore[arg-type]
    assert acks[0].error_code == OUTCOME_UNKNOWN
    assert "may be live" in acks[0].error_message
    assert [a.success for a in acks] == [False, True, True, True]
    assert [a[0] for a in weights(exchange)] == [PLACE] * 4, "nothing sent twice"
    live = {order.client_oid for order in exchange.accounts[API_KEY].orders.values()}
    assert live == {f"lad-{i}" for i in range(4)}, "the lost one is live"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"code": -1142, "msg": "Parameter 'symbol' is invalid."}, "-1142"),
        (400, {"code": -1058, "msg": "This symbol does not support API trading."}, "-1058"),
        (503, {"code": -1054, "msg": "System error"}, OUTCOME_UNKNOWN),
        (200, {"success": "maybe"}, OUTCOME_UNKNOWN),
    ],
)
async def test_one_request_refused_or_unclear_is_that_orders_ack(
    status: int, body: dict[str, object], code: str
) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cid = json.loads(request.content)["newClientOrderId"]
        sent.append(cid)
        if cid == "lad-2":
            return httpx.Response(status, json=body)
        return placed(request)

    async with mock_client(httpx.MockTransport(handler)) as client:
        acks = await client.place_orders(ladder(4))  # type: ignore[arg-type]
    assert [a.success for a in acks] == [True, True, False, True]
    assert acks[2].client_oid == "lad-2"
    assert acks[2].error_code == code
    if status == 400:
        assert acks[2].error_message == body["msg"]
    assert sorted(sent) == [f"lad-{i}" for i in range(4)], "each sent once"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"code": -1142, "msg": "Parameter 'symbol' is invalid."}, "-1142"),
        (503, {"code": -1054, "msg": "System error"}, OUTCOME_UNKNOWN),
    ],
)
async def test_one_order_is_acked_as_in_a_ladder(
    status: int, body: dict[str, object], code: str
) -> None:
    """V3 places one order as it places each of many: its refusal or unclear answer is its ack.
    It used to be raised (``BadRequestError``, ``ServerError``) for a list of one."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    async with mock_client(httpx.MockTransport(handler)) as client:
        acks = await client.place_orders(ladder(1))  # type: ignore[arg-type]
    assert [(a.client_oid, a.success, a.error_code) for a in acks] == [("lad-0", False, code)]


@pytest.mark.parametrize("code", [-1047, -3236])  # authentication failed; no API permission
async def test_a_key_refused_after_others_were_placed_hides_no_live_order(code: int) -> None:
    """The key confirmed by the first placement, then refused for one of the others (revoked,
    an IP rule changed): the orders placed are live, so their acks come back; the refused one is
    its ack. It used to be raised, and the live orders' acks were lost."""

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["newClientOrderId"] == "lad-2":
            return httpx.Response(401 if code == -1047 else 403, json={"code": code, "msg": "no"})
        return placed(request)

    async with mock_client(httpx.MockTransport(handler)) as client:
        acks = await client.place_orders(ladder(4))  # type: ignore[arg-type]
    assert [a.success for a in acks] == [True, True, False, True]
    assert (acks[2].client_oid, acks[2].error_code, acks[2].error_message) == (
        "lad-2",
        str(code),
        "no",
    )


async def test_a_key_refused_by_every_request_is_raised() -> None:
    """The key confirmed first, then every placement refused: nothing was placed, so the key's
    refusal is the answer, raised as before."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[])  # no open order: the key works
        return httpx.Response(401, json={"code": -1047, "msg": "no"})

    async with mock_client(httpx.MockTransport(handler)) as client:
        assert await client.open_orders() == ()
        with pytest.raises(AuthenticationError):
            await client.place_orders(ladder(3))  # type: ignore[arg-type]


async def test_a_wrong_key_is_refused_once_not_once_per_order(exchange: FakeExchange) -> None:
    transport = Wrapped(exchange, lambda request: None)
    async with client_for(exchange, transport, version="v3", secret="wrong-secret") as client:
        with pytest.raises(AuthenticationError):
            await client.place_orders(ladder(6))  # type: ignore[arg-type]
    assert [r.url.path for r in transport.seen if r.url.path == PLACE] == [PLACE]
    assert not exchange.accounts[API_KEY].orders


async def test_a_closed_client_sends_none_and_says_so(exchange: FakeExchange) -> None:
    gate = asyncio.Event()
    started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        await gate.wait()
        return placed(request)

    client = mock_client(httpx.MockTransport(handler))
    first = asyncio.ensure_future(client.place_orders(ladder(3)))  # type: ignore[arg-type]
    await started.wait()  # the first placement is on the wire, the others wait behind it
    closing = asyncio.ensure_future(client.aclose())
    gate.set()
    await closing
    acks = await first
    assert acks[0] == OrderAck("70", "lad-0", True, "", ""), "on the wire: its answer is read"
    assert [a.error_code for a in acks[1:]] == [NOT_SENT, NOT_SENT]
