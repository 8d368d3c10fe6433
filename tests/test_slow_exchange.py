"""cancel_orders against an exchange that answers late or not at all: the report still comes soon.

Every private request is answered after 30 s (the fake's ``Fault.SLOW``: the cancel takes effect
at once, its answer waits), so each call gives up after its retries. The looks that settle the
orders left unknown (listing pages, history pages, lookups) stop once two in a row went
unanswered, instead of four attempts of 10 s per order. All of it on jumping time (conftest):
the timeouts pass at once, and the loop's clock says how long it would have taken.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from weex_async import RetryPolicy
from weex_async._cancel import CancelRun
from weex_async._checks import ApiVersion
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY
from .helpers import SYMBOL, check, client_for, paths_counted

pytestmark = pytest.mark.usefixtures("version", "jumping_clock")

DETAIL = {"v2": "/capi/v2/order/detail", "v3": "/capi/v3/order"}
LIST = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}
BATCH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}
GAVE_UP = re.compile(
    r"; not looked up: the exchange did not answer 2 reads in a row \(the last: "
    r"RequestTimeoutError: [^)]*\)\), so this run sent no more$"
)


async def test_an_exchange_that_answers_nothing_in_time_gets_one_lookup_not_one_per_order(
    exchange: FakeExchange, version: ApiVersion, jumping_clock: bool
) -> None:
    """The reviewer's case, its times divided by 100: 60 orders, every private request answered
    after 0.3 s, a timeout of 0.1 s, four attempts (the defaults: 30 s, 10 s, 4). Before, each
    order had its own four lookup attempts (240 lookups, ten at a time); now the listing and one
    lookup go unanswered, and the rest are reported unknown at once, with one reason."""
    ids = exchange.place_resting_orders(API_KEY, 60, symbol=SYMBOL[version])
    exchange.faults.slow_delay = 0.3
    exchange.faults.next(Fault.SLOW, 10**6)
    attempts = RetryPolicy().max_attempts
    retry = RetryPolicy(max_attempts=attempts, backoff_initial=0.001, backoff_max=0.005)
    loop = asyncio.get_running_loop()
    async with client_for(exchange, version=version, retry=retry, timeout=0.1) as client:
        started = loop.time()
        report = await client.cancel_orders(ids=ids)
        took = loop.time() - started
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    counts = paths_counted(exchange)
    batches = counts[BATCH[version]]
    # two reads went unanswered, whatever they were: the listing and one lookup, or (V3, whose
    # lost batches wait for a listing before they go again) two listings
    reads = {path: n for path, n in counts.items() if path != BATCH[version]}
    assert set(reads) <= {LIST[version], DETAIL[version]}
    assert sum(reads.values()) == 2 * attempts, reads
    assert report.calls == batches + 2 * attempts
    reasons = set(report.unknown.values())
    assert len(reasons) == 1, reasons  # one reason, the same for all
    assert GAVE_UP.search(reasons.pop())
    if jumping_clock:  # the first batch alone (is the key right?), then the others, the
        # listing and one lookup: 0.4 s each; before: 2.4 s more of lookups
        assert took < 4 * attempts * 0.1 + 0.2


async def test_looks_on_the_wire_are_dropped_once_two_went_unanswered(
    exchange: FakeExchange, version: ApiVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four lookups at once (no page first): two end at once with a timeout, after their
    retries; the two others, unanswered on the wire, are dropped then, not tried three times."""
    monkeypatch.setattr(CancelRun, "pages_first", False)  # lookups only, on both versions
    ids = exchange.place_resting_orders(API_KEY, 4, symbol=SYMBOL[version])
    # the first attempt cancels them, its answer is lost; the retry hears "not found": unknown
    exchange.faults.next(Fault.DROP_AFTER, 1, path=BATCH[version])
    looked: dict[str, int] = {}
    inner = exchange.transport()

    class Looks(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == DETAIL[version]:
                name = request.url.params["orderId"]
                looked[name] = looked.get(name, 0) + 1
                if name in ids[:2]:
                    raise httpx.ReadTimeout("no answer", request=request)
                await asyncio.sleep(0.5)  # never answered: the client's read timeout ends it
                raise httpx.ReadTimeout("no answer", request=request)
            return await inner.handle_async_request(request)

    async with client_for(exchange, Looks(), version=version) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    attempts = client.retry.max_attempts
    assert looked == {ids[0]: attempts, ids[1]: attempts, ids[2]: 1, ids[3]: 1}
    gave_up = "; not looked up: the exchange did not answer 2 reads in a row"
    for name in ids[2:]:  # dropped on the wire
        assert gave_up in report.unknown[name]
    # of the two that ended, the first says its own failure; the second, why no more were sent
    assert sorted(gave_up in report.unknown[name] for name in ids[:2]) == [False, True]
    assert any("the lookup failed (RequestTimeoutError" in report.unknown[name] for name in ids[:2])


async def test_a_burst_of_connection_resets_does_not_end_the_looks(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The reviewer's case: every attempt of the batch cancel, of the listing and of the first
    lookup is reset (each read's attempts fail in a fraction of a second), then the exchange
    answers. Resets are no sign that waiting is wasted: the lookups go on and find the orders
    open, and they are cancelled. Before, the two reset reads ended the settling: 20 orders left
    resting, reported unknown."""
    ids = exchange.place_resting_orders(API_KEY, 20, symbol=SYMBOL[version])
    attempts = RetryPolicy().max_attempts
    exchange.faults.next(Fault.DROP_BEFORE, attempts, path=BATCH[version])
    exchange.faults.next(Fault.DROP_BEFORE, attempts, path=LIST[version])
    exchange.faults.next(Fault.DROP_BEFORE, attempts, path=DETAIL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert not exchange.accounts[API_KEY].orders, "nothing left resting"
    assert set(report.cancelled) | set(report.unknown) == set(ids)
    assert not any("not looked up" in why for why in report.unknown.values())
    assert len(report.unknown) <= 1, "at most the lookup that was reset is unknown"


async def test_one_unanswered_look_does_not_end_the_looks(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The listing goes unanswered, then a lookup is answered: the count starts again, the
    lookups go on (at once again), and a second lookup lost on its own ends nothing either."""
    ids = exchange.place_resting_orders(API_KEY, 10, symbol=SYMBOL[version])
    exchange.faults.next(Fault.DROP_BEFORE, 3, path=BATCH[version])  # every attempt lost: open
    inner = exchange.transport()

    class Blips(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == LIST[version] or (
                path == DETAIL[version] and request.url.params["orderId"] == ids[5]
            ):
                raise httpx.ReadTimeout("no answer", request=request)
            return await inner.handle_async_request(request)

    async with client_for(exchange, Blips(), version=version) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert set(report.cancelled) == set(ids) - {ids[5]}  # found open by lookup, cancelled again
    assert "the lookup failed (RequestTimeoutError" in report.unknown[ids[5]]
    assert "not looked up" not in report.unknown[ids[5]]
    assert exchange.accounts[API_KEY].orders.keys() == {ids[5]}


async def test_a_caller_cancelled_while_looks_wait_their_turn_gets_its_cancel(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The listing went unanswered, one lookup is on the wire, the others wait their turn: the
    caller's cancel is the caller's (raised, not taken for the run's own), nothing is left
    running, no slot held, no look left unawaited."""
    ids = exchange.place_resting_orders(API_KEY, 20, symbol=SYMBOL[version])
    exchange.faults.slow_delay = 1.0  # the client's timeout: 0.5 s
    exchange.faults.next(Fault.SLOW, 10**6)
    looking = asyncio.Event()
    inner = exchange.transport()

    class Watched(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == DETAIL[version]:
                looking.set()
            return await inner.handle_async_request(request)

    async with client_for(exchange, Watched(), version=version) as client:
        before = asyncio.all_tasks()
        task = asyncio.ensure_future(client.cancel_orders(ids=ids))
        await looking.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [s.used for s in client.rate_limit_status() if s.name == "in-flight"] == [0]
    for _ in range(5):  # the client closed (its time sync with it): let the rest unwind
        await asyncio.sleep(0)
    assert not {t for t in asyncio.all_tasks() - before if not t.done()}
    assert paths_counted(exchange)[DETAIL[version]] == 1
