"""``cancel_everything``: take an account (or some symbols) to zero open orders, and prove it.

Each *target* (the whole account, or one symbol asked for) runs rounds on its own, concurrently:

1. List the target's open orders (the first page, 100 orders, at cancel priority).
2. An empty listing proves the target flat: done.
3. Otherwise cancel what it showed, by the cheaper way in the rate-limit pools (below): one
   cancel-all (of the symbol, or of the account), or batch cancels of the listed ids through
   ``CancelRun`` (without its lookups: the next listing is the confirmation, and it is cheaper);
   but never the way that failed last (``_Ways``): a way whose orders the next listing still
   shows all (or, that listing failing, that went unanswered) is replaced by the other one.
4. Go to 1, until flat, the deadline, ``IDLE_ROUNDS`` rounds in a row that cancelled nothing, or
   ``MAX_ROUNDS``. A listing that fails (or does not answer within ``LISTING_PATIENCE``, all its
   attempts included) leaves the round blind, not idle: the target's cancel-all is sent without
   it (one per round), and the next round lists again; only a listing that answered proves flat.

Trigger (plan / algo) orders are not in that listing. By default each target lists them once,
after its orders, for the report (``SymbolReport.triggers_open``); with ``include_triggers`` it
first runs the same rounds on them (list, one trigger cancel-all, list again; the trigger
cancel-all blind while the trigger listing fails) and is flat only when both listings are
empty. Positions are never touched.

The choice. A call's cost is the largest share of a window's budget it takes from any pool
(``max(ip_weight / ip budget, uid_weight / uid budget)``). A listing shorter than a page holds
every open order of the target: the cancel-all is used when it costs no more than the batch
cancels of exactly those (on a tie it wins: it also takes orders placed since the listing). A full
page says only "at least 100": the cancel-all is used once the orders this run has found open on
the target would cost at least as much to batch-cancel. With WEEX's weights and equal budgets:
V2's cancel-all (IP 40, UID 50) weighs five batch cancels of 50, so it is chosen for more than 200
orders shown at once, or from the third full page on; V3's (IP 5, UID 10) weighs one batch cancel,
so it is chosen whenever an order is open. docs/flatten.md says the same for users.

The contract is ``cancel_orders``'s: once its arguments are read, it returns a ``FlattenReport`` and
never raises (a cancelled caller excepted: then nothing is left running).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import Sequence
from typing import Literal, TypeVar

from ._api import TRIGGER_PAGE, Api
from ._cancel import BatchLimit, CancelRun, Verdict, refusal, wait_all
from ._endpoints import Call, Endpoint
from ._limiter import Priority, RateLimits
from ._limiter._admission import Clock
from ._session import DeadlineReached, Session, Trace
from .errors import (
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    PermissionDeniedError,
    WeexAPIError,
    brief,
)
from .models import CancelAllResult, FlattenReport, Order, SymbolReport

#: A listing's page: open orders or trigger orders.
_Page = TypeVar("_Page")

__all__ = ["LISTING_PATIENCE", "LIST_LIMIT", "MAX_ROUNDS", "FlattenRun"]

log = logging.getLogger("weex_async")

#: Orders per listing (WEEX's largest page).
LIST_LIMIT = 100
#: Rounds per target at most (each: one listing, then its cancels): a bound when no deadline is
#: given and orders keep coming as fast as they are cancelled.
MAX_ROUNDS = 50
#: A target is given up after this many rounds in a row that cancelled nothing.
IDLE_ROUNDS = 3
#: Pages read at most in one listing while every page read is full and shows only closed orders
#: (a lagging index): such a page proves nothing, as the open orders may be further on.
CLOSED_PAGES = 10
#: The symbol of an order known only from an account-wide cancel-all's answer.
UNKNOWN_SYMBOL = ""
#: Seconds one listing page (open orders or trigger orders, all its attempts) is given at most
#: before the round counts it failed and, blind, sends the target's cancel-all, then lists again:
#: one attempt at the default timeout (10 s), or half the time the deadline leaves if less. Without
#: it a listing that hangs held the cancel-all back until all its attempts had run out (4 of 10 s:
#: ~41 s, beyond a short deadline).
LISTING_PATIENCE = 10.0

Outcome = Literal["cancelled", "gone", "unknown"]

#: The two ways of cancelling a listing's orders, as the report's problems name them.
Way = Literal["cancel-all", "batch cancels"]
CANCEL_ALL: Way = "cancel-all"
BATCH: Way = "batch cancels"


def _describe(error: BaseException) -> str:
    if isinstance(error, DeadlineReached):
        return "the deadline passed before an answer"
    if isinstance(error, ClientClosedError):  # closed meanwhile (aclose, the CLI's Ctrl-C)
        return "the client was closed"
    return brief(error)


def call_cost(endpoint: Endpoint[object], limits: RateLimits) -> float:
    """The largest share of one window's budget the call takes from any pool."""
    return max(
        endpoint.ip_weight / limits.ip.weight,
        endpoint.uid_weight / limits.uid.weight,
    )


