"""``weex-async guard``: supervise an engine, and flatten its account when it dies or hangs.

WEEX has no dead-man's switch (no "cancel everything after N seconds" endpoint), so a crashed or
hung engine leaves its quotes on the book. The guard is the watchdog that flattens for it:

1. Check the key with one signed read: a key the exchange refuses stops the guard before the
   engine starts (a guard that could not flatten is no guard).
2. Start the engine as its child (in a session of its own, so that the guard alone decides what
   reaches it) or adopt a running one (``--pid``).
3. Watch three things at once: the engine's exit (a pidfd on Linux: no polling; elsewhere a poll
   every ``POLL`` seconds), its heartbeat file (``--heartbeat``, read every ``stale_after / 10``
   seconds), and the guard's own SIGTERM / SIGINT / SIGHUP (passed on to its child at once).
4. When the engine is gone, or stale, or the guard is told to stop: make sure its own child is
   stopped (SIGTERM, then SIGKILL after ``grace``; any process left in the child's process group
   is killed too), so a half-alive engine cannot place again behind the guard's back. An engine
   it did not start is never signalled: a stale one is only reported, with a warning.
5. Flatten, through the same function as ``weex-async flatten``, again and again (backing off
   from ``FIRST_RETRY`` to ``LAST_RETRY`` seconds) until a report is flat or the deadline passes;
   each failure is one line on stderr. The exit code is the flatten's: 0 only when flat.

Time (the heartbeat's staleness, the grace, the retries) comes from one injectable clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import attrs

from ._heartbeat import sleep_until
from ._limiter._admission import Clock

__all__ = [
    "BeatWatch",
    "Ending",
    "Engine",
    "GuardOptions",
    "Unfailing",
    "flatten_until_flat",
    "heartbeat_problem",
    "process_exists",
    "run_guard",
    "unfailing_output",
]

#: Seconds between two looks at a process's state where no pidfd tells when it ends.
POLL = 0.05
#: Seconds before the first retry of a flatten that was not flat; doubled each time, up to
#: ``LAST_RETRY``.
FIRST_RETRY = 0.5
LAST_RETRY = 8.0
#: The exit codes (those of every ``weex-async`` command).
EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def _sighup() -> tuple[int, ...]:
    """SIGHUP, where there is one (not on Windows) and it is not ignored: ``nohup`` ignores it
    so that the guard and its engine outlive the terminal, and that must stay so."""
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None or signal.getsignal(sighup) is signal.SIG_IGN:
        return ()
    return (sighup,)


Say = Callable[[str], None]
#: One flatten: given the seconds left (``None``: no deadline), returns 0 only when flat.
Flatten = Callable[[float | None], Awaitable[int]]


def say_on_stderr(text: str) -> None:
    print(f"weex-async guard: {text}", file=sys.stderr, flush=True)


class Unfailing(io.TextIOBase):
    """A text stream whose writes never raise: the guard's output may fail (its terminal gone
    with an ssh session, a closed pipe, a full disk), and that must never stop its flatten."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


