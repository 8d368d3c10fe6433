"""A shared charge is held while its request is on the wire, on every shared ledger.

A request that takes longer to arrive than one window plus ``arrival_jitter`` (a slow link, a
busy gateway: the default timeouts allow 15 s) must keep its weight in the shared ledger until
one window after its answer, as the local pools do. Before, the shared charge expired one window
plus the allowance after admission, and another process spent the same weight: a 429.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weex_async.testing import FakeExchange, serve

from .redis_worker import BUDGET, Warm, Worker
from .test_redis import LIMITS_WINDOW, SHARED_KEY, adopt_epoch, started_redis

#: how long the slow request takes to reach the exchange: over one window plus the allowance
SLOW = 2.0 * LIMITS_WINDOW


class SlowToArrive(FakeExchange):
    """A fake exchange at which the batch cancel naming ``slow_id`` arrives ``SLOW`` late (held
    before it is metered, as a slow link would)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slow_id = ""
        self.slowed = threading.Event()

    async def _handle(self, scope: Any, body: bytes, too_large: bool) -> Any:
        if self.slow_id and self.slow_id.encode() in body:
            self.slowed.set()
            await asyncio.sleep(SLOW)
        return await super()._handle(scope, body, too_large)


@pytest.fixture(params=["host", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "host":
        yield (tmp_path / "ledger.sqlite3").as_uri()
        return
    server = started_redis(tmp_path)
    adopt_epoch(server)  # a Redis in use: no restart grace (2 s) to wait out first
    try:
        yield server.url
    finally:
        server.stop()


def test_a_slow_request_keeps_its_weight_from_other_processes(
    ledger: str, warm_workers: Warm
) -> None:
    """Process A's one cancel arrives two windows late; process B, started beforehand and cued
    once A's request is on the wire, cancels almost three windows' worth meanwhile, as fast as
    the shared budget allows. A's weight must stay charged while its request is on the wire, so
    the exchange never sees more than the budget in a window."""
    exchange = SlowToArrive(uid_budget=BUDGET, window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(SHARED_KEY, "shared-secret", "shared-pass")
    ids = exchange.place_resting_orders(SHARED_KEY, 30)
    exchange.slow_id = ids[0]
    with serve(exchange) as url:
        # both started at once, each past its first call before either is cued
        busy = warm_workers.take(url, ledger, ids[1], "29", "--on-cue")
        slow = warm_workers.take(url, ledger, ids[0], "1", "--on-cue")
        for worker in (busy, slow):
            assert worker.stdout is not None
            assert worker.stdout.readline() == "ready\n", worker.communicate(timeout=120)
        _cue(slow)
        assert exchange.slowed.wait(60), "the slow request never reached the exchange"
        _cue(busy)
        done = [w.communicate(timeout=120) for w in (slow, busy)]
    outputs = [out for out, _ in done]
    assert [w.returncode for w in (slow, busy)] == [0, 0]
    for _, err in done:  # shared all along: never an outage of the ledger (a fallback share)
        assert "unreachable or failing" not in err, err
    assert sum(json.loads(out.splitlines()[-1])["cancelled"] for out in outputs) == 30
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= BUDGET


def _cue(worker: Worker) -> None:
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
