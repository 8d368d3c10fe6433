"""``WeexClient``: the public facade. Each method builds its API version's ``Call`` and sends it
through the request layer (``_session.Session``), which owns the limiter, signing, the server clock
and the only retry loop. ``cancel_orders`` runs a ``CancelRun`` (``_cancel``) on the same layer, and
``cancel_everything`` a ``FlattenRun`` (``_flatten``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from types import TracebackType

import httpx

from ._api import Api
from ._cancel import BatchLimit, CancelRun
from ._checks import (
    API_VERSIONS,
    DEFAULT_BATCH_SIZE,
    ApiVersion,
    HttpBackend,
    check_batch_size,
    check_deadline,
    check_symbol,
    checked_symbols,
    order_names,
)
from ._flatten import FlattenRun
from ._limiter import Limiter, PoolSnapshot, RateLimits
from ._placing import place_all
from ._retry import RetryPolicy
from ._session import (
    DEFAULT_BASE_URL,
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_TIME_SYNC_INTERVAL,
    DEFAULT_TIMEOUT,
    DeadlineReached,
    Session,
)
from ._signing import Credentials
from ._v2 import V2Api
from ._v3 import V3Api
from .errors import ConfigurationError, RequestTimeoutError, WeexError
from .events import CancelDone, EventHook, FlattenDone
from .models import (
    BatchCancelResult,
    CancelAllResult,
    CancelOrderResult,
    CancelReport,
    ClosePositionResult,
    FlattenReport,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    TriggerOrder,
)

__all__ = ["API", "DEFAULT_BASE_URL", "WeexClient"]

#: Each API version's spelling of every call.
API: dict[ApiVersion, Api] = {"v2": V2Api(), "v3": V3Api()}


def _deadline_error(name: str, deadline: float, reached: DeadlineReached) -> WeexError:
    """What a single call raises when ``RetryPolicy.deadline`` ends it: an attempt cut on the
    wire leaves the outcome unknown; otherwise the last attempt's own error (it did nothing, or
    it would not have been retried), or, when none was made, a timeout that was never sent."""
    if reached.in_flight:
        return RequestTimeoutError(
            f"{name}: RetryPolicy.deadline ({deadline:g} s) passed with attempt "
            f"{reached.attempts} unanswered"
        )
    if reached.last_error is not None:
        return reached.last_error
    return RequestTimeoutError(
        f"{name}: RetryPolicy.deadline ({deadline:g} s) passed before it could be sent",
        not_sent=True,
    )


class WeexClient:
    """An asyncio session with WEEX's futures API.

    Use it as ``async with WeexClient(credentials) as client:`` (or call ``aclose()``). Clients on
    one event loop share the IP pool of their host, and clients with the same API key share its
    account pool, so several clients (or accounts) in one process never overspend together.

    Args:
        credentials: the API key; ``None`` for public calls only.
        base_url: the API's root URL (``DEFAULT_BASE_URL``: https://api-contract.weex.com).
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
        batch_size: orders per batch cancel in ``cancel_orders`` (1 to 50). WEEX's V2 maximum is
            not documented: 50 by default, halved for the rest of the session when the exchange
            answers "too many" (40912). Never more than the API version allows (V3: 10).
        api_version: ``"v2"`` (the default: ``POST /capi/v2/order/cancel_batch_orders``) or
            ``"v3"`` (``DELETE /capi/v3/batchOrders``). Both answer with the same types.
        http_backend: ``"httpx"`` (the default) or ``"aiohttp"``: ``aiohttp.ClientSession``
            called directly (the ``aiohttp`` extra), which costs less CPU per request. The same
            signing, timeouts, errors, ``max_in_flight`` connections and ``keepalive_expiry``
            as the default.
        on_event: called with each ``weex_async.events`` event (a request answered, a retry, a
            429, a ``cancel_orders`` or ``cancel_everything`` done), for your own metrics: a plain
            function (an ``async def`` one is refused); anything it raises is logged and
            dropped. With the ``otel`` extra the same events feed OpenTelemetry instruments
            (docs/monitoring.md).
        keepalive_expiry: seconds an idle connection is kept open for the next request (300 by
            default, httpx's own is 5), so that a kill switch fired after minutes of quiet finds
            its connections open; one the exchange closed meanwhile is replaced when next taken.
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limits: RateLimits | None = None,
        limiter: Limiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retry: RetryPolicy | None = None,
        sync_time: bool = True,
        time_sync_interval: float = DEFAULT_TIME_SYNC_INTERVAL,
        locale: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        api_version: ApiVersion = "v2",
        http_backend: HttpBackend = "httpx",
        on_event: EventHook | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        check_batch_size(batch_size, setting=True)
        if api_version not in API_VERSIONS:
            raise ConfigurationError(f"api_version must be one of {API_VERSIONS}")
        self._api = API[api_version]
        self._session = Session(
            credentials,
            base_url=base_url,
            rate_limits=rate_limits if rate_limits is not None else RateLimits(),
            limiter=limiter,
            transport=transport,
            timeout=timeout,
            max_in_flight=max_in_flight,
            retry=retry if retry is not None else RetryPolicy(),
            sync_time=sync_time,
            time_sync_interval=time_sync_interval,
            locale=locale,
            http_backend=http_backend,
            time_call=self._api.server_time(),
            on_event=on_event,
            keepalive_expiry=keepalive_expiry,
        )
        self._batch_limit = BatchLimit(min(batch_size, self._api.max_ids))

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "open"
        return f"<WeexClient {self.base_url} {self.credentials!r} {state}>"

    @property
    def credentials(self) -> Credentials | None:
        """The API key this client signs with (``None``: public calls only)."""
        return self._session.credentials

    @property
    def base_url(self) -> str:
        return self._session.base_url

    @property
    def rate_limits(self) -> RateLimits:
        return self._session.rate_limits

    @property
    def retry(self) -> RetryPolicy:
        return self._session.retry

    @property
    def api_version(self) -> ApiVersion:
        return self._api.version

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> WeexClient:
        self._session.check_usable()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the background time sync, let go of the pools and close the connections.

        Idempotent. The budgets this client set no longer apply to the clients that share its
        pools (what it spent stays charged until its window passes)."""
        await self._session.aclose()

    @property
    def is_closed(self) -> bool:
        return self._session.closed

    # -- observability ---------------------------------------------------------------------------

    @property
    def time_offset_ms(self) -> float:
        """The measured offset of the exchange's clock from the local one, in milliseconds."""
        return self._session.time_offset_ms

    def rate_limit_status(self) -> tuple[PoolSnapshot, ...]:
        """A snapshot of every pool this client charges: budget, used, queued, paused.

        Safe from any thread (a metrics exporter's): it only reads, and needs no event loop."""
        return self._session.rate_limit_status()

    async def sync_time(self) -> float:
        """Measure the offset to the exchange's clock now (median of 3 samples), in ms."""
        return await self._session.sync_time()

    # -- endpoints -------------------------------------------------------------------------------

    async def server_time(self) -> ServerTime:
        """The exchange's clock (IP weight 1): ``GET /capi/v2/market/time``, or V3's
        ``GET /capi/v3/market/time`` (each version syncs its clock on its own path)."""
        return await self._session.send(self._api.server_time())

    async def cancel_batch_orders(
        self,
        ids: Iterable[str | int] | None = None,
        cids: Iterable[str] | None = None,
        symbol: str | None = None,
    ) -> BatchCancelResult:
        """Cancel up to 50 orders in one request: ``POST /capi/v2/order/cancel_batch_orders``.

        With ``api_version="v3"``: ``DELETE /capi/v3/batchOrders``, at most 10 ids, no symbol
        sent (V3 documents none); the answer is converted into the same ``BatchCancelResult``.

        Exactly one HTTP request is sent per attempt (IP weight 5, UID weight 10). It is retried
        only when the exchange certainly did not act: after a 429 pause, once after a timestamp
        error, and after a backoff when the request never left (``TransportError.not_sent``: no
        connection could be opened), within ``RetryPolicy.max_attempts`` and
        ``RetryPolicy.deadline``. For any number of orders, with every outcome accounted for,
        use ``cancel_orders``.

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
            TransportError: no answer came; whether orders were cancelled is unknown, unless
                its ``not_sent`` says the attempt never left (no earlier one may have arrived:
                those are not retried).
            RequestTimeoutError: ``RetryPolicy.deadline`` passed with an attempt on the wire
                (outcome unknown), or before the first was sent (``not_sent``). When it passes
                between attempts, the last attempt's own error is raised.
        """
        call = self._api.cancel_batch_orders(ids, cids, symbol)
        deadline = self.retry.deadline
        if deadline is None:
            return await self._session.send(call)
        try:
            return await self._session.send(
                call, deadline_at=asyncio.get_running_loop().time() + deadline
            )
        except DeadlineReached as reached:
            raise _deadline_error(call.endpoint.name, deadline, reached) from None

    async def cancel_orders(
        self,
        ids: Iterable[str | int] | None = None,
        cids: Iterable[str] | None = None,
        symbol: str | None = None,
        *,
        batch_size: int | None = None,
        deadline: float | None = None,
        confirm: bool = True,
    ) -> CancelReport:
        """Cancel any number of orders, and say what became of every one: the kill switch.

        **The contract.** Once the types of its arguments are read (a list of ids or of cids,
        not both), it returns a ``CancelReport`` and never raises, whatever the network, the
        exchange or the client do meanwhile. The one exception is ``asyncio.CancelledError`` when
        the task awaiting it is cancelled; then no batch is left running. Every distinct order
        asked for gets exactly one outcome:

        - ``cancelled``: the exchange said so, in a batch's answer or when the order was looked
          up;
        - ``failed``: certainly **not** cancelled by this call, with why: the exchange's refusal
          (``"FAILED_ORDER_NOT_FOUND"``: already filled or cancelled), ``"filled (found by
          lookup)"``, or ``"not sent: …"`` (a malformed id, the key refused, the deadline passed
          before it could be sent, the client closed);
        - ``unknown``: may have been cancelled, with why (an attempt went unanswered, or the
          answers were unclear, and no lookup settled it).

        How: the orders are split into batch cancels of ``batch_size`` that run concurrently
        through the limiter (so they never trip the rate limits), each order judged by its own
        item in the answer. Unanswered attempts, 5xx, unreadable answers and 429s are retried
        (``RetryPolicy``). Until a signed call has confirmed the key, one batch goes first and the
        rest follow its answer; an authentication or permission refusal stops the run, so a wrong
        secret is sent once, not once per batch. With ``confirm``, each order still unknown at
        the end is looked up (order detail, at cancel priority, within the deadline; IP 2 and UID
        2 on V2, 2 and 3 on V3, per order): cancelled, filled, or still open and cancelled again.
        Once two such looks in a row went unanswered (after their retries), no more are sent:
        the orders left stay unknown, all with one reason saying so.

        Duplicated ids are cancelled once and reported once; an empty list sends nothing.

        Args:
            ids: exchange order ids (decimal strings, or ``int``). Pass ``ids`` or ``cids``.
            cids: client order ids.
            symbol: sent with every batch when given.
            batch_size: orders per call; the client's ``batch_size`` by default, and never more
                than the session has learned the exchange accepts.
            deadline: seconds after which nothing more is sent; ``RetryPolicy.deadline`` by
                default (none).
            confirm: look up the orders still unknown at the end (by exchange id only: WEEX's
                order detail takes no client id).

        Returns:
            A ``CancelReport`` in which every distinct order asked for appears exactly once.

        Raises:
            InvalidRequestError: before anything is sent, when the arguments' types are wrong (not
                a list, both lists, ``batch_size`` not an integer from 1 to 50, ``deadline`` not a
                positive number, a bad ``symbol``, or one spelled the other version's way: V2
                ``cmt_btcusdt``, V3 ``BTCUSDT``). A malformed id is not an error: it is
                reported failed, and the others are cancelled.
            ClientClosedError: the client was already closed when called.
            EventLoopError: the client belongs to another event loop.
        """
        self._session.check_usable()
        key, names = order_names(ids, cids)
        check_symbol(symbol, self.api_version)
        if batch_size is not None:
            check_batch_size(batch_size, setting=False)
        deadline = check_deadline(deadline if deadline is not None else self.retry.deadline)
        if self.credentials is None:
            raise ConfigurationError("cancel_orders needs credentials")
        distinct = list(dict.fromkeys(names))
        if not distinct:
            return CancelReport()
        deadline_at = None if deadline is None else asyncio.get_running_loop().time() + deadline
        run = CancelRun(
            self._session,
            self._api,
            key,
            symbol,
            deadline_at,
            self._batch_limit,
            confirm=bool(confirm),
        )
        size = min(batch_size or self._batch_limit.size, self._batch_limit.size)
        started = time.perf_counter()
        report = await run.run(distinct, size)
        if self._session.observed:
            self._session.emit(
                CancelDone(
                    len(report.cancelled),
                    len(report.failed),
                    len(report.unknown),
                    report.calls,
                    time.perf_counter() - started,
                )
            )
        return report

    async def cancel_everything(
        self,
        symbols: Iterable[str] | None = None,
        *,
        deadline: float | None = None,
        include_triggers: bool = False,
    ) -> FlattenReport:
        """Leave no open order: on the whole account, or on ``symbols``; and prove it.

        Rounds, for each target (the account, or each symbol) concurrently: list its open orders
        (one page of 100, at cancel priority); if none, it is flat; else cancel them by the
        cheaper way in the rate-limit pools, one cancel-all or batch cancels of the listed ids
        (docs/flatten.md says which is chosen when); then list again. It stops when every target
        is flat, at the deadline, after 3 rounds in a row that cancelled nothing, or after 50
        rounds.

        **The contract** is ``cancel_orders``'s: once its arguments are read, it returns a
        ``FlattenReport`` and never raises, whatever the network or the exchange do; the one
        exception is ``asyncio.CancelledError`` when the awaiting task is cancelled (then nothing
        is left running).

        **What ``flat`` proves.** ``report.flat`` is true only when the last open-orders listing
        of every target, made after its last cancel, showed no order whose status is not a
        final one (filled, cancelled, rejected, expired: ``Order.is_open``; an unfamiliar status
        counts as open). Trigger (V2 plan, V3 algo) orders are not in that listing: by default
        they are left in place (they often protect open positions) and only listed, one more
        listing per target, into ``SymbolReport.triggers_open``; with ``include_triggers=True``
        they are cancelled first (one trigger cancel-all per target) and ``flat`` also needs
        an empty trigger-order listing. Positions are never closed: ``close_positions`` does
        that. docs/flatten.md says the same at length.

        Args:
            symbols: the symbols to flatten (e.g. ``["cmt_btcusdt"]``; V3: ``["BTCUSDT"]``);
                ``None``, the default, flattens the whole account (its cancel-all takes no
                symbol).
            deadline: seconds after which nothing more is sent; ``RetryPolicy.deadline`` by
                default (none).
            include_triggers: cancel trigger orders too, and call the account flat only when
                none is left; ``False`` (the default) leaves them and lists them in the report.

        Returns:
            A ``FlattenReport``: per symbol, the orders seen open at the start, those cancelled,
            those gone otherwise (filled, cancelled elsewhere), those still open (with why); the
            calls made, the rounds and the time taken.

        Raises:
            InvalidRequestError: before anything is sent: ``symbols`` not a list of symbols (a
                bare string included), an empty list, a symbol spelled the other version's way
                (V2 ``cmt_btcusdt``, V3 ``BTCUSDT``: a misspelt one would list nothing and look
                flat), ``deadline`` not a positive number.
            ConfigurationError: the client has no credentials.
            ClientClosedError: the client was already closed when called.
            EventLoopError: the client belongs to another event loop.
        """
        self._session.check_usable()
        targets = checked_symbols(symbols, self.api_version)
        deadline = check_deadline(deadline if deadline is not None else self.retry.deadline)
        if self.credentials is None:
            raise ConfigurationError("cancel_everything needs credentials")
        deadline_at = None if deadline is None else asyncio.get_running_loop().time() + deadline
        run = FlattenRun(
            self._session,
            self._api,
            self._batch_limit,
            targets,
            deadline_at,
            include_triggers=bool(include_triggers),
        )
        report = await run.run()
        if self._session.observed:
            self._session.emit(
                FlattenDone(
                    report.flat,
                    len(report.cancelled),
                    len(report.still_open),
                    report.calls,
                    report.rounds,
                    report.elapsed,
                )
            )
        return report

    async def cancel_order(
        self,
        order_id: str | int | None = None,
        *,
        client_oid: str | None = None,
        symbol: str | None = None,
    ) -> CancelOrderResult:
        """Cancel one order: ``POST /capi/v2/order/cancel_order`` (IP 2, UID 3).

        With ``api_version="v3"``: ``DELETE /capi/v3/order?orderId=…`` (or
        ``?origClientOrderId=…``; a ``symbol`` is checked but not sent). Retried like every cancel
        (safe: sent twice, the worst answer is "not found").

        Args:
            order_id: the exchange's order id. Pass ``order_id`` or ``client_oid``.
            client_oid: your client order id.
            symbol: sent on V2 when given (some copies of WEEX's docs require it).

        Returns:
            The exchange's verdict: ``result`` is false with a reason in ``err_msg`` when the
            order was not cancelled (``"FAILED_ORDER_NOT_FOUND"``: it was filled or cancelled).

        Raises:
            InvalidRequestError: before sending anything, for bad arguments.
            WeexAPIError: (a subclass) the exchange refused the call.
            TransportError: no answer came; whether the order was cancelled is unknown.
        """
        return await self._session.send(self._api.cancel_order(order_id, client_oid, symbol))

    async def cancel_all_orders(self, symbol: str | None = None) -> CancelAllResult:
        """Cancel every open (non-trigger) order, of one symbol or all of them.

        V2: ``POST /capi/v2/order/cancelAllOrders`` with ``cancelOrderType: normal`` (IP **40**,
        UID **50**: eight batch cancels' worth). V3: ``DELETE /capi/v3/allOpenOrders`` (IP 5, UID
        10). It waits behind no placement or query in the limiter's queue.

        Returns:
            The per-order verdicts the exchange listed, and (V2, whose answer is undocumented)
            the answer as decoded JSON in ``raw``.
        """
        return await self._session.send(self._api.cancel_all(symbol))

    async def place_order(self, order: OrderRequest) -> OrderAck:
        """Place one order: ``POST /capi/v2/order/placeOrder`` or V3 ``POST /capi/v3/order``
        (IP 2, UID 5).

        A placement is **never retried** once it may have reached the exchange (a lost answer can
        hide a live order; look it up by ``order.client_oid``). It is retried only after a
        timestamp error (the exchange refused it). In the limiter's queue, cancels go first.

        Returns:
            The new order's ids.

        Raises:
            InvalidRequestError: before sending anything (e.g. V3's stricter client-id rule).
            BadRequestError: the exchange answered but refused the order (V3 ``success: false``;
                ``code`` is its ``errorCode``).
            WeexAPIError: (a subclass) the exchange refused the call.
            TransportError: no answer came; the order may or may not be live.
        """
        return await self._session.send(self._api.place_order(order))

    async def place_orders(self, orders: Sequence[OrderRequest]) -> tuple[OrderAck, ...]:
        """Place up to 20 orders (V2, one symbol) or 10 (V3).

        V2: one ``POST /capi/v2/order/batchOrders`` (IP 5, UID 10). V3: one
        ``POST /capi/v3/order`` per order (IP 2, UID 5 each), sent concurrently through the
        limiter: WEEX refuses V3 batch placement (``-1150``). Never retried once it may have
        reached the exchange (see ``place_order``).

        Returns:
            One ``OrderAck`` per order, in the order given: judge each by its ``success``. An
            order whose outcome is not known has ``error_code`` ``"OUTCOME_UNKNOWN"`` (the answer
            did not mention it, or, on V3, its request got no clear answer): it may be live,
            look it up by its ``client_oid``. On V3, an order refused by its own request has
            the exchange's code and message, and one never sent (the client closed first)
            ``"NOT_SENT"``.

        Raises:
            InvalidRequestError: before sending anything: too many orders, two with one
                ``client_oid``, several symbols on V2.
            WeexAPIError: (a subclass) V2: the exchange refused the request; V3: it refused the
                key (authentication or permission; a wrong key is sent once) and no order was
                placed (a refusal beside orders placed is that order's ack, not raised).
            TransportError: V2: no answer came; the orders may or may not be live.
        """
        return await place_all(
            self._session, self._api.place_orders(orders), one_by_one=self._api.places_one_by_one
        )

    async def open_orders(
        self, symbol: str | None = None, *, limit: int | None = None, page: int | None = None
    ) -> tuple[Order, ...]:
        """The account's open orders: ``GET /capi/v2/order/current`` (IP 2, UID 2) or V3
        ``GET /capi/v3/openOrders`` (IP 2, UID 3).

        Args:
            symbol: only this symbol's orders.
            limit: page size, 1 to 100 (WEEX's default is 100).
            page: the page, from 0.
        """
        return await self._session.send(self._api.open_orders(symbol, limit, page))

    async def order_history(
        self, symbol: str | None = None, *, limit: int = 100, page: int = 0
    ) -> tuple[Order, ...]:
        """Closed orders, the most recently closed first: ``GET /capi/v2/order/history`` or V3
        ``GET /capi/v3/order/history`` (IP 10, UID 10 charged: docs/weex-facts.md).

        One page tells cancelled from filled for up to 100 orders, where ``order_detail`` tells
        it for one.

        Args:
            symbol: only this symbol's orders.
            limit: orders per page, 1 to 100.
            page: the page, from 0 (V3 is sent ``page + 1``: it counts from 1).
        """
        return await self._session.send(self._api.order_history(symbol, limit, page))

    async def open_trigger_orders(self, symbol: str | None = None) -> tuple[TriggerOrder, ...]:
        """The open trigger (conditional) orders, which ``open_orders`` does not list: V2 "plan"
        orders, ``GET /capi/v2/order/currentPlan`` (IP 3, UID 3), or V3 "algo" orders,
        ``GET /capi/v3/openAlgoOrders`` (IP 3, UID 3). The first page: up to 100.

        Args:
            symbol: only this symbol's trigger orders.

        Returns:
            Each trigger order, typed alike on both versions (judge each by ``is_open``).
        """
        return await self._session.send(self._api.open_trigger_orders(symbol))

    async def cancel_all_trigger_orders(self, symbol: str | None = None) -> CancelAllResult:
        """Cancel every open trigger (conditional) order, of one symbol or all of them: stop and
        take-profit orders that would otherwise fire after a flatten.

        V2: ``POST /capi/v2/order/cancelAllOrders`` with ``cancelOrderType: plan`` (IP 40, UID
        50). V3: ``DELETE /capi/v3/algoOpenOrders`` (IP 5, UID 10). At cancel priority, retried
        like every cancel. Ordinary orders are not touched (``cancel_all_orders`` takes those).

        Returns:
            The per-order verdicts the exchange listed; confirm with ``open_trigger_orders``.
        """
        return await self._session.send(self._api.cancel_all_triggers(symbol))

    async def close_positions(self, symbol: str | None = None) -> tuple[ClosePositionResult, ...]:
        """Market-close every open position, of one symbol or all of them: the second half of
        "flat" in a trader's sense (``cancel_everything`` never closes a position).

        V2: ``POST /capi/v2/order/closePositions``; V3: ``POST /capi/v3/closePositions``
        (UID 50 per WEEX's V3 page; IP 50 is charged, the IP weight not being documented). At
        cancel priority. **Never retried** once it may have reached the exchange: it places
        market orders, and a lost answer may hide them (look at your positions before calling
        it again). Retried only after a timestamp error, which the exchange refused.

        Args:
            symbol: only this symbol's positions (``"cmt_btcusdt"``; V3 ``"BTCUSDT"``).

        Returns:
            One ``ClosePositionResult`` per position the exchange reported on: judge each by
            ``success`` (``order_id`` is the closing market order's id). An empty tuple when
            there was no position.

        Raises:
            InvalidRequestError: before sending anything, for a bad ``symbol`` (or one spelled
                the other version's way).
            WeexAPIError: (a subclass) the exchange refused the call: nothing was closed.
            TransportError: no answer came; some positions may have been closed.
        """
        return await self._session.send(self._api.close_positions(symbol))

    async def order_detail(self, order_id: str | int) -> Order:
        """One order, open or not: ``GET /capi/v2/order/detail?orderId=…`` (IP 2, UID 2) or V3
        ``GET /capi/v3/order?orderId=…`` (IP 2, UID 3)."""
        return await self._session.send(self._api.order_detail(order_id))
