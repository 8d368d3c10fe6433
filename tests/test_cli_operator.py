"""The command line as an operator meets it: the real ``weex-async`` process, a served fake.

Ctrl-C keeps the report, a bad URL is a usage error, and every command speaks one vocabulary and
exits by one table (docs/cli.md).
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weex_async.cli import EXIT_CODES, main
from weex_async.testing import FakeExchange, free_port, serve

KEY, SECRET, PASSPHRASE = "op-key", "op-secret-xyz", "op-pass-xyz"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def weex_async() -> list[str]:
    """The installed console script, as an operator runs it (``python -m`` when not installed)."""
    script = Path(sys.executable).with_name("weex-async")
    return [str(script)] if script.exists() else [sys.executable, "-m", "weex_async.cli"]


def account_env(secret: str = SECRET) -> dict[str, str]:
    return {
        **os.environ,
        "WEEX_API_KEY": KEY,
        "WEEX_API_SECRET": secret,
        "WEEX_API_PASSPHRASE": PASSPHRASE,
    }


def run(argv: list[str], secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*weex_async(), *argv],
        capture_output=True,
        text=True,
        env=account_env(secret),
        timeout=120,
        check=False,
    )


#: ``weex-async`` whose clients back off 1 ms between attempts (``tests/quick_cli.py``)
QUICK_RETRIES = [sys.executable, "-m", "tests.quick_cli"]


def run_at_once(
    argvs: list[list[str]], command: list[str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """``run`` each of ``argvs``, all at once (their retries and waits overlap); ``command``:
    what runs them (the console script by default)."""
    processes = [
        subprocess.Popen(
            [*(command or weex_async()), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=account_env(),
            cwd=Path(__file__).resolve().parent.parent,  # where ``tests`` is a package
        )
        for argv in argvs
    ]
    done = []
    for argv, process in zip(argvs, processes, strict=True):
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


def exchange_with(orders: int, **kwargs: Any) -> tuple[FakeExchange, list[str]]:
    exchange = FakeExchange(**kwargs)
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    return exchange, exchange.place_resting_orders(KEY, orders)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    """Poll until ``condition`` holds (bounded, so that a broken build fails instead of hanging)."""
    for _ in range(3000):
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the command ended first: {process.communicate()}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("the condition never held")


def interrupt_midway(
    argv: list[str], exchange: FakeExchange, orders: int
) -> tuple[int, str, str, int]:
    """Run ``weex-async argv`` against ``exchange``; Ctrl-C once some orders are cancelled.

    Returns the exit code, stdout, stderr and the orders still open on the exchange."""
    open_orders = exchange.accounts[KEY].orders
    with serve(exchange) as url:
        process = subprocess.Popen(
            [*weex_async(), *argv, "--base-url", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=account_env(),
        )
        try:
            wait_for(lambda: len(open_orders) < orders, process)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        still_open = len(open_orders)
    return process.returncode, out, err, still_open


# -- Ctrl-C keeps the report -----------------------------------------------------------------------


def test_ctrl_c_during_cancel_prints_what_is_known_then_exits_130(tmp_path: Path) -> None:
    exchange, ids = exchange_with(3000)  # 500 per window at the client's budget: ~60 s of work
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    code, out, err, still_open = interrupt_midway(
        ["cancel", "--ids-file", str(ids_file)], exchange, 3000
    )
    assert code == 130
    assert "Traceback" not in err
    assert "interrupted" in err
    last = out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"(\d+) cancelled, (\d+) failed, (\d+) unknown, in \d+ call\(s\) \(interrupted\)", last
    )
    assert found, out
    cancelled, failed, unknown = (int(n) for n in found.groups())
    assert cancelled + failed + unknown == 3000, "every order has its outcome"
    assert cancelled > 0
    closed = 3000 - still_open
    assert cancelled <= closed <= cancelled + unknown, "the report agrees with the exchange"
    assert "not sent: interrupted" in out
    assert "the client was closed" not in out


def test_ctrl_c_during_flatten_prints_what_is_known_then_exits_130() -> None:
    # each cancel-all takes 100 orders at most: many rounds, paced by the client's budget
    exchange, _ = exchange_with(3000, cancel_all_cap=100)
    code, out, err, still_open = interrupt_midway(["flatten", "--json"], exchange, 3000)
    assert code == 130
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["interrupted"] is True
    assert report["flat"] is False
    cancelled = sum(len(part["cancelled"]) for part in report["symbols"].values())
    assert 0 < cancelled <= 3000 - still_open
    assert any("stopped: interrupted" in problem for problem in report["problems"])
    assert "ClientClosedError" not in out, "said as an interruption, not as a closed client"


#: ``weex-async ARGS`` whose stdout gets a Ctrl-C in the middle of the first thing written (the
#: report: ``--json`` writes nothing before it), exactly there, every time.
CTRL_C_MID_REPORT = """
import io, signal, sys
from weex_async.cli import main

