"""The request layer: ``Session`` sends every call, and owns the only retry loop.

One attempt is: admit through the limiter (charged), build, sign, send, read the answer. The
timestamp is read when the wire signs the request, i.e. after the limiter's wait, so a request that
waited 10 s for budget is still signed with a fresh timestamp; every retry is admitted (charged)
again and signed again. ``Session.send`` repeats attempts as ``RetryPolicy`` decides, within an
optional deadline, and reports what happened to a ``Trace`` when the caller wants to know more than
the result (``cancel_orders`` does).

The session holds what it sends through, each built elsewhere: the settings are checked by
``_checks``, the wire (the HTTP backend) is chosen and built by ``_http``, the server-time offset
is kept by ``_clock.TimeSync``. Its waits (backoff, deadlines) are read on an injectable
``Clock``, the running event loop's unless one is given.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import httpx

from ._checks import (
    HttpBackend,
    check_count,
    check_hook,
    check_http_backend,
    check_instance,
    check_locale,
    check_setting,
    check_timeout,
    check_transport,
    checked_base_url,
)
from ._clock import DeadlineReached, ServerClock, TimeSync, now_on, sleep_for, wait_within
from ._decode import Answer
from ._endpoints import Again, Call, Endpoint, under_base_path
from ._http import NoAnswer, http_wire
from ._limiter import ClientLimiter, Limiter, PoolSnapshot, RateLimits
from ._limiter._admission import Clock
from ._metrics import recorder
from ._retry import Decision, RetryPolicy
from ._signing import Credentials, Signer
from .errors import (
    ApiVersionRetiredError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    EventLoopError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
    WeexAPIError,
    WeexError,
)
from .events import Event, EventHook, RateLimited, RequestDone, RetryScheduled
from .models import ServerTime

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIME_SYNC_INTERVAL",
    "DeadlineReached",
    "Session",
    "Trace",
]

R = TypeVar("R")

log = logging.getLogger("weex_async")

#: WEEX's futures (contract) REST API.
DEFAULT_BASE_URL = "https://api-contract.weex.com"
#: Per-request timeouts: a cancel unanswered after 10 s is better reported than awaited.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Requests on the wire at once per client (= httpx's connection pool size).
DEFAULT_MAX_IN_FLIGHT = 10
#: Seconds an idle connection is kept for reuse. httpx's own default (5 s) closes every
#: connection after a few seconds of quiet, so a kill switch fired after a quiet minute opened
#: new ones (TCP and TLS handshakes at the worst moment). A connection the exchange closed
#: meanwhile is seen when it is next taken (its socket reads as closed) and replaced then.
DEFAULT_KEEPALIVE_EXPIRY = 300.0
#: Seconds between background server-time syncs while the client is open.
DEFAULT_TIME_SYNC_INTERVAL = 300.0

_CLOSED = "this WeexClient is closed; create a new one (a closed client cannot be reopened)"


@attrs.define
class Trace:
    """What the attempts of one ``Session.send`` did, for a caller that must know.

    Attributes:
        sent: attempts that went to the wire (each one charged; one whose connection could not
            be opened included: its error says ``not_sent``).
        in_flight: an attempt is on the wire now.
        unclear: some attempt went unanswered or was answered unreadably: the exchange may have
            acted on it (an attempt that certainly never left, ``TransportError.not_sent``, does
            not count).
        on_send: called as each attempt goes on the wire (``cancel_orders`` notes where each
            attempt of a batch stood among the run's confirmed cancels).

    A trace given to a later ``send`` of the same request (``cancel_orders`` sends a batch whose
    attempt went unanswered again after a listing) goes on counting: its attempts are numbered,
    and ``RetryPolicy.max_attempts`` counted, from where the earlier sends left off.
    """

    sent: int = 0
    in_flight: bool = False
    unclear: bool = False
    on_send: Callable[[], None] | None = attrs.field(default=None, eq=False, repr=False)


class Session:
    """Sends calls: the limiter, the HTTP client, signing, the server clock and the retry loop.

    ``WeexClient`` documents the arguments; ``time_call`` is the API version's server-time call;
    ``clock`` is what backoffs, deadlines and the time sync's waits are read on (the running
    event loop when ``None``; the limiter keeps its own, ``Limiter(clock=...)``).
    """

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        base_url: str,
        rate_limits: RateLimits,
        limiter: Limiter | None,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float | httpx.Timeout,
        max_in_flight: int,
        retry: RetryPolicy,
        sync_time: bool,
        time_sync_interval: float,
        locale: str | None,
        http_backend: HttpBackend,
        time_call: Call[ServerTime],
        on_event: EventHook | None = None,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        clock: Clock | None = None,
    ) -> None:
        check_instance("credentials", credentials, Credentials)
        check_count("max_in_flight", max_in_flight)
        check_setting("time_sync_interval", time_sync_interval)
        check_setting("keepalive_expiry", keepalive_expiry)
        check_timeout(timeout)
        check_locale(locale)
        check_hook("on_event", on_event)
        check_http_backend(http_backend)
        check_instance("limiter", limiter, Limiter)
        url = checked_base_url(base_url)
        check_transport(transport, http_backend)
        self.credentials = credentials
        self.base_url = str(url)
        self._base_path = url.path.rstrip("/")  # WEEX's API is at the root: "" there
        self.rate_limits = rate_limits
        self.retry = retry
        self._time_call = time_call
        #: who hears the events: the user's hook, and OpenTelemetry when installed
        self._hook = on_event
        self._recorder = recorder()
        #: build events only when someone listens (no cost otherwise)
        self.observed = self._hook is not None or self._recorder is not None
        if self._recorder is not None:
            self._recorder.watch(self)
        #: backoffs and deadlines are read on it (``None``: the running loop)
        self._clock = clock
        self._server_clock = ServerClock()
        self._time_sync = TimeSync(
            self._server_clock,
            self._fetch_server_ms,
            enabled=sync_time,
            interval=time_sync_interval,
            closed=lambda: self._closed,
            clock=clock,
        )
        #: a signed call was answered by the exchange as something other than a refusal of the key
        self._key_confirmed = False
        self._limiter = ClientLimiter(
            rate_limits,
            url.netloc.decode("ascii"),
            credentials.api_key if credentials is not None else None,
            max_in_flight,
            limiter,
        )
        #: signs every signed call, once per attempt, after the limiter's wait
        self._signer = Signer(credentials, self._server_clock.now_ms) if credentials else None
        self._wire = http_wire(
            url,
            transport=transport,
            http_backend=http_backend,
            timeout=timeout,
            max_in_flight=max_in_flight,
            keepalive_expiry=keepalive_expiry,
            locale=locale,
        )
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def check_usable(self) -> None:
        """Raise unless this session can send now: open, and on its own event loop.

        Raises:
            ClientClosedError: after ``aclose()``.
            EventLoopError: the running loop is not the one the session first ran on.
        """
        if self._closed:
            raise ClientClosedError(_CLOSED)
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise EventLoopError(
                "this WeexClient was first used on another event loop, which owns its "
                "connections and timers; create one client per event loop (per thread, or per "
                "asyncio.run)"
            )

    async def aclose(self) -> None:
        """Close: callers waiting for admission get ``ClientClosedError`` at once, the
        background time sync stops, the pools are let go of and the connections closed. A
        request already on the wire ends with its answer or with the closed connection."""
        if self._closed:
            return
        self._closed = True
        if self._recorder is not None:
            self._recorder.forget(self)
        await self._limiter.aclose(lambda: ClientClosedError(_CLOSED))
        await self._time_sync.aclose()
        await self._wire.aclose()

    @property
    def key_confirmed(self) -> bool:
        """A signed call got an answer that was not a refusal of the key: the key, secret and
        passphrase are known to be right."""
        return self._key_confirmed

    # -- observability -----------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Tell the listeners; one that raises is logged and never breaks the call.

        Whatever a listener raises is dropped, ``CancelledError`` included: a listener runs
        synchronously and cannot be the target of a task's cancellation, so a ``CancelledError``
        from it is its own bug, and must not pass for the cancellation of a kill switch (which
        would report every order unknown, or abandon a flatten)."""
        if self._recorder is not None:
            try:
                self._recorder.record(event)
            except (Exception, asyncio.CancelledError):
                log.exception("OpenTelemetry metrics: recording %s failed", type(event).__name__)
        if self._hook is not None:
            try:
                returned: object = self._hook(event)
            except (Exception, asyncio.CancelledError):
                log.exception("on_event raised on %s: the event is dropped", type(event).__name__)
            else:
                if inspect.isawaitable(returned):  # an async callable the check could not see
                    if inspect.iscoroutine(returned):
                        returned.close()  # never awaited: no "never awaited" warning either
                    log.error(
                        "on_event returned an awaitable on %s: it is not awaited (pass a plain "
                        "function; hand the event to a queue or a task yourself)",
                        type(event).__name__,
                    )

    @property
    def time_offset_ms(self) -> float:
        return self._server_clock.offset_ms

    def rate_limit_status(self) -> tuple[PoolSnapshot, ...]:
        return self._limiter.snapshot()

    # -- the call path -----------------------------------------------------------------------------

    async def send(
        self,
        call: Call[R],
        *,
        retry_unclear: bool = False,
        deadline_at: float | None = None,
        trace: Trace | None = None,
    ) -> R:
        """Send ``call`` until it succeeds or ``RetryPolicy`` says stop; return its result.

        A reader may return ``Again`` (``_endpoints``): the answer was read, but it left part of
        the request unsettled. The call is then sent again, like a retry after an unclear
        outcome (idempotent calls only: after a backoff, charged and signed again, within
        ``RetryPolicy.max_attempts`` and the deadline; ``trace.unclear`` is set, since the
        exchange may have acted on what its answer did not mention). When the policy allows no
        more attempts, that last ``Again`` is returned to the caller, never raised.

        Args:
            call: the request.
            retry_unclear: also retry (idempotent calls only) after errors that leave the outcome
                unknown; the caller then accounts for what an unanswered attempt may have done.
            deadline_at: time on the session's clock (the event loop's by default) after which
                no attempt starts, and an attempt under way is abandoned (``DeadlineReached``).
            trace: filled in with what the attempts did.

        Raises:
            WeexError: (a subclass) the last attempt's error, once the policy says stop.
            DeadlineReached: only with ``deadline_at``.
        """
        self.check_usable()
        endpoint = call.endpoint
        if endpoint.signed:
            await self._before_signed_call(endpoint, deadline_at)
        trace = trace if trace is not None else Trace()
        attempt = trace.sent  # a trace given again goes on counting (and the policy with it)
        resynced = False
        last_error: WeexError | None = None
        while True:
            attempt += 1
            self.check_usable()  # closed meanwhile: nothing more is sent
            try:
                result = await self._attempt_within(call, attempt, trace, deadline_at, last_error)
            except WeexError as exc:
                last_error = exc
                decision = self._decide(exc, attempt, endpoint, trace, retry_unclear, resynced)
                if decision is Decision.STOP:
                    raise
                resynced = resynced or decision is Decision.RESYNC
                await self._before_retry(decision, exc, attempt, endpoint, deadline_at)
                continue
            if not isinstance(result, Again):
                return result
            trace.unclear = True  # the exchange may have acted on what it did not mention
            if attempt >= self.retry.max_attempts or not endpoint.idempotent:
                return result
            await self._back_off(endpoint, attempt, "Again", deadline_at)

    async def _before_signed_call(self, endpoint: Endpoint[Any], deadline_at: float | None) -> None:
        """A signed call needs credentials, and waits for the first time sync (within half the
        time its deadline leaves)."""
        if self._signer is None:
            raise ConfigurationError(f"{endpoint.name} needs credentials")
        await self._time_sync.before_signed_call(endpoint.priority, deadline_at)

    async def _attempt_within(
        self,
        call: Call[R],
        attempt: int,
        trace: Trace,
        deadline_at: float | None,
        last_error: WeexError | None,
    ) -> R:
        """One attempt, abandoned (``DeadlineReached``) when the deadline passes first."""
        if deadline_at is None:
            return await self._attempt(call, attempt, trace)
        left = deadline_at - now_on(self._clock)
        if left <= 0:
            raise DeadlineReached(attempt - 1, False, last_error)
        sent_before = trace.sent
        try:
            return await wait_within(self._clock, left, self._attempt(call, attempt, trace))
        except asyncio.TimeoutError:
            raise DeadlineReached(attempt, trace.sent > sent_before, last_error) from None

    def _decide(
        self,
        error: WeexError,
        attempt: int,
        endpoint: Endpoint[Any],
        trace: Trace,
        retry_unclear: bool,
        resynced: bool,
    ) -> Decision:
        """What ``RetryPolicy`` makes of a failed attempt (noting an unclear outcome)."""
        if self.retry.outcome_unknown(error):
            trace.unclear = True
        return self.retry.decide(
            error,
            attempt,
            idempotent=endpoint.idempotent,
            can_resync=self._time_sync.enabled and not resynced,
            retry_unknown=retry_unclear,
        )

    async def _before_retry(
        self,
        decision: Decision,
        error: WeexError,
        attempt: int,
        endpoint: Endpoint[Any],
        deadline_at: float | None,
    ) -> None:
        """Between a failed attempt and the next: a resync, a backoff, or nothing."""
        if decision is Decision.BACKOFF:
            await self._back_off(endpoint, attempt, type(error).__name__, deadline_at)
            return
        if self.observed:
            self.emit(RetryScheduled(endpoint.name, attempt, type(error).__name__, 0.0))
        if decision is Decision.RESYNC:
            await self._time_sync.resync()

    async def back_off(
        self,
        call: Call[Any],
        trace: Trace,
        reason: str,
        deadline_at: float | None,
        *,
        waited: float = 0.0,
    ) -> None:
        """Wait the policy's backoff after the last attempt of ``call`` (``trace.sent``), less
        ``waited`` seconds already spent since it failed, no later than the deadline, said first
        (``RetryScheduled``): for a caller that sends a call again itself, giving ``send`` the
        same trace (``cancel_orders`` does, once a listing says which orders are still open)."""
        await self._back_off(call.endpoint, trace.sent, reason, deadline_at, waited)

    async def _back_off(
        self,
        endpoint: Endpoint[Any],
        attempt: int,
        reason: str,
        deadline_at: float | None,
        waited: float = 0.0,
    ) -> None:
        """Wait the policy's backoff after ``attempt`` (no later than the deadline), said first."""
        wait = max(0.0, self.retry.backoff(attempt) - waited)
        if deadline_at is not None:
            wait = min(wait, max(0.0, deadline_at - now_on(self._clock)))
        if self.observed:
            self.emit(RetryScheduled(endpoint.name, attempt, reason, wait))
        await sleep_for(self._clock, wait)

    async def _attempt(self, call: Call[R], attempt: int, trace: Trace) -> R:
        endpoint = call.endpoint
        async with self._limiter.admit(endpoint) as ticket:
            if self._closed:  # closed while this call waited: not sent, so refunded on exit
                raise ClientClosedError(_CLOSED)
            ticket.mark_sent()
            trace.sent += 1
            trace.in_flight = True
            if trace.on_send is not None:
                trace.on_send()
            sent_at = time.perf_counter()
            try:
                response = await self._wire.send(
                    endpoint.method,
                    endpoint.path,
                    call.params,
                    call.content,
                    self._signer if endpoint.signed else None,
                )
                ticket.mark_answered()  # it arrived by now: its weight's window is known
            except BaseException as exc:
                if isinstance(exc, NoAnswer) and exc.not_sent:
                    ticket.mark_not_sent()  # it never arrived: no weight of any window is used
                error = self._unanswered(exc, endpoint.name, attempt, trace)
                if self.observed:
                    not_sent = isinstance(exc, NoAnswer) and exc.not_sent
                    self._done(
                        endpoint.name, attempt, error, None, sent_at, ticket.waited, not_sent
                    )
                if error is exc:
                    raise
                raise error from exc
            finally:
                trace.in_flight = False
        log.debug(
            "%s attempt %d: HTTP %d after waiting %.3fs for the limiter",
            endpoint.name,
            attempt,
            response.status_code,
            ticket.waited,
        )
        try:
            result = await self._read(call, response)
        except BaseException as exc:
            if self.observed:
                self._done(endpoint.name, attempt, exc, response, sent_at, ticket.waited)
            raise
        if self.observed:
            self._done(endpoint.name, attempt, None, response, sent_at, ticket.waited)
        return result

    def _unanswered(
        self, exc: BaseException, endpoint: str, attempt: int, trace: Trace
    ) -> BaseException:
        """The error to raise for a request that got no answer (a cancellation stays as it is)."""
        if not isinstance(exc, NoAnswer):
            return exc
        # not_sent is carried to the error, so a run can tell "nothing reached the exchange"
        # (the connection could not be opened) from "no answer came" (RetryPolicy.never_sent)
        if exc.timed_out:
            log.debug("%s attempt %d: timeout (%s)", endpoint, attempt, exc.what)
            return RequestTimeoutError(
                f"{endpoint}: no answer in time ({exc.what})", not_sent=exc.not_sent
            )
        log.debug("%s attempt %d: transport error %s", endpoint, attempt, exc.what)
        if self._closed:
            if exc.not_sent:  # closed before its connection was open: nothing went out
                return ClientClosedError(_CLOSED)
            trace.unclear = True  # the close cut the connection: the outcome is unknown
            return ClientClosedError(f"{_CLOSED} (while {endpoint} was on the wire)")
        return TransportError(f"{endpoint}: {exc.what}", not_sent=exc.not_sent)

    async def _read(self, call: Call[R], response: Answer) -> R:
        """The answer's result, or its error; learns from it (usage headers, a 429, the key)."""
        endpoint = call.endpoint
        self._limiter.observe_headers(endpoint, response.headers)
        # An answer below 400 that is not an error envelope, or a refusal of the parameters,
        # means the exchange took the key, secret and passphrase.
        confirms = endpoint.signed and response.status_code < 400
        try:
            result = call.result(response)
        except RateLimitError as exc:
            unexplained = self._limiter.unexplained(endpoint)
            pause = await self._limiter.rate_limited(endpoint, exc.retry_after)
            if unexplained is not None:
                log.warning(
                    "HTTP 429 on %s that the rate limits do not explain: %s",
                    endpoint.name,
                    unexplained,
                )
            if self.observed:
                self.emit(RateLimited(endpoint.name, pause, unexplained))
            raise
        except ApiVersionRetiredError as exc:  # no such path: whether the key is right is not known
            if self._base_path:
                raise under_base_path(exc, endpoint, self._base_path) from exc
            raise
        except NotFoundError:
            raise
        except BadRequestError:
            self._key_confirmed = self._key_confirmed or endpoint.signed
            raise
        except WeexAPIError:
            raise
        except WeexError:
            self._key_confirmed = self._key_confirmed or confirms
            raise
        self._key_confirmed = self._key_confirmed or confirms
        return result

    def _done(
        self,
        endpoint: str,
        attempt: int,
        error: BaseException | None,
        response: Answer | None,
        sent_at: float,
        waited: float,
        not_sent: bool = False,
    ) -> None:
        outcome = "ok" if error is None else type(error).__name__
        status = None if response is None else response.status_code
        duration = time.perf_counter() - sent_at
        self.emit(RequestDone(endpoint, attempt, outcome, status, duration, waited, not_sent))

    # -- server time -------------------------------------------------------------------------------

    async def sync_time(self) -> float:
        """Measure the offset to the exchange's clock now (median of 3 samples), in ms.

        Raises:
            WeexError: (a subclass) the time endpoint did not answer.
        """
        self.check_usable()
        return await self._time_sync.sync(None)

    async def _fetch_server_ms(self, deadline_at: float | None) -> int:
        """The exchange's clock, read once through this session (the time sync's sample)."""
        answer = await self.send(self._time_call, retry_unclear=True, deadline_at=deadline_at)
        return answer.timestamp
