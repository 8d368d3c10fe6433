"""A request that certainly never left is "not sent", never "unknown".

When no connection can be opened (refused, a connect timeout) or none is free before the pool
timeout, nothing reached the exchange: the error says ``not_sent``, the kill switch reports the
orders failed, "not sent", and looks nothing up. An order that an earlier attempt may have
carried stays unknown (and is looked up): a later attempt that could not be sent proves nothing.
In process (the fake exchange behind a transport that raises httpx's errors), on V2 and V3; the
same on a real socket, on both HTTP backends: tests/test_http_backend.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from weex_async import RetryPolicy
from weex_async._api import NOT_SENT
from weex_async._cancel import MAYBE_CANCELLED_EARLIER
from weex_async._checks import ApiVersion
from weex_async.errors import RateLimitError, RequestTimeoutError, TransportError
from weex_async.events import Event, RequestDone
from weex_async.testing import FakeExchange

from .conftest import API_KEY
from .helpers import FAST_RETRY, PER_BATCH, Wrapped, check, client_for, limit_order

pytestmark = pytest.mark.usefixtures("version", "jumping_clock")

TIME_PATHS = ("/capi/v2/market/time", "/capi/v3/market/time")
BATCH_PATH = {"v2": "/capi/v2/order/cancel_batch_orders", "v3": "/capi/v3/batchOrders"}
ONCE = RetryPolicy(max_attempts=1)

#: httpx's failures and whether each one proves the request never left
FAILURES: dict[type[httpx.TransportError], bool] = {
    httpx.ConnectError: True,
    httpx.ConnectTimeout: True,
    httpx.PoolTimeout: True,
    httpx.ReadTimeout: False,
    httpx.WriteTimeout: False,
    httpx.ReadError: False,
    httpx.WriteError: False,
    httpx.RemoteProtocolError: False,  # a kept-alive connection found dropped, say
}


def failing(
    paths: tuple[str, ...], *failures: type[httpx.TransportError]
) -> Callable[[httpx.Request], httpx.Response | None]:
    """A meddler: the requests to ``paths`` raise ``failures`` in turn, the last one for ever
    after; every other request goes to the exchange."""
    left = list(failures)

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path not in paths:
            return None
        failure = left.pop(0) if len(left) > 1 else left[0]
        raise failure("simulated", request=request)

    return meddle


def everything_but_time(request: httpx.Request) -> httpx.Response | None:
    """The network is down, except for the time endpoint (so the first sync does not wait)."""
    if request.url.path in TIME_PATHS:
        return None
    raise httpx.ConnectError("All connection attempts failed", request=request)


@pytest.mark.parametrize(("failure", "not_sent"), list(FAILURES.items()))
async def test_only_a_failure_before_the_request_left_is_not_sent(
    exchange: FakeExchange,
    version: ApiVersion,
    failure: type[httpx.TransportError],
    not_sent: bool,
) -> None:
    meddle = failing((BATCH_PATH[version],), failure)
    async with client_for(exchange, Wrapped(exchange, meddle), retry=ONCE) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert caught.value.not_sent is not_sent
    assert isinstance(caught.value, RequestTimeoutError) is issubclass(
        failure, httpx.TimeoutException
    )
    assert RetryPolicy.outcome_unknown(caught.value) is not not_sent
    assert RetryPolicy.never_sent(caught.value) is not_sent


async def test_a_refused_connection_fails_every_order_not_sent_with_no_lookup(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 4 * PER_BATCH[version])
    requests: list[str] = []

    def seen(event: Event) -> None:
        if isinstance(event, RequestDone) and not event.endpoint.startswith("server_time"):
            requests.append(event.endpoint)

    transport = Wrapped(exchange, everything_but_time)
    async with client_for(exchange, transport, on_event=seen) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert not report.unknown
    assert not report.cancelled
    assert set(report.failed) == set(ids)
    assert all(why.startswith("not sent: TransportError: ") for why in report.failed.values())
    # the batches times their attempts, and nothing else: no listing, no history, no lookup
    assert report.calls == 4 * FAST_RETRY.max_attempts
    assert {name.removesuffix("_v3") for name in requests} == {"cancel_batch_orders"}
    assert len(requests) == report.calls
    assert len(exchange.accounts[API_KEY].orders) == len(ids)  # all still open, as reported


async def test_a_pool_timeout_is_not_sent_either(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 3)
    meddle = failing((BATCH_PATH[version],), httpx.PoolTimeout)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        report = await client.cancel_orders(ids=ids)
    assert set(report.failed) == set(ids)
    assert report.calls == FAST_RETRY.max_attempts


async def test_an_earlier_unanswered_attempt_keeps_the_orders_unknown(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The first attempt got no answer (it may have cancelled them); the later ones could not be
    sent. Not "not sent": unknown, saying why."""
    ids = exchange.place_resting_orders(API_KEY, 3)
    meddle = failing((BATCH_PATH[version],), httpx.ReadTimeout, httpx.ConnectError)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        report = await client.cancel_orders(ids=ids, confirm=False)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    assert all(
        "no answer to an earlier attempt, then not sent" in w for w in report.unknown.values()
    )


