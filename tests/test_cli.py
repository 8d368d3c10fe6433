"""The weex-async command: the demo's summary, real-account commands against a served fake."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import weex_async
from weex_async.cli import _parser, main
from weex_async.testing import FakeExchange, free_port, serve


def test_demo_json_reports_every_order_cancelled_and_no_429(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["demo", "--orders", "300", "--accounts", "2", "--window", "0.5", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["orders"] == 600
    assert summary["cancelled"] == 600
    assert summary["rate_limited"] == 0
    assert summary["unknown"] == 0
    assert summary["worst_window_uid"] <= 500
    assert summary["worst_window_ip"] <= 500
    assert summary["elapsed_s"] > 0


def test_demo_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--orders", "50", "--window", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert "cancelled    50" in out
    assert "429s received         0" in out
    assert "closed on the exchange 50/50" in err  # progress, plain lines off a terminal


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--orders", "0"],
        ["demo", "--orders", "many"],
        ["demo", "--faults", "2"],
        ["demo", "--uid-budget", "5"],
        ["nope"],
        ["cancel"],
        ["fake-exchange", "--host", "0.0.0.0"],
    ],
)
def test_bad_usage_is_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals exit through SystemExit
        code = exit_.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "error:" in err
    assert "Traceback" not in err


def test_cancel_needs_credentials_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WEEX_API_KEY", "WEEX_API_SECRET", "WEEX_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["cancel", "--ids", "1", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "WEEX_API_SECRET" in capsys.readouterr().err


def test_time_and_cancel_against_a_served_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    exchange = FakeExchange(skew_ms=1500)
    exchange.add_account("cli-key", "cli-secret-xyz", "cli-pass-xyz")
    ids = exchange.open_orders("cli-key", 3)
    monkeypatch.setenv("WEEX_API_KEY", "cli-key")
    monkeypatch.setenv("WEEX_API_SECRET", "cli-secret-xyz")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "cli-pass-xyz")
    with serve(exchange) as url:
        assert main(["time", "--base-url", url]) == 0
        out = capsys.readouterr().out
        assert "local offset +1" in out
        assert main(["cancel", "--ids", ids[0], ids[1], "--base-url", url]) == 0
        out = capsys.readouterr().out
        assert f"cancelled  {ids[0]}" in out
        assert "2 cancelled, 0 failed" in out
        assert main(["cancel", "--ids", ids[2], "7", "--json", "--base-url", url]) == 1
        report = json.loads(capsys.readouterr().out)
    assert report["cancelled"] == [ids[2]]
    assert report["failed"] == {"7": "FAILED_ORDER_NOT_FOUND"}
    assert "cli-secret-xyz" not in out
    assert "cli-pass-xyz" not in out


def test_ids_file(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pytest.TempPathFactory,
) -> None:
    exchange = FakeExchange()
    exchange.add_account("f-key", "f-secret", "f-pass")
    ids = exchange.open_orders("f-key", 120)
    path = tmp_path / "ids.txt"  # type: ignore[operator]
    path.write_text("\n".join(ids) + "\n\n")
    monkeypatch.setenv("WEEX_API_KEY", "f-key")
    monkeypatch.setenv("WEEX_API_SECRET", "f-secret")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "f-pass")
    with serve(exchange) as url:
        assert main(["cancel", "--ids-file", str(path), "--base-url", url, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["cancelled"]) == 120
    assert main(["cancel", "--ids-file", str(path) + ".missing"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_flatten_against_a_served_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange = FakeExchange()
    exchange.add_account("fl-key", "fl-secret-xyz", "fl-pass-xyz")
    btc = exchange.open_orders("fl-key", 30, symbol="cmt_btcusdt")
    eth = exchange.open_orders("fl-key", 20, symbol="cmt_ethusdt")
    monkeypatch.setenv("WEEX_API_KEY", "fl-key")
    monkeypatch.setenv("WEEX_API_SECRET", "fl-secret-xyz")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "fl-pass-xyz")
    with serve(exchange) as url:
        assert main(["flatten", "--symbol", "cmt_ethusdt", "--json", "--base-url", url]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["flat"] is True
        assert sorted(report["symbols"]["cmt_ethusdt"]["cancelled"]) == sorted(eth)
        assert set(exchange.accounts["fl-key"].orders) == set(btc), "only the symbol asked"
        assert main(["flatten", "--base-url", url]) == 0
        out = capsys.readouterr().out
        assert "cmt_btcusdt: 30 seen open, 30 cancelled" in out
        assert "FLAT: the last listing showed no open order" in out
        monkeypatch.setenv("WEEX_API_SECRET", "wrong-secret-xyz")
        exchange.open_orders("fl-key", 2)
        assert main(["flatten", "--base-url", url]) == 1
        out = capsys.readouterr().out
    assert "NOT FLAT" in out
    assert "refused" in out
    assert "secret-xyz" not in out
    assert "fl-pass-xyz" not in out


def test_flatten_counts_trigger_orders_and_cancels_them_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange = FakeExchange()
    exchange.add_account("tr-key", "tr-secret-xyz", "tr-pass-xyz")
    exchange.open_orders("tr-key", 3)
    triggers = exchange.open_trigger_orders("tr-key", 2)
    monkeypatch.setenv("WEEX_API_KEY", "tr-key")
    monkeypatch.setenv("WEEX_API_SECRET", "tr-secret-xyz")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "tr-pass-xyz")
    with serve(exchange) as url:
        assert main(["flatten", "--base-url", url]) == 0
        out = capsys.readouterr().out
        assert "trigger orders: 2 still open, left in place (--include-triggers" in out
        assert sorted(exchange.accounts["tr-key"].triggers) == sorted(triggers)
        assert main(["flatten", "--include-triggers", "--json", "--base-url", url]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["include_triggers"] is True
        assert sorted(report["symbols"]["cmt_btcusdt"]["triggers_cancelled"]) == sorted(triggers)
        assert not exchange.accounts["tr-key"].triggers
        assert main(["flatten", "--include-triggers", "--base-url", url]) == 0
        assert "trigger orders: 0 cancelled, 0 still open" in capsys.readouterr().out


def test_flatten_needs_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WEEX_API_KEY", "WEEX_API_SECRET", "WEEX_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["flatten", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "WEEX_API_SECRET" in capsys.readouterr().err


def test_demo_flatten(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--flatten", "--orders", "900", "--symbols", "9", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["mode"] == "flatten"
    assert summary["flat"] == 1
    assert summary["cancelled"] == 900
    assert summary["still_open"] == 0
    assert summary["rate_limited"] == 0
    assert main(["demo", "--flatten", "--orders", "40", "--symbols", "4"]) == 0
    assert "flat         1 of 1 account(s)" in capsys.readouterr().out


# -- help, version, arguments --------------------------------------------------------------------

SUBCOMMANDS = ["demo", "fake-exchange", "time", "cancel", "flatten"]


def help_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert help_of(["--version"], capsys).strip() == f"weex-async {weex_async.__version__}"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_option_has_help_and_shows_its_default(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # no line wrapping inside a default
    text = " ".join(help_of([command, "--help"], capsys).split())
    parser = _parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
    sub = subparsers.choices[command]  # type: ignore[index]
    for action in sub._actions:  # noqa: SLF001
        assert action.help, f"{command} {action.option_strings} has no help"
        if action.default not in (None, False, argparse.SUPPRESS) and action.option_strings:
            assert f"(default: {action.default})" in text, (command, action.dest)
    if command in ("cancel", "flatten"):
        assert "WEEX_API_KEY, WEEX_API_SECRET and WEEX_API_PASSPHRASE" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["fake-exchange", "--port", "99999"],
        ["fake-exchange", "--port", "-1"],
        ["fake-exchange", "--open", "-3"],
        ["fake-exchange", "--trade-cap", "0"],
        ["demo", "--batch-size", "100"],
        ["demo", "--batch-size", "0"],
    ],
)
def test_out_of_range_arguments_are_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


# -- commands on an account ------------------------------------------------------------------------


def test_a_refusal_of_every_order_is_said_in_few_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange = FakeExchange()
    exchange.add_account("r-key", "r-secret", "r-pass")
    ids = exchange.open_orders("r-key", 120)
    monkeypatch.setenv("WEEX_API_KEY", "r-key")
    monkeypatch.setenv("WEEX_API_SECRET", "wrong-secret")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "r-pass")
    with serve(exchange) as url:
        assert main(["cancel", "--ids", *ids, "--base-url", url]) == 1
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 3, out  # one line per reason, then the total
    assert "50 orders" in out
    assert "0 cancelled, 120 failed" in out
    assert "wrong-secret" not in out


def test_an_empty_ids_file_is_a_warning_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "ids.txt"
    empty.write_text("\n\n")
    monkeypatch.setenv("WEEX_API_KEY", "k")
    monkeypatch.setenv("WEEX_API_SECRET", "s")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "p")
    assert main(["cancel", "--ids-file", str(empty), "--base-url", "http://127.0.0.1:9"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err
    assert "holds no order id" in err


def test_connection_errors_name_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["time", "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert f"could not reach {url}" in err
    assert "Traceback" not in err


def test_fake_exchange_prints_and_writes_the_ids_it_opened(tmp_path: Path) -> None:
    port = free_port()
    out_file = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "weex_async.cli", "fake-exchange", "--port", str(port)]
    for extra in ([], ["--ids-out", str(out_file)]):
        process = subprocess.Popen(
            [*command, "--open", "3", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3 if extra else 5)]
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "Traceback" not in err
        if extra:
            assert f"their ids are in {out_file}" in lines[2]
            ids = out_file.read_text().split()
        else:
            ids = [line.strip() for line in lines[2:]]
        assert len(ids) == 3
        assert all(i.isdigit() and len(i) == 18 for i in ids)


async def test_fake_exchange_caps_trade_calls_when_asked() -> None:
    port = free_port()
    command = [sys.executable, "-m", "weex_async.cli", "fake-exchange", "--port", str(port)]
    process = subprocess.Popen(  # noqa: ASYNC220 (started once, before the loop has work)
        [*command, "--open", "3", "--trade-cap", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ids = [process.stdout.readline().strip() for _ in range(5)][2:]
        async with weex_async.WeexClient(
            weex_async.Credentials("demo-key-1", "demo-secret-1", "demo-passphrase"),
            base_url=f"http://127.0.0.1:{port}",
            rate_limits=weex_async.RateLimits(trade=None),  # the client's own cap off
            retry=weex_async.RetryPolicy(max_attempts=1),
            sync_time=False,
        ) as client:
            answers = await asyncio.gather(
                *(client.cancel_batch_orders(ids=[order_id]) for order_id in ids),
                return_exceptions=True,
            )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    refused = [a for a in answers if isinstance(a, weex_async.errors.RateLimitError)]
    assert len(refused) == 1, answers  # 3 trade calls in one second, 2 allowed


# -- the demo's rough edges ------------------------------------------------------------------------


def test_demo_faults_are_shown_as_faults_and_every_429_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["demo", "--orders", "100", "--window", "0.5", "--faults", "0.3", "--seed", "3"]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["faults_injected"] == sum(summary["faults_by_kind"].values()) > 0
    assert summary["closed_on_exchange"] >= summary["cancelled"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f"faults injected       {summary['faults_injected']}: " in out
    injected_429 = summary["faults_by_kind"].get("429", 0)
    assert f"429s received         {summary['rate_limited'] + injected_429} " in out
    assert f"closed on the exchange {summary['closed_on_exchange']}/100" in err, "they agree"
    assert f"closed       {summary['closed_on_exchange']} of 100" in out
    assert "Traceback" not in err


def test_demo_progress_says_when_it_waits_for_the_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--orders", "700", "--window", "2", "--no-trade-cap"]) == 0
    err = capsys.readouterr().err
    assert "waiting for the rate-limit window: weight frees in" in err
    lines = err.splitlines()
    assert len(lines) == len(set(lines)), "no line said twice"


def test_demo_ctrl_c_is_one_line_and_exit_130() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "weex_async.cli", "demo", "--orders", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    process.stderr.readline()  # the first progress line: the cancels are under way
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert "never retrieved" not in err
    assert err.strip().splitlines()[-1] == "weex-async: error: interrupted"
