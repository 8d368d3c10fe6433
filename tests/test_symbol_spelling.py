"""A symbol spelled the other API version's way is refused before anything is sent.

WEEX V2 spells symbols ``cmt_btcusdt``, V3 ``BTCUSDT``. The exchange matches a misspelt symbol to
no order: a listing shows nothing, a cancel cancels nothing, and the caller would take that for
"no order there". Every public call taking a symbol checks it (``_checks.check_symbol`` with the
client's version, the one check ``cancel_everything`` uses too) and names the spelling meant.
Against the fake exchange in process, on V2 and V3.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import pytest

from weex_async import WeexClient
from weex_async._checks import ApiVersion
from weex_async.errors import InvalidRequestError
from weex_async.testing import FakeExchange

from .conftest import API_KEY
from .helpers import SYMBOL, client_for, limit_order

pytestmark = pytest.mark.usefixtures("version", "jumping_clock")

#: the other version's spelling of each version's symbol, and what the error must suggest
MISSPELT = {"v2": "BTCUSDT", "v3": "cmt_btcusdt"}

Call = Callable[[WeexClient, str, ApiVersion], Awaitable[Any]]

#: every public call that takes a symbol, given one
CALLS: dict[str, Call] = {
    "cancel_orders": lambda c, s, v: c.cancel_orders(ids=["1"], symbol=s),
    "cancel_batch_orders": lambda c, s, v: c.cancel_batch_orders(ids=["1"], symbol=s),
    "cancel_order": lambda c, s, v: c.cancel_order("1", symbol=s),
    "cancel_all_orders": lambda c, s, v: c.cancel_all_orders(s),
    "cancel_all_trigger_orders": lambda c, s, v: c.cancel_all_trigger_orders(s),
    "open_orders": lambda c, s, v: c.open_orders(s),
    "order_history": lambda c, s, v: c.order_history(s),
    "open_trigger_orders": lambda c, s, v: c.open_trigger_orders(s),
    "close_positions": lambda c, s, v: c.close_positions(s),
    "place_order": lambda c, s, v: c.place_order(attrs.evolve(limit_order(v, "sp-1"), symbol=s)),
    "place_orders": lambda c, s, v: c.place_orders(
        [attrs.evolve(limit_order(v, "sp-2"), symbol=s)]
    ),
    "cancel_everything": lambda c, s, v: c.cancel_everything([s]),
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_the_other_versions_spelling_is_refused_before_anything_is_sent(
    exchange: FakeExchange, version: ApiVersion, name: str
) -> None:
    resting = exchange.place_resting_orders(API_KEY, 2, symbol=SYMBOL[version])
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await CALLS[name](client, MISSPELT[version], version)
    message = str(caught.value)
    assert f"misspelt for WEEX {version.upper()}, which spells it {SYMBOL[version]!r}" in message
    assert exchange.requests == 0  # not even the clock was read
    assert set(exchange.accounts[API_KEY].orders) == set(resting)


@pytest.mark.parametrize("name", list(CALLS))
async def test_the_versions_own_spelling_goes_through(
    exchange: FakeExchange, version: ApiVersion, name: str
) -> None:
    async with client_for(exchange) as client:
        try:
            await CALLS[name](client, SYMBOL[version], version)
        except InvalidRequestError as exc:  # the failure this test is for
            pytest.fail(f"{name} refused {SYMBOL[version]!r}: {exc}")
        except Exception:  # the exchange's own answer (no such order, no position): sent
            pass
    assert exchange.requests > 0


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [("btcusdt", "BTCUSDT"), ("BTC/USDT", "BTCUSDT"), ("cmt_ethusdt", "ETHUSDT")],
)
@pytest.mark.only_on("v3")
async def test_v3_names_the_spelling_it_means(
    exchange: FakeExchange, misspelt: str, meant: str
) -> None:
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match=f"which spells it '{meant}'"):
            await client.open_orders(misspelt)


@pytest.mark.parametrize(
    ("misspelt", "meant"), [("ETHUSDT", "cmt_ethusdt"), ("eth-usdt", "cmt_ethusdt")]
)
@pytest.mark.only_on("v2")
async def test_v2_names_the_spelling_it_means(
    exchange: FakeExchange, misspelt: str, meant: str
) -> None:
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match=f"which spells it '{meant}'"):
            await client.cancel_orders(ids=["1"], symbol=misspelt)


@pytest.mark.parametrize(
    ("malformed", "meant"),
    [
        ("cmt_", "which spells symbols 'cmt_btcusdt'"),
        ("cmt_btcusdt_", "which spells it 'cmt_btcusdt'"),
        ("cmt__btcusdt", "which spells it 'cmt_btcusdt'"),
        ("cmt_BTCUSDT", "which spells it 'cmt_btcusdt'"),
        ("cmt_btc-usdt", "which spells it 'cmt_btcusdt'"),
        ("BTCUSD", "which spells it 'cmt_btcusd'"),
    ],
)
@pytest.mark.only_on("v2")
async def test_v2_refuses_what_cannot_be_a_v2_symbol_so_nothing_looks_flat(
    exchange: FakeExchange, malformed: str, meant: str
) -> None:
    resting = exchange.place_resting_orders(API_KEY, 2, symbol="cmt_btcusdt")
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match=f"misspelt for WEEX V2, {meant}"):
            await client.cancel_everything([malformed])
        with pytest.raises(InvalidRequestError, match="misspelt for WEEX V2"):
            await client.open_orders(malformed)
    assert exchange.requests == 0
    assert set(exchange.accounts[API_KEY].orders) == set(resting)


@pytest.mark.parametrize("symbol", ["cmt_btcusdt", "cmt_1000pepeusdt", "cmt_btc_usdt"])
@pytest.mark.only_on("v2")
async def test_v2_lets_through_what_may_be_a_v2_symbol(exchange: FakeExchange, symbol: str) -> None:
    async with client_for(exchange) as client:
        assert await client.open_orders(symbol) == ()


@pytest.mark.parametrize("malformed", ["BTCUSDT\u00c9", "BTC_USDT", "\uff22TCUSDT"])
@pytest.mark.only_on("v3")
async def test_v3_refuses_anything_but_ascii_capitals_and_digits(
    exchange: FakeExchange, malformed: str
) -> None:
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match="misspelt for WEEX V3"):
            await client.open_orders(malformed)
    assert exchange.requests == 0


@pytest.mark.parametrize(
    "wide", ["\uff22\uff34\uff23USDT", "BTC\u00dcSDT", "cmt_\uff42\uff54\uff43usdt"]
)
async def test_a_symbol_beyond_ascii_is_refused_with_no_wrong_suggestion(
    exchange: FakeExchange, version: ApiVersion, wide: str
) -> None:
    """Dropping the letters beyond ASCII named another symbol: full-width 'BTC' + 'USDT' was
    refused as misspelt for 'USDT'."""
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError) as refused:
            await client.open_orders(wide)
    assert "which spells it" not in str(refused.value)
    assert "which spells symbols" in str(refused.value)
    assert exchange.requests == 0
