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
    │   │   └── ApiVersionRetiredError *         V2 answered as if gone: use api_version="v3"
    │   └── UnexpectedResponseError              JSON, but not the documented shape
    └── WeexAPIError                             the exchange answered with an error
        ├── AuthenticationError                  key, signature or passphrase rejected
        ├── TimestampError                       ACCESS-TIMESTAMP malformed or outside 30 s
        ├── PermissionDeniedError                frozen user, missing permission, illegal IP
        ├── BadRequestError                      parameters rejected
        │   ├── OrderNotFoundError               the order is not open (filled or cancelled)
        │   └── NotFoundError                    HTTP 404: no such path (or thing) here
        │       └── ApiVersionRetiredError *     * one class under both parents (404, 410, HTML)
        ├── RateLimitError                       HTTP 429: the pools pause for the ban
        ├── ServerError                          5xx or WEEX's "system error" (40015)
        └── UnrecognizedAPIError                 neither code nor HTTP status tells: outcome unknown

``WeexAPIError`` is chosen by ``api_error_for`` from the body's ``code`` first (the table
``CODE_TABLE``: WEEX's documented V2 codes, and V3's negative codes), then, for a code it does not
know or no code, from the HTTP status (``STATUS_TABLE``: 400, 401, 403, 404, 422, 429; 5xx); only
where neither tells is it ``UnrecognizedAPIError``. No message of any error contains a secret:
they are built from the response, never from the request's headers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CODE_TABLE",
    "STATUS_TABLE",
    "ApiVersionRetiredError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "EventLoopError",
    "InvalidRequestError",
    "NonJSONResponseError",
    "NotFoundError",
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

    Whether the exchange acted on the request is unknown, unless ``not_sent`` says it never got
    it.

    Attributes:
        not_sent: the request certainly never left this machine, so the exchange did nothing
            with it: no connection could be opened (refused, unreachable, a failed TLS
            handshake, a connect timeout), or none was free before the pool timeout. ``False``
            (the default) when it may have been sent: a read or write failure, a timeout once
            sent, a kept-alive connection found dropped.
    """

    def __init__(self, message: str = "", *, not_sent: bool = False) -> None:
        super().__init__(message)
        self.not_sent = not_sent


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


class NotFoundError(BadRequestError):
    """HTTP 404 with a code this SDK does not know, or none: the exchange has no such path (V3
    answers an unknown ``/capi/v3/`` path so) or no such thing. The request was not acted on."""


class ApiVersionRetiredError(NotFoundError, NonJSONResponseError):
    """An API version answered as if it were gone: a V2 call answered HTTP 404 or 410, or with an
    HTML page where JSON was expected (on a status below 400). WEEX announced V2's retirement
    (docs/api-versions.md); the message says which version to use instead.

    Both a ``NotFoundError`` and a ``NonJSONResponseError``, so code that caught what these
    answers raised before still catches it. A 404 or 410 is ``definite``: never retried, and
    ``cancel_orders`` reports its orders failed with this message, and sends nothing more once a
    second batch is answered so (one 404 may be a proxy's passing fault). An HTML
    page is not: a proxy's passing error page looks the same, so it is retried like any
    unreadable answer, and only says "may be retired" if it persists.

    Attributes:
        definite: the path is gone (HTTP 404 or 410), not only an HTML page where JSON was due.
        api_version: the version that answered so (``"v2"``).
        use: the version to use instead (``"v3"``).
        sunset: the announced retirement date (``"2026-09-30"``; the year is likely, not
            confirmed).
        status_code: the HTTP status.
        code: the body's code, if it had one.
        message: the explanation (also ``str(error)``).
        body: the decoded JSON body, or the start of the raw text.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None,
        body: Any,
        api_version: str,
        use: str,
        sunset: str,
        definite: bool,
    ) -> None:
        WeexError.__init__(self, message)
        self.definite = definite
        self.status_code = status_code
        self.code = code
        self.message = message
        self.body = body[:_BODY_EXCERPT] if isinstance(body, str) else body
        self.api_version = api_version
        self.use = use
        self.sunset = sunset


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
    """The exchange answered an error that neither its code nor its HTTP status explains (an
    unknown code on HTTP 200, or an unusual 4xx such as 409 or 418).

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
    "-1054": ServerError,  # system error, "please retry later" (also "FAILED_PRECONDITION: ...")
    "-1135": BadRequestError,  # invalid JSON
    "-1140": BadRequestError,  # parameter validation error
    # Seen from the live exchange (HTTP 400), recorded by ccxt's tests (likely):
    "-1141": BadRequestError,  # "Parameter 'symbol' cannot be empty."
    "-1142": BadRequestError,  # "Parameter 'symbol' is invalid." (also for 'limit')
    "-1058": BadRequestError,  # the symbol does not accept API orders (only some contracts do)
    "-1150": BadRequestError,  # request method not supported (POST /capi/v3/batchOrders)
    "-3200": OrderNotFoundError,  # order does not exist
    "-3236": PermissionDeniedError,  # no API permission
}


#: The HTTP statuses that say what kind of refusal an error is when its code does not (a code
#: this SDK does not know, or none). Any 5xx is a ``ServerError``; any other status tells nothing.
STATUS_TABLE: dict[int, type[WeexAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def _class_for_status(status_code: int) -> type[WeexAPIError]:
    if status_code >= 500:
        return ServerError
    return STATUS_TABLE.get(status_code, UnrecognizedAPIError)


def api_error_for(
    status_code: int,
    code: str | None,
    message: str,
    body: Any = None,
    retry_after: float | None = None,
) -> WeexAPIError:
    """Build the exception for an error answer: by ``code`` first, then by HTTP status; an
    HTTP 429 is always a ``RateLimitError`` (the pools must pause, whatever the body says)."""
    cls = CODE_TABLE.get(code) if code is not None else None
    if status_code == 429:
        cls = RateLimitError
    elif cls is None:
        cls = _class_for_status(status_code)
    if cls is RateLimitError:
        return RateLimitError(
            message, status_code=status_code, code=code, body=body, retry_after=retry_after
        )
    return cls(message, status_code=status_code, code=code, body=body)


def brief(error: BaseException) -> str:
    """An error as the reports and logs say it: its type and its message (never a secret: no
    error of this package carries one)."""
    return f"{type(error).__name__}: {error}"
