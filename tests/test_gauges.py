"""Pool gauges read from another thread (an OpenTelemetry exporter's) cannot hurt the limiter:
they read a copy, change nothing, need no event loop, and one client's failure loses no other's
points. The limiter and the exchange share the manual clock, so the windows are exact."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

import pytest

from weex_async import Budget, Credentials, Limiter, RateLimits, WeexClient
from weex_async._limiter._pools import WindowPool
from weex_async._metrics import Recorder
from weex_async.testing import FakeExchange

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .manual_clock import ManualClock


async def test_a_reader_thread_hammering_the_gauges_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    foreign: list[int] = []
    expire = WindowPool.__dict__["_expire"]

    def watched_expire(self: WindowPool, now: float) -> None:
        if threading.get_ident() != loop_thread:
            foreign.append(threading.get_ident())
        expire(self, now)

    monkeypatch.setattr(WindowPool, "_expire", watched_expire)
    clock = ManualClock(wall=time.time())  # the client signs with the real clock
    exchange = FakeExchange(
        ip_budget=1000, uid_budget=200, window=1.0, monotonic=clock.monotonic, wall=clock.wall
    )
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 2000)
    limits = RateLimits(ip=Budget(1000, 1.0), uid=Budget(200, 1.0), trade=None, arrival_jitter=0.0)
    creds = Credentials(API_KEY, API_SECRET, PASSPHRASE)
    client = WeexClient(
        creds,
        base_url="http://fake",
        transport=exchange.transport(),
        limiter=Limiter(clock=clock),
        rate_limits=limits,
        sync_time=False,
        batch_size=10,
    )
    cold = WeexClient(creds, base_url="http://fake", transport=exchange.transport())  # no call yet
    errors: list[BaseException] = []
    reads = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                for snapshot in (*client.rate_limit_status(), *cold.rate_limit_status()):
                    assert 0 <= snapshot.used <= snapshot.budget, snapshot
                reads += 1
            except BaseException as exc:
                errors.append(exc)
                return

    reader = threading.Thread(target=hammer)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns often: interleavings, not luck
    reader.start()
    try:
        run = asyncio.ensure_future(client.cancel_orders(ids=ids))  # 200 calls: 10 windows
        while not run.done():
            for _ in range(50):
                await asyncio.sleep(0)
            when = clock.next_timer()
            if when is not None:
                await clock.advance_to(when)
        report = run.result()
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(switch)
        await client.aclose()
        await cold.aclose()
    assert errors == []
    assert reads > 0
    assert foreign == [], "the reader thread changed the pools"
    assert report.all_cancelled
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid") <= 200


def test_a_client_that_never_sent_reads_from_any_thread() -> None:
    client = WeexClient(Credentials("k", "s", "p"))  # no loop in this thread, nothing created
    (slots,) = client.rate_limit_status()
    assert (slots.name, slots.used, slots.ready_in) == ("in-flight", 0, 0.0)


def test_one_failing_client_loses_no_others_points(caplog: pytest.LogCaptureFixture) -> None:
    class Meter:
        def __init__(self) -> None:
            self.callbacks: dict[str, Any] = {}

        def create_histogram(self, *args: Any, **kwargs: Any) -> None:
            return None

        def create_counter(self, *args: Any, **kwargs: Any) -> None:
            return None

        def create_observable_gauge(self, name: str, callbacks: list[Any], **kwargs: Any) -> None:
            self.callbacks[name] = callbacks[0]

    class Broken:
        def rate_limit_status(self) -> list[Any]:
            raise RuntimeError("no loop")

    meter = Meter()
    recorder = Recorder(meter, lambda value, attributes: (value, attributes))
    working = WeexClient(Credentials("k", "s", "p"))
    broken = Broken()
    recorder.watch(broken)
    recorder.watch(working)
    observed = meter.callbacks["weex.limiter.pool.limit"](None)
    assert observed == [(10, {"weex.pool": "in-flight"})]
    assert "reading a client's pools failed" in caplog.text
