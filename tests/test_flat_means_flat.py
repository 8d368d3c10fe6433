"""Flat means flat: the kill switch never claims more than it saw, and sees the whole account.

Each test breaks one promise on purpose through a setting of the fake exchange (listings that
show statuses it never wrote before, the same order twice on one page, ...) and checks the report
against what the exchange really holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from weex_async import ClosePositionResult, Order, TriggerOrder
from weex_async._cancel import BatchLimit, CancelRun, Verdict
from weex_async._checks import ApiVersion
from weex_async._client import API
from weex_async._endpoints import Again
from weex_async._session import Trace
from weex_async._settling import HistoryWalk
from weex_async.errors import TransportError, UnexpectedResponseError, WeexError
from weex_async.models import FINAL_STATUSES
from weex_async.testing import FakeExchange, Fault
from weex_async.testing._order_desk import FakeAccount, FakeOrder, OrderDesk

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import FAST_RETRY, SYMBOL, Wrapped, client_for, mock_client, paths_counted

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

#: Each version's paths: listing, batch cancel.
LIST = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}
BATCH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}
TRIGGERS = {"v2": "/capi/v2/order/currentPlan", "v3": "/capi/v3/openAlgoOrders"}

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
    opened = exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOL[version])
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
    opened = exchange.place_resting_orders(API_KEY, 3, symbol=SYMBOL[version])
    # Every attempt of the batch cancel is lost before the exchange sees it: the orders stay open
    # and their outcome is unknown until the lookups.
    exchange.faults.next(Fault.DROP_BEFORE, 3, path=BATCH[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=opened)
    assert not exchange.accounts[API_KEY].orders, "looked up open, so cancelled again"
    assert report.cancelled == tuple(opened)
    assert not report.failed
    assert not report.unknown


#: Success wrappers around no data at all: WEEX sends an empty listing as ``[]``, never so.
NO_DATA = [
    {"code": "00000", "data": None},
    {"code": 0, "data": None},
    {"code": "200", "data": None},
]
#: and with no data at all (refused before this fix too: kept so)
NO_DATA_AT_ALL = [{"code": "00000"}, {"code": "00000", "msg": "success"}, {}]


@pytest.mark.parametrize("body", NO_DATA + NO_DATA_AT_ALL)
async def test_a_listing_of_null_data_is_refused_not_read_as_an_empty_book(
    version: ApiVersion, body: dict[str, Any]
) -> None:
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 1, symbol=SYMBOL[version])
    listings = (LIST[version], TRIGGERS[version])

    def no_data(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(200, json=body) if request.url.path in listings else None

    async with client_for(exchange, Wrapped(exchange, no_data), version=version) as client:
        report = await client.cancel_everything(include_triggers=True, deadline=5)
        for listing in (client.open_orders, client.open_trigger_orders):
            with pytest.raises(UnexpectedResponseError, match="is not a list"):
                await listing()
    assert not report.flat, "no data is not an empty book"
    # a failed listing is a blind round: the cancel-all goes anyway (it is not what proves flat)
    assert not exchange.accounts[API_KEY].orders.keys() & set(opened), "cancelled blind"


@pytest.mark.parametrize("body", NO_DATA)
async def test_history_and_closed_positions_of_null_data_are_refused(
    version: ApiVersion, body: dict[str, Any]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with mock_client(handler, version=version, retry=FAST_RETRY) as client:
        with pytest.raises(UnexpectedResponseError, match="data is null"):
            await client.order_history()
        with pytest.raises(UnexpectedResponseError, match="data is null"):
            await client.close_positions()


# -- 5. no text or exception coupling; one order met once; ids as the exchange reads them ------


async def test_an_order_twice_on_a_page_is_cancelled_once_and_reported_cancelled(
    version: ApiVersion,
) -> None:
    exchange = fake(repeat_on_page=1)
    opened = exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat
    assert sorted(report.cancelled) == sorted(opened)
    part = report.symbols[SYMBOL[version]]
    assert part.seen_open == tuple(opened), "met once"
    assert not part.gone
    assert not part.unknown
    listings = (LIST[version], TRIGGERS[version])
    cancels = [a.path for a in exchange.arrivals if a.path not in listings]
    assert len([p for p in cancels if "/market/time" not in p]) == 1, "one cancel call"


async def test_a_leading_zero_id_is_reported_by_the_exchanges_reading_on_v3() -> None:
    exchange = fake()
    (order_id,) = exchange.place_resting_orders(API_KEY, 1, symbol=SYMBOL["v3"])
    async with client_for(exchange, version="v3") as client:
        report = await client.cancel_orders(ids=["0" + order_id])
    assert not exchange.accounts[API_KEY].orders
    assert report.cancelled == ("0" + order_id,), "cancelled, and said so"
    assert report.calls == 1


async def test_two_spellings_of_one_id_are_sent_once(version: ApiVersion) -> None:
    exchange = fake()
    (order_id,) = exchange.place_resting_orders(API_KEY, 1, symbol=SYMBOL[version])
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
    async with mock_client(handler, retry=FAST_RETRY) as client:
        session = client._session  # noqa: SLF001 - the request layer itself is under test
        call = API["v2"].open_orders(None, None, None).then(lambda _: answers.pop(0))
        trace = Trace()
        assert await session.send(call, trace=trace) is None
        assert (len(sent), trace.sent, trace.unclear) == (3, 3, True)
        never = API["v2"].open_orders(None, None, None).then(lambda _: Again("never"))
        assert await session.send(never) == Again("never"), "returned, never raised"
        assert len(sent) == 3 + FAST_RETRY.max_attempts


async def test_a_trace_given_again_goes_on_counting_attempts() -> None:
    """``cancel_orders`` sends a lost batch again itself, after a listing, with the batch's
    trace: the session numbers the attempts on and stops at the policy's ``max_attempts`` for
    all of them together, not per send."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500, json={"code": "500", "msg": "busy"})

    async with mock_client(handler, retry=FAST_RETRY) as client:
        session = client._session  # noqa: SLF001 - the request layer itself is under test
        call = API["v2"].open_orders(None, None, None)
        trace = Trace()
        with pytest.raises(WeexError):
            await session.send(call, trace=trace)  # one attempt: unclear outcomes not retried
        assert trace.sent == 1
        with pytest.raises(WeexError):
            await session.send(call, retry_unclear=True, trace=trace)
        assert trace.sent == len(sent) == FAST_RETRY.max_attempts, "all sends together"


