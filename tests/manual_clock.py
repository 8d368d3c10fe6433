"""The one fake clock of the tests: time moves only when a test says so.

It stands in for the event loop's clock and timers (the admission queue), for the monotonic and
wall clocks (``ServerClock``, ``FakeExchange``), or all of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Any


class ManualHandle:
    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """``time()`` and ``call_at()`` as the admission queue needs them; ``monotonic()`` and
    ``wall()`` for the clocks that take callables.

    Args:
        start: the monotonic clock's (and the loop clock's) first reading, in seconds.
        wall: the wall clock's first reading, in seconds since the epoch.
    """

    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_now = wall
        self._timers: list[tuple[float, int, ManualHandle]] = []
        self._seq = itertools.count()
        self.armed = 0  # how many timers were ever armed (no polling: few)

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_now

    def step(self, seconds: float) -> None:
        """Move both clocks on, firing no timer."""
        self.now += seconds
        self.wall_now += seconds

    def call_at(self, when: float, callback: Callable[[], Any]) -> ManualHandle:
        handle = ManualHandle(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        self.armed += 1
        return handle

    @property
    def pending(self) -> list[ManualHandle]:
        return [h for _, _, h in self._timers if not h.cancelled]

    def next_timer(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def advance_to(self, until: float) -> None:
        """Fire every timer due up to ``until`` in order, letting tasks run after each."""
        await settle()
        while (when := self.next_timer()) is not None and when <= until:
            _, _, handle = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            handle.callback()
            await settle()
        self.now = max(self.now, until)
        await settle()

    async def advance(self, seconds: float) -> None:
        await self.advance_to(self.now + seconds)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


class JumpingSelector:
    """The event loop's selector, made to jump the loop's clock instead of sleeping: when
    nothing is ready and the loop would sleep until its next timer, the clock moves there at once.

    Only for code that waits on nothing but its own loop (the fake exchange in process): a real
    socket, process or thread would be outrun by the jumps.
    """

    def __init__(self, selector: Any, jump: Callable[[float], None]) -> None:
        self._selector = selector
        self._jump = jump

    def select(self, timeout: float | None = None) -> Any:
        events = self._selector.select(0)
        if events or timeout is None or timeout <= 0:
            return events if events or timeout is not None else self._selector.select(None)
        self._jump(timeout)
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


@contextlib.contextmanager
def jumping_time(loop: asyncio.AbstractEventLoop) -> Iterator[bool]:
    """Run ``loop`` on jumping time while entered: timers, ``asyncio.sleep`` and timeouts fire at
    once, in order, at their due time on the loop's clock (``loop.time()``), which no longer
    follows the wall. Yields False (and changes nothing) on a loop that cannot be so changed
    (uvloop's, in C): there the code waits in real time, as before."""
    selector = getattr(loop, "_selector", None)
    if not isinstance(loop, asyncio.BaseEventLoop) or selector is None:
        yield False
        return
    ahead = [0.0]
    real_time = loop.time

    def jump(seconds: float) -> None:
        ahead[0] += seconds

    loop.time = lambda: real_time() + ahead[0]  # type: ignore[method-assign]
    loop._selector = JumpingSelector(selector, jump)  # type: ignore[attr-defined]  # noqa: SLF001
    try:
        yield True
    finally:
        loop._selector = selector  # type: ignore[attr-defined]  # noqa: SLF001
        del loop.time  # the method again
