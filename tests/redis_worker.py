"""One process of the multi-process tests: cancel orders for a shared account, print a summary.

python -m tests.redis_worker EXCHANGE_URL LEDGER FIRST_ID COUNT [--on-cue]

LEDGER: a Redis URL or ``file:///path`` (a host ledger).

``--on-cue``: make one call (the ledger knows this process), print ``ready``, wait for a line on
stdin, then send the batch; print ``cut off`` when the ledger becomes unreachable.

Every length of time here is scaled down from WEEX's (a 10 s window) and the ledger's defaults
(a 2 s restart grace, an epoch check every 0.5 s, a retry every 1 s during an outage): none is
what these tests test, and each costs the suite wall time. Their proportions are kept: the grace
spans several epoch checks, so that a process holding charges re-publishes within it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from weex_async import Budget, Credentials, RateLimits, WeexClient

#: the account the workers share, and the window of its budgets (also the fake exchange's)
SHARED_KEY = "shared-account"
LIMITS_WINDOW = 0.25
#: the allowance for a request's arrival (``RateLimits.arrival_jitter``: 0.25 s, with 10 s windows)
ARRIVAL_JITTER = 0.125
#: the account's budget (UID weight) in a window, the workers' and the fake exchange's: ten batch
#: cancels (WEEX's 500 is fifty; how many calls fill a window is not what these tests test)
BUDGET = 100
#: a restarted Redis ledger admits no new charge for this long (``RESTART_GRACE``: 2 s): less
#: than one window and the allowance, so that charges made before a restart outlive the grace
#: and must be re-published (the grace alone would not keep the budget)
RESTART_GRACE = 0.25
#: a process holding charges checks the epoch this often (``WATCH_INTERVAL``: 0.5 s)
WATCH_INTERVAL = 0.05
#: a process cut off from its ledger asks it again this often (``retry_interval``: 1 s)
RETRY_INTERVAL = 0.1


def quicken() -> None:
    """Shorten the ledger's grace, epoch check and outage retry in this process (the first
    process to reach a restarted Redis writes its grace there, for everyone)."""
    from weex_async import Limiter
    from weex_async._limiter._ledger import Ledger
    from weex_async._limiter._redis import RedisLedger
    from weex_async._limiter._shared import SharedLedger

    # each module reads these names through its own globals
    SharedLedger.start.__globals__["WATCH_INTERVAL"] = WATCH_INTERVAL
    opened = Limiter.ledger.__globals__["open_ledger"]

    def open_ledger(url: str) -> Ledger:
        if url.startswith("file:"):
            ledger: Ledger = opened(url)
            ledger.retry_interval = RETRY_INTERVAL
            return ledger
        return RedisLedger(url, retry_interval=RETRY_INTERVAL, restart_grace=RESTART_GRACE)

    Limiter.ledger.__globals__["open_ledger"] = open_ledger


class _CutOff(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if "unreachable" in record.getMessage():
            print("cut off", flush=True)


async def main(url: str, ledger: str, first: int, count: int, on_cue: bool = False) -> None:
    quicken()
    # redis_url= for a Redis URL: the same test runs against the code before ledger= existed
    shared: dict[str, Any] = {"redis_url" if ledger.startswith("redis") else "ledger": ledger}
    limits = RateLimits(
        ip=Budget(500, LIMITS_WINDOW),
        uid=Budget(BUDGET, LIMITS_WINDOW),
        trade=None,
        arrival_jitter=ARRIVAL_JITTER,
        **shared,
    )
    async with WeexClient(
        Credentials(SHARED_KEY, "shared-secret", "shared-pass"), base_url=url, rate_limits=limits
    ) as client:
        ids = [str(first + n) for n in range(count)]
        if on_cue:
            await client.cancel_batch_orders(ids=["0"])  # no such order: the ledger knows us
            logging.getLogger("weex_async.limiter").addHandler(_CutOff(logging.WARNING))
            print("ready", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        results = await asyncio.gather(*(client.cancel_batch_orders(ids=[i]) for i in ids))
    print(json.dumps({"cancelled": sum(r.cancel_order_result_list[0].result for r in results)}))


class Warm:
    """Worker processes started ahead of the tests that use them (``python -m
    tests.redis_worker --warm``: everything imported, then one line of JSON on stdin gives the
    arguments and the test's state directory). A process takes about 0.25 s of CPU to import
    the package and redis; three at once on a busy machine, a second or two of a test's time.

    ``take`` hands out a warm process (or starts one, if none is left); ``refill`` starts more,
    after a test; ``close`` kills those never used.
    """

    def __init__(self) -> None:
        self._ready: list[subprocess.Popen[str]] = []

    @staticmethod
    def _start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.redis_worker", "--warm"],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def take(self, *args: str) -> subprocess.Popen[str]:
        """A worker running ``args`` (``EXCHANGE_URL LEDGER FIRST_ID COUNT [--on-cue]``), in
        the calling test's state directory; its stdin stays open for the cue. No replacement is
        started meanwhile (``refill``, after the test): importing, it would take CPU from the
        test's own processes, whose timing is the subject."""
        process = self._ready.pop(0) if self._ready else self._start()
        assert process.stdin is not None
        state = os.environ.get("XDG_STATE_HOME")
        process.stdin.write(json.dumps({"argv": list(args), "state": state}) + "\n")
        process.stdin.flush()
        return process

    def refill(self, count: int) -> None:
        while len(self._ready) < count:
            self._ready.append(self._start())

    def close(self) -> None:
        for process in self._ready:
            process.kill()
            process.communicate()
        self._ready.clear()


def _arguments() -> list[str]:
    if sys.argv[1:] != ["--warm"]:
        return sys.argv[1:]
    # what a ledger imports when it is opened, imported ahead too
    import redis.asyncio.cluster  # noqa: F401

    import weex_async._limiter._host
    import weex_async._limiter._redis  # noqa: F401

    order = json.loads(sys.stdin.readline())  # from Warm.take
    os.environ.pop("WEEX_ASYNC_LEDGER", None)
    if order["state"] is not None:
        os.environ["XDG_STATE_HOME"] = order["state"]
    return list(order["argv"])


if __name__ == "__main__":
    argv = _arguments()
    asyncio.run(main(argv[0], argv[1], int(argv[2]), int(argv[3]), on_cue="--on-cue" in argv[4:]))
