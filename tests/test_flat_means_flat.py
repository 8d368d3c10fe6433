"""Flat means flat: the kill switch never claims more than it saw, and sees the whole account.

Each test breaks one promise on purpose through a setting of the fake exchange (listings that
show statuses it never wrote before, the same order twice on one page, ...) and checks the report
against what the exchange really holds.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from weex_async import Order
from weex_async._checks import ApiVersion
from weex_async.models import FINAL_STATUSES
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import SYMBOL, client_for

#: Each version's paths: listing, batch cancel.
LIST = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}
BATCH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}

#: Statuses an open-orders listing may show that this SDK never wrote, and no status at all.
UNFAMILIAR = ["PENDING_NEW", "PENDING_CANCEL", "partial_filled", "live", "-1", ""]


def fake(**kwargs: object) -> FakeExchange:
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9, **kwargs)  # type: ignore[arg-type]
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


def order(status: str) -> Order:
    return Order(
        "1", "", "BTCUSDT", status, "BUY", "LONG", Decimal(1), Decimal(0), None, None, "GTC", 0
    )


# -- 1. fail safe on status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    ["filled", "FILLED", "canceled", "CANCELED", "cancelled", "Rejected", "EXPIRED", "full_fill"],
)
def test_only_a_documented_final_status_is_closed(status: str) -> None:
    assert not order(status).is_open
    assert status.lower() in FINAL_STATUSES


@pytest.mark.parametrize("status", [*UNFAMILIAR, "NEW", "open", "PARTIALLY_FILLED", "canceling"])
def test_any_other_status_is_open(status: str) -> None:
    assert order(status).is_open


@pytest.mark.parametrize("status", UNFAMILIAR)
async def test_flatten_cancels_orders_listed_with_an_unfamiliar_status(
    version: ApiVersion, status: str
) -> None:
    exchange = fake(open_status=status)
    opened = exchange.open_orders(API_KEY, 5, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        listed = await client.open_orders()
        assert [o.order_id for o in listed if o.is_open] == opened
        report = await client.cancel_everything()
    assert not exchange.accounts[API_KEY].orders, "nothing left resting on the book"
    assert report.flat
    assert sorted(report.cancelled) == sorted(opened)


@pytest.mark.parametrize("status", ["PENDING_NEW", "live", ""])
async def test_a_lookup_with_an_unfamiliar_status_cancels_the_order_again(
    version: ApiVersion, status: str
) -> None:
    exchange = fake(open_status=status)
    opened = exchange.open_orders(API_KEY, 3, symbol=SYMBOL[version])
    # Every attempt of the batch cancel is lost before the exchange sees it: the orders stay open
    # and their outcome is unknown until the lookups.
    exchange.faults.next(Fault.DROP_BEFORE, 3, path=BATCH[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=opened)
    assert not exchange.accounts[API_KEY].orders, "looked up open, so cancelled again"
    assert report.cancelled == tuple(opened)
    assert not report.failed
    assert not report.unknown
