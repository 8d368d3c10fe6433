"""The CLI shares its budgets through the host ledger: commands back to back never overspend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from weex_async import RateLimits
from weex_async.cli import _parser, main
from weex_async.errors import ConfigurationError
from weex_async.testing import free_port

CLI = [sys.executable, "-m", "weex_async.cli"]
KEY, SECRET, PASSPHRASE = "ledger-key", "ledger-secret-xyz", "ledger-pass-xyz"
#: WEEX's account budget is 500 per 10 s; the window's length is not the subject here, so the
#: exchange and the commands use a shorter one (and 500 orders fill its budget, as 2,500 fill
#: WEEX's): the second command still waits for the window, but not 10 s.
WINDOW, UID_BUDGET, ORDERS = 1.0, 100, 500
#: The ``weex-async`` command (its parsing, its default host ledger, its output) with the
#: budgets above instead of WEEX's, so that the exchange and the commands agree on them. It
#: starts (imports) at once, then waits for a line on stdin (its cue) before it runs: the
#: second command starts the moment the first is done, well inside the window the first filled.
SHORT_WINDOW_CLI = [
    sys.executable,
    "-c",
    "import sys, attrs; from weex_async import Budget, cli; default = cli._rate_limits; "
    "cli._rate_limits = lambda args: attrs.evolve(default(args), "
    f"ip=Budget(500, {WINDOW}), uid=Budget({UID_BUDGET}, {WINDOW})); "
    "sys.stdin.readline(); sys.exit(cli.main(sys.argv[1:]))",
]


@pytest.fixture
def fake_exchange(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``weex-async fake-exchange`` in its own process, ``ORDERS`` open orders and the short
    window: its URL, the ids."""
    port, ids = free_port(), tmp_path / "ids.txt"
    process = subprocess.Popen(
        [
            *CLI,
            "fake-exchange",
            "--port",
            str(port),
            "--account",
            f"{KEY}:{SECRET}:{PASSPHRASE}",
            "--open",
            str(ORDERS),
            "--ids-out",
            str(ids),
            "--window",
            str(WINDOW),
            "--uid-budget",
            str(UID_BUDGET),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "fake WEEX exchange on" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}", ids
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)


