"""The HTTP layer a session sends through: one request's bytes out, its answer's bytes back.

``Wire`` is the seam. ``send(method, path, params, body, signer)`` puts one request on the wire
and returns its ``Answer`` (status, headers and body bytes, read whole), or raises ``NoAnswer``
(no HTTP answer came: a timeout, a refused, failed or dropped connection), which the session maps
to the error tree; ``NoAnswer.not_sent`` says when the request certainly never left (the
connection could not be opened, or none was free in time), which both wires tell alike. Two
wires, chosen by ``http_wire``:

- ``HttpxWire`` (the default): an httpx client over a ``transport`` the user passed (tests,
  proxies, a custom pool), else ``ConnectionSlots`` (a connection per in-flight slot,
  ``_connections``) unless the environment names a proxy for the exchange's URL (then httpx's own
  pool, which honours it);
- ``AiohttpWire`` (``http_backend="aiohttp"``, the ``aiohttp`` extra): ``aiohttp.ClientSession``
  called directly, with no httpx request or response model on the way.

Both are the same to the session: they sign once per request with ``_signing.Signer`` (after the
limiter's wait) from the exact target (path and query, in httpx's encoding) and body bytes that
go on the wire, apply the same timeouts, keep ``max_in_flight`` connections idle for
``keepalive_expiry`` seconds, never send a request twice by themselves, and fail with ``NoAnswer``
(``not_sent`` only for a failure before the request was written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

import httpx

from ._checks import HttpBackend
from ._connections import ConnectionSlots, env_proxy_for
from ._decode import Answer
from ._signing import Signer, signed_headers
from .errors import ConfigurationError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpWire", "HttpxWire", "NoAnswer", "Wire", "http_wire"]


class NoAnswer(Exception):
    """No HTTP answer came; whether the exchange acted on the request is unknown, unless
    ``not_sent``.

    Attributes:
        what: the HTTP library's failure, named (its class and message; never a header value).
        timed_out: a timeout expired (connect, read, write or waiting for a connection).
        not_sent: the request's bytes certainly never left: no connection could be opened
            (refused, unreachable, a failed TLS handshake, a connect timeout) or none was free
            before the pool timeout. Only failures that happen before the request is written
            say so; a read or write error, or a kept-alive connection found dropped, may come
            after the exchange got the request, and stays ``False``.
    """

    def __init__(self, what: str, *, timed_out: bool, not_sent: bool = False) -> None:
        super().__init__(what)
        self.what = what
        self.timed_out = timed_out
        self.not_sent = not_sent


class Wire(Protocol):
    """What a session sends through (the module says what both wires promise)."""

    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes,
        signer: Signer | None,
    ) -> Answer:
        """Send one request and read its answer whole.

        Args:
            method: the HTTP method.
            path: the endpoint's path (joined to the base URL's).
            params: the query, if any.
            body: the exact body bytes (``b""``: none).
            signer: signs the request (``None``: a public call).

        Raises:
            NoAnswer: no HTTP answer came.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


#: httpx's failures that come before a byte of the request is written: httpcore raises
#: ``ConnectError`` / ``ConnectTimeout`` only while opening a connection (TCP, TLS, a proxy's
#: socket) and ``PoolTimeout`` only while waiting for one; a connection that fails once the
#: request is being written or read raises ``WriteError``, ``ReadError``, ``RemoteProtocolError``
#: or their timeouts (read on httpcore 1.0).
_HTTPX_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class HttpxWire:
    """The default wire: an httpx client (its transport chosen by ``http_wire``)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes,
        signer: Signer | None,
    ) -> Answer:
        request = self.client.build_request(method, path, content=body or None, params=params)
        if signer is not None:
            # set one by one: httpx encodes a header set so as UTF-8 (as aiohttp does), while
            # update() encodes as ASCII and raises for a passphrase beyond it
            for name, value in signed_headers(signer, request).items():
                request.headers[name] = value
        try:
            return await self.client.send(request)
        except httpx.TimeoutException as exc:
            raise NoAnswer(
                type(exc).__name__, timed_out=True, not_sent=isinstance(exc, _HTTPX_UNSENT)
            ) from exc
        except httpx.TransportError as exc:
            raise NoAnswer(
                f"{type(exc).__name__}: {exc}",
                timed_out=False,
                not_sent=isinstance(exc, _HTTPX_UNSENT),
            ) from exc

    async def aclose(self) -> None:
        await self.client.aclose()


class _Reply:
    """aiohttp's answer, read whole (an ``Answer``)."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content


def _target(path: str, params: Mapping[str, str] | None) -> str:
    """The path and query as the default wire puts them on the wire (httpx's encoding), so both
    wires sign and send the same bytes for the same call."""
    if not params:
        return path
    return httpx.URL(path, params=params).raw_path.decode("ascii")


