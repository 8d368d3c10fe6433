"""The fake exchange answers like WEEX documents: each check, the metering, the faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from weex_async import sign
from weex_async.testing import FakeExchange, Fault, least_seconds

from .manual_clock import ManualClock

KEY, SECRET, PASS = "k-1", "s-1", "p-1"
PATH = "/capi/v2/order/cancel_batch_orders"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture
def fake(clock: ManualClock) -> FakeExchange:
    exchange = FakeExchange(monotonic=clock.monotonic, wall=clock.wall)
    exchange.add_account(KEY, SECRET, PASS)
    return exchange


def signed_headers(
    body: bytes, *, ts: str = "1700000000000", secret: str = SECRET
) -> dict[str, str]:
    return {
        "ACCESS-KEY": KEY,
        "ACCESS-SIGN": sign(secret, ts, "POST", PATH, body),
        "ACCESS-TIMESTAMP": ts,
        "ACCESS-PASSPHRASE": PASS,
        "Content-Type": "application/json",
    }


async def post(
    fake: FakeExchange, body: bytes | Any, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake") as http:
        return await http.post(PATH, content=raw, headers=headers or signed_headers(raw, **kw))


def code(response: httpx.Response) -> str:
    return str(response.json()["code"])


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("ACCESS-KEY", "40001"),
        ("ACCESS-SIGN", "40002"),
        ("ACCESS-TIMESTAMP", "40003"),
        ("ACCESS-PASSPHRASE", "40011"),
    ],
)
async def test_missing_headers(fake: FakeExchange, drop: str, expected: str) -> None:
    raw = b'{"ids":["1"]}'
    headers = signed_headers(raw)
    del headers[drop]
    response = await post(fake, raw, headers)
    assert (response.status_code, code(response)) == (400, expected)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"Content-Type": "text/plain"}, "40007"),
        ({"ACCESS-TIMESTAMP": "1700000000"}, "40005"),  # seconds, not milliseconds
        ({"ACCESS-KEY": "nobody"}, "40006"),
        ({"ACCESS-PASSPHRASE": "wrong"}, "40012"),
        ({"ACCESS-SIGN": "bm90IGEgc2lnbmF0dXJl"}, "40009"),
    ],
)
async def test_header_checks(fake: FakeExchange, change: dict[str, str], expected: str) -> None:
    raw = b'{"ids":["1"]}'
    response = await post(fake, raw, {**signed_headers(raw), **change})
    assert (response.status_code, code(response)) == (400, expected)


async def test_timestamp_window_is_30_seconds(fake: FakeExchange) -> None:
    assert code(await post(fake, {"ids": ["1"]}, ts="1699999969000")) == "40008"
    response = await post(fake, {"ids": ["1"]}, ts="1699999971000")
    assert response.status_code == 200
    fake.skew_ms = 60_000
    assert code(await post(fake, {"ids": ["1"]})) == "40008"


async def test_signature_covers_the_exact_bytes(fake: FakeExchange) -> None:
    raw = b'{"ids":["1"]}'
    headers = signed_headers(raw)
    response = await post(fake, b'{"ids": ["1"]}', headers)  # same JSON, other bytes
    assert code(response) == "40009"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "40017"),
        (b"[1]", "40017"),
        ({"ids": "1"}, "40017"),
        ({"ids": []}, "40017"),
        ({"ids": [None]}, "40017"),
        ({"ids": ["1"], "cids": ["a"]}, "40017"),
        ({}, "40913"),
        ({"ids": [str(i) for i in range(51)]}, "40912"),
        ({"ids": ["1"], "symbol": 5}, "40017"),
        (b"x" * (1 << 21), "40017"),
    ],
)
async def test_bad_bodies_get_documented_errors(
    fake: FakeExchange, body: Any, expected: str
) -> None:
    response = await post(fake, body)
    assert (response.status_code, code(response)) == (400, expected)


async def test_unknown_path_and_wrong_method(fake: FakeExchange) -> None:
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake") as http:
        assert (await http.get("/nope")).status_code == 404
        assert (await http.get(PATH)).status_code == 405
        answer = (await http.get("/capi/v2/market/time")).json()
    assert answer["timestamp"] == 1_700_000_000_000
    assert answer["epoch"] == "1700000000.000"


async def test_orders_outcomes_partial_and_result_flag(fake: FakeExchange) -> None:
    ids = fake.open_orders(KEY, 2)
    answer = (await post(fake, {"ids": [*ids, "999"]})).json()
    assert answer["result"] is False
    assert answer["orderIds"] == ids
    assert [i["result"] for i in answer["cancelOrderResultList"]] == [True, True, False]
    assert answer["failInfos"] == [
        {"err_msg": "FAILED_ORDER_NOT_FOUND", "order_id": "999", "client_oid": "", "result": False}
    ]
    again = (await post(fake, {"ids": ids[:1]})).json()  # already cancelled
    assert again["failInfos"][0]["err_msg"] == "FAILED_ORDER_NOT_FOUND"


async def test_exact_window_429_and_ban(fake: FakeExchange, clock: ManualClock) -> None:
    for _ in range(50):
        assert (await post(fake, {"ids": ["1"]})).status_code == 200
    refused = await post(fake, {"ids": ["1"]})
    assert (refused.status_code, code(refused)) == (429, "429")
    clock.now += 10.0  # the window has passed, but the ban (10 s from the 429) has not
    assert (await post(fake, {"ids": ["1"]})).status_code == 200
    assert fake.rate_limited == 1
    assert fake.worst_window("uid") == 500
    assert fake.worst_window("ip") == 250


async def test_ban_outlasts_the_window(clock: ManualClock) -> None:
    fake = FakeExchange(monotonic=clock.monotonic, wall=clock.wall, ban=30.0)
    fake.add_account(KEY, SECRET, PASS)
    for _ in range(50):
        await post(fake, {"ids": ["1"]})
    assert (await post(fake, {"ids": ["1"]})).status_code == 429
    clock.now += 20.0
    assert (await post(fake, {"ids": ["1"]})).status_code == 429
    clock.now += 10.0
    assert (await post(fake, {"ids": ["1"]})).status_code == 200


async def test_usage_headers(clock: ManualClock) -> None:
    fake = FakeExchange(monotonic=clock.monotonic, wall=clock.wall, usage_headers=True)
    fake.add_account(KEY, SECRET, PASS)
    response = await post(fake, {"ids": ["1"]})
    assert response.headers["x-used-weight-10s"] == "10"
    assert response.headers["x-remaining-weight-10s"] == "490"


async def test_trade_cap_counts_trade_calls_per_second(clock: ManualClock) -> None:
    fake = FakeExchange(monotonic=clock.monotonic, wall=clock.wall, trade_cap=3, usage_headers=True)
    fake.add_account(KEY, SECRET, PASS)
    for _ in range(3):
        assert (await post(fake, {"ids": ["1"]})).status_code == 200
    assert (await post(fake, {"ids": ["1"]})).status_code == 429  # a 4th trade call in 1 s
    clock.now += 10.0  # the ban is over, and so is the second
    answered = await post(fake, {"ids": ["1"]})
    assert answered.status_code == 200
    assert answered.headers["x-used-weight-10s"] == "10"  # the headers still tell the UID pool
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake") as http:
        for _ in range(5):  # queries are not trade calls
            query = "/capi/v2/order/current"
            headers = signed_headers(b"", ts=str(int(clock.wall() * 1000)))
            headers["ACCESS-SIGN"] = sign(SECRET, headers["ACCESS-TIMESTAMP"], "GET", query, b"")
            assert (await http.get(query, headers=headers)).status_code == 200
    assert fake.rate_limited == 1


def test_least_seconds_is_the_earliest_schedule() -> None:
    weex = {"ip": (500, 10.0, 5), "uid": (500, 10.0, 10)}
    assert least_seconds([200], **weex) == 30.0  # bursts of 50 at 0, 10, 20, 30
    assert least_seconds([200], **weex, trade=(10, 1.0, 1)) == 34.0  # each burst takes 5 s
    assert least_seconds([200] * 3, **weex) == 50.0  # the IP budget: 100 calls a window
    assert least_seconds([200] * 3, **weex, trade=(10, 1.0, 1)) == 53.0  # 30 calls a second
    assert least_seconds([0, 0], **weex) == 0.0


@pytest.mark.parametrize(
    ("fault", "status", "cancelled"),
    [
        (Fault.SERVER_ERROR, 500, False),
        (Fault.EMPTY_521, 521, False),
        (Fault.BAD_JSON, 200, False),
        (Fault.RATE_LIMIT, 429, False),
    ],
)
async def test_answering_faults(
    fake: FakeExchange, fault: Fault, status: int, cancelled: bool
) -> None:
    ids = fake.open_orders(KEY, 1)
    fake.faults.next(fault)
    response = await post(fake, {"ids": ids})
    assert response.status_code == status
    assert (ids[0] in fake.accounts[KEY].cancelled) is cancelled
    assert fake.rate_limited == 0  # an injected 429 is a fault, not an exceeded budget
    if fault is Fault.EMPTY_521:
        assert response.content == b""


@pytest.mark.parametrize(
    ("fault", "cancelled"), [(Fault.DROP_BEFORE, False), (Fault.DROP_AFTER, True)]
)
async def test_dropped_connections(fake: FakeExchange, fault: Fault, cancelled: bool) -> None:
    ids = fake.open_orders(KEY, 1)
    fake.faults.next(fault)
    with pytest.raises(httpx.RemoteProtocolError):
        await post(fake, {"ids": ids})
    assert (ids[0] in fake.accounts[KEY].cancelled) is cancelled


async def test_slow_answer_times_out_after_acting(fake: FakeExchange) -> None:
    ids = fake.open_orders(KEY, 1)
    fake.faults.slow_delay = 5.0
    fake.faults.next(Fault.SLOW)
    raw = json.dumps({"ids": ids}).encode()
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake") as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(PATH, content=raw, headers=signed_headers(raw), timeout=0.05)
    assert fake.accounts[KEY].cancelled == ids


def test_random_faults_are_reproducible_with_a_seed() -> None:
    draws = []
    for _ in range(2):
        fake = FakeExchange()
        fake.faults.randomly(0.5, seed=42)
        draws.append([fake.faults.draw() for _ in range(50)])
    assert draws[0] == draws[1]
    assert any(draws[0])
    assert None in draws[0]


async def test_served_on_loopback_for_real_sockets(fake: FakeExchange) -> None:
    from weex_async.testing import serve

    ids = fake.open_orders(KEY, 1)
    raw = json.dumps({"ids": ids}).encode()
    with serve(fake) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post(PATH, content=raw, headers=signed_headers(raw))
    assert response.json()["orderIds"] == ids


async def test_refused_requests_are_recorded_apart(fake: FakeExchange, clock: ManualClock) -> None:
    for _ in range(52):
        await post(fake, {"ids": ["1"]})
    assert len(fake.arrivals) == 50
    assert len(fake.refused) == 2
    assert fake.worst_window("uid") == 500
    assert fake.worst_window("uid", sent=True) == 520  # what the client tried to spend


def test_the_old_order_placing_names_still_place_orders_without_a_warning(
    fake: FakeExchange,
) -> None:
    """``open_orders`` / ``open_trigger_orders`` are deprecated aliases (docs/testing.md): they
    place orders as the new names do, and do not warn yet (other code still calls them)."""
    placed = fake.place_resting_orders(KEY, 2, client_oids=["c-1"], symbol="cmt_ethusdt")
    old = fake.open_orders(KEY, 1, client_oids=["c-2"], symbol="cmt_ethusdt")
    assert len(placed) == 3
    assert len(old) == 2
    assert set(fake.accounts[KEY].orders) == {*placed, *old}
    assert {o.symbol for o in fake.accounts[KEY].orders.values()} == {"cmt_ethusdt"}
    triggers = [*fake.place_trigger_orders(KEY, 2), *fake.open_trigger_orders(KEY, 1)]
    assert set(fake.accounts[KEY].triggers) == set(triggers)
