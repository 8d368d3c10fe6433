"""Flat means flat: the kill switch never claims more than it saw, and sees the whole account.

Each test breaks one promise on purpose through a setting of the fake exchange (listings that
show statuses it never wrote before, the same order twice on one page, ...) and checks the report
against what the exchange really holds.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from weex_async import Credentials, Order, WeexClient
from weex_async._cancel import BatchLimit, CancelRun, Verdict
from weex_async._checks import ApiVersion
from weex_async._client import API
from weex_async._endpoints import Again
from weex_async._session import Trace
from weex_async.models import FINAL_STATUSES
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import FAST_RETRY, SYMBOL, client_for

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


# -- 5. no text or exception coupling; one order met once; ids as the exchange reads them ------


async def test_an_order_twice_on_a_page_is_cancelled_once_and_reported_cancelled(
    version: ApiVersion,
) -> None:
    exchange = fake(repeat_on_page=1)
    opened = exchange.open_orders(API_KEY, 5, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat
    assert sorted(report.cancelled) == sorted(opened)
    part = report.symbols[SYMBOL[version]]
    assert part.seen_open == tuple(opened), "met once"
    assert not part.gone
    assert not part.unknown
    cancels = [a.path for a in exchange.arrivals if a.path != LIST[version]]
    assert len([p for p in cancels if "/market/time" not in p]) == 1, "one cancel call"


async def test_a_leading_zero_id_is_reported_by_the_exchanges_reading_on_v3() -> None:
    exchange = fake()
    (order_id,) = exchange.open_orders(API_KEY, 1, symbol=SYMBOL["v3"])
    async with client_for(exchange, version="v3") as client:
        report = await client.cancel_orders(ids=["0" + order_id])
    assert not exchange.accounts[API_KEY].orders
    assert report.cancelled == ("0" + order_id,), "cancelled, and said so"
    assert report.calls == 1


async def test_two_spellings_of_one_id_are_sent_once(version: ApiVersion) -> None:
    exchange = fake()
    (order_id,) = exchange.open_orders(API_KEY, 1, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=[order_id, "00" + order_id])
    assert report.cancelled == (order_id,)
    assert report.failed["00" + order_id].startswith("not sent: ")
    assert repr(order_id) in report.failed["00" + order_id]
    assert report.calls == 1


async def test_a_reader_asks_for_another_attempt_by_returning_again() -> None:
    """``Again`` is a documented return value: sent again within the policy, then returned."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=[])

    answers: list[Again | None] = [Again("one left"), Again("one left"), None]
    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        transport=httpx.MockTransport(handler),
        sync_time=False,
        retry=FAST_RETRY,
    ) as client:
        session = client._session  # noqa: SLF001 - the request layer itself is under test
        call = API["v2"].open_orders(None, None, None).then(lambda _: answers.pop(0))
        trace = Trace()
        assert await session.send(call, trace=trace) is None
        assert (len(sent), trace.sent, trace.unclear) == (3, 3, True)
        never = API["v2"].open_orders(None, None, None).then(lambda _: Again("never"))
        assert await session.send(never) == Again("never"), "returned, never raised"
        assert len(sent) == 3 + FAST_RETRY.max_attempts


async def test_cancel_run_gives_typed_outcomes(version: ApiVersion) -> None:
    exchange = fake()
    opened = exchange.open_orders(API_KEY, 2, symbol=SYMBOL[version])
    exchange.accounts[API_KEY].fill(opened[1])
    async with client_for(exchange, version=version) as client:
        run = CancelRun(
            client._session,  # noqa: SLF001 - the run itself is under test
            API[version],
            "ids",
            None,
            None,
            BatchLimit(10),
            confirm=True,
        )
        await run.run([opened[0], opened[1], "x"], 10)
    assert {name: o.verdict for name, o in run.outcomes.items()} == {
        opened[0]: Verdict.CANCELLED,
        opened[1]: Verdict.NOT_FOUND,
        "x": Verdict.NOT_SENT,
    }
    assert Verdict.NOT_FOUND.gone
    assert Verdict.CLOSED.gone
    assert not Verdict.REFUSED.gone
