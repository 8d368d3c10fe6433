"""``weex-async guard``: real processes (the guard, an engine it runs) against a served fake.

The engine is a small script that places orders through the SDK and beats a ``Heartbeat``; each
test ends it one way (SIGKILL, a blocked event loop, a clean exit after flattening itself, a long
healthy life, the guard's own SIGTERM) and looks at the book the guard leaves. The guard's time
logic (staleness, the grace, the retries) is tested on the manual clock further down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from weex_async._guard import (
    BeatWatch,
    Ending,
    Engine,
    GuardOptions,
    flatten_until_flat,
    run_guard,
    stop_engine,
    watch,
)
from weex_async.testing import FakeExchange, Fault, free_port, serve

from .manual_clock import ManualClock

KEY, SECRET, PASSPHRASE = "guard-key", "guard-secret-xyz", "guard-pass-xyz"
ORDERS = 30
#: Bounds every wait on a process: a hang fails the test instead of the suite.
TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent

ENGINE = '''\
"""A market-making engine stand-in: places orders, beats, then ends as its first argument says."""

import asyncio
import os
import signal
import sys
import time

from weex_async import Credentials, Heartbeat, OrderRequest, WeexClient

mode, beat_file, orders = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def main() -> int:
    async with Heartbeat(beat_file, every=float(os.environ.get("ENGINE_BEAT", "0.1"))):
        creds = Credentials.from_env()
        async with WeexClient(creds, base_url=os.environ["ENGINE_URL"]) as client:
            for start in range(0, orders, 20):
                batch = [
                    OrderRequest("cmt_btcusdt", "BUY", "LONG", "1", price=str(100 + n))
                    for n in range(start, min(orders, start + 20))
                ]
                await client.place_orders(batch)
            interrupted = asyncio.Event()  # SIGINT makes "wait" exit with 130, once ready
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted.set)
            print("ready", os.getpid(), flush=True)
            if mode == "block":  # a hang: no beat, and SIGTERM's handler never gets to run
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, print, "TERM")
                time.sleep(600)
            elif mode == "clean":  # its own shutdown: flat before it exits
                report = await client.cancel_everything(deadline=10)
                print("self-flattened", report.flat, flush=True)
                return 0 if report.flat else 3
            elif mode == "healthy":  # beats for a while, then checks nothing was cancelled
                await asyncio.sleep(float(sys.argv[4]))
                still = len(await client.open_orders())
                print("still open", still, flush=True)
                return 0 if still == orders else 3
            else:  # "wait": until SIGTERM kills it, or SIGINT makes it exit with 130
                await asyncio.wait_for(interrupted.wait(), 600)
                return 130
    return 0


sys.exit(asyncio.run(main()))
'''


@attrs.define
class Desk:
    """The served fake exchange, its account, and the engine script."""

    exchange: FakeExchange
    url: str
    folder: Path

    @property
    def orders(self) -> int:
        return len(self.exchange.accounts[KEY].orders)

    def env(self, **changes: str) -> dict[str, str]:
        return {
            **os.environ,
            "WEEX_API_KEY": KEY,
            "WEEX_API_SECRET": SECRET,
            "WEEX_API_PASSPHRASE": PASSPHRASE,
            "ENGINE_URL": self.url,
            "XDG_STATE_HOME": str(self.folder / "state"),  # a per-user ledger stays in the test
            **changes,
        }

    def engine(self, mode: str, *extra: str) -> list[str]:
        return [
            sys.executable,
            str(self.folder / "engine.py"),
            mode,
            str(self.folder / "beat"),
            str(ORDERS),
            *extra,
        ]

    def guard(
        self,
        *options: str,
        engine: list[str] | None = None,
        cli: str = "weex_async.cli",
        **env: str,
    ) -> subprocess.Popen[str]:
        """The guard (``cli``: the module run as ``weex-async``)."""
        argv = [*(sys.executable, "-m", cli, "guard", "--base-url", self.url), *options]
        if engine is not None:
            argv += ["--", *engine]
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**env),
            cwd=ROOT,  # where ``tests`` is a package
        )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    (tmp_path / "engine.py").write_text(ENGINE)
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    with serve(exchange) as url:
        yield Desk(exchange, url, tmp_path)


#: stale after 5 of the engine's beats (every 0.1 s) are missed; the grace as short (neither
#: length is what these tests test)
HEARTBEAT = ("--stale-after", "0.5", "--grace", "0.5")


def beating(desk: Desk) -> tuple[str, ...]:
    return ("--heartbeat", str(desk.folder / "beat"), *HEARTBEAT)


def ready(process: subprocess.Popen[str]) -> int:
    """The engine's pid, once it has placed its orders (its "ready" line, through the guard)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready "):
        process.kill()
        _, err = process.communicate(timeout=TIMEOUT)
        pytest.fail(f"the engine did not get ready: {line!r}\n{err}")
    return int(line.split()[1])


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    assert "Traceback" not in err, err
    assert SECRET not in out + err
    assert PASSPHRASE not in out + err
    return process.returncode, out, err


