"""``cancel_orders``: any number of orders, each accounted for.

The orders are split into batch cancels that run concurrently through the request layer
(``Session.send``, which owns the retry loop), and every order asked for gets exactly one outcome:
``cancelled``, ``failed`` (the exchange refused: its reason) or ``unknown`` (no definite answer:
why). The run reads each order's own verdict as the answers come; an order an answer does not
mention makes that answer incomplete, and the batch is asked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ._api import Api
from ._checks import Key
from ._session import DeadlineReached, Session, Trace
from .errors import BadRequestError, UnexpectedResponseError, WeexAPIError, WeexError
from .models import BatchCancelResult, CancelOrderResult, CancelReport

__all__ = ["MAYBE_CANCELLED_EARLIER", "BatchLimit", "CancelRun"]

#: WEEX's "too many ids in one cancel" error code.
TOO_MANY_IDS = "40912"
#: Said of an order that was "not found" after an earlier attempt went unanswered.
MAYBE_CANCELLED_EARLIER = "an earlier attempt that got no answer may have cancelled it"


class BatchLimit:
    """The most orders per batch cancel, as learned during a client's session.

    Halved for the rest of the session when the exchange answers "too many ids" (40912).
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def lower(self, size: int) -> None:
        self.size = max(1, min(self.size, size))


class IncompleteAnswerError(UnexpectedResponseError):
    """A batch cancel's answer gave no clear verdict on some of its orders (asked again)."""


def _is_not_found(item: CancelOrderResult) -> bool:
    return item.err_code == "50005" or "NOT_FOUND" in item.err_msg.upper().replace(" ", "_")


class CancelRun:
    """One ``cancel_orders`` call: the outcome of every order, filled in as answers come.

    Args:
        session: sends each batch (limiter, signing, retries).
        api: spells each batch cancel for the client's API version.
        key: ``"ids"`` or ``"cids"``.
        symbol: sent with every batch when given.
        deadline_at: event-loop time after which nothing more is sent; ``None`` for none.
        limit: the session's learned batch size (lowered on "too many ids").
    """

    def __init__(
        self,
        session: Session,
        api: Api,
        key: Key,
        symbol: str | None,
        deadline_at: float | None,
        limit: BatchLimit,
    ) -> None:
        self._session = session
        self._api = api
        self._key = key
        self._symbol = symbol
        self._deadline_at = deadline_at
        self._limit = limit
        self.cancelled: dict[str, None] = {}
        self.failed: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.calls = 0

    async def run(self, names: Sequence[str], batch_size: int) -> CancelReport:
        """Cancel ``names`` (distinct, validated) in batches of ``batch_size``, concurrently."""
        await asyncio.gather(
            *(
                self._batch(list(names[i : i + batch_size]))
                for i in range(0, len(names), batch_size)
            )
        )
        order = {name: index for index, name in enumerate(names)}
        return CancelReport(
            cancelled=tuple(sorted(self.cancelled, key=order.__getitem__)),
            failed=dict(sorted(self.failed.items(), key=lambda kv: order[kv[0]])),
            unknown=dict(sorted(self.unknown.items(), key=lambda kv: order[kv[0]])),
            calls=self.calls,
        )

    async def _batch(self, names: list[str]) -> None:
        pending = list(names)
        trace = Trace()

        def absorb(result: BatchCancelResult) -> None:
            pending[:] = self._absorb(result, pending, maybe_sent=trace.unclear)
            if pending:
                raise IncompleteAnswerError(
                    f"{len(pending)} order(s) missing from the exchange's answer",
                    status_code=200,
                    body="",
                )

        call = self._api.cancel_batch(self._key, names, self._symbol).then(absorb)
        try:
            await self._session.send(
                call, retry_unclear=True, deadline_at=self._deadline_at, trace=trace
            )
        except DeadlineReached as exc:
            if exc.in_flight:
                reason = f"deadline reached with attempt {exc.attempts} unanswered"
            else:
                last = _describe(exc.last_error) if exc.last_error else "no attempt was made"
                reason = f"deadline reached after {exc.attempts} attempt(s): {last}"
            self._give_up(pending, reason)
        except BadRequestError as exc:
            if exc.code == TOO_MANY_IDS and len(pending) > 1:
                await self._split(pending)
            else:
                self._refused(pending, exc, maybe_sent=trace.unclear)
        except IncompleteAnswerError:
            self._give_up(
                pending, f"missing from the exchange's answer after {trace.sent} attempt(s)"
            )
        except WeexError as exc:
            if isinstance(exc, WeexAPIError) and not self._session.retry.outcome_unknown(exc):
                self._refused(pending, exc, maybe_sent=trace.unclear)
            else:
                self._give_up(pending, f"no answer after {trace.sent} attempt(s): {_describe(exc)}")
        finally:
            self.calls += trace.sent

    async def _split(self, pending: list[str]) -> None:
        half = max(1, len(pending) // 2)
        self._limit.lower(half)
        await asyncio.gather(self._batch(pending[:half]), self._batch(pending[half:]))

    def _absorb(
        self, result: BatchCancelResult, pending: list[str], *, maybe_sent: bool
    ) -> list[str]:
        """Record each order's own verdict; return the names the answer did not mention."""
        by_name: dict[str, CancelOrderResult] = {}
        failed_names: set[str] = set()
        use_order_id = self._key == "ids"
        for item in result.cancel_order_result_list:
            by_name.setdefault(item.order_id if use_order_id else item.client_oid, item)
        for item in result.fail_infos:
            name = item.order_id if use_order_id else item.client_oid
            failed_names.add(name)
            by_name[name] = item
        listed = set(result.order_ids if use_order_id else result.client_oids)
        still_pending: list[str] = []
        for name in pending:
            verdict = by_name.get(name)
            if verdict is not None and verdict.result and name not in failed_names:
                self.cancelled[name] = None
            elif verdict is not None:
                reason = verdict.err_msg or verdict.err_code or "refused by the exchange"
                if maybe_sent and _is_not_found(verdict):
                    reason = f"{reason} ({MAYBE_CANCELLED_EARLIER})"
                self.failed[name] = reason
            elif name in listed:  # no item, but named in the top-level success list
                self.cancelled[name] = None
            else:
                still_pending.append(name)
        return still_pending

    def _refused(self, names: list[str], error: WeexAPIError, *, maybe_sent: bool) -> None:
        reason = f"{error.code or error.status_code}: {error.message}"
        for name in names:
            if maybe_sent:
                self.unknown[name] = f"refused ({reason}) after an unanswered attempt"
            else:
                self.failed[name] = reason

    def _give_up(self, names: list[str], reason: str) -> None:
        for name in names:
            self.unknown[name] = reason


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
