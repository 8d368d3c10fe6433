"""Every argument check and every limit on what a call may carry, defined once.

A check raises ``InvalidRequestError`` (a call's arguments) or ``ConfigurationError`` (a setting)
before anything is sent. The limits come from WEEX's pages; how sure each one is, and its source,
is in docs/weex-facts.md.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterable
from typing import Any, Literal, get_args

import httpx

from .errors import ConfigurationError, InvalidRequestError

__all__ = [
    "API_VERSIONS",
    "DEFAULT_BATCH_SIZE",
    "HTTP_BACKENDS",
    "MAX_CID_LENGTH",
    "MAX_IDS_V2",
    "MAX_ORDER_ID",
    "MAX_IDS_V3",
    "MAX_ORDERS_V2",
    "MAX_ORDERS_V3",
    "V3_CID_PATTERN",
    "ApiVersion",
    "canonical_id",
    "HttpBackend",
    "Key",
    "check_batch_size",
    "check_count",
    "check_deadline",
    "check_hook",
    "check_locale",
    "check_http_backend",
    "check_instance",
    "check_setting",
    "check_timeout",
    "check_symbol",
    "check_symbol_spelling",
    "check_transport",
    "checked_base_url",
    "checked_symbols",
    "checked_names",
    "name_problem",
    "order_names",
    "one_name",
    "page_query",
]

ApiVersion = Literal["v2", "v3"]
HttpBackend = Literal["httpx", "aiohttp"]
#: How a cancel names its orders: by exchange id, or by client order id.
Key = Literal["ids", "cids"]
API_VERSIONS: tuple[ApiVersion, ...] = get_args(ApiVersion)
HTTP_BACKENDS: tuple[HttpBackend, ...] = get_args(HttpBackend)

#: The most ids in one V2 batch cancel (the text of WEEX's error 40912; no page documents it).
MAX_IDS_V2 = 50
#: The most ids in one V3 batch cancel (WEEX's V3 page).
MAX_IDS_V3 = 10
#: Orders per V2 batch placement (WEEX's V2 page), and per V3 one (its V3 page).
MAX_ORDERS_V2 = 20
MAX_ORDERS_V3 = 10
#: Orders per batch cancel in ``cancel_orders`` by default (then capped by the API version).
DEFAULT_BATCH_SIZE = MAX_IDS_V2
#: Client order ids: at most 40 characters on V2 (WEEX's V2 page).
MAX_CID_LENGTH = 40
#: Client order ids on V3: 1 to 36 of these characters (WEEX's V3 page).
V3_CID_PATTERN = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
#: Exchange order ids: decimal, at most 20 digits (a leading zero is the same number).
_ORDER_ID = re.compile(r"[0-9]{1,20}")
#: What a client order id or a symbol may hold on any version: no space, no control character.
_NO_SPACE = re.compile(r"\S+")


def _printable(text: str) -> bool:
    """No space, control character or lone surrogate (which could not even be encoded)."""
    return bool(_NO_SPACE.fullmatch(text)) and text.isprintable()


#: The largest order id: WEEX's ids are Java ``Long`` values (V3 types its id lists
#: ``Array<Long>`` and sends ids as JSON numbers), so ``2**63 - 1`` (likely: docs/weex-facts.md).
MAX_ORDER_ID = 2**63 - 1


def canonical_id(name: str) -> str:
    """An exchange id as the exchange reads it: a number (``"0596"`` is order ``596``)."""
    return str(int(name)) if name.isdigit() else name


def name_problem(key: Key, name: str, cid_pattern: re.Pattern[str] | None = None) -> str | None:
    """Why ``name`` cannot be sent as an order of kind ``key``, or ``None`` if it can."""
    if key == "ids":
        if not _ORDER_ID.fullmatch(name):
            return f"order id {name[:60]!r} is not a decimal string of 1 to 20 digits"
        if int(name) > MAX_ORDER_ID:
            # Such a number is no order's id, and in a V3 batch (ids as JSON numbers) it could
            # get the whole batch refused: it is failed on its own instead.
            return (
                f"order id {name!r} is not a positive 64-bit integer: WEEX's ids are signed "
                f"64-bit (Java Long), at most {MAX_ORDER_ID}"
            )
        return None
    if cid_pattern is not None and not cid_pattern.fullmatch(name):
        return f"client order id {name[:60]!r} does not match the rule {cid_pattern.pattern}"
    if not 1 <= len(name) <= MAX_CID_LENGTH or not _printable(name):
        return (
            f"client order id {name[:60]!r} must be 1 to {MAX_CID_LENGTH} printable "
            "characters without spaces"
        )
    return None


def _as_name(key: Key, item: object) -> str:
    """One order name as sent: ids may be ``int`` (sent as their decimal string)."""
    if isinstance(item, str):
        return item
    if key == "ids" and isinstance(item, int) and not isinstance(item, bool):
        if item <= 0:
            raise InvalidRequestError(f"order id {item} is not a positive 64-bit integer")
        return str(item)  # its size is checked as a string's is (name_problem)
    kinds = "strings or integers" if key == "ids" else "strings"
    raise InvalidRequestError(f"{key} must contain {kinds}; got {type(item).__name__}")


def _names(key: Key, values: Iterable[Any] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise InvalidRequestError(f"{key} must be a list of strings, not a single string")
    if not isinstance(values, Iterable):
        raise InvalidRequestError(f"{key} must be a list, not a single {type(values).__name__}")
    return [_as_name(key, item) for item in values]


def order_names(ids: Iterable[Any] | None, cids: Iterable[Any] | None) -> tuple[Key, list[str]]:
    """Read which orders are named: ``("ids" | "cids", names)``; only the types are checked.

    Raises:
        InvalidRequestError: both lists or neither, or a list of the wrong type.
    """
    id_list = _names("ids", ids)
    cid_list = _names("cids", cids)
    if id_list is not None and cid_list is not None:
        raise InvalidRequestError("pass ids or cids, not both (WEEX documents one list per call)")
    if id_list is not None:
        return "ids", id_list
    if cid_list is not None:
        return "cids", cid_list
    raise InvalidRequestError("pass ids or cids: the orders to cancel")


def checked_names(
    key: Key, names: list[str], limit: int, cid_pattern: re.Pattern[str] | None
) -> list[str]:
    """The names of one batch cancel, each checked (nothing is sent on error)."""
    if not names:
        raise InvalidRequestError(f"{key} is empty: pass at least one id")
    if len(names) > limit:
        raise InvalidRequestError(
            f"{len(names)} {key} in one call; at most {limit} (use cancel_orders for any number)"
        )
    for name in names:
        problem = name_problem(key, name, cid_pattern)
        if problem is not None:
            raise InvalidRequestError(problem)
    return names


def one_name(
    order_id: object, client_oid: object, cid_pattern: re.Pattern[str] | None
) -> tuple[Key, str]:
    """The one order named by ``order_id`` or ``client_oid`` (exactly one), checked."""
    if (order_id is None) == (client_oid is None):
        raise InvalidRequestError("pass order_id or client_oid (exactly one)")
    key: Key = "ids" if order_id is not None else "cids"
    value = order_id if order_id is not None else client_oid
    (name,) = checked_names(key, [_as_name(key, value)], 1, cid_pattern)
    return key, name


def check_symbol(symbol: object, version: ApiVersion | None = None) -> None:
    """A call's optional ``symbol``: a short printable string, and, given the client's API
    ``version``, spelled as that version spells symbols (``check_symbol_spelling``)."""
    if symbol is None:
        return
    if not isinstance(symbol, str) or len(symbol) > 40 or not _printable(symbol):
        raise InvalidRequestError(
            f"symbol must be a non-empty string such as 'cmt_btcusdt', got {symbol!r}"
        )
    if version is not None:
        check_symbol_spelling(symbol, version)


#: How each API version spells a symbol, as an example.
_SPELLING: dict[ApiVersion, str] = {"v2": "cmt_btcusdt", "v3": "BTCUSDT"}
#: What can be a symbol of each version (docs/weex-facts.md). V2: ``cmt_`` and a lower-case
#: base of letters and digits (an inner ``_`` let through: not certainly wrong); so never
#: ``cmt_`` alone, ``cmt_btcusdt_`` or ``cmt_BTCUSDT``. V3: upper-case ASCII letters and digits.
_SYMBOL_PATTERN: dict[ApiVersion, re.Pattern[str]] = {
    "v2": re.compile(r"cmt_[a-z0-9](?:[a-z0-9_]*[a-z0-9])?"),
    "v3": re.compile(r"[A-Z0-9]+"),
}


def check_symbol_spelling(symbol: str, version: ApiVersion) -> None:
    """Refuse a symbol spelled the other API version's way (V2 ``cmt_btcusdt``, V3 ``BTCUSDT``),
    or one that cannot be a symbol of ``version`` at all (V2: ``cmt_`` alone, ``cmt_btcusdt_``,
    ``cmt_BTCUSDT``; V3: anything but upper-case ASCII letters and digits).

    The exchange matches such a symbol to no order: a listing filtered by it shows nothing (and
    ``cancel_everything`` would call the account flat with its orders resting), a cancel by it
    finds nothing to cancel. So every call taking a symbol checks it before anything is sent,
    and the error names the spelling meant."""
    if _SYMBOL_PATTERN[version].fullmatch(symbol):
        return
    # a suggestion only from ASCII: dropping full-width or accented letters would name another
    # symbol (full-width 'BTC' + 'USDT' is not 'USDT')
    stem = symbol[4:] if symbol.lower().startswith("cmt_") else symbol
    base = re.sub(r"[^0-9A-Za-z]", "", stem) if symbol.isascii() else ""
    meant = f"cmt_{base.lower()}" if version == "v2" else base.upper()
    said = f"which spells it {meant!r}" if base else f"which spells symbols {_SPELLING[version]!r}"
    raise InvalidRequestError(
        f"symbol {symbol!r} is misspelt for WEEX {version.upper()}, {said} (V2 spells symbols "
        f"'cmt_btcusdt', V3 'BTCUSDT'): a misspelt symbol matches no order, so a listing "
        "would show none (and look flat) and a cancel would cancel none"
    )


def checked_symbols(symbols: object, version: ApiVersion | None = None) -> list[str] | None:
    """``cancel_everything``'s symbols: ``None`` (the whole account), or a non-empty list of
    symbols, each checked (and, given the API ``version``, its spelling), duplicates dropped (in
    the order given)."""
    if symbols is None:
        return None
    if isinstance(symbols, (str, bytes)) or not isinstance(symbols, Iterable):
        raise InvalidRequestError(
            f"symbols must be a list of symbols (or None for all), got {symbols!r}"
        )
    given = list(symbols)
    for symbol in given:
        if symbol is None:
            raise InvalidRequestError("symbols must not contain None")
        check_symbol(symbol, version)
    if not given:
        raise InvalidRequestError("symbols is empty: pass None to flatten the whole account")
    return list(dict.fromkeys(given))


def page_query(symbol: object, limit: object, page: object, version: ApiVersion) -> dict[str, str]:
    """The query of a page of orders, checked: ``symbol`` (spelled as ``version`` spells it),
    ``limit``, ``page`` when given."""
    check_symbol(symbol, version)
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100
    ):
        raise InvalidRequestError("limit must be an integer from 1 to 100")
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 0):
        raise InvalidRequestError("page must be an integer >= 0")
    query = {"symbol": symbol, "limit": limit, "page": page}
    return {name: str(value) for name, value in query.items() if value is not None}


def check_batch_size(value: object, *, setting: bool) -> int:
    """A batch size: an integer from 1 to ``MAX_IDS_V2`` (a setting, or a call's argument)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_IDS_V2:
        error = ConfigurationError if setting else InvalidRequestError
        raise error(f"batch_size must be an integer from 1 to {MAX_IDS_V2}, got {value!r}")
    return value


def check_deadline(value: object) -> float | None:
    """A deadline in seconds: a positive finite number, or ``None`` for none."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidRequestError(f"deadline must be a positive number of seconds, got {value!r}")
    return float(value)


def check_setting(name: str, value: object, *, zero: bool = False) -> float:
    """A setting measured in seconds or weight: a finite number > 0 (``zero``: >= 0).

    ``inf`` or ``nan`` (a window, a ban, a jitter) can only hang the limiter or make every call
    fail, and 0 or less can only break its contract, so they are refused where they are set.

    Raises:
        ConfigurationError: naming the setting and the value (a setting is never a secret).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        wanted = "a finite number >= 0" if zero else "a finite number > 0"
        raise ConfigurationError(f"{name} must be {wanted}, got {value!r}")
    return value


def check_timeout(timeout: object) -> None:
    """``timeout``: seconds (a finite number > 0), or an ``httpx.Timeout`` whose every part is
    one or ``None`` (no limit, as httpx reads it). 0 or less made every request fail at once,
    reported as an unknown outcome, so a kill switch only looked its orders up, again and again.

    Raises:
        ConfigurationError: naming the part and its value.
    """
    if isinstance(timeout, httpx.Timeout):
        for part in ("connect", "read", "write", "pool"):
            value = getattr(timeout, part)
            if value is not None:
                check_setting(f"timeout.{part}", value)
        return
    check_setting("timeout", timeout)


#: A ``locale`` header's value: a language tag (``en-US``, ``zh-CN``), nothing an HTTP header
#: cannot carry (white space, CR, LF: refused on the wire for every request).
_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


def check_locale(locale: object) -> None:
    """``locale``: a language tag such as ``en-US``, or ``None`` / ``""`` (no header).

    Raises:
        ConfigurationError: quoting the value (a locale is never a secret).
    """
    if locale not in (None, "") and (not isinstance(locale, str) or not _LOCALE.fullmatch(locale)):
        raise ConfigurationError(f"locale must be a language tag such as 'en-US', got {locale!r}")


def check_hook(name: str, hook: object) -> None:
    """A hook: ``None``, or a plain (synchronous) callable.

    A coroutine function is refused: it would be called and never awaited (its work silently
    lost), and awaiting it on the event loop would let a slow hook hold up the calls it reports.

    Raises:
        ConfigurationError: not callable, or an ``async def`` function (or object whose
            ``__call__`` is one).
    """
    if hook is None:
        return
    if not callable(hook):
        raise ConfigurationError(f"{name} must be a function, got {type(hook).__name__}")
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
    ):
        raise ConfigurationError(
            f"{name} must be a plain function, not an async one: it is called synchronously on "
            "the event loop; to do async work, hand the event to a queue or create a task"
        )


