"""The typed results of every call, and the one typed input (``OrderRequest``).

Frozen attrs classes with snake_case names, the same whatever the API version: each version's wire
shapes live in its own module (``weex_async._v2``, ``weex_async._v3``) and are converted into
these. Every order id and client order id is a ``str``; every price and quantity is a
``decimal.Decimal`` (never a float).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast, get_args

import attrs

from ._checks import name_problem
from .errors import InvalidRequestError

__all__ = [
    "BatchCancelResult",
    "CancelAllResult",
    "CancelOrderResult",
    "CancelReport",
    "ClosePositionResult",
    "FlattenReport",
    "Order",
    "OrderAck",
    "OrderRequest",
    "OrderType",
    "PositionSide",
    "ServerTime",
    "Side",
    "SymbolReport",
    "TimeInForce",
    "TriggerOrder",
]


@attrs.frozen
class CancelOrderResult:
    """The exchange's verdict on one order of a batch cancel.

    Attributes:
        order_id: the exchange's order id (``""`` when the order was named by client id).
        client_oid: the client order id (``""`` when the order was named by exchange id).
        result: ``True`` if this order was cancelled.
        err_msg: the exchange's reason when ``result`` is false (``"FAILED_ORDER_NOT_FOUND"``).
        err_code: the exchange's error code for this order, when it sends one.
        symbol: the symbol, when the exchange sends it.
    """

    order_id: str
    client_oid: str
    result: bool
    err_msg: str = ""
    err_code: str | None = None
    symbol: str | None = None


@attrs.frozen
class BatchCancelResult:
    """The answer to one ``cancel_batch_orders`` call.

    Judge each order by its own item in ``cancel_order_result_list`` (or ``fail_infos``), never by
    the top-level ``result``: WEEX does not document what ``result`` means when some orders fail.

    Attributes:
        result: the exchange's top-level flag.
        order_ids: ``orderIds`` as answered.
        client_oids: ``clientOids`` as answered.
        cancel_order_result_list: one item per order the exchange reported on.
        fail_infos: items the exchange reported as failed.
        symbol: the symbol, when the exchange sends it.
    """

    result: bool
    order_ids: tuple[str, ...] = ()
    client_oids: tuple[str, ...] = ()
    cancel_order_result_list: tuple[CancelOrderResult, ...] = ()
    fail_infos: tuple[CancelOrderResult, ...] = ()
    symbol: str | None = None


@attrs.frozen
class ServerTime:
    """The exchange's clock (``GET /capi/v2/market/time``; V3 answers only milliseconds, and
    ``epoch`` and ``iso`` are derived from them).

    Attributes:
        timestamp: Unix time in milliseconds.
        epoch: the same instant as a decimal string of seconds (``"1716710918.113"``).
        iso: the same instant in ISO 8601.
    """

    timestamp: int
    epoch: str = ""
    iso: str = ""


@attrs.frozen
class CancelReport:
    """The outcome of ``cancel_orders``: one outcome for every id asked for.

    Every distinct id passed in appears in exactly one of ``cancelled``, ``failed`` or ``unknown``.

    Attributes:
        cancelled: ids the exchange confirmed cancelled, in the order asked.
        failed: id -> the exchange's reason for refusing (e.g. ``"FAILED_ORDER_NOT_FOUND"``).
        unknown: id -> why no definite answer came (the last error after retries ran out, or the id
            was missing from every answer).
        calls: how many HTTP attempts were made, retries included.
    """

    cancelled: tuple[str, ...] = ()
    failed: dict[str, str] = attrs.field(factory=dict)
    unknown: dict[str, str] = attrs.field(factory=dict)
    calls: int = 0

    @property
    def all_cancelled(self) -> bool:
        """True when every id asked for was confirmed cancelled."""
        return not self.failed and not self.unknown

    def __len__(self) -> int:
        return len(self.cancelled) + len(self.failed) + len(self.unknown)


@attrs.frozen
class SymbolReport:
    """What ``cancel_everything`` did to one symbol's orders.

    Every order it met (listed open, or named in a cancel's answer) appears in exactly one of
    ``cancelled``, ``gone``, ``still_open`` and ``unknown``.

    Attributes:
        seen_open: the ids any listing of the symbol showed open (each round lists one page of
            up to 100: every page met counts), or a cancel-all's answer said it cancelled (so
            they were open, listed or not), in the order first seen.
        cancelled: ids the exchange said it cancelled (in a cancel-all's or a batch cancel's
            answer), in the order they were cancelled.
        gone: id -> why: no longer open, but not cancelled by this call as far as the exchange
            said: filled, or cancelled elsewhere (``"FAILED_ORDER_NOT_FOUND"``), or a cancel
            attempt went unanswered and a later listing showed the order gone.
        still_open: id -> why: shown open by the last listing (the deadline passed, the cancels
            were refused, the rounds ran out).
        unknown: id -> why: not known to be closed, because the last listing of the symbol
            failed or was not made.
        triggers_open: the trigger (V2 plan, V3 algo) orders the last trigger-order listing
            showed open on the symbol: those left in place by default (they often protect open
            positions), or those ``include_triggers=True`` could not cancel. Not proof of
            absence when ``FlattenReport.triggers_listed`` is false.
        triggers_cancelled: trigger order ids a trigger cancel-all's answer said it cancelled
            (``include_triggers=True`` only).
    """

    seen_open: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    gone: dict[str, str] = attrs.field(factory=dict)
    still_open: dict[str, str] = attrs.field(factory=dict)
    unknown: dict[str, str] = attrs.field(factory=dict)
    triggers_open: tuple[str, ...] = ()
    triggers_cancelled: tuple[str, ...] = ()


@attrs.frozen
class FlattenReport:
    """The outcome of ``cancel_everything``: per symbol, what was open, cancelled, gone, left.

    What ``flat`` proves: the last open-orders listing of every target (the account, or each
    symbol asked for), made after its last cancel, showed no order whose status is not a final
    one (``Order.is_open``); with ``include_triggers=True``, the last trigger-order listing of
    every target showed none either. It proves nothing about positions (``close_positions``
    closes them), and by default nothing about trigger orders (see ``triggers_open``).

    Attributes:
        flat: True only when the last listing of every target showed no open order after the
            cancels (and, with ``include_triggers=True``, no open trigger order).
        symbols: symbol -> ``SymbolReport``. An order known only from an account-wide cancel-all's
            answer (which names no symbol), and never shown by a listing, is filed under ``""``
            (the run does not spend a request on learning it).
        calls: HTTP attempts made (listings, cancel-alls, batch cancels; retries included).
        rounds: listing-and-cancelling rounds run (for the target that needed the most).
        elapsed: seconds from the call to the report.
        problems: what went wrong on the way, one line each (a listing that failed, a cancel-all
            refused, the deadline): empty when nothing did.
        include_triggers: whether trigger orders were cancelled too (else only listed).
        triggers_listed: True when the last trigger-order listing of every target answered, so
            ``triggers_open`` holds every open trigger order it showed (a listing shows at most
            100 per target: a full page is in ``problems``).
    """

    flat: bool
    symbols: dict[str, SymbolReport] = attrs.field(factory=dict)
    calls: int = 0
    rounds: int = 0
    elapsed: float = 0.0
    problems: tuple[str, ...] = ()
    include_triggers: bool = False
    triggers_listed: bool = True

    @property
    def cancelled(self) -> tuple[str, ...]:
        """Every id cancelled, all symbols together."""
        return tuple(name for report in self.symbols.values() for name in report.cancelled)

    @property
    def still_open(self) -> dict[str, str]:
        """Every id the last listings showed open, all symbols together, with why."""
        return {
            name: why for report in self.symbols.values() for name, why in report.still_open.items()
        }

    @property
    def triggers_open(self) -> tuple[str, ...]:
        """Every trigger order id the last trigger-order listings showed open, all symbols."""
        return tuple(name for report in self.symbols.values() for name in report.triggers_open)


def exact_decimal(value: Any) -> Decimal:
    """``value`` as an exact ``Decimal``: a ``str``, ``int``, ``Decimal``, or a float through its
    repr (``0.1`` is ``Decimal("0.1")``, not the binary float's 55 digits).

    Raises:
        TypeError: not one of those types (a ``bool`` included).
        ValueError: a string that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise TypeError(f"expected a decimal string or number, got {value!r}")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = exact_decimal(value)
    except TypeError:
        raise InvalidRequestError(
            f"{what} must be a Decimal, str or number, got {value!r}"
        ) from None
    except ValueError:
        raise InvalidRequestError(f"{what} {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise InvalidRequestError(f"{what} must be a positive number, got {value!r}")
    return number


def _quantity(value: Any) -> Decimal:
    return _decimal(value, "quantity")


def _price(value: Any) -> Decimal | None:
    return None if value is None else _decimal(value, "price")


#: The values each enum-like field of ``OrderRequest`` takes (any case is accepted on input).
Side = Literal["BUY", "SELL"]
PositionSide = Literal["LONG", "SHORT"]
OrderType = Literal["LIMIT", "MARKET"]
TimeInForce = Literal["GTC", "IOC", "FOK", "POST_ONLY"]


def _pick(value: str, kind: Any, field: str) -> Any:
    """``value`` upper-cased, which must be one of the ``Literal`` type ``kind``'s values."""
    allowed: tuple[str, ...] = get_args(kind)
    upper = value.upper() if isinstance(value, str) else value
    if upper not in allowed:
        raise InvalidRequestError(f"{field} must be one of {allowed}, got {value!r}")
    return upper


def _side(value: str) -> Side:
    return cast(Side, _pick(value, Side, "side"))


def _position_side(value: str) -> PositionSide:
    return cast(PositionSide, _pick(value, PositionSide, "position_side"))


def _order_type(value: str) -> OrderType:
    return cast(OrderType, _pick(value, OrderType, "order_type"))


def _time_in_force(value: str) -> TimeInForce:
    return cast(TimeInForce, _pick(value, TimeInForce, "time_in_force"))


def _new_client_oid() -> str:
    return f"wa-{uuid.uuid4().hex}"


def _check_client_oid(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    problem = (
        name_problem("cids", value)
        if isinstance(value, str)
        else f"client_oid must be a string, got {type(value).__name__}"
    )
    if problem is not None:
        raise InvalidRequestError(f"client_oid: {problem}")


@attrs.frozen
class OrderRequest:
    """One order to place, spelled once for both API versions.

    ``WeexClient.place_order`` turns it into V2's ``placeOrder`` body (``type`` 1-4, ``order_type``,
    ``match_price``, ``size``) or V3's (``side``, ``positionSide``, ``type``, ``timeInForce``,
    ``quantity``). Everything is checked here, before anything is sent.

    Attributes:
        symbol: ``"cmt_btcusdt"`` on V2, ``"BTCUSDT"`` on V3.
        side: ``"BUY"`` or ``"SELL"`` (any case).
        position_side: ``"LONG"`` or ``"SHORT"``: BUY LONG opens a long, SELL LONG closes it,
            SELL SHORT opens a short, BUY SHORT closes it.
        quantity: a positive ``Decimal`` (a ``str`` or number is converted; a float through its
            repr, so ``0.1`` is ``Decimal("0.1")``).
        price: the limit price; required for ``LIMIT``, refused for ``MARKET``.
        order_type: ``"LIMIT"`` (default) or ``"MARKET"``.
        time_in_force: ``"GTC"`` (default), ``"IOC"``, ``"FOK"`` or ``"POST_ONLY"`` (limit orders).
        client_oid: your id for the order; a fresh ``"wa-<32 hex>"`` when not given. Keep it: it
            is how you find (or cancel) an order whose placement got no answer.
        take_profit_price: optional preset take-profit trigger price.
        stop_loss_price: optional preset stop-loss trigger price.
    """

    symbol: str
    side: Side = attrs.field(converter=_side)
    position_side: PositionSide = attrs.field(converter=_position_side)
    quantity: Decimal = attrs.field(converter=_quantity)
    price: Decimal | None = attrs.field(default=None, converter=_price)
    order_type: OrderType = attrs.field(default="LIMIT", converter=_order_type)
    time_in_force: TimeInForce = attrs.field(default="GTC", converter=_time_in_force)
    client_oid: str = attrs.field(factory=_new_client_oid, validator=_check_client_oid)
    take_profit_price: Decimal | None = attrs.field(default=None, converter=_price)
    stop_loss_price: Decimal | None = attrs.field(default=None, converter=_price)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise InvalidRequestError("symbol must be a non-empty string such as 'cmt_btcusdt'")
        if self.order_type == "LIMIT" and self.price is None:
            raise InvalidRequestError("a LIMIT order needs a price")
        if self.order_type == "MARKET" and self.price is not None:
            raise InvalidRequestError("a MARKET order takes no price")


@attrs.frozen
class OrderAck:
    """The exchange's answer to one placement (``place_order``, or one item of ``place_orders``).

    Attributes:
        order_id: the exchange's id for the new order (``""`` when it was refused).
        client_oid: the client order id, as echoed (the one you sent when the exchange echoes none).
        success: ``True`` if the exchange accepted the order.
        error_code: the exchange's code when refused (``"PRICE_OUT_OF_RANGE"``), else ``""``.
        error_message: the exchange's reason when refused, else ``""``.
    """

    order_id: str
    client_oid: str
    success: bool = True
    error_code: str = ""
    error_message: str = ""


#: Statuses WEEX documents as final, in either version's spelling, lower case (docs/weex-facts.md):
#: V2 ``filled``, ``canceled``; V3 ``FILLED``, ``CANCELED``, ``REJECTED``, ``EXPIRED``; plus the
#: spellings public clients read (``cancelled``, ``full_fill``). A deny-list on purpose: any other
#: status (``PENDING_NEW``, ``PENDING_CANCEL``, ``partial_filled``, a number, none at all) is read
#: as "may still trade", the reading that costs least when wrong (one more cancel, answered "not
#: found"), where an allow-list of open statuses would call a resting order closed.
FINAL_STATUSES = frozenset({"filled", "full_fill", "canceled", "cancelled", "rejected", "expired"})

#: The final statuses that say "cancelled" (not filled, rejected or expired).
CANCELLED_STATUSES = frozenset({"canceled", "cancelled"})


def is_final_status(status: object) -> bool:
    """True only for a status WEEX documents as final (``FINAL_STATUSES``, any case); anything
    else, a missing or non-string status included, may still trade."""
    return isinstance(status, str) and status.strip().lower() in FINAL_STATUSES


@attrs.frozen
class Order:
    """One order as ``open_orders`` and ``order_detail`` report it, in either API version.

    Attributes:
        order_id: the exchange's order id.
        client_oid: the client order id (``""`` when none).
        symbol: the symbol as the version spells it.
        status: the status as sent: V2 ``pending``, ``open``, ``filled``, ``canceling``,
            ``canceled``, ``untriggered``; V3 ``NEW``, ``PARTIALLY_FILLED``, ``FILLED``,
            ``CANCELED``, ``REJECTED``, ``EXPIRED`` (``""`` when none is sent; see ``is_open``).
        side: ``"BUY"`` or ``"SELL"`` (from V2's ``type``, e.g. ``open_long`` is BUY LONG);
            ``""`` for a type V2 does not document.
        position_side: ``"LONG"`` or ``"SHORT"`` (``""`` when unknown).
        quantity: the order's size.
        filled_quantity: how much has traded.
        price: the limit price (``None`` when the exchange sends none).
        avg_price: the average fill price (``None`` before any fill is reported).
        time_in_force: ``GTC``, ``IOC``, ``FOK`` or ``POST_ONLY`` (V2's ``normal`` is ``GTC``).
        created_at: creation time, Unix milliseconds.
        fee: the fee paid so far (V2 only; ``None`` on V3).
    """

    order_id: str
    client_oid: str
    symbol: str
    status: str
    side: str
    position_side: str
    quantity: Decimal
    filled_quantity: Decimal
    price: Decimal | None
    avg_price: Decimal | None
    time_in_force: str
    created_at: int
    fee: Decimal | None = None

    @property
    def is_open(self) -> bool:
        """False only when ``status`` is one WEEX documents as final (``FINAL_STATUSES``: filled,
        cancelled, rejected, expired, in either version's spelling, any case).

        Any other status is open: ``NEW``, ``PARTIALLY_FILLED``, ``canceling``, and also one this
        SDK has never seen (``PENDING_NEW``, ``partial_filled``, ``live``, a number) or an empty
        one. Reading an unknown status as open costs one more cancel at worst; reading it as
        closed could leave an order resting while a report says flat.
        """
        return not is_final_status(self.status)

    @property
    def is_cancelled(self) -> bool:
        """True when ``status`` says the order was cancelled (``canceled`` / ``CANCELED``)."""
        return self.status.strip().lower() in CANCELLED_STATUSES


#: Trigger-order statuses that are final: the order statuses' (``FINAL_STATUSES``), plus
#: ``triggered`` (it fired: the order it placed is an ordinary order, which ``open_orders`` lists).
TRIGGER_FINAL_STATUSES = FINAL_STATUSES | {"triggered"}


@attrs.frozen
class TriggerOrder:
    """One trigger (conditional) order, waiting for its trigger price: a V2 "plan" order
    (``GET /capi/v2/order/currentPlan``) or a V3 "algo" order (``GET /capi/v3/openAlgoOrders``).

    ``open_orders`` and ``cancel_all_orders`` never see these; ``open_trigger_orders`` and
    ``cancel_all_trigger_orders`` do.

    Attributes:
        order_id: the exchange's id (V2 ``order_id``, V3 ``algoId``).
        client_oid: the client id (V2 ``client_oid``, V3 ``clientAlgoId``; ``""`` when none).
        symbol: the symbol as the version spells it.
        status: as sent (V3 ``UNTRIGGERED``, ...; V2's are not documented with certainty and may
            be numbers): see ``is_open``.
        side: ``"BUY"`` or ``"SELL"`` (``""`` when unknown).
        position_side: ``"LONG"`` or ``"SHORT"`` (``""`` when unknown).
        quantity: the size of the order it places when triggered.
        trigger_price: the price that fires it (``None`` when none is sent).
        created_at: creation time, Unix milliseconds.
    """

    order_id: str
    client_oid: str
    symbol: str
    status: str
    side: str
    position_side: str
    quantity: Decimal
    trigger_price: Decimal | None
    created_at: int

    @property
    def is_open(self) -> bool:
        """False only for a final status (``TRIGGER_FINAL_STATUSES``: filled, cancelled,
        rejected, expired, triggered, any case); any other, or none, is open (waiting)."""
        return not (
            isinstance(self.status, str) and self.status.strip().lower() in TRIGGER_FINAL_STATUSES
        )


@attrs.frozen
class ClosePositionResult:
    """The exchange's verdict on one position of ``close_positions``.

    Attributes:
        position_id: the exchange's id of the position.
        success: ``True`` when the exchange placed the market order that closes it.
        order_id: the id of that closing order (``""`` when none was placed).
        error_message: the exchange's reason when ``success`` is false, else ``""``.
    """

    position_id: str
    success: bool
    order_id: str = ""
    error_message: str = ""


@attrs.frozen
class CancelAllResult:
    """The answer to ``cancel_all_orders``.

    V3 answers one item per order; V2's answer is not documented. ``results`` holds the per-order
    verdicts whenever the answer lists them, and ``raw`` is the answer as decoded JSON, so nothing
    the exchange said is lost. Confirm with ``open_orders`` when it matters.

    Attributes:
        results: one verdict per order the exchange reported on.
        raw: the exchange's answer, as decoded JSON.
    """

    results: tuple[CancelOrderResult, ...] = ()
    raw: Any = attrs.field(default=None, eq=False)

    @property
    def cancelled(self) -> tuple[str, ...]:
        """The ids of the orders the exchange reported cancelled."""
        return tuple(item.order_id for item in self.results if item.result)
