"""The admission queue: every pool of a call is checked and charged in one step, in order.

Rules (the limiter's invariants, docs/rate-limits.md):

- **All or nothing.** A call is admitted only when every pool it charges can take its weight, and
  then all of them are charged at once, synchronously (no ``await`` between check and charge, so
  nothing else on the event loop can interleave). Nothing is held while waiting.
- **Order.** Waiters are served by priority (``Priority``: lower first). Within a priority the
  *flows* (accounts) take turns, and each flow's calls keep their order (FIFO within an account).
  A waiter that cannot be admitted *blocks* the pools it is short of: nobody behind it may take
  from those pools, so a heavy call is never starved by a stream of light ones. Callers whose
  pools are not blocked pass (another account's calls do not queue behind this account's empty
  budget).
- **Turns.** Round robin: of the flows waiting at a priority, the one served least recently goes
  next, one call, then goes behind the others. Whatever the order in which their calls arrived,
  backlogged accounts alternate on a pool they share; an account that was held back by its own
  budget gets one turn when it can go again, never a run of them (no credit for the time it
  waited), so one account's backlog delays another's call by at most one call per account.
- **No polling.** One timer, armed for the earliest moment a blocked pool could fit its blocker;
  slot releases and cancellations re-run the scan. Idle waiting costs no CPU.
- **Cancellation.** A caller cancelled while waiting charges nothing; one cancelled just after being
  admitted (before it could send) is refunded.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from ..errors import EventLoopError
from ._pools import WindowPool

__all__ = ["AdmissionQueue", "Clock", "Pool", "Priority", "Ticket"]

log = logging.getLogger("weex_async.limiter")


class Priority(enum.IntEnum):
    """Who goes first when several calls wait: lower values first."""

    SYSTEM = 0  #: server-time syncs, which signed calls depend on
    CANCEL = 1  #: cancels: a market maker's safety valve
    PLACE = 2  #: placements
    QUERY = 3  #: everything else


class Pool(Protocol):
    name: str
    limit: int
    #: the whole budget (``limit`` may be a share of it while a shared ledger is unreachable)
    full_limit: int
    window: float
    waiting: int
    paused_until: float
    #: True for in-flight slots (freed when the request ends), False for window weight
    freed_on_release: bool

    def used(self, now: float) -> int: ...
    def can_take(self, weight: int, now: float) -> bool: ...
    def take(self, weight: int, now: float) -> list[float]: ...
    def refund(self, entry: list[float]) -> None: ...
    def ready_at(self, weight: int, now: float) -> float | None: ...
    # window pools only (``freed_on_release`` false): the life of a sent request's charge
    def hold(self, entry: list[float]) -> None: ...
    def answered(self, entry: list[float], now: float) -> None: ...
    def given_up(self, entry: list[float], now: float) -> None: ...


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the queue needs of time: the event loop satisfies it; tests inject a manual clock."""

    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[[], Any]) -> Timer: ...


Charges = Sequence[tuple[Pool, int]]


