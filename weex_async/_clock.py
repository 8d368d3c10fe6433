"""Time: the exchange's clock (``ServerClock``, kept in step by ``TimeSync``), and waits on a
``Clock``.

WEEX rejects a request whose timestamp is more than 30 s from its own clock.  One sample is
``offset = server_ms - midpoint(send, receive)``; the offset used is the median of several samples
(a slow answer skews one sample, not the median).  Intervals are measured on the monotonic clock,
so a wall-clock step during a sample cannot corrupt it.

``TimeSync`` decides when to sample: once before a session's first signed call (bounded, so the
public time endpoint never stands between a user and their cancels), then in the background, and
again after a timestamp error. Its waits, like the session's, are read on an injectable ``Clock``
(the limiter's protocol: ``time()`` and ``call_at()``), the running event loop unless one is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._limiter._admission import Clock
from ._limiter._gate import PriorityGate
from .errors import ClientClosedError, WeexError, brief

__all__ = [
    "FIRST_SYNC_BUDGET",
    "SYNC_RETRY_MAX",
    "DeadlineReached",
    "ServerClock",
    "TimeSync",
    "now_on",
    "sleep_for",
    "sleep_until",
    "wait_within",
]

R = TypeVar("R")

log = logging.getLogger("weex_async")

#: The most seconds the first server-time sync may hold up a signed call. Past it (or when the
#: time endpoint fails), the call is signed with the local clock and the sync goes on in the
#: background: the public time endpoint never stands between a user and their cancels.
FIRST_SYNC_BUDGET = 2.0
#: The longest wait between two background attempts to reach the time endpoint after a failure.
SYNC_RETRY_MAX = 30.0


class DeadlineReached(Exception):
    """``Session.send``'s deadline passed before a definite answer.

    Attributes:
        attempts: attempts started (the last one may have been cut short).
        in_flight: the deadline cut an attempt short after it went on the wire.
        last_error: the error of the last finished attempt, if any.
    """

    def __init__(self, attempts: int, in_flight: bool, last_error: WeexError | None) -> None:
        super().__init__(f"deadline reached after {attempts} attempt(s)")
        self.attempts = attempts
        self.in_flight = in_flight
        self.last_error = last_error


def now_on(clock: Clock | None) -> float:
    """``clock``'s time; the running event loop's when ``clock`` is ``None``."""
    return (clock if clock is not None else asyncio.get_running_loop()).time()


async def sleep_until(clock: Clock, when: float) -> None:
    """Sleep until ``clock`` reads ``when`` (one timer; cancelling the sleep cancels it)."""
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    timer = clock.call_at(when, wake)
    try:
        await woken
    finally:
        timer.cancel()


async def sleep_for(clock: Clock | None, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock`` (``None``: ``asyncio.sleep``, on the running loop)."""
    if clock is None:
        await asyncio.sleep(seconds)
    else:
        await sleep_until(clock, clock.time() + seconds)


async def wait_within(clock: Clock | None, seconds: float, awaitable: Awaitable[R]) -> R:
    """``awaitable``'s result, or ``asyncio.TimeoutError`` once ``seconds`` passed on ``clock``
    (it is then cancelled). ``None``: on the running loop, awaited in the caller's own task
    (``asyncio.timeout``) from Python 3.11: ``asyncio.wait_for`` runs it as a task of its own
    there, which starts a loop turn later, so a kill switch with a deadline, woken first with a
    crowd of queries, reached the connection slots after ten of them. Python 3.10 has only
    ``wait_for`` (that turn is lost there)."""
    if clock is None:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(seconds):
                return await awaitable
        return await asyncio.wait_for(awaitable, seconds)
    task = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not task.done():
            expired = True
            task.cancel()

    timer = clock.call_at(clock.time() + seconds, expire)
    try:
        return await task
    except asyncio.CancelledError:
        if expired:
            raise asyncio.TimeoutError from None
        raise
    finally:
        timer.cancel()


class ServerClock:
    """Unix milliseconds corrected by the measured offset to the exchange's clock.

    Args:
        wall: seconds since the epoch (``time.time``); injected in tests.
        monotonic: a monotonic clock in seconds (``time.monotonic``); injected in tests.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.offset_ms: float = 0.0
        #: monotonic time of the last successful sync, ``None`` before the first.
        self.synced_at: float | None = None

    def now_ms(self) -> int:
        """The exchange's current time in Unix milliseconds, as best known."""
        return round(self._wall() * 1000.0 + self.offset_ms)

    async def sample(self, fetch_server_ms: Callable[[], Awaitable[int]]) -> float:
        """Measure one offset sample (ms) around one call of ``fetch_server_ms``."""
        wall_sent = self._wall()
        mono_sent = self._monotonic()
        server_ms = await fetch_server_ms()
        round_trip = self._monotonic() - mono_sent
        midpoint_ms = (wall_sent + round_trip / 2.0) * 1000.0
        return server_ms - midpoint_ms

    async def sync(self, fetch_server_ms: Callable[[], Awaitable[int]], samples: int = 3) -> float:
        """Take ``samples`` samples, adopt their median as the offset and return it."""
        offsets = [await self.sample(fetch_server_ms) for _ in range(samples)]
        self.offset_ms = statistics.median(offsets)
        self.synced_at = self._monotonic()
        return self.offset_ms

    def is_stale(self, max_age: float) -> bool:
        """True before the first sync or when the last one is older than ``max_age`` seconds."""
        return self.synced_at is None or self._monotonic() - self.synced_at >= max_age


