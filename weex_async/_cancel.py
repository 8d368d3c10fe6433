"""``cancel_orders``: the kill switch. Any number of orders, each accounted for, whatever happens.

The contract (docs/errors.md): once its arguments' types are read, a run returns a
``CancelReport`` in which every distinct order asked for has exactly one outcome, and it never
raises (a cancelled caller excepted: then no batch is left running).

- ``cancelled``: the exchange said so (in a batch's answer, or in a lookup of the order).
- ``failed``: certainly not cancelled by this call, with why: the exchange's refusal, or
  ``"not sent: …"`` (a malformed id, the key refused, the deadline passed, the client closed).
- ``unknown``: may have been cancelled (an attempt went unanswered, or an answer was unclear),
  with why.

How: the orders are split into batch cancels that run concurrently through the request layer
(``Session.send``, which owns the retry loop), under a small task group of this module's own
(Python 3.10 has no ``asyncio.TaskGroup``). A client whose key is not yet confirmed sends one batch
first and the rest once it is answered, so a wrong secret is sent once, not once per batch; an
authentication or permission refusal stops the run. What is still unknown at the end is looked up
(order detail, at cancel priority): cancelled, filled, or still open and cancelled again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Literal

from ._api import Api
from ._checks import Key, name_problem
from ._limiter import Priority
from ._session import DeadlineReached, Session, Trace
from .errors import (
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    UnexpectedResponseError,
    WeexAPIError,
    WeexError,
)
from .models import BatchCancelResult, CancelOrderResult, CancelReport

__all__ = ["MAYBE_CANCELLED_EARLIER", "BatchLimit", "CancelRun", "wait_all"]

log = logging.getLogger("weex_async")

#: WEEX's "too many ids in one cancel" error code.
TOO_MANY_IDS = "40912"
#: Said of an order that was "not found" after an earlier attempt went unanswered.
MAYBE_CANCELLED_EARLIER = "an earlier attempt that got no answer may have cancelled it"
#: The reason of an order a closed client did not send.
NOT_SENT_CLOSED = "not sent: the client was closed"


async def wait_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until every task is done (their errors stay in them). If the caller is cancelled,
    every task is cancelled and awaited first: nothing is left running (Python 3.10 has no
    ``asyncio.TaskGroup``)."""
    if not tasks:
        return
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _refusal(error: WeexAPIError) -> str:
    return f"{error.code or error.status_code}: {error.message}"


