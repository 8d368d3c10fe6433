"""One process of the multi-process tests: cancel orders for a shared account, print a summary.

python -m tests.redis_worker EXCHANGE_URL LEDGER FIRST_ID COUNT [--on-cue]

(The tests fork it instead: ``Warm.take``, the same arguments.)

LEDGER: a Redis URL or ``file:///path`` (a host ledger).

``--on-cue``: make one call (the ledger knows this process), print ``ready``, wait for a line on
stdin (its cue), then send the batch; print ``cut off`` when the ledger becomes unreachable.

Every length of time here is scaled down from WEEX's (a 10 s window) and the ledger's defaults
(a 2 s restart grace, an epoch check every 0.5 s, a retry every 1 s during an outage): none is
what these tests test, and each costs the suite wall time. Their proportions are kept: the grace
spans several epoch checks, so that a process holding charges re-publishes within it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import multiprocessing.process
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import httpx

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


async def main(
    url: str,
    ledger: str,
    first: int,
    count: int,
    on_cue: bool = False,
    cue: Callable[[], object] = sys.stdin.readline,
) -> None:
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
            await asyncio.get_running_loop().run_in_executor(None, cue)
        results = await asyncio.gather(*(client.cancel_batch_orders(ids=[i]) for i in ids))
    print(json.dumps({"cancelled": sum(r.cancel_order_result_list[0].result for r in results)}))


class Warm:
    """Worker processes forked from a process that has imported them already (a
    ``multiprocessing`` fork server, started once per pytest worker: ``refill`` starts it ahead).
    Importing the package and redis takes about 0.4 s of CPU a process; three processes a test,
    each importing on a machine that runs other tests, took seconds of the test's time. A forked
    worker is a real process of its own (its own event loop, ledger connection and client), as
    one started by ``python -m tests.redis_worker``.

    ``take`` forks one (``Worker``: what the tests read of a ``subprocess.Popen``); ``refill``
    makes sure the fork server is up; ``close`` does nothing (the fork server ends with pytest).
    """

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("forkserver")
        # "__main__": pytest's own script, run once there, not once in each worker; then this
        # module, and what each worker would make for itself (tests/worker_ahead.py)
        self._context.set_forkserver_preload(["__main__", __name__, "tests.worker_ahead"])

    def take(self, *args: str) -> Worker:
        """A worker running ``args`` (``EXCHANGE_URL LEDGER FIRST_ID COUNT [--on-cue]``), in
        the calling test's state directory; it reads its cue from ``stdin``."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_forked, args=(list(args), os.environ.get("XDG_STATE_HOME"), theirs)
        )
        process.start()
        theirs.close()  # the worker's end: ours reads EOF when the worker is gone
        return Worker(process, ours)

    def refill(self, count: int) -> None:
        del count  # every worker is forked on demand
        from multiprocessing import forkserver

        forkserver.ensure_running()  # imports this module (and the package) ahead

    def close(self) -> None:
        pass


class _Lines:
    """``sys.stdout`` or ``sys.stderr`` of a forked worker: what is written goes to the test."""

    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self._name = name

    def write(self, text: str) -> int:
        self._conn.send((self._name, text))
        return len(text)

    def flush(self) -> None:
        pass


def _forked(argv: list[str], state: str | None, conn: Connection) -> None:
    """A forked worker (``Warm.take``): ``main`` with its output and its cue through ``conn``."""
    os.environ.pop("WEEX_ASYNC_LEDGER", None)
    if state is not None:
        os.environ["XDG_STATE_HOME"] = state
    from tests import worker_ahead  # imported by the fork server already

    httpx.create_ssl_context = lambda *args, **kwargs: worker_ahead.TLS
    sys.stdout = _Lines(conn, "out")
    sys.stderr = _Lines(conn, "err")
    try:
        asyncio.run(
            main(
                argv[0], argv[1], int(argv[2]), int(argv[3]),
                on_cue="--on-cue" in argv[4:], cue=conn.recv,
            )
        )  # fmt: skip
    except BaseException:
        traceback.print_exc()  # to the test, through sys.stderr
        raise


class _Out:
    """A worker's standard output, line by line (``select`` waits on it: ``fileno``)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def fileno(self) -> int:
        return self._worker.conn.fileno()

    def readline(self) -> str:
        return self._worker.read_line()


class _In:
    """A worker's standard input: each write is a cue."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def write(self, text: str) -> int:
        self._conn.send(text)
        return len(text)

    def flush(self) -> None:
        pass


class Worker:
    """A forked worker, as the tests read a ``subprocess.Popen``: ``stdout.readline()``,
    ``stdin.write()``, ``communicate(timeout)``, ``returncode``, ``poll()``, ``kill()``."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.stdout = _Out(self)
        self.stdin = _In(conn)
        self._out = ""
        self._err = ""
        self._ended = False

    def _receive(self, timeout: float | None) -> bool:
        """Take one message (False: none within ``timeout``, or the worker is gone)."""
        if self._ended or not self.conn.poll(timeout):
            return False
        try:
            name, text = self.conn.recv()
        except (EOFError, OSError):
            self._ended = True
            return False
        if name == "out":
            self._out += text
        else:
            self._err += text
        return True

    def read_line(self) -> str:
        while "\n" not in self._out and self._receive(None):
            pass
        line, newline, self._out = self._out.partition("\n")
        return line + newline

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("forked worker", timeout or 0.0)
            self._receive(left)
        self.process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        out, err, self._out, self._err = self._out, self._err, "", ""
        return out, err

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self.communicate(timeout)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()


if __name__ == "__main__":
    argv = sys.argv[1:]
    asyncio.run(main(argv[0], argv[1], int(argv[2]), int(argv[3]), on_cue="--on-cue" in argv[4:]))