class Ticket:
    """An admission: what was charged, so that slots can be released and unsent calls refunded.

    Use it through ``ClientLimiter.admit``: ``async with limiter.admit(endpoint) as ticket:``,
    then ``ticket.mark_sent()`` just before the request goes on the wire. Leaving the block
    releases the in-flight slot of a sent request (its window weight stays charged) and refunds
    every charge of a request that was never sent.
    """

    __slots__ = ("_entries", "_finished", "_queue", "answered", "sent", "settle", "waited")

    def __init__(
        self, queue: AdmissionQueue, entries: list[tuple[Pool, list[float]]], waited: float
    ) -> None:
        self._queue = queue
        self._entries = entries
        self._finished = False
        #: seconds spent waiting in the queue
        self.waited = waited
        #: the request went (or may have gone) on the wire
        self.sent = False
        #: its answer came
        self.answered = False
        #: told ``True`` when the answer comes, ``False`` when a request is given up without one
        #: (or never sent): a shared ledger re-stamps its charges then (``None``: nothing to tell)
        self.settle: Callable[[bool], None] | None = None

    def mark_sent(self) -> None:
        """The request goes on the wire now: its window weight is held until its answer.

        The exchange counts weight when the request *arrives*, somewhere between its sending and
        its answer: until the answer, nobody knows when. So the charge does not start expiring
        while the request is on the wire, however long that takes (a busy loop, a slow network).
        """
        self.sent = True
        for pool, entry in self._entries:
            if not pool.freed_on_release:
                pool.hold(entry)

    def mark_not_sent(self) -> None:
        """The request never left after all (no connection could be opened): nothing arrived,
        so leaving the block refunds its charges, as for a request never sent. A shared ledger's
        charge is still settled as given up (its ledger is not told what never happened)."""
        self.sent = False

    def mark_answered(self) -> None:
        """The answer came: the request arrived by now, so its weight leaves the exchange's
        window one window from now (``WindowPool.answered``)."""
        if self.sent and not self.answered:
            self.answered = True
            self._off_the_wire(answered=True)

    def _off_the_wire(self, *, answered: bool) -> None:
        """The request's weight starts to leave the windows: one window after the answer, or one
        window plus the allowance after a give-up; a shared ledger is told too."""
        now = self._queue.clock.time()
        for pool, entry in self._entries:
            if not pool.freed_on_release:
                if answered:
                    pool.answered(entry, now)
                else:
                    pool.given_up(entry, now)
        if self.settle is not None:
            self.settle(answered)

    @property
    def charges(self) -> list[tuple[Pool, list[float]]]:
        """What this admission charged: each pool with its ``[time, weight]`` entry."""
        return self._entries

    def finish(self) -> None:
        """Done with this admission: release a sent request's slots, refund an unsent one. A sent
        request without an answer is given up now: its weight is held one window plus the
        arrival allowance from now (it may still be on its way)."""
        if not self._finished:
            self._finished = True
            if self.sent and not self.answered:
                self._off_the_wire(answered=False)
            elif not self.sent and self.settle is not None:
                self.settle(False)  # a shared ledger's charge of a call never sent: let it go
            self._queue.give_back(self._entries, refund_all=not self.sent)


class _Flow:
    """One account's calls at one priority: when it was last served, and how many wait."""

    __slots__ = ("served", "waiting")

    def __init__(self) -> None:
        #: the queue's service count when this flow last had a call admitted (-1: never)
        self.served = -1
        self.waiting = 0


class _Waiter:
    __slots__ = ("charges", "enqueued_at", "flow", "future", "key")

    def __init__(
        self,
        key: tuple[int, int],
        charges: Charges,
        future: asyncio.Future[Ticket],
        now: float,
        flow: _Flow,
    ) -> None:
        self.key = key
        self.charges = charges
        self.future = future
        self.enqueued_at = now
        self.flow = flow


def _reserve(reserved: dict[Pool, int], charges: Charges, priority: int) -> None:
    """Keep ``charges``' window pools for callers of ``priority`` or better during this scan.

    In-flight slots are not kept: a slot comes back with its answer, so a call of a lower priority
    that takes one delays nobody by more than a round trip."""
    for pool, _ in charges:
        if not pool.freed_on_release and reserved.get(pool, math.inf) > priority:
            reserved[pool] = priority


