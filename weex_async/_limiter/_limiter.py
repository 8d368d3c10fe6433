"""``Limiter``: the rate-limit pools (and shared ledgers) of one event loop's clients.

Clients given one ``Limiter`` share its pools: the IP pool of each host, the account pools of each
API key (one per rule, ``_rules``), and one queue (``AdmissionQueue``) in which their calls wait.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from ._admission import AdmissionQueue, Clock
from ._limits import Budget
from ._pools import WindowPool
from ._shared import SharedLedger, open_ledger

__all__ = ["Limiter", "default_for_client"]

log = logging.getLogger("weex_async")

_DEFAULTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limiter] = (
    weakref.WeakKeyDictionary()
)


_warned_loops = False
#: Each loop whose default limiter has served a client: whether one of them shared its budgets
#: through no ledger (``RateLimits(ledger="process")``, the default).
_CLIENT_LOOPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, bool] = (
    weakref.WeakKeyDictionary()
)


def _warn_loops(others: int) -> None:
    """Say once per process that default limiters of several live loops share no budget."""
    global _warned_loops  # one warning per process
    if _warned_loops:
        return
    _warned_loops = True
    log.warning(
        "another event loop of this process (%d open) has clients of its own default limiter: "
        "the default limiters of two loops share no budget, so together their calls can exceed "
        'WEEX\'s limits (429); give every client RateLimits(ledger="host") to share them',
        others,
    )


class Limiter:
    """Rate-limit pools shared by every client given this object.

    Clients given one ``Limiter`` share its pools: the IP pool of each host, the account pool and
    trade cap of each API key, each under the strictest budget among the open clients that charge
    it (a closed client's budget no longer applies). A ``Limiter`` belongs to the event loop it is
    first used on; another loop gets ``EventLoopError``.

    A client given none uses its event loop's default, ``Limiter.default()``: so, unless told
    otherwise, every client of a loop shares the budgets of its host and key.

    Args:
        clock: the time source and timer (the running event loop by default; tests pass a manual
            clock).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock
        self._queue: AdmissionQueue | None = None
        self._pools: dict[tuple[str, ...], WindowPool] = {}
        #: each pool's key in ``_pools``
        self._keys: dict[WindowPool, tuple[str, ...]] = {}
        #: pools no open client uses any more, kept while what they hold still counts
        self._orphans: set[WindowPool] = set()
        self._ledgers: dict[str, SharedLedger] = {}

    def __repr__(self) -> str:
        return f"<Limiter {len(self._pools)} pools>"

    @classmethod
    def default(cls) -> Limiter:
        """The running event loop's default limiter (created on first use)."""
        loop = asyncio.get_running_loop()
        limiter = _DEFAULTS.get(loop)
        if limiter is None:
            limiter = _DEFAULTS[loop] = cls()
        return limiter

    @property
    def has_queue(self) -> bool:
        return self._queue is not None

    def now(self) -> float | None:
        """The pools' clock, without creating anything: ``None`` when no call was ever queued
        and no clock was given (then every pool is empty)."""
        clock = self._queue.clock if self._queue is not None else self._clock
        return None if clock is None else clock.time()

    @property
    def queue(self) -> AdmissionQueue:
        """The admission queue: every call of every client of this limiter waits in it."""
        if self._queue is None:
            self._queue = AdmissionQueue(self._clock)
        return self._queue

    def pool(self, key: tuple[str, ...], label: str, budget: Budget, jitter: float) -> WindowPool:
        """The pool named ``key``, adopting ``budget`` (release it with ``drop_pool``)."""
        window = budget.window + jitter
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = WindowPool(label, budget.weight, window, budget.window)
            self._keys[pool] = key
        pool.adopt(budget.weight, window, budget.window)
        self._orphans.discard(pool)
        self._forget_idle()
        return pool

    def drop_pool(self, pool: WindowPool, budget: Budget, jitter: float) -> None:
        """A client that adopted ``budget`` in ``pool`` is gone. A pool no client uses is
        forgotten once nothing it holds counts any more (checked as clients come and go), so a
        process that opens and closes clients for many keys does not keep a pool per key."""
        pool.drop(budget.weight, budget.window + jitter, budget.window)
        if not pool.adopted and pool in self._keys:
            self._orphans.add(pool)
        self._forget_idle()

    def _forget_idle(self) -> None:
        if not self._orphans:
            return
        clock = self._queue.clock if self._queue is not None else self._clock
        if clock is None:
            return
        now = clock.time()
        for pool in list(self._orphans):
            if pool.adopted:
                self._orphans.discard(pool)
            elif pool.idle(now):
                self._orphans.discard(pool)
                del self._pools[self._keys.pop(pool)]

    def ledger(self, url: str) -> SharedLedger:
        """The shared ledger at ``url`` (``file:`` for the host ledger, else Redis): one
        connection and one watch per limiter and URL (release it with ``drop_ledger``)."""
        shared = self._ledgers.get(url)
        if shared is None:
            queue = self.queue
            shared = SharedLedger(open_ledger(url), queue.clock.time, queue.rescan)
            self._ledgers[url] = shared
        shared.join()
        shared.start()
        return shared

    async def drop_ledger(self, shared: SharedLedger) -> None:
        """One user less; the ledger's connections close when its last user goes."""
        if shared.leave():
            self._ledgers.pop(shared.url, None)
            await shared.aclose()


def default_for_client(*, shared: bool) -> Limiter:
    """``Limiter.default()`` for a client given no limiter; ``shared``: its budgets go through a
    shared ledger (host or Redis), which meters the calls of every loop that uses it.

    Warns (once per process) when default limiters of two open loops serve clients and one of
    them shares no ledger: those calls are counted by no one else, so together the loops can
    exceed WEEX's limits. Clients that all share a ledger share their budgets: nothing to say.
    """
    limiter = Limiter.default()
    loop = asyncio.get_running_loop()
    unshared = _CLIENT_LOOPS.get(loop, False) or not shared
    _CLIENT_LOOPS[loop] = unshared
    others = [
        u for other, u in list(_CLIENT_LOOPS.items()) if other is not loop and not other.is_closed()
    ]
    if others and (unshared or any(others)):
        _warn_loops(len(others))
    return limiter