class AiohttpWire:
    """``aiohttp.ClientSession`` called directly (``http_backend="aiohttp"``).

    The session is opened at the first request (aiohttp binds it to the running loop, and a
    ``WeexClient`` may be built outside one). The URL is handed to aiohttp already encoded
    (``yarl.URL(..., encoded=True)``), so aiohttp sends the target exactly as it was signed.

    Timeouts map as httpx's do: ``connect`` to aiohttp's ``sock_connect``, ``read`` to
    ``sock_read``, ``pool`` to ``connect`` (a free connection, plus opening it); aiohttp has no
    write timeout (a request's body is small enough to go to the socket's buffer at once).
    """

    def __init__(
        self,
        url: httpx.URL,
        *,
        timeout: httpx.Timeout,
        max_in_flight: int,
        keepalive_expiry: float,
        headers: Mapping[str, str],
    ) -> None:
        client, urls = _import_aiohttp()  # refused at construction, not at the first call
        self._url = urls.URL
        self._failures = (client.ClientError, OSError)
        # aiohttp's failures that come before the request is written: the connector's (refused,
        # DNS, TLS, a proxy's socket) and the connect timeout (waiting for a free connection
        # plus opening it). ``ConnectionTimeoutError`` is aiohttp 3.10's; before, a connect
        # timeout was a bare ``ServerTimeoutError``, like a read timeout: then it stays unknown.
        connect_timeout = getattr(client, "ConnectionTimeoutError", None)
        self._unsent: tuple[type[BaseException], ...] = (
            (client.ClientConnectorError, connect_timeout)
            if connect_timeout is not None
            else (client.ClientConnectorError,)
        )
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._prefix = url.raw_path.decode("ascii").rstrip("/")
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._keepalive_expiry = keepalive_expiry
        self._headers = dict(headers)
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        timeout = self._timeout
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self._max_in_flight,
                keepalive_timeout=self._keepalive_expiry,
                # the CA bundle the default backend trusts (certifi's), not the system's: the
                # same exchange is verified alike on both backends, and on images without one
                ssl=httpx.create_ssl_context(),
            ),
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=timeout.pool,
                sock_connect=timeout.connect,
                sock_read=timeout.read,
            ),
        )
        # aiohttp sends an idempotent request (GET, DELETE: V3's batch cancel) a second time by
        # itself when a kept-alive connection turns out closed. That second send would bypass the
        # limiter (uncharged) and the signature's fresh timestamp; the session's retry loop decides
        # instead, charged and signed again. No public switch exists (read on aiohttp 3.14); if
        # a release renames the attribute, tests/test_http_backend.py's resend test fails.
        if hasattr(http, "_retry_connection"):
            http._retry_connection = False  # noqa: SLF001
        self._http = http
        return http

    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes,
        signer: Signer | None,
    ) -> Answer:
        if self._closed:
            raise NoAnswer("the connections are closed", timed_out=False, not_sent=True)
        http = self._http if self._http is not None else self._open()
        target = self._prefix + _target(path, params)
        headers = signer(method, target, body) if signer is not None else None
        url = self._url(self._origin + target, encoded=True)
        try:
            async with http.request(
                method, url, data=body or None, headers=headers, allow_redirects=False
            ) as response:
                content = await response.read()
                return _Reply(response.status, response.headers, content)
        except asyncio.TimeoutError as exc:  # aiohttp's ServerTimeoutError included
            raise NoAnswer(
                type(exc).__name__, timed_out=True, not_sent=isinstance(exc, self._unsent)
            ) from exc
        except self._failures as exc:
            raise NoAnswer(
                f"{type(exc).__name__}: {exc}",
                timed_out=False,
                not_sent=isinstance(exc, self._unsent),
            ) from exc

    async def aclose(self) -> None:
        self._closed = True
        if self._http is not None:
            await self._http.close()


def _import_aiohttp() -> tuple[ModuleType, ModuleType]:
    try:
        import aiohttp
        import yarl
    except ImportError:
        # weex-async is not on the package index yet: a hint naming the index could install
        # someone else's package, so it names the checkout.
        raise ConfigurationError(
            "http_backend='aiohttp' needs the aiohttp extra: in your checkout of weex-async, "
            "pip install -e '.[aiohttp]'"
        ) from None
    return aiohttp, yarl


def http_wire(
    url: httpx.URL,
    *,
    transport: httpx.AsyncBaseTransport | None,
    http_backend: HttpBackend,
    timeout: float | httpx.Timeout,
    max_in_flight: int,
    keepalive_expiry: float,
    locale: str | None,
) -> Wire:
    """The wire for ``url``, chosen as the module says (arguments checked by ``_checks``
    already).

    Raises:
        ConfigurationError: ``http_backend="aiohttp"`` without the ``aiohttp`` extra.
    """
    headers = {"Content-Type": "application/json"}
    if locale:
        headers["locale"] = locale
    timeouts = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    if http_backend == "aiohttp":
        return AiohttpWire(
            url,
            timeout=timeouts,
            max_in_flight=max_in_flight,
            keepalive_expiry=keepalive_expiry,
            headers=headers,
        )
    limits = httpx.Limits(
        max_connections=max_in_flight,
        max_keepalive_connections=max_in_flight,
        keepalive_expiry=keepalive_expiry,
    )
    if transport is None and not env_proxy_for(url):
        transport = ConnectionSlots(max_in_flight, keepalive_expiry=keepalive_expiry)
    client = httpx.AsyncClient(
        base_url=str(url), transport=transport, timeout=timeouts, limits=limits, headers=headers
    )
    return HttpxWire(client)
