"""Shared by the tests: symbols, a limit order, what a client sends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from weex_async import (
    Budget,
    CancelReport,
    Credentials,
    OrderRequest,
    RateLimits,
    RetryPolicy,
    WeexClient,
)
from weex_async._checks import ApiVersion
from weex_async.testing import FakeExchange

from .conftest import API_KEY, API_SECRET, PASSPHRASE

SYMBOL = {"v2": "cmt_btcusdt", "v3": "BTCUSDT"}
#: What differs between the versions in the tests run on both: ids per batch cancel (the
#: client's default), the code of a bad signature, the reason of an order not found.
PER_BATCH = {"v2": 50, "v3": 10}
BAD_SIGNATURE = {"v2": "40009", "v3": "-1047"}
NOT_FOUND = {"v2": "FAILED_ORDER_NOT_FOUND", "v3": "FAILED_ORDER_NOT_FOUND (order does not exist)"}
#: The version ``client_for`` speaks when not told: the ``version`` fixture sets it (conftest).
VERSION_UNDER_TEST: ApiVersion = "v2"
#: Budgets that never make a test wait, and retries that never make it sleep.
ROOMY = RateLimits(
    ip=Budget(1_000_000, 1.0), uid=Budget(1_000_000, 1.0), trade=None, arrival_jitter=0.0, ban=0.02
)
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.005)


async def until(condition: Callable[[], bool], turns: int = 100_000) -> None:
    """Let the event loop run, turn by turn (no sleep, no timer), until ``condition()`` holds:
    for waiting on in-process work (the fake exchange's transport) without timing it."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"still not so after {turns} turns of the event loop")


def limit_order(
    version: ApiVersion, cid: str, price: str = "65000.5", **kwargs: Any
) -> OrderRequest:
    return OrderRequest(
        SYMBOL[version], "buy", "long", "0.01", price=price, client_oid=cid, **kwargs
    )


def weights(exchange: FakeExchange) -> list[tuple[str, int, int]]:
    return [
        (a.path, a.ip_weight, a.uid_weight)
        for a in exchange.arrivals
        if not a.path.endswith("/market/time")
    ]


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    version: ApiVersion = "v2",
    **kwargs: Any,
) -> WeexClient:
    """A client of a made-up key whose every request ``handler`` answers (``httpx.MockTransport``),
    with no time sync: for tests of what is sent and how an answer is read, with no exchange."""
    return WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version=version,
        transport=httpx.MockTransport(handler),
        sync_time=False,
        **kwargs,
    )


def paths_counted(exchange: FakeExchange) -> dict[str, int]:
    """How many requests reached each path of ``exchange``, time syncs left out."""
    counts: dict[str, int] = {}
    for arrival in exchange.arrivals:
        if "/market/time" not in arrival.path:
            counts[arrival.path] = counts.get(arrival.path, 0) + 1
    return counts


async def sent_by(version: ApiVersion, call: Any, answer: Any) -> tuple[httpx.Request, Any]:
    """What ``call(client)`` sends (one request) and returns, the exchange answering ``answer``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    async with mock_client(handler, version=version) as client:
        result = await call(client)
    (request,) = seen
    assert request.headers["ACCESS-SIGN"]
    assert request.headers["ACCESS-KEY"] == "k"
    return request, result


def recording(sent: list[httpx.Request]) -> httpx.MockTransport:
    """A transport that records every request into ``sent`` and answers HTTP 500."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    return httpx.MockTransport(handler)


def check(report: CancelReport, asked: list[str], exchange: FakeExchange) -> None:
    """The promises of ``CancelReport``, checked against what the exchange really did: every id
    exactly once; cancelled ones really are; failed ones certainly were not (by this call)."""
    outcomes = [*report.cancelled, *report.failed, *report.unknown]
    assert sorted(outcomes) == sorted(set(asked)), "every id exactly once"
    really_cancelled = set(exchange.accounts[API_KEY].cancelled)
    assert set(report.cancelled) <= really_cancelled, "nothing reported cancelled that was not"
    assert not set(report.failed) & really_cancelled, "failed: certainly not cancelled by it"
    for order_id in report.cancelled:
        assert order_id not in exchange.accounts[API_KEY].orders


class Wrapped(httpx.AsyncBaseTransport):
    """The fake exchange's transport, with ``meddle(request)`` run first: it may raise, or answer
    instead of the exchange (return a response), or let the request through (return None)."""

    def __init__(
        self,
        exchange: FakeExchange,
        meddle: Callable[[httpx.Request], httpx.Response | None],
    ) -> None:
        self.inner = exchange.transport()
        self.meddle = meddle
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.meddle(request)
        if answer is not None:
            return answer
        response: httpx.Response = await self.inner.handle_async_request(request)
        return response


def client_for(
    exchange: FakeExchange,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    version: ApiVersion | None = None,
    secret: str | None = None,
    roomy: bool = True,
    **kwargs: Any,
) -> WeexClient:
    """The tests' one way to build a client: of the conftest account on ``exchange``, with
    ``ROOMY`` budgets, ``FAST_RETRY`` and a 0.5 s timeout unless told otherwise (``roomy=False``:
    the client's own defaults, as a user gets them; ``secret``: sign with another one;
    ``version``: the version under test, V2 outside the ``version`` fixture; any other keyword
    goes to ``WeexClient``)."""
    options: dict[str, Any] = (
        {"rate_limits": ROOMY, "retry": FAST_RETRY, "timeout": 0.5} if roomy else {}
    )
    options.update(kwargs)
    return WeexClient(
        Credentials(API_KEY, secret or API_SECRET, PASSPHRASE),
        base_url="http://fake",
        transport=transport or exchange.transport(),
        api_version=version or VERSION_UNDER_TEST,
        **options,
    )
