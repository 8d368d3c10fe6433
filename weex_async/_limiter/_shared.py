"""A shared ledger (the host file or Redis) as one process uses it: charges on the wire,
outages, restarts, and what was spent meanwhile.

The ledger (``_host``, ``_redis``) keeps the shared window exact while it answers. This module
holds the charges of requests on the wire (it renews their lease every ``WATCH_INTERVAL`` until
they are settled), and keeps the promise when the ledger does not answer (the host ledger's
file failing is an outage too, with the same behaviour):

- **Outage.** A process that cannot reach Redis spends at most ``redis_fallback_share`` of each
  budget from its local pools (or only cancels, or nothing: ``RateLimits.redis_outage``), and
  remembers what it spent. For the first window of an outage, a process that had reached the
  ledger spends only within the room its own charges in the ledger free (``_hold_room``): what
  the others spent through the ledger still counts at the exchange, and nobody knows it. A call
  spends the share only if it queued during the outage it is sent in (``spend_share``): one the
  local pools admitted under the full budget just before is queued again. A background task
  asks Redis again every ``retry_interval``; when it answers, the process first *publishes* what
  it spent during the outage, then shares again.
- **Restart.** A restarted (empty) Redis has a new epoch, and admits no new charge for
  ``RESTART_GRACE`` seconds. Every process that sees the new epoch re-publishes its own charges of
  the last window before charging anything new; one that holds charges of the last window but is
  idle checks the epoch every ``WATCH_INTERVAL`` seconds, so it re-publishes within the grace.
  Then the ledger knows again what was spent in the window.

The check every ``WATCH_INTERVAL`` is the one polling loop of the limiter: it runs only while
this process holds charges of the last window (one ``GET``-sized script call each time, plus one
to renew the lease of its charges on the wire, if any).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence

from ._admission import Pool, Ticket
from ._gate import PriorityGate
from ._ledger import WATCH_INTERVAL, Ledger, LedgerReset, LedgerUnavailable, PoolCharge, Receipt
from ._pools import WindowPool

__all__ = ["SharedLedger", "open_ledger"]

log = logging.getLogger("weex_async.limiter")


def open_ledger(url: str) -> Ledger:
    """The ledger at ``url``: a ``file:`` URL is the host ledger, any other a Redis URL."""
    if url.startswith("file:"):
        from ._host import HostLedger
        from ._limits import _file_path

        return HostLedger(_file_path(url))
    from ._redis import RedisLedger

    return RedisLedger(url)


class SharedLedger:
    """One shared ledger, used by the clients of one ``Limiter``.

    Args:
        ledger: the host ledger or the Redis ledger.
        clock: the loop's time (for the age of local charges).
        rescan: called when pool limits change (the admission queue admits who now fits).
    """

    def __init__(
        self, ledger: Ledger, clock: Callable[[], float], rescan: Callable[[], None]
    ) -> None:
        self.ledger = ledger
        self.users = 0
        self._clock = clock
        self._rescan = rescan
        #: every local pool that is shared, with its key in Redis and its fallback share
        self._pools: dict[WindowPool, tuple[str, float]] = {}
        #: when the ledger was lost, if this process had reached it (``_hold_room``)
        self._lost_at: float | None = None
        #: charges made during an outage, not yet in Redis
        self._unpublished: list[tuple[WindowPool, list[float]]] = []
        self.outage = False
        #: how many outages began (``outage_mark``)
        self._outages = 0
        #: calls the outage policy holds back wait here; they leave in priority order
        self._back: PriorityGate | None = None
        self._publishing = asyncio.Lock()
        #: a lease renewal and a settlement never cross: a renewal sent before a settlement
        #: but applied after it would hold a settled charge one lease longer
        self._restamping = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: settlements under way (kept referenced until done)
        self._settling: set[asyncio.Task[None]] = set()
        #: the charges of requests on the wire (not yet settled): their lease is renewed
        self._on_wire: dict[int, list[Receipt]] = {}
        self._receipts = 0
        #: in the first window of an outage, the room the other processes may hold, charged to
        #: each local pool (it expires one window after the ledger was lost)
        self._placeholders: dict[WindowPool, list[float]] = {}
        #: by pool key: this process's charges in the ledger, ``[counts until, weight]`` (until
        #: ``inf`` while on the wire): what the ledger counts for it, or less, never more
        self._mine: dict[str, list[list[float]]] = {}
        self._held: dict[str, list[float]] = {}

    def register(self, pool: WindowPool, key: str, share: float) -> None:
        """``pool`` is shared under ``key``; during an outage it spends ``share`` (the smallest
        share any of its clients set)."""
        new = pool not in self._pools
        _, known = self._pools.get(pool, (key, 1.0))
        self._pools[pool] = (key, min(known, share))
        if self.outage:
            pool.set_share(self._pools[pool][1])
            lost = self._lost_at
            if new and lost is not None and self._clock() < lost + pool.window:
                # first used in the outage's first window: what the others spent in it through
                # the ledger counts as much in this pool as in those used before
                self._hold_room_of(pool, key, lost)

    def start(self) -> None:
        """Start the background task (on the running loop), once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    # -- what its users ask of it (so that they never reach through to the ledger) ----------------

    @property
    def url(self) -> str:
        """The ledger's URL, secrets included: a lookup key, never shown (``shown_url`` is)."""
        return self.ledger.url

    @property
    def available(self) -> bool:
        """The ledger may be asked now: False during an outage until the next try is due."""
        return self.ledger.available

    def key(self, *parts: str) -> str:
        """The ledger's key of the pool named by ``parts``."""
        return self.ledger.key(*parts)

    def join(self) -> None:
        """One more client of the limiter uses this ledger."""
        self.users += 1

    def leave(self) -> bool:
        """One client less; True when it was the last (then the limiter closes the ledger)."""
        self.users -= 1
        return self.users <= 0

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        """Pause these pools for every process sharing them (after a 429)."""
        await self.ledger.pause(pool_keys, seconds)

    def settle_with(self, ticket: Ticket, charges: list[Receipt], allowance: float) -> None:
        """``ticket``'s end settles ``charges`` in the ledger (``settler``)."""
        ticket.settle = self.settler(charges, allowance)

    async def aclose(self) -> None:
        self._closing = True
        if self._task is not None:
            # redis-py may turn the cancellation of a command into a connection error: the loop
            # also stops on the flag, and the close never waits long for it
            self._task.cancel()
            await asyncio.wait([self._task], timeout=1.0)
            self._task = None
        if self._settling:  # the last answers' settlements: a moment, never longer
            await asyncio.wait(self._settling, timeout=1.0)
        await self.ledger.aclose()

    # -- charging --------------------------------------------------------------------------------

    async def charge(self, shared: Sequence[PoolCharge]) -> list[Receipt] | None:
        """Charge a call's pools in the ledger: the charges, ``(key, window, member)`` per pool,
        to settle once the call is answered; ``None`` when the ledger is unreachable (the outage
        is then on: the caller re-admits under the fallback share).

        Raises:
            ConfigurationError: the ledger cannot keep its promises (checked at the first
                contact: an evicting Redis).

        Args:
            shared: ``(key, limit, window seconds, weight)`` for each pool.
        """
        ledger = self.ledger
        async with ledger.turn(tuple(key for key, _, _, _ in shared)):
            while True:
                try:
                    if self.outage or ledger.epoch is None:
                        await self._come_back(await ledger.current_epoch())
                    members = await ledger.reserve(shared)
                except LedgerReset as reset:
                    await self._republish(reset.epoch)
                    continue
                except LedgerUnavailable:
                    self._set_outage(True)
                    return None
                for (key, _, _, weight), member in zip(shared, members, strict=True):
                    self._charged(key, member, weight)
                return [
                    (key, window, member)
                    for (key, _, window, _), member in zip(shared, members, strict=True)
                ]

    def _charged(self, key: str, member: str, weight: int) -> None:
        """Note a charge the ledger made for this process (on the wire until settled)."""
        entries = self._mine.setdefault(key, [])
        now = self._clock()
        if entries and entries[0][0] <= now:  # forget those out of the window
            entries[:] = [entry for entry in entries if entry[0] > now]
        entry = [math.inf, float(weight)]
        entries.append(entry)
        self._held[member] = entry

    def settler(self, charges: list[Receipt], allowance: float) -> Callable[[bool], None]:
        """What a ticket calls when its request is answered (``True``) or given up (or never
        sent): re-stamp its charges in the ledger so that they count until one window after the
        answer (or one window plus ``allowance`` after the give-up), in the background: the
        caller never waits for it. Until then, the charges are on the wire: their lease is
        renewed. If the ledger cannot be reached, the charges keep their last lease (they expire
        one lease, one window and the allowance after it)."""
        self._receipts += 1
        number = self._receipts
        self._on_wire[number] = charges

        def settle(answered: bool) -> None:
            if self._on_wire.pop(number, None) is None:
                return  # settled already
            # the ledger counts it until one window after its settlement (less the allowance
            # for an answered request), read late on its clock: never earlier than this
            now = self._clock()
            for _, window, member in charges:
                entry = self._held.pop(member, None)
                if entry is not None:
                    entry[0] = now - (allowance if answered else 0.0) + window
            if not self._closing:
                task = asyncio.get_running_loop().create_task(
                    self._settle(charges, allowance if answered else 0.0)
                )
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)

        return settle

    async def _settle(self, charges: list[Receipt], before: float) -> None:
        # an outage is noted by the ledger; the last lease stands (it expires on its own)
        with contextlib.suppress(LedgerUnavailable):
            async with self._restamping:
                await self.ledger.settle(charges, before)

    async def _hold(self) -> None:
        """Renew the lease of every charge on the wire (those settled meanwhile are left be)."""
        async with self._restamping:
            charges = [charge for receipt in self._on_wire.values() for charge in receipt]
            if charges:
                await self.ledger.hold(charges)

    def outage_mark(self) -> int | None:
        """What a call notes before it queues in the local pools: the outage under way, if any
        (``spend_share``)."""
        return self._outages if self.outage else None

    def spend_share(self, charges: Sequence[tuple[Pool, list[float]]], mark: int | None) -> bool:
        """During an outage, may a call admitted by the local pools be sent on that admission
        (``charges``), without the ledger? Only if it queued during this same outage (``mark``,
        from ``outage_mark``): its admission was then checked against the fallback share (and the
        room held in the outage's first window). A call the local pools admitted under the full
        budget, before the ledger was lost (woken by the same scan as the call that found it
        gone, resumed after it), or in an earlier outage, must queue again: sent on that
        admission, it would spend the full budget's room on top of what the other processes
        spent through the ledger. When it may, its charges are remembered, to publish."""
        if not self.outage or mark != self._outages:
            return False
        self.spent_during_outage(charges)
        return True

    def spent_during_outage(self, charges: Sequence[tuple[Pool, list[float]]]) -> None:
        """Remember charges admitted locally during an outage, to publish when Redis is back."""
        for pool, entry in charges:
            if isinstance(pool, WindowPool) and pool in self._pools:
                self._unpublished.append((pool, entry))

    async def wait_back(self, priority: int = 0) -> None:
        """Wait until Redis answers again (for calls the outage policy holds back); when it
        does, the calls leave in priority order (cancels reach the queue first)."""
        if self.outage:
            if self._back is None:
                self._back = PriorityGate()
            await self._back.wait(priority)

    # -- outages and restarts --------------------------------------------------------------------

    def _set_outage(self, on: bool) -> None:
        if on == self.outage:
            return
        self.outage = on
        for pool, (_, share) in self._pools.items():
            pool.set_share(share if on else 1.0)
        if on:
            self._outages += 1
            if self.ledger.epoch is not None:
                self._lost_at = self._clock()
                self._hold_room(self._lost_at)
            self._back = PriorityGate()
        else:
            self._lost_at = None
            placeholders, self._placeholders = self._placeholders, {}
            for pool, entry in placeholders.items():
                pool.refund(entry)  # (gone already if the first window is over)
            back, self._back = self._back, None
            if back is not None:
                back.open()
            self._rescan()

    def _hold_room(self, now: float) -> None:
        """The ledger was lost while in use. What the other processes spent through it in the
        window still counts at the exchange, and nobody knows how much it was: for one window,
        each process re-uses only the room its own charges in the ledger free, within its share.
        Summed over the processes, that is at most what the ledger had admitted. The rest of the
        share is charged to the local pool for that window, as if spent (a pool first used
        later in that window too: ``register``)."""
        for pool, (key, _) in self._pools.items():
            self._hold_room_of(pool, key, now)

    def _hold_room_of(self, pool: WindowPool, key: str, lost: float) -> None:
        """Charge ``pool`` with the part of its share its own charges in the ledger (as of
        ``lost``) do not free, until one window after ``lost``."""
        own = sum(weight for until, weight in self._mine.get(key, ()) if until > lost)
        room = pool.limit - int(own)
        if room > 0:
            placeholder = self._placeholders[pool] = pool.take(room, self._clock())
            placeholder[0] = lost  # (behind later charges in the pool, it never leaves earlier)

    async def _come_back(self, epoch: str) -> None:
        """The ledger answers (after an outage, or for the first time): publish what it lacks."""
        if self.ledger.epoch is not None and epoch != self.ledger.epoch:
            await self._republish(epoch)  # a new (restarted) ledger: all of it
        else:  # the first contact, or the same ledger: what was spent without it
            await self._publish(epoch, everything=False)
        self._set_outage(False)

    async def _republish(self, epoch: str) -> None:
        await self._publish(epoch, everything=True)

    async def _publish(self, epoch: str, *, everything: bool) -> None:
        """Add this process's charges of the last window to the ledger of ``epoch``: all of them
        (a new ledger), or only those spent during the outage."""
        async with self._publishing:
            if everything and epoch == self.ledger.epoch:
                return  # another task of this process has just done it
            for _ in range(5):
                now = self._clock()
                charges: dict[WindowPool, list[tuple[float, int]]] = {}
                if everything:
                    for pool in self._pools:
                        charges[pool] = spent = pool.recent(now)
                        placeholder = self._placeholders.get(pool)
                        if placeholder is not None:  # not spent: never published
                            with contextlib.suppress(ValueError):
                                spent.remove((max(0.0, now - placeholder[0]), int(placeholder[1])))
                else:
                    for pool, entry in self._unpublished:
                        if now - entry[0] < pool.window:
                            charges.setdefault(pool, []).append((now - entry[0], int(entry[1])))
                try:
                    await self.ledger.republish(
                        epoch,
                        [
                            (self._pools[pool][0], pool.window, spent)
                            for pool, spent in charges.items()
                        ],
                    )
                except LedgerReset as reset:  # restarted again meanwhile: all of it, there
                    epoch, everything = reset.epoch, True
                    continue
                self._unpublished.clear()
                published = sum(weight for spent in charges.values() for _, weight in spent)
                if published:
                    log.info(
                        "shared budget: published %d weight this process spent into the ledger",
                        published,
                    )
                return
            log.warning(
                "shared budget: the ledger kept restarting; this process's charges of "
                "the last window were not published"
            )

    async def _watch(self) -> None:
        """During an outage, ask the ledger every ``retry_interval``; otherwise, while this
        process holds charges of the last window, renew the lease of its charges on the wire and
        check the epoch every ``WATCH_INTERVAL``."""
        ledger = self.ledger
        while not self._closing:
            if self.outage:
                await asyncio.sleep(ledger.retry_interval)
            else:
                await asyncio.sleep(WATCH_INTERVAL)
                now = self._clock()
                if not self._on_wire and not any(pool.recent(now) for pool in self._pools):
                    continue
            if self._closing:
                return
            try:
                if self._on_wire and not self.outage:
                    await self._hold()
                epoch = await ledger.current_epoch()
                if self.outage or epoch != ledger.epoch:
                    await self._come_back(epoch)
            except LedgerUnavailable:
                if not self._closing:
                    self._set_outage(True)
            except Exception:  # keep watching: the calls themselves fall back if Redis fails
                log.exception("shared budget: the ledger watch failed")
