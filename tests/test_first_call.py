"""Priority from a client's very first call: what a cold client waits for before its first request
(the server-time sync) releases its waiters in priority order, so a kill switch fired behind a
crowd of queries still goes first. On the manual clock: limiter, exchange and windows share it."""

from __future__ import annotations

import asyncio
import sys

import pytest

from weex_async import Credentials, Limiter, RateLimits, WeexClient
from weex_async._limiter import Priority
from weex_async._limiter._gate import PriorityGate
from weex_async._limiter._redis import RedisLedger
from weex_async._limiter._shared import SharedLedger
from weex_async.testing import FakeExchange

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .manual_clock import ManualClock


async def idle() -> None:
    """Let every runnable task run (the in-process exchange answers within a few turns)."""
    for _ in range(200):
        await asyncio.sleep(0)


async def next_step(clock: ManualClock) -> None:
    """Run what can run now; when nothing can, move the clock to the next timer."""
    for _ in range(1000):
        await idle()
        if clock.next_timer() is not None:
            break
    when = clock.next_timer()
    assert when is not None, "stuck: nothing to wait for"
    await clock.advance_to(when)


async def kill_switch_behind_queries(
    *, warm: bool, queries: int = 1000, orders: int = 500
) -> float:
    """Seconds (manual clock) from firing ``queries`` open-order queries then ``cancel_orders``
    of ``orders`` ids until the report is back."""
    clock = ManualClock()
    exchange = FakeExchange(monotonic=clock.monotonic, wall=clock.wall)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, orders)
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=exchange.transport(),
        limiter=Limiter(clock=clock),
        rate_limits=RateLimits(),
    ) as client:
        if warm:  # synced and the key confirmed, then a quiet minute
            await client.open_orders()
            await clock.advance(60.0)
        crowd = [asyncio.ensure_future(client.open_orders()) for _ in range(queries)]
        started = clock.now
        kill = asyncio.ensure_future(client.cancel_orders(ids=ids))
        await idle()
        while not kill.done():
            await next_step(clock)
            await idle()
        elapsed = clock.now - started
        report = kill.result()
        assert report.all_cancelled
        while not all(q.done() for q in crowd):
            await next_step(clock)
            await idle()
        assert all(q.exception() is None for q in crowd)
    assert exchange.rate_limited == 0
    return elapsed


async def test_a_cold_kill_switch_goes_as_soon_as_a_warm_one() -> None:
    """It used to take one account window (10 s): everything queued behind the first time sync
    was released in arrival order, and the queries spent the account's window first."""
    warm = await kill_switch_behind_queries(warm=True)
    cold = await kill_switch_behind_queries(warm=False)
    # the sync takes no manual time here (the exchange answers at once): "one sync" is nothing
    assert cold <= warm, (cold, warm)


async def test_the_gate_lets_waiters_through_in_priority_order() -> None:
    gate = PriorityGate()
    order: list[str] = []

    async def wait(name: str, priority: Priority) -> None:
        await gate.wait(priority)
        order.append(name)

    tasks = [
        asyncio.ensure_future(wait(name, priority))
        for name, priority in [
            ("query-1", Priority.QUERY),
            ("place", Priority.PLACE),
            ("query-2", Priority.QUERY),
            ("cancel-1", Priority.CANCEL),
            ("gone", Priority.CANCEL),
            ("cancel-2", Priority.CANCEL),
        ]
    ]
    await idle()
    tasks[4].cancel()  # a waiter cancelled at the gate is skipped
    await idle()
    assert order == []
    gate.open()
    await idle()
    assert order == ["cancel-1", "cancel-2", "place", "query-1", "query-2"]
    await gate.wait(Priority.QUERY)  # open: no wait


async def test_a_caller_cancelled_during_the_first_sync_does_not_cancel_it() -> None:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=exchange.transport(),
    ) as client:
        first = asyncio.ensure_future(client.open_orders())
        second = asyncio.ensure_future(client.open_orders())
        await asyncio.sleep(0)
        first.cancel()
        assert await second == ()
        assert exchange.requests == 4  # the sync (3 samples) went on, then the one query left


async def test_calls_held_back_by_a_redis_outage_leave_in_priority_order() -> None:
    """With ``redis_outage="nothing"``, every call waits for Redis to answer again; when it does,
    the cancels reach the limiter first (an ``asyncio.Event`` let them go in arrival order)."""
    shared = SharedLedger(RedisLedger("redis://127.0.0.1:1/0"), lambda: 0.0, lambda: None)
    shared._set_outage(True)  # noqa: SLF001 (what a failed call to Redis does)
    order: list[str] = []

    async def wait(name: str, priority: Priority) -> None:
        await shared.wait_back(priority)
        order.append(name)

    tasks = [
        asyncio.ensure_future(wait(name, priority))
        for name, priority in [
            ("query", Priority.QUERY),
            ("place", Priority.PLACE),
            ("cancel", Priority.CANCEL),
        ]
    ]
    await idle()
    assert order == []
    shared._set_outage(False)  # noqa: SLF001 (what Redis answering again does)
    await idle()
    assert order == ["cancel", "place", "query"]
    assert all(t.done() for t in tasks)
    await shared.ledger.aclose()


async def test_closing_a_cold_client_releases_the_calls_waiting_for_its_first_sync() -> None:
    # A call started, then the client closed before the first sync ran once: the sync's task
    # was cancelled before its `finally` could open the gate, and every caller waiting there
    # hung for ever (the kill switch included).
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 20)
    client = WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=exchange.transport(),
    )
    async with client:
        report = asyncio.ensure_future(client.cancel_orders(ids=ids))
        flatten = asyncio.ensure_future(client.cancel_everything())
        listing = asyncio.ensure_future(client.open_orders())
        await asyncio.sleep(0)  # each call reaches the gate; the sync has not run yet
    await idle()
    assert report.done()
    assert flatten.done()
    assert listing.done()
    assert len(report.result().failed) == 20  # never sent: the client was closed
    assert not flatten.result().flat
    assert listing.exception() is not None
    assert exchange.accounts[API_KEY].orders.keys() == set(ids)


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Python 3.10 has only asyncio.wait_for: a turn is lost there"
)
async def test_a_cold_kill_switch_with_a_deadline_still_goes_first() -> None:
    """A kill switch usually has a deadline. Its waits under a deadline (for the first sync, for
    its attempt) were each a task of their own on Python 3.11 (``asyncio.wait_for``): one loop
    turn later than the queries woken with it, so ten queries took the ten connection slots and
    the batch cancel arrived eleventh. Now it is the first signed request to arrive."""
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 3)
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=exchange.transport(),
    ) as client:
        crowd = [asyncio.ensure_future(client.open_orders()) for _ in range(20)]
        await asyncio.sleep(0)
        report = await client.cancel_orders(ids=ids, deadline=60)
        await asyncio.gather(*crowd)
    assert report.all_cancelled
    signed = [a.path for a in exchange.arrivals if "/market/time" not in a.path]
    assert signed[0].endswith("cancel_batch_orders"), signed[:12]
