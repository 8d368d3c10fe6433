"""The weex-async command: the demo's summary, real-account commands against a served fake."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import weex_async
from weex_async.cli import _parser, account_client, add_account_options, main
from weex_async.testing import FakeExchange, Fault, free_port, serve


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


def test_fake_exchange_on_a_port_in_use_is_one_clear_line_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["fake-exchange", "--port", str(port)])
        # serve() says so before serving anything
        with pytest.raises(OSError, match="in use") as caught, serve(FakeExchange(), port=port):
            pass
    assert caught.value.errno == errno.EADDRINUSE
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"weex-async: error: port {port} on 127.0.0.1 is in use: choose another with --port\n"
    )


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
    ids = exchange.place_resting_orders("cli-key", 3)
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
    ids = exchange.place_resting_orders("f-key", 120)
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


def test_an_ids_file_with_a_byte_order_mark_or_not_utf8(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Before: a BOM made the first id "not sent" (that order stayed resting), and bytes that are
    # not UTF-8 were an "unexpected error" with exit 1.
    exchange = FakeExchange()
    exchange.add_account("f-key", "f-secret", "f-pass")
    ids = exchange.place_resting_orders("f-key", 3)
    marked = tmp_path / "marked.txt"
    marked.write_text("\n".join(ids) + "\n", encoding="utf-8-sig")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"596\xff\xfe\n")
    monkeypatch.setenv("WEEX_API_KEY", "f-key")
    monkeypatch.setenv("WEEX_API_SECRET", "f-secret")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "f-pass")
    with serve(exchange) as url:
        assert main(["cancel", "--ids-file", str(marked), "--base-url", url, "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["cancelled"]) == sorted(ids)
    assert main(["cancel", "--ids-file", str(binary), "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text" in err
    assert err.count("\n") == 1


def test_flatten_against_a_served_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange = FakeExchange()
    exchange.add_account("fl-key", "fl-secret-xyz", "fl-pass-xyz")
    btc = exchange.place_resting_orders("fl-key", 30, symbol="cmt_btcusdt")
    eth = exchange.place_resting_orders("fl-key", 20, symbol="cmt_ethusdt")
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
        exchange.place_resting_orders("fl-key", 2)
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
    exchange.place_resting_orders("tr-key", 3)
    triggers = exchange.place_trigger_orders("tr-key", 2)
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
        # one page is read: 150 resting read as "at least 100" (before: "100 still open")
        exchange.place_trigger_orders("tr-key", 150)
        assert main(["flatten", "--base-url", url]) == 0
        assert "trigger orders: at least 100 still open, left in place" in capsys.readouterr().out


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

SUBCOMMANDS = ["demo", "fake-exchange", "time", "cancel", "flatten", "guard"]


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
    if command in ("cancel", "flatten", "guard"):
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
    ids = exchange.place_resting_orders("r-key", 120)
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


def test_cancel_deadline_bounds_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cancel --deadline`` is ``cancel_orders(deadline=...)``: a batch whose answer is late is
    cut at the deadline, reported unknown, and nothing more is sent (no retry, no lookup)."""
    exchange = FakeExchange()
    exchange.add_account("d-key", "d-secret", "d-pass")
    ids = exchange.place_resting_orders("d-key", 3)
    exchange.faults.slow_delay = 1.0
    exchange.faults.next(Fault.SLOW, 100, path="/capi/v2/order/cancel_batch_orders")
    monkeypatch.setenv("WEEX_API_KEY", "d-key")
    monkeypatch.setenv("WEEX_API_SECRET", "d-secret")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "d-pass")
    with serve(exchange) as url:
        argv = ["cancel", "--ids", *ids, "--deadline", "0.2", "--json", "--base-url", url]
        assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report["unknown"]) == set(ids)
    assert all(r.startswith("deadline reached") for r in report["unknown"].values())
    assert report["calls"] == 1


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