def guard_cancels(desk: Desk) -> int:
    """Cancel calls the exchange admitted (batch cancels and cancel-alls)."""
    return sum("cancel" in arrival.path.lower() for arrival in desk.exchange.arrivals)


# -- the four ways an engine ends ----------------------------------------------------------------


def test_an_engine_killed_with_sigkill_leaves_an_empty_book(desk: Desk) -> None:
    guard = desk.guard(*beating(desk), engine=desk.engine("wait"))
    pid = ready(guard)
    assert desk.orders == ORDERS
    os.kill(pid, signal.SIGKILL)
    code, out, err = finish(guard)
    assert code == 0
    assert desk.orders == 0
    assert f"the engine (pid {pid}) was killed by SIGKILL (exit code 137)" in err
    assert f"cmt_btcusdt: {ORDERS} seen open, {ORDERS} cancelled" in out
    assert "FLAT: the last listing showed no open order" in out
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("flat; the engine was killed by SIGKILL (exit code 137)")
    )


def test_include_triggers_reaches_the_guards_flatten(desk: Desk) -> None:
    triggers = desk.exchange.place_trigger_orders(KEY, 3)
    guard = desk.guard("--include-triggers", "--json", engine=desk.engine("wait"))
    pid = ready(guard)
    os.kill(pid, signal.SIGKILL)
    code, out, _ = finish(guard)
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert report["flat"] is True
    assert desk.orders == 0
    assert report["include_triggers"] is True
    assert not desk.exchange.accounts[KEY].triggers, f"trigger orders {triggers} left resting"


def test_an_engine_whose_loop_blocks_is_stopped_then_flattened(desk: Desk) -> None:
    """SIGTERM cannot reach a handler on a blocked loop: SIGKILL follows after the grace."""
    guard = desk.guard(*beating(desk), engine=desk.engine("block"))
    pid = ready(guard)
    code, out, err = finish(guard)
    assert code == 0
    assert desk.orders == 0
    lines = err.splitlines()
    said = [line.split(": ", 1)[1] for line in lines]
    stale = next(n for n, line in enumerate(said) if "stopped beating" in line)
    assert said[stale + 1] == f"stopping the engine (pid {pid}): SIGTERM, then SIGKILL after 0.5 s"
    assert said[stale + 2] == f"the engine (pid {pid}) is still running 0.5 s later: SIGKILL"
    assert said[stale + 3] == f"the engine (pid {pid}) was killed by SIGKILL (exit code 137)"
    assert said[stale + 4] == "flattening the account"
    assert "FLAT" in out


