"""Server-time offset math with an injected clock (no sleeps)."""

from __future__ import annotations

from weex_async._clock import ServerClock

from .manual_clock import ManualClock


async def test_offset_is_server_minus_midpoint() -> None:
    clocks = ManualClock(start=50.0, wall=1_000.0)
    clock = ServerClock(clocks.wall, clocks.monotonic)

    async def fetch() -> int:
        clocks.step(0.2)  # 0.4 s round trip, server stamps at its midpoint
        server = int((clocks.wall_now + 5.0) * 1000)  # server is 5 s ahead
        clocks.step(0.2)
        return server

    assert await clock.sample(fetch) == 5000.0


async def test_median_resists_one_slow_sample() -> None:
    clocks = ManualClock(start=50.0, wall=1_000.0)
    clock = ServerClock(clocks.wall, clocks.monotonic)
    delays = iter([(0.01, 0.01), (3.0, 0.01), (0.01, 0.01)])  # one answer delayed 3 s

    async def fetch() -> int:
        before, after = next(delays)
        clocks.step(before)
        server = int(clocks.wall_now * 1000) - 2000  # server 2 s behind
        clocks.step(after)
        return server

    offset = await clock.sync(fetch)
    assert -2010 < offset < -1990
    assert abs(clock.now_ms() - (clocks.wall_now * 1000 - 2000)) < 11


async def test_wall_clock_step_during_a_sample_does_not_corrupt_it() -> None:
    clocks = ManualClock(start=50.0, wall=1_000.0)
    clock = ServerClock(clocks.wall, clocks.monotonic)

    async def fetch() -> int:
        server = int(clocks.wall_now * 1000)
        clocks.wall_now -= 3600  # NTP steps the wall clock back an hour mid-request
        return server

    assert abs(await clock.sample(fetch)) < 1


def test_staleness() -> None:
    clocks = ManualClock(start=50.0, wall=1_000.0)
    clock = ServerClock(clocks.wall, clocks.monotonic)
    assert clock.is_stale(300)
    clock.synced_at = clocks.now
    assert not clock.is_stale(300)
    clocks.step(300)
    assert clock.is_stale(300)
