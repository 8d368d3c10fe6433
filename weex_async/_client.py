"""``WeexClient``: the session. Every call runs one path: admit, build, sign, send, decode.

The timestamp is read when httpx runs the auth flow, i.e. after the limiter's wait, so a request
that waited 10 s for budget is still signed with a fresh timestamp; every retry is admitted
(charged) again and signed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._clock import ServerClock
from ._decode import decode
from ._endpoints import CANCEL_BATCH_ORDERS, SERVER_TIME, Endpoint
from ._limiter import AdmissionQueue, ClientLimiter, PoolSnapshot, RateLimits
from ._retry import RetryPolicy
from ._signing import Credentials, WeexAuth
from .errors import (
    ClientClosedError,
    ConfigurationError,
    InvalidRequestError,
    RateLimitError,
    RequestTimeoutError,
    TimestampError,
    TransportError,
)
from .models import BatchCancelResult, ServerTime

__all__ = ["DEFAULT_BASE_URL", "WeexClient"]

T = TypeVar("T")

log = logging.getLogger("weex_async")

#: WEEX's futures (contract) REST API.
DEFAULT_BASE_URL = "https://api-contract.weex.com"
#: Per-request timeouts: a cancel unanswered after 10 s is better reported than awaited.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Requests on the wire at once per client (= httpx's connection pool size).
DEFAULT_MAX_IN_FLIGHT = 10
#: Seconds between background server-time syncs while the client is open.
DEFAULT_TIME_SYNC_INTERVAL = 300.0
#: The most ids WEEX's V2 batch cancel accepts in one call (its error 40912's text).
MAX_IDS_PER_CALL = 50
#: Client order ids: at most 40 characters (weex-api.md §6).
MAX_CID_LENGTH = 40

_DECIMAL = re.compile(r"[0-9]+")


def _json_bytes(body: Any) -> bytes:
    # Serialized once: these exact bytes are signed and sent.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _id_list(name: str, values: Iterable[Any] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise InvalidRequestError(f"{name} must be a list of strings, not a single string")
    items = list(values)
    if not items:
        raise InvalidRequestError(f"{name} is empty: pass at least one id")
    for item in items:
        if not isinstance(item, str):
            raise InvalidRequestError(
                f"{name} must contain strings; got {type(item).__name__} {item!r}"
            )
    return items


class WeexClient:
    """An asyncio session with WEEX's futures API.

    Use it as ``async with WeexClient(credentials) as client:`` (or call :meth:`aclose`). Clients on
    one event loop share the IP pool of their host, and clients with the same API key share its
    account pool, so several clients (or accounts) in one process never overspend together.

    Args:
        credentials: the API key; ``None`` for public calls only.
        base_url: the API's root URL.
        rate_limits: the budgets; WEEX's documented ones by default.
        transport: an httpx async transport (``httpx.ASGITransport(app=FakeExchange())`` in tests).
        timeout: per-request timeouts (seconds or an ``httpx.Timeout``).
        max_in_flight: the most requests on the wire at once (also httpx's pool size); callers
            beyond it wait in the limiter's queue, in priority order.
        retry: the retry policy.
        sync_time: sign with the exchange's clock (measured on the first signed call, then every
            ``time_sync_interval`` seconds in the background); ``False`` signs with the local clock.
        time_sync_interval: seconds between background syncs.
        locale: sent as the ``locale`` header when given (``"en-US"``, ``"zh-CN"``).
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limits: RateLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry: RetryPolicy | None = None,
        sync_time: bool = True,
        time_sync_interval: float = DEFAULT_TIME_SYNC_INTERVAL,
        locale: str | None = None,
        _queue: AdmissionQueue | None = None,
        _clock: ServerClock | None = None,
    ) -> None:
        if credentials is not None and not isinstance(credentials, Credentials):
            raise ConfigurationError("credentials must be a weex_async.Credentials")
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be a positive integer")
        if time_sync_interval <= 0:
            raise ConfigurationError("time_sync_interval must be positive")
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.credentials = credentials
        self.base_url = str(url)
        self.rate_limits = rate_limits if rate_limits is not None else RateLimits()
        self.retry = retry if retry is not None else RetryPolicy()
        self._clock = _clock if _clock is not None else ServerClock()
        self._sync_time = sync_time
        self._time_sync_interval = time_sync_interval
        self._sync_lock: asyncio.Lock | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._limiter = ClientLimiter(
            self.rate_limits,
            url.netloc.decode("ascii"),
            credentials.api_key if credentials is not None else None,
            max_in_flight,
            _queue,
        )
        self._auth = WeexAuth(credentials, self._clock.now_ms) if credentials else None
        headers = {"Content-Type": "application/json"}
        if locale:
            headers["locale"] = locale
        limits = httpx.Limits(
            max_connections=max_in_flight, max_keepalive_connections=max_in_flight
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            limits=limits,
            headers=headers,
        )
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<WeexClient {self.base_url} {self.credentials!r} {state}>"

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> WeexClient:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the background time sync and close the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._closed

    def _ensure_open(self) -> None:
        if self._closed:
            raise ClientClosedError(
                "this WeexClient is closed; create a new one (a closed client cannot be reopened)"
            )

    # -- observability ---------------------------------------------------------------------------

    @property
    def time_offset_ms(self) -> float:
        """The measured offset of the exchange's clock from the local one, in milliseconds."""
        return self._clock.offset_ms

    def rate_limit_status(self) -> tuple[PoolSnapshot, ...]:
        """A snapshot of every pool this client charges: budget, used, queued, paused."""
        return self._limiter.snapshot()

    # -- endpoints -------------------------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        """``GET /capi/v2/market/time``: the exchange's clock (IP weight 1)."""
        return await self._call(SERVER_TIME)

    async def cancel_batch_orders(
        self,
        ids: Sequence[str] | None = None,
        cids: Sequence[str] | None = None,
        symbol: str | None = None,
    ) -> BatchCancelResult:
        """Cancel up to 50 orders in one request: ``POST /capi/v2/order/cancel_batch_orders``.

        Exactly one HTTP request is sent per attempt (IP weight 5, UID weight 10). It is retried
        only when the exchange certainly did not act: after a 429 pause and once after a
        timestamp error. For any number of orders, with every outcome accounted for, use
        ``cancel_orders``.

        Args:
            ids: exchange order ids (decimal strings). Pass ``ids`` or ``cids``, not both.
            cids: client order ids (at most 40 characters each).
            symbol: e.g. ``"cmt_btcusdt"``; sent when given (some copies of WEEX's docs require it).

        Returns:
            The exchange's answer; judge each order by its own item.

        Raises:
            InvalidRequestError: before sending anything, for both lists, neither, an empty list,
                more than 50 entries, an id that is not a decimal string, a cid over 40 characters.
            WeexAPIError: (a subclass) the exchange refused the call.
            TransportError: no answer came; whether orders were cancelled is unknown.
        """
        return await self._call(CANCEL_BATCH_ORDERS, body=batch_cancel_body(ids, cids, symbol))

    # -- the call path -----------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint[T],
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> T:
        """Send ``endpoint`` until it succeeds or the rules say stop (see ``RetryPolicy``)."""
        self._ensure_open()
        content = _json_bytes(body) if body is not None else b""
        if endpoint.signed:
            if self._auth is None:
                raise ConfigurationError(f"{endpoint.name} needs credentials")
            await self._ensure_time_synced()
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            try:
                return await self._attempt(endpoint, content, params, attempt)
            except TimestampError:
                if resynced or not self._sync_time:
                    raise
                resynced = True
                await self.sync_time()
            except RateLimitError:
                if not endpoint.idempotent or attempt >= self.retry.max_attempts:
                    raise
                # The pools are paused for the ban: the next admission waits for it.

    async def _attempt(
        self, endpoint: Endpoint[T], content: bytes, params: dict[str, str] | None, attempt: int
    ) -> T:
        ticket = await self._limiter.acquire(endpoint)  # type: ignore[arg-type]
        try:
            request = self._http.build_request(
                endpoint.method, endpoint.path, content=content or None, params=params
            )
            ticket.mark_sent()
            try:
                response = await self._http.send(
                    request, auth=self._auth if endpoint.signed else None
                )
            except httpx.TimeoutException as exc:
                log.debug("%s attempt %d: timeout (%s)", endpoint.name, attempt, type(exc).__name__)
                raise RequestTimeoutError(
                    f"{endpoint.name}: no answer in time ({type(exc).__name__})"
                ) from exc
            except httpx.TransportError as exc:
                log.debug(
                    "%s attempt %d: transport error %s", endpoint.name, attempt, type(exc).__name__
                )
                raise TransportError(f"{endpoint.name}: {type(exc).__name__}: {exc}") from exc
        except asyncio.CancelledError:
            # Cancelled before an answer: it may have been sent, so only the slot is given back.
            ticket.release()
            raise
        ticket.release()
        log.debug(
            "%s attempt %d: HTTP %d after waiting %.3fs for the limiter",
            endpoint.name,
            attempt,
            response.status_code,
            ticket.waited,
        )
        self._limiter.observe_headers(endpoint, response.headers)  # type: ignore[arg-type]
        try:
            return decode(response, endpoint.response_type)
        except RateLimitError as exc:
            self._limiter.rate_limited(endpoint, exc.retry_after)  # type: ignore[arg-type]
            raise

    # -- server time -----------------------------------------------------------------------------

    async def sync_time(self) -> float:
        """Measure the offset to the exchange's clock now (median of 3 samples), in ms."""
        self._ensure_open()

        async def fetch() -> int:
            return (await self._call(SERVER_TIME)).timestamp

        offset = await self._clock.sync(fetch)
        log.debug("server time offset %.1f ms", offset)
        return offset

    async def _ensure_time_synced(self) -> None:
        if not self._sync_time or self._clock.synced_at is not None:
            return
        if self._sync_lock is None:
            self._sync_lock = asyncio.Lock()
        async with self._sync_lock:
            if self._clock.synced_at is None:
                await self.sync_time()
                self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._time_sync_interval)
            try:
                await self.sync_time()
            except Exception as exc:  # a failed refresh keeps the last offset; the next one retries
                log.warning("server time refresh failed: %s", exc)