def check_count(name: str, value: object) -> int:
    """A setting that counts something (``max_in_flight``): an integer >= 1.

    Raises:
        ConfigurationError: naming the setting.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer")
    return value


def check_instance(name: str, value: object, kind: type) -> None:
    """A setting that is ``None`` or a ``weex_async.<kind>`` (``credentials``, ``limiter``).

    Raises:
        ConfigurationError: naming the setting and the public type it must be.
    """
    if value is not None and not isinstance(value, kind):
        raise ConfigurationError(f"{name} must be a weex_async.{kind.__name__}")


def check_http_backend(http_backend: object) -> None:
    """``http_backend`` is one of ``HTTP_BACKENDS``.

    Raises:
        ConfigurationError: an unknown backend.
    """
    if http_backend not in HTTP_BACKENDS:
        raise ConfigurationError(f"http_backend must be one of {HTTP_BACKENDS}")


def check_transport(transport: object, http_backend: HttpBackend) -> None:
    """aiohttp's backend builds its own transport: it is not given with ``transport``.

    Raises:
        ConfigurationError: both given.
    """
    if http_backend == "aiohttp" and transport is not None:
        raise ConfigurationError("pass transport= or http_backend='aiohttp', not both")


def checked_base_url(base_url: str) -> httpx.URL:
    """``base_url`` parsed: an http(s) URL with a host.

    Raises:
        ConfigurationError: quoting the URL given.
    """
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}")
    return url
