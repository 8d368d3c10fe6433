"""The error table against WEEX's documented codes (docs/weex-facts.md); bodies into errors."""

from __future__ import annotations

import httpx
import pytest

from weex_async import errors
from weex_async._decode import read_body
from weex_async.errors import (
    AuthenticationError,
    BadRequestError,
    NonJSONResponseError,
    NotFoundError,
    OrderNotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimestampError,
    UnrecognizedAPIError,
    WeexAPIError,
)

# WEEX's documented codes, row by row.
DOCUMENTED = {
    "40001": AuthenticationError,
    "40002": AuthenticationError,
    "40003": AuthenticationError,
    "40011": AuthenticationError,
    "40005": TimestampError,
    "40006": AuthenticationError,
    "40007": BadRequestError,
    "40008": TimestampError,
    "40009": AuthenticationError,
    "40012": AuthenticationError,
    "40013": PermissionDeniedError,
    "40014": PermissionDeniedError,
    "40015": ServerError,
    "40016": PermissionDeniedError,
    "40017": BadRequestError,
    "40018": PermissionDeniedError,
    "40019": BadRequestError,
    "40020": BadRequestError,
    "40912": BadRequestError,
    "40913": BadRequestError,
    "50005": OrderNotFoundError,
    "429": RateLimitError,
}


# V3's negative codes: WEEX publishes no list for the V3 contract API; these are ccxt's WEEX table
# (likely, documented as such in docs/errors.md and docs/weex-facts.md).
V3_FROM_CCXT = {
    "-1040": AuthenticationError,
    "-1041": AuthenticationError,
    "-1042": AuthenticationError,
    "-1043": TimestampError,
    "-1046": TimestampError,
    "-1044": AuthenticationError,
    "-1045": BadRequestError,
    "-1047": AuthenticationError,
    "-1049": AuthenticationError,
    "-1051": PermissionDeniedError,
    "-1052": PermissionDeniedError,
    "-1054": ServerError,
    "-1135": BadRequestError,
    "-1140": BadRequestError,
    "-1141": BadRequestError,
    "-1142": BadRequestError,
    "-1058": BadRequestError,
    "-1150": BadRequestError,
    "-3200": OrderNotFoundError,
    "-3236": PermissionDeniedError,
}


def test_table_covers_exactly_the_documented_codes() -> None:
    assert set(errors.CODE_TABLE) == set(DOCUMENTED) | set(V3_FROM_CCXT)


@pytest.mark.parametrize(("code", "cls"), sorted({**DOCUMENTED, **V3_FROM_CCXT}.items()))
def test_each_code_raises_its_class(code: str, cls: type[WeexAPIError]) -> None:
    status = 429 if code == "429" else 400
    response = httpx.Response(
        status, json={"code": code, "msg": "m", "requestTime": 1, "data": None}
    )
    with pytest.raises(cls) as info:
        read_body(response)
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.status_code == status
    assert info.value.message == "m"
    assert info.value.body["code"] == code


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (500, ServerError),
        (503, ServerError),
        (429, RateLimitError),
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, BadRequestError),
        (200, UnrecognizedAPIError),
        (409, UnrecognizedAPIError),
        (418, UnrecognizedAPIError),
    ],
)
@pytest.mark.parametrize("code", ["99999", -1999])
def test_an_unknown_code_goes_by_the_http_status_and_keeps_code_and_message(
    status: int, cls: type[WeexAPIError], code: str | int
) -> None:
    """Unrecognized only where neither the code nor the status tells (never a definite refusal)."""
    with pytest.raises(WeexAPIError) as info:
        read_body(httpx.Response(status, json={"code": code, "msg": "why not"}))
    assert type(info.value) is cls
    assert info.value.code == str(code)
    assert info.value.message == "why not"
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-1142, "Parameter 'symbol' is invalid."),
        (-1141, "Parameter 'symbol' cannot be empty."),
        (-1140, "Either orderId or origClientOrderId must be sent."),
        (-1058, "This symbol does not support API trading."),
        (-1150, "Request method 'POST' not supported"),
    ],
)
def test_v3_parameter_refusals_seen_live_are_bad_requests(code: int, message: str) -> None:
    with pytest.raises(BadRequestError) as info:
        read_body(httpx.Response(400, json={"code": code, "msg": message}))
    assert type(info.value) is BadRequestError
    assert info.value.code == str(code)
    assert info.value.message == message


def test_a_spring_style_404_is_not_found_and_says_the_path() -> None:
    body = {"timestamp": 1765000000000, "status": 404, "error": "Not Found", "path": "/capi/v3/x"}
    with pytest.raises(NotFoundError) as info:
        read_body(httpx.Response(404, json=body))
    assert isinstance(info.value, BadRequestError), "what a 404 raised before, still"
    assert info.value.code is None
    assert info.value.message == "Not Found (/capi/v3/x)"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (500, ServerError),
        (429, RateLimitError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (400, BadRequestError),
        (404, NotFoundError),
        (418, UnrecognizedAPIError),
    ],
)
def test_no_code_goes_by_the_http_status(status: int, cls: type[WeexAPIError]) -> None:
    with pytest.raises(WeexAPIError) as info:
        read_body(httpx.Response(status, json={"msg": "?"}))
    assert type(info.value) is cls


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        (-1054, 400, ServerError),  # "system error, please retry later"
        (-1140, 400, BadRequestError),  # ccxt's sample: "Either orderId or ... must be sent."
        (-3200, 400, OrderNotFoundError),
        (-1021, 400, BadRequestError),  # Binance's timestamp code, not WEEX's: by the status
        (-2013, 200, UnrecognizedAPIError),  # Binance's "order does not exist": not WEEX's
        (-1099, 500, ServerError),
    ],
)
def test_v3_integer_codes(code: int, status: int, cls: type[WeexAPIError]) -> None:
    with pytest.raises(WeexAPIError) as info:
        read_body(httpx.Response(status, json={"code": code, "msg": "m"}))
    assert type(info.value) is cls
    assert info.value.code == str(code)


def test_error_envelope_on_http_200_is_an_error() -> None:
    with pytest.raises(AuthenticationError):
        read_body(httpx.Response(200, json={"code": "40009", "msg": "sign error"}))


def test_success_envelope_is_unwrapped() -> None:
    assert read_body(httpx.Response(200, json={"code": "00000", "data": {"a": 1}})) == {"a": 1}


@pytest.mark.parametrize(
    ("status", "content"), [(521, b""), (502, b"<html>Bad gateway</html>"), (200, b"not json{")]
)
def test_non_json_body_is_its_own_error(status: int, content: bytes) -> None:
    with pytest.raises(NonJSONResponseError) as info:
        read_body(httpx.Response(status, content=content))
    assert info.value.status_code == status
    assert info.value.body == content.decode()
    assert str(status) in str(info.value)


def test_429_with_any_body_is_rate_limit_with_retry_after() -> None:
    with pytest.raises(RateLimitError) as info:
        read_body(httpx.Response(429, content=b"", headers={"Retry-After": "3"}))
    assert info.value.retry_after == 3.0


def test_tree() -> None:
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.RequestTimeoutError, errors.TransportError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.WeexError)
