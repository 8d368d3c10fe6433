"""The one place that knows WEEX's wire format: a cattrs converter and the response reader.

Wire rules owned here:

- camelCase wire names <-> snake_case attributes (``orderIds`` -> ``order_ids``);
- ids are exact ``str`` even when the server sends a JSON number (Python's json keeps integers
  exact, and no float is ever involved), and a string sent as ``null`` is ``""``;
- booleans are booleans (``"false"`` must not become ``True`` as ``bool("false")`` would);
- a ``null`` list *inside* an answer is empty (``"failInfos": null``), but an answer that is
  itself a list (a listing, V3's cancel answers) and comes as ``null`` (``{"code": "00000",
  "data": null}``) is refused: "no data" is not "nothing open", and an empty book is ``[]``;
- unknown keys are ignored by default and forbidden by ``make_converter(strict=True)``, which the
  test suite uses to prove that every documented field is decoded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .errors import (
    NonJSONResponseError,
    UnexpectedResponseError,
    api_error_for,
)
from .models import BatchCancelResult, ServerTime, exact_decimal

T = TypeVar("T")

#: Some account endpoints wrap success as ``{"code": "00000", "data": ...}``.
SUCCESS_CODES = frozenset({"00000", "0", "200"})
#: Keys under which a list answer has been seen wrapped (V3 batch cancel: a bare list in one
#: public client, ``{"orderList": [...]}`` in another, ``{"data": [...]}`` in a third).
LIST_ENVELOPES = ("orderList", "data")

_CAMEL = re.compile(r"_([a-z])")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:  # WEEX sends absent strings as null ("client_oid": null)
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a string or an integer id, got {type(value).__name__}")
    return str(value)


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise TypeError(f"expected a boolean, got {value!r}")


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def _structure_optional_decimal(value: Any, _: Any) -> Decimal | None:
    """Prices and sizes: decimal strings (or JSON numbers) -> exact ``Decimal``; ``""`` -> None."""
    if value is None or value == "":
        return None
    number = exact_decimal(value)
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


# Public models whose wire names are their camelCase (``orderIds`` -> ``order_ids``). Every other
# attrs class is read with its attribute names as the wire names: the batch cancel items
# (snake_case on the wire) and each version's wire shapes (``_v2``, ``_v3``), so a new wire shape
# needs no registration here.
_CAMEL_ON_WIRE: frozenset[type[Any]] = frozenset({BatchCancelResult, ServerTime})

#: What structuring a payload into the wrong shape can raise.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    cattrs.BaseValidationError,
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
)


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build the converter. ``strict=True`` forbids unknown keys (used by the tests)."""
    converter = cattrs.Converter(forbid_extra_keys=strict)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook_func(
        lambda t: t == Decimal | None, _structure_optional_decimal
    )
    # ``object``: the answer as decoded JSON, for answers WEEX does not document (V2 cancel all).
    converter.register_structure_hook_func(lambda t: t is object, lambda value, _: value)

    def attrs_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
        renames: dict[str, Any] = {}
        if cls in _CAMEL_ON_WIRE:
            renames = {f.name: override(rename=_camel(f.name)) for f in attrs.fields(cls)}
        return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=strict, **renames)

    converter.register_structure_hook_factory(attrs.has, attrs_hook)

    def list_hook(cls: Any) -> Callable[[Any, Any], Any]:
        item = get_args(cls)[0]

        def structure(value: Any, _: Any) -> tuple[Any, ...]:
            if value is None:  # WEEX sends empty lists as null ("failInfos": null)
                return ()
            if not isinstance(value, list):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            return tuple(converter.structure(element, item) for element in value)

        return structure

    converter.register_structure_hook_factory(_is_list_shape, list_hook)
    return converter


def _is_list_shape(cls: Any) -> bool:
    """``tuple[X, ...]``: how a JSON list is typed in the wire shapes and models."""
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


CONVERTER = make_converter()

_NOT_JSON = object()
_STRUCTURE_ERRORS: tuple[type[Exception], ...] = (*DECODE_ERRORS, RecursionError)


