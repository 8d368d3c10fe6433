"""The first window of a shared ledger's outage, on the manual clock, with no Redis: a ledger that
fails when told to (``FlakyLedger``) stands in for a Redis killed while the processes spend.

What the others spent through the ledger still counts at the exchange when it is lost, and nobody
knows how much: a process re-uses, in the first window of the outage, only the room its own
charges in the ledger free. A call it had admitted under the full budget just before the loss
(woken by the same scan, resumed after the first call found the ledger gone) must not be sent on
that admission: it queues again under the fallback share. Sent as it was, it spent the full
budget's room on top of the others' charges: the 429s of
``test_a_process_cut_off_by_a_restart_spends_nothing_the_others_spent``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import attrs
import pytest

from weex_async import Budget, Limiter, RateLimits
from weex_async._limiter import ClientLimiter, Priority, Ticket
from weex_async._limiter._ledger import Ledger, LedgerUnavailable, PoolCharge, Receipt

from .manual_clock import ManualClock, settle

#: the account's budget per window, the weight of one call, the share during an outage
BUDGET, WEIGHT, SHARE = 100, 10, 0.25
URL = "redis://127.0.0.1:1/0"  # never reached: the Limiter is given the FlakyLedger


class FlakyLedger(Ledger):
    """An in-memory ledger that admits every call (the test fills only what the exchange would
    allow) until ``killed``, then fails as an unreachable Redis does."""

    kind = "the flaky ledger"

    def __init__(self) -> None:
        super().__init__(URL, URL, retry_interval=3600.0)  # no retry during the test
        self.killed = False
        self.reserved = 0

    def key(self, *parts: str) -> str:
        return ":".join(parts)

    def _answer(self) -> None:
        if self.killed:
            self._went_down(ConnectionError("killed"))
            raise LedgerUnavailable("killed")
        self._came_back()

    async def current_epoch(self) -> str:
        self._answer()
        return "epoch-1"

    async def try_reserve(self, pools: Sequence[PoolCharge]) -> tuple[float, list[str]]:
        self._answer()  # at once: the others admitted with this call have not resumed yet
        self.reserved += 1
        return 0.0, [f"{self.reserved}:{weight}" for _, _, _, weight in pools]

    async def restamp(self, charges: Sequence[Receipt], offset: float) -> int:
        self._answer()
        return len(charges)

    async def republish(
        self, epoch: str, pools: Sequence[tuple[str, float, Sequence[tuple[float, int]]]]
    ) -> None:
        self._answer()
        self.epoch = epoch

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        pass

    async def aclose(self) -> None:
        pass


@attrs.frozen
class Cancel:
    """A call that charges the account's pool ``WEIGHT`` (and the IP pool next to nothing)."""

    name: str = "cancel_batch_orders"
    ip_weight: int = 1
    uid_weight: int = WEIGHT
    priority: Priority = Priority.CANCEL
    trade: bool = False


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> FlakyLedger:
    ledger = FlakyLedger()
    # the Limiter opens its ledgers through the name in its own module's globals
    monkeypatch.setitem(Limiter.ledger.__globals__, "open_ledger", lambda _: ledger)
    return ledger


async def sent(ticket: Ticket) -> None:
    """The request goes, and is answered at once."""
    ticket.mark_sent()
    ticket.mark_answered()
    ticket.finish()
    await settle()


LIMITS = RateLimits(
    ip=Budget(500, 1.0),
    uid=Budget(BUDGET, 1.0),
    trade=None,
    redis_url=URL,
    redis_fallback_share=SHARE,
)
#: one effective window (the exchange's plus the arrival allowance)
WINDOW = 1.0 + LIMITS.arrival_jitter


async def test_calls_admitted_under_the_full_budget_are_not_sent_when_the_ledger_is_lost(
    flaky: FlakyLedger,
) -> None:
    clock = ManualClock()
    limits = LIMITS
    client = ClientLimiter(limits, "fake", "key", 20, Limiter(clock=clock))
    call = Cancel()
    try:
        # The window filled through the ledger, every call answered at once: the weight comes
        # back one window later.
        for _ in range(BUDGET // WEIGHT):
            await sent(await client.acquire(call))
        assert flaky.reserved == BUDGET // WEIGHT
        # More calls wait for the window; the ledger is lost meanwhile (Redis killed). In this
        # ledger's window the others may have spent all but what this process spent (it spent
        # it all here): it may send nothing more before one window of the outage has passed.
        waiting = [asyncio.ensure_future(client.acquire(call)) for _ in range(8)]
        await settle()
        assert not any(task.done() for task in waiting)
        flaky.killed = True
        # The window frees: the scan admits the eight under the full budget at once; the first
        # to reach the ledger finds it gone (the outage, the share), the others resume after.
        await clock.advance(1.0)
        admitted = [task for task in waiting if task.done()]
        assert [t.exception() for t in admitted if t.exception()] == []
        assert admitted == []  # (before the fix: 7, 70 weight on top of a full window)
        # After one window of the outage, the share: 25 of 100, two calls.
        await clock.advance(WINDOW)
        assert sum(task.done() for task in waiting) == int(BUDGET * SHARE) // WEIGHT
    finally:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        await client.aclose(lambda: RuntimeError("closed"))


async def test_a_pool_first_used_in_the_first_window_of_an_outage_holds_its_room_too(
    flaky: FlakyLedger,
) -> None:
    # The other processes may have filled account b's window through the ledger just before it
    # was lost: this process, which had used the ledger for account a only, must not spend b's
    # share at once either.
    clock = ManualClock()
    limiter = Limiter(clock=clock)
    a = ClientLimiter(LIMITS, "fake", "a", 20, limiter)
    b = ClientLimiter(LIMITS, "fake", "b", 20, limiter)
    call = Cancel(ip_weight=0)  # the IP pool, used before the outage, never holds b's calls
    tasks: list[asyncio.Future[Ticket]] = []
    try:
        await sent(await a.acquire(call))  # the ledger knows this process
        flaky.killed = True
        tasks.append(asyncio.ensure_future(a.acquire(call)))  # finds it gone: the outage
        await settle()
        assert flaky.down
        await clock.advance(0.5)
        on_b = [asyncio.ensure_future(b.acquire(call)) for _ in range(3)]
        tasks += on_b
        await settle()
        assert not any(task.done() for task in on_b)  # (before the fix: 2, b's whole share)
        await clock.advance(WINDOW - 0.5)  # one window after the ledger was lost: the share
        assert sum(task.done() for task in on_b) == int(BUDGET * SHARE) // WEIGHT
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.aclose(lambda: RuntimeError("closed"))
        await b.aclose(lambda: RuntimeError("closed"))
