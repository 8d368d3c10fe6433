"""Every exception weex_async raises, in one tree.

::

    WeexError
    ├── ConfigurationError (also ValueError)     bad settings or credentials; nothing was sent
    ├── InvalidRequestError (also ValueError)    a call refused before sending (e.g. 51 ids)
    ├── ClientClosedError (also RuntimeError)    the client was used after aclose()
    ├── EventLoopError (also RuntimeError)       used from an event loop other than its own
    ├── TransportError                           no HTTP answer: connect / read / write failure
    │   └── RequestTimeoutError                  ... because a timeout expired
    ├── ResponseDecodeError                      an answer we cannot read
    │   ├── NonJSONResponseError                 the body is not JSON (a 521 with an empty body)
    │   └── UnexpectedResponseError              JSON, but not the documented shape
    └── WeexAPIError                             the exchange answered with an error
        ├── AuthenticationError                  key, signature or passphrase rejected
        ├── TimestampError                       ACCESS-TIMESTAMP malformed or outside 30 s
        ├── PermissionDeniedError                frozen user, missing permission, illegal IP
        ├── BadRequestError                      parameters rejected
        │   └── OrderNotFoundError               the order is not open (filled or cancelled)
        ├── RateLimitError                       HTTP 429: the pools pause for the ban
        ├── ServerError                          5xx or WEEX's "system error" (40015)
        └── UnrecognizedAPIError                 a code this SDK does not know: outcome unknown

``WeexAPIError`` is chosen by ``api_error_for`` from the body's ``code`` first (the table
``CODE_TABLE``: WEEX's documented V2 codes, and V3's negative codes), a code it does not know
being ``UnrecognizedAPIError``, and from the HTTP status when the body has no code. No message of
any error contains a secret: they are built from the response, never from the request's headers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CODE_TABLE",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "EventLoopError",
    "InvalidRequestError",
    "NonJSONResponseError",
    "OrderNotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ServerError",
    "TimestampError",
    "TransportError",
    "UnexpectedResponseError",
    "UnrecognizedAPIError",
    "WeexAPIError",
    "WeexError",
    "api_error_for",
]

_BODY_EXCERPT = 500


class WeexError(Exception):
    """The base of every exception raised by weex_async."""


class ConfigurationError(WeexError, ValueError):
    """A setting or credential is invalid or missing. Nothing was sent."""


class InvalidRequestError(WeexError, ValueError):
    """A call's arguments were refused before anything was sent."""


class ClientClosedError(WeexError, RuntimeError):
    """The client was used after ``aclose()`` (or outside its ``async with`` block)."""


class EventLoopError(WeexError, RuntimeError):
    """A client (or a ``Limiter``) was used from an event loop other than the one it first ran on.

    Its connections, timers and waiters belong to that loop: create one client per event loop
    (per thread, or per ``asyncio.run``).
    """


class TransportError(WeexError):
    """No HTTP answer came: the connection failed, was dropped, or a write/read failed.

    Whether the exchange acted on the request is unknown.
    """


class RequestTimeoutError(TransportError):
    """A connect, read, write or pool timeout expired before an answer came."""


