"""The exchange's own answer shapes, where they differ from the public models.

Each class spells its fields exactly as the wire does (``orderId``, ``client_oid``,
``createTime``: WEEX mixes conventions, even within one answer), so the converter structures
them without renames, and ``make_converter(strict=True)`` proves every documented field is read.
``weex_async._dialects`` converts them into the public models of ``weex_async.models``.
Strings the exchange sends as ``null`` arrive as ``""``; decimal strings become ``Decimal``
(``None`` when empty or absent).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

__all__ = [
    "V2BatchPlaceAnswer",
    "V2Order",
    "V2PlaceAnswer",
    "V2PlaceItem",
    "V3CancelItem",
    "V3Order",
    "V3PlaceItem",
]


@attrs.frozen
class V3CancelItem:
    """One item of V3's cancel answers (batch cancel, cancel one, cancel all)."""

    orderId: str = ""
    origClientOrderId: str = ""
    success: bool = False
    errorCode: str = ""
    errorMessage: str = ""


@attrs.frozen
class V2PlaceAnswer:
    """V2 ``placeOrder``: ``{"client_oid": null, "order_id": "596471064624628269"}``."""

    order_id: str
    client_oid: str = ""


@attrs.frozen
class V2PlaceItem:
    """One item of V2 ``batchOrders``' ``order_info``."""

    order_id: str = ""
    client_oid: str = ""
    result: bool = False
    error_code: str = ""
    error_message: str = ""


@attrs.frozen
class V2BatchPlaceAnswer:
    """V2 ``batchOrders``: ``{"order_info": [...], "result": true}``."""

    order_info: tuple[V2PlaceItem, ...] = ()
    result: bool = False


@attrs.frozen
class V3PlaceItem:
    """V3 ``POST /capi/v3/order``, and each item of ``POST /capi/v3/batchOrders``."""

    orderId: str = ""
    clientOrderId: str = ""
    success: bool = False
    errorCode: str = ""
    errorMessage: str = ""


@attrs.frozen
class V2Order:
    """One order of V2 ``order/current`` and ``order/detail``."""

    order_id: str
    symbol: str = ""
    size: Decimal | None = None
    client_oid: str = ""
    createTime: int = 0
    filled_qty: Decimal | None = None
    fee: Decimal | None = None
    price: Decimal | None = None
    price_avg: Decimal | None = None
    status: str = ""
    type: str = ""
    order_type: str = ""
    totalProfits: Decimal | None = None
    contracts: int | None = None
    filledQtyContracts: int | None = None


@attrs.frozen
class V3Order:
    """One order of V3 ``openOrders`` and ``GET /capi/v3/order``."""

    orderId: str
    symbol: str = ""
    clientOrderId: str = ""
    avgPrice: Decimal | None = None
    cumQuote: Decimal | None = None
    executedQty: Decimal | None = None
    origQty: Decimal | None = None
    price: Decimal | None = None
    reduceOnly: bool = False
    side: str = ""
    positionSide: str = ""
    status: str = ""
    stopPrice: Decimal | None = None
    time: int = 0
    timeInForce: str = ""
    type: str = ""
    updateTime: int = 0
    workingType: str = ""
    priceProtect: bool = False
    priceMatch: str = ""
    selfTradePreventionMode: str = ""
    goodTillDate: int = 0
