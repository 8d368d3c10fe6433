"""``Heartbeat``: beats from the engine's own event loop, into one file, and nothing else."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from weex_async import Heartbeat
from weex_async.errors import ConfigurationError

from .manual_clock import ManualClock


def read(path: Path) -> tuple[int, float, int]:
    number, wall, pid = path.read_text(encoding="ascii").split()
    return int(number), float(wall), int(pid)


async def test_entering_beats_at_once_and_then_every_period(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "beat"
    async with Heartbeat(path, every=1.0, clock=clock) as heart:
        number, wall, pid = read(path)
        assert (number, pid) == (1, os.getpid())
        assert abs(wall - time.time()) < 3600, "a wall time, for a human reading the file"
        await clock.advance(0.9)
        assert read(path)[0] == 1
        await clock.advance(0.1)
        assert read(path)[0] == 2
        await clock.advance(3.0)
        assert read(path)[0] == heart.beats == 5
        assert clock.armed <= 6, "one timer per beat: no polling"
    await clock.advance(10.0)
    assert read(path)[0] == 5, "no beat once left"
    assert os.listdir(tmp_path) == ["beat"], "nothing else written"


async def test_a_blocked_event_loop_stops_the_beats(tmp_path: Path) -> None:
    """The beats come from the loop, not a thread: while the loop is blocked, none is written."""
    path = tmp_path / "beat"
    async with Heartbeat(path, every=0.001) as heart:
        for _ in range(1000):  # bounded: the loop beats every millisecond
            if heart.beats >= 3:
                break
            await asyncio.sleep(0.001)
        before = path.read_text()
        time.sleep(0.05)  # noqa: ASYNC251 (the engine's loop blocked for 50 beats)
        assert path.read_text() == before
        beats = heart.beats
        for _ in range(1000):
            if heart.beats > beats:
                break
            await asyncio.sleep(0.001)
        assert path.read_text() != before, "the beats resume with the loop"


async def test_a_blocked_loop_resumes_with_one_beat_not_a_burst(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "beat"
    async with Heartbeat(path, every=1.0, clock=clock):
        await clock.advance(0.0)  # the beating task waits for its next beat
        clock.step(30.0)  # 30 beats missed while the loop was blocked
        await clock.advance(0.0)
        assert read(path)[0] == 2
        await clock.advance(0.5)
        assert read(path)[0] == 2, "then one beat per period again"
        await clock.advance(0.5)
        assert read(path)[0] == 3


async def test_a_file_that_cannot_be_written_fails_at_entry(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        async with Heartbeat(tmp_path / "missing" / "beat"):
            pass


async def test_a_later_failure_is_one_warning_and_the_beats_come_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "beat"
    async with Heartbeat(path, every=1.0, clock=clock) as heart:
        path.unlink()
        folder.rmdir()
        with caplog.at_level(logging.WARNING, logger="weex_async"):
            await clock.advance(3.0)
        assert heart.beats == 1
        assert len([r for r in caplog.records if "heartbeat" in r.getMessage()]) == 1
        folder.mkdir()
        await clock.advance(1.0)
        assert heart.beats == 2
        assert read(path)[0] == 2


@pytest.mark.parametrize("every", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_a_period_that_is_not_a_positive_number_is_refused(every: object) -> None:
    with pytest.raises(ConfigurationError, match="every"):
        Heartbeat("beat", every=every)  # type: ignore[arg-type]


async def test_it_is_entered_once(tmp_path: Path) -> None:
    heart = Heartbeat(tmp_path / "beat")
    async with heart:
        with pytest.raises(RuntimeError, match="once"):
            await heart.__aenter__()
    assert "beat" in repr(heart)
