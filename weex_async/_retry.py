"""The retry policy: which failures are tried again, how often and how far apart."""

from __future__ import annotations

import enum
import random
from typing import Any

import attrs

from ._checks import check_setting
from .errors import (
    ApiVersionRetiredError,
    ConfigurationError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TimestampError,
    TransportError,
    UnrecognizedAPIError,
)

__all__ = ["Decision", "RetryPolicy"]


class Decision(enum.Enum):
    """What to do after a failed attempt."""

    STOP = "stop"  #: give up: raise (or report) the error
    RESYNC = "resync"  #: measure server time again, then retry at once
    RETRY = "retry"  #: retry at once (the limiter makes the wait, e.g. a 429 pause)
    BACKOFF = "backoff"  #: wait ``backoff()``, then retry


def _attempts(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must be an integer >= 1")


def _seconds(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_setting(f"RetryPolicy.{attribute.name}", value, zero=True)


def _deadline(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    # 0, a negative or a nan deadline would let every kill switch start already late: each
    # cancel_orders would report every order unknown without sending one.
    if value is not None:
        check_setting(f"RetryPolicy.{attribute.name}", value)


@attrs.frozen
class RetryPolicy:
    """When a call is sent again.

    Rules:

    - Every attempt is admitted by the limiter again (charged again) and signed again with a fresh
      timestamp.
    - Never retried: authentication, permission and parameter errors (``AuthenticationError``,
      ``PermissionDeniedError``, ``BadRequestError``): repeating them risks the key being disabled
      by WEEX's risk control, and the answer would not change.
    - A ``TimestampError`` (40005 / 40008) is retried once, after re-syncing with server time.
    - An HTTP 429 pauses the pools for the ban; idempotent calls are then retried.
    - Every idempotent call (batch cancel, queries) is retried, after a backoff, after a
      transport error that came before the request left (``never_sent``: a refused connection,
      a connect or pool timeout): nothing reached the exchange, so nothing is unknown.
    - Only ``cancel_orders``, ``cancel_everything`` and the time sync retry an error that leaves
      the outcome unknown: transport errors and timeouts, 5xx (521 included), unreadable bodies,
      and errors that neither their code nor their HTTP status explains
      (``UnrecognizedAPIError``); the runs account for orders an unanswered attempt may have
      cancelled. ``cancel_batch_orders`` returns the exchange's own answer, so it retries only
      what certainly did nothing (429, timestamp, never sent), within ``deadline``.
    - Waits between attempts: ``backoff_initial * 2**n`` capped at ``backoff_max``, with full
      jitter (a random fraction of it), so that many callers do not retry in step.

    Attributes:
        max_attempts: attempts per request, the first included (1 = never retry).
        backoff_initial: the first wait before a retry, in seconds.
        backoff_max: the longest wait between two attempts, in seconds.
        deadline: seconds after which ``cancel_orders`` stops retrying and reports what is left as
            unknown, and after which ``cancel_batch_orders`` starts no attempt (and abandons one
            on the wire); ``None`` for no deadline.
    """

    max_attempts: int = attrs.field(default=4, validator=_attempts)
    backoff_initial: float = attrs.field(default=0.1, validator=_seconds)
    backoff_max: float = attrs.field(default=2.0, validator=_seconds)
    deadline: float | None = attrs.field(default=None, validator=_deadline)

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (retry - 1))
        return (rng or random).uniform(0.0, ceiling)

    def decide(
        self,
        error: BaseException,
        attempt: int,
        *,
        idempotent: bool,
        can_resync: bool,
        retry_unknown: bool,
    ) -> Decision:
        """Apply the rules above to the error of attempt number ``attempt``.

        Args:
            error: what the attempt raised.
            attempt: 1 for the first attempt.
            idempotent: the call is safe to send again.
            can_resync: a server-time resync is possible and has not been done for this call.
            retry_unknown: retry errors that leave the outcome unknown (``cancel_orders`` does,
                ``cancel_batch_orders`` does not).
        """
        if isinstance(error, TimestampError):
            return Decision.RESYNC if can_resync else Decision.STOP
        if attempt >= self.max_attempts or not idempotent:
            return Decision.STOP
        if self.refused(error):
            return Decision.RETRY
        # a request that never left is retried by every idempotent call: nothing is unknown
        if self.never_sent(error) or (retry_unknown and self.outcome_unknown(error)):
            return Decision.BACKOFF
        return Decision.STOP

    @staticmethod
    def outcome_unknown(error: BaseException) -> bool:
        """True for failures after which the exchange may or may not have acted (not for a
        request that certainly never left: ``never_sent``)."""
        if isinstance(error, ApiVersionRetiredError):  # a 404 or 410: the path is gone
            return not error.definite
        if RetryPolicy.never_sent(error):
            return False
        return isinstance(
            error, (TransportError, ServerError, ResponseDecodeError, UnrecognizedAPIError)
        )

    @staticmethod
    def never_sent(error: BaseException) -> bool:
        """True for a transport failure before the request left (``TransportError.not_sent``:
        no connection could be opened, or none was free in time): the exchange did nothing.
        Retried as transport errors are (it leaves nothing unknown, so nothing to look up)."""
        return isinstance(error, TransportError) and error.not_sent

    @staticmethod
    def refused(error: BaseException) -> bool:
        """True for failures the exchange certainly did not act on, worth trying again."""
        return isinstance(error, RateLimitError)