async def test_cancel_run_gives_typed_outcomes(version: ApiVersion) -> None:
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 2, symbol=SYMBOL[version])
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


# -- 2. trigger orders -----------------------------------------------------------------------------


async def test_trigger_orders_are_listed_and_cancelled_on_both_versions(
    version: ApiVersion,
) -> None:
    exchange = fake()
    mine = exchange.place_trigger_orders(API_KEY, 3, symbol=SYMBOL[version])
    other_symbol = "cmt_ethusdt" if version == "v2" else "ETHUSDT"
    other = exchange.place_trigger_orders(API_KEY, 2, symbol=other_symbol)
    orders = exchange.place_resting_orders(API_KEY, 2, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        listed = await client.open_trigger_orders()
        assert [t.order_id for t in listed] == mine + other
        first = listed[0]
        assert (first.symbol, first.side, first.position_side) == (
            SYMBOL[version],
            "SELL",
            "LONG",
        )
        assert (first.quantity, first.trigger_price, first.is_open) == (
            Decimal(1),
            Decimal(90),
            True,
        )
        assert [t.order_id for t in await client.open_trigger_orders(other_symbol)] == other
        result = await client.cancel_all_trigger_orders(SYMBOL[version])
        assert sorted(result.cancelled) == sorted(mine)
        assert [t.order_id for t in await client.open_trigger_orders()] == other
    account = exchange.accounts[API_KEY]
    assert sorted(account.cancelled_triggers) == sorted(mine)
    assert sorted(account.orders) == sorted(orders), "ordinary orders untouched"


async def test_flatten_leaves_trigger_orders_by_default_but_reports_them(
    version: ApiVersion,
) -> None:
    exchange = fake()
    triggers = exchange.place_trigger_orders(API_KEY, 3, symbol=SYMBOL[version])
    exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert report.flat, "no ordinary order left"
    assert not report.include_triggers
    assert report.triggers_listed
    assert report.symbols[SYMBOL[version]].triggers_open == tuple(triggers)
    assert report.triggers_open == tuple(triggers)
    assert sorted(exchange.accounts[API_KEY].triggers) == sorted(triggers), "left in place"
    assert sum(a.path == TRIGGERS[version] for a in exchange.arrivals) == 1, "one listing"


@pytest.mark.parametrize("status", [None, "PENDING", ""])
async def test_flatten_with_include_triggers_cancels_them_and_proves_it(
    version: ApiVersion, status: str | None
) -> None:
    exchange = fake(open_status=status)
    symbols = [SYMBOL[version], "cmt_ethusdt" if version == "v2" else "ETHUSDT"]
    triggers = [t for s in symbols for t in exchange.place_trigger_orders(API_KEY, 2, symbol=s)]
    exchange.place_resting_orders(API_KEY, 5, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(include_triggers=True)
    account = exchange.accounts[API_KEY]
    assert not account.triggers
    assert not account.orders
    assert report.flat
    assert report.include_triggers
    assert report.triggers_open == ()
    cancelled = [t for part in report.symbols.values() for t in part.triggers_cancelled]
    assert sorted(cancelled) == sorted(triggers)
    assert report.symbols[symbols[1]].triggers_cancelled == tuple(triggers[2:])


async def test_flatten_with_include_triggers_is_not_flat_while_a_trigger_listing_fails(
    version: ApiVersion,
) -> None:
    exchange = fake()
    exchange.place_trigger_orders(API_KEY, 2, symbol=SYMBOL[version])
    exchange.faults.next(Fault.SERVER_ERROR, 1000, path=TRIGGERS[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(include_triggers=True)
        default = await client.cancel_everything()
    assert not report.flat
    assert not report.triggers_listed
    assert any("trigger-order listing failed" in p for p in report.problems)
    assert default.flat, "by default, trigger orders do not decide flat"
    assert not default.triggers_listed


@pytest.mark.parametrize(
    ("status", "is_open"),
    [
        ("UNTRIGGERED", True),
        ("untriggered", True),
        ("0", True),
        ("", True),
        ("NEW", True),
        ("TRIGGERED", False),
        ("CANCELED", False),
        ("cancelled", False),
        ("EXPIRED", False),
        ("FILLED", False),
    ],
)
def test_a_trigger_order_is_open_unless_its_status_is_final(status: str, is_open: bool) -> None:
    trigger = TriggerOrder("1", "", "BTCUSDT", status, "BUY", "LONG", Decimal(1), None, 0)
    assert trigger.is_open is is_open


# -- 3. positions ----------------------------------------------------------------------------------

CLOSE = {"v2": "/capi/v2/order/closePositions", "v3": "/capi/v3/closePositions"}


async def test_close_positions_closes_each_position_and_says_so(version: ApiVersion) -> None:
    exchange = fake()
    other_symbol = "cmt_ethusdt" if version == "v2" else "ETHUSDT"
    long_ = exchange.open_position(API_KEY, symbol=SYMBOL[version])
    short = exchange.open_position(API_KEY, symbol=SYMBOL[version], side="SHORT", quantity="2")
    stuck = exchange.open_position(API_KEY, symbol=SYMBOL[version], refuse="position is frozen")
    other = exchange.open_position(API_KEY, symbol=other_symbol)
    account = exchange.accounts[API_KEY]
    async with client_for(exchange, version=version) as client:
        results = await client.close_positions(SYMBOL[version])
        assert [r.position_id for r in results] == [long_, short, stuck]
        assert [r.success for r in results] == [True, True, False]
        assert results[2] == ClosePositionResult(stuck, False, "", "position is frozen")
        closing = account.history[results[1].order_id]
        assert (closing.side, closing.position_side, closing.quantity, closing.status) == (
            "BUY",
            "SHORT",
            Decimal(2),
            "filled",
        )
        assert sorted(account.positions) == sorted([stuck, other])
        assert [r.position_id for r in await client.close_positions()] == [stuck, other]
        assert await client.close_positions(other_symbol) == ()


async def test_close_positions_is_never_retried(version: ApiVersion) -> None:
    exchange = fake()
    exchange.open_position(API_KEY, symbol=SYMBOL[version])
    exchange.faults.next(Fault.DROP_AFTER, 1, path=CLOSE[version])
    async with client_for(exchange, version=version) as client:
        with pytest.raises(TransportError):
            await client.close_positions()
    assert [a.path for a in exchange.arrivals].count(CLOSE[version]) == 1, "sent once"
    assert not exchange.accounts[API_KEY].positions, "the exchange acted on it"


async def test_flatten_never_closes_a_position(version: ApiVersion) -> None:
    exchange = fake()
    position = exchange.open_position(API_KEY, symbol=SYMBOL[version])
    exchange.place_resting_orders(API_KEY, 3, symbol=SYMBOL[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(include_triggers=True)
    assert report.flat
    assert list(exchange.accounts[API_KEY].positions) == [position]
    assert CLOSE[version] not in [a.path for a in exchange.arrivals]


# -- 4. unknowns settled by the cheaper look ------------------------------------------------------

DETAIL = {"v2": "/capi/v2/order/detail", "v3": "/capi/v3/order"}
HISTORY = {"v2": "/capi/v2/order/history", "v3": "/capi/v3/order/history"}


async def test_unknowns_still_open_are_found_by_one_listing_not_by_lookups(
    version: ApiVersion,
) -> None:
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 10, symbol=SYMBOL[version])
    exchange.faults.next(Fault.DROP_BEFORE, 3, path=BATCH[version])  # every attempt lost
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened)
    assert not exchange.accounts[API_KEY].orders
    assert paths_counted(exchange) == {BATCH[version]: 3 + 1, LIST[version]: 1}, "no lookup"
    assert report.calls == 5


async def test_unknowns_closed_are_settled_by_the_order_history(version: ApiVersion) -> None:
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 10, symbol=SYMBOL[version])
    exchange.accounts[API_KEY].fill(opened[3])  # filled before the cancel reached it
    # The first attempt cancels the rest, its answer is lost; the retry hears "not found".
    exchange.faults.next(Fault.DROP_AFTER, 1, path=BATCH[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(o for o in opened if o != opened[3])
    assert report.failed == {opened[3]: "filled (found in the order history)"}
    assert not report.unknown
    assert paths_counted(exchange) == {BATCH[version]: 2, HISTORY[version]: 1}, "no lookup"


async def test_a_lost_batch_deep_in_the_history_is_read_where_it_is(version: ApiVersion) -> None:
    """The first batch's answer is lost after the exchange cancelled it (one order of it had
    filled before): by the end of the run its orders sit under ~1,950 others in the history,
    past the ten pages that reading from the top may spend. Aimed by the neighbours' confirmed
    cancels, one or two pages settle them, and the filled one is not reported cancelled."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 2000, symbol=SYMBOL[version])
    exchange.accounts[API_KEY].fill(opened[3])
    exchange.faults.next(Fault.DROP_AFTER, 1, path=BATCH[version])
    async with client_for(exchange, version=version, batch_size=50) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(o for o in opened if o != opened[3])
    assert report.failed == {opened[3]: "filled (found in the order history)"}
    assert not report.unknown
    counts = paths_counted(exchange)
    assert DETAIL[version] not in counts, "no lookup"
    assert counts[HISTORY[version]] <= 2
    assert LIST[version] not in counts, "the exchange said they are not open: no listing"


def rows(*ids: int) -> tuple[Order, ...]:
    return tuple(
        Order(
            str(i),
            "",
            "BTCUSDT",
            "canceled",
            "BUY",
            "LONG",
            Decimal(1),
            Decimal(0),
            None,
            None,
            "GTC",
            0,
        )
        for i in ids
    )


def aimed_run(lost: Iterable[int], sent: int) -> tuple[CancelRun, dict[str, list[int | None]]]:
    """A run that sent orders ``1000 + i`` in that order, and heard every cancel confirmed at
    once but those of ``lost``: each of these with the places it may have closed at."""
    lost = set(lost)
    names = [str(1000 + i) for i in range(sent)]
    closed_at: dict[str, int] = {}
    for i, name in enumerate(names):
        if i not in lost:
            closed_at[name] = len(closed_at)
    run = CancelRun.__new__(CancelRun)
    # What a run learns from its batches' answers (CancelRun._absorb), set by hand.
    vars(run).update(
        _sent_order={name: i for i, name in enumerate(names)},
        _closed_at=closed_at,
        _at_first=set(closed_at),
        _sends={},
        _lost_at={},
    )
    return run, {names[i]: run._places(names[i]) for i in sorted(lost)}  # noqa: SLF001


def walk_of(run: CancelRun) -> HistoryWalk:
    return HistoryWalk(run._closed_at, margin=10)  # noqa: SLF001 (the walk, on its own)


def test_the_history_is_read_first_where_the_neighbours_point() -> None:
    run, aims = aimed_run(range(100, 150), 400)  # 350 confirmed; the lost sit under 250
    assert walk_of(run).next_page(aims) == 2


def test_the_history_walk_follows_the_rows_it_read() -> None:
    """Others' orders closed meanwhile push the lost ones deeper than aimed: the rows read say
    so (all more recent than sought), so the walk goes deeper; rows all older send it up."""
    run, aims = aimed_run(range(100, 150), 400)
    walk = walk_of(run)
    walk.read(2, rows(*range(1299, 1199, -1)))  # confirmed after the lost batch's neighbours
    assert walk.next_page(aims) == 3
    walk.read(3, rows(*range(1199, 1149, -1), *range(9000, 9050)))  # and 50 others' orders
    assert walk.next_page(aims) == 4
    walk.read(4, ())
    assert walk.next_page(aims) is None, "past the end: nothing to read"
    run, aims = aimed_run(range(100, 150), 400)
    older = walk_of(run)
    older.read(2, rows(*range(1099, 999, -1)))  # confirmed before them
    assert older.next_page(aims) == 1


def test_the_history_walk_reads_where_most_sought_orders_point() -> None:
    """Lost batches here and there in the history: the page read is the one most of the orders
    still sought point to."""
    run, aims = aimed_run([*range(100, 110), *range(300, 330)], 400)  # under 260 and under 70
    assert walk_of(run).next_page(aims) == 0, "30 orders point to page 0, 10 to page 2"


def test_a_wrong_place_for_one_order_leaves_the_others_search_alone() -> None:
    """An order closed by a later attempt than its first (a retry whose answer was lost) is not
    among its neighbours: once the page there is read without it, the walk goes to the next
    place it may be (where that retry went out), and an order with no other place is left to a
    lookup; before, the first order's miss ended the reading of every page."""
    run, aims = aimed_run(range(100, 110), 450)  # 440 confirmed; neighbours at row 340
    walk = walk_of(run)
    assert walk.next_page(aims) == 3
    aims["1100"].append(385)  # the retry went out when 385 cancels were confirmed
    walk.read(3, rows(*range(1149, 1109, -1), *range(1099, 1039, -1)))  # not among them
    assert walk.next_page(aims) == 0, "where the retry went out"
    assert aims["1100"] == [385], "the neighbours' place is ruled out"
    assert aims["1101"] == [], "no other place: looked up"


def test_a_lost_attempt_is_also_sought_where_the_run_stood_when_it_failed() -> None:
    """An attempt sent while others were on the wire closed its orders after theirs, though their
    confirmations came after it went out: its orders are sought where it went out, then where the
    run stood when it failed (before, only the first: a miss there sent the batch to lookups)."""
    run, _ = aimed_run(range(100, 110), 450)
    vars(run).update(_sends={"1100": [99, 380]}, _lost_at={"1100": [100, 420]})
    assert run._places("1100") == [99, 380, 100, 420]  # noqa: SLF001


class LostAnswers(httpx.AsyncBaseTransport):
    """The fake exchange, with the attempts of chosen batch cancels (named by an id they carry)
    going as ``plans`` says, one step per attempt: ``"500"`` (answered 500, nothing done),
    ``"lost"`` (the exchange cancels, the answer is lost) or ``"ok"``."""

    def __init__(self, exchange: FakeExchange, plans: dict[str, list[str]]) -> None:
        self.inner = exchange.transport()
        self.plans = plans

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        step = next((plan.pop(0) for name, plan in self.plans.items() if plan and name in body), "")
        if step == "500":
            return httpx.Response(500, json={"code": "500", "msg": "busy"})
        response: httpx.Response = await self.inner.handle_async_request(request)
        if step == "lost":
            await response.aread()
            raise httpx.ReadError("the answer was lost")
        return response


async def test_lost_batches_apart_are_each_read_where_they_are(version: ApiVersion) -> None:
    """V3's batches hold 10 orders: a run of 2,000 loses many small batches, here and there in
    the history. Two here: one cancelled by its first attempt (its answer lost), among its
    neighbours; one whose first attempt failed and whose retry cancelled it with its answer
    lost, so it sits near the top of the history, far from its neighbours. Each is read where
    it is, a page each (before: the first one's miss ended the reading, and all 20 were looked
    up one by one, UID 3 each on V3)."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 2000, symbol=SYMBOL[version])
    retried, first = opened[550], opened[1450]  # batches 55 and 145 (of 10)
    transport = LostAnswers(exchange, {retried: ["500", "lost", "ok"], first: ["lost", "ok"]})
    async with client_for(exchange, transport, version=version, batch_size=10) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened)
    assert not report.unknown
    counts = paths_counted(exchange)
    assert DETAIL[version] not in counts, "no lookup"
    assert counts[HISTORY[version]] <= 4


async def test_a_few_unknowns_are_looked_up_one_by_one(version: ApiVersion) -> None:
    """Below the break-even, a listing and a history page would cost more than the lookups."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 2, symbol=SYMBOL[version])
    exchange.faults.next(Fault.DROP_AFTER, 1, path=BATCH[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened)
    assert paths_counted(exchange) == {BATCH[version]: 2, DETAIL[version]: 2}


async def test_a_lost_batch_the_exchange_closed_is_not_sent_again(version: ApiVersion) -> None:
    """The second of five batches is cancelled, its answer lost, while others wait to go (one
    request on the wire at a time). Sent again, it would have cost a batch cancel (and a
    trade-cap slot) to hear "not found" for all ten. Instead it waits until the others have
    gone; one open-orders listing then shows its orders closed, and the history tells cancelled
    from filled (one had filled before the cancel reached it)."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 50, symbol=SYMBOL[version])
    exchange.accounts[API_KEY].fill(opened[13])
    transport = LostAnswers(exchange, {opened[15]: ["lost"]})
    async with client_for(
        exchange, transport, version=version, batch_size=10, max_in_flight=1
    ) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(o for o in opened if o != opened[13])
    assert report.failed == {opened[13]: "filled (found in the order history)"}
    assert not report.unknown
    assert paths_counted(exchange) == {BATCH[version]: 5, LIST[version]: 1, HISTORY[version]: 1}
    assert report.calls == 7


async def test_a_lost_batch_still_open_is_sent_again_after_the_listing(
    version: ApiVersion,
) -> None:
    """The same, with the attempt answered 500 (the exchange did nothing): the listing shows its
    orders open, so the batch goes again, and nothing is left to the history."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 50, symbol=SYMBOL[version])
    transport = LostAnswers(exchange, {opened[15]: ["500"]})
    async with client_for(
        exchange, transport, version=version, batch_size=10, max_in_flight=1
    ) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened)
    assert not exchange.accounts[API_KEY].orders
    # five batches and the lost one again reached it (the 500 was answered on the way)
    assert paths_counted(exchange) == {BATCH[version]: 5, LIST[version]: 1}
    assert report.calls == 5 + 1 + 1


async def test_a_lost_batch_goes_again_at_once_when_nothing_waits(version: ApiVersion) -> None:
    """With every batch on the wire at once, a lost one would wait behind none: it goes again
    after its backoff, with no listing first (the listing would only delay it)."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 30, symbol=SYMBOL[version])
    transport = LostAnswers(exchange, {opened[15]: ["lost"]})
    async with client_for(exchange, transport, version=version, batch_size=10) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened)
    assert paths_counted(exchange) == {BATCH[version]: 4, HISTORY[version]: 1}


async def test_a_lost_batch_waiting_when_the_key_is_refused_stays_unknown(
    version: ApiVersion,
) -> None:
    """A batch lost while others wait, then the key refused by the next one: the run sends
    nothing more, and the waiting batch's orders are unknown (its lost attempt may have
    cancelled them), never "not sent"; those never sent are."""
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 50, symbol=SYMBOL[version])
    lost = LostAnswers(exchange, {opened[15]: ["lost"]})

    class Refusing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if opened[25] in request.content.decode():
                return httpx.Response(400, json={"code": "40014", "msg": "incorrect permissions"})
            return await lost.handle_async_request(request)

    async with client_for(
        exchange, Refusing(), version=version, batch_size=10, max_in_flight=1
    ) as client:
        report = await client.cancel_orders(ids=opened)
    assert report.cancelled == tuple(opened[:10])
    assert set(report.unknown) == set(opened[10:20])
    assert all("then the exchange refused this key" in r for r in report.unknown.values())
    assert all(report.failed[o].startswith("not sent: ") for o in opened[30:])
    assert LIST[version] not in paths_counted(exchange), "nothing sent once the key was refused"


async def test_a_wrong_secret_is_sent_once_with_include_triggers(version: ApiVersion) -> None:
    exchange = fake()
    symbols = [SYMBOL[version], "cmt_ethusdt" if version == "v2" else "ETHUSDT"]
    for name in symbols:
        exchange.place_trigger_orders(API_KEY, 2, symbol=name)
    async with client_for(exchange, version=version, secret="wrong") as client:
        report = await client.cancel_everything(symbols, include_triggers=True)
    assert not report.flat
    assert report.calls == 1, "one trigger listing first, until the key is known good"
    assert len(exchange.accounts[API_KEY].triggers) == 4


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_full_page_of_closed_orders_is_no_proof_of_flat(
    version: ApiVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An index that still shows 100 just-cancelled orders on the first page, the open ones after
    # them. Before: the first page had nothing open, so the run said flat=True after one listing,
    # with every order still resting.
    exchange = fake()
    opened = exchange.place_resting_orders(API_KEY, 30, symbol=SYMBOL[version])
    ghosts = [
        FakeOrder(f"7{n:017d}", symbol=SYMBOL[version], status="canceled") for n in range(100)
    ]
    listing_of = OrderDesk._page  # noqa: SLF001 - the fake's listing, made to lag

    def lagging(
        desk: OrderDesk, account: FakeAccount, request: Any, refuse: Any, **kwargs: Any
    ) -> list[FakeOrder]:
        if kwargs.get("triggers"):
            return listing_of(desk, account, request, refuse, **kwargs)
        page = int(request.query.get("page", "0"))
        shown = [*ghosts, *account.orders.values()]
        return shown[page * 100 : (page + 1) * 100]

    monkeypatch.setattr(OrderDesk, "_page", lagging)
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything()
    assert not exchange.accounts[API_KEY].orders, "nothing left resting on the book"
    assert report.flat
    assert sorted(report.cancelled) == sorted(opened)


async def test_full_pages_of_closed_orders_only_are_not_flat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A listing whose every page is full of closed orders proves nothing: not flat, said so.
    exchange = fake()
    ghosts = [FakeOrder(f"7{n:017d}", status="canceled") for n in range(100)]
    monkeypatch.setattr(OrderDesk, "_page", lambda *args, **kwargs: ghosts)
    async with client_for(exchange, version="v2") as client:
        report = await client.cancel_everything(deadline=30)
    assert not report.flat
    assert any("full of closed orders only" in problem for problem in report.problems)


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_a_full_page_of_closed_trigger_orders_is_no_proof_either(version: ApiVersion) -> None:
    # 100 trigger orders shown CANCELED (an index that still lists them) on the only page read.
    # Before: "no trigger order left", and include_triggers=True said flat.
    exchange = fake(open_status="CANCELED")
    exchange.place_trigger_orders(API_KEY, 100, symbol=SYMBOL[version])
    # Blind, the run sends the trigger cancel-all (which would then let a listing prove flat):
    # down here, so that only the full page of closed ones is left to decide.
    cancel_all = {"v2": "/capi/v2/order/cancelAllOrders", "v3": "/capi/v3/algoOpenOrders"}
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path=cancel_all[version])
    async with client_for(exchange, version=version) as client:
        report = await client.cancel_everything(include_triggers=True, deadline=30)
    assert not report.flat
    assert not report.triggers_listed
