"""One connection per in-flight slot: the default HTTP transport, a free list of one-connection
httpx transports.

Why not httpx's own pool of ``max_in_flight`` connections: httpcore's pool does not reserve a
connection when it assigns one to a request. When several callers enter it in one turn of the
event loop (1000 callers woken by the limiter as slots free), they are all assigned the first
idle connection, all but one find it taken (``ConnectionNotAvailable``) and go round again; each
round also checks every idle connection's socket (two system calls each). Measured at 1000
callers: about four rounds per request against two at 10 callers, and a third of the throughput
lost (docs/benchmarks.md). The limiter already keeps at most ``max_in_flight`` requests on the
wire, so a free list of that many one-connection transports hands each request a connection of
its own in O(1): httpcore still opens, checks and reuses each connection, with nobody to collide
with.

A request that fails or is cancelled inside httpcore can leave its pool full for good: cancelled
after the pool made it a new connection and before it marked that connection in use, the connection
is neither idle, nor closed, nor available, so the pool never reclaims it and every later request
waits for a ``PoolTimeout`` (encode/httpcore#1093, open in httpcore 1.0.9); an answer whose close
is cancelled leaves its connection active the same way. A kill switch whose deadline cancels
attempts would lose its connections one by one. So a transport that saw a failure (of a request, or
of its answer's close) is replaced by a fresh one as soon as no request holds it (its old
connection closed), whatever state httpcore left it in: only its connection is lost, which any
failure but a cancellation at the wrong moment closes anyway.
"""

from __future__ import annotations

import contextlib
import functools
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

__all__ = ["ConnectionSlots", "env_proxy_for"]


def env_proxy_for(url: httpx.URL) -> bool:
    """True when the environment names a proxy for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``...,
    not bypassed by ``NO_PROXY``): httpx's default transport honours those, so the client keeps it.
    """
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get(url.scheme) or proxies.get("all")):
        return False
    bypass: bool = urllib.request.proxy_bypass_environment(url.host, proxies)  # type: ignore[attr-defined]
    return not bypass


class _Released(httpx.AsyncByteStream):
    """A response body that hands its connection back when closed (once)."""

    def __init__(
        self, stream: httpx.AsyncByteStream, release: Callable[[bool], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._release: Callable[[bool], Awaitable[None]] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        release, self._release = self._release, None
        failed = True
        try:
            await self._stream.aclose()
            failed = False
        finally:
            if release is not None:
                await release(failed)


class ConnectionSlots(httpx.AsyncBaseTransport):
    """``size`` httpx transports of one connection each; a request takes a free one.

    The most recently freed transport goes first (its connection is the warmest). With more
    requests than transports (only if something besides the limiter sends), a request shares the
    least busy transport and httpcore queues it there.

    A transport that saw a request fail (an error or a cancellation, at any point) is replaced by a
    fresh one when no request holds it any more, so no failure can leave a slot unusable
    (encode/httpcore#1093: module docstring).

    Args:
        size: the number of connections (the client's ``max_in_flight``).
        keepalive_expiry: seconds an idle connection is kept (the client's ``keepalive_expiry``).
        transport_options: passed to each ``httpx.AsyncHTTPTransport``.
    """

    def __init__(
        self, size: int, *, keepalive_expiry: float | None = 5.0, **transport_options: Any
    ) -> None:
        if "verify" not in transport_options:  # one TLS context for all, not one each
            transport_options["verify"] = httpx.create_ssl_context()
        one = httpx.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=keepalive_expiry
        )
        self._new_transport = functools.partial(
            httpx.AsyncHTTPTransport, limits=one, **transport_options
        )
        self._transports = [self._new_transport() for _ in range(size)]
        #: requests holding each transport's connection
        self._busy = [0] * size
        #: transports a request failed in: replaced once nobody holds them
        self._failed = [False] * size
        self._free = list(reversed(range(size)))  # a stack: pop() takes the last freed

    @property
    def in_use(self) -> int:
        """Requests holding a connection now (sent, their answer not yet read and closed)."""
        return sum(self._busy)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        busy = self._busy
        index = self._free.pop() if self._free else min(range(len(busy)), key=busy.__getitem__)
        busy[index] += 1
        try:
            response = await self._transports[index].handle_async_request(request)
        except BaseException:
            # httpcore may have left this transport's pool holding a connection nobody will
            # use or free (encode/httpcore#1093): never hand the transport out again.
            await self._give_back(index, failed=True)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, functools.partial(self._give_back, index))
        return response

    async def _give_back(self, index: int, failed: bool) -> None:
        """A request let go of transport ``index`` (exactly once: on failure, or when its body
        is closed); ``failed``: it failed there, or closing its body did."""
        self._failed[index] = self._failed[index] or failed
        self._busy[index] -= 1
        if self._busy[index]:
            return
        retired = None
        if self._failed[index]:
            # Swapped before anything is awaited: the slot is free again at once, on the new
            # transport, even if this task is cancelled while the old one closes.
            retired, self._transports[index] = self._transports[index], self._new_transport()
            self._failed[index] = False
        self._free.append(index)
        if retired is not None:
            # its connection's socket, if it got one; failing to close it is no failure of the
            # request (and must not replace the error being raised)
            with contextlib.suppress(Exception):
                await retired.aclose()

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()
