"""A Redis that cannot keep the ledger is refused at the first contact, naming the setting."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from weex_async import Credentials, RateLimits, WeexClient
from weex_async.errors import ConfigurationError
from weex_async.testing import FakeExchange, RedisServer

from .test_redis import adopt_epoch

EVICTING = ["--maxmemory", "10mb", "--maxmemory-policy"]


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[object]:
    servers: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(tmp_path, args=args)
        if server.binary is None:
            if os.environ.get("WEEX_REQUIRE_REDIS"):
                pytest.fail("redis-server is required here (WEEX_REQUIRE_REDIS)")
            pytest.skip("redis-server is not installed")
        servers.append(server)  # stopped even if it fails to start
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


async def _cancel_one(url: str) -> None:
    exchange = FakeExchange()
    exchange.add_account("k", "s", "p")
    (order,) = exchange.place_resting_orders("k", 1)
    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="http://fake",
        transport=exchange.transport(),
        rate_limits=RateLimits(ledger=url),
    ) as client:
        await client.cancel_batch_orders(ids=[order])


@pytest.mark.parametrize("policy", ["volatile-ttl", "allkeys-lru", "volatile-lru"])
async def test_a_policy_that_can_evict_the_ledger_is_refused(
    start_redis: object, policy: str
) -> None:
    server = start_redis(*EVICTING, policy)  # type: ignore[operator]
    with pytest.raises(ConfigurationError, match=f"maxmemory-policy {policy}") as caught:
        await _cancel_one(server.url)
    assert "noeviction" in str(caught.value)


@pytest.mark.parametrize(
    "args",
    [
        [],  # the default: no maxmemory limit
        [*EVICTING, "noeviction"],
        ["--maxmemory-policy", "allkeys-lru"],  # no limit: nothing is ever evicted
        [*EVICTING, "noeviction", "--rename-command", "CONFIG", ""],  # INFO tells it
    ],
)
async def test_a_redis_that_keeps_its_keys_is_used(start_redis: object, args: list[str]) -> None:
    server = start_redis(*args)  # type: ignore[operator]
    adopt_epoch(server)  # checked as the clients check it; no restart grace to wait out
    await _cancel_one(server.url)


async def test_a_redis_that_hides_its_policy_is_refused(start_redis: object) -> None:
    server = start_redis(  # type: ignore[operator]
        "--rename-command", "CONFIG", "", "--rename-command", "INFO", ""
    )
    with pytest.raises(ConfigurationError, match="cannot read maxmemory-policy"):
        await _cancel_one(server.url)


async def test_checked_when_redis_first_answers(tmp_path: Path) -> None:
    """A process that starts while Redis is down checks it when it first answers."""
    from weex_async._limiter._redis import RedisLedger, RedisUnavailable

    server = RedisServer(tmp_path, args=[*EVICTING, "allkeys-lru"])
    if server.binary is None:
        pytest.skip("redis-server is not installed")
    ledger = RedisLedger(server.url, timeout=0.2)
    with pytest.raises(RedisUnavailable):
        await ledger.current_epoch()
    server.start()
    try:
        with pytest.raises(ConfigurationError, match="maxmemory-policy allkeys-lru"):
            await ledger.current_epoch()
    finally:
        server.stop()
        await ledger.aclose()
