"""The kill switch never fails: ``cancel_orders`` answers for every order, under every fault.

One test (or a few) per promise, each injecting the fault on purpose — a lost server-time answer, a
wrong secret, a malformed id, an exception nobody planned for, a client closed under load, a
hostile answer — and checking what the user sees: a ``CancelReport`` in which every id asked for
has exactly one outcome, nothing reported cancelled that was not, and nothing left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from weex_async import Budget, Credentials, RateLimits, WeexClient
from weex_async._checks import ApiVersion
from weex_async.errors import (
    ClientClosedError,
    InvalidRequestError,
    UnexpectedResponseError,
)
from weex_async.testing import FakeExchange, Fault, serve

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import BAD_SIGNATURE, FAST_RETRY, PER_BATCH, Wrapped, check, client_for, until
from .manual_clock import settle

TIME_PATHS = ("/capi/v2/market/time", "/capi/v3/market/time")

#: Every promise holds on both API versions: each test runs on V2 and on V3 (``client_for``
#: speaks the version under test), except those about V2's own answers (``v2_only``).
pytestmark = pytest.mark.usefixtures("version", "jumping_clock")

#: The batch cancel's path in each version.
BATCH_PATH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}


def tasks_other_than_mine() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def no_task_left(before: set[asyncio.Task[Any]]) -> None:
    for _ in range(5):  # let cancelled tasks unwind
        await asyncio.sleep(0)
    left = {task for task in tasks_other_than_mine() - before if not task.done()}
    assert not left, f"tasks still running: {left}"


# -- 1. The public time endpoint never stands between a user and their cancels -----------------


def time_fails(times: int, how: str) -> Callable[[httpx.Request], httpx.Response | None]:
    failures = {"left": times}

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path not in TIME_PATHS or failures["left"] <= 0:
            return None
        failures["left"] -= 1
        if how == "drop":
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return httpx.Response(503, text="<html>Service Unavailable</html>")

    return meddle


@pytest.mark.parametrize("how", ["drop", "html-503"])
async def test_a_lost_server_time_answer_does_not_block_cancels(
    exchange: FakeExchange, how: str
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 30)
    async with client_for(exchange, Wrapped(exchange, time_fails(1, how))) as client:
        report = await client.cancel_orders(ids=ids)
        single = await client.cancel_batch_orders(ids=exchange.place_resting_orders(API_KEY, 1))
    assert report.all_cancelled
    assert single.cancel_order_result_list[0].result


async def test_time_endpoint_down_signs_with_the_local_clock_and_says_so_once(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="weex_async")
    ids = exchange.place_resting_orders(API_KEY, 30)
    async with client_for(exchange, Wrapped(exchange, time_fails(10_000, "drop"))) as client:
        report = await client.cancel_orders(ids=ids[:15])
        again = await client.cancel_orders(ids=ids[15:])
        assert client.time_offset_ms == 0.0
    assert report.all_cancelled
    assert again.all_cancelled
    warnings = [r for r in caplog.records if "server time" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "local clock" in warnings[0].getMessage()


async def test_a_failed_first_sync_is_retried_in_the_background(exchange: FakeExchange) -> None:
    transport = Wrapped(exchange, time_fails(3, "drop"))
    async with client_for(exchange, transport, time_sync_interval=0.01) as client:
        exchange.skew_ms = 5_000
        await client.cancel_orders(ids=exchange.place_resting_orders(API_KEY, 1))
        for _ in range(200):
            if client.time_offset_ms > 4_000:
                break
            await asyncio.sleep(0.01)
        assert client.time_offset_ms > 4_000  # synced once the endpoint answered again


# -- 2. An authentication or permission refusal stops the run -----------------------------------


async def test_a_wrong_secret_is_sent_once_not_once_per_batch(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 2000)
    code = BAD_SIGNATURE[version]
    async with client_for(exchange, secret="not-the-secret", sync_time=False) as client:
        report = await client.cancel_orders(ids=ids)
    assert exchange.requests <= 2  # the first refusal, and at most one more
    check(report, ids, exchange)
    assert set(report.failed) == set(ids)
    assert sum(r.startswith(code) for r in report.failed.values()) <= 2 * PER_BATCH[version]
    unsent = [r for r in report.failed.values() if r.startswith("not sent")]
    assert len(unsent) >= 1900
    assert all(f"refused this key ({code}" in reason for reason in unsent)


async def test_a_permission_refusal_stops_the_run_too(exchange: FakeExchange) -> None:
    def refuse(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in TIME_PATHS:
            return None
        return httpx.Response(400, json={"code": "40014", "msg": "incorrect permissions"})

    transport = Wrapped(exchange, refuse)
    async with client_for(exchange, transport) as client:
        report = await client.cancel_orders(ids=[str(n) for n in range(1, 501)])
    signed = [r for r in transport.seen if r.url.path not in TIME_PATHS]
    assert len(signed) <= 2
    assert len(report.failed) == 500


async def test_the_first_batch_goes_alone_then_the_rest_together(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """Each signed request is held until as many as expected are on the wire together (or a
    second passes), so the test sees how many went out at once without timing anything."""
    waves: list[int] = []  # how many requests were on the wire together, wave by wave
    expected = iter([1, 9, 2])  # the first alone; then the other nine; then, confirmed, two
    state: dict[str, Any] = {"wave": 0, "on_wire": 0, "gate": asyncio.Event()}

    class Held(Wrapped):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path in TIME_PATHS:
                return await super().handle_async_request(request)
            if state["on_wire"] == 0:  # a new wave
                state["wave"], state["gate"] = next(expected), asyncio.Event()
            state["on_wire"] += 1
            if state["on_wire"] == state["wave"]:
                waves.append(state["on_wire"])
                state["gate"].set()
            gate = state["gate"]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(gate.wait(), 1.0)
            response = await super().handle_async_request(request)
            state["on_wire"] -= 1
            return response

    async with client_for(exchange, Held(exchange, lambda r: None), max_in_flight=10) as client:
        per = PER_BATCH[version]
        report = await client.cancel_orders(ids=exchange.place_resting_orders(API_KEY, 10 * per))
        again = await client.cancel_orders(ids=exchange.place_resting_orders(API_KEY, 2 * per))
    assert report.all_cancelled
    assert again.all_cancelled
    assert waves == [1, 9, 2]


# -- 3. One bad id fails alone; ids held as int are accepted ------------------------------------


async def test_one_malformed_id_is_reported_failed_and_the_rest_are_cancelled(
    exchange: FakeExchange,
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 129)
    asked = [*ids[:60], "12ab", *ids[60:]]
    async with client_for(exchange) as client:
        report = await client.cancel_orders(ids=asked)
    check(report, asked, exchange)
    assert len(report.cancelled) == 129
    assert report.failed["12ab"].startswith("not sent: order id '12ab' is not a decimal")


async def test_ids_held_as_int_are_cancelled_and_reported_as_str(exchange: FakeExchange) -> None:
    ids = exchange.place_resting_orders(API_KEY, 5)
    async with client_for(exchange) as client:
        report = await client.cancel_orders(ids=[int(i) for i in ids])
    assert report.cancelled == tuple(ids)


async def test_malformed_client_ids_fail_alone(exchange: FakeExchange) -> None:
    exchange.place_resting_orders(API_KEY, client_oids=["mm-1", "mm-2"])
    asked = ["mm-1", " ", "\x00", "mm-\ud800", "mm-2"]
    async with client_for(exchange) as client:
        report = await client.cancel_orders(cids=asked)
    assert report.cancelled == ("mm-1", "mm-2")
    assert set(report.failed) == {" ", "\x00", "mm-\ud800"}
    assert all(reason.startswith("not sent: ") for reason in report.failed.values())


# -- 4. An exception nobody planned for becomes 'unknown' for its batch only --------------------


async def test_an_unexpected_exception_in_one_batch_is_reported_and_nothing_is_left_running(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    calls = {"n": 0}

    def third_fails(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in TIME_PATHS:
            return None
        calls["n"] += 1
        if calls["n"] == 3:
            raise ZeroDivisionError("a bug somewhere below")
        return None

    exchange.uid_budget = exchange.ip_budget = 10**6  # V3's 25 + 25 batches: not the subject
    ids = exchange.place_resting_orders(API_KEY, 250)
    before = tasks_other_than_mine()
    async with client_for(exchange, Wrapped(exchange, third_fails)) as client:
        report = await client.cancel_orders(ids=ids, confirm=False)
        calls["n"] = 0
        confirmed = await client.cancel_orders(ids=exchange.place_resting_orders(API_KEY, 250))
    per = PER_BATCH[version]
    check(report, ids, exchange)
    assert len(report.cancelled) == 250 - per
    assert len(report.unknown) == per
    assert all("ZeroDivisionError: a bug somewhere below" in r for r in report.unknown.values())
    # with confirm (the default), the open-orders listing finds the batch's orders still open
    # (V2: two pages, the first run's 50 being open too): cancelled again in one batch, no lookup
    assert confirmed.all_cancelled
    assert confirmed.calls == 250 // per + (2 if version == "v2" else 1) + 1
    await no_task_left(before)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "1e400", "9" * 400, "lots"])
async def test_absurd_usage_headers_are_ignored(exchange: FakeExchange, value: str) -> None:
    def header(request: httpx.Request) -> httpx.Response | None:
        return None

    class Hostile(Wrapped):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            response.headers["x-used-weight-10s"] = value
            return response

    ids = exchange.place_resting_orders(API_KEY, 120)
    async with client_for(exchange, Hostile(exchange, header)) as client:
        report = await client.cancel_orders(ids=ids, batch_size=10)
        statuses = {s.name.split(":")[0]: s.used for s in client.rate_limit_status()}
    assert report.all_cancelled
    assert statuses["uid"] == 120  # the ledger counts our calls, nothing absurd


async def test_deeply_nested_json_is_an_unreadable_answer_not_a_recursion_error(
    exchange: FakeExchange,
) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000

    def deep(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in TIME_PATHS:
            return None
        return httpx.Response(200, content=nested)

    async with client_for(exchange, Wrapped(exchange, deep)) as client:
        report = await client.cancel_orders(ids=["1", "2"])
        with pytest.raises(UnexpectedResponseError):
            await client.cancel_batch_orders(ids=["1"])
    assert set(report.unknown) == {"1", "2"}


# -- 5. Closing the client under load ----------------------------------------------------------


async def test_closing_under_load_reports_every_order_and_leaves_nothing_running(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 2000)
    tight = RateLimits(ip=Budget(500, 60.0), uid=Budget(100, 60.0), trade=None)
    allowed = 10 * PER_BATCH[version]  # the 10 batch cancels the UID budget allows
    before = tasks_other_than_mine()
    client = client_for(exchange, rate_limits=tight)
    run = asyncio.ensure_future(client.cancel_orders(ids=ids))
    await until(lambda: len(exchange.accounts[API_KEY].cancelled) == allowed)  # budget spent
    queued = asyncio.ensure_future(client.cancel_batch_orders(ids=["1"]))
    await settle()
    assert not queued.done()  # waiting for budget
    await client.aclose()
    report = await asyncio.wait_for(run, 5)
    with pytest.raises(ClientClosedError):
        await queued
    check(report, ids, exchange)
    cancelled = len(exchange.accounts[API_KEY].cancelled)
    assert len(report.cancelled) == cancelled == allowed
    assert all(r == "not sent: the client was closed" for r in report.failed.values())
    assert len(report.failed) == 2000 - allowed
    await no_task_left(before)


async def test_closing_with_a_request_on_the_wire_reports_it_unknown(
    exchange: FakeExchange,
) -> None:
    on_the_wire, closed = asyncio.Event(), asyncio.Event()

    class CutByClose(Wrapped):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path in TIME_PATHS:
                return await super().handle_async_request(request)
            on_the_wire.set()
            await closed.wait()  # on the wire until the client closes, then the line drops
            raise httpx.RemoteProtocolError("connection closed", request=request)

    ids = exchange.place_resting_orders(API_KEY, 3)
    client = client_for(exchange, CutByClose(exchange, lambda r: None))
    run = asyncio.ensure_future(client.cancel_orders(ids=ids))
    await on_the_wire.wait()
    await client.aclose()
    closed.set()
    report = await asyncio.wait_for(run, 5)
    assert set(report.unknown) == set(ids)
    assert all("closed after an unanswered attempt" in r for r in report.unknown.values())


async def test_a_call_after_close_is_a_client_closed_error(exchange: FakeExchange) -> None:
    client = client_for(exchange)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.cancel_batch_orders(ids=["1"])
    with pytest.raises(ClientClosedError):
        await client.cancel_orders(ids=["1"])


async def test_closing_during_the_first_time_sync_leaves_no_background_task(
    exchange: FakeExchange,
) -> None:
    syncing, gate = asyncio.Event(), asyncio.Event()

    class SlowTime(Wrapped):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path in TIME_PATHS:
                syncing.set()
                await gate.wait()
            return await super().handle_async_request(request)

    before = tasks_other_than_mine()
    client = client_for(exchange, SlowTime(exchange, lambda r: None))
    run = asyncio.ensure_future(client.cancel_orders(ids=exchange.place_resting_orders(API_KEY, 3)))
    await syncing.wait()  # the first time sync is on the wire
    await client.aclose()
    gate.set()
    report = await asyncio.wait_for(run, 5)
    assert len(report) == 3
    assert all(r == "not sent: the client was closed" for r in report.failed.values())
    await no_task_left(before)


# -- 6. Lenient, never optimistic, reading of answers ------------------------------------------


def answering(*bodies: Any) -> Callable[[httpx.Request], httpx.Response | None]:
    """Answer the signed calls with ``bodies`` in turn (the last one again and again)."""
    answers = list(bodies)

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in TIME_PATHS:
            return None
        body = answers.pop(0) if len(answers) > 1 else answers[0]
        return httpx.Response(200, json=body)

    return meddle


def item(order_id: str, ok: bool) -> dict[str, Any]:
    return {"order_id": order_id, "client_oid": "", "result": ok, "err_msg": "" if ok else "x"}


@pytest.mark.only_on("v2")  # V2's answer shape
async def test_null_lists_in_a_confirming_answer_are_empty(exchange: FakeExchange) -> None:
    body = {
        "result": True,
        "orderIds": ["1"],
        "clientOids": None,
        "cancelOrderResultList": [item("1", True)],
        "failInfos": None,
    }
    async with client_for(exchange, Wrapped(exchange, answering(body))) as client:
        report = await client.cancel_orders(ids=["1"])
    assert report.cancelled == ("1",)


async def test_an_unknown_code_on_http_200_is_unclear_not_a_refusal(
    exchange: FakeExchange,
) -> None:
    transport = Wrapped(exchange, answering({"code": "77777", "msg": "something odd"}))
    async with client_for(exchange, transport) as client:
        report = await client.cancel_orders(ids=["1"], confirm=False)
    assert "1" in report.unknown
    assert report.calls == FAST_RETRY.max_attempts  # retried as an unclear outcome


def refusing(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response | None]:
    """Answer every signed call with HTTP ``status`` and ``body``."""

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path in TIME_PATHS:
            return None
        return httpx.Response(status, json=body)

    return meddle


@pytest.mark.only_on("v3")
async def test_a_v3_parameter_refusal_is_a_definite_failure_sent_once(
    exchange: FakeExchange,
) -> None:
    """``-1142`` on HTTP 400, as the live exchange answers a bad symbol: refused, not unclear."""
    body = {"code": -1142, "msg": "Parameter 'symbol' is invalid."}
    transport = Wrapped(exchange, refusing(400, body))
    async with client_for(exchange, transport) as client:
        report = await client.cancel_orders(ids=["1", "2"], confirm=False)
    assert report.failed == dict.fromkeys(["1", "2"], "-1142: Parameter 'symbol' is invalid.")
    assert report.calls == 1, "a refusal is not retried"


@pytest.mark.parametrize("status", [200, 409])
async def test_an_unknown_code_the_status_does_not_explain_stays_unclear(
    exchange: FakeExchange, status: int
) -> None:
    transport = Wrapped(exchange, refusing(status, {"code": "77777", "msg": "something odd"}))
    async with client_for(exchange, transport) as client:
        report = await client.cancel_orders(ids=["1"], confirm=False)
    assert "1" in report.unknown
    assert report.calls == FAST_RETRY.max_attempts


@pytest.mark.only_on("v2")  # V2's answer shape
async def test_contradictory_items_for_one_id_are_not_taken_as_cancelled(
    exchange: FakeExchange,
) -> None:
    body = {
        "result": True,
        "orderIds": ["1"],
        "clientOids": [],
        "cancelOrderResultList": [item("1", False), item("1", True)],
        "failInfos": [],
    }
    async with client_for(exchange, Wrapped(exchange, answering(body))) as client:
        report = await client.cancel_orders(ids=["1"], confirm=False)
    assert "1" in report.unknown


@pytest.mark.only_on("v2")  # V2's answer shape
async def test_an_echo_in_order_ids_counts_only_when_the_call_succeeded(
    exchange: FakeExchange,
) -> None:
    body = {"result": False, "orderIds": ["1"], "clientOids": [], "cancelOrderResultList": []}
    async with client_for(exchange, Wrapped(exchange, answering(body))) as client:
        report = await client.cancel_orders(ids=["1"], confirm=False)
    assert "1" in report.unknown


# -- 7. V3: every answer shape public clients have seen, and nothing else -----------------------

V3_ITEM = {"orderId": 702345678901234567, "success": True, "errorCode": "", "errorMessage": ""}


@pytest.mark.only_on("v3")
@pytest.mark.parametrize(
    "shape",
    [
        [V3_ITEM],
        {"orderList": [V3_ITEM]},
        {"data": [V3_ITEM]},
        [{**V3_ITEM, "orderId": "702345678901234567"}],
    ],
    ids=["bare list", "orderList", "data", "id as string"],
)
async def test_v3_batch_cancel_reads_every_shape_seen(exchange: FakeExchange, shape: Any) -> None:
    transport = Wrapped(exchange, answering(shape))
    async with client_for(exchange, transport) as client:
        result = await client.cancel_batch_orders(ids=["702345678901234567"])
    assert result.order_ids == ("702345678901234567",)


@pytest.mark.only_on("v3")
@pytest.mark.parametrize("shape", [{"result": [V3_ITEM]}, {"orderList": "x"}, "ok", 7])
async def test_v3_batch_cancel_refuses_any_other_shape_clearly(
    exchange: FakeExchange, shape: Any
) -> None:
    transport = Wrapped(exchange, answering(shape))
    async with client_for(exchange, transport) as client:
        with pytest.raises(UnexpectedResponseError):
            await client.cancel_batch_orders(ids=["702345678901234567"])


# -- 8. Reasons that say what happened ----------------------------------------------------------


async def test_batches_never_sent_before_the_deadline_are_failed_not_unknown(
    exchange: FakeExchange,
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 100)
    tight = RateLimits(ip=Budget(500, 60.0), uid=Budget(10, 60.0), trade=None)
    async with client_for(exchange, rate_limits=tight) as client:
        report = await client.cancel_orders(ids=ids, batch_size=10, deadline=0.2)
    check(report, ids, exchange)
    assert len(report.cancelled) == 10
    assert len(report.failed) == 90
    assert all(r.startswith("not sent: the deadline passed") for r in report.failed.values())


async def test_not_found_after_an_unanswered_attempt_is_settled_by_a_lookup(
    exchange: FakeExchange,
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 4)
    exchange.faults.slow_delay = 1.0
    exchange.faults.next(Fault.DROP_AFTER)
    async with client_for(exchange) as client:
        report = await client.cancel_orders(ids=ids)
    assert report.cancelled == tuple(ids)  # cancelled by the lost attempt: confirmed by lookup
    assert exchange.accounts[API_KEY].orders == {}


async def test_a_lookup_finds_a_filled_order_failed_and_an_open_one_is_cancelled_again(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 3)
    # the batch's answer is lost; meanwhile one order fills, one is cancelled, one stays open
    sent = {"n": 0}

    def lose_first(request: httpx.Request) -> httpx.Response | None:
        if (request.method, request.url.path) != (
            "DELETE" if version == "v3" else "POST",
            BATCH_PATH[version],
        ):
            return None
        sent["n"] += 1
        if sent["n"] <= FAST_RETRY.max_attempts:
            account = exchange.accounts[API_KEY]
            if sent["n"] == 1:
                account.fill(ids[0])
                account.cancel(ids[1])
            raise httpx.ReadTimeout("no answer", request=request)
        return None

    async with client_for(exchange, Wrapped(exchange, lose_first)) as client:
        report = await client.cancel_orders(ids=ids)
    assert report.failed == {ids[0]: "filled (found by lookup)"}
    assert set(report.cancelled) == {ids[1], ids[2]}
    assert exchange.accounts[API_KEY].orders == {}


async def test_confirm_false_leaves_unknown_as_unknown(exchange: FakeExchange) -> None:
    ids = exchange.place_resting_orders(API_KEY, 2)
    exchange.faults.next(Fault.SERVER_ERROR, times=FAST_RETRY.max_attempts)
    async with client_for(exchange) as client:
        report = await client.cancel_orders(ids=ids, confirm=False)
    assert set(report.unknown) == set(ids)


# -- 9. Bad arguments: one clear error, nothing sent ---------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": 123}, "must be a list"),
        ({"ids": ["1"], "batch_size": 2.5}, "batch_size"),
        ({"ids": ["1"], "batch_size": "5"}, "batch_size"),
        ({"ids": ["1"], "deadline": "5"}, "deadline"),
        ({"ids": ["1"], "deadline": math.nan}, "deadline"),
        ({"ids": ["1"], "deadline": -1}, "deadline"),
        ({"ids": ["1"], "symbol": " "}, "symbol"),
        ({"ids": ["1"], "cids": ["a"]}, "not both"),
        ({"ids": [None]}, "must contain"),
    ],
)
async def test_bad_arguments_to_cancel_orders_raise_before_sending(
    exchange: FakeExchange, kwargs: dict[str, Any], message: str
) -> None:
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await client.cancel_orders(**kwargs)
    assert exchange.requests == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cids": [" "]}, "client order id"),
        ({"cids": ["\x00"]}, "client order id"),
        ({"cids": ["a\ud800"]}, "client order id"),
        ({"ids": ["1" * 5000]}, "decimal string of 1 to 20 digits"),
        ({"ids": ["1"], "symbol": " "}, "symbol"),
    ],
)
async def test_bad_arguments_to_cancel_batch_orders_raise_before_sending(
    exchange: FakeExchange, kwargs: dict[str, Any], message: str
) -> None:
    async with client_for(exchange) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await client.cancel_batch_orders(**kwargs)
    assert exchange.requests == 0


# -- 10. On a real socket, a dropped connection is a dropped connection --------------------------


@pytest.mark.real_time("a served fake: a real socket")
@pytest.mark.parametrize("fault", [Fault.DROP_BEFORE, Fault.DROP_AFTER])
async def test_served_drops_really_drop_the_connection(
    fault: Fault, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="weex_async")
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 3)
    exchange.faults.next(fault)
    with serve(exchange) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            async with WeexClient(
                Credentials(API_KEY, API_SECRET, PASSPHRASE), base_url=url, retry=FAST_RETRY
            ) as client:
                report = await client.cancel_orders(ids=ids)
            assert (await http.get(TIME_PATHS[0])).status_code == 200
    assert report.cancelled == tuple(ids)
    assert exchange.faults.injected[fault] == 1
    attempts = [
        r.getMessage() for r in caplog.records if "cancel_batch_orders attempt 1" in r.getMessage()
    ]
    assert len(attempts) == 1
    assert "transport error" in attempts[0]  # the connection dropped: no HTTP 500 answer
    assert "Traceback" not in capfd.readouterr().err  # and no server traceback printed