def test_an_engine_that_flattens_itself_gets_no_cancel_from_the_guard(desk: Desk) -> None:
    guard = desk.guard(*beating(desk), "--json", engine=desk.engine("clean"))
    ready(guard)
    code, out, err = finish(guard)
    lines = out.splitlines()
    assert lines[0] == "self-flattened True"
    engine_cancels = guard_cancels(desk)
    report = json.loads(lines[1])
    assert code == 0
    assert report["flat"] is True
    assert report["calls"] == 2, "a listing of each kind (orders, triggers), no cancel"
    assert report["symbols"] == {}
    assert guard_cancels(desk) == engine_cancels
    assert "the engine (pid" in err
    assert "exited with code 0" in err


def test_a_healthy_engine_is_left_alone_for_many_stale_periods(desk: Desk) -> None:
    """It beats for 4 stale-after periods (of 0.3 s: 5 beats each, every 0.06 s); its orders are
    all still open when it exits."""
    beat = ("--heartbeat", str(desk.folder / "beat"), "--stale-after", "0.3", "--grace", "1")
    guard = desk.guard(*beat, "--json", engine=desk.engine("healthy", "1.2"), ENGINE_BEAT="0.06")
    ready(guard)
    code, out, err = finish(guard)
    lines = out.splitlines()
    assert lines[0] == f"still open {ORDERS}", "no cancel from the guard while it was healthy"
    report = json.loads(lines[1])
    assert code == 0
    assert len(report["symbols"]["cmt_btcusdt"]["cancelled"]) == ORDERS, "then flattened"
    assert "stopped beating" not in err
    assert "exited with code 0" in err


# -- the guard itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "engine_end"),
    [
        (signal.SIGTERM, "was killed by SIGTERM (exit code 143)"),
        (signal.SIGINT, "exited with code 130"),  # the engine's own SIGINT handler ran
    ],
)
def test_a_signal_to_the_guard_is_passed_on_then_it_flattens(
    desk: Desk, sig: signal.Signals, engine_end: str
) -> None:
    guard = desk.guard(*beating(desk), engine=desk.engine("wait"))
    pid = ready(guard)
    guard.send_signal(sig)
    code, out, err = finish(guard)
    assert code == 0
    assert desk.orders == 0
    assert f"{sig.name} received" in err
    assert f"the engine (pid {pid}) {engine_end}" in err, "passed on"
    assert "FLAT" in out


def test_a_wrong_key_is_one_refused_request_and_no_engine(desk: Desk) -> None:
    guard = desk.guard(
        *beating(desk), engine=desk.engine("wait"), WEEX_API_SECRET="wrong-secret-xyz"
    )
    code, out, err = finish(guard)
    assert code == 2
    assert "ready" not in out, "the engine was never started"
    assert "the exchange refused this key" in err
    assert "wrong-secret-xyz" not in out + err
    time_syncs = sum("/market/time" in arrival.path for arrival in desk.exchange.arrivals)
    assert desk.exchange.requests - time_syncs == 1


def test_an_engine_it_did_not_start_is_watched_by_pid(desk: Desk) -> None:
    engine = subprocess.Popen(
        desk.engine("wait"), stdout=subprocess.PIPE, text=True, env=desk.env()
    )
    try:
        pid = ready(engine)
        guard = desk.guard("--pid", str(pid))
        assert guard.stderr is not None
        assert "guarding the engine it watches" in guard.stderr.readline()
        engine.kill()
        engine.wait(timeout=TIMEOUT)
        code, _, err = finish(guard)
    finally:
        engine.kill()
        engine.communicate(timeout=TIMEOUT)
    assert code == 0
    assert desk.orders == 0
    assert f"the engine (pid {pid}) is gone" in err


