"""``Heartbeat``: an engine's proof of life, read by ``weex-async guard --heartbeat``.

A beat rewrites one small file: a line ``"<n> <wall time> <pid>\\n"`` written to a sibling
temporary file, then renamed over the file (atomic on one file system: a reader sees the old line
or the new one, never half of one). The guard needs only that the line *changes*: it times the
changes by its own monotonic clock, so a wall clock that jumps, or two hosts whose clocks differ
(a shared volume), cannot make a live engine look dead or a dead one look alive. The wall time
and the pid are there for a human reading the file.

The beats come from a task on the engine's own event loop: a loop that is blocked (a
``time.sleep``, a stuck C call, a busy loop) stops them, which is what the guard must see.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from ._checks import check_setting
from ._clock import sleep_until
from ._limiter._admission import Clock

__all__ = ["Heartbeat", "sleep_until"]

log = logging.getLogger("weex_async")


class Heartbeat:
    """Beat into ``path`` every ``every`` seconds from the engine's event loop, while entered.

    Enter it once, for the engine's whole life (its own shutdown and flatten included: the guard
    takes an engine that stops beating for a hung one, and stops it)::

        async with Heartbeat("/run/engine/heartbeat", every=1.0):
            await run_engine()

    and run the engine under ``weex-async guard --heartbeat /run/engine/heartbeat --stale-after 5
    -- python engine.py``. Entering writes the first beat at once and raises ``OSError`` if the
    file cannot be written (a missing directory, no permission): better at start than as a false
    alarm later. A beat that fails later is logged (WARNING, once until one succeeds again) and
    retried at the next beat; the guard then sees the beats stop, which is the safe reading.

    It writes nothing but ``path`` and its temporary sibling ``path + ".tmp"``, and leaves the
    file in place on exit (the guard watches the process too).

    Args:
        path: the heartbeat file.
        every: seconds between beats (well under the guard's ``--stale-after``: a third or less).
        clock: the time source and timer (the running event loop by default; tests pass a manual
            clock).

    Raises:
        ConfigurationError: ``every`` is not a positive number of seconds.
    """

    def __init__(
        self, path: str | os.PathLike[str], every: float = 1.0, *, clock: Clock | None = None
    ) -> None:
        self.path = Path(path)
        self.every = check_setting("every", every)
        self._clock = clock
        self._temporary = self.path.with_name(self.path.name + ".tmp")
        self._pid = os.getpid()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        #: beats written so far
        self.beats = 0

    def __repr__(self) -> str:
        return f"Heartbeat({str(self.path)!r}, every={self.every})"

    def beat(self) -> None:
        """Write one beat now (``__aenter__`` and the beating task call it)."""
        line = f"{self.beats + 1} {time.time():.3f} {self._pid}\n"
        with open(self._temporary, "w", encoding="ascii") as handle:
            handle.write(line)
        os.replace(self._temporary, self.path)
        self.beats += 1

    async def __aenter__(self) -> Heartbeat:
        if self._task is not None:
            raise RuntimeError("this Heartbeat is already beating: enter it once")
        self.beat()
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _beat_forever(self) -> None:
        loop = asyncio.get_running_loop()
        clock: Clock = self._clock or loop
        due = clock.time()
        while True:
            await sleep_until(clock, due + self.every)
            # A late wake-up (the loop was blocked, many beats missed) beats once, now, and
            # counts the next period from now: no burst of catch-up beats.
            due = max(due + self.every, clock.time())
            try:
                self.beat()
            except OSError as exc:
                if not self._failing:
                    log.warning("heartbeat: cannot write %s (%s); retrying", self.path, exc)
                self._failing = True
            else:
                self._failing = False