@pytest.mark.parametrize("command", [["time"], ["cancel", "--ids", "1"], ["flatten"]])
@pytest.mark.parametrize("port", ["closed", "99999"])
def test_a_password_in_the_url_is_never_printed(
    command: list[str],
    port: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``https://user:password@proxy`` is a URL a user may give (a proxy's basic auth): the
    password is a secret, so the messages that name the URL show it as ``***``."""
    monkeypatch.setenv("WEEX_API_KEY", "k")
    monkeypatch.setenv("WEEX_API_SECRET", "secret-never-shown")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "passphrase-never-shown")
    number = str(free_port()) if port == "closed" else port  # nothing listens / no such port
    url = f"http://me:url-password-xyz@127.0.0.1:{number}"
    try:
        code = main([*command, "--base-url", url])
    except SystemExit as exit_:  # argparse's refusal of the port
        code = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code in (1, 2)
    assert "url-password-xyz" not in out + err
    assert f"me:***@127.0.0.1:{number}" in err, err


@pytest.mark.parametrize("command", ["time", "cancel", "flatten", "guard"])
def test_help_never_shows_a_password_of_weex_base_url(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEEX_BASE_URL", "https://me:url-password-xyz@proxy.example:8443")
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "url-password-xyz" not in out
    assert "me:***@proxy.example:8443" in out.replace("\n", "").replace(" ", "")


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
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a slow answer still comes after the timeout, only sooner: what is counted does not change
    monkeypatch.setattr("weex_async._demo.TIMEOUT", 0.2)
    monkeypatch.setattr("weex_async._demo.SLOW_ANSWER", 0.3)
    # without the trade cap's 1 s windows (the client's pace, not what is counted): 1 s less
    argv = ["demo", "--orders", "100", "--window", "0.5", "--faults", "0.3", "--seed", "3"]
    argv.append("--no-trade-cap")
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
    assert "waiting for the account's (UID) rate-limit window (500 weight per window): " in err
    assert "weight frees in" in err
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


# -- --api-version: every command on an account speaks V2 or V3 ----------------------------------

DEMO_ENV = {
    "WEEX_API_KEY": "demo-key-1",
    "WEEX_API_SECRET": "demo-secret-1",
    "WEEX_API_PASSPHRASE": "demo-passphrase",
}


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``weex-async`` command as its own process (``python -m weex_async.cli``)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WEEX_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "weex_async.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_cancel_and_flatten_speak_v3_against_a_fake_exchange_process(tmp_path: Path) -> None:
    """``weex-async fake-exchange`` in one process; ``cancel`` and ``flatten --api-version v3``
    in others, as a user would run them."""
    port = free_port()
    ids_file = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "weex_async.cli", "fake-exchange", "--port", str(port)]
    fake = subprocess.Popen(
        [*command, "--open", "13", "--ids-out", str(ids_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        for _ in range(3):
            fake.stdout.readline()  # served, the account, where the ids are
        ids = ids_file.read_text().split()
        url = f"http://127.0.0.1:{port}"
        ids_part = tmp_path / "some.txt"
        ids_part.write_text("\n".join(ids[:11]))
        cancel = run_cli(
            "cancel",
            "--api-version",
            "v3",
            "--ids-file",
            str(ids_part),
            "--base-url",
            url,
            env=DEMO_ENV,
        )
        flatten = run_cli("flatten", "--api-version", "v3", "--base-url", url, env=DEMO_ENV)
        again = run_cli("flatten", "--base-url", url, env={**DEMO_ENV, "WEEX_API_VERSION": "v3"})
    finally:
        fake.send_signal(signal.SIGINT)
        fake.communicate(timeout=10)
    assert cancel.returncode == 0, cancel.stderr
    assert "11 cancelled, 0 failed, 0 unknown, in 2 call(s)" in cancel.stdout  # V3: 10 per call
    assert flatten.returncode == 0, flatten.stderr
    assert "2 seen open, 2 cancelled" in flatten.stdout
    assert "FLAT: the last listing showed no open order" in flatten.stdout
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in cancel.stderr + flatten.stderr + again.stderr


@pytest.mark.parametrize("how", ["option", "environment"])
def test_every_account_command_sends_only_v3_paths_when_asked(how: str) -> None:
    exchange = FakeExchange()
    exchange.add_account("demo-key-1", "demo-secret-1", "demo-passphrase")
    ids = exchange.place_resting_orders("demo-key-1", 4, symbol="BTCUSDT")
    env = dict(DEMO_ENV)
    flag: list[str] = ["--api-version", "v3"]
    if how == "environment":
        env["WEEX_API_VERSION"] = "v3"
        flag = []
    with serve(exchange) as url:
        runs = [
            run_cli("time", *flag, "--base-url", url, env=env),
            run_cli("cancel", *flag, "--ids", ids[0], "--base-url", url, env=env),
            run_cli("flatten", *flag, "--symbol", "BTCUSDT", "--base-url", url, env=env),
        ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    paths = {arrival.path for arrival in exchange.arrivals}
    assert "/capi/v3/market/time" in paths
    assert "/capi/v3/batchOrders" in paths
    assert "/capi/v3/openOrders" in paths
    assert not [path for path in paths if not path.startswith("/capi/v3/")], paths
    assert not exchange.accounts["demo-key-1"].orders


def test_without_the_option_or_the_variable_it_is_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEEX_API_VERSION", raising=False)
    for command in ("time", "cancel", "flatten"):
        argv = [command, "--ids", "1"] if command == "cancel" else [command]
        assert _parser().parse_args(argv).api_version == "v2"
    monkeypatch.setenv("WEEX_API_VERSION", "V3")
    assert _parser().parse_args(["flatten"]).api_version == "v3"
    assert _parser().parse_args(["flatten", "--api-version", "v2"]).api_version == "v2"


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["time", "--api-version", "v4"], None),
        (["cancel", "--ids", "1", "--api-version", "2"], None),
        (["flatten", "--api-version", ""], None),
        (["demo", "--api-version", "v1"], None),
        (["flatten"], "v9"),
    ],
)
def test_a_bad_api_version_is_a_one_line_usage_error(
    argv: list[str],
    env: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if env is None:
        monkeypatch.delenv("WEEX_API_VERSION", raising=False)
    else:
        monkeypatch.setenv("WEEX_API_VERSION", env)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "expected v2 or v3" in err
    assert "WEEX_API_VERSION" in err


def test_the_shared_helpers_give_a_new_command_the_same_options() -> None:
    parser = argparse.ArgumentParser()
    add_account_options(parser)
    args = parser.parse_args(["--api-version", "v3", "--base-url", "http://127.0.0.1:9"])
    client = account_client(args)
    assert client.api_version == "v3"
    assert client.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("flatten", [False, True])
def test_demo_runs_through_v3(flatten: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--api-version", "v3", "--orders", "120", "--window", "0.5", "--json"]
    assert main([*argv, *(["--flatten", "--symbols", "3"] if flatten else [])]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["api_version"] == "v3"
    assert summary["cancelled"] == 120
    assert summary["batch_size"] == 10  # V3's most ids per batch cancel
    assert summary["rate_limited"] == 0
