"""Shared by the tests: symbols, a limit order, what a client sends."""

from __future__ import annotations

from typing import Any

import httpx

from weex_async import Credentials, OrderRequest, WeexClient
from weex_async._checks import ApiVersion
from weex_async.testing import FakeExchange

SYMBOL = {"v2": "cmt_btcusdt", "v3": "BTCUSDT"}


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
        if a.path != "/capi/v2/market/time"
    ]


async def sent_by(version: ApiVersion, call: Any, answer: Any) -> tuple[httpx.Request, Any]:
    """What ``call(client)`` sends (one request) and returns, the exchange answering ``answer``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version=version,
        transport=httpx.MockTransport(handler),
        sync_time=False,
    ) as client:
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
