"""The HTTP client a session sends through: which transport, and how it is built.

Three choices, in order: ``http_backend="aiohttp"`` (httpx's API over aiohttp's connections,
the ``aiohttp`` extra), a ``transport`` the user passed (tests, proxies, a custom pool), or
``ConnectionSlots`` (a connection per in-flight slot, ``_connections``) unless the environment
names a proxy for the exchange's URL (then httpx's own pool, which honours it).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import httpx

from ._checks import HttpBackend
from ._connections import ConnectionSlots, env_proxy_for
from .errors import ConfigurationError

__all__ = ["HttpClient", "http_client"]


@attrs.frozen
class HttpClient:
    """A session's HTTP client, and how its URLs go on the wire.

    Attributes:
        client: the httpx client (its pool, timeouts and headers).
        wire_url: rewrites a URL into the form the transport puts on the wire, so that the
            signature covers it (aiohttp's); ``None`` when httpx's own form is sent.
    """

    client: httpx.AsyncClient
    wire_url: Callable[[httpx.URL], httpx.URL] | None = None


def http_client(
    url: httpx.URL,
    *,
    transport: httpx.AsyncBaseTransport | None,
    http_backend: HttpBackend,
    timeout: float | httpx.Timeout,
    max_in_flight: int,
    keepalive_expiry: float,
    locale: str | None,
) -> HttpClient:
    """The HTTP client for ``url``, its transport chosen as the module says (arguments checked
    by ``_checks`` already).

    Raises:
        ConfigurationError: ``http_backend="aiohttp"`` without the ``aiohttp`` extra.
    """
    headers = {"Content-Type": "application/json"}
    if locale:
        headers["locale"] = locale
    limits = httpx.Limits(
        max_connections=max_in_flight,
        max_keepalive_connections=max_in_flight,
        keepalive_expiry=keepalive_expiry,
    )
    wire_url: Callable[[httpx.URL], httpx.URL] | None = None
    if http_backend == "aiohttp":
        transport = _aiohttp_transport(limits)
        wire_url = _as_aiohttp_sends
    elif transport is None and not env_proxy_for(url):
        transport = ConnectionSlots(max_in_flight, keepalive_expiry=keepalive_expiry)
    client = httpx.AsyncClient(
        base_url=str(url),
        transport=transport,
        timeout=timeout,
        limits=limits,
        headers=headers,
    )
    return HttpClient(client, wire_url)


def _as_aiohttp_sends(url: httpx.URL) -> httpx.URL:
    """``url`` as aiohttp will send it. aiohttp re-quotes a URL through yarl, which un-escapes
    characters a query may hold as they are (``%3A`` becomes ``:``): a query signed as httpx
    encoded it would then fail WEEX's check (40009). yarl's form is a fixed point of both
    libraries, so it is signed and sent alike."""
    import yarl

    return httpx.URL(str(yarl.URL(str(url))))


def _aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        # weex-async is not on the package index yet: a hint naming the index could install
        # someone else's package, so it names the checkout.
        raise ConfigurationError(
            "http_backend='aiohttp' needs the aiohttp extra: in your checkout of weex-async, "
            "pip install -e '.[aiohttp]'"
        ) from None
    transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    return transport
