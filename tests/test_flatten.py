"""``cancel_everything``: an account (or some symbols) taken to zero open orders, and proven so.

Against ``FakeExchange``, on V2 and V3: many symbols and pages, orders that fill meanwhile, a
cancel-all that answers but leaves orders open, faults on every endpoint involved, a wrong secret,
a deadline, a cancelled caller, a hostile answer, a bug of ours. Each test checks what the user
sees against what the exchange really did.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import httpx
import pytest

from weex_async import (
    Budget,
    FlattenReport,
    RateLimits,
    RetryPolicy,
    WeexClient,
)
from weex_async._checks import ApiVersion
from weex_async._flatten import IDLE_ROUNDS, LIST_LIMIT, FlattenRun
from weex_async.errors import ClientClosedError, ConfigurationError, InvalidRequestError
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import FAST_RETRY, Wrapped, client_for

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

#: Each version's paths: listing, cancel-all, batch cancel.
LIST = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}
CANCEL_ALL = {"v2": "/capi/v2/order/cancelAllOrders", "v3": "/capi/v3/allOpenOrders"}
BATCH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}
#: The trigger-order listing: once per target, after its orders, for the report.
TRIGGERS = {"v2": "/capi/v2/order/currentPlan", "v3": "/capi/v3/openAlgoOrders"}


def roomy_exchange(**kwargs: Any) -> FakeExchange:
    """A fake exchange whose budgets the ``ROOMY`` client cannot exceed."""
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9, **kwargs)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


def symbol(version: ApiVersion, n: int) -> str:
    return f"cmt_s{n}usdt" if version == "v2" else f"S{n}USDT"


def open_book(exchange: FakeExchange, version: ApiVersion, symbols: int, each: int) -> list[str]:
    return list(
        itertools.chain.from_iterable(
            exchange.place_resting_orders(API_KEY, each, symbol=symbol(version, n))
            for n in range(symbols)
        )
    )


def paths(exchange: FakeExchange) -> list[str]:
    return [a.path for a in exchange.arrivals if "/market/time" not in a.path]


def check(report: FlattenReport, exchange: FakeExchange) -> dict[str, str]:
    """The report's promises against what the exchange really did; returns each order's bucket."""
    account = exchange.accounts[API_KEY]
    bucket: dict[str, str] = {}
    for sym, part in report.symbols.items():
        for kind, names in (
            ("cancelled", part.cancelled),
            ("gone", part.gone),
            ("still_open", part.still_open),
            ("unknown", part.unknown),
        ):
            for name in names:
                assert name not in bucket, f"{name} reported twice"
                bucket[name] = kind
                if sym:
                    assert account.history[name].symbol == sym, "filed under its own symbol"
    for name, kind in bucket.items():
        if kind == "cancelled":
            assert name in account.cancelled, "nothing reported cancelled that was not"
        if kind == "gone":
            assert name not in account.orders, "gone means not open"
        if kind == "still_open":
            assert name in account.orders, "still open means open"
    if report.flat:
        assert not report.still_open
        assert not any(part.unknown for part in report.symbols.values())
    return bucket


# -- the main job --------------------------------------------------------------------------------


async def test_flattens_an_account_of_many_symbols_and_pages(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    opened = open_book(exchange, version, symbols=20, each=100)
    async with client_for(exchange, version=version, rate_limits=RateLimits()) as client:
        report = await client.cancel_everything()
    assert report.flat
    assert report.problems == ()
    assert not exchange.accounts[API_KEY].orders
    assert sorted(report.cancelled) == sorted(opened), "every order cancelled, and said so"
    assert check(report, exchange)
    first = report.symbols[symbol(version, 0)]
    assert first.seen_open == tuple(opened[:LIST_LIMIT]), "the first listing, as proof"
    assert report.calls == len(paths(exchange))
    assert exchange.rate_limited == 0


async def test_flattens_only_the_symbols_asked_for(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    asked = [symbol(version, 0), symbol(version, 1)]
    opened = {
        n: exchange.place_resting_orders(API_KEY, 30, symbol=symbol(version, n)) for n in range(3)
    }
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(asked)
    assert report.flat
    assert set(report.symbols) == set(asked)
    for n, sym in enumerate(asked):
        assert set(report.symbols[sym].cancelled) == set(opened[n])
        assert report.symbols[sym].seen_open == tuple(opened[n])
    assert set(exchange.accounts[API_KEY].orders) == set(opened[2]), "the third one untouched"
    check(report, exchange)


async def test_seen_open_counts_every_page_met(exchange: FakeExchange) -> None:
    version: ApiVersion = "v2"  # V2 batch-cancels 250 orders page by page (V3: one cancel-all)
    opened = exchange.place_resting_orders(API_KEY, 250, symbol=symbol(version, 0))
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything([symbol(version, 0)])
    assert report.flat
    seen = report.symbols[symbol(version, 0)].seen_open
    assert sorted(seen) == sorted(opened), "every order a listing showed, not the first page's"
    assert len(seen) == len(set(seen)) == 250


async def test_a_client_closed_meanwhile_stops_the_rounds_at_once(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    open_book(exchange, version, symbols=2, each=30)
    client = client_for(exchange, version=version)
    async with client:
        run = asyncio.ensure_future(client.cancel_everything([symbol(version, 0)]))
        await asyncio.sleep(0)  # the run starts, and waits on its first listing
        await client.aclose()
        report = await run
    assert not report.flat
    assert report.problems == (
        f"{symbol(version, 0)}: stopped: the client was closed",
        f"{symbol(version, 0)}: trigger orders not listed (stopped or past the deadline)",
    )


async def test_a_symbol_with_no_order_is_flat_after_one_listing(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything([symbol(version, 7)])
    assert report.flat
    assert report.calls == 2, "one listing, and one of the trigger orders for the report"
    assert report.symbols[symbol(version, 7)].seen_open == ()
    assert paths(exchange) == [LIST[version], TRIGGERS[version]]


# -- the cheaper way in the pools ------------------------------------------------------------------


async def test_v2_batch_cancels_a_few_orders_and_uses_cancel_all_for_many(
    exchange: FakeExchange,
) -> None:
    exchange.place_resting_orders(API_KEY, 60, symbol="cmt_s0usdt")
    async with client_for(exchange, version="v2") as client:
        report = await client.cancel_everything(["cmt_s0usdt"])
    assert report.flat
    # 60 orders: two batch cancels (UID 20) cost less than one cancel-all (UID 50).
    assert paths(exchange) == [LIST["v2"], BATCH["v2"], BATCH["v2"], LIST["v2"], TRIGGERS["v2"]]

    exchange.arrivals.clear()
    exchange.place_resting_orders(API_KEY, 1000, symbol="cmt_s1usdt")
    async with client_for(exchange, version="v2") as client:
        report = await client.cancel_everything(["cmt_s1usdt"])
    assert report.flat
    # Full pages: batch cancels until the orders found (300) would cost more than a cancel-all.
    assert paths(exchange) == [
        *[LIST["v2"], BATCH["v2"], BATCH["v2"]] * 2,
        LIST["v2"],
        CANCEL_ALL["v2"],
        LIST["v2"],
        TRIGGERS["v2"],
    ]
    assert len(report.cancelled) == 1000


async def test_v3_uses_its_cancel_all_which_weighs_one_batch_cancel(exchange: FakeExchange) -> None:
    exchange.place_resting_orders(API_KEY, 3, symbol="BTCUSDT")
    async with client_for(exchange, version="v3") as client:
        report = await client.cancel_everything(["BTCUSDT"])
    assert report.flat
    assert paths(exchange) == [LIST["v3"], CANCEL_ALL["v3"], LIST["v3"], TRIGGERS["v3"]]
    assert len(report.symbols["BTCUSDT"].cancelled) == 3


@pytest.mark.parametrize(
    ("ip", "uid", "batches_first"),
    [
        (500, 500, 4),  # UID-bound: a cancel-all (UID 50) weighs 5 batch cancels (UID 10)
        (500, 10**6, 6),  # IP-bound: it weighs 8 (IP 40 against 5)
    ],
)
async def test_the_choice_follows_the_binding_pool(ip: int, uid: int, batches_first: int) -> None:
    exchange = roomy_exchange()
    exchange.place_resting_orders(API_KEY, 1000, symbol="cmt_s0usdt")
    limits = RateLimits(ip=Budget(ip, 10.0), uid=Budget(uid, 10.0), trade=None)
    async with client_for(exchange, version="v2", rate_limits=limits) as client:
        report = await client.cancel_everything(["cmt_s0usdt"])
    assert report.flat
    sent = paths(exchange)
    assert sent.count(CANCEL_ALL["v2"]) == 1
    assert sent[: sent.index(CANCEL_ALL["v2"])].count(BATCH["v2"]) == batches_first


async def test_an_account_wide_cancel_all_refused_is_done_per_symbol(
    exchange: FakeExchange,
) -> None:
    """V3 documents no rule on a cancel-all without a symbol: refused, it goes per symbol."""
    opened = open_book(exchange, "v3", symbols=3, each=4)

    def want_a_symbol(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == CANCEL_ALL["v3"] and "symbol" not in request.url.params:
            return httpx.Response(400, json={"code": -1140, "msg": "symbol is required"})
        return None

    async with client_for(exchange, Wrapped(exchange, want_a_symbol), version="v3") as client:
        report = await client.cancel_everything()
    assert report.flat
    assert sorted(report.cancelled) == sorted(opened)
    assert any("account-wide cancel-all was refused" in p for p in report.problems)
    check(report, exchange)


# -- the exchange moving under our feet ------------------------------------------------------------


async def test_orders_that_fill_meanwhile_are_gone_not_cancelled(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    opened = open_book(exchange, version, symbols=2, each=20)
    filled = [opened[0], opened[25]]

    def fill_before_the_first_cancel(request: httpx.Request) -> None:
        if request.url.path in (BATCH[version], CANCEL_ALL[version]):
            for name in filled:
                if name in exchange.accounts[API_KEY].orders:
                    exchange.accounts[API_KEY].fill(name)
        return None

    transport = Wrapped(exchange, fill_before_the_first_cancel)
    async with client_for(exchange, transport, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat
    bucket = check(report, exchange)
    assert {name: bucket[name] for name in filled} == {name: "gone" for name in filled}
    assert set(report.cancelled) == set(opened) - set(filled)


async def test_orders_placed_meanwhile_are_cancelled_too(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    open_book(exchange, version, symbols=1, each=5)
    late: list[str] = []

    def place_after_the_first_listing(request: httpx.Request) -> None:
        if request.url.path == LIST[version] and not late:
            late.extend(exchange.place_resting_orders(API_KEY, 7, symbol=symbol(version, 0)))
        return None

    async with client_for(
        exchange, Wrapped(exchange, place_after_the_first_listing), version=version
    ) as c:
        report = await c.cancel_everything()
    assert report.flat
    assert set(late) <= set(report.cancelled)
    assert not exchange.accounts[API_KEY].orders
    check(report, exchange)


async def test_a_cancel_all_that_leaves_orders_open_is_followed_up(version: ApiVersion) -> None:
    exchange = roomy_exchange(cancel_all_cap=40)
    opened = open_book(exchange, version, symbols=2, each=500)
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat, report.problems
    assert sorted(report.cancelled) == sorted(opened)
    assert CANCEL_ALL[version] in paths(exchange)
    check(report, exchange)


# -- faults ----------------------------------------------------------------------------------------

ENDPOINT_FAULTS = [
    (version, path, fault)
    for version, endpoints in (
        ("v2", (LIST["v2"], BATCH["v2"], CANCEL_ALL["v2"])),
        ("v3", (LIST["v3"], CANCEL_ALL["v3"])),  # V3 never needs a batch cancel here
    )
    for path in endpoints
    for fault in Fault
]


@pytest.mark.parametrize(
    ("version", "path", "fault"),
    ENDPOINT_FAULTS,
    ids=[f"{v}-{p.rsplit('/', 1)[-1]}-{f.value}" for v, p, f in ENDPOINT_FAULTS],
)
async def test_a_fault_on_any_endpoint_still_ends_flat(
    version: ApiVersion, path: str, fault: Fault
) -> None:
    exchange = roomy_exchange(ban=0.05)
    exchange.faults.slow_delay = 1.0
    opened = open_book(exchange, version, symbols=3, each=400)
    exchange.faults.next(fault, 2, path=path)
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert exchange.faults.injected == {fault: 2}, "the fault met the endpoint"
    assert report.flat, report.problems
    assert not exchange.accounts[API_KEY].orders
    bucket = check(report, exchange)
    listed = {name for part in report.symbols.values() for name in part.seen_open}
    assert listed <= set(bucket) <= set(opened), "every order listed is accounted for"
    if fault not in (Fault.DROP_AFTER, Fault.SLOW) or path == LIST[version]:
        assert set(bucket) == set(opened)
    # else: a cancel-all whose answer was lost took orders no listing showed: ``flat`` proves
    # them closed, and they are not in the report (nothing the exchange said names them).
    assert set(bucket.values()) <= {"cancelled", "gone"}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_faults_everywhere(version: ApiVersion, seed: int) -> None:
    exchange = roomy_exchange(ban=0.05)
    exchange.faults.slow_delay = 1.0
    opened = open_book(exchange, version, symbols=4, each=150)
    exchange.faults.randomly(0.3, seed=seed)
    async with client_for(exchange, version=version, retry=RetryPolicy(max_attempts=6)) as client:
        report = await client.cancel_everything([symbol(version, n) for n in range(4)])
    assert sum(exchange.faults.injected.values()) > 0
    bucket = check(report, exchange)
    assert report.flat, report.problems
    listed = {name for part in report.symbols.values() for name in part.seen_open}
    assert listed <= set(bucket) <= set(opened)


async def test_a_listing_that_keeps_failing_is_not_called_flat_but_its_orders_are_cancelled(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """Blind, the run sends the cancel-all once per round (before: nothing was cancelled)."""
    opened = open_book(exchange, version, symbols=1, each=10)
    exchange.faults.next(Fault.SERVER_ERROR, 1000, path=LIST[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert not report.flat, "a cancel-all sent blind proves nothing"
    assert not exchange.accounts[API_KEY].orders, "nothing left resting"
    assert sorted(report.cancelled) == sorted(opened)
    # It gives up, it does not spin: a first round that cancelled, then IDLE_ROUNDS that did not
    # (each one listing, retried, and one cancel-all); then, for the report, the trigger orders.
    # No order-history page: the cancel-all's answer names no symbol, and none is looked for.
    assert paths(exchange).count(CANCEL_ALL[version]) == IDLE_ROUNDS + 1
    assert report.calls == (IDLE_ROUNDS + 1) * (FAST_RETRY.max_attempts + 1) + 1
    assert list(report.symbols) == [""]
    assert any("listing failed" in problem for problem in report.problems)
    assert any("cancel-all sent without a listing" in problem for problem in report.problems)


async def test_a_wrong_secret_is_sent_once(exchange: FakeExchange, version: ApiVersion) -> None:
    open_book(exchange, version, symbols=3, each=10)
    async with client_for(exchange, version=version, secret="wrong") as client:
        report = await client.cancel_everything([symbol(version, n) for n in range(3)])
    assert not report.flat
    time_syncs = sum("/market/time" in a.path for a in exchange.arrivals)
    assert exchange.requests - time_syncs == 1, "one listing first, until the key is known good"
    assert report.calls == 1
    assert any("refused" in problem for problem in report.problems)
    assert "wrong" not in repr(report), "no secret in the report"


async def test_the_deadline_stops_it_and_says_what_is_left(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    opened = open_book(exchange, version, symbols=1, each=300)
    tight = RateLimits(ip=Budget(10_000, 60.0), uid=Budget(12, 60.0), trade=None)
    async with client_for(exchange, version=version, rate_limits=tight) as client:
        report = await client.cancel_everything(deadline=0.3)
    assert not report.flat
    assert any("deadline" in problem for problem in report.problems)
    bucket = check(report, exchange)
    left = [name for name, kind in bucket.items() if kind in ("still_open", "unknown")]
    assert left, "what is left is named"
    assert all(name in exchange.accounts[API_KEY].orders for name in report.still_open)
    assert len(exchange.accounts[API_KEY].orders) + len(report.cancelled) == len(opened)


async def test_a_hostile_answer_is_not_believed_over_the_listing(exchange: FakeExchange) -> None:
    """The exchange says "cancelled" but the orders stay open: not flat, and said so."""
    opened = exchange.place_resting_orders(API_KEY, 5)

    def lie(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == CANCEL_ALL["v2"]:  # both ways lie: each is tried in turn
            return httpx.Response(200, json=[{"orderId": int(n), "success": True} for n in opened])
        if request.url.path != BATCH["v2"]:
            return None
        items = [{"order_id": n, "client_oid": "", "result": True, "err_msg": ""} for n in opened]
        answer = {"result": True, "orderIds": opened, "cancelOrderResultList": items}
        return httpx.Response(200, json=answer)

    transport = Wrapped(exchange, lie)
    async with client_for(exchange, transport, version="v2") as client:
        report = await client.cancel_everything()
    assert not report.flat
    assert set(report.still_open) == set(opened)
    assert all("said it was cancelled" in why for why in report.still_open.values())
    assert report.cancelled == ()
    assert report.rounds == IDLE_ROUNDS + 1
    sent = [request.url.path for request in transport.seen]
    assert sent.count(CANCEL_ALL["v2"]) == 2, "the cancel-all, after the batches failed"


# -- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"symbols": "cmt_btcusdt"}, "list of symbols"),
        ({"symbols": []}, "empty"),
        ({"symbols": [None]}, "None"),
        ({"symbols": [5]}, "symbol"),
        ({"symbols": 5}, "list of symbols"),
        ({"deadline": 0}, "deadline"),
        ({"deadline": math.inf}, "deadline"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    exchange: FakeExchange, version: ApiVersion, kwargs: dict[str, Any], match: str
) -> None:
    async with client_for(exchange, version=version) as client:
        with pytest.raises(InvalidRequestError, match=match):
            await client.cancel_everything(**kwargs)
    assert exchange.requests == 0


async def test_closed_or_keyless_clients_raise(exchange: FakeExchange, version: ApiVersion) -> None:
    client = client_for(exchange, version=version)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.cancel_everything()
    async with WeexClient(
        base_url="http://fake", transport=exchange.transport(), api_version=version
    ) as public:
        with pytest.raises(ConfigurationError, match="credentials"):
            await public.cancel_everything()


async def test_a_cancelled_caller_leaves_nothing_running(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    open_book(exchange, version, symbols=3, each=30)
    entered = asyncio.Event()
    release = asyncio.Event()

    class Holding(Wrapped):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path in (BATCH[version], CANCEL_ALL[version]):
                entered.set()
                await release.wait()
            return await super().handle_async_request(request)

    transport = Holding(exchange, lambda request: None)
    async with client_for(exchange, transport, version=version) as client:
        task = asyncio.ensure_future(client.cancel_everything())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = len(transport.seen)
        release.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(transport.seen) == sent, "nothing more is sent after the caller is cancelled"


async def test_a_bug_of_ours_costs_no_report(
    exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On V2, whose few orders go by batch cancel (V3 would use its cheap cancel-all)."""
    version: ApiVersion = "v2"
    exchange.place_resting_orders(API_KEY, 5, symbol=symbol(version, 0))

    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(FlattenRun, "_cancel_listed", broken)
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert not report.flat
    assert any("unexpected error: RuntimeError: a bug" in p for p in report.problems)
    unknown = report.symbols[symbol(version, 0)].unknown
    assert set(unknown) == set(exchange.accounts[API_KEY].orders)


