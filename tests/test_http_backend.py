"""The transport-level promises, kept by both HTTP backends on a real socket.

Every test here runs twice, ``http_backend="httpx"`` (the default, over ``ConnectionSlots``) and
``"aiohttp"`` (``aiohttp.ClientSession`` called directly), against the fake exchange served on
127.0.0.1: the same signatures, the same timeouts, the same errors for the same failures, and the
same "outcome unknown" for a request that may have been acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from weex_async import Credentials, RetryPolicy, WeexClient
from weex_async._checks import HttpBackend
from weex_async._http import AiohttpWire, NoAnswer
from weex_async._signing import Signer
from weex_async.errors import (
    ApiVersionRetiredError,
    ClientClosedError,
    ConfigurationError,
    NonJSONResponseError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    WeexError,
)
from weex_async.events import Event, RequestDone
from weex_async.testing import FakeExchange, Fault, free_port, serve

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import ROOMY

pytestmark = pytest.mark.real_time("the HTTP backends on a real socket")

ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture(params=["httpx", "aiohttp"])
def backend(request: pytest.FixtureRequest) -> HttpBackend:
    name: HttpBackend = request.param
    return name


async def test_cancels_signed_and_decoded(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 30)
    with serve(exchange) as url:
        async with WeexClient(creds, base_url=url, http_backend=backend) as client:
            result = await client.cancel_batch_orders(ids=ids[:2], symbol="cmt_btcusdt")
            report = await client.cancel_orders(ids=ids[2:])
    assert [i.result for i in result.cancel_order_result_list] == [True, True]
    assert report.all_cancelled
    assert len(report.cancelled) == 28
    assert exchange.accounts[API_KEY].orders == {}  # the fake verified every signature


async def test_a_base_url_with_a_path_is_named_in_the_404s_error(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=f"{url}/api/", http_backend=backend, retry=ONCE
        ) as client:
            with pytest.raises(ApiVersionRetiredError) as info:
                await client.server_time()
    assert "its path '/api' comes before /capi/v2/" in str(info.value)
    assert info.value.definite


async def test_a_passphrase_beyond_ascii_is_sent_as_utf8_on_both_backends(
    exchange: FakeExchange, backend: HttpBackend
) -> None:
    exchange.add_account("key-utf8", "secret-utf8", "Pässwörd…")
    ids = exchange.place_resting_orders("key-utf8", 2)
    creds = Credentials("key-utf8", "secret-utf8", "Pässwörd…")
    with serve(exchange) as url:
        async with WeexClient(creds, base_url=url, http_backend=backend) as client:
            report = await client.cancel_orders(ids=ids)
    assert sorted(report.cancelled) == sorted(ids)


async def test_a_slow_answer_is_a_timeout_and_its_outcome_unknown(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    # past the 0.2 s timeout; not 3 s, which the server's shutdown then waits out
    exchange.faults.slow_delay = 0.6
    ids = exchange.place_resting_orders(API_KEY, 2)
    exchange.faults.next(Fault.SLOW)
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, timeout=0.2, retry=ONCE
        ) as client:
            with pytest.raises(RequestTimeoutError):
                await client.cancel_batch_orders(ids=[ids[0]])
            exchange.faults.next(Fault.SLOW)
            report = await client.cancel_orders(ids=[ids[1]])
    # unknown after the timeout, so cancel_orders looked it up: the fake had cancelled it
    assert report.cancelled == (ids[1],)
    assert RetryPolicy.outcome_unknown(RequestTimeoutError("x"))


async def test_nothing_listening_is_a_transport_error(
    creds: Credentials, backend: HttpBackend
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url=closed,
        http_backend=backend,
        sync_time=False,
        retry=ONCE,
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.cancel_batch_orders(ids=["1"])
    assert not isinstance(caught.value, RequestTimeoutError)
    assert caught.value.not_sent  # refused: nothing reached anyone
    assert str(caught.value).startswith("cancel_batch_orders: ")
    assert API_SECRET not in str(caught.value)
    assert PASSPHRASE not in str(caught.value)


async def test_with_the_network_down_every_order_is_failed_not_sent_with_no_lookup(
    creds: Credentials, backend: HttpBackend
) -> None:
    """A connection refused on every attempt: nothing reached the exchange, so each order is
    failed, "not sent", at once; no listing, history page or lookup is asked for (each would
    be refused too, and there is nothing to settle). The calls are the batches' attempts."""
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ids = [str(596471064624628269 + i) for i in range(400)]
    retry = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.005)
    endpoints: list[str] = []

    def seen(event: Event) -> None:
        if isinstance(event, RequestDone):
            endpoints.append(event.endpoint)

    async with WeexClient(
        creds,
        base_url=closed,
        http_backend=backend,
        sync_time=False,
        retry=retry,
        rate_limits=ROOMY,
        on_event=seen,
    ) as client:
        report = await client.cancel_orders(ids=ids)
    assert not report.unknown
    assert not report.cancelled
    assert sorted(report.failed) == sorted(ids)
    assert all(why.startswith("not sent: TransportError: ") for why in report.failed.values())
    assert report.calls == len(ids) // 50 * retry.max_attempts  # batches of 50, times 3
    assert endpoints == ["cancel_batch_orders"] * report.calls