def _shape_name(cls: Any) -> str:
    if _is_list_shape(cls):
        return f"list of {_shape_name(get_args(cls)[0])}"
    return str(getattr(cls, "__name__", cls))


class Answer(Protocol):
    """An HTTP answer, read whole: what every reader reads. ``httpx.Response`` is one; the
    aiohttp backend hands its own (``_http``), so neither backend pays for the other's models.
    """

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive, as both libraries' header maps are."""
        ...

    @property
    def content(self) -> bytes: ...


def encode_body(body: Any) -> bytes:
    """Serialize a request body once: these exact bytes are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _excerpt(response: Answer) -> str:
    return response.content[:500].decode("utf-8", "replace")


def _retry_after(response: Answer) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _error_message(body: Any) -> str:
    """The error's text: WEEX's ``msg``, or a Spring-style ``error`` and ``path`` (V3 answers an
    unknown path with ``{"status": 404, "error": "Not Found", "path": ...}``)."""
    if not isinstance(body, dict):
        return ""
    if body.get("msg"):
        return str(body["msg"])
    if body.get("error"):
        path = body.get("path")
        return f"{body['error']} ({path})" if isinstance(path, str) and path else str(body["error"])
    return ""


def read_body(response: Answer) -> Any:
    """Return the success payload of ``response`` or raise the matching error.

    Raises:
        NonJSONResponseError: the body is empty or not JSON (except a 429, always a RateLimitError).
        WeexAPIError: (a subclass) the status is an error, or the body is an error envelope.
    """
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = _NOT_JSON
    except RecursionError:  # JSON nested deeper than any answer WEEX documents
        raise UnexpectedResponseError(
            f"HTTP {status}: an answer nested too deeply to read",
            status_code=status,
            body=_excerpt(response),
        ) from None
    if body is _NOT_JSON or body is None:
        if status == 429:  # a 429 means a ban whatever its body: the pools must pause
            raise api_error_for(
                status, None, "Too Many Requests", retry_after=_retry_after(response)
            )
        raise NonJSONResponseError(
            f"HTTP {status} with a body that is not JSON: {_excerpt(response)!r}",
            status_code=status,
            body=_excerpt(response),
        )
    code = body.get("code") if isinstance(body, dict) else None
    code = None if code is None else str(code)
    if status >= 400 or (code is not None and code not in SUCCESS_CODES and "msg" in body):
        message = _error_message(body)
        raise api_error_for(
            status, code, message or f"HTTP {status}", body, retry_after=_retry_after(response)
        )
    if code in SUCCESS_CODES and isinstance(body, dict) and "data" in body:
        return body["data"]
    return body


def decode(response: Answer, cls: type[T], converter: cattrs.Converter = CONVERTER) -> T:
    """Read ``response`` and structure its payload as ``cls``.

    Raises:
        UnexpectedResponseError: the payload does not have the documented shape; carries the raw
            body, never a cattrs traceback.
    """
    payload = read_body(response)
    if payload is None and _is_list_shape(cls):
        # Not the nested-null rule (list_hook): read as (), a listing of ``data: null`` would
        # call a book with orders resting empty. WEEX sends an empty listing as ``[]``.
        raise UnexpectedResponseError(
            f"HTTP {response.status_code}: the answer is not a {_shape_name(cls)}: its data is"
            " null (an empty list is [])",
            status_code=response.status_code,
            body=_excerpt(response),
        )
    if isinstance(payload, dict) and _is_list_shape(cls):
        wrapped = [key for key in LIST_ENVELOPES if isinstance(payload.get(key), list)]
        if len(payload) == 1 and wrapped:
            payload = payload[wrapped[0]]
    try:
        return converter.structure(payload, cls)
    except _STRUCTURE_ERRORS as exc:
        detail = (
            "; ".join(cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise UnexpectedResponseError(
            f"HTTP {response.status_code}: the answer is not a {_shape_name(cls)}: {detail}",
            status_code=response.status_code,
            body=_excerpt(response),
        ) from None


__all__ = [
    "CONVERTER",
    "DECODE_ERRORS",
    "SUCCESS_CODES",
    "Answer",
    "decode",
    "encode_body",
    "make_converter",
    "read_body",
]
