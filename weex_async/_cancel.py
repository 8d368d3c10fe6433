"""``cancel_orders``: the kill switch. Any number of orders, each accounted for, whatever happens.

The contract (docs/errors.md): once its arguments' types are read, a run returns a
``CancelReport`` in which every distinct order asked for has exactly one outcome, and it never
raises (a cancelled caller excepted: then no batch is left running).

- ``cancelled``: the exchange said so (in a batch's answer, or in a lookup of the order).
- ``failed``: certainly not cancelled by this call, with why: the exchange's refusal, or
  ``"not sent: …"`` (a malformed id, the key refused, the deadline passed, the client closed, no
  connection could be opened: ``TransportError.not_sent`` on every attempt that may have carried
  the order).
- ``unknown``: may have been cancelled (an attempt went unanswered, or an answer was unclear),
  with why.

How: the orders are split into batch cancels that run concurrently through the request layer
(``Session.send``, which owns the retry loop), under a small task group of this module's own
(Python 3.10 has no ``asyncio.TaskGroup``). A client whose key is not yet confirmed sends one batch
first and the rest once it is answered, so a wrong secret is sent once, not once per batch; an
authentication or permission refusal stops the run. A batch whose attempt goes unanswered while
others wait to be sent waits too, then goes again only for its orders an open-orders listing
still shows (``_send_all``): an attempt lost after the exchange acted costs no batch cancel that
would only hear "not found". What is still unknown at the end is settled by the cheapest look,
at cancel priority (``_confirm_unknown``): the open-orders listing, the order history read where
each order should be (``HistoryWalk``), single lookups for the rest: cancelled, filled, or still
open and cancelled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from ._api import Api
from ._checks import Key, canonical_id, name_problem
from ._clock import wait_within
from ._endpoints import Again, Call, Endpoint
from ._limiter import Priority
from ._limiter._admission import Clock
from ._session import DeadlineReached, Session, Trace
from ._settling import PAGE, HistoryWalk, SettleReads
from .errors import (
    ApiVersionRetiredError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    OrderNotFoundError,
    PermissionDeniedError,
    WeexAPIError,
    WeexError,
    brief,
)
from .models import BatchCancelResult, CancelOrderResult, CancelReport, Order

__all__ = [
    "MAYBE_CANCELLED_EARLIER",
    "BatchLimit",
    "CancelRun",
    "Outcome",
    "Verdict",
    "refusal",
    "wait_all",
]

log = logging.getLogger("weex_async")

#: WEEX's "too many ids in one cancel" error code.
TOO_MANY_IDS = "40912"
#: Said of an order that was "not found" after an earlier attempt went unanswered.
MAYBE_CANCELLED_EARLIER = "an earlier attempt that got no answer may have cancelled it"
#: Batches answered 404 or 410 (V2 retired) before a run sends no more: one could be a proxy's.
RETIRED_CONFIRMED = 2
#: The reason of an order a closed client did not send.
NOT_SENT_CLOSED = "not sent: the client was closed"

R = TypeVar("R")


async def wait_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until every task is done (their errors stay in them). If the caller is cancelled,
    every task is cancelled and awaited first: nothing is left running (Python 3.10 has no
    ``asyncio.TaskGroup``), however often the caller is cancelled again meanwhile."""
    if not tasks:
        return
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        while True:
            try:
                await asyncio.wait(tasks)
                break
            except asyncio.CancelledError:
                continue  # cancelled again while they wind down: they were told; wait for them
        for task in tasks:  # nobody reads them now: retrieve them so none is logged as lost
            if not task.cancelled():
                task.exception()
        raise


class BatchLimit:
    """The most orders per batch cancel, as learned during a client's session.

    Halved for the rest of the session when the exchange answers "too many ids" (40912).
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def lower(self, size: int) -> None:
        self.size = max(1, min(self.size, size))


class Verdict(enum.Enum):
    """What a ``CancelRun`` knows of one order when it ends (``CancelReport`` groups them)."""

    #: the exchange said it was cancelled (in a batch's answer, or a lookup says ``canceled``)
    CANCELLED = "cancelled"
    #: failed, certainly not cancelled by this run: never sent (malformed, the key refused, the
    #: deadline passed, the client closed, no connection could be opened)
    NOT_SENT = "not_sent"
    #: failed: the exchange answered and refused to cancel it (not a "not found")
    REFUSED = "refused"
    #: failed: the exchange found no open order by that name: already filled or cancelled
    NOT_FOUND = "not_found"
    #: failed: a lookup found it closed other than by a cancel (filled, rejected, expired)
    CLOSED = "closed"
    #: may or may not have been cancelled (an attempt went unanswered, the answers were unclear)
    UNKNOWN = "unknown"

    @property
    def gone(self) -> bool:
        """The exchange says the order is no longer open (not found, or found closed)."""
        return self in (Verdict.NOT_FOUND, Verdict.CLOSED)


@attrs.frozen
class Outcome:
    """One order's verdict, and why (the text of ``CancelReport.failed`` / ``unknown``).

    Other runs read ``verdict``, never ``reason``: the text is for people.
    """

    verdict: Verdict
    reason: str = ""


def _is_not_found(item: CancelOrderResult) -> bool:
    return item.err_code == "50005" or "NOT_FOUND" in item.err_msg.upper().replace(" ", "_")


def refusal(error: WeexAPIError) -> str:
    """A refusal as the reports say it: the exchange's code and message (``40009: …``)."""
    return f"{error.code or error.status_code}: {error.message}"


