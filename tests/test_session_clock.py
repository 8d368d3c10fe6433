"""``Session`` and its time sync wait on the clock they are given (the loop's by default): a test
moves it, and neither a backoff, a deadline nor a background refresh waits in real time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from weex_async import Credentials, RetryPolicy
from weex_async._client import API
from weex_async._clock import DeadlineReached
from weex_async._session import Session
from weex_async.testing import FakeExchange

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import ROOMY, Wrapped
from .manual_clock import ManualClock, settle

TIME = "/capi/v2/market/time"
#: a wait no test could sit out in real time: only the manual clock ends it
LONG = 600.0


def session(transport: httpx.AsyncBaseTransport, clock: ManualClock, **kwargs: Any) -> Session:
    options: dict[str, Any] = {
        "retry": RetryPolicy(max_attempts=2, backoff_initial=LONG, backoff_max=LONG),
        "sync_time": False,
        "time_sync_interval": LONG,
    }
    options.update(kwargs)
    return Session(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        rate_limits=ROOMY,
        limiter=None,
        transport=transport,
        timeout=5.0,
        max_in_flight=4,
        locale=None,
        http_backend="httpx",
        time_call=API["v2"].server_time(),
        clock=clock,
        **options,
    )


def fake() -> FakeExchange:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


async def test_a_backoff_waits_on_the_sessions_clock() -> None:
    system_error = {"code": "40015", "msg": "system error", "requestTime": 0, "data": None}
    answers = iter([httpx.Response(500, json=system_error)])
    transport = Wrapped(fake(), lambda request: next(answers, None))
    clock = ManualClock(start=asyncio.get_running_loop().time())
    s = session(transport, clock)
    sending = asyncio.ensure_future(s.send(API["v2"].server_time(), retry_unclear=True))
    try:
        await settle()
        assert len(transport.seen) == 1
        assert not sending.done(), "backing off after the 500"
        (timer,) = clock.pending  # the backoff (jittered, at most LONG)
        assert clock.now < timer.when <= clock.now + LONG
        await clock.advance(LONG)
        assert sending.done(), "the backoff ended when the session's clock passed it"
        assert (await sending).timestamp > 0
        assert len(transport.seen) == 2
    finally:
        sending.cancel()
        await s.aclose()


class Unanswered(httpx.AsyncBaseTransport):
    """Takes every request and never answers it."""

    def __init__(self) -> None:
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_deadline_is_read_on_the_sessions_clock() -> None:
    transport = Unanswered()
    clock = ManualClock(start=asyncio.get_running_loop().time())
    s = session(transport, clock)
    sending = asyncio.ensure_future(s.send(API["v2"].server_time(), deadline_at=clock.now + LONG))
    try:
        await settle()
        assert transport.seen == 1
        assert not sending.done()
        await clock.advance(LONG)
        assert sending.done(), "the deadline passed on the session's clock"
        with pytest.raises(DeadlineReached) as reached:
            await sending
        assert (reached.value.attempts, reached.value.in_flight) == (1, True)
    finally:
        sending.cancel()
        await s.aclose()


async def test_the_time_syncs_refresh_waits_on_the_sessions_clock() -> None:
    exchange = fake()
    transport = Wrapped(exchange, lambda request: None)
    clock = ManualClock(start=asyncio.get_running_loop().time())
    s = session(transport, clock, sync_time=True)

    def syncs() -> int:
        return sum(1 for r in transport.seen if r.url.path == TIME)

    try:
        await s.send(API["v2"].open_orders(None, None, None))
        assert syncs() == 3, "the first sync: three samples, before the signed call"
        await settle()
        assert syncs() == 3
        assert [h.when for h in clock.pending] == [clock.now + LONG]
        await clock.advance(LONG)
        assert syncs() == 6, "the refresh came when the session's clock said"
    finally:
        await s.aclose()


async def test_a_hanging_first_sync_spends_at_most_half_a_calls_deadline() -> None:
    """The time endpoint never answers, the private one does. A cancel with a deadline of 1.5 s
    waited for the first sync's whole budget (2 s), then found its deadline passed: never sent,
    orders left resting. It now waits half the time it has left, then goes signed with the local
    clock; the sync goes on behind it."""
    exchange = fake()
    ids = exchange.place_resting_orders(API_KEY, 3, symbol="cmt_btcusdt")

    class NoTime(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == TIME:
                await asyncio.Event().wait()  # never answers
            return await exchange.transport().handle_async_request(request)

    clock = ManualClock(start=asyncio.get_running_loop().time())
    s = session(NoTime(), clock, sync_time=True)
    call = API["v2"].cancel_batch("ids", ids, "cmt_btcusdt")
    sending = asyncio.ensure_future(s.send(call, deadline_at=clock.now + 1.5))
    try:
        await clock.advance(0.75)
        await settle()
        assert sending.done(), "sent at half the deadline, with the local clock"
        sending.result()
        assert not exchange.accounts[API_KEY].orders, "cancelled"
    finally:
        sending.cancel()
        await s.aclose()
