"""``cancel_everything``'s report counts what was open on each symbol, whichever way cancelled it.

An account-wide cancel-all takes orders beyond the listing's first page, and its answer names
them without their symbol: they are counted seen open (it cancelled them, so they were), under
``""`` when no listing showed them (no request is spent on learning their symbol). A full page of
trigger orders said in ``problems`` is no longer said once a later listing was shorter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from weex_async._checks import ApiVersion
from weex_async.cli import main
from weex_async.testing import FakeExchange, serve

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
async def test_orders_a_cancel_all_took_beyond_the_first_page_are_counted_seen_open(
    version: ApiVersion, each: int
) -> None:
    """V3 cancels all at the first page (100 of 150 shown); V2 from its third full page. Before:
    "100 seen open" and "(symbol not known): 50 cancelled". Now every order cancelled counts as
    seen open, each once: under its symbol when a listing showed it, else under ``""``, and the
    run reads no order history to name them."""
    exchange = roomy()
    opened = {
        sym: exchange.place_resting_orders(API_KEY, each, symbol=sym) for sym in SYMBOLS[version]
    }
    everyone = sorted(name for names in opened.values() for name in names)
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat
    assert not [a for a in exchange.arrivals if a.path == HISTORY[version]], "no history read"
    seen = [name for part in report.symbols.values() for name in part.seen_open]
    cancelled = [name for part in report.symbols.values() for name in part.cancelled]
    assert sorted(seen) == sorted(cancelled) == everyone, "every order open, seen once"
    for sym, part in report.symbols.items():
        assert sym in ("", *SYMBOLS[version])
        assert sorted(part.seen_open) == sorted(part.cancelled), sym
        if sym:
            assert set(part.seen_open) <= set(opened[sym]), "never filed under a wrong symbol"
    # orders no listing showed (V3: past its first page; V2: past its third): symbol not known
    assert ("" in report.symbols) is (version == "v3" or each > 150)


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
    ``--include-triggers``. Before: V3 "100 seen open" and "(symbol not known): 50 cancelled"
    (now "50 seen open, 50 cancelled");
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
        listed = 150 if version == "v2" else 100  # V3 cancels all at its first full page
        assert out.startswith(f"{sym}: {listed} seen open, {listed} cancelled, 0 gone"), out
        unlisted = 150 - listed
        assert (f"(symbol not known): {unlisted} seen open, {unlisted} cancelled" in out) is bool(
            unlisted
        ), out
        assert "(symbol not known): 0 seen open" not in out, "no empty line"
        assert ("full page" in out) is not bool(extra), out
