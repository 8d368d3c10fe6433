"""The weex-async command: the demo's summary, real-account commands against a served fake."""

from __future__ import annotations

import json

import pytest

from weex_async.cli import main
from weex_async.testing import FakeExchange, serve


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
    assert "cancelled 50/50" in err  # progress, plain lines when not on a terminal


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