class TimeSync:
    """Keeps a session's ``ServerClock`` in step with the exchange.

    Before the first signed call: one sync, bounded by ``FIRST_SYNC_BUDGET``; if it fails, calls
    are signed with the local clock (one WARNING) and the sync goes on in the background. Then a
    refresh every ``interval``, and after a failure sooner (1 s, doubling, at most
    ``SYNC_RETRY_MAX`` or the interval). After a timestamp error, ``resync``.

    Args:
        server_clock: the offset kept.
        fetch: one reading of the exchange's clock (Unix ms) within an optional deadline on
            ``clock``: the session sends its API version's time call.
        enabled: sync at all (the client's ``sync_time``); when off, the local clock signs.
        interval: seconds between background refreshes.
        closed: whether the session is closed (nothing more is started then).
        clock: what the budget, the deadlines and the waits between refreshes are read on: the
            running event loop when ``None``.
    """

    def __init__(
        self,
        server_clock: ServerClock,
        fetch: Callable[[float | None], Awaitable[int]],
        *,
        enabled: bool,
        interval: float,
        closed: Callable[[], bool],
        clock: Clock | None = None,
    ) -> None:
        self.server_clock = server_clock
        self.enabled = enabled
        self._fetch = fetch
        self._interval = interval
        self._closed = closed
        self._clock = clock
        #: callers wait here for the first sync, and leave in priority order
        self._gate: PriorityGate | None = None
        self._first_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        #: the first sync was tried (whatever its outcome): signed calls no longer wait for it
        self._tried = False

    async def sync(self, deadline_at: float | None) -> float:
        """Measure the offset now (median of 3 samples), in ms, and adopt it.

        Raises:
            WeexError: (a subclass) the time endpoint did not answer.
            DeadlineReached: only with ``deadline_at``.
        """

        async def fetch() -> int:
            return await self._fetch(deadline_at)

        offset = await self.server_clock.sync(fetch)
        log.debug("server time offset %.1f ms", offset)
        return offset

    async def resync(self) -> None:
        """After a timestamp error: sync again; on failure keep the last offset (the retry that
        follows is signed afresh either way)."""
        try:
            await self.sync(now_on(self._clock) + FIRST_SYNC_BUDGET)
        except (WeexError, DeadlineReached) as exc:
            log.warning("server time resync failed (%s): keeping the last offset", brief(exc))

    async def before_signed_call(self, priority: int, deadline_at: float | None = None) -> None:
        """Before the first signed call: wait for the first sync (see the class).

        The sync runs as a task of its own (a caller cancelled meanwhile does not cancel it), and
        the calls that wait for it leave in priority order: a kill switch fired behind a crowd
        of queries on a cold client still reaches the limiter first. A call with a deadline
        (``deadline_at`` on ``clock``) waits at most half the time it has left, then is signed
        with the local clock: a sync that hangs must not spend the call's whole deadline (a
        cancel with 1.5 s left was never sent, the sync's budget being 2 s)."""
        if not self.enabled or self._tried or self.server_clock.synced_at is not None:
            return
        if self._gate is None:
            self._gate = PriorityGate()
            self._first_task = asyncio.get_running_loop().create_task(self._first(self._gate))
        if deadline_at is None:
            await self._gate.wait(priority)
            return
        patience = max(0.0, deadline_at - now_on(self._clock)) / 2
        try:
            await wait_within(self._clock, patience, self._gate.wait(priority))
        except asyncio.TimeoutError:
            log.info("server time not synced within half the call's deadline: local clock")

    async def aclose(self) -> None:
        """Stop syncing (the session is closed)."""
        # the first sync before the background one, which it starts unless closed by then
        if self._first_task is not None:
            await _cancel(self._first_task)
        if self._gate is not None:  # a first sync cancelled before it ran never opened it: the
            self._gate.open()  # callers waiting there go on, and find the client closed
        if self._task is not None:
            await _cancel(self._task)

    async def _first(self, gate: PriorityGate) -> None:
        synced = True
        try:
            await self.sync(now_on(self._clock) + FIRST_SYNC_BUDGET)
        except ClientClosedError:
            return  # the waiters find the client closed
        except (WeexError, DeadlineReached) as exc:
            synced = False
            log.warning(
                "server time unavailable (%s): signing with the local clock; retrying in "
                "the background",
                brief(exc),
            )
        except Exception:  # no caller to raise it to: signed calls go on with the local clock
            synced = False
            log.exception("server time sync failed: signing with the local clock")
        finally:  # whatever happened, nobody waits for it any longer
            self._tried = True
            gate.open()
        if not self._closed():
            self._task = asyncio.get_running_loop().create_task(self._refresh(synced))

    async def _refresh(self, synced: bool) -> None:
        """Refresh the offset every ``interval``; after a failure, try again sooner."""
        retry = 1.0
        while not self._closed():
            wait = self._interval if synced else min(retry, self._interval)
            await sleep_for(self._clock, wait)
            try:
                await self.sync(None)
            except ClientClosedError:
                return
            except WeexError as exc:  # keeps the last offset (or the local clock)
                if synced:
                    log.warning("server time refresh failed: %s", brief(exc))
                else:
                    log.debug("server time still unavailable: %s", brief(exc))
                synced = False
                retry = min(retry * 2, SYNC_RETRY_MAX)
            else:
                if not synced:
                    log.info("server time reached: offset %.1f ms", self.server_clock.offset_ms)
                synced, retry = True, 1.0


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
