"""What is sent: ``Endpoint`` (one REST endpoint, as data) and ``Call`` (one request of it).

An endpoint declares its weights, so an endpoint without weights cannot be declared, and a call
cannot be sent without one: the limiter never fails open. Each API version's endpoints are declared
in its own module (``_v2``, ``_v3``); the recipe for a new one is in CONTRIBUTING.md.

A ``Call[R]`` carries everything one request needs — its endpoint, the exact body bytes, the query,
and the reader that turns the answer into an ``R`` — so the request layer (``_session``) runs every
call the same way and hands back an ``R``, typed end to end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

import attrs
import cattrs

from ._decode import CONVERTER, Answer, decode, encode_body
from ._limiter import Priority
from .errors import ApiVersionRetiredError, ResponseDecodeError, WeexAPIError

__all__ = [
    "RETIRED",
    "Again",
    "Call",
    "Endpoint",
    "Retirement",
    "declared",
    "request",
    "retired_error",
    "under_base_path",
]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


def _check_weight(instance: Endpoint[Any], attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{instance.name}: {attribute.name} must be an int >= 0")


@attrs.frozen
class Endpoint(Generic[T]):
    """One REST endpoint.

    Attributes:
        name: the endpoint's name in logs and errors (the client method, plus ``_v3`` on V3).
        method: the HTTP method.
        path: the request path.
        ip_weight: weight charged to the IP pool per call (every call has one).
        uid_weight: weight charged to the account pool per call (every signed call has one).
        signed: whether the call carries ACCESS-* headers.
        response_type: the wire shape the answer decodes into (checked key by key by the strict
            converter in the tests).
        idempotent: safe to send again when the first answer was lost.
        priority: the call's place in the limiter's queue.
        trade: counts against the trade-rate cap (place / cancel).
    """

    name: str
    method: str
    path: str
    ip_weight: int = attrs.field(validator=_check_weight)
    uid_weight: int = attrs.field(validator=_check_weight)
    signed: bool
    response_type: type[T]
    idempotent: bool
    priority: Priority
    trade: bool = False

    def __attrs_post_init__(self) -> None:
        if self.ip_weight < 1 or (self.signed and self.uid_weight < 1):
            raise ValueError(f"{self.name}: every call needs its IP (and, if signed, UID) weight")


@attrs.frozen
class Again:
    """What a reader returns for "the exchange answered, but not about everything I asked: send
    this call again" (``Session.send`` documents what it does with it).

    A reader never raises for this: an exception says the answer failed, while ``Again`` says it
    was read (and what it settled is recorded) and only the rest is still open.

    Attributes:
        reason: what the answer left unsettled, for logs and events.
    """

    reason: str


def declared(namespace: Mapping[str, object]) -> tuple[Endpoint[Any], ...]:
    """Every ``Endpoint`` a module declares (or imports): its ``globals()``, in order."""
    return tuple(value for value in namespace.values() if isinstance(value, Endpoint))


@attrs.frozen
class Call(Generic[R]):
    """One request, ready to send: built (and its arguments checked) before anything is sent.

    Attributes:
        endpoint: what it calls (weights, priority, idempotency).
        content: the body's exact bytes (``b""`` for none): these are signed and sent.
        params: the query, if any.
        read: turns the HTTP answer into the result with a converter (raising the error tree's
            errors); ``result()`` calls it.
    """

    endpoint: Endpoint[Any]
    content: bytes
    params: Mapping[str, str] | None
    read: Callable[[Answer, cattrs.Converter], R]

    def result(self, answer: Answer, converter: cattrs.Converter = CONVERTER) -> R:
        """The result this answer gives (the tests pass ``make_converter(strict=True)``)."""
        return self.read(answer, converter)

    def at_priority(self, priority: Priority) -> Call[R]:
        """The same request, waiting in the limiter's queue at ``priority``."""
        return attrs.evolve(self, endpoint=attrs.evolve(self.endpoint, priority=priority))

    def then(self, convert: Callable[[R], S]) -> Call[S]:
        """The same request, its result passed through ``convert``."""
        read = self.read

        def then_read(answer: Answer, converter: cattrs.Converter) -> S:
            return convert(read(answer, converter))

        return Call(self.endpoint, self.content, self.params, then_read)