class Plan:
    """How a target's listed orders are cancelled: by one cancel-all, or by batch cancels."""

    def __init__(self, api: Api, limits: RateLimits, batch_size: int) -> None:
        self.batch_size = batch_size
        self.cancel_all = call_cost(api.cancel_all(None).endpoint, limits)
        self.batch = call_cost(api.cancel_batch("ids", ["1"], None).endpoint, limits)

    def batches(self, orders: int) -> float:
        return math.ceil(orders / self.batch_size) * self.batch

    def use_cancel_all(self, listed: int, full_page: bool, found: int) -> bool:
        """``listed``: orders the listing showed; ``found``: shown open on this target so far."""
        return self.cancel_all <= self.batches(found if full_page else listed)


class FlattenRun:
    """One ``cancel_everything`` call.

    Args:
        session: sends every call (limiter, signing, retries).
        api: spells each call for the client's API version.
        limit: the session's learned batch size.
        symbols: the symbols to flatten; ``None`` for the whole account.
        deadline_at: time on ``clock`` after which nothing more is sent; ``None`` for none.
        include_triggers: cancel trigger orders too (first, so none fires meanwhile), and call a
            target flat only when its trigger-order listing is empty as well; otherwise list
            them once per target, after its orders, for the report.
        clock: what ``deadline_at`` and the report's ``elapsed`` are read on: the running event
            loop by default (tests pass a manual clock); as ``CancelRun``'s, it must agree with
            the loop's on the deadline, which the session reads there.
    """

    def __init__(
        self,
        session: Session,
        api: Api,
        limit: BatchLimit,
        symbols: Sequence[str] | None,
        deadline_at: float | None,
        *,
        include_triggers: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._api = api
        self._limit = limit
        self._targets: list[str | None] = [None] if symbols is None else list(symbols)
        self._deadline_at = deadline_at
        self._clock: Clock = clock if clock is not None else asyncio.get_running_loop()
        self._plan = Plan(api, session.rate_limits, limit.size)
        self.calls = 0
        self.rounds = 0
        self.problems: list[str] = []
        #: why nothing more is sent (the key was refused), once it is so
        self._stopped: str | None = None
        #: every order met: the target it was met under, and its symbol
        self._target: dict[str, str | None] = {}
        self._symbol: dict[str, str] = {}
        #: what the exchange said of an order so far; "cancelled" is final
        self._outcome: dict[str, tuple[Outcome, str]] = {}
        self._cancelled: list[str] = []
        #: why an order may still be open (the last cancel's problem)
        self._why_open: dict[str, str] = {}
        #: each symbol's orders any listing showed open, in the order first seen
        self._seen: dict[str, list[str]] = {}
        self._seen_any: set[str] = set()
        #: per target: the open orders its last listing showed (``None``: it failed), and whether
        #: that listing was complete (shorter than a page)
        self._last: dict[str | None, list[str] | None] = {}
        self._complete: dict[str | None, bool] = {}
        #: when each target was last listed, and when each outcome was recorded (a count of
        #: events): an outcome newer than the listing is newer news than the listing
        self._events = itertools.count()
        self._listed_at: dict[str | None, int] = {}
        self._said_at: dict[str, int] = {}
        #: set once a signed call has been answered: until then only the first target lists, so
        #: a wrong secret is sent once, not once per symbol
        self._key_checked = asyncio.Event()
        #: targets whose last listing failed without leaving (no connection could be opened)
        self._unreachable: set[str | None] = set()
        #: targets a cancel (listed or blind) was sent for: their listings may take the time left
        self._acted: set[str | None] = set()
        if session.key_confirmed:
            self._key_checked.set()
        self._include_triggers = include_triggers
        #: per target: the open trigger orders its last trigger listing showed (``None``: it
        #: failed, or was not made); each trigger order's symbol; those a cancel-all cancelled
        self._triggers_last: dict[str | None, list[str] | None] = {}
        self._trigger_symbol: dict[str, str] = {}
        self._trigger_target: dict[str, str | None] = {}
        #: per target: the size of its last trigger listing when it was a full page, else 0
        self._triggers_full: dict[str | None, int] = {}
        self._triggers_cancelled: dict[str, str] = {}

    # -- the run -----------------------------------------------------------------------------------

    async def run(self) -> FlattenReport:
        started = self._clock.time()
        tasks = [
            asyncio.ensure_future(self._flatten(target, first=n == 0))
            for n, target in enumerate(self._targets)
        ]
        await wait_all(tasks)
        for target, task in zip(self._targets, tasks, strict=True):
            error = task.exception()
            if error is not None:  # a bug of ours must not cost the report
                log.error("cancel_everything: unexpected error", exc_info=error)
                self._problem(target, f"unexpected error: {_describe(error)}")
                self._last[target] = None
        return self._report(self._clock.time() - started)

    def _time_left(self) -> float:
        return math.inf if self._deadline_at is None else self._deadline_at - self._clock.time()

    def _problem(self, target: str | None, text: str) -> None:
        where = "the account" if target is None else target
        self.problems.append(f"{where}: {text}")

    def _stop(self, error: WeexAPIError) -> None:
        if self._stopped is None:
            self._stopped = f"the exchange refused this key ({refusal(error)})"
            log.warning("cancel_everything: stopping, %s", self._stopped)

    # -- one target --------------------------------------------------------------------------------

    async def _flatten(self, target: str | None, *, first: bool) -> None:
        """Rounds of list-then-cancel until a listing shows nothing open, or a limit is hit."""
        if first:
            try:
                await self._flatten_target(target)
            finally:
                self._key_checked.set()  # whatever happened, the others may go
        else:
            await self._key_checked.wait()
            await self._flatten_target(target)

    async def _flatten_target(self, target: str | None) -> None:
        """Trigger orders first when they are to be cancelled (none fires meanwhile), then the
        orders; otherwise the orders, then one trigger listing for the report."""
        if self._include_triggers:
            await self._trigger_rounds(target)
            await self._rounds(target)
            return
        await self._rounds(target)
        if self._stopped is not None or self._time_left() <= 0:
            self._problem(target, "trigger orders not listed (stopped or past the deadline)")
            return
        await self._list_triggers(target)

    # -- trigger orders ----------------------------------------------------------------------------

    async def _trigger_rounds(self, target: str | None) -> None:
        """List the target's trigger orders and cancel them all, until a listing shows none."""
        idle = 0
        for _ in range(MAX_ROUNDS):
            if idle >= IDLE_ROUNDS:
                self._problem(target, f"trigger orders: {IDLE_ROUNDS} rounds cancelled nothing")
                return
            if self._stopped is not None or self._time_left() <= 0:
                self._problem(target, "trigger orders left open (stopped or past the deadline)")
                return
            listed = await self._list_triggers(target)
            if listed is None:  # blind: the trigger cancel-all goes all the same, once a round
                before = len(self._triggers_cancelled)
                reachable = target not in self._unreachable  # as for orders (_cancel_rounds)
                if reachable and self._stopped is None and self._time_left() > 0:
                    known = [n for n, t in self._trigger_target.items() if t == target]
                    await self._cancel_triggers(target, known)
                idle = 0 if len(self._triggers_cancelled) > before else idle + 1
                continue
            if not listed:
                return  # no trigger order left: proven by this listing
            if self._stopped is not None or self._time_left() <= 0:
                continue
            idle = 0 if await self._cancel_triggers(target, listed) else idle + 1
        self._problem(target, f"trigger orders still open after {MAX_ROUNDS} rounds")

    async def _list_triggers(self, target: str | None) -> list[str] | None:
        """The target's open trigger orders (first page); ``None`` when the listing failed."""
        call = self._api.open_trigger_orders(target).at_priority(Priority.CANCEL)
        page = await self._listing(call, target, "the trigger-order listing")
        if page is None:
            self._triggers_last[target] = None
            return None
        listed = list(dict.fromkeys(order.order_id for order in page if order.is_open))
        for order in page:
            self._trigger_symbol.setdefault(order.order_id, order.symbol or target or "")
            self._trigger_target.setdefault(order.order_id, target)
        # said in the report only if the last trigger listing is full: a later, shorter one
        # shows every open trigger order
        self._triggers_full[target] = len(page) if len(page) >= TRIGGER_PAGE else 0
        if len(page) >= TRIGGER_PAGE and not listed:
            # a full page of closed ones only: no proof that none is open
            self._triggers_last[target] = None
            return None
        self._triggers_last[target] = listed
        return listed

    async def _cancel_triggers(self, target: str | None, listed: list[str]) -> bool:
        """One trigger cancel-all of the target (per symbol if an account-wide one is refused);
        whether it was answered."""
        trace = Trace()
        try:
            result: CancelAllResult = await self._send(self._api.cancel_all_triggers(target), trace)
        except BadRequestError as exc:
            self._problem(target, f"the trigger cancel-all was refused ({_describe(exc)})")
            if target is not None:
                return False
            symbols = {self._trigger_symbol.get(name, "") for name in listed} - {""}
            answered = await asyncio.gather(
                *(self._cancel_triggers(symbol, listed) for symbol in sorted(symbols))
            )
            return any(answered)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._stop(exc)
            self._problem(target, f"the trigger cancel-all was refused ({_describe(exc)})")
            return False
        except Exception as exc:  # a DeadlineReached too (it is one)
            self._problem(target, f"the trigger cancel-all failed ({_describe(exc)})")
            return False
        for name in result.cancelled:
            self._triggers_cancelled.setdefault(name, self._trigger_symbol.get(name, target or ""))
        return True

    async def _rounds(self, target: str | None) -> None:
        ways = _Ways()
        try:
            await self._cancel_rounds(target, ways)
        finally:
            for way, (failed, used) in ways.tally().items():
                if failed:
                    self._problem(target, f"the {way} failed in {failed} of {used} round(s)")

    async def _cancel_rounds(self, target: str | None, ways: _Ways) -> None:
        found = idle = 0
        for round_ in range(1, MAX_ROUNDS + 1):
            if self._halted(target, idle):
                return
            self.rounds = max(self.rounds, round_)
            listed = await self._list(target, first=round_ == 1)
            cancelled = self._cancelled_on(target)
            if listed is None:  # blind: the orders may rest, so the cancel-all goes all the same
                ways.judge(None)
                # unless the listing never left (no connection could be opened): the exchange
                # is out of reach, and a cancel-all would spend the deadline on the same wall
                reachable = target not in self._unreachable
                if reachable and self._stopped is None and self._time_left() > 0:
                    self._acted.add(target)
                    ways.sent(CANCEL_ALL, (), answered=await self._blind_cancel_all(target))
            else:
                failed = ways.judge({order.order_id for order in listed})
                if failed is not None:
                    other = ways.choose(failed)
                    self._problem(target, f"the {failed} left the listed orders open: {other} next")
                if not listed:
                    return  # flat, proven by this listing
                found += len(listed)
                if self._stopped is None and self._time_left() > 0:  # else said next round
                    self._acted.add(target)
                    await self._cancel_round(target, listed, found, ways)
            idle = 0 if self._cancelled_on(target) > cancelled else idle + 1
        self._problem(target, f"still not flat after {MAX_ROUNDS} rounds")
        self._left_open(target, f"still open after {MAX_ROUNDS} rounds of cancels")

    def _halted(self, target: str | None, idle: int) -> bool:
        """Whether the target's rounds end here (the reason said): idle rounds, a refused key, a
        closed client, the deadline."""
        if idle >= IDLE_ROUNDS:
            self._problem(target, f"{IDLE_ROUNDS} rounds in a row cancelled nothing")
            self._left_open(target, f"{IDLE_ROUNDS} rounds of cancels did not cancel it")
            return True
        if self._session.closed and self._stopped is None:
            self._stopped = "the client was closed"  # nothing more can be sent
        if self._stopped is not None:
            self._problem(target, f"stopped: {self._stopped}")
            self._left_open(target, f"not cancelled: {self._stopped}")
            return True
        if self._time_left() <= 0:
            self._problem(target, "the deadline passed before it was flat")
            self._left_open(target, "the deadline passed before it was cancelled")
            return True
        return False

    async def _cancel_round(
        self, target: str | None, listed: list[Order], found: int, ways: _Ways
    ) -> None:
        """Cancel the listed orders the cheaper way, unless that way failed last."""
        cancelled = self._cancelled_on(target)
        full = len(listed) >= LIST_LIMIT
        cheaper = CANCEL_ALL if self._plan.use_cancel_all(len(listed), full, found) else BATCH
        names = [order.order_id for order in listed]
        if ways.choose(cheaper) == CANCEL_ALL:
            ways.sent(CANCEL_ALL, names, answered=await self._cancel_all(target, names))
        else:
            await self._cancel_listed(target, listed)
            ways.sent(BATCH, names, answered=self._cancelled_on(target) > cancelled)

    async def _blind_cancel_all(self, target: str | None) -> bool:
        """The target's cancel-all, sent while its listing fails: every order it may hold is
        open as far as this run knows. Whether it was answered."""
        known = [
            name
            for name, where in self._target.items()
            if where == target and self._outcome.get(name, ("unknown", ""))[0] != "cancelled"
        ]
        self._problem(target, "the cancel-all sent without a listing (the listing failed)")
        return await self._cancel_all(target, known)

    def _left_open(self, target: str | None, why: str) -> None:
        """Say why the orders of the target's last listing are left open (unless known)."""
        for name in self._last.get(target) or ():
            self._why_open.setdefault(name, why)

    async def _send(
        self, call: Call[_Page], trace: Trace, deadline_at: float | None = None
    ) -> _Page:
        """Send ``call`` within the run's deadline, or the earlier ``deadline_at`` (unclear
        answers retried), its attempts counted in ``calls`` whatever happens."""
        if deadline_at is None or (
            self._deadline_at is not None and self._deadline_at < deadline_at
        ):
            deadline_at = self._deadline_at
        try:
            return await self._session.send(
                call, retry_unclear=True, deadline_at=deadline_at, trace=trace
            )
        finally:
            self.calls += trace.sent

    async def _listing(self, call: Call[_Page], target: str | None, what: str) -> _Page | None:
        """One listing page, counted; ``None`` (the problem said, a refused key stopping the
        run) when it failed, or did not answer within ``LISTING_PATIENCE`` (a read: cutting it
        short changes nothing on the exchange)."""
        trace = Trace()
        self._unreachable.discard(target)
        # Until a cancel went out for the target, at most half the time left: a blind cancel-all
        # must still fit in a short deadline. After, the time left: halving it round after
        # round cut short a slow listing (3 s) that would have proved flat within the deadline.
        share = 1.0 if target in self._acted else 0.5
        patience = min(LISTING_PATIENCE, self._time_left() * share)
        patience_ends = self._clock.time() + patience
        try:
            return await self._send(call, trace, patience_ends)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._stop(exc)
            self._problem(target, f"{what} was refused ({refusal(exc)})")
            return None
        except Exception as exc:  # a DeadlineReached too (it is one)
            if isinstance(exc, DeadlineReached) and self._time_left() > 0:
                why = f"no answer within {patience:.3g} s, a listing's patience"
                self._problem(target, f"{what} failed ({why}: {exc.attempts} attempt(s))")
            else:
                self._problem(target, f"{what} failed ({_describe(exc)})")
            if self._never_sent(exc, trace):
                self._unreachable.add(target)
            return None
        finally:
            self._key_checked.set()

    async def _list(self, target: str | None, *, first: bool) -> list[Order] | None:
        """The target's open orders on the first page that shows any (the first page, unless it
        is full of closed ones); ``None`` when the listing failed or proved nothing."""
        page = await self._open_page(target)
        if page is None:
            self._last[target] = None
            return None
        # An order shown twice (on one page, or by a page that moved) is one order, met once.
        listed = list({order.order_id: order for order in page if order.is_open}.values())
        self._listed_at[target] = next(self._events)
        self._last[target] = [order.order_id for order in listed]
        self._complete[target] = len(page) < LIST_LIMIT
        if first and target is not None:
            self._seen.setdefault(target, [])
        for order in listed:
            name = order.order_id
            self._meet(name, target, order.symbol)
            self._saw_open(name)  # every page met, not just the first listing's
            if name in self._outcome and self._outcome[name][0] != "cancelled":
                del self._outcome[name]  # listed open again: neither gone nor unknown yet
        return listed

    async def _open_page(self, target: str | None) -> tuple[Order, ...] | None:
        """The first listing page that shows an open order or is not full. A full page of closed
        orders only (an index that still shows just-closed orders) is no proof of flat: the open
        ones may be on the next page, so it is read. ``None``: a page failed, or ``CLOSED_PAGES``
        full pages showed closed orders only (the problem said)."""
        for number in range(CLOSED_PAGES):
            call = self._api.open_orders(target, LIST_LIMIT, number).at_priority(Priority.CANCEL)
            page = await self._listing(call, target, "the listing")
            if page is None or len(page) < LIST_LIMIT or any(order.is_open for order in page):
                return page
        self._problem(
            target,
            f"the listing's first {CLOSED_PAGES} pages were full of closed orders only: "
            "no proof that nothing is open",
        )
        return None

    def _meet(self, name: str, target: str | None, symbol: str | None) -> None:
        self._target.setdefault(name, target)
        self._symbol.setdefault(name, symbol or target or UNKNOWN_SYMBOL)

    def _saw_open(self, name: str) -> None:
        """A listing showed the order open, or a cancel-all's answer said it cancelled it."""
        if name not in self._seen_any:
            self._seen_any.add(name)
            self._seen.setdefault(self._symbol[name], []).append(name)

    async def _cancel_all(self, target: str | None, listed: list[str]) -> bool:
        """The target's cancel-all (``listed``: the ids it is sent for); whether any answered."""
        return await self._cancel_all_of(target, target, listed)

    async def _cancel_all_of(
        self, target: str | None, symbol: str | None, listed: list[str]
    ) -> bool:
        """One cancel-all of ``symbol`` (``None``: the account), for the orders of ``target``;
        whether it (or, refused without a symbol, any of the per-symbol ones) was answered."""
        trace = Trace()
        try:
            result: CancelAllResult = await self._send(self._api.cancel_all(symbol), trace)
        except BadRequestError as exc:
            if symbol is None and self._api.version == "v3":
                # V3 may want a symbol (not documented either way): per symbol. V2 documents it
                # optional (and its cancel-all weighs five batch cancels): no second one.
                self._problem(target, f"the account-wide cancel-all was refused ({_describe(exc)})")
                return await self._cancel_all_by_symbol(target, listed)
            self._problem(target, f"the cancel-all was refused ({_describe(exc)})")
            self._all_left_open(listed, f"the cancel-all was refused ({_describe(exc)})")
            return False
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._stop(exc)
            self._problem(target, f"the cancel-all was refused ({refusal(exc)})")
            self._all_left_open(listed, f"the cancel-all was refused ({refusal(exc)})")
            return False
        except Exception as exc:  # a DeadlineReached too (it is one)
            self._problem(target, f"the cancel-all failed ({_describe(exc)})")
            if self._never_sent(exc, trace):  # nothing reached the exchange: not unknown
                self._all_left_open(listed, f"the cancel-all was not sent ({_describe(exc)})")
                return False
            why = "a cancel-all went unanswered" if trace.unclear else "the cancel-all failed"
            for name in listed:
                self._set(name, "unknown", f"{why} ({_describe(exc)})")
                self._why_open[name] = f"{why} ({_describe(exc)})"
            return False
        self._read_cancel_all(target, symbol, listed, result)
        return True

    def _never_sent(self, error: Exception, trace: Trace) -> bool:
        """A failed call certainly reached nothing: its last attempt's connection could not be
        opened (``TransportError.not_sent``), and no earlier attempt may have gone out."""
        if trace.unclear:
            return False
        if isinstance(error, DeadlineReached):
            if error.in_flight or error.last_error is None:
                return False
            return self._session.retry.never_sent(error.last_error)
        return self._session.retry.never_sent(error)

    def _all_left_open(self, listed: list[str], why: str) -> None:
        """Why each listed order is still open: the cancel-all did not reach it."""
        for name in listed:
            self._why_open[name] = why

    def _read_cancel_all(
        self, target: str | None, symbol: str | None, listed: list[str], result: CancelAllResult
    ) -> None:
        """What a cancel-all's answer says of each order it names, and of those it does not."""
        named = set()
        for item in result.results:
            if not item.order_id:
                continue
            named.add(item.order_id)
            self._meet(item.order_id, target, item.symbol or symbol)
            if item.result:  # it was open, then: seen open as much as a listing's orders
                self._saw_open(item.order_id)
                self._set(item.order_id, "cancelled", "")
            else:
                why = item.err_msg or item.err_code or "refused by the exchange"
                self._set(item.order_id, "gone", why)
                self._why_open[item.order_id] = f"the cancel-all did not cancel it ({why})"
        for name in listed:
            if name not in named:  # the next listing says whether it is still open
                self._set(name, "unknown", "not named in the cancel-all's answer")
                self._why_open[name] = "the cancel-all left it open"

    async def _cancel_all_by_symbol(self, target: str | None, listed: list[str]) -> bool:
        by_symbol: dict[str, list[str]] = {}
        for name in listed:
            by_symbol.setdefault(self._symbol[name], []).append(name)
        answered = await asyncio.gather(
            *(
                self._cancel_all_of(target, symbol, names)
                for symbol, names in by_symbol.items()
                if symbol
            )
        )
        return any(answered)

    async def _cancel_listed(self, target: str | None, listed: list[Order]) -> None:
        """Batch-cancel the listed ids, one ``CancelRun`` per symbol (each sends its symbol)."""
        by_symbol: dict[str, list[str]] = {}
        for order in listed:
            by_symbol.setdefault(self._symbol[order.order_id], []).append(order.order_id)
        runs = {
            CancelRun(
                self._session,
                self._api,
                "ids",
                symbol or None,
                self._deadline_at,
                self._limit,
                confirm=False,
                clock=self._clock,
            ): names
            for symbol, names in by_symbol.items()
        }
        reports = await asyncio.gather(
            *(run.run(names, self._limit.size) for run, names in runs.items())
        )
        for run, report in zip(runs, reports, strict=True):
            self._stopped = self._stopped or run.stopped  # the key was refused: stop every target
            self.calls += report.calls
            for name, outcome in run.outcomes.items():  # typed: the reasons are for people
                why = outcome.reason
                if outcome.verdict is Verdict.CANCELLED:
                    self._set(name, "cancelled", "")
                elif outcome.verdict is Verdict.UNKNOWN:
                    self._set(name, "unknown", why)
                    self._why_open[name] = f"the cancel's outcome is unknown: {why}"
                else:
                    self._why_open[name] = why
                    if outcome.verdict.gone:  # "not found", or found closed: no longer open
                        self._set(name, "gone", why)
                    # else refused or not sent: it may rest; the next listing says

    def _set(self, name: str, outcome: Outcome, why: str) -> None:
        """Record what the exchange said; a confirmed cancel is never taken back."""
        if name in self._outcome and self._outcome[name][0] == "cancelled":
            return
        self._outcome[name] = (outcome, why)
        self._said_at[name] = next(self._events)
        if outcome == "cancelled":
            self._cancelled.append(name)

    def _cancelled_on(self, target: str | None) -> int:
        """How many orders met under ``target`` the exchange said it cancelled."""
        return sum(self._target[name] == target for name in self._cancelled)

    # -- the report --------------------------------------------------------------------------------

    def _verdict(self, name: str) -> tuple[str, str]:
        """One order's bucket and why: the last listing of its target has the final word."""
        outcome, why = self._outcome.get(name, (None, ""))
        target = self._target[name]
        last = self._last.get(target)
        listed_after = self._said_at.get(name, -1) < self._listed_at.get(target, -1)
        if last is not None and name in last and listed_after:
            if outcome == "cancelled":
                why = "the exchange said it was cancelled, yet a later listing shows it open"
            else:
                why = self._why_open.get(name, "listed open at the end")
            return ("still_open", why)
        if outcome == "cancelled":
            return ("cancelled", "")
        if last is None:
            return ("unknown", "the last listing failed" + (f" ({why})" if why else ""))
        if not listed_after:  # what a cancel said after the last listing is the news
            return ("gone", why) if outcome == "gone" else ("unknown", f"not listed since: {why}")
        if self._complete.get(target, False):
            return ("gone", _gone_reason(outcome, why))
        return ("unknown", "not on the last listing's first page (a full page: more were open)")

    def _sort_orders(
        self, reports: dict[str, _SymbolParts], verdict: dict[str, tuple[str, str]]
    ) -> None:
        """Each order into its symbol's bucket (the cancelled ones in the order cancelled)."""
        for name in self._cancelled:
            if verdict[name][0] == "cancelled":
                reports.setdefault(self._symbol[name], _SymbolParts()).cancelled.append(name)
        for name, (bucket, why) in verdict.items():
            parts = reports.setdefault(self._symbol[name], _SymbolParts())
            if bucket == "still_open":
                parts.still_open[name] = why
            elif bucket == "gone":
                parts.gone[name] = why
            elif bucket == "unknown":
                parts.unknown[name] = why

    def _report(self, elapsed: float) -> FlattenReport:
        """Each order met, in one bucket: the last listing of its target has the final word."""
        reports: dict[str, _SymbolParts] = {}
        for symbol in [*(t for t in self._targets if t is not None), *self._seen]:
            reports.setdefault(symbol, _SymbolParts())
        for target, names in self._triggers_last.items():
            for name in names or ():
                symbol = self._trigger_symbol.get(name) or target or UNKNOWN_SYMBOL
                reports.setdefault(symbol, _SymbolParts()).triggers_open.append(name)
        for name, symbol in self._triggers_cancelled.items():
            reports.setdefault(symbol, _SymbolParts()).triggers_cancelled.append(name)
        self._sort_orders(reports, {name: self._verdict(name) for name in self._symbol})
        for target, listed in self._triggers_full.items():
            if listed:
                self._problem(
                    target, f"{listed} trigger orders listed: a full page, more may be open"
                )
        orders_flat = all(self._last.get(target) == [] for target in self._targets)
        triggers_listed = all(self._triggers_last.get(t) is not None for t in self._targets)
        triggers_flat = all(self._triggers_last.get(t) == [] for t in self._targets)
        return FlattenReport(
            flat=orders_flat and (triggers_flat or not self._include_triggers),
            symbols={
                symbol: SymbolReport(
                    seen_open=tuple(self._seen.get(symbol, ())),
                    cancelled=tuple(parts.cancelled),
                    gone=parts.gone,
                    still_open=parts.still_open,
                    unknown=parts.unknown,
                    triggers_open=tuple(parts.triggers_open),
                    triggers_cancelled=tuple(parts.triggers_cancelled),
                )
                for symbol, parts in reports.items()
            },
            calls=self.calls,
            rounds=self.rounds,
            elapsed=elapsed,
            problems=tuple(self.problems),
            include_triggers=self._include_triggers,
            triggers_listed=triggers_listed,
        )


class _Ways:
    """One target's record of the two ways of cancelling: which failed, and which to avoid.

    A way fails in a round when the next listing still shows every order it was sent for
    (whatever it answered: an error, no answer, or "cancelled" while they rest); when that
    listing fails too, when it was not answered. The next round then takes the other way; once
    that one fails too, the first one again.
    """

    def __init__(self) -> None:
        self._failed: dict[Way, int] = {CANCEL_ALL: 0, BATCH: 0}
        self._used: dict[Way, int] = {CANCEL_ALL: 0, BATCH: 0}
        self._avoid: Way | None = None
        #: the last round's way, the ids it was sent for, and whether it was answered
        self._pending: tuple[Way, frozenset[str], bool] | None = None

    def sent(self, way: Way, names: Sequence[str], *, answered: bool) -> None:
        self._used[way] += 1
        self._pending = (way, frozenset(names), answered)

    def judge(self, listed: set[str] | None) -> Way | None:
        """Judge the last round's way by this round's listing (``None``: it failed); the way,
        when it failed."""
        if self._pending is None:
            return None
        way, names, answered = self._pending
        self._pending = None
        failed = not answered if listed is None or not names else names <= listed
        if not failed:
            return None
        self._failed[way] += 1
        self._avoid = way
        return way

    def choose(self, cheaper: Way) -> Way:
        """The cheaper way, unless it is the one that failed last."""
        if cheaper != self._avoid:
            return cheaper
        return BATCH if cheaper == CANCEL_ALL else CANCEL_ALL

    def tally(self) -> dict[Way, tuple[int, int]]:
        """Per way: rounds it failed in, rounds it was used in."""
        return {way: (self._failed[way], self._used[way]) for way in (CANCEL_ALL, BATCH)}


class _SymbolParts:
    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.gone: dict[str, str] = {}
        self.still_open: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        self.triggers_open: list[str] = []
        self.triggers_cancelled: list[str] = []


def _gone_reason(outcome: Outcome | None, why: str) -> str:
    if outcome == "gone":
        return why
    if outcome == "unknown":
        return f"no longer open: filled, or cancelled (not confirmed: {why})"
    return "no longer open: filled, or cancelled elsewhere"
