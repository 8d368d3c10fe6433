"""Server-time offset: signed timestamps follow the exchange's clock, not the host's.

WEEX rejects a request whose timestamp is more than 30 s from its own clock.  One sample is
``offset = server_ms - midpoint(send, receive)``; the offset used is the median of several samples
(a slow answer skews one sample, not the median).  Intervals are measured on the monotonic clock,
so a wall-clock step during a sample cannot corrupt it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable

__all__ = ["ServerClock"]


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