@contextlib.contextmanager
def unfailing_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` made ``Unfailing`` for the guard's life."""
    saved = sys.stdout, sys.stderr
    sys.stdout = Unfailing(sys.stdout)
    sys.stderr = Unfailing(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@attrs.frozen
class GuardOptions:
    """What ``weex-async guard`` was asked (its command-line options, checked)."""

    command: Sequence[str] = ()
    pid: int | None = None
    heartbeat: Path | None = None
    stale_after: float = 5.0
    first_beat_within: float = 30.0
    grace: float = 5.0
    deadline: float | None = 60.0


@attrs.frozen
class Ending:
    """Why the watch ended: the engine ``exited``, went ``stale``, or the guard got a ``signal``."""

    why: Literal["exited", "stale", "signal"]
    text: str


# -- the engine's process ----------------------------------------------------------------------


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is gone (its exit code is for its parent to read)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {128 - code})"
    return f"exited with code {code}"


class Engine:
    """The engine's process: the guard's own child, or one it adopted by pid.

    ``ended`` resolves, with the exit code when the guard is the parent (negative: killed by that
    signal; ``None`` otherwise), once the process is gone.
    """

    def __init__(self, pid: int, process: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.process = process
        self.owned = process is not None
        self._loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[int | None] = self._loop.create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.Task[None] | None = None
        self._start_time = _start_time(pid)
        try:
            self._pidfd = os.pidfd_open(pid)  # readable once the process has ended
        except (AttributeError, OSError):  # not Linux, or an old kernel: look every POLL
            self._poller = self._loop.create_task(self._poll())
        else:
            self._loop.add_reader(self._pidfd, self._check)

    @classmethod
    def start(cls, command: Sequence[str]) -> Engine:
        """Start ``command`` as the guard's child, in a session (and process group) of its own:
        a Ctrl-C on the guard's terminal reaches the guard alone, which passes it on."""
        process = subprocess.Popen(list(command), start_new_session=True)
        return cls(process.pid, process)

    @classmethod
    def adopt(cls, pid: int) -> Engine:
        """Watch process ``pid``, which the guard did not start.

        Raises:
            ProcessLookupError: no such process.
        """
        if not _alive(pid, None):
            raise ProcessLookupError(pid)
        return cls(pid, None)

    def _gone(self) -> tuple[bool, int | None]:
        if self.process is not None:
            code = self.process.poll()
            return code is not None, code
        return not _alive(self.pid, self._start_time), None

    def _check(self) -> None:
        gone, code = self._gone()
        if gone and not self.ended.done():
            self.close()
            self.ended.set_result(code)

    async def _poll(self) -> None:
        while not self.ended.done():
            self._check()
            await asyncio.sleep(POLL)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the guard's child and its process group (never to an adopted one)."""
        if not self.owned or self.ended.done():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill_leftovers(self) -> bool:
        """SIGKILL whatever is left of the child's process group (workers it started); whether
        there was anything."""
        if not self.owned:
            return False
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def close(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._poller is not None and self._poller is not asyncio.current_task():
            self._poller.cancel()


def _start_time(pid: int) -> str | None:
    """The process's start time (Linux's /proc): a pid reused by another process differs."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def process_exists(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    return _alive(pid, None)


def heartbeat_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a heartbeat file, or ``None``: it must be a regular file, or not
    exist yet (the engine creates it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"--heartbeat {path}: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"--heartbeat {path} is not a regular file (a FIFO or a device would block)"
    return None


def _alive(pid: int, start_time: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc: kill(0) is all there is
    if fields[0] in ("Z", "X"):  # ended, not yet reaped by its parent
        return False
    return start_time is None or len(fields) <= 19 or fields[19] == start_time


# -- the heartbeat -------------------------------------------------------------------------------


class BeatWatch:
    """Staleness of a heartbeat file, timed by the guard's own clock.

    A beat is a change of the file's content (``weex_async.Heartbeat`` writes a new line each
    time); the content found at the start (a previous run's) is not one. The engine is stale when
    no beat came for ``stale_after`` seconds, or, before its first beat, for
    ``first_beat_within`` seconds since the watch began.
    """

    def __init__(
        self, path: Path, stale_after: float, first_beat_within: float, now: Callable[[], float]
    ) -> None:
        self.path = path
        self.stale_after = stale_after
        self.first_beat_within = first_beat_within
        self._now = now
        self._content = self._read()
        self._since = now()
        self.beats = 0

    def _read(self) -> bytes | None:
        """The file's content; ``None`` if it is missing, unreadable or not a regular file (a
        FIFO or a device is no heartbeat: opening or reading it could block the guard's loop)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            try:
                return handle.read() if stat.S_ISREG(os.fstat(fd).st_mode) else None
            except OSError:
                return None

    def look(self) -> str | None:
        """Read the file once; why the engine is stale, or ``None`` while it beats."""
        content = self._read()
        if content is not None and content != self._content:
            self._content = content
            self._since = self._now()
            self.beats += 1
        quiet = self._now() - self._since
        if self.beats == 0 and quiet >= self.first_beat_within:
            return f"no beat in {self.path} for {quiet:.1f} s since the start"
        if self.beats and quiet >= self.stale_after:
            return f"no beat in {self.path} for {quiet:.1f} s (stale after {self.stale_after:g} s)"
        return None

    @property
    def every(self) -> float:
        """Seconds between two looks: a tenth of the staleness limit."""
        return max(0.01, min(self.stale_after, self.first_beat_within) / 10)


# -- the guard's life ----------------------------------------------------------------------------


async def _first(clock: Clock, until: float | None, *futures: asyncio.Future[Any]) -> None:
    """Return once any of ``futures`` is done, or ``clock`` reads ``until``."""
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(*_: object) -> None:
        if not woken.done():
            woken.set_result(None)

    timer = clock.call_at(until, wake) if until is not None else None
    for future in futures:
        future.add_done_callback(wake)
    try:
        await woken
    finally:
        if timer is not None:
            timer.cancel()
        for future in futures:
            future.remove_done_callback(wake)


async def watch(
    engine: Engine, beats: BeatWatch | None, stop: asyncio.Future[int], clock: Clock
) -> Ending:
    """Until the engine ends, goes stale, or the guard is told to stop."""
    while True:
        if stop.done():  # first: a signal passed on may have ended the engine already
            name = signal.Signals(stop.result()).name
            return Ending("signal", f"{name} received")
        if engine.ended.done():
            return Ending(
                "exited", f"the engine (pid {engine.pid}) {_describe_exit(engine.ended.result())}"
            )
        stale = beats.look() if beats is not None else None
        if stale is not None:
            return Ending("stale", f"the engine (pid {engine.pid}) stopped beating: {stale}")
        until = clock.time() + beats.every if beats is not None else None
        await _first(clock, until, engine.ended, stop)


async def stop_engine(
    engine: Engine, grace: float, clock: Clock, say: Say, *, signalled: bool
) -> None:
    """Stop the guard's own child: SIGTERM (unless already passed on), SIGKILL after ``grace``;
    then say how it ended."""
    if not engine.owned:
        return
    if not engine.ended.done():
        if signalled:
            say(f"passed on to the engine (pid {engine.pid}); SIGKILL after {grace:g} s")
        else:
            say(f"stopping the engine (pid {engine.pid}): SIGTERM, then SIGKILL after {grace:g} s")
            engine.signal(signal.SIGTERM)
        await _first(clock, clock.time() + grace, engine.ended)
    if not engine.ended.done():
        say(f"the engine (pid {engine.pid}) is still running {grace:g} s later: SIGKILL")
        engine.signal(signal.SIGKILL)
        await _first(clock, clock.time() + grace, engine.ended)
        if not engine.ended.done():  # stuck in the kernel: flatten anyway, and say so
            say(
                f"the engine (pid {engine.pid}) survived SIGKILL for {grace:g} s: flattening anyway"
            )
    if engine.ended.done():
        say(f"the engine (pid {engine.pid}) {_describe_exit(engine.ended.result())}")


async def flatten_until_flat(
    flatten: Flatten, deadline: float | None, clock: Clock, say: Say
) -> int:
    """Flatten until a report is flat (0) or ``deadline`` seconds have passed (the last code,
    never 0); each attempt that is not flat is one line through ``say``."""
    end = None if deadline is None else clock.time() + deadline
    wait = FIRST_RETRY
    attempt = 0
    while True:
        attempt += 1
        left = None if end is None else end - clock.time()
        try:
            code = await flatten(left)
        except Exception as exc:  # the guard must outlive any failure and say it
            say(f"flatten attempt {attempt} failed: {type(exc).__name__}: {exc}")
            code = EXIT_INCOMPLETE
        if code == EXIT_OK:
            return EXIT_OK
        code = code or EXIT_INCOMPLETE
        if end is not None and clock.time() + wait >= end:
            say(
                f"flatten attempt {attempt} was not flat, and the deadline ({deadline:g} s) "
                "passes before another: giving up"
            )
            return code
        say(f"flatten attempt {attempt} was not flat: trying again in {wait:g} s")
        await sleep_until(clock, clock.time() + wait)
        wait = min(wait * 2, LAST_RETRY)


async def _end_engine(
    ending: Ending, engine: Engine, options: GuardOptions, clock: Clock, say: Say
) -> int | None:
    """Between the engine's ending and the flatten: wait for it, or stop it. Returns an exit
    code when nothing may be flattened (an engine not the guard's own still runs)."""
    if ending.why == "signal" and not engine.owned:
        say(f"waiting up to {options.grace:g} s for the engine (pid {engine.pid}) to end")
        await _first(clock, clock.time() + options.grace, engine.ended)
        if not engine.ended.done():
            say(
                f"the engine (pid {engine.pid}) still runs and is not the guard's to stop: "
                "nothing flattened"
            )
            return EXIT_INCOMPLETE
        say(f"the engine (pid {engine.pid}) {_describe_exit(engine.ended.result())}")
    if ending.why == "stale" and not engine.owned:
        say(
            f"warning: the engine (pid {engine.pid}) is not the guard's child and is not "
            "stopped: it may place orders again after this flatten"
        )
    if ending.why != "exited":  # (an exit was said already)
        await stop_engine(engine, options.grace, clock, say, signalled=ending.why == "signal")
    if engine.kill_leftovers():
        say(f"processes were left in the engine's process group ({engine.pid}): SIGKILL sent")
    return None


def _remove_handlers(loop: asyncio.AbstractEventLoop, signals: tuple[int, ...]) -> None:
    for sig in signals:
        loop.remove_signal_handler(sig)


def _say_outcome(code: int, engine: Engine, say: Say) -> None:
    """The guard's last line: flat or not, and what became of the engine."""
    ended = engine.ended.result() if engine.ended.done() else None
    state = "flat" if code == EXIT_OK else "NOT flat"
    engine_said = (
        f"the engine {_describe_exit(ended)}" if engine.ended.done() else "the engine still runs"
    )
    say(f"{state}; {engine_said}")


async def run_guard(
    options: GuardOptions, flatten: Flatten, *, clock: Clock | None = None, say: Say = say_on_stderr
) -> int:
    """The guard's whole life, once the key is checked; returns the exit code.

    Raises:
        OSError: the command could not be started (nothing was started, nothing flattened).
        ProcessLookupError: no process ``options.pid``.
    """
    loop = asyncio.get_running_loop()
    clock = clock or loop
    stop: asyncio.Future[int] = loop.create_future()
    engines: list[Engine] = []  # the engine, once started: the handlers are in place before
    flattening = False

    def on_signal(sig: int) -> None:
        if flattening:
            say(f"{signal.Signals(sig).name} received while flattening: the flatten goes on")
            return
        for engine in engines:
            engine.signal(sig)  # passed on to its own child at once
        if not stop.done():
            stop.set_result(sig)

    # The file's content now is a previous run's: read before the engine starts, so that a first
    # beat the engine writes at once is a beat, not taken for an old one.
    beats = (
        BeatWatch(options.heartbeat, options.stale_after, options.first_beat_within, clock.time)
        if options.heartbeat is not None
        else None
    )
    # SIGHUP: the guard's terminal went away (an ssh session that dropped). The engine, in a
    # session of its own, gets none from the terminal: passed on, as it would have had it.
    signals = (signal.SIGTERM, signal.SIGINT, *_sighup())
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        engine = (
            Engine.adopt(options.pid) if options.pid is not None else Engine.start(options.command)
        )
    except BaseException:
        _remove_handlers(loop, signals)
        raise
    engines.append(engine)
    if stop.done():  # a signal came while it started
        engine.signal(stop.result())
    what = "the engine" if engine.owned else "the engine it watches"
    say(f"guarding {what} (pid {engine.pid})")
    try:
        ending = await watch(engine, beats, stop, clock)
        say(ending.text)
        refused = await _end_engine(ending, engine, options, clock, say)
        if refused is not None:
            return refused
        flattening = True
        say("flattening the account")
        code = await flatten_until_flat(flatten, options.deadline, clock, say)
        _say_outcome(code, engine, say)
        return code
    finally:
        _remove_handlers(loop, signals)
        engine.close()