async def test_a_key_refused_on_a_batch_cancel_stops_every_target(exchange: FakeExchange) -> None:
    """The listings passed, then the batch cancel's key is refused (say, its trade permission):
    nothing more is listed or sent, for any symbol. (V2: V3 would use its cheap cancel-all.)"""
    version: ApiVersion = "v2"
    for n in range(2):
        exchange.place_resting_orders(API_KEY, 10, symbol=symbol(version, n))
    no_permission = {"v2": "40014", "v3": -3236}[version]

    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == BATCH[version] and request.method != "GET":
            return httpx.Response(400, json={"code": no_permission, "msg": "no trade permission"})
        return None

    async with client_for(exchange, Wrapped(exchange, refuse), version=version) as client:
        report = await client.cancel_everything([symbol(version, 0), symbol(version, 1)])
    assert not report.flat
    assert paths(exchange).count(LIST[version]) == 2, "one listing per symbol, then it stops"
    assert any("stopped" in problem for problem in report.problems)
    assert len(report.still_open) == 20


@pytest.mark.parametrize(
    ("version", "misspelt"),
    [("v3", "cmt_btcusdt"), ("v3", "btcusdt"), ("v3", "BTC/USDT"), ("v2", "BTCUSDT")],
)
async def test_a_symbol_spelled_the_other_versions_way_is_refused_before_anything_is_sent(
    exchange: FakeExchange, version: ApiVersion, misspelt: str
) -> None:
    # the fake lists nothing for a symbol it does not hold, as a real exchange may: unchecked,
    # the account would be called flat with its orders resting
    exchange.place_resting_orders(API_KEY, 3, symbol=symbol(version, 0))
    async with client_for(exchange, version=version) as client:
        with pytest.raises(InvalidRequestError, match="misspelt symbol"):
            await client.cancel_everything([misspelt])
    assert paths(exchange) == []
    assert len(exchange.accounts[API_KEY].orders) == 3
