"""What a desk can watch: typed events for your own metrics, and OpenTelemetry instruments.

Events are checked against what the fake exchange really did (a 429, a server error, a retry);
the OpenTelemetry instruments with the SDK's in-memory reader; "no cost" by checking that no event
is even built when nobody listens.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from weex_async import Budget, Credentials, RateLimits, RetryPolicy, WeexClient, _metrics, _session
from weex_async.errors import ConfigurationError, RateLimitError
from weex_async.events import (
    CancelDone,
    Event,
    FlattenDone,
    RateLimited,
    RequestDone,
    RetryScheduled,
)
from weex_async.testing import FakeExchange, Fault

from .conftest import API_KEY, API_SECRET, PASSPHRASE

FAST = RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.002)
ROOMY = RateLimits(trade=None, ban=0.01)


def client_for(exchange: FakeExchange, **kwargs: Any) -> WeexClient:
    options: dict[str, Any] = {"retry": FAST, "rate_limits": ROOMY, **kwargs}
    return WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=exchange.transport(),
        **options,
    )


async def test_events_tell_what_happened(exchange: FakeExchange) -> None:
    events: list[Event] = []
    ids = exchange.place_resting_orders(API_KEY, 30)
    exchange.faults.next(Fault.RATE_LIMIT, path="/capi/v2/order/cancel_batch_orders")
    exchange.faults.next(Fault.SERVER_ERROR, path="/capi/v2/order/cancel_batch_orders")
    async with client_for(exchange, on_event=events.append) as client:
        report = await client.cancel_orders(ids=ids)
        flat = await client.cancel_everything()
    cancels = [e for e in events if isinstance(e, RequestDone) and "cancel_batch" in e.endpoint]
    assert [(e.attempt, e.outcome, e.status_code) for e in cancels] == [
        (1, "RateLimitError", 429),
        (2, "ServerError", 500),
        (3, "ok", 200),
    ]
    assert all(e.duration >= 0 and e.limiter_wait >= 0 for e in cancels)
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(e.attempt, e.reason) for e in retries] == [(1, "RateLimitError"), (2, "ServerError")]
    (limited,) = [e for e in events if isinstance(e, RateLimited)]
    assert (limited.endpoint, limited.pause) == ("cancel_batch_orders", 0.01)
    (done,) = [e for e in events if isinstance(e, CancelDone)]
    assert (done.cancelled, done.failed, done.unknown, done.calls) == (30, 0, 0, report.calls)
    (flattened,) = [e for e in events if isinstance(e, FlattenDone)]
    assert (flattened.flat, flattened.calls) == (True, flat.calls)
    assert sum(isinstance(e, RequestDone) for e in events) == exchange.requests


async def test_a_hook_that_raises_breaks_nothing(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("my metrics are down")

    ids = exchange.place_resting_orders(API_KEY, 3)
    async with client_for(exchange, on_event=broken) as client:
        report = await client.cancel_orders(ids=ids)
    assert report.all_cancelled
    assert "on_event raised on RequestDone" in caplog.text


async def test_no_listener_no_event_is_built(
    exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the otel extra and without a hook, the call path builds no event at all."""
    monkeypatch.setattr(_metrics, "_TRIED", False)
    monkeypatch.setattr(_metrics, "_RECORDER", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    built: list[Any] = []

    def spy(*args: Any) -> None:
        built.append(args)

    for name in ("RequestDone", "RetryScheduled", "RateLimited"):
        monkeypatch.setattr(_session, name, spy)
    ids = exchange.place_resting_orders(API_KEY, 3)
    exchange.faults.next(Fault.SERVER_ERROR)
    async with client_for(exchange) as client:
        assert _metrics.recorder() is None
        await client.cancel_orders(ids=ids)
    assert built == []


# -- OpenTelemetry ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reader() -> InMemoryMetricReader:
    """The process's meter provider (set once: OpenTelemetry allows one per process)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            if scope.scope.name != "weex_async":
                continue
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def total(found: dict[str, list[Any]], name: str, **attributes: Any) -> float:
    return sum(
        getattr(p, "sum", getattr(p, "value", 0))
        for p in found.get(name, [])
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    )


async def test_open_telemetry_instruments(
    reader: InMemoryMetricReader, exchange: FakeExchange
) -> None:
    before = points(reader)
    ids = exchange.place_resting_orders(API_KEY, 25)
    exchange.faults.next(Fault.RATE_LIMIT, path="/capi/v2/order/cancel_batch_orders")
    limits = RateLimits(uid=Budget(400, 10.0), trade=None, ban=0.01)
    async with client_for(exchange, rate_limits=limits) as client:
        await client.cancel_orders(ids=[*ids, "7"])
        during = points(reader)  # the pool gauges report live clients
    after = points(reader)

    def grew(name: str, **attributes: Any) -> float:
        return total(after, name, **attributes) - total(before, name, **attributes)

    assert grew("weex.client.rate_limited", **{"weex.endpoint": "cancel_batch_orders"}) == 1
    assert grew("weex.client.retries", **{"weex.reason": "RateLimitError"}) == 1
    assert grew("weex.cancel.orders", **{"weex.cancel.outcome": "cancelled"}) == 25
    assert grew("weex.cancel.orders", **{"weex.cancel.outcome": "failed"}) == 1
    durations = [
        p
        for p in after["weex.client.request.duration"]
        if p.attributes["weex.endpoint"] == "cancel_batch_orders"
    ]
    outcomes = {p.attributes["weex.outcome"]: p.count for p in durations}
    assert outcomes["RateLimitError"] >= 1
    assert outcomes["ok"] >= 1
    assert "weex.limiter.wait.duration" in after
    assert "weex.limiter.pause.duration" in after

    def uid_pool(points: list[Any]) -> list[Any]:
        return [p for p in points if p.attributes["weex.pool"].startswith("uid")]

    assert [p.value for p in uid_pool(during["weex.limiter.pool.limit"])] == [400]
    used = uid_pool(during["weex.limiter.pool.usage"])
    assert [p.value for p in used] == [20]  # one batch of 26 ids, sent twice (a 429, then ok)
    assert uid_pool(after.get("weex.limiter.pool.usage", [])) == [], "closed: not reported"


async def test_a_hook_raising_cancelled_error_changes_no_report_and_no_cancel(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``CancelledError`` out of a hook is the hook's bug, not a cancellation of the caller:
    every order is still cancelled and reported so, and the flatten still proves it flat."""

    def broken(event: Event) -> None:
        raise asyncio.CancelledError

    ids = exchange.place_resting_orders(API_KEY, 30)
    async with client_for(exchange, on_event=broken) as client:
        report = await client.cancel_orders(ids=ids)
        exchange.place_resting_orders(API_KEY, 5)
        flat = await client.cancel_everything()
    assert report.all_cancelled
    assert sorted(report.cancelled) == sorted(ids)
    assert flat.flat
    assert "on_event raised on RequestDone" in caplog.text


def test_an_async_hook_is_refused_at_construction() -> None:
    async def hook(event: Event) -> None:
        pass

    class AsyncCallable:
        async def __call__(self, event: Event) -> None:
            pass

    for bad in (hook, AsyncCallable(), "not a function"):
        with pytest.raises(ConfigurationError, match="on_event"):
            WeexClient(Credentials("k", "s", "p"), on_event=bad)  # type: ignore[arg-type]


async def test_a_hook_returning_an_awaitable_is_logged_not_awaited(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    async def work(event: Event) -> None:
        raise AssertionError("never run")

    ids = exchange.place_resting_orders(API_KEY, 3)
    async with client_for(exchange, on_event=lambda event: work(event)) as client:
        report = await client.cancel_orders(ids=ids)
    assert report.all_cancelled
    assert "on_event returned an awaitable" in caplog.text


async def test_a_429_the_ledger_cannot_explain_names_the_trade_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A desk turned the SDK's trade cap off; the exchange does cap trade calls at 10 a second.
    The 11th batch cancel of a burst gets a 429 while every pool had room: a WARNING and the
    event say which undocumented limit could explain it."""
    exchange = FakeExchange(trade_cap=10, ban=0.01)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 20)
    events: list[Event] = []
    limits = RateLimits(trade=None, ban=0.01)
    async with client_for(exchange, rate_limits=limits, on_event=events.append) as client:
        await asyncio.gather(
            *(client.cancel_batch_orders(ids=[i]) for i in ids), return_exceptions=True
        )
    limited = [e for e in events if isinstance(e, RateLimited)]
    assert limited  # the first is unexplained; those already on the wire find the pools paused
    assert "trade calls per second" in (limited[0].unexplained or "")
    assert "RateLimits(trade=None)" in (limited[0].unexplained or "")
    assert "HTTP 429 on cancel_batch_orders that the rate limits do not explain" in caplog.text


async def test_a_429_when_a_pool_is_at_its_budget_is_explained(
    exchange: FakeExchange, caplog: pytest.LogCaptureFixture
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 2)
    events: list[Event] = []
    limits = RateLimits(uid=Budget(20, 10.0), trade=None, ban=0.01)
    once = RetryPolicy(max_attempts=1)
    async with client_for(
        exchange, rate_limits=limits, on_event=events.append, retry=once
    ) as client:
        await client.cancel_batch_orders(ids=ids[:1])
        exchange.faults.next(Fault.RATE_LIMIT, path="/capi/v2/order/cancel_batch_orders")
        with pytest.raises(RateLimitError):
            await client.cancel_batch_orders(ids=ids[1:])  # the account's window is full: 20/20
    (limited,) = [e for e in events if isinstance(e, RateLimited)]
    assert limited.unexplained is None
    assert "do not explain" not in caplog.text
