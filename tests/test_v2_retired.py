"""If V2 is gone, the error says so: a V2 call answered 404 or 410, or with an HTML page where
JSON was expected, raises ``ApiVersionRetiredError`` naming the sunset and ``api_version="v3"``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from weex_async import Credentials, RetryPolicy, WeexClient
from weex_async._checks import ApiVersion
from weex_async.cli import main
from weex_async.errors import (
    ApiVersionRetiredError,
    BadRequestError,
    NonJSONResponseError,
    NotFoundError,
    RateLimitError,
    ServerError,
    WeexAPIError,
    WeexError,
)
from weex_async.testing import FakeExchange, serve

from .conftest import API_KEY
from .helpers import FAST_RETRY, Wrapped, check, client_for

SPRING_404 = {"timestamp": 1, "status": 404, "error": "Not Found", "path": "/capi/v2/x"}
HTML = "<!DOCTYPE html><html><body><h1>WEEX</h1>API V2 has been retired</body></html>"


def answered(status: int, content: bytes, kind: str) -> WeexClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers={"content-type": kind})

    return WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        transport=httpx.MockTransport(handler),
        sync_time=False,
        retry=RetryPolicy(max_attempts=1),  # one answer each: a 429 is not waited out
    )


GONE = [
    (404, json.dumps(SPRING_404).encode(), "application/json"),
    (404, b'{"code": "40404", "msg": "not found"}', "application/json"),
    (410, b"", "text/plain"),
    (404, HTML.encode(), "text/html"),
    (200, HTML.encode(), "text/html; charset=utf-8"),
    (302, b"<html>moved</html>", "text/plain"),
]


@pytest.mark.parametrize(("status", "content", "kind"), GONE)
async def test_a_v2_call_answered_as_if_gone_says_v2_is_retired(
    status: int, content: bytes, kind: str
) -> None:
    async with answered(status, content, kind) as client:
        with pytest.raises(ApiVersionRetiredError) as info:
            await client.cancel_batch_orders(ids=["1"])
    error = info.value
    assert (error.api_version, error.use, error.sunset) == ("v2", "v3", "2026-09-30")
    assert error.status_code == status
    assert "2026-09-30" in str(error)
    assert 'api_version="v3"' in str(error)
    assert "--api-version v3" in str(error)
    assert "/capi/v2/order/cancel_batch_orders" in str(error)
    assert error.definite == (status in (404, 410))
    assert ("looks retired" if error.definite else "if this persists") in str(error)
    # what these answers raised before is still caught
    assert isinstance(error, NotFoundError | BadRequestError | WeexAPIError)
    assert isinstance(error, NonJSONResponseError)


@pytest.mark.parametrize(
    ("status", "content", "kind", "raised"),
    [
        (503, b"<html>Service Unavailable</html>", "text/html", NonJSONResponseError),
        (403, b"<html>Access denied</html>", "text/html", NonJSONResponseError),
        (521, b"", "text/plain", NonJSONResponseError),
        (200, b"not json{", "text/plain", NonJSONResponseError),
        (429, b"<html>slow down</html>", "text/html", RateLimitError),
        (500, b'{"code": "40015", "msg": "system error"}', "application/json", ServerError),
    ],
)
async def test_an_outage_or_a_block_is_not_called_a_retirement(
    status: int, content: bytes, kind: str, raised: type[WeexError]
) -> None:
    async with answered(status, content, kind) as client:
        with pytest.raises(raised) as info:
            await client.cancel_batch_orders(ids=["1"])
    assert not isinstance(info.value, ApiVersionRetiredError)


async def test_a_v3_404_is_not_found_not_a_retirement() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={**SPRING_404, "path": request.url.path})

    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        transport=httpx.MockTransport(handler),
        sync_time=False,
        api_version="v3",
    ) as client:
        with pytest.raises(NotFoundError) as info:
            await client.open_orders()
    assert not isinstance(info.value, ApiVersionRetiredError)
    assert info.value.message == "Not Found (/capi/v3/openOrders)"


def v2_gone(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.startswith("/capi/v2/"):
        return httpx.Response(404, json={**SPRING_404, "path": request.url.path})
    return None


async def test_cancel_orders_reports_every_order_with_the_reason_and_sends_no_more(
    exchange: FakeExchange,
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 45)
    transport = Wrapped(exchange, v2_gone)
    async with client_for(exchange, transport, batch_size=10, max_in_flight=1) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert not report.cancelled
    assert set(report.failed) == set(ids), "certainly not cancelled: the path is gone"
    assert all("2026-09-30" in why and 'api_version="v3"' in why for why in report.failed.values())
    batches = [r for r in transport.seen if r.url.path.endswith("cancel_batch_orders")]
    assert len(batches) == 2, "the first batch learns it, a second confirms it; no other is sent"
    assert report.calls == 2


async def test_one_404_does_not_stop_the_kill_switch(exchange: FakeExchange) -> None:
    """A proxy or a gateway can answer one request 404 in passing: that batch is refused, but the
    kill switch goes on with the others (it stopped at once, and cancelled nothing, before)."""
    ids = exchange.place_resting_orders(API_KEY, 25)
    answered_404: list[httpx.Request] = []

    def once(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("cancel_batch_orders") and not answered_404:
            answered_404.append(request)
            return v2_gone(request)
        return None

    async with client_for(exchange, Wrapped(exchange, once), batch_size=10) as client:
        report = await client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert set(report.failed) == set(ids[:10]), "the batch answered 404"
    assert set(report.cancelled) == set(ids[10:]), "the other batches were sent, and cancelled"


async def test_an_html_page_is_retried_and_never_stops_the_kill_switch(
    exchange: FakeExchange,
) -> None:
    """A proxy's passing error page looks like a retired API: not certain, so it is retried, the
    other batches still go, and the orders are unknown, with the hint."""
    ids = exchange.place_resting_orders(API_KEY, 25)

    def html(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("cancel_batch_orders"):
            return httpx.Response(200, text=HTML, headers={"content-type": "text/html"})
        return None

    transport = Wrapped(exchange, html)
    async with client_for(exchange, transport, batch_size=10) as client:
        report = await client.cancel_orders(ids=ids, confirm=False)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    assert all("may be retired" in why for why in report.unknown.values())
    assert report.calls == 3 * FAST_RETRY.max_attempts, "every batch sent, each retried"


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_flatten_says_it_too(exchange: FakeExchange, version: ApiVersion) -> None:
    exchange.place_resting_orders(API_KEY, 3)
    async with client_for(exchange, Wrapped(exchange, v2_gone), version=version) as client:
        report = await client.cancel_everything()
    if version == "v2":
        assert not report.flat
        assert any("looks retired" in problem for problem in report.problems), report.problems
    else:
        assert report.flat  # V3 never touches a V2 path


class V2Gone:
    """An ASGI app: the fake exchange, with every /capi/v2/ path gone."""

    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/capi/v2/"):
            body = json.dumps({**SPRING_404, "path": scope["path"]}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.exchange(scope, receive, send)


def test_the_command_line_says_to_use_v3(
    exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 2)
    monkeypatch.setenv("WEEX_API_KEY", API_KEY)
    monkeypatch.setenv("WEEX_API_SECRET", "secret-alpha-must-not-leak")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "pass-alpha-hidden")
    monkeypatch.delenv("WEEX_API_VERSION", raising=False)
    with serve(V2Gone(exchange)) as url:  # type: ignore[arg-type]
        assert main(["time", "--base-url", url]) == 1
        err = capsys.readouterr().err
        assert "ApiVersionRetiredError" in err
        assert "--api-version v3" in err
        assert main(["cancel", "--ids", *ids, "--base-url", url]) == 1
        out = capsys.readouterr().out
        assert "looks retired" in out
        assert "--api-version v3" in out
        assert main(["cancel", "--api-version", "v3", "--ids", *ids, "--base-url", url]) == 0
    assert "2 cancelled" in capsys.readouterr().out


def test_a_base_url_with_a_path_is_named_as_the_likelier_cause(
    exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a base URL with a path (every call answered 404) read only as "V2 looks retired".
    monkeypatch.setenv("WEEX_API_KEY", API_KEY)
    monkeypatch.setenv("WEEX_API_SECRET", "secret-alpha-must-not-leak")
    monkeypatch.setenv("WEEX_API_PASSPHRASE", "pass-alpha-hidden")
    monkeypatch.delenv("WEEX_API_VERSION", raising=False)
    with serve(exchange) as url:
        assert main(["time", "--base-url", f"{url}/api/"]) == 1
    err = capsys.readouterr().err
    assert "the base URL is wrong: its path '/api' comes before /capi/v2/" in err
    assert "pass-alpha-hidden" not in err