async def test_an_answer_lost_after_the_request_was_read_stays_unknown(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    """The fake acts on the cancel, then drops the connection: the request was sent, so the
    orders are unknown (not "not sent"), and the lookup finds them cancelled."""
    ids = exchange.place_resting_orders(API_KEY, 4)
    retry = RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.005)
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, retry=retry, rate_limits=ROOMY
        ) as client:
            exchange.faults.next(Fault.DROP_AFTER, times=retry.max_attempts)
            unconfirmed = await client.cancel_orders(ids=ids[:2], confirm=False)
            exchange.faults.next(Fault.DROP_AFTER, times=retry.max_attempts)
            confirmed = await client.cancel_orders(ids=ids[2:])
    assert sorted(unconfirmed.unknown) == sorted(ids[:2])
    assert not unconfirmed.failed
    assert sorted(confirmed.cancelled) == sorted(ids[2:])  # settled by the lookups


#: each fault the fake injects on the wire, and the error both backends raise for it
FAULTS: dict[Fault, type[WeexError]] = {
    Fault.DROP_BEFORE: TransportError,
    Fault.DROP_AFTER: TransportError,
    Fault.SERVER_ERROR: ServerError,
    Fault.EMPTY_521: NonJSONResponseError,
    Fault.BAD_JSON: NonJSONResponseError,
    Fault.RATE_LIMIT: RateLimitError,
}


async def test_every_fault_is_the_same_error_on_both_backends(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    ids = exchange.place_resting_orders(API_KEY, len(FAULTS))
    raised: dict[Fault, type[BaseException]] = {}
    unsent: dict[Fault, tuple[type[BaseException], bool]] = {}
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, retry=ONCE, rate_limits=ROOMY
        ) as client:
            for fault, order_id in zip(FAULTS, ids, strict=True):
                exchange.faults.next(fault)
                with pytest.raises(WeexError) as caught:
                    await client.cancel_batch_orders(ids=[order_id])
                raised[fault] = type(caught.value)
                # the request reached the fake each time: never "not sent"
                unsent[fault] = (type(caught.value), getattr(caught.value, "not_sent", False))
            await client.server_time()  # and a dropped connection was replaced
    assert all(issubclass(raised[f], FAULTS[f]) for f in FAULTS), raised
    # a dropped connection leaves the outcome unknown ("not safe yet") on both
    assert raised[Fault.DROP_AFTER] is TransportError
    assert RetryPolicy.outcome_unknown(TransportError("x"))
    assert not any(issubclass(kind, TransportError) and sent for kind, sent in unsent.values())


