"""The default HTTP transport: one connection per in-flight slot, handed out from a free list.

httpcore's own pool assigns the first idle connection to every request that enters it in one turn
of the event loop; all but one then find it taken and go round again (``ConnectionNotAvailable``),
which cost a third of the throughput at 1000 callers. These tests break that promise on purpose:
many callers at once, failures, cancellations, a proxy in the environment.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpcore
import httpx
import pytest

from weex_async import Credentials, RetryPolicy, WeexClient
from weex_async._checks import HttpBackend
from weex_async._connections import ConnectionSlots, env_proxy_for
from weex_async._http import HttpxWire
from weex_async.testing import FakeExchange, Fault, free_port, serve

from .conftest import API_KEY
from .helpers import ROOMY


class PortsSeen(FakeExchange):
    """The fake exchange, noting the client port (so the connection) of every request."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ports: list[int] = []
        #: the ports of the requests carrying the header ``x-counted`` only
        self.counted: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
            if any(name == b"x-counted" for name, _ in scope["headers"]):
                self.counted.append(scope["client"][1])
        await super().__call__(scope, receive, send)


def transport_of(client: WeexClient) -> httpx.AsyncBaseTransport:
    """The transport the client's httpx client sends through (white box, on purpose)."""
    wire = client._session._wire  # noqa: SLF001
    assert isinstance(wire, HttpxWire)
    transport: httpx.AsyncBaseTransport = wire.client._transport  # noqa: SLF001
    return transport


#: The CA bundle, loaded once for this module's clients
_TLS = httpx.create_ssl_context()


