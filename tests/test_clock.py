"""Server-time offset math with an injected clock (no sleeps)."""

from __future__ import annotations

from weex_async._clock import ServerClock


class Clocks:
    def __init__(self) -> None:
        self.wall = 1_000.0
        self.mono = 50.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


async def test_offset_is_server_minus_midpoint() -> None:
    clocks = Clocks()
    clock = ServerClock(lambda: clocks.wall, lambda: clocks.mono)

    async def fetch() -> int:
        clocks.advance(0.2)  # 0.4 s round trip, server stamps at its midpoint
        server = int((clocks.wall + 5.0) * 1000)  # server is 5 s ahead
        clocks.advance(0.2)
        return server

    assert await clock.sample(fetch) == 5000.0


async def test_median_resists_one_slow_sample() -> None:
    clocks = Clocks()
    clock = ServerClock(lambda: clocks.wall, lambda: clocks.mono)
    delays = iter([(0.01, 0.01), (3.0, 0.01), (0.01, 0.01)])  # one answer delayed 3 s

    async def fetch() -> int:
        before, after = next(delays)
        clocks.advance(before)
        server = int(clocks.wall * 1000) - 2000  # server 2 s behind
        clocks.advance(after)
        return server

    offset = await clock.sync(fetch)
    assert -2010 < offset < -1990
    assert abs(clock.now_ms() - (clocks.wall * 1000 - 2000)) < 11


async def test_wall_clock_step_during_a_sample_does_not_corrupt_it() -> None:
    clocks = Clocks()
    clock = ServerClock(lambda: clocks.wall, lambda: clocks.mono)

    async def fetch() -> int:
        server = int(clocks.wall * 1000)
        clocks.wall -= 3600  # NTP steps the wall clock back an hour mid-request
        return server

    assert abs(await clock.sample(fetch)) < 1


def test_staleness() -> None:
    clocks = Clocks()
    clock = ServerClock(lambda: clocks.wall, lambda: clocks.mono)
    assert clock.is_stale(300)
    clock.synced_at = clocks.mono
    assert not clock.is_stale(300)
    clocks.advance(300)
    assert clock.is_stale(300)
