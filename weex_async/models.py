"""The typed results of every call: frozen attrs classes with snake_case names.

Wire names (camelCase) and wire quirks (ids sent as JSON numbers, optional fields) are handled
by the converter in ``weex_async._decode``; these classes only say what a result *is*.
Every order id and client order id is a ``str``.
"""

from __future__ import annotations

import attrs

__all__ = ["BatchCancelResult", "CancelOrderResult", "CancelReport", "ServerTime"]


@attrs.frozen
class CancelOrderResult:
    """The exchange's verdict on one order of a batch cancel.

    Attributes:
        order_id: the exchange's order id (``""`` when the order was named by client id).
        client_oid: the client order id (``""`` when the order was named by exchange id).
        result: ``True`` if this order was cancelled.
        err_msg: the exchange's reason when ``result`` is false (``"FAILED_ORDER_NOT_FOUND"``).
        err_code: the exchange's error code for this order, when it sends one.
    """

    order_id: str
    client_oid: str
    result: bool
    err_msg: str = ""
    err_code: str | None = None


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
class V3CancelItem:
    """One item of V3's batch cancel answer, as sent (the client turns it into a
    ``CancelOrderResult``, so that code written for V2 reads V3 answers unchanged).

    Attributes:
        order_id: ``orderId``.
        orig_client_order_id: ``origClientOrderId``.
        success: ``success``.
        error_code: ``errorCode`` (``"ORDER_NOT_FOUND"``), empty on success.
        error_message: ``errorMessage``, empty on success.
    """

    order_id: str = ""
    orig_client_order_id: str = ""
    success: bool = False
    error_code: str = ""
    error_message: str = ""


@attrs.frozen
class ServerTime:
    """The exchange's clock (``GET /capi/v2/market/time``).

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
