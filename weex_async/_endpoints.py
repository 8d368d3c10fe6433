"""Endpoints as data: one frozen spec per endpoint, which the client's single call path runs.

An endpoint without weights cannot be declared, so it cannot be sent: the limiter never fails open.
A new endpoint (or API version) is a new table entry, not new code.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import attrs

from ._limiter._admission import Priority
from .models import BatchCancelResult, ServerTime, V3CancelItem

__all__ = ["CANCEL_BATCH_ORDERS", "CANCEL_BATCH_ORDERS_V3", "SERVER_TIME", "Endpoint"]

T = TypeVar("T")


def _check_weights(instance: Endpoint[Any], attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{instance.name}: {attribute.name} must be an int >= 0")


@attrs.frozen
class Endpoint(Generic[T]):
    """One REST endpoint.

    Attributes:
        name: the client method's name.
        method: the HTTP method.
        path: the request path.
        ip_weight: weight charged to the IP pool per call (every call has one).
        uid_weight: weight charged to the account pool per call (every signed call has one).
        signed: whether the call carries ACCESS-* headers.
        response_type: the model the answer decodes into.
        idempotent: safe to send again when the first answer was lost.
        priority: the call's place in the limiter's queue.
        trade: counts against the trade-rate cap (place / cancel).
    """

    name: str
    method: str
    path: str
    ip_weight: int = attrs.field(validator=_check_weights)
    uid_weight: int = attrs.field(validator=_check_weights)
    signed: bool
    response_type: type[T]
    idempotent: bool
    priority: Priority
    trade: bool = False

    def __attrs_post_init__(self) -> None:
        if self.ip_weight < 1 or (self.signed and self.uid_weight < 1):
            raise ValueError(f"{self.name}: every call needs its IP (and, if signed, UID) weight")


CANCEL_BATCH_ORDERS: Endpoint[BatchCancelResult] = Endpoint(
    name="cancel_batch_orders",
    method="POST",
    path="/capi/v2/order/cancel_batch_orders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=BatchCancelResult,
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

#: V3's batch cancel: a JSON body on DELETE (signed like POST), at most 10 ids, an array answer.
CANCEL_BATCH_ORDERS_V3: Endpoint[tuple[V3CancelItem, ...]] = Endpoint(
    name="cancel_batch_orders_v3",
    method="DELETE",
    path="/capi/v3/batchOrders",
    ip_weight=5,
    uid_weight=10,
    signed=True,
    response_type=tuple[V3CancelItem, ...],
    idempotent=True,
    priority=Priority.CANCEL,
    trade=True,
)

SERVER_TIME: Endpoint[ServerTime] = Endpoint(
    name="server_time",
    method="GET",
    path="/capi/v2/market/time",
    ip_weight=1,
    uid_weight=0,
    signed=False,
    response_type=ServerTime,
    idempotent=True,
    priority=Priority.SYSTEM,
)