class AdmissionQueue:
    """One queue for every pool of one event loop (so pools shared by clients share one order).

    Waiters with the same charges and priority (one client's calls of one endpoint) form a FIFO
    *line*; they need the same pools, so when a line's head cannot go, neither can the rest of the
    line. A scan therefore looks only at line heads, in (priority, arrival) order: its cost grows
    with the number of lines, not with the number of waiters (1000 callers are one line).

    Args:
        clock: the time source and timer; the running event loop by default.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else asyncio.get_running_loop()
        self._loop: asyncio.AbstractEventLoop | None = (
            self._clock if isinstance(self._clock, asyncio.AbstractEventLoop) else None
        )
        self._lines: dict[tuple[int, int], deque[_Waiter]] = {}
        self._pending = 0  # waiters not yet admitted or cancelled
        #: the turns (see the module's docstring): each flow at each priority
        self._flows: dict[tuple[int, Hashable], _Flow] = {}
        self._served = itertools.count()
        self._sequence = itertools.count()
        self._timer: Timer | None = None
        self._timer_at = math.inf

    @property
    def clock(self) -> Clock:
        return self._clock

    def check_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be this queue's own (the first it ran on).

        Raises:
            EventLoopError: it is another loop: this queue's waiters and timers live on its own.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise EventLoopError(
                "these rate-limit pools belong to another event loop; create the client (and "
                "any Limiter you pass it) on the loop that uses it: one per thread or asyncio.run"
            )
        return loop

    def __len__(self) -> int:
        return self._pending

    def _flow(self, priority: int, flow: Hashable) -> _Flow:
        key = (priority, flow)
        state = self._flows.get(key)
        if state is None:
            if len(self._flows) >= 256:  # forget the flows with nothing waiting
                self._flows = {k: f for k, f in self._flows.items() if f.waiting}
            state = self._flows[key] = _Flow()
        return state

    async def acquire(self, charges: Charges, priority: int, flow: Hashable = None) -> Ticket:
        """Wait until every pool in ``charges`` can take its weight, then charge them all.

        Args:
            charges: each pool with the weight to charge it.
            priority: lower goes first.
            flow: whose call it is (an account): within a priority, flows take turns, and each
                flow's calls keep their order. ``None``: one flow for every such caller.

        Raises:
            ValueError: a weight exceeds its pool's whole budget (it could never be admitted).
        """
        loop = self.check_loop()
        now = self._clock.time()
        state = self._flow(priority, flow)
        if not self._pending and all(pool.can_take(weight, now) for pool, weight in charges):
            state.served = next(self._served)
            return self._charge(charges, now, now)
        _check_weights(charges)
        future: asyncio.Future[Ticket] = loop.create_future()
        waiter = _Waiter((priority, next(self._sequence)), charges, future, now, state)
        state.waiting += 1
        line_key = (id(charges), priority)  # the line keeps `charges` alive: the id stays unique
        line = self._lines.get(line_key)
        if line is None:
            line = self._lines[line_key] = deque()
        line.append(waiter)
        self._pending += 1
        for pool, _ in charges:
            pool.waiting += 1
        try:
            self._scan()
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().finish()  # admitted, but the caller is gone: nothing was sent
            else:
                future.cancel()
                self._pending -= 1
                state.waiting -= 1
                self._scan()  # it may have been blocking pools for the waiters behind it
            raise
        finally:
            for pool, _ in charges:
                pool.waiting -= 1

    def pause(self, pools: Sequence[WindowPool], until: float, reason: str) -> None:
        """Pause ``pools`` until ``until`` (a longer pause extends, a shorter never shortens)."""
        extended = [pool.name for pool in pools if pool.pause(until)]
        if extended:
            log.warning(
                "pausing %s for %.1fs: %s", ", ".join(extended), until - self._clock.time(), reason
            )
        self._scan()

    def abort(self, pool: Pool, error: Callable[[], BaseException]) -> int:
        """Fail every waiter that charges ``pool`` with a fresh ``error()`` (its client closed).

        Returns:
            How many waiters were failed.
        """
        aborted = 0
        for line in self._lines.values():
            for waiter in line:
                if not waiter.future.done() and any(p is pool for p, _ in waiter.charges):
                    waiter.future.set_exception(error())
                    waiter.flow.waiting -= 1
                    aborted += 1
        if aborted:
            self._pending -= aborted
            self._scan()
        return aborted

    def rescan(self) -> None:
        """Pool limits changed from outside (e.g. a shared ledger came back): admit who fits."""
        if self._pending:
            self._scan()

    def _charge(self, charges: Charges, now: float, enqueued_at: float) -> Ticket:
        entries = []
        for pool, weight in charges:
            entries.append((pool, pool.take(weight, now)))
        return Ticket(self, entries, now - enqueued_at)

    def give_back(self, entries: list[tuple[Pool, list[float]]], *, refund_all: bool) -> None:
        """Free what a finished ticket held: its slots, or (``refund_all``) every charge."""
        freed = not refund_all  # a sent request's charges got their expiry: rescan too
        for pool, entry in entries:
            if refund_all or pool.freed_on_release:
                pool.refund(entry)
                freed = True
        if freed and self._pending:
            self._scan()

    def _scan(self, due: float = -math.inf) -> None:
        """Admit every waiter that can go now, in order; arm the timer for the rest.

        Args:
            due: when called by the timer, the time it was armed for. asyncio runs timers up to its
                clock resolution (~1 ns) early; scanning as of the due time avoids re-arming the
                same instant in a loop.
        """
        now = max(self._clock.time(), due)
        #: pools an earlier waiter is short of (nobody behind it may take from them: a heavy call
        #: is never starved by light ones), with the weight it needs
        blocked: dict[Pool, int] = {}
        #: every pool a waiting call charges, with the best priority waiting for it: a call of a
        #: lower priority may not take from it (no priority inversion: a waiting cancel is not
        #: robbed of the account's window by queries while it waits for the trade cap)
        reserved: dict[Pool, int] = {}
        #: line heads by (priority, when their flow was last served, arrival); a flow served during
        #: this scan has its other heads pushed back with the new count when they come up
        heads = self._heads()
        while heads:
            _, served, _, line_key = heapq.heappop(heads)
            line = self._lines[line_key]
            waiter = line[0]
            if waiter.flow.served != served:  # its flow had a turn meanwhile: behind the others
                heapq.heappush(heads, (waiter.key[0], waiter.flow.served, waiter.key[1], line_key))
                continue
            charges = waiter.charges
            priority = waiter.key[0]
            if (blocked and any(pool in blocked for pool, _ in charges)) or (
                reserved and any(reserved.get(pool, priority) < priority for pool, _ in charges)
            ):
                _reserve(reserved, charges, priority)
                continue  # an earlier (or more urgent) waiter needs one of these pools: wait
            short = [(pool, w) for pool, w in charges if not pool.can_take(w, now)]
            if short:
                for pool, weight in short:
                    blocked[pool] = weight
                _reserve(reserved, charges, priority)
                continue
            line.popleft()
            self._pending -= 1
            waiter.flow.served = next(self._served)
            waiter.flow.waiting -= 1
            ticket = self._charge(charges, now, waiter.enqueued_at)
            log.debug("admitted after waiting %.3fs (priority %d)", ticket.waited, waiter.key[0])
            waiter.future.set_result(ticket)
            while line and line[0].future.done():
                line.popleft()
            if line:
                head = line[0]
                heapq.heappush(heads, (head.key[0], head.flow.served, head.key[1], line_key))
        self._arm(_earliest_ready(blocked, now), now)

    def _heads(self) -> list[tuple[int, int, int, tuple[int, int]]]:
        """Each line's first live waiter, as a heap (``_scan``'s order); empty lines dropped."""
        heads: list[tuple[int, int, int, tuple[int, int]]] = []
        for line_key, line in list(self._lines.items()):
            while line and line[0].future.done():  # cancelled while waiting
                line.popleft()
            if line:
                head = line[0]
                heads.append((head.key[0], head.flow.served, head.key[1], line_key))
            else:
                del self._lines[line_key]
        heapq.heapify(heads)
        return heads

    def _arm(self, wake: float, now: float) -> None:
        if wake == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = wake
        if wake < math.inf:
            self._timer = self._clock.call_at(max(wake, now), self._on_timer)

    def _on_timer(self) -> None:
        due = self._timer_at
        self._timer = None
        self._timer_at = math.inf
        self._scan(due)


def _check_weights(charges: Charges) -> None:
    """Refuse a weight that exceeds its pool's whole budget (it could never be admitted)."""
    for pool, weight in charges:
        if weight > pool.full_limit:
            raise ValueError(
                f"weight {weight} can never fit pool {pool.name} (budget {pool.full_limit})"
            )


def _earliest_ready(blocked: dict[Pool, int], now: float) -> float:
    """The earliest moment a blocked pool could fit its blocker's weight (``inf``: none)."""
    wake = math.inf
    for pool, weight in blocked.items():
        ready = pool.ready_at(weight, now)
        if ready is not None and ready < wake:
            wake = ready
    return wake