class CutMidWrite(io.StringIO):
    cut = False

    def write(self, text):
        if self.cut:
            return super().write(text)
        self.cut = True
        half = len(text) // 2
        super().write(text[:half])
        signal.raise_signal(signal.SIGINT)  # the operator's second Ctrl-C
        return half + super().write(text[half:])

sys.stdout = CutMidWrite()
try:
    code = main(sys.argv[1:])
finally:
    written, sys.stdout = sys.stdout.getvalue(), sys.__stdout__
    sys.stdout.write(written)
sys.exit(code)
"""


@pytest.mark.parametrize("command", [["cancel", "--ids"], ["flatten"]])
def test_a_ctrl_c_while_the_json_report_is_written_waits_until_it_is_whole(
    command: list[str],
) -> None:
    exchange, ids = exchange_with(20)
    argv = [*command, *(ids if command[0] == "cancel" else []), "--json"]
    with serve(exchange) as url:
        done = subprocess.run(
            [sys.executable, "-c", CTRL_C_MID_REPORT, *argv, "--base-url", url],
            capture_output=True,
            text=True,
            env=account_env(),
            timeout=120,
            check=False,
        )
    assert done.returncode == 130, done.stderr
    report = json.loads(done.stdout)  # whole: it was "...\"interrupted\": t" before
    assert "Traceback" not in done.stderr
    assert not exchange.accounts[KEY].orders
    if command[0] == "cancel":
        assert sorted(report["cancelled"]) == sorted(ids)
    else:
        assert report["flat"] is True


# -- a bad URL is a usage error; no exception group ever reaches the user --------------------------


@pytest.mark.parametrize("command", [["time"], ["cancel", "--ids", "1"], ["flatten"]])
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999", "http://127.0.0.1:0", "ftp://127.0.0.1", "127.0.0.1:8000"]
)
def test_a_bad_url_is_one_line_exit_2(command: list[str], url: str) -> None:
    done = run([*command, "--base-url", url])
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--base-url" in done.stderr
    assert "Traceback" not in done.stderr
    assert "ExceptionGroup" not in done.stderr


def test_an_exception_group_is_named_by_its_cause(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = getattr(builtins, "ExceptionGroup", None)
    if group is None:  # Python 3.10: anyio's backport
        group = importlib.import_module("exceptiongroup").ExceptionGroup

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise group("unhandled errors in a TaskGroup", [OverflowError("port must be 0-65535")])

    monkeypatch.setattr("weex_async.WeexClient.sync_time", broken)
    assert main(["time", "--base-url", f"http://127.0.0.1:{free_port()}"]) == 1
    err = capsys.readouterr().err
    assert err == "weex-async: error: unexpected error: OverflowError: port must be 0-65535\n"


# -- one vocabulary --------------------------------------------------------------------------------


def test_a_wrong_key_is_said_the_same_way_by_cancel_and_flatten() -> None:
    exchange, ids = exchange_with(5)
    with serve(exchange) as url:
        cancel = run(["cancel", "--ids", *ids[:2], "--base-url", url], secret="wrong-secret")
        flatten = run(["flatten", "--base-url", url], secret="wrong-secret")
    said = []
    for done in (cancel, flatten):
        assert done.returncode == 1
        found = re.search(r"the exchange refused this key \(([^)]*)\)", done.stderr)
        assert found, done.stderr
        said.append(found.group(1))
        assert "wrong-secret" not in done.stdout + done.stderr
    assert said[0] == said[1]
    assert said[0].startswith("40009: ")
    assert "AuthenticationError" not in flatten.stdout + flatten.stderr


def test_nothing_answered_is_said_as_such_by_cancel_and_flatten() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    commands = (["cancel", "--ids", "1", "2"], ["flatten"])
    # every call is tried four times (the time sync's too): the waits between are not the subject
    argvs = [[*command, "--base-url", url] for command in commands]
    for done in run_at_once(argvs, QUICK_RETRIES):
        assert done.returncode == 1
        assert f"weex-async: error: could not reach {url}: no answer to any of" in done.stderr
        assert "none answered" in done.stdout
        assert not re.search(r"\bin \d+ call", done.stdout), "no call went through"
        assert "Traceback" not in done.stderr


def test_flatten_counts_every_page_seen_open_and_names_unknown_symbols_alike() -> None:
    # 250 orders: three pages, batch-cancelled page by page; 400 orders: from the third full page
    # on, V2's account-wide cancel-all is cheaper; its answer names orders without their symbol,
    # which the report files as not known (as text, then as JSON). The three run at once.
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(serve(exchange_with(n)[0])) for n in (250, 400, 400)]
        extras: list[list[str]] = [[], [], ["--json"]]
        runs = run_at_once(
            [
                ["flatten", "--base-url", url, *extra]
                for url, extra in zip(urls, extras, strict=True)
            ]
        )
    for done in runs:
        assert done.returncode == 0, done
    assert "cmt_btcusdt: 250 seen open, 250 cancelled" in runs[0].stdout
    text, as_json = runs[1].stdout, runs[2].stdout
    assert "cmt_btcusdt: 300 seen open, 300 cancelled" in text
    assert "(symbol not known): 100 seen open, 100 cancelled" in text, "the cancel-all's too"
    assert "(symbol not known)" in json.loads(as_json)["symbols"]


# -- one exit-code table ---------------------------------------------------------------------------


def exit_table() -> dict[int, str]:
    text = (DOCS / "cli.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.*) \|$", text, re.M)
    }


def test_the_docs_table_is_the_commands_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(exit_table()) == set(EXIT_CODES)
    for command in ("demo", "fake-exchange", "time", "cancel", "flatten"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for code in EXIT_CODES:
            assert f"{code} " in text.split("exit codes:", 1)[1], (command, code)


def test_the_table_says_what_ctrl_c_does_to_the_guard(capsys: pytest.CaptureFixture[str]) -> None:
    """The guard does not exit 130 on Ctrl-C: it passes it on, flattens, and exits with the
    flatten's code; its help and the docs' table used to say only 130."""
    assert "guard" in exit_table()[130]
    with pytest.raises(SystemExit):
        main(["guard", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "guard: passes it on to the engine, flattens" in text


def test_fake_exchange_stops_on_ctrl_c_with_exit_0_as_the_table_says() -> None:
    assert "fake-exchange" in exit_table()[0]
    process = subprocess.Popen(
        [*weex_async(), "fake-exchange", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()  # serving
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in err


# -- fake-exchange says how to use it -------------------------------------------------------------


def serve_fake(*extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``weex-async fake-exchange``; return it and its banner (up to the export line)."""
    process = subprocess.Popen(
        [*weex_async(), "fake-exchange", "--port", str(free_port()), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner: list[str] = []
    while not banner or not banner[-1].lstrip().startswith("export "):
        line = process.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip("\n"))
    return process, banner


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    return err


def test_fake_exchange_prints_a_ready_to_copy_export_line_that_works() -> None:
    process, banner = serve_fake("--open", "2")
    try:
        export = banner[-1].strip()
        ids = [line.strip() for line in banner if line.strip().isdigit()]
        assert export.startswith("export WEEX_API_KEY=demo-key-1 WEEX_API_SECRET=demo-secret-1 ")
        assert "WEEX_API_PASSPHRASE=demo-passphrase" in export
        assert "WEEX_BASE_URL=http://127.0.0.1:" in export
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEEX_")}
        script = f"{export} && {' '.join(weex_async())} cancel --ids {' '.join(ids)}"
        done = subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
        )
    finally:
        stop(process)
    assert done.returncode == 0, done
    assert "2 cancelled, 0 failed" in done.stdout