def test_a_stale_engine_it_did_not_start_is_flattened_but_only_reported(desk: Desk) -> None:
    engine = subprocess.Popen(
        desk.engine("block"), stdout=subprocess.PIPE, text=True, env=desk.env()
    )
    try:
        pid = ready(engine)
        guard = desk.guard(
            "--pid", str(pid), "--heartbeat", str(desk.folder / "beat"),
            "--stale-after", "1", "--first-beat-within", "1",
        )  # fmt: skip
        code, _, err = finish(guard)
        assert engine.poll() is None, "never signalled: it is not the guard's"
    finally:
        engine.kill()
        engine.communicate(timeout=TIMEOUT)
    assert code == 0
    assert desk.orders == 0
    assert f"warning: the engine (pid {pid}) is not the guard's child and is not stopped" in err
    assert err.strip().splitlines()[-1].endswith("flat; the engine still runs")


def test_sigterm_to_a_guard_by_pid_leaves_a_running_engine_alone(desk: Desk) -> None:
    engine = subprocess.Popen(
        desk.engine("wait"), stdout=subprocess.PIPE, text=True, env=desk.env()
    )
    try:
        pid = ready(engine)
        guard = desk.guard("--pid", str(pid), "--grace", "0.5")
        assert guard.stderr is not None
        assert "guarding the engine it watches" in guard.stderr.readline()
        guard.send_signal(signal.SIGTERM)
        code, _, err = finish(guard)
        assert engine.poll() is None
    finally:
        engine.kill()
        engine.communicate(timeout=TIMEOUT)
    assert code == 1, "not flat, and never 0 without a flat report"
    assert desk.orders == ORDERS, "a live engine's orders are not the guard's to cancel"
    assert "is not the guard's to stop: nothing flattened" in err


def test_ctrl_c_while_the_guard_flattens_does_not_cut_the_flatten(desk: Desk) -> None:
    """The guard lets its flatten go on through SIGINT. Its flatten is ``weex-async flatten``'s,
    whose own Ctrl-C handler used to take the signal there: the attempt was cut ("interrupted",
    not flat), and once that handler was removed the next Ctrl-C killed the guard mid-retry."""
    desk.exchange.place_resting_orders(KEY, 5)
    # the key check's listing, then the flatten's first: the signal comes during the second,
    # as soon as the guard says it flattens (well within 0.6 s)
    desk.exchange.faults.slow_delay = 0.6
    desk.exchange.faults.next(Fault.SLOW, 2, path="/capi/v2/order/current")
    guard = desk.guard(engine=[sys.executable, "-c", "pass"])
    assert guard.stderr is not None
    said = []
    for line in iter(guard.stderr.readline, ""):
        said.append(line)
        if "flattening the account" in line:
            break
    guard.send_signal(signal.SIGINT)  # during the flatten's slow first listing
    code, out, err = finish(guard)
    err = "".join(said) + err
    assert "SIGINT received while flattening: the flatten goes on" in err
    assert "interrupted" not in out + err
    assert "was not flat" not in err, "one attempt, not cut"
    assert code == 0
    assert desk.orders == 0


def test_a_terminal_that_goes_away_still_gets_the_account_flattened(desk: Desk) -> None:
    """An ssh session that drops: SIGHUP reaches the guard (the engine, in a session of its own,
    gets none), and the guard's terminal is gone. The guard used to die of it, leaving the engine
    running unguarded; it now passes SIGHUP on, flattens, and its failed writes stop nothing."""
    import pty

    desk.exchange.place_resting_orders(KEY, 5)
    engine = [sys.executable, "-c", "import time; time.sleep(600)"]
    argv = [sys.executable, "-m", "weex_async.cli", "guard", "--base-url", desk.url, "--grace", "1"]
    pid, terminal = pty.fork()
    if pid == 0:  # the guard, on the terminal (SIGHUP not ignored, even if this run is nohup's)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.execve(sys.executable, [*argv, "--", *engine], desk.env())
    engine_pid = None
    try:
        said = b""
        while b"guarding the engine" not in said:
            said += os.read(terminal, 1024)
        engine_pid = int(said.split(b"(pid ")[1].split(b")")[0])
    finally:
        os.close(terminal)  # the terminal goes away: SIGHUP to the guard
    for _ in range(TIMEOUT * 10):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    try:
        assert not os.WIFSIGNALED(status), "the guard died of it"
        assert desk.orders == 0, "flattened"
        with pytest.raises(ProcessLookupError):
            os.kill(engine_pid, 0)  # the engine was stopped (and reaped)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(engine_pid, signal.SIGKILL)