@attrs.frozen
class Retirement:
    """An API version WEEX announced it retires: its paths, the date, and what to use instead."""

    version: str
    prefix: str
    sunset: str
    certainty: str
    use: str


#: V2's retirement: WEEX's docs label it "V2 (Sunsets Sep 30)" without a year; WEEX's V3
#: changelog (2026-03) says V2 is retired, so the year is very likely 2026 (docs/api-versions.md).
RETIRED = (Retirement("v2", "/capi/v2/", "2026-09-30", "the year is likely", "v3"),)

#: Statuses that say the path is gone, whatever the body.
_GONE_STATUSES = (404, 410)


def _html(answer: Answer) -> bool:
    kind = answer.headers.get("content-type", "").lower()
    return "html" in kind or answer.content.lstrip()[:1] == b"<"


def retired_error(
    endpoint: Endpoint[Any], answer: Answer, error: Exception
) -> ApiVersionRetiredError | None:
    """The error to raise instead of ``error`` when ``answer`` says that the endpoint's API
    version is gone: HTTP 404 or 410, or an HTML page on a status below 400 (a 403 or 5xx page
    is an outage or a block, not a retirement). ``None`` otherwise."""
    retired = next((r for r in RETIRED if endpoint.path.startswith(r.prefix)), None)
    status = answer.status_code
    page = status < 400 and isinstance(error, ResponseDecodeError) and _html(answer)
    if retired is None or not (status in _GONE_STATUSES or page):
        return None
    if page:
        said = (
            f"an HTML page (HTTP {status}) where the API answers JSON: if this persists, WEEX API "
            f"{retired.version.upper()} may be retired"
        )
    else:
        said = f"HTTP {status} (no such endpoint): WEEX API {retired.version.upper()} looks retired"
    message = (
        f"{endpoint.method} {endpoint.path} answered {said} (WEEX announced its sunset for "
        f'{retired.sunset}; {retired.certainty}). Use api_version="{retired.use}" (command '
        f"line: --api-version {retired.use}, or WEEX_API_VERSION={retired.use})"
    )
    code = error.code if isinstance(error, WeexAPIError) else None
    body = error.body if isinstance(error, (WeexAPIError, ResponseDecodeError)) else None
    return ApiVersionRetiredError(
        message,
        status_code=status,
        code=code,
        body=body,
        api_version=retired.version,
        use=retired.use,
        sunset=retired.sunset,
        definite=not page,
    )


def under_base_path(
    error: ApiVersionRetiredError, endpoint: Endpoint[Any], base_path: str
) -> ApiVersionRetiredError:
    """``error`` said of a call sent under a base URL with a path (``base_path``, e.g. ``/api``):
    a wrong URL is then the likelier cause, and the message adds so."""
    message = (
        f"{error.message}; or the base URL is wrong: its path {base_path!r} comes before "
        f"{endpoint.path} (WEEX's API is at the host's root)"
    )
    return ApiVersionRetiredError(
        message,
        status_code=error.status_code,
        code=error.code,
        body=error.body,
        api_version=error.api_version,
        use=error.use,
        sunset=error.sunset,
        definite=error.definite,
    )


@overload
def request(
    endpoint: Endpoint[T], *, body: object = None, params: Mapping[str, str] | None = None
) -> Call[T]: ...


@overload
def request(
    endpoint: Endpoint[T],
    convert: Callable[[T], R],
    *,
    body: object = None,
    params: Mapping[str, str] | None = None,
) -> Call[R]: ...
def request(
    endpoint: Endpoint[Any],
    convert: Callable[[Any], Any] | None = None,
    *,
    body: object = None,
    params: Mapping[str, str] | None = None,
) -> Call[Any]:
    """A call of ``endpoint``: ``body`` serialized once, the answer decoded as the endpoint's
    ``response_type``, then passed through ``convert`` (into a public model) when given."""
    shape = endpoint.response_type

    def read(answer: Answer, converter: cattrs.Converter) -> Any:
        try:
            wire = decode(answer, shape, converter)
        except (WeexAPIError, ResponseDecodeError) as exc:
            gone = retired_error(endpoint, answer, exc)
            if gone is None:
                raise
            raise gone from exc
        return wire if convert is None else convert(wire)

    content = encode_body(body) if body is not None else b""
    return Call(endpoint, content, params or None, read)
