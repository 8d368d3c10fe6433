"""``FakeExchange``: a WEEX stand-in, as a plain ASGI app (no web framework needed).

It checks private requests the way WEEX documents them (docs/weex-facts.md: headers,
Content-Type, timestamp window, HMAC over the exact bytes received, key and passphrase), keeps open
orders per account so cancels have real outcomes, meters IP and UID weight with an exact sliding
window counted at arrival (answering 429 and banning when a call would exceed), records what it
admitted, and injects faults.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import attrs

from .._limiter import _rules
from .._limiter._rules import IP, TRADE, UID, Rule
from .._signing import sign
from ._faults import DroppedConnection, Fault, Faults
from ._measure import Meter, worst_window
from ._order_desk import ROUTES, FakeAccount, FakePosition, OrderDesk, Request
from ._transport import FakeTransport

__all__ = ["Arrival", "FakeAccount", "FakeExchange"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Largest body the fake reads; beyond it the request is refused (40017).
MAX_BODY_BYTES = 1 << 20
#: WEEX rejects timestamps more than this far from its clock (40008).
TIMESTAMP_TOLERANCE_MS = 30_000

#: The public (unsigned) server-time paths: V2's and V3's.
_TIME_V2, _TIME_V3 = "/capi/v2/market/time", "/capi/v3/market/time"
#: (IP weight, UID weight) per (method, path): the public times, and every signed route.
WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", _TIME_V2): (1, 0),
    ("GET", _TIME_V3): (1, 0),
    **{route: (ip, uid) for route, (ip, uid, _) in ROUTES.items()},
}
_PATHS = {path for _, path in WEIGHTS}
#: the trade calls (placements and cancels), which ``trade_cap`` counts
TRADE_ROUTES = {(method, path) for method, path in ROUTES if method != "GET"}


@attrs.frozen
class _RouteCost:
    """What the rules (``_limiter._rules.RULES``) read of a route to meter it."""

    ip_weight: int
    uid_weight: int
    trade: bool


#: each route's cost, as the rules read it
_COSTS = {route: _RouteCost(ip, uid, route in TRADE_ROUTES) for route, (ip, uid) in WEIGHTS.items()}


@attrs.frozen
class Arrival:
    """One request the fake exchange admitted and metered."""

    at: float  #: monotonic seconds at arrival
    path: str
    ip: str
    api_key: str | None
    ip_weight: int
    uid_weight: int


class FakeExchange:
    """A WEEX futures API stand-in for tests, the demo and your own engine's tests.

    Use it in process with ``httpx.AsyncClient(transport=exchange.transport())`` (or
    ``WeexClient(..., transport=exchange.transport())``), or on a real socket with
    ``weex_async.testing.serve(exchange)``.

    Args:
        ip_budget: IP weight per window (WEEX: 500).
        uid_budget: UID weight per window (WEEX: 500).
        window: the metering window in seconds (WEEX: 10).
        ban: seconds an IP or account is banned after exceeding (WEEX: 10).
        max_ids_per_call: more ids than this in one batch cancel is refused with 40912.
        trade_cap: at most this many trade calls (placements and cancels) per account in any
            second, beyond which they are refused with 429 and a ban, as a reading of WEEX's "10
            requests/s" on trade endpoints would have it (``None``, the default: no such cap).
        usage_headers: send ``x-used-weight-10s`` / ``x-remaining-weight-10s`` (UID pool for
            signed calls, IP pool for public ones).
        skew_ms: the exchange's clock minus the host's, in milliseconds.
        extra_fields: also send ``symbol`` and per-item ``err_code`` (as some doc copies show).
        cancel_all_cap: a cancel-all cancels at most this many orders and leaves the rest open
            (``None``, the default: all of them). WEEX documents no such cap; this tests code
            that must not trust a cancel-all's answer alone.
        v3_batch_cancel_shape: the V3 batch cancel's answer: ``"list"`` (a bare list, the
            default), or the list under ``"orderList"`` or ``"data"``. WEEX's answer shape is
            uncertain and public clients read all three: test your code against each.
        content_type_on_get: refuse a private GET without ``Content-Type: application/json``
            (40007 / -1045). WEEX's pages ask for the header on every request, but ccxt sends
            none on GET and its samples suggest the exchange accepts that: off by default.
        refuse_ids_and_cids: refuse a batch cancel that names orders both by exchange id and by
            client id (40017 / -1140). WEEX documents neither way: on by default (the stricter
            reading); off, the exchange ids are used.
        open_status: the status an open order shows in listings and lookups: ``None`` (the
            default) for the version's own (V2 ``open``, V3 ``NEW``), any text to show that
            instead (``"PENDING_NEW"``, ``"partial_filled"``, ``"live"``: statuses WEEX may send
            that a client must not read as closed), ``""`` for no status field at all.
        repeat_on_page: every listing page (open orders, trigger orders) shows its first
            ``repeat_on_page`` items a second time at its end, as a page that moved while it was
            read does (0, the default: none); the page still holds at most ``limit`` items.
        monotonic: the metering clock (seconds); injectable for tests.
        wall: the wall clock (seconds since the epoch); injectable for tests.
    """

    def __init__(
        self,
        *,
        ip_budget: int = 500,
        uid_budget: int = 500,
        window: float = 10.0,
        ban: float = 10.0,
        max_ids_per_call: int = 50,
        trade_cap: int | None = None,
        usage_headers: bool = False,
        skew_ms: int = 0,
        extra_fields: bool = False,
        cancel_all_cap: int | None = None,
        v3_batch_cancel_shape: str = "list",
        content_type_on_get: bool = False,
        refuse_ids_and_cids: bool = True,
        open_status: str | None = None,
        repeat_on_page: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ip_budget = ip_budget
        self.uid_budget = uid_budget
        self.window = window
        self.ban = ban
        self.trade_cap = trade_cap
        self.usage_headers = usage_headers
        self.content_type_on_get = content_type_on_get
        self.skew_ms = skew_ms
        self._monotonic = monotonic
        self._wall = wall
        self.accounts: dict[str, FakeAccount] = {}
        self.faults = Faults()
        #: every request admitted past the rate limits, in arrival order
        self.arrivals: list[Arrival] = []
        #: every request the rate limits refused (answered 429), in arrival order
        self.refused: list[Arrival] = []
        #: how many 429s the meter answered because a budget was exceeded (injected 429 faults
        #: are counted in ``faults.injected`` instead)
        self.rate_limited = 0
        #: how many requests arrived (any outcome)
        self.requests = 0
        #: each rule's meters, by owner (the IP, the API key, the key and path: its scope)
        self._meters: dict[str, dict[tuple[str, ...], Meter]] = {}
        #: the order endpoints (V2 and V3), with the accounts' orders
        self.desk = OrderDesk(
            max_ids_per_call=max_ids_per_call,
            extra_fields=extra_fields,
            now_ms=self.server_ms,
            cancel_all_cap=cancel_all_cap,
            v3_batch_cancel_shape=v3_batch_cancel_shape,
            refuse_ids_and_cids=refuse_ids_and_cids,
            open_status=open_status,
            repeat_on_page=repeat_on_page,
        )

    # -- set-up ----------------------------------------------------------------------------------

    def add_account(self, api_key: str, api_secret: str, passphrase: str) -> FakeAccount:
        """Create an account that signs with these credentials."""
        account = FakeAccount(api_key, api_secret, passphrase)
        self.accounts[api_key] = account
        return account

    def place_resting_orders(
        self,
        api_key: str,
        count: int = 0,
        *,
        client_oids: Iterable[str] = (),
        symbol: str = "cmt_btcusdt",
    ) -> list[str]:
        """Place ``count`` resting (open, unfilled) orders of ``symbol`` for ``api_key``, and one
        more per client id in ``client_oids``; returns their exchange ids.

        Not to be confused with ``WeexClient.open_orders``, which *lists* the open orders.
        """
        account = self.accounts[api_key]
        opened = []
        for cid in itertools.chain(("",) * count, client_oids):
            order_id = self.desk.new_id()
            account.open_order(order_id, cid, symbol=symbol, created_ms=self.server_ms())
            opened.append(order_id)
        return opened

    def open_orders(
        self,
        api_key: str,
        count: int = 0,
        *,
        client_oids: Iterable[str] = (),
        symbol: str = "cmt_btcusdt",
    ) -> list[str]:
        """Deprecated alias of ``place_resting_orders`` (it *places* orders; the client's
        ``open_orders`` lists them). It still works, without a warning for now; it will warn in a
        later release, then go."""
        return self.place_resting_orders(api_key, count, client_oids=client_oids, symbol=symbol)

    def place_trigger_orders(
        self, api_key: str, count: int, *, symbol: str = "cmt_btcusdt"
    ) -> list[str]:
        """Place ``count`` trigger (V2 plan, V3 algo) orders of ``symbol`` for ``api_key``: stop
        orders waiting for their trigger price, listed by the client's ``open_trigger_orders``
        only; returns their ids."""
        account = self.accounts[api_key]
        opened = []
        for _ in range(count):
            order_id = self.desk.new_id()
            account.open_trigger(order_id, symbol=symbol, side="SELL", created_ms=self.server_ms())
            opened.append(order_id)
        return opened

    def open_trigger_orders(
        self, api_key: str, count: int, *, symbol: str = "cmt_btcusdt"
    ) -> list[str]:
        """Deprecated alias of ``place_trigger_orders`` (it *places* trigger orders; the
        client's ``open_trigger_orders`` lists them). It still works, without a warning for now."""
        return self.place_trigger_orders(api_key, count, symbol=symbol)

    def open_position(
        self,
        api_key: str,
        *,
        symbol: str = "cmt_btcusdt",
        side: str = "LONG",
        quantity: str = "1",
        refuse: str = "",
    ) -> str:
        """Give ``api_key`` an open position (``close_positions`` closes it with a market order,
        or, with ``refuse``, answers ``success: false`` with that message); returns its id."""
        position_id = self.desk.new_id()
        self.accounts[api_key].positions[position_id] = FakePosition(
            position_id, symbol, side, Decimal(quantity), refuse
        )
        return position_id

    def spend_elsewhere(
        self, weight: int, *, api_key: str | None = None, ip: str | None = None
    ) -> None:
        """Count ``weight`` against an account's or an IP's window, as another tool would."""
        now = self._monotonic()
        if api_key is not None:
            meter = self._meter(UID, (api_key,))
            assert meter is not None
            meter.charge(weight, now)
        if ip is not None:
            meter = self._meter(IP, (ip,))
            assert meter is not None
            meter.charge(weight, now)

    def _budget(self, rule: Rule) -> tuple[int, float] | None:
        """What the fake meters for ``rule``: ``(weight, window)``, or ``None`` (not metered).
        Its settings for the IP, UID and trade rules; any other rule's WEEX default."""
        if rule.name == IP.name:
            return self.ip_budget, self.window
        if rule.name == UID.name:
            return self.uid_budget, self.window
        if rule.name == TRADE.name:
            window = TRADE.default[1] if TRADE.default else 1.0
            return None if self.trade_cap is None else (self.trade_cap, window)
        return rule.default

    def _meter(self, rule: Rule, owner: tuple[str, ...]) -> Meter | None:
        meters = self._meters.setdefault(rule.name, {})
        meter = meters.get(owner)
        if meter is None:
            budget = self._budget(rule)
            if budget is None:
                return None
            meter = meters[owner] = Meter(*budget)
        return meter

    def server_ms(self) -> int:
        """The exchange's clock in Unix milliseconds."""
        return int(self._wall() * 1000) + self.skew_ms

    # -- what the exchange saw -------------------------------------------------------------------

    def worst_window(self, pool: str = "uid", key: str | None = None, *, sent: bool = False) -> int:
        """The most weight admitted in any interval of one window, for ``"ip"`` or ``"uid"``.

        Args:
            pool: ``"ip"`` or ``"uid"``.
            key: the IP address or API key; ``None`` takes the worst of all.
            sent: count what clients *sent*, the refused (429) requests included: how far over
                budget a client tried to go.
        """
        groups: dict[str | None, list[tuple[float, int]]] = {}
        arrivals = (
            sorted(self.arrivals + self.refused, key=lambda a: a.at) if sent else self.arrivals
        )
        for arrival in arrivals:
            owner = arrival.ip if pool == "ip" else arrival.api_key
            weight = arrival.ip_weight if pool == "ip" else arrival.uid_weight
            if weight and (key is None or owner == key):
                groups.setdefault(owner, []).append((arrival.at, weight))
        return max((worst_window(points, self.window) for points in groups.values()), default=0)

    # -- the ASGI app ----------------------------------------------------------------------------

    def transport(self, client: tuple[str, int] = ("127.0.0.1", 50000)) -> FakeTransport:
        """An in-process httpx transport to this app that fails like a socket would."""
        return FakeTransport(self, client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        body, too_large = await _read_body(receive)
        status, payload, headers = await self._handle(scope, body, too_large)
        if payload is _DROP:
            # Start an answer, then abandon it: a server on a socket can only close the
            # connection (the client sees it dropped, no HTTP status), and the in-process
            # transport raises a dropped connection too. Raising before the start would make
            # uvicorn answer HTTP 500 instead.
            await send({"type": "http.response.start", "status": 200, "headers": _DROP_HEADERS})
            raise DroppedConnection("connection dropped by fault injection")
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response_headers = [(b"content-type", b"application/json"), *headers]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": raw})

    async def _handle(
        self, scope: Scope, body: bytes, too_large: bool
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        path: str = scope["path"]
        method: str = scope["method"]
        raw_query = scope.get("query_string", b"").decode("latin-1")
        v3 = path.startswith("/capi/v3/")

        def refused(
            status: int, code: str, message: str, v3_code: int | None = None
        ) -> tuple[int, Any, list[Any]]:
            return status, _error(code, message, v3=v3, v3_code=v3_code), []

        unrouted = _unrouted(method, path, v3)
        if unrouted is not None:
            return unrouted
        ip = (scope.get("client") or ("unknown", 0))[0]
        if path == _TIME_V2:
            return self._metered(ip, None, method, path, self._server_time)
        if path == _TIME_V3:
            return self._metered(ip, None, method, path, self._server_time_v3)
        if too_large:  # before the signature check, which would fail on the cut body
            return refused(400, "40017", "request body too large")
        account_or_error = self._authenticate(scope, method, path, raw_query, body)
        if not isinstance(account_or_error, FakeAccount):
            return refused(400, *account_or_error)
        account = account_or_error
        fault = self.faults.draw(path)
        if fault is Fault.RATE_LIMIT:  # counted in faults.injected, not in rate_limited
            return refused(429, "429", "Too Many Requests")
        request = Request(body, dict(parse_qsl(raw_query, keep_blank_values=True)))
        status, payload, headers = self._metered(
            ip,
            account,
            method,
            path,
            lambda: _faulty(fault, v3=v3) or self.desk.handle(method, path, account, request),
        )
        if status == 200 and fault in (Fault.DROP_AFTER, Fault.SLOW):
            if fault is Fault.DROP_AFTER:
                return 0, _DROP, []
            await asyncio.sleep(self.faults.slow_delay)
        return status, payload, headers

    def _metered(
        self,
        ip: str,
        account: FakeAccount | None,
        method: str,
        path: str,
        handler: Callable[[], tuple[int, Any]],
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        now = self._monotonic()
        ip_weight, uid_weight = WEIGHTS[(method, path)]
        meters = self._meters_of(ip, account, method, path)
        arrival = Arrival(
            now, path, ip, account.api_key if account else None, ip_weight, uid_weight
        )
        if not all(meter.fits(weight, now) for meter, weight in meters):
            self.rate_limited += 1
            self.refused.append(arrival)
            for meter, weight in meters:
                if now >= meter.banned_until and not meter.fits(weight, now):
                    meter.banned_until = now + self.ban
            return 429, _error("429", "Too Many Requests", v3=path.startswith("/capi/v3/")), []
        for meter, weight in meters:
            meter.charge(weight, now)
        self.arrivals.append(arrival)
        status, payload = handler()
        headers: list[tuple[bytes, bytes]] = []
        if self.usage_headers:
            meter = meters[min(1, len(meters) - 1)][0]  # the UID meter, or the IP's if public
            headers = [
                (b"x-used-weight-10s", str(meter.used).encode()),
                (b"x-remaining-weight-10s", str(meter.limit - meter.used).encode()),
            ]
        return status, payload, headers

    def _meters_of(
        self, ip: str, account: FakeAccount | None, method: str, path: str
    ) -> list[tuple[Meter, int]]:
        """The meter of every rule that charges this request, with its weight (the rules'
        order: IP, UID, then the others)."""
        cost = _COSTS[(method, path)]
        meters = []
        for rule in _rules.RULES:
            weight = rule.charge(cost)
            if not weight:
                continue
            if rule.scope == "ip":
                owner: tuple[str, ...] = (ip,)
            elif account is None:
                continue
            elif rule.scope == "account":
                owner = (account.api_key,)
            else:
                owner = (account.api_key, path)
            meter = self._meter(rule, owner)
            if meter is not None:
                meters.append((meter, weight))
        return meters

    def _server_time(self) -> tuple[int, Any]:
        now_ms = self.server_ms()
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_ms / 1000))
        return 200, {
            "epoch": f"{now_ms / 1000:.3f}",
            "iso": f"{iso}.{now_ms % 1000:03d}Z",
            "timestamp": now_ms,
        }

    def _server_time_v3(self) -> tuple[int, Any]:
        return 200, {"serverTime": self.server_ms()}

    def _authenticate(
        self, scope: Scope, method: str, path: str, query: str, body: bytes
    ) -> FakeAccount | tuple[str, str]:
        """The account that signed the request, or the refusal's (V2 code, message)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        for header, code in (
            ("access-key", "40001"),
            ("access-sign", "40002"),
            ("access-timestamp", "40003"),
            ("access-passphrase", "40011"),
        ):
            if not headers.get(header):
                return code, f"{header.upper()} header is missing"
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/json" and (
            content_type or method != "GET" or self.content_type_on_get
        ):
            return "40007", "Invalid Content_Type, please use application/json format"
        timestamp = headers["access-timestamp"]
        if len(timestamp) != 13 or not timestamp.isdigit():
            return "40005", "Invalid ACCESS_TIMESTAMP"
        if abs(int(timestamp) - self.server_ms()) > TIMESTAMP_TOLERANCE_MS:
            return "40008", "Request timestamp expired"
        account = self.accounts.get(headers["access-key"])
        if account is None:
            return "40006", "Invalid ACCESS_KEY"
        # headers were decoded as Latin-1, so encoding back gives the bytes that were sent; a
        # client sends a passphrase beyond ASCII as UTF-8 (compare_digest refuses such str)
        sent = headers["access-passphrase"].encode("latin-1")
        if not hmac.compare_digest(sent, account.passphrase.encode()):
            return "40012", "API key or passphrase is incorrect"
        path_and_query = f"{path}?{query}" if query else path
        expected = sign(account.api_secret, timestamp, method, path_and_query, body)
        if not hmac.compare_digest(headers["access-sign"], expected):
            return "40009", "signature verification failed"
        return account


_DROP = object()
_DROP_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"64")]


def _faulty(fault: Fault | None, *, v3: bool) -> tuple[int, Any] | None:
    """The answer of a fault that leaves the orders untouched, if ``fault`` is one."""
    if fault is Fault.DROP_BEFORE:
        return 0, _DROP
    if fault is Fault.SERVER_ERROR:
        return 500, _error("40015", "system error", v3=v3)
    if fault is Fault.EMPTY_521:
        return 521, b""
    if fault is Fault.BAD_JSON:
        return 200, b"<html>upstream error</html>"
    return None


#: V2's codes for what the fake refuses before any handler, in V3's words: ccxt's WEEX table
#: (no capture of a real V3 refusal was found; -1047 for a bad signature is the closest entry).
V3_CODES = {
    "40001": -1040,  # ACCESS_KEY_EMPTY
    "40002": -1041,  # ACCESS_SIGN_EMPTY
    "40003": -1042,  # ACCESS_TIMESTAMP_EMPTY
    "40011": -1049,  # (passphrase missing) API_KEY_OR_PASSPHRASE_INCORRECT
    "40005": -1043,  # INVALID_ACCESS_TIMESTAMP
    "40006": -1044,  # INVALID_ACCESS_KEY
    "40007": -1045,  # INVALID_CONTENT_TYPE
    "40008": -1046,  # ACCESS_TIMESTAMP_EXPIRED
    "40009": -1047,  # API_AUTH_ERROR
    "40012": -1049,  # API_KEY_OR_PASSPHRASE_INCORRECT
    "40015": -1054,  # SYSTEM_ERROR
    "40017": -1140,  # PARAM_VALIDATE_ERROR
    "40404": -1000,  # UNKNOWN_ERROR (no route)
}


def _unrouted(method: str, path: str, v3: bool) -> tuple[int, Any, list[Any]] | None:
    """The answer to a path or method no route serves (as the live exchange answers it), or
    ``None`` when one does."""
    if path not in _PATHS:
        if v3:  # as the live exchange answers an unknown /capi/v3/ path (Spring's body)
            return 404, _spring_not_found(path), []
        return 404, _error("40404", f"no such endpoint: {method} {path}", v3=v3), []
    if (method, path) not in WEIGHTS:
        if v3:  # the live exchange's answer to POST /capi/v3/batchOrders (ccxt's record)
            message = f"Request method '{method}' not supported"
            return 400, _error("40017", message, v3=v3, v3_code=-1150), []
        methods = " or ".join(sorted(m for m, p in WEIGHTS if p == path))
        message = f"Request method '{method}' not supported ({methods})"
        return 405, _error("40017", message, v3=v3), []
    return None


def _error(
    code: str, message: str, *, v3: bool = False, v3_code: int | None = None
) -> dict[str, Any]:
    """An error answer: V2's string code, or on V3 ``v3_code`` (default: the V2 code's V3
    counterpart, a negative integer)."""
    if v3 and (v3_code is not None or code in V3_CODES):
        return {"code": V3_CODES[code] if v3_code is None else v3_code, "msg": message}
    return {"code": code, "msg": message, "requestTime": int(time.time() * 1000), "data": None}


def _spring_not_found(path: str) -> dict[str, Any]:
    """V3's answer to a path it does not have: no WEEX code, Spring's error body."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime())
    return {"timestamp": stamp, "status": 404, "error": "Not Found", "path": path}


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_large = True
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), too_large
