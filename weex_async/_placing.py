"""``place_orders``: the requests of a batch placement, sent and read into one ack per order.

V2 places a batch in one request; V3 in one request per order (WEEX refuses V3 batch placement),
sent concurrently through the limiter, each charged as the single placement it is. The acks come
back in the order the orders were given, whatever order the answers arrive in.

A placement is never sent twice once it may have reached the exchange (the request layer retries
a non-idempotent call only after a refusal that proves it was not acted on). When a batch is
several requests, an error of one of them must not hide the acks of the others (orders that are
live): it becomes the acks of its own orders instead of being raised:

- a refusal (``WeexAPIError`` the retry policy does not call unclear: a 400 ``-1142``, say):
  ``success`` false, ``error_code`` the exchange's code (or the HTTP status), ``error_message``
  its message;
- no clear answer (timeout, dropped connection, 5xx, an unreadable or unexplained answer, or the
  client closed while it was on the wire): ``error_code`` ``OUTCOME_UNKNOWN``: the order may be
  live, look it up by its ``client_oid``;
- never sent (the client was closed first, or no connection could be opened:
  ``TransportError.not_sent``): ``error_code`` ``NOT_SENT``.

A refusal of the key (authentication, permission) is raised when no order may be live, and is
sent once: until a signed call has confirmed the key, the first request goes alone and the others
follow its answer. A refusal of one request while others placed their orders (a key revoked, an
IP rule changed, mid-batch) is that request's acks, like any refusal: raising it would hide live
orders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ._api import NOT_SENT, OUTCOME_UNKNOWN, Placement
from ._cancel import wait_all
from ._session import Session, Trace
from .errors import AuthenticationError, PermissionDeniedError, WeexAPIError, WeexError
from .models import OrderAck

__all__ = ["place_all"]


async def place_all(
    session: Session, placements: Sequence[Placement], *, one_by_one: bool = False
) -> tuple[OrderAck, ...]:
    """Send ``placements`` and return one ack per order, in order (see the module docstring).
    ``one_by_one``: each placement is one order's own request (V3), so even a lone one's error
    is its ack, as in a batch of many.

    Raises:
        WeexError: (a subclass) the error of the only request of a batch (V2); or a refusal of
            the key when no order was placed.
    """
    if len(placements) == 1 and not one_by_one:
        return await session.send(placements[0].call)
    acks: list[tuple[OrderAck, ...]] = [() for _ in placements]
    refusals: list[WeexError] = []

    async def place(index: int, *, alone: bool = False) -> None:
        placement = placements[index]
        trace = Trace()
        try:
            acks[index] = await session.send(placement.call, trace=trace)
        except (AuthenticationError, PermissionDeniedError) as exc:
            if alone:
                raise  # nothing else was sent: the key's refusal is the answer
            refusals.append(exc)
            acks[index] = _failed(placement, exc, trace, session)
        except WeexError as exc:
            acks[index] = _failed(placement, exc, trace, session)

    first = 0
    if placements and not session.key_confirmed:
        await place(0, alone=True)  # a wrong key is refused once, not once per order
        first = 1
    tasks = [asyncio.ensure_future(place(i)) for i in range(first, len(placements))]
    await wait_all(tasks)
    for task in tasks:
        error = task.exception()
        if error is not None:  # not an answer (a bug): said, not hidden
            raise error
    result = tuple(ack for answered in acks for ack in answered)
    if refusals and not any(ack.success or ack.error_code == OUTCOME_UNKNOWN for ack in result):
        raise refusals[0]  # no order may be live: the key's refusal is the answer
    return result


def _failed(
    placement: Placement, error: WeexError, trace: Trace, session: Session
) -> tuple[OrderAck, ...]:
    """The acks of one request's orders when the request raised ``error``."""
    if trace.sent == 0 or (not trace.unclear and session.retry.never_sent(error)):
        code, why = NOT_SENT, f"not sent: {error}"
    elif trace.unclear or session.retry.outcome_unknown(error):
        code = OUTCOME_UNKNOWN
        why = f"no clear answer ({type(error).__name__}: {error}): the order may be live (look "
        why += "it up by client_oid)"
    elif isinstance(error, WeexAPIError):
        code, why = error.code or str(error.status_code), error.message
    else:
        code, why = OUTCOME_UNKNOWN, f"{type(error).__name__}: {error}"
    return tuple(OrderAck("", order.client_oid, False, code, why) for order in placement.orders)