def batch_cancel_body(
    ids: Sequence[str] | None, cids: Sequence[str] | None, symbol: str | None
) -> dict[str, Any]:
    """Validate a batch cancel's arguments and build its JSON body (nothing is sent on error)."""
    id_list = _id_list("ids", ids)
    cid_list = _id_list("cids", cids)
    if id_list is not None and cid_list is not None:
        raise InvalidRequestError("pass ids or cids, not both (WEEX documents one list per call)")
    if id_list is None and cid_list is None:
        raise InvalidRequestError("pass ids or cids: the orders to cancel")
    key, values = ("ids", id_list) if id_list is not None else ("cids", cid_list)
    assert values is not None
    if len(values) > MAX_IDS_PER_CALL:
        raise InvalidRequestError(
            f"{len(values)} {key} in one call; WEEX accepts at most {MAX_IDS_PER_CALL} "
            "(use cancel_orders for any number)"
        )
    if key == "ids":
        for value in values:
            if not _DECIMAL.fullmatch(value):
                raise InvalidRequestError(f"order id {value!r} is not a decimal string")
    else:
        for value in values:
            if not value or len(value) > MAX_CID_LENGTH:
                raise InvalidRequestError(
                    f"client order id {value!r} must be 1 to {MAX_CID_LENGTH} characters"
                )
    body: dict[str, Any] = {key: values}
    if symbol is not None:
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRequestError("symbol must be a non-empty string such as 'cmt_btcusdt'")
        body["symbol"] = symbol
    return body
