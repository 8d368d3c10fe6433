"""The fake exchange's order desk: accounts, and every order endpoint in V2's and V3's shapes.

``FakeExchange`` (``_exchange.py``) authenticates and meters a request, then hands it to one
handler here by (method, path). There is no matching engine: a resting limit order stays open
until cancelled, a MARKET order fills at once, an IOC or FOK limit order is cancelled at once (no
liquidity to take).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

__all__ = [
    "ROUTES",
    "V3_BATCH_CANCEL_SHAPES",
    "FakeAccount",
    "FakeOrder",
    "FakePosition",
    "OrderDesk",
    "Request",
    "same_symbol",
    "v2_symbol",
    "v3_symbol",
]

#: V3 accepts at most this many ids per batch cancel, and orders per batch placement.
V3_MAX_IDS = 10
#: V2's batch placement takes at most this many orders.
V2_MAX_ORDERS = 20
_V3_CID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
#: How the V3 batch cancel's answer may be wrapped: public clients read each of these.
V3_BATCH_CANCEL_SHAPES = ("list", "orderList", "data")

Answer = tuple[int, Any]

#: Every signed endpoint: (method, path) -> (IP weight, UID weight, ``OrderDesk`` handler), as
#: WEEX documents them (docs/weex-facts.md).
ROUTES: dict[tuple[str, str], tuple[int, int, str]] = {
    ("POST", "/capi/v2/order/cancel_batch_orders"): (5, 10, "v2_cancel_batch"),
    ("DELETE", "/capi/v3/batchOrders"): (5, 10, "v3_cancel_batch"),
    ("POST", "/capi/v2/order/cancel_order"): (2, 3, "v2_cancel_order"),
    ("DELETE", "/capi/v3/order"): (2, 3, "v3_cancel_order"),
    ("POST", "/capi/v2/order/cancelAllOrders"): (40, 50, "v2_cancel_all"),
    ("DELETE", "/capi/v3/allOpenOrders"): (5, 10, "v3_cancel_all"),
    ("POST", "/capi/v2/order/placeOrder"): (2, 5, "v2_place_order"),
    ("POST", "/capi/v3/order"): (2, 5, "v3_place_order"),
    ("POST", "/capi/v2/order/batchOrders"): (5, 10, "v2_place_orders"),
    # No ("POST", "/capi/v3/batchOrders"): WEEX refuses V3 batch placement with -1150 (the
    # exchange answers a wrong method so, see _exchange.py).
    ("GET", "/capi/v2/order/current"): (2, 2, "v2_open_orders"),
    ("GET", "/capi/v3/openOrders"): (2, 3, "v3_open_orders"),
    ("GET", "/capi/v2/order/detail"): (2, 2, "v2_order_detail"),
    ("GET", "/capi/v3/order"): (2, 3, "v3_order_detail"),
    ("GET", "/capi/v2/order/currentPlan"): (3, 3, "v2_open_triggers"),
    ("GET", "/capi/v3/openAlgoOrders"): (3, 3, "v3_open_triggers"),
    ("DELETE", "/capi/v3/algoOpenOrders"): (5, 10, "v3_cancel_all_triggers"),
    ("GET", "/capi/v2/order/history"): (10, 10, "v2_order_history"),
    ("GET", "/capi/v3/order/history"): (10, 10, "v3_order_history"),
    ("POST", "/capi/v2/order/closePositions"): (50, 50, "v2_close_positions"),
    ("POST", "/capi/v3/closePositions"): (50, 50, "v3_close_positions"),
}


@attrs.define
class FakeOrder:
    """One order of a fake account."""

    order_id: str
    client_oid: str = ""
    symbol: str = "cmt_btcusdt"
    side: str = "BUY"
    position_side: str = "LONG"
    quantity: Decimal = Decimal("1")
    price: Decimal | None = Decimal("100")
    order_type: str = "LIMIT"
    time_in_force: str = "GTC"
    created_ms: int = 0
    #: ``open``, ``filled`` or ``canceled``
    status: str = "open"
    #: the price that fires a trigger order (``None`` for an ordinary order)
    trigger_price: Decimal | None = None


@attrs.define
class FakePosition:
    """One open position of a fake account."""

    position_id: str
    symbol: str = "cmt_btcusdt"
    #: ``LONG`` or ``SHORT``
    side: str = "LONG"
    quantity: Decimal = Decimal("1")
    #: when set, closing it is refused with this message (``success: false``)
    refuse: str = ""


@attrs.define
class FakeAccount:
    """One account of the fake exchange, with its orders."""

    api_key: str
    api_secret: str = attrs.field(repr=False)
    passphrase: str = attrs.field(repr=False)
    #: open orders by exchange id
    orders: dict[str, FakeOrder] = attrs.field(factory=dict)
    #: every order this account ever had, open or not, by exchange id
    history: dict[str, FakeOrder] = attrs.field(factory=dict)
    #: every order this account ever cancelled, in order
    cancelled: list[str] = attrs.field(factory=list)
    #: every order that closed (cancelled, filled), in the order they closed
    closed: list[str] = attrs.field(factory=list)
    #: open trigger (V2 plan, V3 algo) orders by exchange id
    triggers: dict[str, FakeOrder] = attrs.field(factory=dict)
    #: every trigger order this account ever cancelled, in order
    cancelled_triggers: list[str] = attrs.field(factory=list)
    #: open positions by position id
    positions: dict[str, FakePosition] = attrs.field(factory=dict)

    def open_order(self, order_id: str, client_oid: str = "", **fields: Any) -> FakeOrder:
        """Add an open order (``fields`` as in ``FakeOrder``)."""
        order = FakeOrder(order_id, client_oid, **fields)
        self.orders[order_id] = order
        self.history[order_id] = order
        return order

    def open_trigger(self, order_id: str, client_oid: str = "", **fields: Any) -> FakeOrder:
        """Add an open trigger order (``fields`` as in ``FakeOrder``; ``trigger_price`` defaults
        to 90)."""
        fields.setdefault("trigger_price", Decimal("90"))
        order = FakeOrder(order_id, client_oid, **fields)
        self.triggers[order_id] = order
        return order

    def cancel_trigger(self, order_id: str) -> FakeOrder:
        """Cancel an open trigger order."""
        order = self.triggers.pop(order_id)
        order.status = "canceled"
        self.cancelled_triggers.append(order_id)
        return order

    def by_client_oid(self, client_oid: str) -> str | None:
        """The id of the open order with this client id, if any."""
        for order_id, order in self.orders.items():
            if order.client_oid == client_oid:
                return order_id
        return None

    def cancel(self, order_id: str) -> FakeOrder:
        """Cancel an open order (as the exchange does on a cancel call)."""
        order = self.orders.pop(order_id)
        order.status = "canceled"
        self.cancelled.append(order_id)
        self.closed.append(order_id)
        return order

    def fill(self, order_id: str) -> FakeOrder:
        """Fill an open order: it is no longer open, and a lookup says ``filled``."""
        order = self.orders.pop(order_id)
        order.status = "filled"
        self.closed.append(order_id)
        return order


@attrs.frozen
class Request:
    """What a handler needs of one authenticated request."""

    body: bytes
    query: dict[str, str]

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.body)


def error(code: str | int, message: str, status: int = 400) -> Answer:
    """A WEEX error answer: V2's string codes, V3's negative integers."""
    return status, {"code": code, "msg": message, "requestTime": 0, "data": None}


class _Refusal(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def _v2_refuse(message: str) -> _Refusal:
    return _Refusal(error("40017", message))


def _v3_refuse(message: str) -> _Refusal:
    return _Refusal(error(-1140, message))


def _object_body(request: Request, refuse: Callable[[str], _Refusal]) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise refuse("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise refuse("request body must be a JSON object")
    return body


def _positive(value: Any, name: str, refuse: Callable[[str], _Refusal]) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise refuse(f"{name} is not a number: {value!r}") from None
    if not isinstance(value, str) or not number.is_finite() or number <= 0:
        raise refuse(f"{name} must be a positive decimal string, got {value!r}")
    return number


# V2's spellings.
_V2_TYPE_NAME = {
    ("BUY", "LONG"): "open_long",
    ("SELL", "SHORT"): "open_short",
    ("SELL", "LONG"): "close_long",
    ("BUY", "SHORT"): "close_short",
}
_V2_TYPE = {str(n): side for n, side in enumerate(_V2_TYPE_NAME, start=1)}
_V2_TIF = {"0": "GTC", "1": "POST_ONLY", "2": "FOK", "3": "IOC"}
_V2_TIF_NAME = {"GTC": "normal", "POST_ONLY": "postOnly", "FOK": "fok", "IOC": "ioc"}
_V3_STATUS = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED"}


def same_symbol(a: str, b: str) -> bool:
    """Whether two spellings name one contract: ``cmt_btcusdt`` (V2) is ``BTCUSDT`` (V3)."""
    return _bare(a) == _bare(b)


def _bare(symbol: str) -> str:
    symbol = symbol.lower()
    return symbol[4:] if symbol.startswith("cmt_") else symbol


def v2_symbol(symbol: str) -> str:
    return "cmt_" + _bare(symbol)


def v3_symbol(symbol: str) -> str:
    return _bare(symbol).upper()


def _text(number: Decimal | None) -> str:
    return "0" if number is None else format(number, "f")


class OrderDesk:
    """The order endpoints of one fake exchange.

    Args:
        max_ids_per_call: more ids than this in one V2 batch cancel is refused with 40912.
        extra_fields: V2 batch cancel answers also carry ``symbol`` and per-item ``err_code``.
        cancel_all_cap: a cancel-all cancels at most this many orders (``None``: all of them).
        v3_batch_cancel_shape: the V3 batch cancel's answer: a bare ``"list"``, or the list
            under ``"orderList"`` or ``"data"``.
        refuse_ids_and_cids: refuse a batch cancel that names orders both ways.
        open_status: the status an open order shows in listings and lookups (``None``: the
            version's own, V2 ``open``, V3 ``NEW``; ``""``: no status field at all).
        repeat_on_page: each listing page shows its first ``repeat_on_page`` items a second time
            at its end (the page still holds at most ``limit`` items).
        now_ms: the exchange's clock in Unix milliseconds.
    """

    def __init__(
        self,
        *,
        max_ids_per_call: int,
        extra_fields: bool,
        now_ms: Callable[[], int],
        cancel_all_cap: int | None = None,
        v3_batch_cancel_shape: str = "list",
        refuse_ids_and_cids: bool = True,
        open_status: str | None = None,
        repeat_on_page: int = 0,
    ) -> None:
        if v3_batch_cancel_shape not in V3_BATCH_CANCEL_SHAPES:
            raise ValueError(f"v3_batch_cancel_shape must be one of {V3_BATCH_CANCEL_SHAPES}")
        self.max_ids_per_call = max_ids_per_call
        self.cancel_all_cap = cancel_all_cap
        self.v3_batch_cancel_shape = v3_batch_cancel_shape
        self.refuse_ids_and_cids = refuse_ids_and_cids
        self.open_status = open_status
        self.repeat_on_page = repeat_on_page
        self.extra_fields = extra_fields
        self._now_ms = now_ms
        self._ids = itertools.count(596471064624628269)
        self._handlers: dict[tuple[str, str], Callable[[FakeAccount, Request], Answer]] = {
            route: getattr(self, name) for route, (_, _, name) in ROUTES.items()
        }

    def new_id(self) -> str:
        return str(next(self._ids))

    def handle(self, method: str, path: str, account: FakeAccount, request: Request) -> Answer:
        """Answer one authenticated request of a signed endpoint: a handler's answer, or the
        refusal it raised (every refusal is answered here, in the version's error words)."""
        try:
            return self._handlers[(method, path)](account, request)
        except _Refusal as refusal:
            return refusal.answer

    # -- cancelling ------------------------------------------------------------------------------

    @staticmethod
    def _cancel(account: FakeAccount, name: str, *, by_id: bool) -> tuple[str, str, bool]:
        """Cancel one order named by exchange or client id: (order id, client id, cancelled)."""
        if by_id:
            order = account.orders.get(name)
            if order is None:
                return name, "", False
        else:
            order_id = account.by_client_oid(name)
            if order_id is None:
                return "", name, False
            order = account.orders[order_id]
        account.cancel(order.order_id)
        return order.order_id, order.client_oid, True

    def _batch_names(
        self,
        request: Request,
        ids_field: str,
        cids_field: str,
        limit: int,
        refuse: Callable[[str], _Refusal],
    ) -> tuple[list[str], bool]:
        """The names of a batch cancel, and whether they are exchange ids; refused if malformed.
        With both lists (and ``refuse_ids_and_cids`` off), the exchange ids are used."""
        body = _object_body(request, refuse)
        ids, cids = body.get(ids_field), body.get(cids_field)
        v3 = refuse is _v3_refuse
        if ids is None and cids is None:
            if v3:
                raise refuse(f"Either {ids_field} or {cids_field} must be sent.")
            raise _Refusal(error("40913", "either orderId or clientId must be provided"))
        if ids is not None and cids is not None and self.refuse_ids_and_cids:
            raise refuse(f"pass {ids_field} or {cids_field}, not both")
        names = ids if ids is not None else cids
        if (
            not isinstance(names, list)
            or not names
            or not all(
                isinstance(n, str) or (isinstance(n, int) and not isinstance(n, bool))
                for n in names
            )
        ):
            raise _v2_refuse(f"{ids_field}/{cids_field} must be a non-empty list")
        if len(names) > limit:
            if v3:
                raise refuse(f"{ids_field} holds at most {limit} ids")
            raise _Refusal(error("40912", f"Single cancellation cannot exceed {limit}"))
        symbol = body.get("symbol")
        if symbol is not None and not isinstance(symbol, str):
            raise refuse("symbol must be a string")
        return [str(n) for n in names], ids is not None

    def v2_cancel_batch(self, account: FakeAccount, request: Request) -> Answer:
        names, by_id = self._batch_names(request, "ids", "cids", self.max_ids_per_call, _v2_refuse)
        items = [self._v2_item(*self._cancel(account, n, by_id=by_id)) for n in names]
        answer: dict[str, Any] = {
            "result": all(item["result"] for item in items),
            "orderIds": [i["order_id"] for i in items if i["result"] and i["order_id"]],
            "clientOids": [i["client_oid"] for i in items if i["result"] and i["client_oid"]],
            "cancelOrderResultList": items,
            "failInfos": [item for item in items if not item["result"]],
        }
        if self.extra_fields:
            answer["symbol"] = request.json().get("symbol") or "cmt_btcusdt"
        return 200, answer

    def v3_cancel_batch(self, account: FakeAccount, request: Request) -> Answer:
        names, by_id = self._batch_names(
            request, "orderIdList", "origClientOrderIdList", V3_MAX_IDS, _v3_refuse
        )
        items = [self._v3_item(*self._cancel(account, n, by_id=by_id)) for n in names]
        if self.v3_batch_cancel_shape == "list":
            return 200, items
        return 200, {self.v3_batch_cancel_shape: items}

    def _v2_item(self, order_id: str, client_oid: str, ok: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "err_msg": "" if ok else "FAILED_ORDER_NOT_FOUND",
            "order_id": order_id,
            "client_oid": client_oid,
            "result": ok,
        }
        if self.extra_fields:
            item["err_code"] = "" if ok else "50005"
        return item

    @staticmethod
    def _v3_item(order_id: str, client_oid: str, ok: bool) -> dict[str, Any]:
        return {
            "orderId": order_id,
            "origClientOrderId": client_oid,
            "success": ok,
            "errorCode": "" if ok else "FAILED_ORDER_NOT_FOUND",
            "errorMessage": "" if ok else "order does not exist",
        }

    def v2_cancel_order(self, account: FakeAccount, request: Request) -> Answer:
        body = _object_body(request, _v2_refuse)
        order_id, client_oid = body.get("orderId"), body.get("clientOid")
        if (order_id is None) == (client_oid is None):
            return error("40913", "either orderId or clientId must be provided")
        name = order_id if order_id is not None else client_oid
        if not isinstance(name, str) or not name:
            return error("40017", "orderId / clientOid must be a non-empty string")
        order_id, client_oid, ok = self._cancel(account, name, by_id=order_id is not None)
        # As WEEX documents it: absent strings are null.
        return 200, {
            "order_id": order_id or None,
            "client_oid": client_oid or None,
            "symbol": body.get("symbol"),
            "result": ok,
            "err_code": None if ok else "50005",
            "err_msg": None if ok else "FAILED_ORDER_NOT_FOUND",
        }

    def v3_cancel_order(self, account: FakeAccount, request: Request) -> Answer:
        order_id = request.query.get("orderId")
        client_oid = request.query.get("origClientOrderId")
        if (order_id is None) == (client_oid is None):
            return error(-1140, "Either orderId or origClientOrderId must be sent.")
        name = order_id if order_id is not None else client_oid
        assert name is not None
        return 200, self._v3_item(*self._cancel(account, name, by_id=order_id is not None))

    @staticmethod
    def _open_of(account: FakeAccount, symbol: str | None) -> list[FakeOrder]:
        return [
            o for o in account.orders.values() if symbol is None or same_symbol(o.symbol, symbol)
        ]

    def v2_cancel_all(self, account: FakeAccount, request: Request) -> Answer:
        body = _object_body(request, _v2_refuse)
        if body.get("cancelOrderType", "normal") not in ("normal", "plan"):
            return error("40017", "cancelOrderType must be normal or plan")
        if body.get("cancelOrderType") == "plan":
            return 200, [
                {"orderId": int(order_id), "success": True}
                for order_id in self._cancel_triggers_of(account, body.get("symbol"))
            ]
        # As WEEX's page shows it: the order id as a JSON number, and "success".
        return 200, [
            {"orderId": int(order_id), "success": ok}
            for order_id, _, ok in self._cancel_all_of(account, body.get("symbol"))
        ]

    def _cancel_all_of(
        self, account: FakeAccount, symbol: str | None
    ) -> list[tuple[str, str, bool]]:
        """Cancel the open orders of a symbol (or all): at most ``cancel_all_cap`` of them."""
        orders = self._open_of(account, symbol)[: self.cancel_all_cap]
        return [self._cancel(account, order.order_id, by_id=True) for order in orders]

    @staticmethod
    def _cancel_triggers_of(account: FakeAccount, symbol: str | None) -> list[str]:
        """Cancel the open trigger orders of a symbol (or all); their ids."""
        names = [
            order_id
            for order_id, order in account.triggers.items()
            if symbol is None or same_symbol(order.symbol, symbol)
        ]
        for order_id in names:
            account.cancel_trigger(order_id)
        return names

    def v3_cancel_all_triggers(self, account: FakeAccount, request: Request) -> Answer:
        cancelled = self._cancel_triggers_of(account, request.query.get("symbol"))
        return 200, [
            {"orderId": order_id, "success": True, "errorCode": "", "errorMessage": ""}
            for order_id in cancelled
        ]

    def v3_cancel_all(self, account: FakeAccount, request: Request) -> Answer:
        cancelled = self._cancel_all_of(account, request.query.get("symbol"))
        return 200, [
            {k: v for k, v in self._v3_item(*c).items() if k != "origClientOrderId"}
            for c in cancelled
        ]

    # -- closing positions -----------------------------------------------------------------------

    def _close_positions(
        self, account: FakeAccount, request: Request, refuse: Callable[[str], _Refusal]
    ) -> Answer:
        """Close every position (of ``symbol``) with a market order; as WEEX's page shows the
        answer: ids as JSON numbers, one item per position."""
        symbol = _object_body(request, refuse).get("symbol") if request.body else None
        if symbol is not None and not isinstance(symbol, str):
            raise refuse("symbol must be a string")
        items = []
        for position in list(account.positions.values()):
            if symbol is not None and not same_symbol(position.symbol, symbol):
                continue
            if position.refuse:
                items.append(
                    {
                        "positionId": int(position.position_id),
                        "success": False,
                        "successOrderId": 0,
                        "errorMessage": position.refuse,
                    }
                )
                continue
            del account.positions[position.position_id]
            closing = self._open(
                account,
                symbol=position.symbol,
                side="SELL" if position.side == "LONG" else "BUY",
                position_side=position.side,
                quantity=position.quantity,
                price=None,
                order_type="MARKET",
            )
            items.append(
                {
                    "positionId": int(position.position_id),
                    "success": True,
                    "successOrderId": int(closing.order_id),
                    "errorMessage": "",
                }
            )
        return 200, items

    def v2_close_positions(self, account: FakeAccount, request: Request) -> Answer:
        return self._close_positions(account, request, _v2_refuse)

    def v3_close_positions(self, account: FakeAccount, request: Request) -> Answer:
        return self._close_positions(account, request, _v3_refuse)

    # -- placing ---------------------------------------------------------------------------------

    def _open(self, account: FakeAccount, **fields: Any) -> FakeOrder:
        order = account.open_order(self.new_id(), created_ms=self._now_ms(), **fields)
        if order.order_type == "MARKET":
            order.status = "filled"
        elif order.time_in_force in ("IOC", "FOK"):
            order.status = "canceled"  # nothing to trade against
        if order.status != "open":
            del account.orders[order.order_id]
            account.closed.append(order.order_id)
        return order

    def _v2_order_fields(self, data: Any, symbol: Any) -> dict[str, Any]:
        """Check one V2 order's fields (``placeOrder`` body or an ``orderDataList`` item)."""
        if not isinstance(data, dict):
            raise _v2_refuse("each order must be a JSON object")
        if not isinstance(symbol, str) or not symbol:
            raise _Refusal(error("40019", "symbol is required"))
        client_oid = data.get("client_oid")
        if not isinstance(client_oid, str) or not 1 <= len(client_oid) <= 40:
            raise _v2_refuse("client_oid must be 1 to 40 characters")
        side = _V2_TYPE.get(data.get("type", ""))
        if side is None:
            raise _v2_refuse("type must be 1, 2, 3 or 4")
        tif = _V2_TIF.get(data.get("order_type", ""))
        if tif is None:
            raise _v2_refuse("order_type must be 0, 1, 2 or 3")
        market = data.get("match_price")
        if market not in ("0", "1"):
            raise _v2_refuse("match_price must be 0 or 1")
        price = None
        if market == "0":
            price = _positive(data.get("price"), "price", _v2_refuse)
        return {
            "client_oid": client_oid,
            "symbol": symbol,
            "side": side[0],
            "position_side": side[1],
            "quantity": _positive(data.get("size"), "size", _v2_refuse),
            "price": price,
            "order_type": "MARKET" if market == "1" else "LIMIT",
            "time_in_force": tif,
        }

    def v2_place_order(self, account: FakeAccount, request: Request) -> Answer:
        body = _object_body(request, _v2_refuse)
        fields = self._v2_order_fields(body, body.get("symbol"))
        if account.by_client_oid(fields["client_oid"]) is not None:
            return error("40017", "client_oid is already used by an open order")
        order = self._open(account, **fields)
        return 200, {"client_oid": order.client_oid, "order_id": order.order_id}

    def v2_place_orders(self, account: FakeAccount, request: Request) -> Answer:
        body = _object_body(request, _v2_refuse)
        data = body.get("orderDataList")
        if not isinstance(data, list) or not 1 <= len(data) <= V2_MAX_ORDERS:
            raise _v2_refuse(f"orderDataList must hold 1 to {V2_MAX_ORDERS} orders")
        orders = [self._v2_order_fields(item, body.get("symbol")) for item in data]
        info = []
        for fields in orders:
            if account.by_client_oid(fields["client_oid"]) is not None:
                info.append(
                    {
                        "order_id": "",
                        "client_oid": fields["client_oid"],
                        "result": False,
                        "error_code": "40017",
                        "error_message": "client_oid is already used by an open order",
                    }
                )
                continue
            order = self._open(account, **fields)
            info.append(
                {
                    "order_id": order.order_id,
                    "client_oid": order.client_oid,
                    "result": True,
                    "error_code": "",
                    "error_message": "",
                }
            )
        return 200, {"order_info": info, "result": all(i["result"] for i in info)}

    def _v3_order_fields(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _v3_refuse("each order must be a JSON object")
        for name in ("symbol", "side", "positionSide", "type", "quantity", "newClientOrderId"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise _v3_refuse(f"Mandatory parameter '{name}' was not sent or is empty")
        if not _V3_CID.fullmatch(data["newClientOrderId"]):
            raise _v3_refuse("newClientOrderId does not match ^[\\.A-Z\\:/a-z0-9_-]{1,36}$")
        if data["side"] not in ("BUY", "SELL") or data["positionSide"] not in ("LONG", "SHORT"):
            raise _v3_refuse("side must be BUY or SELL, positionSide LONG or SHORT")
        if data["type"] not in ("LIMIT", "MARKET"):
            raise _v3_refuse("type must be LIMIT or MARKET")
        price = None
        tif: Any = "GTC"
        if data["type"] == "LIMIT":
            tif = data.get("timeInForce")
            if tif not in ("GTC", "IOC", "FOK", "POST_ONLY"):
                raise _v3_refuse("timeInForce is mandatory for LIMIT: GTC, IOC, FOK or POST_ONLY")
            price = _positive(data.get("price"), "price", _v3_refuse)
        return {
            "client_oid": data["newClientOrderId"],
            "symbol": data["symbol"],
            "side": data["side"],
            "position_side": data["positionSide"],
            "quantity": _positive(data["quantity"], "quantity", _v3_refuse),
            "price": price,
            "order_type": data["type"],
            "time_in_force": tif,
        }

    def _v3_place(self, account: FakeAccount, fields: dict[str, Any]) -> dict[str, Any]:
        if account.by_client_oid(fields["client_oid"]) is not None:
            return {
                "orderId": "",
                "clientOrderId": fields["client_oid"],
                "success": False,
                "errorCode": "DUPLICATE_CLIENT_ORDER_ID",
                "errorMessage": "newClientOrderId is already used by an open order",
            }
        order = self._open(account, **fields)
        return {
            "orderId": order.order_id,
            "clientOrderId": order.client_oid,
            "success": True,
            "errorCode": "",
            "errorMessage": "",
        }

    def v3_place_order(self, account: FakeAccount, request: Request) -> Answer:
        fields = self._v3_order_fields(_object_body(request, _v3_refuse))
        return 200, self._v3_place(account, fields)

    # -- querying --------------------------------------------------------------------------------

    def _status(self, order: FakeOrder, answer: dict[str, Any], field: str, spelled: str) -> None:
        """Write the order's status into ``answer``: an open order's as ``open_status`` says."""
        if order.status != "open" or self.open_status is None:
            answer[field] = spelled
        elif self.open_status:
            answer[field] = self.open_status
        else:
            answer.pop(field, None)

    def _v2_order(self, order: FakeOrder) -> dict[str, Any]:
        filled = order.quantity if order.status == "filled" else Decimal(0)
        answer: dict[str, Any] = {
            "symbol": v2_symbol(order.symbol),
            "size": _text(order.quantity),
            "client_oid": order.client_oid or None,
            "createTime": str(order.created_ms),
            "filled_qty": _text(filled),
            "fee": "0",
            "order_id": order.order_id,
            "price": _text(order.price),
            "price_avg": _text(order.price) if filled else "0",
            "status": order.status,
            "type": _V2_TYPE_NAME[(order.side, order.position_side)],
            "order_type": _V2_TIF_NAME[order.time_in_force],
            "totalProfits": "0",
        }
        self._status(order, answer, "status", order.status)
        return answer

    def _v3_order(self, order: FakeOrder) -> dict[str, Any]:
        filled = order.quantity if order.status == "filled" else Decimal(0)
        answer: dict[str, Any] = {
            "avgPrice": _text(order.price) if filled else "0",
            "clientOrderId": order.client_oid,
            "cumQuote": _text(filled * (order.price or 0)),
            "executedQty": _text(filled),
            "orderId": int(order.order_id),  # a JSON number, as WEEX's V3 example shows
            "origQty": _text(order.quantity),
            "price": _text(order.price),
            "reduceOnly": False,
            "side": order.side,
            "positionSide": order.position_side,
            "status": _V3_STATUS[order.status],
            "stopPrice": "0",
            "symbol": v3_symbol(order.symbol),
            "time": order.created_ms,
            "timeInForce": order.time_in_force,
            "type": order.order_type,
            "updateTime": order.created_ms,
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE",
            "goodTillDate": 0,
        }
        self._status(order, answer, "status", _V3_STATUS[order.status])
        return answer

    def _page(
        self,
        account: FakeAccount,
        request: Request,
        refuse: Callable[[str], _Refusal],
        *,
        triggers: bool = False,
        first: int = 0,
    ) -> list[FakeOrder]:
        """One page of the open orders (or trigger orders); pages count from ``first``."""
        symbol = request.query.get("symbol")
        orders = (
            [
                o
                for o in account.triggers.values()
                if symbol is None or same_symbol(o.symbol, symbol)
            ]
            if triggers
            else self._open_of(account, symbol)
        )
        try:
            limit = int(request.query.get("limit", "100"))
            page = int(request.query.get("page", str(first))) - first
        except ValueError:
            raise refuse("limit and page must be integers") from None
        if not 1 <= limit <= 100 or page < 0:
            raise refuse(f"limit must be 1 to 100 and page >= {first}")
        shown = orders[page * limit : (page + 1) * limit]
        return [*shown, *shown[: self.repeat_on_page]][:limit]

    def v2_open_orders(self, account: FakeAccount, request: Request) -> Answer:
        return 200, [self._v2_order(o) for o in self._page(account, request, _v2_refuse)]

    def v3_open_orders(self, account: FakeAccount, request: Request) -> Answer:
        return 200, [self._v3_order(o) for o in self._page(account, request, _v3_refuse)]

    def _history(
        self, account: FakeAccount, request: Request, size: str, first: int
    ) -> list[FakeOrder]:
        """A page of the closed orders, the most recently closed first."""
        symbol = request.query.get("symbol")
        closed = [
            account.history[order_id]
            for order_id in reversed(account.closed)
            if symbol is None or same_symbol(account.history[order_id].symbol, symbol)
        ]
        try:
            limit = int(request.query.get(size, "100"))
            page = int(request.query.get("page", str(first))) - first
        except ValueError:
            raise _v2_refuse("page and page size must be integers") from None
        if not 1 <= limit <= 100 or page < 0:
            raise _v2_refuse(f"page size must be 1 to 100 and page >= {first}")
        return closed[page * limit : (page + 1) * limit]

    def v2_order_history(self, account: FakeAccount, request: Request) -> Answer:
        return 200, [self._v2_order(o) for o in self._history(account, request, "pageSize", 0)]

    def v3_order_history(self, account: FakeAccount, request: Request) -> Answer:
        return 200, [self._v3_order(o) for o in self._history(account, request, "limit", 1)]

    def v2_open_triggers(self, account: FakeAccount, request: Request) -> Answer:
        orders = self._page(account, request, _v2_refuse, triggers=True)
        return 200, [self._v2_trigger(o) for o in orders]

    def v3_open_triggers(self, account: FakeAccount, request: Request) -> Answer:
        orders = self._page(account, request, _v3_refuse, triggers=True, first=1)
        return 200, [self._v3_trigger(o) for o in orders]

    def _v2_trigger(self, order: FakeOrder) -> dict[str, Any]:
        answer = self._v2_order(order)
        answer["triggerPrice"] = _text(order.trigger_price)
        self._status(order, answer, "status", "untriggered")
        return answer

    def _v3_trigger(self, order: FakeOrder) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "algoId": order.order_id,  # a string, as recorded from the live exchange
            "clientAlgoId": order.client_oid or None,
            "algoType": "CONDITIONAL",
            "orderType": "STOP" if order.order_type == "LIMIT" else "STOP_MARKET",
            "symbol": v3_symbol(order.symbol),
            "side": order.side,
            "positionSide": order.position_side,
            "timeInForce": order.time_in_force,
            "quantity": _text(order.quantity),
            "actualOrderId": None,
            "actualPrice": "0",
            "triggerPrice": _text(order.trigger_price),
            "price": _text(order.price),
            "tpTriggerPrice": None,
            "tpPrice": None,
            "slTriggerPrice": None,
            "slPrice": None,
            "tpOrderType": None,
            "workingType": "CONTRACT_PRICE",
            "closePosition": False,
            "reduceOnly": False,
            "createTime": str(order.created_ms),
            "updateTime": str(order.created_ms),
            "triggerTime": 0,
        }
        self._status(order, answer, "algoStatus", "UNTRIGGERED")
        return answer

    def v2_order_detail(self, account: FakeAccount, request: Request) -> Answer:
        order = account.history.get(request.query.get("orderId", ""))
        if order is None:
            return error("50005", "order does not exist")
        return 200, self._v2_order(order)

    def v3_order_detail(self, account: FakeAccount, request: Request) -> Answer:
        order = account.history.get(request.query.get("orderId", ""))
        if order is None:
            return error(-3200, "Order does not exist.")
        return 200, self._v3_order(order)
