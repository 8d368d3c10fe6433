"""The limiter against the fake exchange's exact sliding window, counted at arrival.

Budgets are WEEX's shape scaled to a 1-second window so the suite stays fast; nothing here asserts
elapsed time: the assertions are what the server counted.
"""

from __future__ import annotations

import asyncio

import pytest

from weex_async import Budget, Credentials, RateLimits, WeexClient
from weex_async.errors import RateLimitError
from weex_async.testing import FakeExchange, Fault

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

WINDOW = 1.0
LIMITS = RateLimits(
    ip=Budget(500, WINDOW), uid=Budget(500, WINDOW), trade=None, arrival_jitter=0.1, ban=0.2
)


def make_exchange(accounts: int) -> tuple[FakeExchange, list[Credentials]]:
    loop = asyncio.get_running_loop()
    # metered on the loop's clock, the one the limiter reads (jumping time in this module)
    exchange = FakeExchange(window=WINDOW, ban=5.0, monotonic=lambda: loop.time())
    creds = []
    for n in range(accounts):
        creds.append(Credentials(f"acct-{n}", f"secret-{n}", f"pass-{n}"))
        exchange.add_account(*attrs_tuple(creds[-1]))
    return exchange, creds


def attrs_tuple(c: Credentials) -> tuple[str, str, str]:
    return c.api_key, c.api_secret, c.passphrase


async def fire(client: WeexClient, exchange: FakeExchange, key: str, calls: int) -> int:
    ids = exchange.place_resting_orders(key, calls * 5)
    chunks = [ids[i : i + 5] for i in range(0, len(ids), 5)]
    results = await asyncio.gather(*(client.cancel_batch_orders(ids=c) for c in chunks))
    return sum(item.result for r in results for item in r.cancel_order_result_list)


async def test_200_batch_cancels_at_once_never_trip_the_exact_window() -> None:
    exchange, (creds,) = make_exchange(1)
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), rate_limits=LIMITS
    ) as client:
        cancelled = await fire(client, exchange, creds.api_key, 200)
    assert cancelled == 1000
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid") == 500  # the whole budget used, never more
    assert exchange.worst_window("ip") <= 500


async def test_three_accounts_in_one_process_share_one_ip_budget() -> None:
    exchange, accounts = make_exchange(3)
    clients = [
        WeexClient(c, base_url="http://fake", transport=exchange.transport(), rate_limits=LIMITS)
        for c in accounts
    ]
    try:
        counts = await asyncio.gather(
            *(fire(cl, exchange, c.api_key, 60) for cl, c in zip(clients, accounts, strict=True))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert counts == [300, 300, 300]
    assert exchange.rate_limited == 0
    assert exchange.worst_window("ip") <= 500  # 3 x 60 calls x 5 = 900 IP weight: shared
    for c in accounts:
        assert exchange.worst_window("uid", c.api_key) <= 500


async def test_a_429_pauses_then_the_batch_cancel_is_retried() -> None:
    exchange, (creds,) = make_exchange(1)
    ids = exchange.place_resting_orders(creds.api_key, 3)
    exchange.faults.next(Fault.RATE_LIMIT)
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), rate_limits=LIMITS
    ) as client:
        result = await client.cancel_batch_orders(ids=ids)
        assert all(item.result for item in result.cancel_order_result_list)
    assert exchange.requests == 3 + 2  # 3 time samples; the 429, then the retry


async def test_429_storm_gives_up_after_max_attempts() -> None:
    exchange, (creds,) = make_exchange(1)
    exchange.faults.next(Fault.RATE_LIMIT, times=10)
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), rate_limits=LIMITS
    ) as client:
        with pytest.raises(RateLimitError):
            await client.cancel_batch_orders(ids=["1"])
    assert exchange.faults.injected[Fault.RATE_LIMIT] == client.retry.max_attempts


async def test_server_usage_headers_keep_us_below_what_another_tool_spent() -> None:
    exchange = FakeExchange(window=WINDOW, usage_headers=True)
    creds = Credentials("acct", "secret", "pass")
    exchange.add_account("acct", "secret", "pass")
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), rate_limits=LIMITS
    ) as client:
        await client.cancel_batch_orders(ids=["1"])
        uid = next(s for s in client.rate_limit_status() if s.name.startswith("uid"))
        assert uid.used == 10
        # Another process on the same account spends 400 behind our back ...
        exchange.spend_elsewhere(400, api_key="acct")
        await client.cancel_batch_orders(ids=["2"])
        uid = next(s for s in client.rate_limit_status() if s.name.startswith("uid"))
        assert uid.used >= 420  # ... and the server's header raised our ledger to match