def test_under_nohup_sighup_stays_ignored(desk: Desk) -> None:
    """``nohup weex-async guard ...``: SIGHUP ignored on purpose, so that guard and engine outlive
    the terminal. The guard leaves it ignored; only SIGTERM stops it here."""

    def like_nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    argv = [sys.executable, "-m", "weex_async.cli", "guard", "--base-url", desk.url, "--grace", "1"]
    guard = subprocess.Popen(
        [*argv, "--", sys.executable, "-c", "import time; time.sleep(600)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=desk.env(),
        preexec_fn=like_nohup,  # only signal.signal before exec
    )
    assert guard.stderr is not None
    assert "guarding the engine" in guard.stderr.readline()
    guard.send_signal(signal.SIGHUP)
    guard.send_signal(signal.SIGTERM)
    code, _, err = finish(guard)
    assert "SIGHUP" not in err
    assert "SIGTERM received" in err
    assert code == 0


def test_a_guard_that_cannot_flatten_keeps_trying_then_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "engine.py").write_text(ENGINE)
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    with serve(exchange) as url:
        desk = Desk(exchange, url, tmp_path)
        # its flatten's own retries (four attempts of each listing) are not the subject: they
        # back off 1 ms (tests/quick_cli.py), so an attempt against a gone exchange is quick
        # (2.2 s with the default backoffs). 1.5 s: an attempt that ends within 1 s is retried
        # once, after 0.5 s; the next wait (1 s) passes the deadline: giving up
        guard = desk.guard(
            *beating(desk), "--deadline", "1.5", engine=desk.engine("wait"), cli="tests.quick_cli"
        )
        pid = ready(guard)
    os.kill(pid, signal.SIGKILL)  # the exchange is gone too: nothing can flatten
    code, out, err = finish(guard)
    assert code == 1
    assert "NOT FLAT" in out
    assert "flatten attempt 1 was not flat: trying again in 0.5 s" in err
    assert "giving up" in err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("NOT flat; the engine was killed by SIGKILL (exit code 137)")
    )


def test_an_exchange_unreachable_at_the_start_is_a_warning_and_never_exit_0(
    tmp_path: Path,
) -> None:
    desk = Desk(FakeExchange(), f"http://127.0.0.1:{free_port()}", tmp_path)  # nothing listens
    engine = [sys.executable, "-c", "print('engine ran')"]
    # the key check's and the flatten's own retries back off 1 ms (not the subject)
    guard = desk.guard("--deadline", "1", engine=engine, cli="tests.quick_cli")
    code, out, err = finish(guard)
    assert code == 1
    assert "warning: could not check the key (TransportError" in err
    assert out.splitlines()[0] == "engine ran", "guarded anyway"
    assert "NOT FLAT" in out
    assert "giving up" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["guard"],
        ["guard", "--pid", "1", "--", "true"],
        ["guard", "--pid", "0"],
        ["guard", "--stale-after", "0", "--", "true"],
    ],
)
def test_bad_usage_is_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from weex_async.cli import main

    monkeypatch.setenv("WEEX_API_KEY", KEY)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--deadline", "--grace", "--stale-after"])
def test_an_infinite_number_of_seconds_is_refused_before_the_engine_starts(
    desk: Desk, option: str
) -> None:
    """``--deadline inf`` used to be read as a number: the engine ran, and once it ended every
    flatten attempt failed (``cancel_everything`` refuses an infinite deadline) for ever."""
    guard = desk.guard(option, "inf", engine=[sys.executable, "-c", "print('engine ran')"])
    try:
        out, err = guard.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        guard.kill()
        guard.communicate()
        pytest.fail("the guard never ended")
    assert guard.returncode == 2, err
    assert f"argument {option}: expected a finite number > 0, got inf" in err
    assert err.count("\n") == 1
    assert "engine ran" not in out
    assert desk.exchange.arrivals == []