async def test_an_order_cancelled_again_after_an_unanswered_batch_stays_unknown(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The batch went unanswered, the lookup finds the orders open, the cancel sent again cannot
    be sent: the lost attempt may still have acted, so they stay unknown."""
    ids = exchange.place_resting_orders(API_KEY, 2)
    meddle = failing((BATCH_PATH[version],), httpx.ReadTimeout, httpx.ConnectError)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    assert all(MAYBE_CANCELLED_EARLIER in why for why in report.unknown.values())


@pytest.mark.only_on("v2")
async def test_the_halves_of_a_split_batch_inherit_its_unanswered_attempt(
    exchange: FakeExchange,
) -> None:
    """Attempt 1 went unanswered, attempt 2 was answered "too many ids" (40912): the batch is
    split, and the halves, which cannot be sent, are unknown (attempt 1 may have acted)."""
    ids = exchange.place_resting_orders(API_KEY, 4)
    attempts = {"n": 0}

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != BATCH_PATH["v2"]:
            return None
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise httpx.ReadTimeout("no answer", request=request)
        if attempts["n"] == 2:
            return httpx.Response(
                400, json={"code": "40912", "msg": "single cancellation cannot exceed 50"}
            )
        raise httpx.ConnectError("refused", request=request)

    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        report = await client.cancel_orders(ids=ids, confirm=False)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)


async def test_flatten_says_not_sent_not_unknown(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The listing answers, every cancel (batch or cancel-all) cannot be sent: the orders are
    still open, and why says they were not sent, not that the cancel's outcome is unknown."""
    ids = exchange.place_resting_orders(API_KEY, 5)
    cancels = (BATCH_PATH[version], "/capi/v2/order/cancelAllOrders", "/capi/v3/allOpenOrders")
    meddle = failing(cancels, httpx.ConnectError)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        report = await client.cancel_everything()
    assert not report.flat
    assert set(report.still_open) == set(ids)
    assert not any(part.unknown for part in report.symbols.values())
    assert all("not sent" in why for why in report.still_open.values()), report.still_open


@pytest.mark.only_on("v3")
async def test_placements_that_could_not_be_sent_are_not_sent(exchange: FakeExchange) -> None:
    meddle = failing(("/capi/v3/order",), httpx.ConnectError)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        acks = await client.place_orders([limit_order("v3", f"ns-{i}") for i in range(3)])
    assert [ack.error_code for ack in acks] == [NOT_SENT] * 3
    assert all(ack.error_message.startswith("not sent: ") for ack in acks)


async def test_an_attempt_that_never_left_gives_its_weight_back(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """Nothing arrived, so nothing is left charged: with the network back, the cancels go out at
    once, not after the windows the refused attempts would have filled."""
    ids = exchange.place_resting_orders(API_KEY, 3 * PER_BATCH[version])
    transport = Wrapped(exchange, everything_but_time)
    async with client_for(exchange, transport, sync_time=False) as client:  # no time call
        report = await client.cancel_orders(ids=ids)
        used = {pool.name: pool.used for pool in client.rate_limit_status()}
    assert set(report.failed) == set(ids)
    assert report.calls == 3 * FAST_RETRY.max_attempts
    charged = {name: weight for name, weight in used.items() if name.startswith(("ip:", "uid:"))}
    assert charged
    assert not any(charged.values()), charged


def refused_then_through(path: str, refusals: int) -> Callable[[httpx.Request], None]:
    """A meddler: the first ``refusals`` requests to ``path`` cannot connect, later ones go."""
    left = {"n": refusals}

    def meddle(request: httpx.Request) -> None:
        if request.url.path == path and left["n"] > 0:
            left["n"] -= 1
            raise httpx.ConnectError("All connection attempts failed", request=request)

    return meddle


def attempts_of(events: list[Event], name: str) -> list[RequestDone]:
    return [e for e in events if isinstance(e, RequestDone) and e.endpoint.startswith(name)]


async def test_cancel_batch_orders_retries_a_request_that_never_left(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """Nothing reached the exchange, so sending again is safe: the cancel goes out once the
    connection opens, and each attempt's event says whether it left."""
    (order_id,) = exchange.place_resting_orders(API_KEY, 1)
    events: list[Event] = []
    meddle = refused_then_through(BATCH_PATH[version], FAST_RETRY.max_attempts - 1)
    async with client_for(exchange, Wrapped(exchange, meddle), on_event=events.append) as client:
        result = await client.cancel_batch_orders(ids=[order_id])
    assert result.order_ids == (order_id,)
    assert order_id not in exchange.accounts[API_KEY].orders
    attempts = attempts_of(events, "cancel_batch_orders")
    assert [(e.outcome, e.not_sent) for e in attempts] == [("TransportError", True)] * (
        FAST_RETRY.max_attempts - 1
    ) + [("ok", False)]


async def test_cancel_batch_orders_gives_up_on_never_sent_after_max_attempts(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    meddle = failing((BATCH_PATH[version],), httpx.ConnectError)
    transport = Wrapped(exchange, meddle)
    async with client_for(exchange, transport) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert caught.value.not_sent
    assert sum(r.url.path == BATCH_PATH[version] for r in transport.seen) == (
        FAST_RETRY.max_attempts
    )


async def test_cancel_batch_orders_still_does_not_retry_what_may_have_arrived(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """A read error may hide a cancel the exchange made: the answer would not be the exchange's
    answer to the orders as they were, so it is raised, not retried; its event says sent."""
    events: list[Event] = []
    meddle = failing((BATCH_PATH[version],), httpx.ReadError)
    transport = Wrapped(exchange, meddle)
    async with client_for(exchange, transport, on_event=events.append) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert not caught.value.not_sent
    assert [e.not_sent for e in attempts_of(events, "cancel_batch_orders")] == [False]


async def test_cancel_batch_orders_retries_never_sent_only_until_the_deadline(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """With ``RetryPolicy.deadline``, the retries stop at it: the last attempt's own error."""
    retry = RetryPolicy(max_attempts=10_000, backoff_initial=1.0, backoff_max=1.0, deadline=5.0)
    meddle = failing((BATCH_PATH[version],), httpx.ConnectError)
    transport = Wrapped(exchange, meddle)
    async with client_for(exchange, transport, retry=retry) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert caught.value.not_sent
    assert 2 <= sum(r.url.path == BATCH_PATH[version] for r in transport.seen) < 10_000


class Hanging(Wrapped):
    """The batch cancel is sent and never answered (past any timeout of the client's)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in BATCH_PATH.values():
            self.seen.append(request)
            await asyncio.Event().wait()
        return await super().handle_async_request(request)


async def test_the_deadline_cuts_a_batch_cancel_on_the_wire_as_unknown(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    transport = Hanging(exchange, lambda request: None)
    async with client_for(exchange, transport, retry=RetryPolicy(deadline=3.0)) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert not caught.value.not_sent
    assert "RetryPolicy.deadline (3 s) passed with attempt 1 unanswered" in str(caught.value)


async def test_a_deadline_between_attempts_raises_the_last_error(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """A 429 pauses the pools past the deadline: the retry is never sent, and the 429 is what
    the caller gets (the exchange certainly did nothing)."""

    def meddle(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != BATCH_PATH[version]:
            return None
        return httpx.Response(429, headers={"Retry-After": "30"}, json={"code": "429"})

    transport = Wrapped(exchange, meddle)
    async with client_for(exchange, transport, retry=RetryPolicy(deadline=5.0)) as client:
        with pytest.raises(RateLimitError):
            await client.cancel_batch_orders(ids=["1"])
    assert sum(r.url.path == BATCH_PATH[version] for r in transport.seen) == 1


async def test_a_query_retries_a_request_that_never_left_too(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    """The rule is the policy's, for every idempotent call: a listing goes out once it can."""
    ids = exchange.place_resting_orders(API_KEY, 2)
    path = {"v2": "/capi/v2/order/current", "v3": "/capi/v3/openOrders"}[version]
    meddle = refused_then_through(path, FAST_RETRY.max_attempts - 1)
    async with client_for(exchange, Wrapped(exchange, meddle)) as client:
        listed = await client.open_orders()
    assert {order.order_id for order in listed} == set(ids)
