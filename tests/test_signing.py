"""Signing: known-answer vectors, and what is signed is exactly what is sent."""

from __future__ import annotations

import json

import httpx
import pytest

from weex_async import Credentials, WeexAuth, WeexClient, sign

SECRET, TS = "test-secret", "1561022985382"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "POST",
            "/capi/v2/order/cancel_batch_orders",
            '{"ids":["596471064624628269"]}',
            "xlo/NnAKRlTiymfnw9pbTG3rBQQO1htQk/y8U2cOXbA=",
        ),
        (
            "GET",
            "/capi/v2/order/detail?orderId=596471064624628269",
            "",
            "AWVx4A55xDLy5whOEYFbDFBn0FsEZU4QlUoWVo40OeA=",
        ),
        ("GET", "/capi/v2/market/time", "", "IFFRXgzR7VX5nAB8jl0j2OclyNCtVR9L30P24u5VT6A="),
    ],
)
def test_known_answer_vectors(method: str, path: str, body: str, expected: str) -> None:
    assert sign(SECRET, TS, method, path, body) == expected
    assert sign(SECRET, TS, method.lower(), path, body.encode()) == expected


def test_auth_headers_and_one_timestamp() -> None:
    creds = Credentials("the-key", SECRET, "the-pass")
    auth = WeexAuth(creds, now_ms=lambda: 1561022985382)
    request = httpx.Request(
        "POST",
        "https://x/capi/v2/order/cancel_batch_orders",
        content=b'{"ids":["596471064624628269"]}',
    )
    signed = next(auth.auth_flow(request))
    assert signed.headers["ACCESS-KEY"] == "the-key"
    assert signed.headers["ACCESS-PASSPHRASE"] == "the-pass"
    assert signed.headers["ACCESS-TIMESTAMP"] == TS
    assert signed.headers["ACCESS-SIGN"] == "xlo/NnAKRlTiymfnw9pbTG3rBQQO1htQk/y8U2cOXbA="


def test_query_is_signed_as_sent() -> None:
    auth = WeexAuth(Credentials("k", SECRET, "p"), now_ms=lambda: 1561022985382)
    request = httpx.Request(
        "GET", "https://x/capi/v2/order/detail", params={"orderId": "596471064624628269"}
    )
    signed = next(auth.auth_flow(request))
    assert signed.headers["ACCESS-SIGN"] == "AWVx4A55xDLy5whOEYFbDFBn0FsEZU4QlUoWVo40OeA="


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ids": ["596471064624628269", "596471064624628270"]},
        {"cids": ["mm-1", "mm_2"]},
        {"ids": ["596471064624628269"], "symbol": "cmt_btcusdt"},
        {"cids": ["ordre-été-✓"], "symbol": "cmt_ethusdt"},
    ],
)
async def test_signed_bytes_are_the_sent_bytes(kwargs: dict[str, object]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": True})

    creds = Credentials("the-key", SECRET, "the-pass")
    async with WeexClient(
        creds, base_url="https://api.test", transport=httpx.MockTransport(handler), sync_time=False
    ) as client:
        await client.cancel_batch_orders(**kwargs)  # type: ignore[arg-type]
    (request,) = seen
    sent = request.content
    assert json.loads(sent) == {k: v for k, v in kwargs.items()}
    timestamp = request.headers["ACCESS-TIMESTAMP"]
    assert len(timestamp) == 13
    assert request.headers["ACCESS-SIGN"] == sign(
        SECRET, timestamp, "POST", "/capi/v2/order/cancel_batch_orders", sent
    )
    assert request.headers["Content-Type"] == "application/json"