class ResponseDecodeError(WeexError):
    """The exchange answered something we cannot read.

    Attributes:
        status_code: the HTTP status.
        body: the start of the raw body text (at most 500 characters).
    """

    def __init__(self, message: str, *, status_code: int, body: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body[:_BODY_EXCERPT]


class NonJSONResponseError(ResponseDecodeError):
    """The body is not JSON (an HTML error page, or empty as in a load balancer's 521)."""


class UnexpectedResponseError(ResponseDecodeError):
    """The body is JSON but not the documented shape for this endpoint."""


class WeexAPIError(WeexError):
    """The exchange answered with an error.

    Attributes:
        status_code: the HTTP status.
        code: the exchange's error code, as a string (``"40009"``), or ``None`` if absent.
        message: the exchange's ``msg``.
        body: the decoded JSON body (or ``None``).
    """

    def __init__(
        self, message: str, *, status_code: int, code: str | None, body: Any = None
    ) -> None:
        super().__init__(f"HTTP {status_code}, code {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.body = body


class AuthenticationError(WeexAPIError):
    """The key, signature, passphrase or an ACCESS-* header was rejected. Never retried."""


class TimestampError(WeexAPIError):
    """ACCESS-TIMESTAMP was malformed (40005) or outside 30 s of server time (40008)."""


class PermissionDeniedError(WeexAPIError):
    """The account may not do this (frozen, missing permission, IP not allowed). Never retried."""


class BadRequestError(WeexAPIError):
    """The exchange rejected the parameters. Never retried."""


class OrderNotFoundError(BadRequestError):
    """The order does not exist or is no longer open (usually already filled or cancelled)."""


class RateLimitError(WeexAPIError):
    """HTTP 429: a rate limit was exceeded and the IP or account is banned for a while.

    Attributes:
        retry_after: seconds from the ``Retry-After`` header, or ``None`` when not sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, body=body)
        self.retry_after = retry_after


class ServerError(WeexAPIError):
    """The exchange failed (5xx, or its documented "system error" 40015)."""


class UnrecognizedAPIError(WeexAPIError):
    """The exchange answered with an error code this SDK does not know.

    Whether it acted on the request is unknown, so it is never taken for a definite refusal:
    ``cancel_orders`` retries it like a lost answer and reports ``unknown`` if it persists.
    """


#: The exchange's error codes (docs/weex-facts.md, docs/errors.md) and the class each one raises.
CODE_TABLE: dict[str, type[WeexAPIError]] = {
    "40001": AuthenticationError,  # ACCESS-KEY header missing
    "40002": AuthenticationError,  # ACCESS-SIGN header missing
    "40003": AuthenticationError,  # ACCESS-TIMESTAMP header missing
    "40011": AuthenticationError,  # ACCESS-PASSPHRASE header missing
    "40006": AuthenticationError,  # invalid ACCESS-KEY
    "40009": AuthenticationError,  # signature verification failed
    "40012": AuthenticationError,  # API key or passphrase incorrect
    "40005": TimestampError,  # invalid ACCESS-TIMESTAMP
    "40008": TimestampError,  # request timestamp expired (outside 30 s)
    "40013": PermissionDeniedError,  # user frozen
    "40014": PermissionDeniedError,  # incorrect permissions
    "40016": PermissionDeniedError,  # must bind phone or Google Authenticator
    "40018": PermissionDeniedError,  # illegal IP
    "40007": BadRequestError,  # invalid Content-Type
    "40017": BadRequestError,  # parameter verification failed
    "40019": BadRequestError,  # parameter empty
    "40020": BadRequestError,  # parameter invalid
    "40912": BadRequestError,  # single cancellation cannot exceed 50
    "40913": BadRequestError,  # either orderId or clientId must be provided
    "50005": OrderNotFoundError,  # order does not exist
    "40015": ServerError,  # system error
    "429": RateLimitError,  # too many requests
    # V3 answers errors with negative integer codes. WEEX publishes no list; these come from
    # ccxt's WEEX table (likely; docs/weex-facts.md). A code in neither table is unrecognized:
    # whether the exchange acted is then unknown (UnrecognizedAPIError), never a definite refusal.
    "-1040": AuthenticationError,  # ACCESS_KEY header missing
    "-1041": AuthenticationError,  # ACCESS_SIGN header missing
    "-1042": AuthenticationError,  # ACCESS_TIMESTAMP header missing
    "-1043": TimestampError,  # invalid timestamp
    "-1046": TimestampError,  # timestamp expired
    "-1044": AuthenticationError,  # invalid access key
    "-1045": BadRequestError,  # invalid Content-Type
    "-1047": AuthenticationError,  # API authentication failed (a bad signature)
    "-1049": AuthenticationError,  # API key or passphrase incorrect
    "-1051": PermissionDeniedError,  # permission denied
    "-1052": PermissionDeniedError,  # insufficient permissions
    "-1054": ServerError,  # system error, "please retry later"
    "-1135": BadRequestError,  # invalid JSON
    "-1140": BadRequestError,  # parameter validation error
    "-1150": BadRequestError,  # request method not supported
    "-3200": OrderNotFoundError,  # order does not exist
    "-3236": PermissionDeniedError,  # no API permission
}


def _class_for_code(code: str) -> type[WeexAPIError] | None:
    return CODE_TABLE.get(code)


def _class_for_status(status_code: int) -> type[WeexAPIError]:
    if status_code == 429:
        return RateLimitError
    if status_code >= 500:
        return ServerError
    if status_code == 401:
        return AuthenticationError
    if status_code == 403:
        return PermissionDeniedError
    if status_code in (400, 404, 422):
        return BadRequestError
    return WeexAPIError


def api_error_for(
    status_code: int,
    code: str | None,
    message: str,
    body: Any = None,
    retry_after: float | None = None,
) -> WeexAPIError:
    """Build the exception for an error answer: by ``code`` first, then by HTTP status."""
    cls = _class_for_code(code) if code is not None else None
    if status_code == 429:
        cls = RateLimitError
    elif status_code >= 500 and cls is None:
        cls = ServerError
    elif cls is None:
        cls = UnrecognizedAPIError if code is not None else _class_for_status(status_code)
    if cls is RateLimitError:
        return RateLimitError(
            message, status_code=status_code, code=code, body=body, retry_after=retry_after
        )
    return cls(message, status_code=status_code, code=code, body=body)
