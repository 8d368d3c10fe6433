"""What clients share, and only what they are given: budgets through a ``Limiter``, one loop."""

from __future__ import annotations

import asyncio
import threading
import weakref

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


def _call_on_a_new_loop(ledger: str) -> asyncio.AbstractEventLoop:
    """A client of the default limiter (``ledger``) called once on a new loop, left open."""
    exchange = FakeExchange()
    exchange.add_account(API_KEY, "secret", "passphrase")

    async def call() -> None:
        async with WeexClient(
            Credentials(API_KEY, "secret", "passphrase"),
            base_url="http://fake",
            transport=exchange.transport(),
            rate_limits=RateLimits(ledger=ledger),
            sync_time=False,
        ) as client:
            await client.open_orders()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(call())
    return loop


@pytest.mark.parametrize(
    ("ledgers", "warned"),
    [
        (("process", "process"), True),
        (("host", "process"), True),  # the second loop's calls are counted by no ledger
        (("process", "host"), True),  # nor the first's
        (("host", "host"), False),  # one ledger meters both loops: they do share
    ],
)
def test_default_limiters_of_two_open_loops_are_said_to_share_nothing(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    ledgers: tuple[str, str],
    warned: bool,
) -> None:
    # Two threads each running their own loop (default settings): each loop's default limiter
    # kept its own budget, so together they earned 429s (14 in a 4-thread run), without a word.
    # With every client on the host (or a Redis) ledger they share it: no 429, and no warning.
    monkeypatch.setattr(limiter_module, "_warned_loops", False)
    monkeypatch.setattr(limiter_module, "_CLIENT_LOOPS", weakref.WeakKeyDictionary())
    loops = [_call_on_a_new_loop(ledgers[0])]
    try:
        assert "share no budget" not in caplog.text  # one loop: nothing to say
        loops.append(_call_on_a_new_loop(ledgers[1]))  # while the first is still open
    finally:
        for loop in loops:
            loop.close()
    said = 'give every client RateLimits(ledger="host")' in caplog.text
    assert said is warned, caplog.text
    caplog.clear()
    monkeypatch.setattr(limiter_module, "_warned_loops", False)
    _call_on_a_new_loop("process").close()  # the others are closed: one loop at a time
    assert "share no budget" not in caplog.text
