"""Every refusal before sending: bad arguments raise InvalidRequestError and nothing is sent."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import httpx
import pytest

from weex_async import (
    Credentials,
    OrderRequest,
    WeexClient,
)
from weex_async._checks import ApiVersion
from weex_async._client import API
from weex_async.errors import (
    InvalidRequestError,
)

from .helpers import limit_order, recording

# -- the checks before sending ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"side": "hold"}, "side"),
        ({"position_side": "both"}, "position_side"),
        ({"quantity": "0"}, "positive"),
        ({"quantity": "abc"}, "not a number"),
        ({"quantity": float("nan")}, "positive"),
        ({"quantity": True}, "quantity"),
        ({"price": None}, "needs a price"),
        ({"order_type": "MARKET"}, "takes no price"),
        ({"time_in_force": "GTD"}, "time_in_force"),
        ({"client_oid": ""}, "client_oid"),
        ({"client_oid": "x" * 41}, "client_oid"),
        ({"symbol": ""}, "symbol"),
    ],
)
def test_order_request_checks(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "symbol": "cmt_btcusdt",
        "side": "BUY",
        "position_side": "LONG",
        "quantity": "1",
        "price": "10",
    }
    with pytest.raises(InvalidRequestError, match=message):
        OrderRequest(**{**fields, **kwargs})


def test_order_request_defaults() -> None:
    order = OrderRequest("BTCUSDT", "sell", "short", 0.1, price=Decimal("7E+4"))
    assert (order.side, order.position_side, order.quantity) == ("SELL", "SHORT", Decimal("0.1"))
    assert order.client_oid.startswith("wa-")
    assert len(order.client_oid) == 35
    assert OrderRequest("BTCUSDT", "BUY", "LONG", 1, price=1).client_oid != order.client_oid
    sent = json.loads(API["v3"].place_order(order).content)
    assert sent["price"] == "70000"  # never an exponent on the wire


@pytest.mark.parametrize(
    ("version", "call", "message"),
    [
        ("v2", lambda c: c.place_orders([]), "1 to 20"),
        (
            "v3",
            lambda c: c.place_orders([limit_order("v3", f"c{i}") for i in range(11)]),
            "1 to 10",
        ),
        ("v2", lambda c: c.place_orders([limit_order("v2", "a"), limit_order("v2", "a")]), "own"),
        (
            "v2",
            lambda c: c.place_orders(
                [limit_order("v2", "a"), attrs.evolve(limit_order("v2", "b"), symbol="cmt_ethusdt")]
            ),
            "one symbol",
        ),
        ("v2", lambda c: c.place_orders(limit_order("v2", "a")), "list"),
        ("v3", lambda c: c.place_order(limit_order("v3", "ordre-été")), "does not match"),
        ("v2", lambda c: c.cancel_order(), "exactly one"),
        ("v2", lambda c: c.cancel_order("1", client_oid="x"), "exactly one"),
        ("v2", lambda c: c.cancel_order("12ab"), "decimal"),
        ("v3", lambda c: c.cancel_order(client_oid="no space"), "does not match"),
        ("v2", lambda c: c.order_detail("x"), "decimal"),
        ("v2", lambda c: c.open_orders(limit=101), "limit"),
        ("v3", lambda c: c.open_orders(page=-1), "page"),
        ("v2", lambda c: c.cancel_all_orders(""), "symbol"),
    ],
)
async def test_refusals_send_nothing(version: ApiVersion, call: Any, message: str) -> None:
    sent: list[httpx.Request] = []
    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version=version,
        transport=recording(sent),
    ) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await call(client)
    assert sent == []