@pytest.fixture(autouse=True)
def _one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client here speaks plain HTTP to 127.0.0.1, and some tests build sixty: each client
    loading the CA bundle into a TLS context of its own (35 ms) was most of their time."""
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *args, **kwargs: _TLS)


@pytest.fixture
def seen(creds: Credentials) -> PortsSeen:
    exchange = PortsSeen(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account(creds.api_key, creds.api_secret, creds.passphrase)
    return exchange


async def test_many_callers_at_once_never_collide_on_a_connection(
    seen: PortsSeen, creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    collisions = 0
    original = httpcore.ConnectionNotAvailable.__init__

    def counted(self: Exception, *args: Any) -> None:
        nonlocal collisions
        collisions += 1
        original(self, *args)

    monkeypatch.setattr(httpcore.ConnectionNotAvailable, "__init__", counted)
    ids = seen.open_orders(API_KEY, 300)
    with serve(seen) as url:
        async with WeexClient(
            creds, base_url=url, rate_limits=ROOMY, sync_time=False, max_in_flight=10
        ) as client:
            results = await asyncio.gather(
                *(client.cancel_batch_orders(ids=[order_id]) for order_id in ids)
            )
    assert all(r.cancel_order_result_list[0].result for r in results)
    assert collisions == 0  # httpx's own pool: dozens of requests went round again
    assert len(set(seen.ports)) == 10  # ten connections, each kept alive and reused


async def test_a_failed_or_cancelled_request_gives_its_connection_back(
    seen: PortsSeen, creds: Credentials
) -> None:
    slots = ConnectionSlots(2)
    closed = f"http://127.0.0.1:{free_port()}/capi/v2/market/time"
    async with httpx.AsyncClient(transport=slots, timeout=5.0) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(closed)
        assert slots.in_use == 0
        seen.faults.slow_delay = 1.0
        seen.faults.next(Fault.SLOW, times=2)
        with serve(seen) as url:
            async with WeexClient(
                creds, base_url=url, rate_limits=ROOMY, sync_time=False, max_in_flight=2
            ) as client:
                session_slots = transport_of(client)
                assert isinstance(session_slots, ConnectionSlots)
                slow = [
                    asyncio.ensure_future(client.cancel_batch_orders(ids=[str(n)]))
                    for n in range(2)
                ]
                # Until the exchange has both (it answers them 1 s later), so that both are
                # on the wire when cancelled. (Cancelled while httpcore was still opening their
                # connections, they used to leave its pools full for good, encode/httpcore#1093,
                # which this test met on a loaded machine: the tests below cancel at every turn.)
                for _ in range(500):
                    if seen.faults.injected.get(Fault.SLOW) == 2:
                        break
                    await asyncio.sleep(0.01)  # the exchange runs in its own thread
                assert session_slots.in_use == 2  # both hold a connection while on the wire
                for task in slow:
                    task.cancel()
                await asyncio.gather(*slow, return_exceptions=True)
                assert session_slots.in_use == 0
                ids = seen.open_orders(API_KEY, 4)
                report = await client.cancel_orders(ids=ids)
                assert report.all_cancelled
                assert session_slots.in_use == 0


async def test_more_requests_than_connections_share_the_least_busy(seen: PortsSeen) -> None:
    with serve(seen) as url:
        async with httpx.AsyncClient(transport=ConnectionSlots(2), base_url=url) as http:
            answers = await asyncio.gather(*(http.get("/capi/v2/market/time") for _ in range(9)))
    assert [a.status_code for a in answers] == [200] * 9
    assert len(set(seen.ports)) == 2


def test_a_proxy_in_the_environment_keeps_httpx_default_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = httpx.URL("https://api-contract.weex.com")
    assert not env_proxy_for(url)
    assert isinstance(transport_of(WeexClient()), ConnectionSlots)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert env_proxy_for(url)
    assert not isinstance(transport_of(WeexClient()), ConnectionSlots)
    monkeypatch.setenv("NO_PROXY", "api-contract.weex.com")
    assert not env_proxy_for(url)
    assert isinstance(transport_of(WeexClient()), ConnectionSlots)


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_connections_outlive_a_quiet_moment_as_long_as_set(
    seen: PortsSeen, creds: Credentials, backend: HttpBackend
) -> None:
    """A request after a quiet moment reuses the connection of the one before, unless the quiet
    outlasted ``keepalive_expiry`` (httpx's own default, 5 s, closed them after any pause a
    kill switch could follow)."""

    async def two_calls_apart(**options: Any) -> int:
        seen.ports.clear()
        with serve(seen) as url:
            async with WeexClient(
                creds, base_url=url, sync_time=False, http_backend=backend, **options
            ) as client:
                await client.server_time()
                await asyncio.sleep(0.3)
                await client.server_time()
        return len(set(seen.ports))

    assert await two_calls_apart() == 1  # the default keeps it
    assert await two_calls_apart(keepalive_expiry=0.05) == 2  # expired: a new connection


async def test_a_request_cancelled_at_any_turn_leaves_its_slot_usable(
    seen: PortsSeen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled at each turn of the loop from its start to its answer, a request leaves both
    connections usable. Cancelled after httpcore has opened its connection and before it marked
    it in use, it left httpcore's pool full for good: every later request on that slot waited for
    a ``PoolTimeout`` (encode/httpcore#1093). The connection is opened before the request starts
    and handed over without a turn of the loop, so every turn up to the request's bytes on the wire
    is the same on every run."""
    opened: list[httpcore.AsyncNetworkStream] = []
    connect = httpcore.AnyIOBackend.connect_tcp

    async def handed_over(
        self: httpcore.AnyIOBackend, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        if opened:
            return opened.pop()
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", handed_over)
    slots = ConnectionSlots(2)
    # a leaked slot fails the test in 5 s, not never (4 requests share 2 slots: one waits)
    timeout = httpx.Timeout(5.0)
    with serve(seen) as url:
        port = httpx.URL(url).port
        assert port is not None
        async with httpx.AsyncClient(transport=slots, base_url=url, timeout=timeout) as http:
            for turns in range(40):
                opened.append(await connect(httpcore.AnyIOBackend(), "127.0.0.1", port))
                task = asyncio.ensure_future(http.get("/capi/v2/market/time"))
                for _ in range(turns):
                    await asyncio.sleep(0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                assert slots.in_use == 0
                while opened:  # cancelled before it asked for a connection
                    await opened.pop().aclose()
                seen.counted.clear()  # not seen.ports: the cancelled one may arrive late
                answers = await asyncio.gather(
                    *(
                        http.get("/capi/v2/market/time", headers={"x-counted": "1"})
                        for _ in range(4)
                    )
                )
                assert [a.status_code for a in answers] == [200] * 4, turns
                assert len(set(seen.counted)) <= 2  # still two connections at most
                assert slots.in_use == 0


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_a_call_cancelled_at_any_turn_then_every_connection_answers(
    seen: PortsSeen, creds: Credentials, backend: HttpBackend
) -> None:
    """A new client's first call cancelled at each turn of the loop from its start to its
    answer (the limiter's admission, opening the connection, the request, the answer) takes
    nothing with it: both connections of ``max_in_flight=2`` answer the calls after it."""
    with serve(seen) as url:
        for turns in range(60):  # a call takes 30 to 60 turns (more when the network waits)
            async with WeexClient(
                creds,
                base_url=url,
                rate_limits=ROOMY,
                sync_time=False,
                max_in_flight=2,
                http_backend=backend,
                timeout=5.0,  # a lost connection fails the next calls in 5 s, not never
                retry=RetryPolicy(max_attempts=1),
            ) as client:
                task = asyncio.ensure_future(client.server_time())
                for _ in range(turns):
                    await asyncio.sleep(0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                times = await asyncio.gather(*(client.server_time() for _ in range(4)))
                assert len(times) == 4, turns


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
async def test_two_hundred_cancelled_calls_then_a_burst_all_answered(
    seen: PortsSeen, creds: Credentials, backend: HttpBackend
) -> None:
    """Calls cancelled at random turns of the loop (seeded) lose no connection: a burst of 50
    after them is answered in full (a lost connection fails its share of it)."""
    turns = random.Random(1093)
    with serve(seen) as url:
        async with WeexClient(
            creds,
            base_url=url,
            rate_limits=ROOMY,
            sync_time=False,
            max_in_flight=4,
            http_backend=backend,
            timeout=5.0,  # a leaked connection fails the burst in 5 s, not never
            retry=RetryPolicy(max_attempts=1),
        ) as client:
            for _ in range(200):
                task = asyncio.ensure_future(client.server_time())
                for _ in range(turns.randrange(60)):
                    await asyncio.sleep(0)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            times = await asyncio.gather(*(client.server_time() for _ in range(50)))
    assert len(times) == 50


async def test_an_answer_whose_closing_is_cancelled_leaves_its_slot_usable(
    seen: PortsSeen,
) -> None:
    """Closing an answer marks its connection idle again (httpx closes it once read, and when its
    caller is cancelled while reading it); cancelled at any turn of that, the slot stays usable.
    Cancelled on its first turn, the close left httpcore's connection active for good: the next
    request got ``PoolTimeout``. The body is read before (no turn of the loop waits for the
    network in the close), so the turns are the same on every run."""
    slots = ConnectionSlots(1)
    # a leaked slot fails the test in 5 s, not never (2 requests share 1 slot: one waits)
    timeout = httpx.Timeout(5.0)
    with serve(seen) as url:
        async with httpx.AsyncClient(transport=slots, base_url=url, timeout=timeout) as http:
            for turns in range(8):
                request = http.build_request("GET", "/capi/v2/market/time")
                response = await http.send(request, stream=True)
                assert isinstance(response.stream, httpx.AsyncByteStream)
                body = b"".join([chunk async for chunk in response.stream])  # not closed yet
                assert body
                closing = asyncio.ensure_future(response.aclose())
                for _ in range(turns):
                    await asyncio.sleep(0)
                closing.cancel()
                await asyncio.gather(closing, return_exceptions=True)
                await response.aclose()  # cancelled before it began (turn 0): close it now
                assert slots.in_use == 0
                answers = await asyncio.gather(
                    *(http.get("/capi/v2/market/time") for _ in range(2))
                )
                assert [a.status_code for a in answers] == [200] * 2, turns
