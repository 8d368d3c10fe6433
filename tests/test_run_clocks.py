"""``CancelRun`` and ``FlattenRun`` read time on the clock they are given (the event loop's by
default): a test moves it, and nothing waits in real time."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from weex_async._cancel import BatchLimit, CancelRun, Verdict
from weex_async._client import API
from weex_async._flatten import FlattenRun
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import Wrapped, client_for
from .manual_clock import ManualClock, jumping_time

BATCH = "/capi/v2/order/cancel_batch_orders"
TIME = "/capi/v2/market/time"


def fake() -> FakeExchange:
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


async def test_a_flatten_report_is_timed_on_the_runs_clock() -> None:
    exchange = fake()
    exchange.place_resting_orders(API_KEY, 3)
    # The manual clock reads as the loop's at the start, so the session (which reads the loop's)
    # agrees with it on any deadline; then it moves only when the test says so.
    clock = ManualClock(start=asyncio.get_running_loop().time())

    def a_second_per_request(request: httpx.Request) -> None:
        if request.url.path != TIME:
            clock.step(1.0)

    transport = Wrapped(exchange, a_second_per_request)
    async with client_for(exchange, transport, version="v2") as client:
        run = FlattenRun(
            client._session,  # noqa: SLF001 - the run itself is under test
            API["v2"],
            BatchLimit(50),
            None,
            None,
            clock=clock,
        )
        report = await run.run()
    assert report.flat
    sent = [r for r in transport.seen if r.url.path != TIME]
    assert report.elapsed == float(len(sent)) > 0, "one manual second per request, no other"


@pytest.mark.parametrize("passed", [False, True], ids=["within", "passed"])
async def test_a_cancel_run_past_its_deadline_on_its_clock_looks_nothing_up(passed: bool) -> None:
    """An unanswered attempt leaves an order unknown; the lookups that would settle it are not
    sent once the run's clock has passed the deadline (the session, on the loop's clock, still
    sends the batch's retry within it)."""
    exchange = fake()
    (order,) = exchange.place_resting_orders(API_KEY, 1)
    exchange.faults.next(Fault.DROP_AFTER, path=BATCH)  # cancelled, the answer lost
    clock = ManualClock(start=asyncio.get_running_loop().time())
    deadline_at = clock.now + 60.0

    def late(request: httpx.Request) -> None:
        if passed and request.url.path == BATCH:
            clock.step(120.0)  # the run's clock is past the deadline after the batch

    transport = Wrapped(exchange, late)
    async with client_for(exchange, transport, version="v2") as client:
        run = CancelRun(
            client._session,  # noqa: SLF001 - the run itself is under test
            API["v2"],
            "ids",
            None,
            deadline_at,
            BatchLimit(50),
            confirm=True,
            clock=clock,
        )
        report = await run.run([order], 50)
    looked_up = [r for r in transport.seen if r.url.path not in (TIME, BATCH)]
    if passed:
        assert run.outcomes[order].verdict is Verdict.UNKNOWN
        assert not looked_up, "nothing sent after the deadline on the run's clock"
    else:
        assert report.cancelled == (order,), "settled by a look"
        assert looked_up


async def test_jumping_time_fires_timers_at_once_in_order_at_their_due_time() -> None:
    """The tests' jumping clock (``manual_clock.jumping_time``): an hour of sleeps passes at
    once, each sleeper wakes in its turn, at its due time on the loop's clock."""
    loop = asyncio.get_running_loop()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        woke.append((name, loop.time()))

    with jumping_time(loop) as jumping:
        if not jumping:
            pytest.skip("this loop cannot jump (uvloop's): its tests wait in real time")
        start = loop.time()
        await asyncio.gather(sleeper("late", 3600.0), sleeper("early", 1800.0))
    assert [name for name, _ in woke] == ["early", "late"]
    assert [round(at - start) for _, at in woke] == [1800, 3600]
    assert "time" not in vars(loop), "the loop's own clock again"