def _started(*argv: str) -> subprocess.Popen[str]:
    """The command, started (and waiting for its cue: ``_finish``)."""
    env = {
        **os.environ,
        "WEEX_API_KEY": KEY,
        "WEEX_API_SECRET": SECRET,
        "WEEX_API_PASSPHRASE": PASSPHRASE,
    }
    return subprocess.Popen(
        [*SHORT_WINDOW_CLI, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(command: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Cue the command, and wait until it is done."""
    try:
        out, err = command.communicate("go\n", timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    return subprocess.CompletedProcess(command.args, command.returncode, out, err)


def test_cancel_then_flatten_at_once_gets_no_429(fake_exchange: tuple[str, Path]) -> None:
    """``cancel`` spends the whole account window (10 batch calls of 50 orders, UID 100 of
    100), and ``flatten``, started at once in another process, waits for the window instead of
    earning a 429 and a ban: both share the host ledger (the CLI's default)."""
    url, ids = fake_exchange
    first = _started("cancel", "--ids-file", str(ids), "--json", "--base-url", url)
    second = _started("flatten", "--json", "--base-url", url)  # ready while the first runs
    cancel = _finish(first)
    flatten = _finish(second)  # at once
    assert cancel.returncode == 0, cancel.stderr
    report = json.loads(cancel.stdout)
    assert len(report["cancelled"]) == ORDERS
    assert report["calls"] == ORDERS // 50
    assert flatten.returncode == 0, flatten.stderr
    assert json.loads(flatten.stdout)["flat"] is True
    for done in (cancel, flatten):
        assert "429" not in done.stderr, done.stderr
        assert "unreachable or failing" not in done.stderr, done.stderr  # shared all along
        assert SECRET not in done.stdout + done.stderr


def test_the_ledger_option_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from weex_async.cli import _rate_limits

    parser = _parser()
    assert _rate_limits(parser.parse_args(["time"])).ledger == "host"  # the CLI's default
    monkeypatch.setenv("WEEX_ASYNC_LEDGER", "process")
    assert _rate_limits(parser.parse_args(["time"])).shared_ledger is None
    mine = (tmp_path / "mine.db").as_uri()
    for command in (["time"], ["cancel", "--ids", "1"], ["flatten"]):
        args = parser.parse_args([*command, "--ledger", mine])
        assert _rate_limits(args).shared_ledger == mine  # the option wins over the variable
    monkeypatch.setenv("WEEX_ASYNC_LEDGER", "nowhere")
    assert main(["time", "--base-url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "ledger must be" in err
    assert "Traceback" not in err


#: Malformed ledgers, each one naming a password that must never be shown.
MALFORMED_LEDGERS = [
    "nowhere",
    "",
    " host",
    "redis:/user:pw-secret@redis.example",  # no "//": not a URL, so not maskable
    "redis//:pw-secret@redis.example:6379",
    "redis://:pw-secret@redis.example:99999",  # redis-py refused it only when first used
    "redis://:pw-secret@redis.example:port",
    "unix:///tmp/redis.sock?password=pw-secret&db=x",
    "redis://:pw-secret@[::1",  # unparseable: it raised a ValueError (exit 1)
    "file://relative/ledger.db",
]


@pytest.mark.parametrize("ledger", MALFORMED_LEDGERS)
def test_a_malformed_ledger_is_one_line_naming_the_forms_exit_2(
    ledger: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["time", "--ledger", ledger, "--base-url", "http://127.0.0.1:1"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("weex-async: error: --ledger: ")
    if ledger.strip() == ledger != "":  # the variable is stripped, and empty means unset
        monkeypatch.setenv("WEEX_ASYNC_LEDGER", ledger)
        assert main(["time", "--base-url", "http://127.0.0.1:1"]) == 2
        (variable,) = capsys.readouterr().err.splitlines()
        assert variable.startswith("weex-async: error: WEEX_ASYNC_LEDGER: ")
        lines.append(variable)
    for line in lines:
        assert "pw-secret" not in line
        assert "file:///" in line or "redis://" in line  # the accepted forms, named
    with pytest.raises(ConfigurationError) as caught:  # the SDK refuses it when built, too
        RateLimits(ledger=ledger)
    assert "pw-secret" not in str(caught.value)


# -- a host ledger that cannot be used never stops a kill switch ---------------------------------

#: Resting orders the kill switches below must cancel, over several symbols (batches and
#: cancel-alls both go through the ledger's fallback share).
RESTING, SYMBOLS = 60, ("cmt_btcusdt", "cmt_ethusdt", "cmt_solusdt")
#: The engine the guard runs: it breaks the guard's ledger file (the guard opened it for its key
#: check), as the reviewer's reproduction did, then exits: the guard must flatten anyway.
CORRUPTING_ENGINE = (
    "import os, sys\n"
    "path = sys.argv[1]\n"
    "for suffix in ('', '-wal', '-shm'):\n"
    "    if os.path.exists(path + suffix):\n"
    "        with open(path + suffix, 'r+b') as fh:\n"
    "            fh.write(b'not a ledger! ' * 300)\n"
)


def _broken_state(kind: str, tmp_path: Path, *, now: bool) -> tuple[str, Path]:
    """An ``XDG_STATE_HOME`` whose host ledger cannot be used: a corrupt file (``now``, else
    left to the engine), or a directory that cannot be created (``/proc`` refuses even root).
    Returns it and the ledger's path."""
    if kind == "unwritable":
        state = "/proc/nonexistent"
        return state, Path(state) / "weex-async" / "ledger.sqlite3"
    path = tmp_path / "state" / "weex-async" / "ledger.sqlite3"
    if now:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"this is not a database, " * 200)
    return str(tmp_path / "state"), path


def _kill_switch(argv: list[str], state: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WEEX_API_KEY": KEY,
        "WEEX_API_SECRET": SECRET,
        "WEEX_API_PASSPHRASE": PASSPHRASE,
        "XDG_STATE_HOME": state,
        "WEEX_BASE_URL": url,
    }
    env.pop("WEEX_ASYNC_LEDGER", None)  # the CLI's default: the host ledger
    return subprocess.run(
        [*CLI, *argv], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _one_ledger_warning(err: str, path: Path) -> None:
    assert "Traceback" not in err, err
    warnings = [line for line in err.splitlines() if "host ledger" in line]
    assert len(warnings) == 1, err  # once, however many clients and attempts opened it
    (line,) = warnings
    assert line.startswith("weex-async: warning: "), line
    assert str(path) in line, line
    assert "cannot be used (" in line, line
    assert "fallback share" in line, line
    # the CLI's own option and variable, never a Python keyword argument
    assert "--ledger process" in line, line
    assert "WEEX_ASYNC_LEDGER" in line, line
    assert "ledger=" not in line, line
    assert SECRET not in err


@pytest.mark.real_time("the flatten and the guard are OS processes on a served fake")
@pytest.mark.parametrize("kind", ["corrupt", "unwritable"])
@pytest.mark.parametrize("command", ["flatten", "guard"])
def test_a_kill_switch_flattens_when_the_host_ledger_cannot_be_used(
    command: str, kind: str, tmp_path: Path
) -> None:
    """A host ledger that cannot be used (a corrupt file, a state directory that cannot be
    written; for the guard, also a file broken after it first opened it) is an outage: the
    kill switch cancels within its fallback share, says so once, and ends FLAT (before: every
    attempt failed with a ConfigurationError, nothing was sent, 'NOT flat', exit 1)."""
    from weex_async.testing import FakeExchange, serve

    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    for symbol in SYMBOLS:
        exchange.place_resting_orders(KEY, RESTING // len(SYMBOLS), symbol=symbol)
    state, path = _broken_state(kind, tmp_path, now=command == "flatten")
    with serve(exchange) as url:
        if command == "flatten":
            done = _kill_switch(["flatten", "--deadline", "60"], state, url)
        else:
            engine = tmp_path / "engine.py"
            engine.write_text(CORRUPTING_ENGINE)
            done = _kill_switch(
                ["guard", "--deadline", "60", "--", sys.executable, str(engine), str(path)],
                state,
                url,
            )
    assert done.returncode == 0, done.stderr
    assert "FLAT: the last listing showed no open order" in done.stdout, done.stdout
    assert len(exchange.accounts[KEY].orders) == 0
    _one_ledger_warning(done.stderr, path)
    if kind == "corrupt":  # the file is left as it was, for the user to look at
        assert b"not a" in path.read_bytes()[:100]
    assert exchange.rate_limited == 0


def test_a_malformed_ledger_is_named_as_the_cli_spells_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ledger the user typed wrong is still refused before anything is sent (exit 2), named as
    the option or variable it came from, never as a Python keyword argument."""
    monkeypatch.delenv("WEEX_ASYNC_LEDGER", raising=False)
    assert main(["time", "--base-url", "http://127.0.0.1:1", "--ledger", "file://rel"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("weex-async: error: --ledger: "), err
    assert "ledger=" not in err, err
    monkeypatch.setenv("WEEX_ASYNC_LEDGER", "file://otherhost/x")
    assert main(["time", "--base-url", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("weex-async: error: WEEX_ASYNC_LEDGER: "), err
    assert "ledger=" not in err, err
    assert "Traceback" not in err, err
