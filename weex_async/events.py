"""What a client reports as it works: typed events for your own metrics.

``WeexClient(..., on_event=callback)`` calls ``callback(event)`` on the event loop, synchronously,
for each event below; keep it quick (count, observe, enqueue). It must be a plain function (an
``async def`` hook is refused when the client is built). Anything it raises, ``CancelledError``
included, is logged and dropped: it never breaks a call or changes a report. With the ``otel``
extra the same events feed OpenTelemetry instruments (docs/monitoring.md).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = [
    "CancelDone",
    "Event",
    "EventHook",
    "FlattenDone",
    "RateLimited",
    "RequestDone",
    "RetryScheduled",
]


@attrs.frozen
class RequestDone:
    """One attempt that went on the wire, answered or not.

    Attributes:
        endpoint: the endpoint's name (``"cancel_batch_orders"``, ``"open_orders_v3"``).
        attempt: 1 for the first attempt, 2 for the first retry, ...
        outcome: ``"ok"``, or the error's class name (``"RateLimitError"``, ``"TransportError"``,
            ``"RequestTimeoutError"``, ``"AuthenticationError"``, ...).
        status_code: the HTTP status, ``None`` when no answer came.
        duration: seconds from sending to the answer (or the failure).
        limiter_wait: seconds the attempt waited in the limiter before it was sent.
        not_sent: the attempt certainly never left this machine (no connection could be opened,
            or none was free in time: ``TransportError.not_sent``), so the exchange saw nothing
            and the limiter charged nothing; ``False`` for every other attempt.
    """

    endpoint: str
    attempt: int
    outcome: str
    status_code: int | None
    duration: float
    limiter_wait: float
    not_sent: bool = False


@attrs.frozen
class RetryScheduled:
    """An attempt failed and another will follow.

    Attributes:
        endpoint: the endpoint's name.
        attempt: the attempt that failed.
        reason: the error's class name.
        delay: seconds before the next attempt (a 429 also pauses the pools: ``RateLimited``).
    """

    endpoint: str
    attempt: int
    reason: str
    delay: float


@attrs.frozen
class RateLimited:
    """The exchange answered HTTP 429: the pools the call charges are paused.

    Attributes:
        endpoint: the endpoint's name.
        pause: seconds the pools are paused for (the ``Retry-After``, or ``RateLimits.ban``).
        unexplained: ``None`` when the client's own ledger explains the 429 (a pool the call
            charges was at its budget); otherwise every pool had room, and this says which
            undocumented limit could explain it (e.g. WEEX's trade calls per second, when
            ``RateLimits(trade=None)`` turned that cap off). Also logged as a WARNING.
    """

    endpoint: str
    pause: float
    unexplained: str | None = None


@attrs.frozen
class CancelDone:
    """A ``cancel_orders`` call returned its report.

    Attributes:
        cancelled: orders cancelled.
        failed: orders certainly not cancelled by the call.
        unknown: orders whose outcome is unknown.
        calls: HTTP attempts made.
        duration: seconds the call took.
    """

    cancelled: int
    failed: int
    unknown: int
    calls: int
    duration: float


@attrs.frozen
class FlattenDone:
    """A ``cancel_everything`` call returned its report.

    Attributes:
        flat: the last listing of every target showed no open order.
        cancelled: orders cancelled.
        still_open: orders the last listing showed open.
        calls: HTTP attempts made.
        rounds: listing-and-cancelling rounds.
        duration: seconds the call took.
    """

    flat: bool
    cancelled: int
    still_open: int
    calls: int
    rounds: int
    duration: float


#: Every event a client reports.
Event = RequestDone | RetryScheduled | RateLimited | CancelDone | FlattenDone
#: What ``WeexClient(on_event=...)`` takes.
EventHook = Callable[[Event], None]