async def test_closing_while_on_the_wire_is_a_closed_client_and_unknown(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    exchange.faults.slow_delay = 0.6
    ids = exchange.place_resting_orders(API_KEY, 1)
    exchange.faults.next(Fault.SLOW)
    with serve(exchange) as url:
        client = WeexClient(creds, base_url=url, http_backend=backend, retry=ONCE)
        await client.server_time()  # the connection is open
        cancel = asyncio.ensure_future(client.cancel_orders(ids=ids))
        for _ in range(500):  # until the batch is on the wire
            if exchange.arrivals and exchange.arrivals[-1].path.endswith("cancel_batch_orders"):
                break
            await asyncio.sleep(0.005)
        await client.aclose()
        report = await cancel
    assert list(report.unknown) == ids  # may have been cancelled: unknown
    with pytest.raises(ClientClosedError):
        await client.cancel_batch_orders(ids=ids)


async def test_locale_and_content_type_are_sent(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    seen: list[dict[str, str]] = []

    class Headers(FakeExchange):
        async def __call__(self, scope: object, receive: object, send: object) -> None:
            assert isinstance(scope, dict)
            if scope["type"] == "http":
                seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
            await super().__call__(scope, receive, send)  # type: ignore[arg-type]

    headers = Headers()
    headers.add_account(API_KEY, API_SECRET, PASSPHRASE)
    with serve(headers) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, locale="zh-CN", sync_time=False
        ) as client:
            await client.cancel_batch_orders(ids=["1"])
    assert seen[-1]["locale"] == "zh-CN"
    assert seen[-1]["content-type"] == "application/json"
    assert seen[-1]["access-key"] == API_KEY


async def test_each_attempt_is_signed_once_and_aiohttp_builds_no_httpx_model(
    exchange: FakeExchange,
    creds: Credentials,
    backend: HttpBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One signature per attempt on both backends; the aiohttp backend builds no httpx request
    or response (it went through httpx's models, +289 µs per call over bare aiohttp)."""
    signed: list[str] = []
    built: list[str] = []
    sign_once = Signer.__call__

    def counted_sign(self: Signer, method: str, target: str, body: bytes) -> dict[str, str]:
        signed.append(target)
        return sign_once(self, method, target, body)

    def counted(name: str, original: Any) -> Any:
        def init(self: object, *args: Any, **kwargs: Any) -> None:
            built.append(name)
            original(self, *args, **kwargs)

        return init

    monkeypatch.setattr(Signer, "__call__", counted_sign)
    monkeypatch.setattr(httpx.Request, "__init__", counted("Request", httpx.Request.__init__))
    monkeypatch.setattr(httpx.Response, "__init__", counted("Response", httpx.Response.__init__))
    ids = exchange.place_resting_orders(API_KEY, 3)
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, sync_time=False, rate_limits=ROOMY
        ) as client:
            built.clear()  # (the client's set-up is not a call)
            for order_id in ids:
                await client.cancel_batch_orders(ids=[order_id])
    assert signed == ["/capi/v2/order/cancel_batch_orders"] * 3
    if backend == "aiohttp":
        assert built == []
    else:
        assert built.count("Request") == 3


class PortsSeen(FakeExchange):
    """The fake exchange, noting the client port (so the connection) of every request."""

    def __init__(self) -> None:
        super().__init__(ip_budget=10**9, uid_budget=10**9)
        self.ports: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
        await super().__call__(scope, receive, send)


async def test_many_callers_share_max_in_flight_connections(
    creds: Credentials, backend: HttpBackend
) -> None:
    seen = PortsSeen()
    seen.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = seen.place_resting_orders(API_KEY, 200)
    with serve(seen) as url:
        async with WeexClient(
            creds,
            base_url=url,
            http_backend=backend,
            rate_limits=ROOMY,
            sync_time=False,
            max_in_flight=10,
        ) as client:
            results = await asyncio.gather(
                *(client.cancel_batch_orders(ids=[order_id]) for order_id in ids)
            )
    assert all(r.cancel_order_result_list[0].result for r in results)
    assert len(set(seen.ports)) == 10  # ten connections, each kept alive and reused


async def test_a_cancelled_request_gives_its_connection_back(
    exchange: FakeExchange, creds: Credentials, backend: HttpBackend
) -> None:
    """Two requests cancelled while on the wire, with two connections: the calls after them
    still get a connection each (none is held by an abandoned request)."""
    exchange.faults.slow_delay = 0.6
    exchange.faults.next(Fault.SLOW, times=2)
    with serve(exchange) as url:
        async with WeexClient(
            creds, base_url=url, http_backend=backend, sync_time=False, max_in_flight=2
        ) as client:
            slow = [
                asyncio.ensure_future(client.cancel_batch_orders(ids=[str(n)])) for n in range(2)
            ]
            for _ in range(500):  # until both are on the wire (the fake answers in 0.6 s)
                if len(exchange.arrivals) == 2:
                    break
                await asyncio.sleep(0.005)
            for task in slow:
                task.cancel()
            await asyncio.gather(*slow, return_exceptions=True)
            ids = exchange.place_resting_orders(API_KEY, 4)
            report = await client.cancel_orders(ids=ids)
    assert report.all_cancelled


# -- a kept-alive connection the server closed: never sent twice behind the limiter's back -------


@contextlib.asynccontextmanager
async def _closes_second_request(received: list[bytes]) -> AsyncIterator[str]:
    """A raw HTTP server: answers the first request on a connection, keeps it alive, then closes
    it without answering when the second request comes (a connection that died while idle)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                received.append(head.split(b"\r\n", 1)[0])
                if answered:
                    return  # closed, unanswered
                answered += 1
                body = b'{"epoch":"1.000","iso":"1970-01-01T00:00:01.000Z","timestamp":1000}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_request_is_never_sent_twice_by_the_http_library(
    creds: Credentials, backend: HttpBackend
) -> None:
    """aiohttp resends an idempotent request (GET, and DELETE: V3's batch cancel) by itself when
    a kept-alive connection proves closed; that resend would skip the limiter's charge and go
    out with the first attempt's signature. Only the session's retry loop sends again."""
    received: list[bytes] = []
    async with (
        _closes_second_request(received) as url,
        WeexClient(
            creds, base_url=url, http_backend=backend, sync_time=False, retry=ONCE, max_in_flight=1
        ) as client,
    ):
        await client.server_time()
        with pytest.raises(TransportError) as caught:
            await client.server_time()  # a GET, like a query or V3's lookups
    assert len(received) == 2, received  # one per attempt, none behind the limiter's back
    assert not caught.value.not_sent  # it was sent on the kept-alive connection, then lost


# -- set-up ---------------------------------------------------------------------------------------


async def test_aiohttp_timeouts_are_httpx_timeouts(
    exchange: FakeExchange, creds: Credentials
) -> None:
    with serve(exchange) as url:
        async with WeexClient(
            creds,
            base_url=url,
            http_backend="aiohttp",
            timeout=httpx.Timeout(7.0, connect=3.0, pool=4.0),
            keepalive_expiry=42.0,
            max_in_flight=7,
        ) as client:
            await client.server_time()
            wire = client._session._wire  # noqa: SLF001  (white box, on purpose)
            assert isinstance(wire, AiohttpWire)
            http = wire._http  # noqa: SLF001
            assert http is not None
            assert http.timeout.sock_read == 7.0
            assert http.timeout.sock_connect == 3.0
            assert http.timeout.connect == 4.0
            assert http.timeout.total is None
            assert http.connector is not None
            assert http.connector.limit == 7
            # TLS verified against the default backend's CA bundle, not the system's
            connector = http.connector
            assert isinstance(connector, aiohttp.TCPConnector)
            assert isinstance(connector._ssl, ssl.SSLContext)  # noqa: SLF001
            assert connector._ssl.verify_mode == ssl.CERT_REQUIRED  # noqa: SLF001


def test_missing_extra_is_a_clear_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if not installed
    with pytest.raises(ConfigurationError, match="aiohttp extra") as caught:
        WeexClient(http_backend="aiohttp")
    # weex-async is not on the package index yet: a hint naming the index could install someone
    # else's package, so it says how to install from the checkout
    assert "pip install -e '.[aiohttp]'" in str(caught.value)
    assert "weex-async[aiohttp]" not in str(caught.value)


def test_backend_choices() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        WeexClient(http_backend="aiohttp", transport=httpx.MockTransport(lambda r: None))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="http_backend"):
        WeexClient(http_backend="curl")  # type: ignore[arg-type]  # refused at run time too
    WeexClient(http_backend="aiohttp")  # built outside a loop: its session opens at the first call


class _Failing:
    """Stands for ``aiohttp.ClientSession``: its request fails with ``error`` on entry."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def request(self, *args: Any, **kwargs: Any) -> _Failing:
        return self

    async def __aenter__(self) -> None:
        raise self.error

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def close(self) -> None:
        return None


_KEY = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


@pytest.mark.parametrize(
    ("error", "not_sent"),
    [
        (aiohttp.ClientConnectorError(_KEY, ConnectionRefusedError(111, "refused")), True),
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), True),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), False),
        (aiohttp.ServerDisconnectedError(), False),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
async def test_aiohttp_tells_a_connection_never_opened_from_an_answer_lost(
    error: BaseException, not_sent: bool
) -> None:
    """aiohttp's connect failures and connect timeout (which covers waiting for a free
    connection) come before the request is written; its read timeout and drops do not."""
    wire = AiohttpWire(
        httpx.URL("http://127.0.0.1:9"),
        timeout=httpx.Timeout(1.0),
        max_in_flight=1,
        keepalive_expiry=1.0,
        headers={},
    )
    wire._http = _Failing(error)  # type: ignore[assignment]  # noqa: SLF001
    with pytest.raises(NoAnswer) as caught:
        await wire.send("GET", "/capi/v2/market/time", None, b"", None)
    assert caught.value.not_sent is not_sent