class CancelRun:
    """One ``cancel_orders`` call: the outcome of every order, filled in as answers come.

    Args:
        session: sends each batch (limiter, signing, retries).
        api: spells each batch cancel and lookup for the client's API version.
        key: ``"ids"`` or ``"cids"``.
        symbol: sent with every batch when given.
        deadline_at: event-loop time after which nothing more is sent; ``None`` for none.
        limit: the session's learned batch size (lowered on "too many ids").
        confirm: look up what is still unknown at the end.
    """

    def __init__(
        self,
        session: Session,
        api: Api,
        key: Key,
        symbol: str | None,
        deadline_at: float | None,
        limit: BatchLimit,
        *,
        confirm: bool,
    ) -> None:
        self._session = session
        self._api = api
        self._key = key
        self._symbol = symbol
        self._deadline_at = deadline_at
        self._limit = limit
        self._confirm = confirm
        self._loop = asyncio.get_running_loop()
        self.cancelled: dict[str, None] = {}
        self.failed: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.calls = 0
        #: why nothing more is sent (the key was refused), once it is so
        self._stopped: str | None = None
        #: the batches running now, and what their attempts did
        self._running: dict[asyncio.Task[None], Trace] = {}

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, names: Sequence[str], batch_size: int) -> CancelReport:
        """Cancel ``names`` (distinct; each checked here) in batches of ``batch_size``."""
        try:
            valid = self._checked(names)
            batches = [valid[i : i + batch_size] for i in range(0, len(valid), batch_size)]
            if batches and not self._session.key_confirmed:
                await self._gather([self._batch(batches[0])])  # one first: is the key right?
                batches = batches[1:]
            await self._gather([self._batch(batch) for batch in batches])
            if self._confirm and self.unknown:
                await self._confirm_unknown()
        except Exception as exc:  # a bug of ours must not cost the report
            log.exception("cancel_orders: unexpected error")
            self._settle(names, "unknown", f"unexpected error: {_describe(exc)}")
        self._settle(names, "unknown", "no verdict was recorded for it")  # never lose an order
        order = {name: index for index, name in enumerate(names)}
        return CancelReport(
            cancelled=tuple(sorted(self.cancelled, key=order.__getitem__)),
            failed=dict(sorted(self.failed.items(), key=lambda kv: order[kv[0]])),
            unknown=dict(sorted(self.unknown.items(), key=lambda kv: order[kv[0]])),
            calls=self.calls,
        )

    def _checked(self, names: Sequence[str]) -> list[str]:
        """The names that can be sent; each malformed one is failed, "not sent", on its own."""
        valid = []
        for name in names:
            problem = name_problem(self._key, name, self._api.cid_pattern)
            if problem is None:
                valid.append(name)
            else:
                self.failed[name] = f"not sent: {problem}"
        return valid

    async def _gather(self, jobs: Iterable[Awaitable[None]]) -> None:
        """Run ``jobs`` as tasks and wait for all of them (each records its own outcomes)."""
        await wait_all([asyncio.ensure_future(job) for job in jobs])

    @property
    def stopped(self) -> str | None:
        """Why this run sent nothing more (the exchange refused the key), if it stopped."""
        return self._stopped

    def _stop(self, reason: str) -> None:
        """Send nothing more: batches waiting to be (re)sent are cancelled and reported."""
        if self._stopped is not None:
            return
        self._stopped = reason
        log.warning("cancel_orders: stopping, %s", reason)
        for task, trace in self._running.items():
            if task is not asyncio.current_task() and not trace.in_flight:
                task.cancel()

    def _time_left(self) -> float:
        return math.inf if self._deadline_at is None else self._deadline_at - self._loop.time()

    # -- one batch ---------------------------------------------------------------------------------

    async def _batch(self, names: list[str]) -> None:
        if self._stopped is not None:
            self._settle(names, "failed", f"not sent: {self._stopped}")
            return
        pending = list(names)
        trace = Trace()
        task = asyncio.current_task()
        assert task is not None  # _batch always runs as a task of _gather
        self._running[task] = trace

        def absorb(result: BatchCancelResult) -> None:
            pending[:] = self._absorb(result, pending, maybe_sent=trace.unclear)
            if pending:
                raise IncompleteAnswerError(
                    f"{len(pending)} order(s) missing from the exchange's answer, or contradicted",
                    status_code=200,
                    body="",
                )

        call = self._api.cancel_batch(self._key, names, self._symbol).then(absorb)
        try:
            await self._session.send(
                call, retry_unclear=True, deadline_at=self._deadline_at, trace=trace
            )
        except asyncio.CancelledError:
            if self._stopped is None:
                raise  # the caller was cancelled
            self._not_sent(pending, trace, self._stopped)
        except DeadlineReached as exc:
            self._deadline(pending, trace, exc)
        except ClientClosedError:
            if trace.unclear:
                self._settle(
                    pending, "unknown", "the client was closed after an unanswered attempt"
                )
            else:
                self._settle(pending, "failed", NOT_SENT_CLOSED)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._refused(pending, exc, maybe_sent=trace.unclear)
            self._stop(f"the exchange refused this key ({_refusal(exc)})")
        except BadRequestError as exc:
            if exc.code == TOO_MANY_IDS and len(pending) > 1:
                half = max(1, len(pending) // 2)
                self._limit.lower(half)
                self._running.pop(task, None)
                await self._gather([self._batch(pending[:half]), self._batch(pending[half:])])
            else:
                self._refused(pending, exc, maybe_sent=trace.unclear)
        except IncompleteAnswerError:
            self._settle(
                pending, "unknown", f"no clear verdict in the answers to {trace.sent} attempt(s)"
            )
        except WeexError as exc:
            if isinstance(exc, WeexAPIError) and not self._session.retry.outcome_unknown(exc):
                self._refused(pending, exc, maybe_sent=trace.unclear)
            else:
                self._settle(
                    pending, "unknown", f"no answer after {trace.sent} attempt(s): {_describe(exc)}"
                )
        except Exception as exc:  # not ours to fix here: this batch is unknown, the rest go on
            log.exception("cancel_orders: unexpected error in a batch")
            self._settle(pending, "unknown", f"unexpected error: {_describe(exc)}")
        finally:
            self.calls += trace.sent
            self._running.pop(task, None)

    def _not_sent(self, names: list[str], trace: Trace, why: str) -> None:
        if trace.unclear:
            self._settle(names, "unknown", f"an attempt went unanswered, then {why}")
        else:
            self._settle(names, "failed", f"not sent: {why}")

    def _deadline(self, names: list[str], trace: Trace, exc: DeadlineReached) -> None:
        if exc.in_flight:
            self._settle(
                names, "unknown", f"deadline reached with attempt {exc.attempts} unanswered"
            )
        elif trace.unclear:
            last = _describe(exc.last_error) if exc.last_error else "unanswered"
            self._settle(
                names, "unknown", f"deadline reached after {exc.attempts} attempt(s): {last}"
            )
        elif trace.sent == 0:
            self._settle(names, "failed", "not sent: the deadline passed before it could be sent")
        else:
            last = _describe(exc.last_error) if exc.last_error else "refused"
            self._settle(
                names,
                "failed",
                f"not cancelled: the exchange refused it ({last}); the deadline passed before "
                "another attempt",
            )

    def _absorb(
        self, result: BatchCancelResult, pending: list[str], *, maybe_sent: bool
    ) -> list[str]:
        """Record each order's own verdict; return the names without a clear one.

        Never optimistic: two items that disagree on one order, or an order named only in the
        top-level echo of a call whose ``result`` is false, give no verdict (asked again).
        """
        verdicts: dict[str, set[bool]] = {}
        reasons: dict[str, CancelOrderResult] = {}
        use_order_id = self._key == "ids"
        for item in (*result.cancel_order_result_list, *result.fail_infos):
            name = item.order_id if use_order_id else item.client_oid
            failed = not item.result or item in result.fail_infos
            verdicts.setdefault(name, set()).add(not failed)
            if failed:
                reasons[name] = item
        echoed = set(result.order_ids if use_order_id else result.client_oids)
        still_pending: list[str] = []
        for name in pending:
            verdict = verdicts.get(name)
            if verdict == {True} or (verdict is None and result.result and name in echoed):
                self.cancelled[name] = None
            elif verdict == {False}:
                item = reasons[name]
                reason = item.err_msg or item.err_code or "refused by the exchange"
                if maybe_sent and _is_not_found(item):
                    self.unknown[name] = f"{reason} ({MAYBE_CANCELLED_EARLIER})"
                else:
                    self.failed[name] = reason
            else:  # not mentioned, or contradicted
                still_pending.append(name)
        return still_pending

    def _refused(self, names: list[str], error: WeexAPIError, *, maybe_sent: bool) -> None:
        reason = _refusal(error)
        if maybe_sent:
            self._settle(names, "unknown", f"refused ({reason}) after an unanswered attempt")
        else:
            self._settle(names, "failed", reason)

    def _settle(
        self, names: Iterable[str], outcome: Literal["failed", "unknown"], reason: str
    ) -> None:
        """Give every name that has no outcome yet this one."""
        for name in names:
            if name in self.cancelled or name in self.failed or name in self.unknown:
                continue
            if outcome == "failed":
                self.failed[name] = reason
            else:
                self.unknown[name] = reason

    # -- confirming what is unknown ----------------------------------------------------------------

    async def _confirm_unknown(self) -> None:
        """Look each unknown order up (by exchange id), at cancel priority, within the deadline:
        cancelled, filled (failed), or still open (cancelled again, once)."""
        if self._key != "ids" or self._stopped is not None or self._session.closed:
            return  # WEEX's order detail takes exchange ids only
        if self._time_left() <= 0:
            return
        still_open: list[str] = []
        await self._gather([self._lookup(name, still_open) for name in list(self.unknown)])
        if still_open:
            for name in still_open:
                del self.unknown[name]
            size = self._limit.size
            await self._gather(
                [self._batch(still_open[i : i + size]) for i in range(0, len(still_open), size)]
            )

    async def _lookup(self, name: str, still_open: list[str]) -> None:
        trace = Trace()
        call = self._api.order_detail(name).at_priority(Priority.CANCEL)
        try:
            order = await self._session.send(
                call, retry_unclear=True, deadline_at=self._deadline_at, trace=trace
            )
        except OrderNotFoundError:
            self.unknown[name] += "; the lookup found no such order"
            return
        except (Exception, DeadlineReached) as exc:
            self.unknown[name] += f"; the lookup failed ({_describe(exc)})"
            return
        finally:
            self.calls += trace.sent
        if order.is_cancelled:
            del self.unknown[name]
            self.cancelled[name] = None
        elif order.is_open:  # any status not documented as final: cancel it again
            still_open.append(name)
        else:
            del self.unknown[name]
            self.failed[name] = f"{order.status.lower()} (found by lookup)"
