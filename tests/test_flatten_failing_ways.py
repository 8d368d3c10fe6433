"""``cancel_everything`` when one endpoint fails: another way is taken, never the failing one
again and again.

A cancel-all that keeps failing is replaced by batch cancels of the listed orders (and batch
cancels that keep failing by the cancel-all); a listing that keeps failing leaves the run blind,
so the cancel-all goes without it, once per round, while ``flat`` still waits for a listing.
Against ``FakeExchange`` and its per-path faults, on V2 and V3.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from weex_async import RetryPolicy
from weex_async._checks import ApiVersion
from weex_async._flatten import LISTING_PATIENCE
from weex_async._session import DEFAULT_TIMEOUT
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import FAST_RETRY, Wrapped, client_for

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

LIST = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}
CANCEL_ALL = {"v2": "/capi/v2/order/cancelAllOrders", "v3": "/capi/v3/allOpenOrders"}
BATCH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}
SYMBOLS = {"v2": ("cmt_btcusdt", "cmt_ethusdt"), "v3": ("BTCUSDT", "ETHUSDT")}
#: Faults after which the exchange did nothing: the orders rest.
NOTHING_DONE = [Fault.SERVER_ERROR, Fault.BAD_JSON, Fault.DROP_BEFORE, Fault.EMPTY_521]


def roomy() -> FakeExchange:
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


def paths(exchange: FakeExchange) -> list[str]:
    return [a.path for a in exchange.arrivals if "/market/time" not in a.path]


@pytest.mark.parametrize("fault", NOTHING_DONE)
async def test_a_cancel_all_that_keeps_failing_gives_way_to_batch_cancels(
    version: ApiVersion, fault: Fault
) -> None:
    """300 orders: V3 always picks its cancel-all, V2 from the third full page. Before, the run
    sent the failing cancel-all round after round and left the orders resting."""
    exchange = roomy()
    opened = exchange.place_resting_orders(API_KEY, 300, symbol=SYMBOLS[version][0])
    exchange.faults.next(fault, 10**6, path=CANCEL_ALL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat, report.problems
    assert not exchange.accounts[API_KEY].orders
    assert sorted(report.cancelled) == sorted(opened)
    sent = paths(exchange)
    assert sent.count(CANCEL_ALL[version]) == FAST_RETRY.max_attempts, "one round's cancel-all"
    assert any("the cancel-all failed in 1 of 1 round(s)" in p for p in report.problems)
    assert report.symbols[SYMBOLS[version][0]].seen_open == tuple(opened)


async def test_batch_cancels_that_keep_failing_give_way_to_the_cancel_all() -> None:
    """V2 batch-cancels a few orders (its cancel-all weighs five batch cancels): when they keep
    failing, the next round sends the cancel-all."""
    exchange = roomy()
    opened = exchange.place_resting_orders(API_KEY, 30, symbol="cmt_btcusdt")
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=BATCH["v2"])
    async with client_for(exchange, version="v2") as client:
        report = await client.cancel_everything()
    assert report.flat, report.problems
    assert not exchange.accounts[API_KEY].orders
    assert sorted(report.cancelled) == sorted(opened)
    assert paths(exchange).count(CANCEL_ALL["v2"]) == 1
    assert any("the batch cancels failed in 1 of 1 round(s)" in p for p in report.problems)
    assert any(
        "batch cancels left the listed orders open: cancel-all next" in p for p in report.problems
    )


async def test_both_ways_failing_alternate_and_give_up(version: ApiVersion) -> None:
    exchange = roomy()
    exchange.place_resting_orders(API_KEY, 30, symbol=SYMBOLS[version][0])
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=BATCH[version])
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=CANCEL_ALL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert not report.flat
    assert len(exchange.accounts[API_KEY].orders) == 30
    sent = [p for p in paths(exchange) if p in (BATCH[version], CANCEL_ALL[version])]
    ways = [p for n, p in enumerate(sent) if n == 0 or sent[n - 1] != p]
    assert len(ways) == 3, "the ways alternate, round after round"
    assert len(set(ways[:2])) == 2


@pytest.mark.parametrize("fault", [*NOTHING_DONE, Fault.SLOW])
async def test_a_listing_that_fails_sends_the_cancel_all_blind_then_proves_flat(
    version: ApiVersion, fault: Fault
) -> None:
    """Two rounds' listings fail (every attempt), then one answers: the orders were cancelled by
    the first blind cancel-all, and only the listing that answered makes the report flat."""
    exchange = roomy()
    exchange.faults.slow_delay = 1.0
    opened = exchange.place_resting_orders(API_KEY, 300, symbol=SYMBOLS[version][0])
    exchange.faults.next(fault, 2 * FAST_RETRY.max_attempts, path=LIST[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat, report.problems
    assert not exchange.accounts[API_KEY].orders
    assert sorted(report.cancelled) == sorted(opened)
    assert paths(exchange).count(CANCEL_ALL[version]) == 2, "one per blind round, no more"
    assert sum("cancel-all sent without a listing" in p for p in report.problems) == 2


async def test_a_blind_cancel_all_asks_for_each_symbol_asked_for_only(version: ApiVersion) -> None:
    exchange = roomy()
    mine, other = SYMBOLS[version]
    exchange.place_resting_orders(API_KEY, 20, symbol=mine)
    left = exchange.place_resting_orders(API_KEY, 20, symbol=other)
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=LIST[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything([mine])
    assert not report.flat, "no listing answered"
    assert sorted(exchange.accounts[API_KEY].orders) == sorted(left), "the other one untouched"
    assert set(report.symbols) == {mine}


async def test_a_blind_cancel_all_refused_without_a_symbol_goes_per_symbol_known() -> None:
    """V3 may want a symbol on its cancel-all: blind, the symbols are those of the orders an
    earlier listing showed. Here the first round's cancel-alls fail, then the listing is down."""
    exchange = roomy()
    opened = [
        name
        for sym in SYMBOLS["v3"]
        for name in exchange.place_resting_orders(API_KEY, 5, symbol=sym)
    ]
    calls = {"listing": 0, "per symbol": 0}
    down = httpx.Response(500, json={"code": -1054, "msg": "system error"})

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == CANCEL_ALL["v3"]:
            if "symbol" not in request.url.params:
                return httpx.Response(400, json={"code": -1140, "msg": "symbol is required"})
            calls["per symbol"] += 1  # the first round's two, each with its retries, fail
            return down if calls["per symbol"] <= 2 * FAST_RETRY.max_attempts else None
        if request.url.path == LIST["v3"]:
            calls["listing"] += 1  # the first listing answers, then the listing is down
            return down if calls["listing"] > 1 else None
        return None

    async with client_for(exchange, Wrapped(exchange, meddle), version="v3") as client:
        report = await client.cancel_everything()
    assert not report.flat
    assert not exchange.accounts[API_KEY].orders
    assert sorted(report.cancelled) == sorted(opened)
    assert sorted(report.symbols) == sorted(SYMBOLS["v3"])


