"""Shared budgets under faults, against a real redis-server: restarts, partitions, bad settings,
hostile 429s. The budget is never exceeded, no call hangs, no password is shown."""

from __future__ import annotations

import asyncio
import json
import logging
import select
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from weex_async import Budget, Credentials, Limiter, RateLimits, RetryPolicy, WeexClient
from weex_async._limiter._redis import RedisLedger
from weex_async._limiter._shared import SharedLedger
from weex_async.errors import ConfigurationError, RateLimitError
from weex_async.testing import FakeExchange, RedisServer, serve

from .redis_worker import ARRIVAL_JITTER, BUDGET, Warm, Worker
from .test_redis import LIMITS_WINDOW, SHARED_KEY, adopt_epoch, redis_server

__all__ = ["redis_server"]  # the fixture, shared with test_redis

KEY, SECRET, PASS = SHARED_KEY, "shared-secret", "shared-pass"


# -- 1. A restart of Redis costs no ban ---------------------------------------------------------


#: Redis down for longer than the outage's first window (the window and the arrival allowance),
#: as the first 1.5 s were with 1 s windows: the processes then spend their fallback shares, and
#: must publish them when Redis is back.
OUTAGE = LIMITS_WINDOW + 2 * ARRIVAL_JITTER


@pytest.mark.parametrize("outage", [0.0, OUTAGE], ids=["restart", "outage-then-restart"])
def test_three_processes_through_a_redis_restart_get_no_429(
    redis_server: RedisServer, warm_workers: Warm, outage: float
) -> None:
    # A Redis in use (its epoch written): the workers spend at once, and are spending when Redis
    # is killed (test_a_process_cut_off_by_a_restart_spends_nothing_the_others_spent below makes
    # sure of it: one process meets the dead Redis just after a window was filled). The outage
    # (the subject: Redis down for longer than a window, or not at all) is timed; nothing else.
    exchange = FakeExchange(uid_budget=BUDGET, window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(KEY, SECRET, PASS)
    ids = exchange.place_resting_orders(KEY, 30)  # 3 windows' worth: spent across the outage
    running: list[Worker] = []
    with serve(exchange) as url:
        try:
            for first in (ids[0], ids[10], ids[20]):  # started together
                running.append(cued_worker(warm_workers, url, redis_server.url, first, 10))
            for worker in running:
                assert read_line(worker) == "ready"  # past its start: the ledger knows it
            for worker in running:
                cue(worker)
            wait_for_a_full_window(exchange, BUDGET)  # spending the shared budget
            redis_server.kill()  # a crash: the ledger is gone
            time.sleep(outage)
            redis_server.start()  # empty
            outputs = [w.communicate(timeout=120)[0] for w in running]
        finally:
            for worker in running:
                if worker.poll() is None:
                    worker.kill()
    assert [w.returncode for w in running] == [0, 0, 0]
    assert sum(json.loads(out.splitlines()[-1])["cancelled"] for out in outputs) == 30
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= BUDGET


def wait_for_a_full_window(exchange: FakeExchange, limit: int) -> None:
    """Until the exchange's last window holds nearly ``limit`` weight (four fifths: a burst that
    fills it; counted over the whole window: on a loaded machine the burst spreads over most of
    it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = time.monotonic()
        recent = (a.uid_weight for a in list(exchange.arrivals) if a.at > now - LIMITS_WINDOW)
        if sum(recent) >= limit * 4 // 5:
            return
        time.sleep(0.01)
    pytest.fail("the workers never filled a window")


def read_line(process: Worker) -> str:
    """The process's next line of output (at most 60 s: never a hang)."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    assert ready, "the worker said nothing"
    return process.stdout.readline().strip()


def cued_worker(warm: Warm, url: str, redis_url: str, first: str, count: int) -> Worker:
    """A worker that makes one call, says ``ready``, and sends its ``count`` calls on cue (wait
    for its ``ready`` with ``read_line``)."""
    return warm.take(url, redis_url, first, str(count), "--on-cue")


def cue(worker: Worker) -> None:
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()


def test_a_process_cut_off_by_a_restart_spends_nothing_the_others_spent(
    redis_server: RedisServer, warm_workers: Warm
) -> None:
    # Two processes fill the shared window through a Redis in use; a third, which the ledger
    # knows but which spent nothing in that window, starts sending at the moment Redis is killed.
    # It finds Redis gone: an outage. Its fallback share (25 of 100) on top of the full window
    # earned 429s (before the fix: 5 to 23 refused calls, in each of 6 runs). In the first
    # window of an outage a process re-uses only the room its own charges in the ledger free: this
    # one waits, re-publishes into the restarted (empty) Redis when it answers, and sends after
    # the grace; the two others wait for their own charges to leave the window.
    exchange = FakeExchange(uid_budget=BUDGET, window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(KEY, SECRET, PASS)
    ids = exchange.place_resting_orders(KEY, 18)
    running: list[Worker] = []
    with serve(exchange) as url:
        try:
            for first in (ids[0], ids[6], ids[12]):  # started together
                running.append(cued_worker(warm_workers, url, redis_server.url, first, 6))
            for worker in running:
                assert read_line(worker) == "ready"  # the ledger knows it
            *spending, late = running
            for worker in spending:
                cue(worker)
            wait_for_a_full_window(exchange, BUDGET)
            redis_server.kill()  # a crash: the ledger is gone
            cue(late)
            assert read_line(late) == "cut off"  # it met the dead Redis: an outage
            # Redis stays down for the outage's first window (the subject: the window in which
            # the late process, its calls queued again under the fallback share, must not spend)
            time.sleep(LIMITS_WINDOW)
            redis_server.start()  # empty
            outputs = [w.communicate(timeout=120)[0] for w in running]
        finally:
            for worker in running:
                if worker.poll() is None:
                    worker.kill()
    assert [w.returncode for w in running] == [0, 0, 0]
    assert sum(json.loads(out.splitlines()[-1])["cancelled"] for out in outputs) == 18
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= BUDGET


# -- 2. A partition: one process cut off from Redis, the others not -----------------------------


def client_on(
    exchange: FakeExchange,
    redis_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    **limits: Any,
) -> WeexClient:
    """A client with its own Limiter: as good as another process."""
    # a 429 pauses for 1 s, as long as the `exchange` fixture's ban (not WEEX's 10 s)
    options: dict[str, Any] = {
        "ip": Budget(500, 1.0),
        "uid": Budget(100, 1.0),
        "trade": None,
        "ban": 1.0,
    }
    options.update(limits)
    return WeexClient(
        Credentials(KEY, SECRET, PASS),
        base_url="http://fake",
        transport=transport or exchange.transport(),
        rate_limits=RateLimits(redis_url=redis_url, **options),
        limiter=Limiter(),
        sync_time=False,
    )


@pytest.fixture
def exchange() -> FakeExchange:
    exchange = FakeExchange(uid_budget=100, window=1.0, ban=1.0)
    exchange.add_account(KEY, SECRET, PASS)
    return exchange


def dead_redis(tmp_path: Path) -> str:
    return RedisServer(tmp_path).url  # a free port where nothing listens


def held_for_the_ledger(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A counter (its one item) of the calls that wait for the shared ledger to come back (the
    outage policy holds them), in every client of this test."""
    held = [0]
    original = SharedLedger.wait_back

    async def wait_back(self: SharedLedger, priority: int = 0) -> None:
        held[0] += 1
        try:
            await original(self, priority)
        finally:
            held[0] -= 1

    monkeypatch.setattr(SharedLedger, "wait_back", wait_back)
    return held


async def eventually(condition: Callable[[], bool]) -> None:
    """Return as soon as ``condition()`` holds, looking every 5 ms (at most 30 s: never a hang).
    For a state reached through real sockets (a dead Redis's), which loop turns alone may not
    wait long enough for."""
    for _ in range(6000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("still not so after 30 s")


def queued(client: WeexClient) -> int:
    """The client's calls queued in its account pool while the pool has no room for them (they
    wait for its window to pass: not merely for their turn)."""
    return sum(
        pool.waiting
        for pool in client.rate_limit_status()
        if pool.name.startswith("uid") and pool.ready_in > 0
    )


@pytest.mark.parametrize(
    ("policy", "cut_off_sends"),
    [("share", 2), ("cancels", 2), ("nothing", 0)],  # a share of 0.25 x 100 = 2 batch cancels
)
async def test_a_cut_off_process_spends_what_its_policy_allows(
    redis_server: RedisServer,
    tmp_path: Path,
    exchange: FakeExchange,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    cut_off_sends: int,
) -> None:
    ids = exchange.place_resting_orders(KEY, 40)
    held = held_for_the_ledger(monkeypatch)
    async with (
        client_on(exchange, redis_server.url, redis_outage=policy) as linked,
        client_on(exchange, dead_redis(tmp_path), redis_outage=policy) as cut_off,
    ):
        await linked.cancel_batch_orders(ids=ids[:1])  # the shared ledger is up
        cut = [asyncio.ensure_future(cut_off.cancel_batch_orders(ids=[i])) for i in ids[1:5]]
        shared = [asyncio.ensure_future(linked.cancel_batch_orders(ids=[i])) for i in ids[5:14]]
        # as soon as each of the cut-off process's calls is answered or waits (in its local pools,
        # for the window of its share to pass, or for Redis): where the outage's first window
        # leaves them (seen then: a window later, its share frees again)
        await eventually(lambda: sum(t.done() for t in cut) + queued(cut_off) + held[0] == len(cut))
        sent_by_cut_off = sum(task.done() for task in cut)
        await asyncio.gather(*shared)
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
    assert sent_by_cut_off == cut_off_sends
    # the ledger's 10 calls fill the budget; the cut-off process adds its share on top, or not
    assert exchange.worst_window("uid", sent=True) <= 100 + 10 * cut_off_sends
    if policy == "nothing":
        assert exchange.rate_limited == 0


async def test_cancels_only_policy_holds_queries_and_sends_cancels(
    tmp_path: Path, exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = held_for_the_ledger(monkeypatch)
    async with client_on(exchange, dead_redis(tmp_path), redis_outage="cancels") as cut_off:
        query = asyncio.ensure_future(cut_off.open_orders())
        cancel = await cut_off.cancel_batch_orders(ids=exchange.place_resting_orders(KEY, 1))
        await eventually(lambda: query.done() or held[0] == 1)  # answered, or held for Redis
        assert cancel.cancel_order_result_list[0].result
        assert not query.done()  # waits for Redis
        query.cancel()
        await asyncio.gather(query, return_exceptions=True)


# -- 3. Settings are checked when built; no path after admission leaks a slot --------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "", "redis"])
def test_a_redis_url_that_is_not_redis_is_refused_when_built(url: str) -> None:
    with pytest.raises(ConfigurationError, match="redis_url"):
        RateLimits(redis_url=url)


def test_a_missing_redis_extra_is_refused_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(ConfigurationError, match="redis extra"):
        RateLimits(redis_url="redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("error", [RuntimeError("boom"), asyncio.CancelledError()])
async def test_no_exception_after_admission_leaks_a_slot(
    redis_server: RedisServer,
    exchange: FakeExchange,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    async def broken(self: RedisLedger, pools: Any) -> None:
        raise error

    async with client_on(exchange, redis_server.url) as client:
        await client.cancel_batch_orders(ids=["1"])
        monkeypatch.setattr(RedisLedger, "reserve", broken)
        for _ in range(12):  # more than max_in_flight (10): a leak would hang the 11th
            with pytest.raises(type(error)):
                await asyncio.wait_for(client.cancel_batch_orders(ids=["1"]), 2)
        monkeypatch.undo()
        slots = [s for s in client.rate_limit_status() if s.name == "in-flight"]
        assert slots[0].used == 0
        await client.cancel_batch_orders(ids=["1"])  # still usable


async def uid_stamps(redis_server: RedisServer) -> tuple[list[float], float]:
    """The stamps of the account pool's charges in the ledger, and Redis's clock now (ms)."""
    import redis.asyncio as redis_asyncio

    redis: Any = redis_asyncio.Redis.from_url(redis_server.url)
    async with redis:
        keys = [k for k in await redis.keys("*:uid:*") if not k.endswith((b":used", b":pause"))]
        stamps = [
            score for key in keys for _, score in await redis.zrange(key, 0, -1, withscores=True)
        ]
        seconds, micros = await redis.time()
    return stamps, float(seconds) * 1000 + micros / 1000


async def test_an_answered_charge_counts_one_window_from_its_answer_in_redis(
    redis_server: RedisServer, exchange: FakeExchange
) -> None:
    async with client_on(exchange, redis_server.url) as client:
        _, started = await uid_stamps(redis_server)
        await client.cancel_batch_orders(ids=["1"])
        _, answered = await uid_stamps(redis_server)
        for _ in range(100):  # settled in the background, off the caller's path
            stamps, _ = await uid_stamps(redis_server)
            if stamps and stamps[0] < started:
                break
            await asyncio.sleep(0.01)
    # stamped at the answer minus the allowance (0.25 s): it counts until one window after the
    # answer, not one window and the allowance after the reservation
    assert started - 250 <= stamps[0] <= answered - 250 + 50


async def test_redis_gone_before_the_settlement_leaves_the_first_stamp(
    redis_server: RedisServer, exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    hold = asyncio.Event()
    original = RedisLedger.settle

    tried = asyncio.Event()

    async def late(self: RedisLedger, charges: Any, before: float) -> int:
        await hold.wait()
        try:
            return await original(self, charges, before)
        finally:
            tried.set()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RedisLedger, "settle", late)
        async with client_on(exchange, redis_server.url) as client:
            result = await client.cancel_batch_orders(ids=["1"])  # answered, settlement pending
            redis_server.kill()
            hold.set()
            await asyncio.wait_for(tried.wait(), 30)  # the settlement fails against the dead server
        redis_server.start()
    assert result.cancel_order_result_list  # the caller got its answer, and nothing raised
    assert "Traceback" not in caplog.text


async def test_the_room_held_in_an_outage_is_never_published(
    redis_server: RedisServer,
    exchange: FakeExchange,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In the first window of an outage, the part of the share this process did not spend itself
    # (15 of its 25) is held in its local pool; a restarted Redis must learn only what was spent.
    import redis.asyncio as redis_asyncio

    # the ledger asks Redis again every 0.1 s in the outage (not every second), and the restarted
    # Redis admits nothing new for 0.5 s (not 2 s): the call below waits out neither, and the
    # grace still outlasts the look at what was published
    def open_ledger(url: str) -> RedisLedger:
        return RedisLedger(url, retry_interval=0.1, restart_grace=0.5)

    # the Limiter opens its ledgers through the name in its own module's globals
    monkeypatch.setitem(Limiter.ledger.__globals__, "open_ledger", open_ledger)

    async with client_on(exchange, redis_server.url) as client:
        await client.cancel_batch_orders(ids=["1"])  # 10 of the account's 100, in the ledger
        redis_server.kill()
        call = asyncio.ensure_future(client.cancel_batch_orders(ids=["2"]))
        for _ in range(500):  # until the call has met the dead Redis
            if "unreachable" in caplog.text:
                break
            await asyncio.sleep(0.01)
        redis_server.start()  # empty: what was spent is re-published, the held room is not
        redis: Any = redis_asyncio.Redis.from_url(redis_server.url)
        first: list[int] = []
        async with redis:
            for _ in range(1000):  # until the ledger holds the account's pool again
                keys = await redis.keys("*:uid:*:used")
                if keys:
                    first = [int(await redis.get(key)) for key in keys]
                    break
                await asyncio.sleep(0.01)
        await asyncio.wait_for(call, 30)
    # the first call (or the second, if the first left the window before Redis answered); with
    # the held room published as spent, 25 or 15
    assert first == [10]


# -- 4. A fallback share smaller than a call waits, never raises -----------------------------------


async def test_a_call_heavier_than_the_fallback_share_waits_for_redis(
    redis_server: RedisServer, exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = held_for_the_ledger(monkeypatch)
    async with client_on(
        exchange, redis_server.url, uid=Budget(500, 1.0), redis_fallback_share=0.05
    ) as client:
        await client.cancel_batch_orders(ids=["1"])
        redis_server.kill()
        heavy = asyncio.ensure_future(client.cancel_all_orders())  # UID 50 > 5% of 500
        # until it ends, or waits (for room in its pool, or for Redis)
        await eventually(lambda: heavy.done() or queued(client) + held[0] == 1)
        assert not heavy.done()  # waiting, not a ValueError
        redis_server.start()
        adopt_epoch(redis_server)  # restarted, but its grace is not the subject here
        result = await asyncio.wait_for(heavy, 10)
    assert result.results == ()


# -- 5. Pauses are bounded and safe ----------------------------------------------------------------


def test_retry_after_is_honoured_up_to_a_maximum() -> None:
    limits = RateLimits()
    assert limits.pause_for(None) == 10.0
    assert limits.pause_for(3.0) == 3.0
    assert limits.pause_for(0.0) == 0.0
    assert limits.pause_for(99_999.0) == 60.0
    for hostile in (float("inf"), float("nan"), -1.0):
        assert limits.pause_for(hostile) == 10.0
    assert RateLimits(max_retry_after=5.0).pause_for(30.0) == 5.0


@pytest.mark.parametrize(
    ("header", "paused_ms"),
    [
        ("99999", (59_000, 60_000)),
        ("inf", (9_000, 10_000)),
        ("1e400", (9_000, 10_000)),
        ("nan", (9_000, 10_000)),
        ("-3", (9_000, 10_000)),
        ("soon", (9_000, 10_000)),
    ],
)
async def test_a_hostile_retry_after_pauses_redis_within_bounds(
    redis_server: RedisServer, exchange: FakeExchange, header: str, paused_ms: tuple[int, int]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, headers={"Retry-After": header}, json={"code": "429", "msg": "x"}
        )

    async with WeexClient(
        Credentials(KEY, SECRET, PASS),
        base_url="http://fake",
        transport=httpx.MockTransport(handler),
        rate_limits=RateLimits(redis_url=redis_server.url),
        retry=RetryPolicy(max_attempts=1),
        sync_time=False,
    ) as client:
        with pytest.raises(RateLimitError):
            await client.cancel_batch_orders(ids=["1"])
    ledger = RedisLedger(redis_server.url)
    keys = [k async for k in ledger.client.scan_iter(match="*:pause")]
    ttls = [await ledger.client.pttl(k) for k in keys]
    await ledger.aclose()
    assert ttls
    assert all(paused_ms[0] <= ttl <= paused_ms[1] for ttl in ttls), ttls


async def test_retry_after_zero_is_not_an_outage(
    redis_server: RedisServer, exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    answers = iter([httpx.Response(429, headers={"Retry-After": "0"}, json={"code": "429"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"result": True}))

    async with client_on(
        exchange, redis_server.url, transport=httpx.MockTransport(handler)
    ) as client:
        await client.cancel_batch_orders(ids=["1"])
    assert "unreachable" not in caplog.text


# -- 6. No password in logs, reprs or errors ------------------------------------------------------


async def test_the_redis_password_is_never_shown(
    tmp_path: Path, exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = RedisServer(tmp_path).port  # nothing listens: an outage, logged with the URL
    url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
    limits = RateLimits(redis_url=url)
    assert "hunter2" not in repr(limits)
    assert "hunter2" not in str(limits)
    async with client_on(exchange, url) as client:
        await client.cancel_batch_orders(ids=["1"])  # under the fallback share
        assert "hunter2" not in repr(client)
    assert "unreachable" in caplog.text
    assert "hunter2" not in caplog.text
    assert "***" in caplog.text