@attrs.define
class _Lost:
    """A batch whose last attempt went unanswered (or could not leave), waiting to go again.

    Attributes:
        names: its orders not settled yet (each round may settle some without sending them).
        trace: its attempts so far (the next ones add to it: ``sent`` counts them all).
        sends: where each attempt stood among the run's confirmed cancels (``_places``).
        error: the last attempt's error (what the report says if nothing more is sent).
        failed_at: when that attempt failed, on the run's clock (its backoff counts from then).
        behind: batches of the run were still waiting to be sent when its last attempt failed,
            so sent again at once it would have waited behind them.
    """

    names: list[str]
    trace: Trace
    sends: list[int]
    error: WeexError
    failed_at: float
    behind: bool


class CancelRun:
    """One ``cancel_orders`` call: the outcome of every order, filled in as answers come.

    Args:
        session: sends each batch (limiter, signing, retries).
        api: spells each batch cancel and lookup for the client's API version.
        key: ``"ids"`` or ``"cids"``.
        symbol: sent with every batch when given.
        deadline_at: time on ``clock`` after which nothing more is sent; ``None`` for none.
        limit: the session's learned batch size (lowered on "too many ids").
        confirm: look up what is still unknown at the end.
        clock: what ``deadline_at`` is read on: the running event loop by default (tests pass
            a manual clock). The session reads the same deadline on its own clock
            (``Session(clock=...)``), so the two must be one clock or agree.

    After ``run``, ``outcomes`` holds every order's typed ``Outcome`` (what ``cancel_everything``
    reads); the ``CancelReport`` it returns says the same for people.
    """

    #: Settle unknowns by listing and order-history pages before single lookups (``False``:
    #: lookups only, as before; the benchmarks compare both in one run).
    pages_first: ClassVar[bool] = True
    #: Read the order history where each order should be (``_near``), not from its top page
    #: down (``False``: from the top, as before; the benchmarks compare both in one run).
    aimed: ClassVar[bool] = True
    #: Send no more settling reads once two in a row went unanswered (``SettleReads``;
    #: ``False``: every one sent, as before; the benchmarks compare both in one run).
    stop_unanswered: ClassVar[bool] = True
    #: A batch whose attempt went unanswered waits until every batch has gone out once, then is
    #: sent again only for its orders an open-orders listing still shows (``_send_all``);
    #: ``False``: the session sends it again after its backoff, whatever the exchange did with
    #: it (as before; the benchmarks compare both in one run).
    listed_retries: ClassVar[bool] = True

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
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._api = api
        self._key = key
        self._symbol = symbol
        self._deadline_at = deadline_at
        self._limit = limit
        self._confirm = confirm
        self._clock: Clock = clock if clock is not None else asyncio.get_running_loop()
        #: every order's outcome so far, by the name it was asked for
        self.outcomes: dict[str, Outcome] = {}
        self.calls = 0
        #: why nothing more is sent (the key was refused), once it is so
        self._stopped: str | None = None
        #: batches answered as if the API version were gone (HTTP 404 or 410)
        self._retired = 0
        #: the batches running now, and what their attempts did
        self._running: dict[asyncio.Task[None], Trace] = {}
        #: unknown orders the exchange said are not open ("not found" after an unanswered
        #: attempt): the order history says whether they were cancelled or filled
        self._not_open: set[str] = set()
        #: the orders whose cancel the exchange confirmed, by id as it reads them, numbered in the
        #: order the confirmations came (the order history lists closed orders, most recent first)
        self._closed_at: dict[str, int] = {}
        #: those confirmed by the first attempt of their batch: sent when their turn came
        self._at_first: set[str] = set()
        #: the names sent, in batch order: where each one's batch sat among the others
        self._sent_order: dict[str, int] = {}
        #: each name's batch's attempts: how many cancels were confirmed as each went out
        self._sends: dict[str, list[int]] = {}
        #: the most orders a batch of this run holds (how far apart one batch's orders may sit)
        self._batch_size = limit.size
        #: names an attempt of which may have reached the exchange (a batch that ended unclear):
        #: never "not sent" afterwards, whatever a later batch of them meets
        self._maybe_sent: set[str] = set()
        #: the settling reads: whether the exchange answers them
        self._reads = SettleReads(enabled=self.stop_unanswered)
        #: how many cancels were confirmed as each unanswered attempt of a name's batch failed
        self._lost_at: dict[str, list[int]] = {}
        #: batches whose last attempt went unanswered, waiting for the next round (``_send_all``)
        self._lost: list[_Lost] = []
        #: batch calls (``_batch``) that have not yet sent an attempt
        self._to_send = 0
        #: attempts of batch cancels sent so far, all batches together
        self._attempts = 0
        #: set when a batch sends its first attempt (a round may then be due)
        self._progress = asyncio.Event()

    # -- the run -----------------------------------------------------------------------------------

    async def run(self, names: Sequence[str], batch_size: int) -> CancelReport:
        """Cancel ``names`` (each checked here; repeats are cancelled once) in batches of
        ``batch_size``."""
        names = list(dict.fromkeys(names))
        self._batch_size = batch_size
        try:
            valid = self._checked(names)
            self._sent_order = {name: i for i, name in enumerate(valid)}
            batches = [valid[i : i + batch_size] for i in range(0, len(valid), batch_size)]
            if batches and not self._session.key_confirmed:
                await self._send_all(batches[:1])  # one first: is the key right?
                batches = batches[1:]
            await self._send_all(batches)
            if self._confirm and self._unknown():
                await self._confirm_unknown()
        except Exception as exc:  # a bug of ours must not cost the report
            log.exception("cancel_orders: unexpected error")
            self._settle(names, Verdict.UNKNOWN, f"unexpected error: {brief(exc)}")
        self._settle(names, Verdict.UNKNOWN, "no verdict was recorded for it")  # never lose one
        self.outcomes = {name: self.outcomes[name] for name in names}
        return CancelReport(
            cancelled=tuple(
                name for name, o in self.outcomes.items() if o.verdict is Verdict.CANCELLED
            ),
            failed={
                name: o.reason
                for name, o in self.outcomes.items()
                if o.verdict not in (Verdict.CANCELLED, Verdict.UNKNOWN)
            },
            unknown={
                name: o.reason for name, o in self.outcomes.items() if o.verdict is Verdict.UNKNOWN
            },
            calls=self.calls,
        )

    def _unknown(self) -> list[str]:
        return [name for name, o in self.outcomes.items() if o.verdict is Verdict.UNKNOWN]

    def _checked(self, names: Sequence[str]) -> list[str]:
        """The names that can be sent; each malformed one is failed, "not sent", on its own.

        Exchange ids are read by the exchange as numbers (V3 sends them so): two spellings of one
        number (``"596"``, ``"0596"``) are one order, sent once; the other spelling is failed,
        not sent, saying which was sent. Answers are matched by the number, so an order the
        exchange cancelled is reported cancelled under the spelling asked for.
        """
        valid = []
        spelled: dict[str, str] = {}
        for name in names:
            problem = name_problem(self._key, name, self._api.cid_pattern)
            if problem is None and self._key == "ids":
                first = spelled.setdefault(canonical_id(name), name)
                if first != name:
                    problem = (
                        f"order id {name!r} is order {canonical_id(name)}, already asked for "
                        f"as {first!r} (sent once)"
                    )
            if problem is None:
                valid.append(name)
            else:
                self.outcomes[name] = Outcome(Verdict.NOT_SENT, f"not sent: {problem}")
        return valid

    async def _gather(self, jobs: Iterable[Awaitable[None]]) -> None:
        """Run ``jobs`` as tasks and wait for all of them (each records its own outcomes)."""
        await wait_all([asyncio.ensure_future(job) for job in jobs])

    def _spawn(
        self, names: list[str], *, unclear: bool = False, lost: _Lost | None = None
    ) -> asyncio.Task[None]:
        """``_batch`` as a task, counted as waiting to be sent from now on (``_to_send``)."""
        self._to_send += 1
        return asyncio.ensure_future(self._batch(names, unclear=unclear, lost=lost))

    def _defers(self) -> bool:
        """Whether an unanswered batch waits for a round (``_send_all``) rather than the
        session's backoff: when the run settles its unknowns (a listing names orders by
        exchange id)."""
        return self.listed_retries and self._confirm and self._key == "ids"

    def _may_wait(self, error: WeexError, trace: Trace) -> bool:
        """Whether a batch whose attempt failed with ``error`` goes to the next round: the error
        leaves the outcome unknown (or the attempt never left), and the policy allows another
        attempt."""
        retry = self._session.retry
        return (
            (retry.outcome_unknown(error) or retry.never_sent(error))
            and trace.sent < retry.max_attempts
            and self._stopped is None
        )

    async def _send_all(self, batches: list[list[str]]) -> None:
        """Send ``batches`` and wait until each has its outcome, in rounds.

        A batch whose attempt goes unanswered waits (``_lost``) until every batch of the run has
        sent an attempt: until then it would wait anyway, behind the batches not yet sent (the
        limiter serves one account's cancels first come, first served). Then, once the batches
        on the wire have answered (``_quiet``), one open-orders listing says which of the
        waiting orders are still open (``_still_open``): those are sent again, in their batch;
        the others are closed (by an unanswered attempt, or filled) and the order history
        settles them at the end (``_confirm_unknown``). A batch sent again for nothing costs a
        batch cancel (V3: UID 10, for 10 orders) and takes a trade-cap slot from the cancels
        still to go; a listing page (V3: UID 3) covers 100 orders. A batch lost when no other
        waited to be sent goes again after its backoff with no listing (``_round``): nothing
        would have held it back, and a listing first would.
        """
        tasks = [self._spawn(batch) for batch in batches]
        try:
            while True:
                tasks = [task for task in tasks if not task.done()]
                if self._lost and self._to_send == 0:
                    lost, self._lost = self._lost, []
                    tasks += await self._round(lost)
                    continue
                if not tasks:
                    return
                self._progress.clear()
                progress = asyncio.ensure_future(self._progress.wait())
                try:
                    await asyncio.wait([*tasks, progress], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    progress.cancel()
        except asyncio.CancelledError:  # the caller was cancelled: nothing is left running
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await wait_all(tasks)
            raise

    async def _round(self, lost: list[_Lost]) -> list[asyncio.Task[None]]:
        """Send ``lost`` again, each for its orders still open; an order a listing shows closed
        is unknown (an unanswered attempt may have cancelled it) and left to the history. The
        listing is read only when one of them would have waited behind other batches and may
        have been acted on: a batch that could go again at once, or whose attempts certainly
        never left, goes after its backoff, as the session would send it."""
        tell = any(entry.behind and entry.trace.unclear for entry in lost)
        open_now = await self._still_open(lost) if tell else None
        tasks = []
        for entry in lost:
            if open_now is not None:
                closed = [
                    name
                    for name in entry.names
                    if canonical_id(name) not in open_now
                    and (entry.trace.unclear or name in self._maybe_sent)
                ]
                for name in closed:
                    self.outcomes[name] = Outcome(
                        Verdict.UNKNOWN,
                        f"no answer to {entry.trace.sent} attempt(s) "
                        f"({brief(entry.error)}), and not on the open-orders listing read "
                        "after them: closed, by one of them or otherwise",
                    )
                    self._not_open.add(name)
                entry.names = [name for name in entry.names if name not in closed]
            if entry.names:
                tasks.append(self._spawn(entry.names, lost=entry))
        return tasks

    async def _still_open(self, lost: list[_Lost]) -> set[str] | None:
        """The ids (as the exchange reads them) an open-orders listing shows open, read after
        every attempt of ``lost``; ``None`` when no listing can tell which of their orders are
        closed: it would cost more than sending them again, it failed or was cut short, or it
        spans pages while a batch of this run was on the wire (a page may then have shifted)."""
        if self._stopped is not None or self._session.closed or self._time_left() <= 0:
            return None
        batch = self._cost(self._api.cancel_batch(self._key, ["1"], None).endpoint)
        listing = self._cost(self._api.open_orders(None, PAGE, 0).endpoint)
        pages = int(len(lost) * batch / listing + 1e-9)
        # This run's orders not known closed are on the listing if still open: when they alone
        # fill more pages than it is worth reading, the listing cannot end in time.
        unsettled = sum(
            1
            for name in self._sent_order
            if (o := self.outcomes.get(name)) is None
            or (o.verdict is Verdict.UNKNOWN and name not in self._not_open)
        )
        if unsettled >= pages * PAGE:
            return None
        await self._quiet()
        quiet = not any(trace.in_flight for trace in self._running.values())
        attempts = self._attempts
        open_now, complete, read = await self._listed(pages)
        quiet = quiet and attempts == self._attempts
        return open_now if complete and (read == 1 or quiet) else None

    async def _quiet(self) -> None:
        """Wait until no batch of this run is on the wire, for at most the retry policy's first
        backoff (a batch lost meanwhile would have waited as long before): a listing read then
        spans its pages with no cancel of ours shifting them."""
        busy = [task for task, trace in self._running.items() if trace.in_flight]
        if not busy:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await wait_within(self._clock, self._session.retry.backoff_initial, asyncio.wait(busy))

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
        return math.inf if self._deadline_at is None else self._deadline_at - self._clock.time()

    # -- one batch ---------------------------------------------------------------------------------

    async def _batch(
        self, names: list[str], *, unclear: bool = False, lost: _Lost | None = None
    ) -> None:
        """Cancel ``names`` in one batch call (its retries included), recording each one's
        outcome; ``unclear``: an earlier attempt of this very batch (before a split) may have
        acted; ``lost``: this is that batch sent again after a round (``_send_all``), its
        attempts so far in its trace.

        When the run defers its retries (``_defers``), an attempt that goes unanswered (or
        cannot leave) ends the call: the batch waits in ``_lost`` for the next round instead of
        the session's backoff.

        This step keeps the run's books (the batches waiting to be sent, running, the calls,
        the names that may have been sent); ``_send_and_record`` sends and records the outcomes.
        """
        trace = Trace(unclear=unclear) if lost is None else lost.trace
        if self._stopped is not None:
            self._not_sent(names, trace, self._stopped)
            self._leave_queue()
            return
        # Where each attempt stood among the confirmed cancels: where an unanswered attempt that
        # acted left its orders in the order history.
        sends: list[int] = [] if lost is None else lost.sends
        pending = list(names)
        waiting = True  # no attempt of this call sent yet

        def sent() -> None:
            nonlocal waiting
            sends.append(len(self._closed_at))
            self._attempts += 1
            if waiting:
                waiting = False
                self._leave_queue()

        trace.on_send = sent
        sent_before = trace.sent
        for name in names:
            self._sends[name] = sends
        task = asyncio.current_task()
        assert task is not None  # _batch always runs as a task (_spawn)
        self._running[task] = trace
        call = self._batch_call(names, pending, trace)
        try:
            await self._send_and_record(call, pending, trace, sends, lost, task)
        finally:
            self.calls += trace.sent - sent_before
            self._running.pop(task, None)
            if trace.unclear:
                self._maybe_sent.update(names)
            if waiting:
                self._leave_queue()

    def _leave_queue(self) -> None:
        """A batch call sent its first attempt, or ended without one: it no longer waits to be
        sent (``_to_send``), and a round may be due (``_progress``)."""
        self._to_send -= 1
        self._progress.set()

    def _batch_call(self, names: list[str], pending: list[str], trace: Trace) -> Call[Again | None]:
        """The batch cancel of ``names``; each answer's verdicts are recorded as it comes, and
        ``pending`` keeps the names still without one (the session sends again for them)."""

        def absorb(result: BatchCancelResult) -> Again | None:
            """Record the verdicts; ask the session to send again for the orders left."""
            pending[:] = self._absorb(result, pending, maybe_sent=trace.unclear)
            if pending:
                return Again(
                    f"{len(pending)} order(s) missing from the exchange's answer, or contradicted"
                )
            return None

        return self._api.cancel_batch(self._key, names, self._symbol).then(absorb)

    async def _send_and_record(
        self,
        call: Call[Again | None],
        pending: list[str],
        trace: Trace,
        sends: list[int],
        lost: _Lost | None,
        task: asyncio.Task[None],
    ) -> None:
        """Send the batch (``_send_batch``) and give each order of ``pending`` the outcome
        whatever ended it means."""
        try:
            await self._send_batch(call, pending, trace, sends, lost)
        except asyncio.CancelledError:
            if self._stopped is None:
                raise  # the caller was cancelled
            self._not_sent(pending, trace, self._stopped)
        except DeadlineReached as exc:
            self._batch_deadline(pending, trace, exc, lost)
        except ClientClosedError:
            self._closed_during(pending, trace)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._refused(pending, exc, maybe_sent=trace.unclear)
            self._stop(f"the exchange refused this key ({refusal(exc)})")
        except ApiVersionRetiredError as exc:
            self._version_retired(pending, trace, exc)
        except BadRequestError as exc:
            await self._bad_request(pending, trace, exc, task)
        except WeexError as exc:
            self._batch_error(pending, trace, exc)
        except Exception as exc:  # not ours to fix here: this batch is unknown, the rest go on
            log.exception("cancel_orders: unexpected error in a batch")
            self._settle(pending, Verdict.UNKNOWN, f"unexpected error: {brief(exc)}")

    async def _send_batch(
        self,
        call: Call[Again | None],
        pending: list[str],
        trace: Trace,
        sends: list[int],
        lost: _Lost | None,
    ) -> None:
        """Send ``call`` through the session (after the backoff its last attempt owes, when it
        goes again after a round), and say unknown the orders its answers left unclear. When the
        run defers its retries, a batch whose attempt went unanswered waits for the next round
        (``_wait_for_round``) instead; every other error is raised."""
        defer = self._defers()
        sent_before = trace.sent
        if lost is not None:  # the policy's backoff after its last attempt, from then on
            waited = self._clock.time() - lost.failed_at
            reason = type(lost.error).__name__
            await self._session.back_off(call, trace, reason, self._deadline_at, waited=waited)
        try:
            left = await self._session.send(
                call, retry_unclear=not defer, deadline_at=self._deadline_at, trace=trace
            )
        except WeexError as exc:
            if not (defer and trace.sent > sent_before and self._may_wait(exc, trace)):
                raise  # (an error before anything was sent is no lost attempt)
            self._wait_for_round(pending, trace, sends, exc)
            return
        if left is not None:
            self._settle(
                pending,
                Verdict.UNKNOWN,
                f"no clear verdict in the answers to {trace.sent} attempt(s)",
            )

    def _wait_for_round(
        self, pending: list[str], trace: Trace, sends: list[int], error: WeexError
    ) -> None:
        """Put a batch whose last attempt went unanswered in ``_lost``, noting where the run
        stood when it failed (``_lost_at``)."""
        failed_at = self._clock.time()
        behind = self._to_send > 0
        for name in pending:
            self._lost_at.setdefault(name, []).append(len(self._closed_at))
        self._lost.append(_Lost(pending, trace, sends, error, failed_at, behind))

    def _batch_deadline(
        self, pending: list[str], trace: Trace, exc: DeadlineReached, lost: _Lost | None
    ) -> None:
        """The deadline ended the batch (``_deadline``); a batch sent again after a round that
        met it before its next attempt says what its last attempt met."""
        if lost is not None and exc.last_error is None:
            exc = DeadlineReached(exc.attempts, exc.in_flight, lost.error)
        self._deadline(pending, trace, exc)

    def _closed_during(self, pending: list[str], trace: Trace) -> None:
        """The client was closed before the batch had its answer."""
        if trace.unclear:
            self._settle(
                pending, Verdict.UNKNOWN, "the client was closed after an unanswered attempt"
            )
        else:
            self._settle(pending, Verdict.NOT_SENT, NOT_SENT_CLOSED)

    def _version_retired(
        self, pending: list[str], trace: Trace, exc: ApiVersionRetiredError
    ) -> None:
        """The batch was answered as if the API version were gone (HTTP 404 or 410)."""
        self._refused(pending, exc, maybe_sent=trace.unclear)
        # The path is gone once a second batch meets it too (then every batch would): send
        # no more. One 404 alone may be a proxy's passing fault: the kill switch goes on.
        self._retired += exc.definite
        if self._retired >= RETIRED_CONFIRMED:
            self._stop(exc.message)

    async def _bad_request(
        self, pending: list[str], trace: Trace, exc: BadRequestError, task: asyncio.Task[None]
    ) -> None:
        """The exchange refused the batch as asked: "too many ids" (40912) splits it in two
        (the session's batch size is lowered), any other refusal is each order's."""
        if exc.code == TOO_MANY_IDS and len(pending) > 1:
            half = max(1, len(pending) // 2)
            self._limit.lower(half)
            self._running.pop(task, None)
            # the halves inherit what this batch's attempts may have done
            await wait_all(
                [
                    self._spawn(pending[:half], unclear=trace.unclear),
                    self._spawn(pending[half:], unclear=trace.unclear),
                ]
            )
        else:
            self._refused(pending, exc, maybe_sent=trace.unclear)

    def _batch_error(self, pending: list[str], trace: Trace, exc: WeexError) -> None:
        """Any other error of ours ended the batch: the exchange's refusal, an attempt that
        certainly never left (``_unsent``), or no answer."""
        if isinstance(exc, WeexAPIError) and not self._session.retry.outcome_unknown(exc):
            self._refused(pending, exc, maybe_sent=trace.unclear)
        elif self._session.retry.never_sent(exc):
            self._unsent(pending, trace, f"{brief(exc)} ({trace.sent} attempt(s))")
        else:
            self._settle(
                pending,
                Verdict.UNKNOWN,
                f"no answer after {trace.sent} attempt(s): {brief(exc)}",
            )

    def _unsent(self, names: list[str], trace: Trace, why: str) -> None:
        """``names``' batch ended with its last attempt certainly not sent (no connection could
        be opened): each one is failed, "not sent", unless an attempt that may have carried it
        went out (an earlier attempt of this batch, or of an earlier batch of it): then unknown,
        and looked up like any other."""
        for name in names:
            if trace.unclear:
                reason = f"no answer to an earlier attempt, then not sent: {why}"
            elif name in self._maybe_sent:
                reason = f"not sent: {why}; {MAYBE_CANCELLED_EARLIER}"
            else:
                self._settle([name], Verdict.NOT_SENT, f"not sent: {why}")
                continue
            self._settle([name], Verdict.UNKNOWN, reason)

    def _not_sent(self, names: list[str], trace: Trace, why: str) -> None:
        if trace.unclear:
            self._settle(names, Verdict.UNKNOWN, f"an attempt went unanswered, then {why}")
        else:
            self._settle(names, Verdict.NOT_SENT, f"not sent: {why}")

    def _deadline(self, names: list[str], trace: Trace, exc: DeadlineReached) -> None:
        if exc.in_flight:
            self._settle(
                names, Verdict.UNKNOWN, f"deadline reached with attempt {exc.attempts} unanswered"
            )
        elif trace.unclear:
            last = brief(exc.last_error) if exc.last_error else "unanswered"
            self._settle(
                names,
                Verdict.UNKNOWN,
                f"deadline reached after {exc.attempts} attempt(s): {last}",
            )
        elif trace.sent == 0:
            self._settle(
                names, Verdict.NOT_SENT, "not sent: the deadline passed before it could be sent"
            )
        elif exc.last_error is not None and self._session.retry.never_sent(exc.last_error):
            self._unsent(
                names,
                trace,
                f"{brief(exc.last_error)}; the deadline passed before another attempt",
            )
        else:
            last = brief(exc.last_error) if exc.last_error else "refused"
            self._settle(
                names,
                Verdict.REFUSED,
                f"not cancelled: the exchange refused it ({last}); the deadline passed before "
                "another attempt",
            )

    def _absorb(
        self, result: BatchCancelResult, pending: list[str], *, maybe_sent: bool
    ) -> list[str]:
        """Record each order's own verdict; return the names without a clear one.

        Never optimistic: two items that disagree on one order, or an order named only in the
        top-level echo of a call whose ``result`` is false, give no verdict (asked again).
        Exchange ids are matched as the exchange reads them (numbers: ``"0596"`` is ``"596"``).
        """
        verdicts: dict[str, set[bool]] = {}
        reasons: dict[str, CancelOrderResult] = {}
        use_order_id = self._key == "ids"
        key = canonical_id if use_order_id else str
        for item in (*result.cancel_order_result_list, *result.fail_infos):
            name = key(item.order_id if use_order_id else item.client_oid)
            failed = not item.result or item in result.fail_infos
            verdicts.setdefault(name, set()).add(not failed)
            if failed:
                reasons[name] = item
        echoed = {key(name) for name in (result.order_ids if use_order_id else result.client_oids)}
        still_pending: list[str] = []
        for name in pending:
            verdict = verdicts.get(key(name))
            if verdict == {True} or (verdict is None and result.result and key(name) in echoed):
                self.outcomes[name] = Outcome(Verdict.CANCELLED)
                self._closed_at.setdefault(key(name), len(self._closed_at))
                if not maybe_sent:
                    self._at_first.add(key(name))
            elif verdict == {False}:
                item = reasons[key(name)]
                reason = item.err_msg or item.err_code or "refused by the exchange"
                if not _is_not_found(item):
                    self.outcomes[name] = Outcome(Verdict.REFUSED, reason)
                elif maybe_sent:
                    self.outcomes[name] = Outcome(
                        Verdict.UNKNOWN, f"{reason} ({MAYBE_CANCELLED_EARLIER})"
                    )
                    self._not_open.add(name)  # closed: by the lost attempt, or filled
                else:
                    self.outcomes[name] = Outcome(Verdict.NOT_FOUND, reason)
            else:  # not mentioned, or contradicted
                still_pending.append(name)
        return still_pending

    def _refused(self, names: list[str], error: WeexAPIError, *, maybe_sent: bool) -> None:
        reason = refusal(error)
        if maybe_sent:
            self._settle(names, Verdict.UNKNOWN, f"refused ({reason}) after an unanswered attempt")
        else:
            self._settle(names, Verdict.REFUSED, reason)

    def _settle(self, names: Iterable[str], verdict: Verdict, reason: str) -> None:
        """Give every name that has no outcome yet this one."""
        for name in names:
            if name not in self.outcomes:
                self.outcomes[name] = Outcome(verdict, reason)

    # -- confirming what is unknown ----------------------------------------------------------------

    async def _confirm_unknown(self) -> None:
        """Settle the orders still unknown (by exchange id) by the cheapest look that answers
        them, at cancel priority, within the deadline:

        1. the open-orders listing, pages of ``PAGE``: an order on it is still open and is
           cancelled again at once; one absent from a complete listing (the last page short) is
           closed, by this run's cancel or otherwise;
        2. the order history, pages of ``PAGE``, most recently closed first, for the closed
           ones, each read where the order should be (``_from_history``): ``canceled`` is
           cancelled, another final status is failed; any other status settles nothing;
        3. a single-order lookup for what neither settled (cancelled, closed, or open and
           cancelled again).

        Pages are read only while they cost less (in the rate-limit pools) than the lookups
        they can save; a page that fails, or repeats one already read, ends its step.
        """
        if self._key != "ids" or self._stopped is not None or self._session.closed:
            return  # WEEX's order detail takes exchange ids only
        if self._time_left() <= 0:
            return
        unknown = self._unknown()
        lookup = self._lookup_cost()
        listing = self._cost(self._api.open_orders(None, PAGE, 0).endpoint)
        history = self._cost(self._api.order_history(None, PAGE, 0).endpoint)
        # What the exchange already said is not open needs no listing; for the rest, a listing
        # pays when, with a history page, it costs less than the lookups it replaces.
        maybe_open = [name for name in unknown if name not in self._not_open]
        worth = self.pages_first and len(maybe_open) * lookup >= listing + history
        pages = int(len(maybe_open) * lookup / listing) if worth else 0
        open_now, complete, _ = await self._listed(pages)
        again = [name for name in maybe_open if canonical_id(name) in open_now]
        closed = [
            name
            for name in unknown
            if name in self._not_open or (complete and canonical_id(name) not in open_now)
        ]
        settled_elsewhere = {*again, *closed}
        to_look = [name for name in unknown if name not in settled_elsewhere]
        still_open: list[str] = []

        async def look() -> None:
            await self._from_history(closed, lookup)
            left = [n for n in closed if self.outcomes[n].verdict is Verdict.UNKNOWN]
            await self._gather([self._lookup(name, still_open) for name in [*to_look, *left]])

        await self._gather([self._cancel_again(again), look()])
        await self._cancel_again(still_open)

    def _lookup_cost(self) -> float:
        return self._cost(self._api.order_detail("1").endpoint)

    def _cost(self, endpoint: Endpoint[Any]) -> float:
        """The largest share of one window's budget a call takes from any pool."""
        limits = self._session.rate_limits
        return max(endpoint.ip_weight / limits.ip.weight, endpoint.uid_weight / limits.uid.weight)

    async def _cancel_again(self, names: list[str]) -> None:
        """Batch-cancel again orders found still open (their earlier outcome is dropped)."""
        for name in names:
            del self.outcomes[name]
        size = self._limit.size
        await self._send_all([names[i : i + size] for i in range(0, len(names), size)])

    async def _page(self, call: Call[tuple[Order, ...]]) -> tuple[Order, ...] | None:
        """One listing page at cancel priority; ``None`` when it could not be read."""
        trace = Trace()
        try:
            return await self._reads.send(
                self._session.send(
                    call.at_priority(Priority.CANCEL),
                    retry_unclear=True,
                    deadline_at=self._deadline_at,
                    trace=trace,
                )
            )
        except Exception as exc:  # a DeadlineReached too (it is one)
            log.debug("cancel_orders: a listing failed (%s)", brief(exc))
            return None
        finally:
            self.calls += trace.sent

    async def _listed(self, pages: int) -> tuple[set[str], bool, int]:
        """The ids (as the exchange reads them) that up to ``pages`` pages of open orders show
        open, whether they are all of them (a page shorter than ``PAGE`` was read), and how many
        pages were read."""
        seen: set[str] = set()
        for page in range(pages):
            if self._time_left() <= 0:
                return seen, False, page
            orders = await self._page(self._api.open_orders(self._symbol, PAGE, page))
            if orders is None:
                return seen, False, page + 1
            seen.update(canonical_id(order.order_id) for order in orders if order.is_open)
            if len(orders) < PAGE:
                return seen, True, page + 1
        return seen, False, pages

    def _near(self, name: str) -> int | None:
        """Where the order history should hold ``name``: the confirmation number of the nearest
        order sent beside it whose cancel its batch's first attempt confirmed (batches leave in
        the order they were made, so a lost batch's orders were closed among the neighbours'
        that went through at once); ``None`` if none."""
        at = self._sent_order.get(name)
        if at is None:
            return None
        names = list(self._sent_order)
        for step in range(1, len(names)):
            for i in (at - step, at + step):
                if 0 <= i < len(names):
                    near = canonical_id(names[i])
                    if near in self._at_first:
                        return self._closed_at[near]
        return None

    def _places(self, name: str) -> list[int | None]:
        """Where ``name`` may have closed among the run's confirmed cancels, likeliest first:
        among its neighbours (``_near``: its batch's first attempt), then where each later
        attempt of its batch went out (a retry whose answer was lost may be the one that closed
        it), then where the run stood when each unanswered attempt failed (attempts sent just
        before it, answered after it went out, closed their orders before it did); ``[None]``
        when nothing says where."""
        places = [self._near(name), *self._sends.get(name, [])[1:], *self._lost_at.get(name, [])]
        return [place for place in places if place is not None] or [None]

    async def _from_history(self, names: list[str], lookup: float) -> None:
        """Settle closed ``names`` from the order history, most recently closed first, spending
        on pages at most what the lookups of ``names`` would cost.

        Aimed (``HistoryWalk``): each order is sought where it may have closed (``_places``:
        among its neighbours' confirmed cancels, then where each later attempt of its batch went
        out), on the page that place points to, then on the pages beside it in the direction
        the rows read point. The next page read is the one the most sought orders point to, so
        a run whose lost batches lie all over the history (V3's batches of 10) reads about one
        page per place, and an order missing from its place goes on to its next one without
        ending the others' search. A page is read once; an order is settled only by its own
        row, so a wrong aim costs pages, never exactness.
        """
        sought = {
            canonical_id(name): name
            for name in names
            if self.outcomes[name].verdict is Verdict.UNKNOWN
        }
        history = self._cost(self._api.order_history(None, PAGE, 0).endpoint)
        # Never spend more on pages than the lookups they could save would cost.
        budget = int(len(sought) * lookup / history + 1e-9) if self.pages_first else 0
        walk = HistoryWalk(self._closed_at, self._batch_size, len(sought))
        aims = {key: self._places(name) for key, name in sought.items()}
        met: set[str] = set()
        while sought and budget > 0 and self._time_left() > 0:
            page = walk.next_page(aims) if self.aimed else walk.next_from_top()
            if page is None:
                return
            orders = await self._page(self._api.order_history(self._symbol, PAGE, page))
            budget -= 1
            if orders is None:
                return
            ids = {canonical_id(order.order_id) for order in orders}
            if ids and not ids - met:  # a page repeated: the page parameter is not honoured
                return
            met |= ids
            walk.read(page, orders)
            for order in orders:
                key = canonical_id(order.order_id)
                name = sought.pop(key, None)
                if name is None:
                    continue
                aims.pop(key, None)
                if order.is_cancelled:
                    self.outcomes[name] = Outcome(Verdict.CANCELLED)
                elif not order.is_open:
                    self.outcomes[name] = Outcome(
                        Verdict.CLOSED, f"{order.status.lower()} (found in the order history)"
                    )
                # else: found, but not final: a lookup settles it

    def _unknown_because(self, name: str, more: str) -> None:
        self.outcomes[name] = Outcome(Verdict.UNKNOWN, f"{self.outcomes[name].reason}; {more}")

    async def _lookup(self, name: str, still_open: list[str]) -> None:
        trace = Trace()
        call = self._api.order_detail(name).at_priority(Priority.CANCEL)
        try:
            order = await self._reads.send(
                self._session.send(
                    call, retry_unclear=True, deadline_at=self._deadline_at, trace=trace
                )
            )
        except OrderNotFoundError:
            self._unknown_because(name, "the lookup found no such order")
            return
        except Exception as exc:  # a DeadlineReached too (it is one)
            more = self._reads.gave_up or f"the lookup failed ({brief(exc)})"
            self._unknown_because(name, more)
            return
        finally:
            self.calls += trace.sent
        if order.is_cancelled:
            self.outcomes[name] = Outcome(Verdict.CANCELLED)
        elif order.is_open:  # any status not documented as final: cancel it again
            still_open.append(name)
        else:
            self.outcomes[name] = Outcome(
                Verdict.CLOSED, f"{order.status.lower()} (found by lookup)"
            )