TRIGGERS = {"v2": "/capi/v2/order/currentPlan", "v3": "/capi/v3/openAlgoOrders"}
CANCEL_TRIGGERS = {"v2": "/capi/v2/order/cancelAllOrders", "v3": "/capi/v3/algoOpenOrders"}


@pytest.mark.parametrize("recovers", [False, True])
async def test_a_trigger_listing_that_fails_sends_the_trigger_cancel_all_blind(
    version: ApiVersion, recovers: bool
) -> None:
    """With ``include_triggers``: the trigger orders are cancelled while their listing is down;
    flat only once a trigger listing answers."""
    exchange = roomy()
    exchange.place_trigger_orders(API_KEY, 5, symbol=SYMBOLS[version][0])
    exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOLS[version][0])
    failures = FAST_RETRY.max_attempts if recovers else 10**6
    exchange.faults.next(Fault.SERVER_ERROR, failures, path=TRIGGERS[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(include_triggers=True)
    assert not exchange.accounts[API_KEY].triggers, "no trigger order left to fire"
    assert not exchange.accounts[API_KEY].orders
    assert report.flat is recovers
    assert report.triggers_listed is recovers
    assert sum(len(part.triggers_cancelled) for part in report.symbols.values()) == 5


async def test_an_exchange_out_of_reach_gets_no_blind_cancel_all(version: ApiVersion) -> None:
    """A listing that never left (no connection could be opened) says the exchange is out of
    reach: a cancel-all would meet the same wall and spend the deadline there."""
    exchange = roomy()
    exchange.place_resting_orders(API_KEY, 10, symbol=SYMBOLS[version][0])

    def unreachable(request: httpx.Request) -> httpx.Response | None:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    transport = Wrapped(exchange, unreachable)
    async with client_for(exchange, transport, version=version) as client:
        report = await client.cancel_everything()
    assert not report.flat
    sent = [request.url.path for request in transport.seen]
    assert CANCEL_ALL[version] not in sent
    assert not any("without a listing" in problem for problem in report.problems)


@pytest.mark.parametrize("deadline", [30.0, 8.0])
async def test_a_listing_that_hangs_sends_the_blind_cancel_all_within_a_short_deadline(
    version: ApiVersion, deadline: float
) -> None:
    """The listing never answers (each attempt times out), the cancel-all is healthy; the
    client's own timeout and retries (4 attempts of 10 s). Before, the blind cancel-all waited
    for the listing's attempts to run out (~41 s): with a deadline of 30 s nothing was sent.
    Now a listing is given ``LISTING_PATIENCE``, or half the time left if less (8 s: 4 s): the
    orders are cancelled, and the report is not flat (no listing answered)."""
    exchange = roomy()
    exchange.faults.slow_delay = 10**4
    opened = exchange.place_resting_orders(API_KEY, 30, symbol=SYMBOLS[version][0])
    exchange.faults.next(Fault.SLOW, 10**6, path=LIST[version])
    async with client_for(
        exchange, version=version, retry=RetryPolicy(), timeout=DEFAULT_TIMEOUT
    ) as client:
        report = await client.cancel_everything(deadline=deadline)
    assert not exchange.accounts[API_KEY].orders, "cancelled blind"
    assert not report.flat, "no listing answered"
    assert sorted(report.cancelled) == sorted(opened)
    blind = paths(exchange).count(CANCEL_ALL[version])
    assert 1 <= blind <= report.rounds, "one cancel-all per round at most"
    first = min(LISTING_PATIENCE, deadline / 2)
    assert any(f"within {first:.3g} s" in p for p in report.problems), report.problems


async def test_a_slow_listing_that_fits_the_deadline_still_proves_flat(version: ApiVersion) -> None:
    """Every listing answers in 3 s, the deadline is 9 s: list, cancel, list again fit. Before,
    each listing was given half the time left (3, then 2.99 s, 1.49 s...): the second was cut
    just before its answer, then blind cancel-alls went to an empty account, and the run ended
    not flat. Once a cancel went out for the target, a listing may take the time left."""
    exchange = roomy()
    exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOLS[version][0])
    inner = exchange.transport()

    class SlowListing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == LIST[version]:
                await asyncio.sleep(3.0)
            return await inner.handle_async_request(request)

    async with client_for(exchange, SlowListing(), version=version, timeout=DEFAULT_TIMEOUT) as c:
        report = await c.cancel_everything(deadline=9)
    assert not exchange.accounts[API_KEY].orders
    assert report.flat, report.problems
    assert paths(exchange).count(CANCEL_ALL[version]) <= 1, "no blind cancel-all on a flat book"
