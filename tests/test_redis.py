"""Several processes, one budget: the Redis ledger against a real redis-server."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weex_async import Budget, Credentials, Limiter, RateLimits, WeexClient
from weex_async._limiter._pools import WindowPool
from weex_async._limiter._redis import RedisLedger, RedisUnavailable
from weex_async.testing import FakeExchange, RedisServer, serve

from .redis_worker import BUDGET, LIMITS_WINDOW, SHARED_KEY, Warm

__all__ = ["LIMITS_WINDOW", "SHARED_KEY"]  # where the other multi-process tests find them

ROOT = Path(__file__).resolve().parent.parent


def adopt_epoch(server: RedisServer) -> None:
    """Write the clients' ledger epoch into a fresh Redis with no restart grace, as a ledger
    already in use has it: a test starts without waiting out a grace (``RESTART_GRACE``, 2 s of
    wall time on Redis's own clock, which no manual clock reaches). A restart during the test
    (``server.start()`` again) writes a new epoch with the grace, as in production."""

    async def write() -> None:
        ledger = RedisLedger(server.url, restart_grace=0)  # the clients' namespace
        try:
            await ledger.current_epoch()
        finally:
            await ledger.aclose()

    # A thread of its own: asyncio.run must not replace the event loop a test may be using.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, write()).result()


def started_redis(tmp_path: Path) -> RedisServer:
    server = RedisServer(tmp_path)
    if server.binary is None:
        if os.environ.get("WEEX_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (WEEX_REQUIRE_REDIS) but not installed")
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server.start()
    return server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running Redis whose ledger epoch is already written (no restart grace to wait out)."""
    server = started_redis(tmp_path)
    adopt_epoch(server)
    yield server
    server.stop()


@pytest.fixture
def unused_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running Redis no ledger has used yet: the first client writes the epoch, and waits out
    the restart grace (``RESTART_GRACE``) before its first charge."""
    server = started_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
async def ledger(redis_server: RedisServer) -> AsyncIterator[RedisLedger]:
    ledger = RedisLedger(redis_server.url, namespace="test", restart_grace=0)
    await ledger.republish(await ledger.current_epoch(), [])  # adopt the epoch, publish nothing
    yield ledger
    await ledger.aclose()


async def test_reserve_charges_up_to_the_budget_then_waits(
    ledger: RedisLedger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="weex_async.limiter")
    # answered at once: counted from the reservation (a lease ahead, it would wait 2 s more)
    ledger.lease = 0.0
    pool = (ledger.key("uid"), 30, 0.3, 10)
    for _ in range(3):
        await ledger.reserve([pool])
    assert "waiting" not in caplog.text  # the whole budget at once, no wait
    assert await ledger.client.get(f"{pool[0]}:used") == b"30"
    await ledger.reserve([pool])  # the fourth waits for the first charge to leave the window
    assert "shared budget: waiting" in caplog.text


async def test_all_or_nothing_across_pools(ledger: RedisLedger) -> None:
    ledger.lease = 0.0  # counted from the reservation: A frees one window after it
    full, empty = ledger.key("a"), ledger.key("b")
    await ledger.reserve([(full, 10, 1.0, 10)])
    waiting = asyncio.ensure_future(ledger.reserve([(full, 10, 1.0, 10), (empty, 10, 1.0, 10)]))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    assert await ledger.client.zcard(empty) == 0  # nothing held in B while A is full
    await waiting
    assert await ledger.client.zcard(empty) == 1


ledger_calls = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["ip", "uid", "trade"]), min_size=1, max_size=3, unique=True),
        st.integers(min_value=1, max_value=40),  # weight
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ledger_calls)
async def test_redis_ledger_agrees_with_the_local_window_pools(
    ledger: RedisLedger, calls: list[tuple[list[str], int]]
) -> None:
    """The same calls, in the same order, charged to Redis and to local pools: the same ones fit
    (all or nothing across pools), and a call that does not fit is told to wait in both.
    The window is long, so nothing expires while the example runs."""
    window, limits = 60.0, {"ip": 100, "uid": 70, "trade": 45}
    run = uuid.uuid4().hex  # fresh keys per example
    local = {name: WindowPool(name, limit, window) for name, limit in limits.items()}
    for names, weight in calls:
        pools = [(ledger.key(run, name), limits[name], window, weight) for name in names]
        fits_locally = all(local[name].can_take(weight, 0.0) for name in names)
        wait, _ = await ledger.try_reserve(pools)
        assert (wait == 0.0) == fits_locally
        if fits_locally:
            for name in names:
                local[name].take(weight, 0.0)
        else:
            assert wait > window - 5  # not before the first charge leaves the window
    for name, pool in local.items():
        stored = await ledger.client.get(f"{ledger.key(run, name)}:used")
        assert int(stored or 0) == pool.used(0.0)


async def redis_ms(ledger: RedisLedger) -> float:
    seconds, micros = await ledger.client.time()
    return float(seconds) * 1000 + float(micros) / 1000


async def test_settle_restamps_a_charge_on_redis_clock(ledger: RedisLedger) -> None:
    key = ledger.key("settle")
    answered = await ledger.reserve([(key, 10, 5.0, 1)])
    given_up = await ledger.reserve([(key, 10, 5.0, 1)])
    before = await redis_ms(ledger)
    assert await ledger.settle([(key, 5.0, answered[0])], 0.25) == 1  # until now + 4.75 s
    assert await ledger.settle([(key, 5.0, given_up[0])], 0.0) == 1  # until now + 5 s
    after = await redis_ms(ledger)
    stamps = dict(await ledger.client.zrange(key, 0, -1, withscores=True))
    assert before - 250 <= stamps[answered[0].encode()] <= after - 250
    assert before <= stamps[given_up[0].encode()] <= after
    assert await ledger.client.get(f"{key}:used") == b"2"  # re-stamped, not charged again
    await ledger.client.zrem(key, answered[0])  # as if it had expired (a stalled process)
    await ledger.client.decrby(f"{key}:used", 1)
    # its request counts at the exchange whatever happened to the ledger: charged again
    assert await ledger.settle([(key, 5.0, answered[0])], 0.25) == 0
    assert await ledger.client.zcard(key) == 2
    assert await ledger.client.get(f"{key}:used") == b"2"


async def test_a_charge_on_the_wire_is_asked_about_again_one_window_later(
    ledger: RedisLedger,
) -> None:
    """A call that does not fit because of a charge on the wire is told the earliest moment it
    could: one window from now (if that request were answered now), not a lease later."""
    key = ledger.key("wire")
    await ledger.reserve([(key, 1, 5.0, 1)])
    wait, _ = await ledger.try_reserve([(key, 1, 5.0, 1)])
    assert 4.9 < wait <= 5.0


async def test_a_charge_is_held_a_lease_ahead_and_renewed(ledger: RedisLedger) -> None:
    """A charge on the wire counts until a lease from its last renewal plus its window: a request
    answered late never lets another process spend its weight."""
    key = ledger.key("held")
    before = await redis_ms(ledger)
    member = await ledger.reserve([(key, 10, 5.0, 1)])
    stamps = dict(await ledger.client.zrange(key, 0, -1, withscores=True))
    assert stamps[member[0].encode()] >= before + ledger.lease * 1000
    await asyncio.sleep(0.2)
    renewed = await redis_ms(ledger)
    await ledger.hold([(key, 5.0, member[0])])
    stamps = dict(await ledger.client.zrange(key, 0, -1, withscores=True))
    assert stamps[member[0].encode()] >= renewed + ledger.lease * 1000


async def test_a_later_stamp_keeps_the_pool_keys_alive(ledger: RedisLedger) -> None:
    """A charge given up late counts one window from then: its pool's keys must not expire with
    the reservation's time to live (one window and a second from the reservation)."""
    ledger.lease = 0.0  # a charge counted from its reservation, as a stalled process's is
    key = ledger.key("late")
    member = await ledger.reserve([(key, 10, 0.6, 1)])  # keys live 1.6 s
    await asyncio.sleep(0.5)
    assert await ledger.settle([(key, 0.6, member[0])], 0.0) == 1  # counts until now + 0.6 s
    assert await ledger.client.pttl(key) > 1400  # 1.6 s from the settlement, not 1.1 s left
    assert await ledger.client.pttl(f"{key}:used") > 1400


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


def test_three_processes_share_one_account_budget(
    redis_server: RedisServer, warm_workers: Warm
) -> None:
    exchange = FakeExchange(uid_budget=BUDGET, window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(SHARED_KEY, "shared-secret", "shared-pass")
    ids = exchange.place_resting_orders(SHARED_KEY, 30)
    with serve(exchange) as url:
        workers = [warm_workers.take(url, redis_server.url, ids[10 * n], "10") for n in range(3)]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert sum(json.loads(out)["cancelled"] for out in outputs) == 30
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= BUDGET  # 30 calls x 10 = 3 windows' worth
    assert exchange.worst_window("uid") == BUDGET  # and the budget was used


async def test_falls_back_to_a_local_share_and_returns(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING)
    # the client's ledger asks Redis again every 50 ms during the outage, not every second (the
    # interval is not the subject): the test waits for that attempt to be due, not for a second
    opened: list[RedisLedger] = []

    def open_ledger(url: str) -> RedisLedger:
        opened.append(RedisLedger(url, retry_interval=0.05))
        return opened[-1]

    # the Limiter opens its ledgers through the name in its own module's globals
    monkeypatch.setitem(Limiter.ledger.__globals__, "open_ledger", open_ledger)
    # one-second windows: the first window of the outage (its own charge leaving) is 1 s, not 10
    exchange = FakeExchange(window=LIMITS_WINDOW)
    exchange.add_account("fb-key", "fb-secret", "fb-pass")
    limits = RateLimits(
        ip=Budget(500, LIMITS_WINDOW),
        uid=Budget(500, LIMITS_WINDOW),
        trade=None,
        redis_url=redis_server.url,
        redis_fallback_share=0.2,
    )
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
        adopt_epoch(redis_server)  # restarted, but its grace is not the subject here
        for _ in range(1000):  # until the next attempt to reach Redis is due
            if opened[0].available:
                break
            await asyncio.sleep(0.01)
        await client.cancel_batch_orders(ids=["9"])
        uid = next(s for s in client.rate_limit_status() if s.name.startswith("uid"))
        assert uid.budget == 500
        assert "back" in caplog.text