@pytest.mark.parametrize("symbol", ["", "a b"])
def test_a_symbol_the_flatten_would_refuse_is_refused_before_the_engine_starts(
    desk: Desk, symbol: str
) -> None:
    """A guard whose flatten can never run is no guard: the engine used to start, and every
    flatten attempt then failed on the symbol until the deadline."""
    guard = desk.guard(
        "--symbol", symbol, "--deadline", "3", engine=[sys.executable, "-c", "print('engine ran')"]
    )
    code, out, err = finish(guard)
    assert code == 2, err
    assert "symbol must be" in err
    assert err.count("\n") == 1
    assert "engine ran" not in out
    assert desk.exchange.arrivals == []


def test_a_command_that_cannot_start_is_exit_2_and_flattens_nothing(desk: Desk) -> None:
    guard = desk.guard(engine=[str(desk.folder / "no-such-engine")])
    code, _, err = finish(guard)
    assert code == 2
    assert "cannot start" in err
    assert guard_cancels(desk) == 0


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
async def test_the_end_of_a_process_is_seen_with_or_without_a_pidfd(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux tells through a pidfd; elsewhere (no ``os.pidfd_open``) the guard looks every
    ``POLL`` seconds, for its child and for a process it adopted."""
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd here")
    script = "import time; time.sleep(60)"
    child = Engine.start([sys.executable, "-c", script])
    assert child.owned
    other = subprocess.Popen([sys.executable, "-c", script])  # noqa: ASYNC220 (not the guard's)
    adopted = Engine.adopt(other.pid)
    assert not adopted.owned
    adopted.signal(signal.SIGKILL)  # never signalled: not the guard's
    assert other.poll() is None
    assert child.process is not None
    os.kill(child.pid, signal.SIGTERM)
    assert await asyncio.wait_for(child.ended, TIMEOUT) == -signal.SIGTERM
    other.kill()
    assert await asyncio.wait_for(adopted.ended, TIMEOUT) is None, "its parent reads the code"
    other.wait()
    with pytest.raises(ProcessLookupError):
        Engine.adopt(other.pid)


# -- the time logic, on the manual clock -------------------------------------------------------


def test_the_heartbeat_is_stale_only_after_stale_after_without_a_change(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "beat"
    path.write_text("1 0.0 1\n")  # a previous run's last beat: not a beat of this engine
    beats = BeatWatch(path, stale_after=2.0, first_beat_within=10.0, now=clock.monotonic)
    clock.step(9.9)
    assert beats.look() is None, "the first beat may take first_beat_within"
    clock.step(0.1)
    assert "since the start" in (beats.look() or "")
    path.write_text("1 5.0 2\n")
    assert beats.look() is None
    clock.step(1.9)
    assert beats.look() is None
    path.write_text("2 7.0 2\n")
    assert beats.look() is None, "a new line restarts the count"
    clock.step(1.9)
    assert beats.look() is None
    clock.step(0.1)
    assert "stale after 2 s" in (beats.look() or "")
    path.unlink()
    assert beats.look() is not None, "a missing file is no beat"
    assert beats.every == pytest.approx(0.2)


async def test_a_wall_clock_jump_is_not_a_beat_nor_a_death(tmp_path: Path) -> None:
    """Staleness is the guard's monotonic time since the line last changed: the line's own
    wall time (or the file's mtime) never counts."""
    clock = ManualClock()
    path = tmp_path / "beat"
    beats = BeatWatch(path, stale_after=2.0, first_beat_within=2.0, now=clock.monotonic)
    path.write_text("1 99999999999.0 2\n")  # a wall time far in the future
    assert beats.look() is None
    os.utime(path, (0, 0))  # an mtime far in the past
    assert beats.look() is None
    clock.step(2.0)
    assert beats.look() is not None


class FakeEngine:
    """What ``stop_engine`` and ``watch`` use of an ``Engine``: its signals are recorded."""

    def __init__(self, *, owned: bool = True, dies_on: int | None = signal.SIGTERM) -> None:
        self.pid = 4242
        self.owned = owned
        self.ended: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.dies_on = dies_on
        self.signals: list[int] = []

    def signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig in (self.dies_on, signal.SIGKILL) and not self.ended.done():
            self.ended.set_result(-sig)


async def test_a_stale_child_gets_sigterm_then_sigkill_after_the_grace() -> None:
    clock = ManualClock()
    said: list[str] = []
    engine = FakeEngine(dies_on=None)  # ignores SIGTERM
    stopping = asyncio.ensure_future(
        stop_engine(engine, 5.0, clock, said.append, signalled=False)  # type: ignore[arg-type]
    )
    await clock.advance(4.9)
    assert engine.signals == [signal.SIGTERM]
    await clock.advance(0.1)
    await stopping
    assert engine.signals == [signal.SIGTERM, signal.SIGKILL]
    assert said[-1] == "the engine (pid 4242) was killed by SIGKILL (exit code 137)"


async def test_a_child_that_obeys_sigterm_is_not_killed() -> None:
    clock = ManualClock()
    engine = FakeEngine()
    await stop_engine(engine, 5.0, clock, [].append, signalled=False)  # type: ignore[arg-type]
    assert engine.signals == [signal.SIGTERM]


async def test_an_engine_it_did_not_start_is_never_signalled() -> None:
    clock = ManualClock()
    engine = FakeEngine(owned=False)
    await stop_engine(engine, 5.0, clock, [].append, signalled=False)  # type: ignore[arg-type]
    assert engine.signals == []


async def test_watch_ends_on_a_stale_heartbeat_by_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "beat"
    engine = FakeEngine()
    beats = BeatWatch(path, stale_after=1.0, first_beat_within=3.0, now=clock.monotonic)
    stop: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    watching = asyncio.ensure_future(watch(engine, beats, stop, clock))  # type: ignore[arg-type]
    for n in range(20):  # beats every 0.5 s for 10 s: never stale
        path.write_text(f"{n} 0 1\n")
        await clock.advance(0.5)
    assert not watching.done()
    await clock.advance(1.0)
    ending = await watching
    assert ending.why == "stale"
    assert clock.armed <= 11 / beats.every, "a look every stale_after / 10, no busy loop"


async def test_a_first_beat_written_as_the_engine_starts_is_a_beat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard took the file's "previous run" content only after starting the engine: a first
    beat written meanwhile was taken for a previous run's, and a hang right after it was seen
    only after ``first_beat_within`` (30 s), not ``stale_after``."""
    clock = ManualClock()
    path = tmp_path / "beat"
    path.write_text("7 0.0 1\n")  # a previous run's last beat
    start = Engine.start

    engines: list[Engine] = []

    def start_then_beat(command: list[str]) -> Engine:
        engines.append(start(command))
        path.write_text("1 1.0 2\n")  # its first beat, at once; then it hangs
        return engines[-1]

    monkeypatch.setattr(Engine, "start", staticmethod(start_then_beat))
    said: list[str] = []

    async def flatten(left: float | None) -> int:
        return 0

    options = GuardOptions(
        command=[sys.executable, "-c", "import time; time.sleep(600)"],
        heartbeat=path,
        stale_after=1.0,
        first_beat_within=30.0,
        grace=5.0,
    )
    guarding = asyncio.ensure_future(run_guard(options, flatten, clock=clock, say=said.append))
    try:
        for _ in range(20):  # 2 s: twice stale_after, far below first_beat_within
            await clock.advance(0.1)
        assert any("stopped beating" in line for line in said), said
        assert await asyncio.wait_for(guarding, TIMEOUT) == 0  # SIGTERM ended it (real time)
    finally:
        for engine in engines:
            engine.signal(signal.SIGKILL)
        guarding.cancel()
        await asyncio.gather(guarding, return_exceptions=True)


async def test_watch_ends_at_once_when_the_engine_ends_or_a_signal_comes() -> None:
    clock = ManualClock()
    engine = FakeEngine()
    stop: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    watching = asyncio.ensure_future(watch(engine, None, stop, clock))  # type: ignore[arg-type]
    await clock.advance(0)
    stop.set_result(signal.SIGTERM)
    assert await watching == Ending("signal", "SIGTERM received")
    engine.ended.set_result(-signal.SIGTERM)
    ending = await watch(engine, None, stop, clock)  # type: ignore[arg-type]
    assert ending.why == "signal", "the signal passed on ended it: the signal is the cause"
    calm: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    ending = await watch(engine, None, calm, clock)  # type: ignore[arg-type]
    assert ending == Ending("exited", "the engine (pid 4242) was killed by SIGTERM (exit code 143)")


async def test_flatten_is_retried_with_backoff_until_flat() -> None:
    clock = ManualClock()
    said: list[str] = []
    codes = iter([1, 1, 1, 0])
    calls: list[float | None] = []

    async def flatten(left: float | None) -> int:
        calls.append(left)
        return next(codes)

    running = asyncio.ensure_future(flatten_until_flat(flatten, 60.0, clock, said.append))
    await clock.advance(0.5 + 1.0 + 2.0)
    assert await running == 0
    assert calls == [60.0, 59.5, 58.5, 56.5], "each attempt gets the seconds left"
    assert said[0] == "flatten attempt 1 was not flat: trying again in 0.5 s"
    assert len(said) == 3


async def test_a_flatten_that_never_succeeds_gives_up_at_the_deadline_non_zero() -> None:
    clock = ManualClock()
    said: list[str] = []

    async def flatten(left: float | None) -> int:
        raise ConnectionError("exchange unreachable")

    running = asyncio.ensure_future(flatten_until_flat(flatten, 10.0, clock, said.append))
    await clock.advance(10.0)
    assert await running == 1
    assert said[0] == "flatten attempt 1 failed: ConnectionError: exchange unreachable"
    assert "giving up" in said[-1]
    assert sum("failed" in line for line in said) == 5  # at 0, 0.5, 1.5, 3.5 and 7.5


def test_a_pid_that_runs_no_process_is_refused_before_any_request(desk: Desk) -> None:
    # Before: the key was checked first (a signed request), then "no process" was said.
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    code, _, err = finish(desk.guard("--pid", str(ended.pid)))
    assert code == 2
    assert f"no process {ended.pid} to watch" in err
    assert desk.exchange.arrivals == []


def test_a_heartbeat_that_is_a_fifo_is_refused_and_never_read(desk: Desk) -> None:
    fifo = desk.folder / "beat-fifo"
    os.mkfifo(fifo)
    guard = desk.guard("--heartbeat", str(fifo), engine=[sys.executable, "-c", "print('ran')"])
    code, out, err = finish(guard)
    assert code == 2
    assert "is not a regular file" in err
    assert "ran" not in out
    assert desk.exchange.arrivals == []


def test_a_heartbeat_replaced_by_a_fifo_reads_as_no_beat_and_never_blocks(
    tmp_path: Path,
) -> None:
    # Before: reading a FIFO with no writer blocked the guard's loop for ever (no flatten).
    fifo = tmp_path / "beat"
    os.mkfifo(fifo)
    read: list[str | None] = []
    reader = threading.Thread(
        target=lambda: read.append(BeatWatch(fifo, 1.0, 1.0, lambda: 5.0).look()), daemon=True
    )
    reader.start()
    reader.join(timeout=10)  # a hang detector, not a timing: the read takes microseconds
    if reader.is_alive():  # release the blocked open, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert read == [None]  # no content: no beat
