"""An in-process transport that fails the way a socket does.

``httpx.ASGITransport`` ignores timeouts and re-raises the app's exceptions as they are.  This one
enforces the request's read timeout (raising ``httpx.ReadTimeout``) and turns a dropped connection
into ``httpx.RemoteProtocolError``, so code under test meets the same errors it would on a network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from ._faults import DroppedConnection

__all__ = ["AsgiApp", "FakeTransport"]

Message = MutableMapping[str, Any]
#: An ASGI application (a ``FakeExchange`` is one): this module needs nothing more of it, so it
#: does not import the exchange, which imports it.
AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]


class FakeTransport(httpx.ASGITransport):
    """``httpx.ASGITransport`` to a ``FakeExchange``, with socket-like timeouts and drops.

    Args:
        exchange: the ASGI app to call (a ``FakeExchange``).
        client: the (host, port) the app sees the requests come from.
    """

    def __init__(self, exchange: AsgiApp, client: tuple[str, int]) -> None:
        super().__init__(app=exchange, client=client)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        try:
            return await asyncio.wait_for(super().handle_async_request(request), read_timeout)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(
                "the fake exchange did not answer in time", request=request
            ) from None
        except DroppedConnection as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from None
