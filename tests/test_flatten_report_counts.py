"""``cancel_everything``'s report counts what was open on each symbol, whichever way cancelled it.

An account-wide cancel-all takes orders beyond the listing's first page, and its answer names
them without their symbol: they are counted seen open (it cancelled them, so they were), under
their own symbol (read from the order history after the run). A full page of trigger orders
said in ``problems`` is no longer said once a later listing was shorter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from weex_async._checks import ApiVersion
from weex_async.cli import main
from weex_async.testing import FakeExchange, Fault, serve

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import client_for

SYMBOLS = {"v2": ("cmt_btcusdt", "cmt_ethusdt"), "v3": ("BTCUSDT", "ETHUSDT")}
HISTORY = {"v2": "/capi/v2/order/history", "v3": "/capi/v3/order/history"}


def roomy() -> FakeExchange:
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


@pytest.mark.usefixtures("jumping_clock")
@pytest.mark.parametrize("each", [150, 400])
async def test_orders_a_cancel_all_took_beyond_the_first_page_are_counted_under_their_symbol(
    version: ApiVersion, each: int
) -> None:
    """V3 cancels all at the first page (100 of 150 shown); V2 from its third full page. Before:
    "100 seen open" and "(symbol not known): 50 cancelled"."""
    exchange = roomy()
    opened = {
        sym: exchange.place_resting_orders(API_KEY, each, symbol=sym) for sym in SYMBOLS[version]
    }
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat
    assert set(report.symbols) == set(SYMBOLS[version]), "no order under an unknown symbol"
    for sym, names in opened.items():
        part = report.symbols[sym]
        assert sorted(part.seen_open) == sorted(names), "every order open, seen once"
        assert sorted(part.cancelled) == sorted(names)


@pytest.mark.usefixtures("jumping_clock")
async def test_a_history_that_fails_leaves_the_symbol_unknown_and_the_run_flat(
    version: ApiVersion,
) -> None:
    exchange = roomy()
    names = exchange.place_resting_orders(API_KEY, 150, symbol=SYMBOLS[version][0])
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=HISTORY[version])
    exchange.place_resting_orders(API_KEY, 250, symbol=SYMBOLS[version][1])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat, "the symbols are for the report: flat does not wait for them"
    seen = [name for part in report.symbols.values() for name in part.seen_open]
    assert len(seen) == len(set(seen)) == 400
    assert set(names) <= set(seen)
    assert "" in report.symbols, "filed as not known, not guessed"
    assert any("order history, read for symbols, failed" in p for p in report.problems)


@pytest.mark.usefixtures("jumping_clock")
async def test_a_full_page_of_trigger_orders_is_said_only_when_the_last_listing_was_full(
    version: ApiVersion,
) -> None:
    exchange = roomy()
    exchange.place_trigger_orders(API_KEY, 250, symbol=SYMBOLS[version][0])
    async with client_for(exchange, version=version) as client:
        cancelled = await client.cancel_everything(include_triggers=True)
        exchange.place_trigger_orders(API_KEY, 250, symbol=SYMBOLS[version][0])
        listed = await client.cancel_everything()
    assert cancelled.flat
    assert not any("full page" in p for p in cancelled.problems), "the later listing was empty"
    assert any("100 trigger orders listed: a full page" in p for p in listed.problems)


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_the_flatten_text_counts_each_symbol_and_prints_no_empty_line(
    version: ApiVersion,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The reviewer's run: 150 orders and 250 trigger orders on one symbol, with and without
    ``--include-triggers``. Before: V3 "100 seen open" and "(symbol not known): 50 cancelled";
    with triggers, "(symbol not known): 0 seen open, 0 cancelled, ..." and a stale full page."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("WEEX_API_KEY", API_KEY)
    monkeypatch.setenv("WEEX_API_SECRET", API_SECRET)
    monkeypatch.setenv("WEEX_API_PASSPHRASE", PASSPHRASE)
    sym = SYMBOLS[version][0]
    for extra in ([], ["--include-triggers"]):
        exchange = FakeExchange()
        exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
        exchange.place_resting_orders(API_KEY, 150, symbol=sym)
        exchange.place_trigger_orders(API_KEY, 250, symbol=sym)
        with serve(exchange) as url:
            argv = ["flatten", "--api-version", version, "--base-url", url, *extra]
            assert main(argv) == 0
            out = capsys.readouterr().out
        assert out.startswith(f"{sym}: 150 seen open, 150 cancelled, 0 gone"), out
        assert "symbol not known" not in out
        assert ("full page" in out) is not bool(extra), out
