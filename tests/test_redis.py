"""Several processes, one budget: the Redis ledger against a real redis-server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from weex_async import Credentials, RateLimits, WeexClient
from weex_async._limiter._redis import RedisLedger, RedisUnavailable
from weex_async.testing import FakeExchange, RedisServer, serve

SHARED_KEY = "shared-account"
LIMITS_WINDOW = 1.0
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    if server.binary is None:
        if os.environ.get("WEEX_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (WEEX_REQUIRE_REDIS) but not installed")
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def ledger(redis_server: RedisServer) -> AsyncIterator[RedisLedger]:
    ledger = RedisLedger(redis_server.url, namespace="test")
    yield ledger
    await ledger.aclose()


async def test_reserve_charges_up_to_the_budget_then_waits(
    ledger: RedisLedger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="weex_async.limiter")
    pool = (ledger.key("uid"), 30, 0.3, 10)
    for _ in range(3):
        await ledger.reserve([pool])
    assert "waiting" not in caplog.text  # the whole budget at once, no wait
    assert await ledger.client.get(f"{pool[0]}:used") == b"30"
    await ledger.reserve([pool])  # the fourth waits for the first charge to leave the window
    assert "shared budget: waiting" in caplog.text


async def test_all_or_nothing_across_pools(ledger: RedisLedger) -> None:
    full, empty = ledger.key("a"), ledger.key("b")
    await ledger.reserve([(full, 10, 0.3, 10)])
    waiting = asyncio.ensure_future(ledger.reserve([(full, 10, 0.3, 10), (empty, 10, 0.3, 10)]))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    assert await ledger.client.zcard(empty) == 0  # nothing held in B while A is full
    await waiting
    assert await ledger.client.zcard(empty) == 1


async def test_pause_extends_never_shortens(ledger: RedisLedger) -> None:
    key = ledger.key("p")
    await ledger.pause([key], 5.0)
    await ledger.pause([key], 1.0)
    assert 4000 < await ledger.client.pttl(f"{key}:pause") <= 5000


async def test_unreachable_redis_raises_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = RedisLedger(f"redis://127.0.0.1:{RedisServer(tmp_path).port}/0", timeout=0.2)
    with pytest.raises(RedisUnavailable):
        await ledger.reserve([(ledger.key("x"), 10, 1.0, 1)])
    assert not ledger.available
    assert "unreachable" in caplog.text
    await ledger.aclose()


def test_three_processes_share_one_account_budget(redis_server: RedisServer) -> None:
    exchange = FakeExchange(window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(SHARED_KEY, "shared-secret", "shared-pass")
    ids = exchange.open_orders(SHARED_KEY, 150)
    with serve(exchange) as url:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.redis_worker",
                    url,
                    redis_server.url,
                    ids[50 * n],
                    "50",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(3)
        ]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert sum(json.loads(out)["cancelled"] for out in outputs) == 150
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= 500  # 150 calls x 10 = 3 windows' worth
    assert exchange.worst_window("uid") == 500  # and the budget was used


async def test_falls_back_to_a_local_share_and_returns(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    exchange = FakeExchange()
    exchange.add_account("fb-key", "fb-secret", "fb-pass")
    limits = RateLimits(trade=None, redis_url=redis_server.url, redis_fallback_share=0.2)
    async with WeexClient(
        Credentials("fb-key", "fb-secret", "fb-pass"),
        base_url="http://fake",
        transport=exchange.transport(),
        rate_limits=limits,
    ) as client:
        await client.cancel_batch_orders(ids=["1"])  # shared through Redis
        redis_server.stop()
        for n in range(3):  # Redis is gone mid-run: the calls still go, under the local share
            await client.cancel_batch_orders(ids=[str(n)])
        uid = next(s for s in client.rate_limit_status() if s.name.startswith("uid"))
        assert uid.budget == 100  # 20% of 500
        assert "unreachable" in caplog.text
        redis_server.start()
        await asyncio.sleep(1.1)  # the next attempt to reach Redis is due
        await client.cancel_batch_orders(ids=["9"])
        uid = next(s for s in client.rate_limit_status() if s.name.startswith("uid"))
        assert uid.budget == 500
        assert "back" in caplog.text