def test_fake_exchange_never_prints_the_credentials_of_an_account_given() -> None:
    process, banner = serve_fake("--account", "my-key:my-secret-xyz:my-pass-xyz")
    err = stop(process)
    text = "\n".join(banner) + err
    assert banner[-1].strip().startswith("export WEEX_BASE_URL=http://127.0.0.1:")
    assert "my-secret-xyz" not in text
    assert "my-pass-xyz" not in text
    assert "WEEX_API_SECRET" not in text


@pytest.mark.parametrize("command", [["fake-exchange", "--port", str(free_port())], ["demo"]])
def test_without_uvicorn_the_hint_installs_from_the_checkout(
    command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "uvicorn.py").write_text("raise ImportError('uvicorn is not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [*weex_async(), *command], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 2, done
    assert "pip install -e '.[fake]'" in done.stderr
    assert "weex-async[fake]" not in done.stderr
    assert done.stderr.count("\n") == 1


# -- the demo's summary and progress ---------------------------------------------------------------


def test_demo_counts_batch_cancels_and_lookups_apart_and_says_what_seed_and_pace_mean(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # in this process, so that a slow answer comes sooner (what is counted does not change)
    monkeypatch.setattr("weex_async._demo.TIMEOUT", 0.2)
    monkeypatch.setattr("weex_async._demo.SLOW_ANSWER", 0.3)
    # without the trade cap's 1 s windows (the client's pace, not what is counted): 1 s less
    argv = ["demo", "--orders", "100", "--window", "0.5", "--faults", "0.3", "--seed", "3"]
    argv.append("--no-trade-cap")
    assert main(argv) == 0
    done = subprocess.CompletedProcess(argv, 0, *capsys.readouterr())
    calls = next(line for line in done.stdout.splitlines() if line.startswith("calls "))
    found = re.fullmatch(r"calls +(\d+): (.*) \(batches of up to 10 ids\) \(API V2\)", calls)
    assert found, calls
    kinds = dict(
        (kind, int(count))
        for count, kind in re.findall(r"(\d+) ([a-z -]+?)(?:, |$)", found.group(2))
    )
    assert set(kinds) <= {"batch cancels", "order lookups", "listings", "history pages"}, kinds
    assert kinds["batch cancels"] >= 10
    assert sum(kinds.values()) == int(found.group(1)), "every call counted once, by its kind"
    rate = next(line for line in done.stdout.splitlines() if line.startswith("rate "))
    assert "a minimum without faults" in rate or "slow answers of the faults" in rate, rate
    assert "seed 3 fixes the fault drawn for the n-th request" in done.stdout
    assert "which request comes n-th depends on timing" in " ".join(
        run(["demo", "--help"]).stdout.split()
    )


def test_the_demo_names_each_kind_of_call() -> None:
    from weex_async._demo import _CallCounter
    from weex_async.events import RequestDone

    counter = _CallCounter()
    for endpoint in ("server_time", "cancel_batch_orders", "order_detail_v3", "open_orders"):
        counter(RequestDone(endpoint, 1, "ok", 200, 0.0, 0.0))
    assert counter.by_kind == {"batch cancels": 1, "order lookups": 1, "listings": 1}


class StubClient:
    """What the progress printer reads from a client: its pools."""

    def __init__(self) -> None:
        self.pools: tuple[Any, ...] = ()

    def rate_limit_status(self) -> tuple[Any, ...]:
        return self.pools


def test_demo_progress_off_a_terminal_names_the_rule_and_stops_flooding() -> None:
    import io

    from weex_async import PoolSnapshot
    from weex_async._demo import _progress_printer

    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(KEY, 20)
    out = io.StringIO()
    show = _progress_printer(exchange, 20, out, live=False)
    client = StubClient()
    client.pools = (
        PoolSnapshot("in-flight", 64, math.inf, 10, 10, 0.0, 0.0),
        PoolSnapshot("trade:k", 10, 1.0, 10, 10, 0.0, 0.02),  # the trade cap holds the queue
        PoolSnapshot("uid:h:k", 500, 10.0, 100, 10, 0.0, 0.0),
    )
    show([client], 1.0)  # type: ignore[list-item]
    assert "waiting for the trade cap (10 trade calls per second): a call frees in 0.1s" in (
        out.getvalue()
    ), "the rule that holds it, rounded up (never 0.0s while it lasts)"
    for order_id in ids:
        exchange.accounts[KEY].orders.pop(order_id)
    lines_before = out.getvalue().count("\n")
    for step in range(40):  # 10 s of ticks every 0.25 s, the queue changing at each
        client.pools = (PoolSnapshot("in-flight", 64, math.inf, 1, step % 7, 0.0, 0.0),)
        show([client], 2.0 + step * 0.25)  # type: ignore[list-item]
    said = out.getvalue().splitlines()[lines_before:]
    assert said[0].endswith("closed on the exchange 20/20, queued 0"), said
    assert len(said) <= 11, "after every order closed: a line a second at most"
