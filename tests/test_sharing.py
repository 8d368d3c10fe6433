"""What clients share, and only what they are given: budgets through a ``Limiter``, one loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from weex_async import Budget, Credentials, Limiter, RateLimits, WeexClient
from weex_async._limiter import _limiter as limiter_module
from weex_async.errors import EventLoopError
from weex_async.testing import FakeExchange

from .conftest import API_KEY


def status(client: WeexClient) -> dict[str, tuple[int, int]]:
    """Pool kind -> (budget, used)."""
    return {s.name.split(":")[0]: (s.budget, s.used) for s in client.rate_limit_status()}


async def test_clients_given_one_limiter_share_its_pools(
    creds: Credentials, exchange: FakeExchange
) -> None:
    shared = Limiter()
    ids = exchange.place_resting_orders(API_KEY, 2)
    async with (
        WeexClient(
            creds, base_url="http://fake", transport=exchange.transport(), limiter=shared
        ) as a,
        WeexClient(
            creds, base_url="http://fake", transport=exchange.transport(), limiter=shared
        ) as b,
        WeexClient(creds, base_url="http://fake", transport=exchange.transport()) as apart,
    ):
        await a.cancel_batch_orders(ids=ids[:1])
        await b.cancel_batch_orders(ids=ids[1:])
        await apart.server_time()
        assert status(a)["uid"] == status(b)["uid"] == (500, 20)  # both calls, one pool
        assert status(apart)["ip"][1] == 1  # the default limiter's pools: only its own call


async def test_the_default_limiter_is_the_running_loops(creds: Credentials) -> None:
    assert Limiter.default() is Limiter.default()
    client = WeexClient(creds, base_url="http://fake", sync_time=False)
    assert repr(client).startswith("<WeexClient http://fake")
    await client.aclose()


async def test_a_closed_clients_budget_no_longer_tightens_the_pool(
    creds: Credentials, exchange: FakeExchange
) -> None:
    shared = Limiter()
    strict = RateLimits(uid=Budget(100, 10.0))

    def client(limits: RateLimits | None = None) -> WeexClient:
        return WeexClient(
            creds,
            base_url="http://fake",
            transport=exchange.transport(),
            limiter=shared,
            rate_limits=limits,
        )

    async with client(strict) as tight:
        await tight.server_time()
        await tight.cancel_batch_orders(ids=exchange.place_resting_orders(API_KEY, 1))
        async with client() as roomy:
            await roomy.cancel_batch_orders(ids=exchange.place_resting_orders(API_KEY, 1))
            assert status(roomy)["uid"][0] == 100  # the strictest open client's budget
    async with client() as later:
        await later.cancel_batch_orders(ids=exchange.place_resting_orders(API_KEY, 1))
        assert status(later)["uid"] == (500, 30)  # its own budget; the charges are still there


def test_a_client_used_from_another_event_loop_says_why(
    creds: Credentials, exchange: FakeExchange
) -> None:
    client = WeexClient(creds, base_url="http://fake", transport=exchange.transport())

    async def first() -> None:
        await client.server_time()

    asyncio.run(first())
    with pytest.raises(EventLoopError, match="another event loop"):
        asyncio.run(first())


def test_a_limiter_used_from_another_thread_says_why(
    creds: Credentials, exchange: FakeExchange
) -> None:
    shared = Limiter()

    async def call() -> None:
        async with WeexClient(
            creds, base_url="http://fake", transport=exchange.transport(), limiter=shared
        ) as client:
            await client.server_time()

    asyncio.run(call())
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(call())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(timeout=10)
    assert len(errors) == 1
    assert isinstance(errors[0], EventLoopError)
    assert "another event loop" in str(errors[0])


def test_default_limiters_of_two_open_loops_are_said_to_share_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Two threads each running their own loop (default settings): each loop's default limiter
    # kept its own budget, so together they earned 429s (14 in a 4-thread run), without a word.
    monkeypatch.setattr(limiter_module, "_warned_loops", False)

    async def first_use() -> None:
        Limiter.default()

    first = asyncio.new_event_loop()
    second = asyncio.new_event_loop()
    try:
        first.run_until_complete(first_use())
        assert "share no budget" not in caplog.text  # one loop: nothing to say
        second.run_until_complete(first_use())  # while the first is still open
    finally:
        first.close()
        second.close()
    assert 'give every client RateLimits(ledger="host")' in caplog.text
    caplog.clear()
    monkeypatch.setattr(limiter_module, "_warned_loops", False)
    third = asyncio.new_event_loop()
    try:
        third.run_until_complete(first_use())  # the others are closed: one loop at a time
    finally:
        third.close()
    assert "share no budget" not in caplog.text
