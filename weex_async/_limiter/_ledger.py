"""What every shared ledger (the host file, Redis) has in common: its contract and its outages.

A shared ledger keeps the pools of several processes. Each one keeps the same promises:

- **One atomic step.** Every pool a call charges is checked and charged together, or none is.
- **An exact window**, on one clock (the host's monotonic clock, or the Redis server's).
- **Held while on the wire.** A charge is stamped ``HOLD_LEASE`` seconds ahead of the ledger's
  clock when it is made, and its process renews that lease every ``WATCH_INTERVAL`` while the
  request is on the wire: however late the answer comes, nobody else spends the weight. Once the
  request is answered, the charge is *settled*: re-stamped so that it counts until one exchange
  window after the answer (one window plus the arrival allowance after a give-up). A process that
  dies stops renewing: its charges count until at most one lease, one window and the allowance
  after its death, then expire on their own.
- **No polling.** A call that does not fit is told how long until it could (a charge on the wire
  counts as if answered now: one window from now at the earliest); its caller sleeps exactly that
  long before asking again.
- **Never failing open.** A ledger that cannot be reached raises ``LedgerUnavailable``; the
  caller falls back to a local share of the budget (``_shared``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

__all__ = [
    "HOLD_LEASE",
    "WATCH_INTERVAL",
    "Ledger",
    "LedgerReset",
    "LedgerUnavailable",
]

log = logging.getLogger("weex_async.limiter")

#: Seconds between two checks by a process holding charges (its charges on the wire are renewed,
#: and a Redis ledger's epoch is checked).
WATCH_INTERVAL = 0.5
#: Seconds ahead of the ledger's clock a charge on the wire is stamped (renewed every
#: ``WATCH_INTERVAL``): a dead process's charges outlive it by at most this much.
HOLD_LEASE = 2.0
#: The shortest sleep between two asks (the ledger's clock moves on meanwhile).
MIN_WAIT = 0.001

#: One pool of a call: ``(key, limit, window seconds, weight)``.
PoolCharge = tuple[str, int, float, int]
#: One charge made: ``(key, window seconds, member)`` (the member carries its weight).
Receipt = tuple[str, float, str]


class LedgerUnavailable(Exception):
    """The shared ledger could not be reached or failed to answer."""


class LedgerReset(Exception):
    """The ledger's epoch is not the one this process knows (Redis restarted, or this process is
    new): re-publish this process's charges of the last window before charging anything new.

    Attributes:
        epoch: the ledger's epoch now.
    """

    def __init__(self, epoch: str) -> None:
        super().__init__(f"the shared ledger's epoch is {epoch}")
        self.epoch = epoch


class Ledger:
    """The seam every shared ledger implements (``HostLedger``, ``RedisLedger``).

    Subclasses implement ``current_epoch``, ``try_reserve``, ``restamp``, ``republish``,
    ``pause`` and ``aclose``; this class gives them the outage bookkeeping, the per-pool-set turn
    and the waiting loop.

    Args:
        url: where the ledger lives (shown masked).
        shown_url: ``url`` safe to show.
        retry_interval: seconds between attempts to reach the ledger again during an outage.
        lease: seconds ahead of the ledger's clock a charge on the wire is stamped.
    """

    #: what the ledger is called in logs ("Redis", "the host ledger")
    kind = "the shared ledger"

    def __init__(
        self, url: str, shown_url: str, retry_interval: float = 1.0, lease: float = HOLD_LEASE
    ) -> None:
        self.url = url
        self.shown_url = shown_url
        self.retry_interval = retry_interval
        self.lease = lease
        self._down_since: float | None = None
        self._next_try = 0.0
        self._turns: dict[tuple[str, ...], asyncio.Lock] = {}
        #: the ledger's epoch as this process last saw it (``None``: not yet)
        self.epoch: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shown_url}>"

    def key(self, *parts: str) -> str:
        raise NotImplementedError

    def turn(self, keys: tuple[str, ...]) -> asyncio.Lock:
        """One caller at a time per set of pools asks the ledger (asyncio's lock is FIFO)."""
        lock = self._turns.get(keys)
        if lock is None:
            lock = self._turns[keys] = asyncio.Lock()
        return lock

    @property
    def down(self) -> bool:
        """The ledger failed the last time it was asked."""
        return self._down_since is not None

    @property
    def available(self) -> bool:
        """False during an outage, until the next attempt to reach the ledger is due."""
        return self._down_since is None or time.monotonic() >= self._next_try

    async def current_epoch(self) -> str:
        """The ledger's epoch (the first contact: a ledger that cannot keep its promises is
        refused then).

        Raises:
            LedgerUnavailable: the ledger cannot be reached.
            ConfigurationError: the ledger cannot keep its promises.
        """
        raise NotImplementedError

    async def reserve(self, pools: Sequence[PoolCharge]) -> list[str]:
        """Wait until every pool fits its weight, then charge them all (held: ``lease``).

        Returns:
            The charges' members, one per pool, in order (for ``restamp``).

        Raises:
            LedgerUnavailable: the ledger cannot be reached; nothing was charged there.
            LedgerReset: the epoch is not the one this process knows: re-publish, then ask again.
        """
        while True:
            wait, members = await self.try_reserve(pools)
            if not wait:
                return members
            log.debug("shared budget: waiting %.3fs for the shared pools", wait)
            await asyncio.sleep(wait)

    async def try_reserve(self, pools: Sequence[PoolCharge]) -> tuple[float, list[str]]:
        """Charge every pool now if all fit (returns 0 and the members, one per pool), else
        nothing (returns the seconds until they would fit, at least ``MIN_WAIT``, and none)."""
        raise NotImplementedError

    async def restamp(self, charges: Sequence[Receipt], offset: float) -> int:
        """Re-stamp charges at the ledger's now plus ``offset`` seconds (a charge counts until its
        stamp plus its window); a charge the ledger no longer has is charged again (its request
        counts at the exchange whatever happened to the ledger). Returns how many were there."""
        raise NotImplementedError

    async def hold(self, charges: Sequence[Receipt]) -> None:
        """Renew the lease of charges on the wire: they count until ``lease`` from now, plus
        their window."""
        if charges:
            await self.restamp(charges, self.lease)

    async def settle(self, charges: Sequence[Receipt], before: float) -> int:
        """Re-stamp charges at the ledger's now minus ``before`` seconds: they then count until
        ``now - before + window``.

        Args:
            charges: each pool's charge (the members from ``reserve``).
            before: the allowance, for an answered request (it counts until one exchange window
                from now); 0 for a request given up (one window plus the allowance from now).

        Raises:
            LedgerUnavailable: the ledger cannot be reached; the charges keep their lease.
        """
        return await self.restamp(charges, -before)

    async def republish(
        self, epoch: str, pools: Sequence[tuple[str, float, Sequence[tuple[float, int]]]]
    ) -> None:
        """Add this process's charges to the ledger of ``epoch`` (then adopt it as known)."""
        raise NotImplementedError

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        """Pause the pools for every process (a longer pause extends, a shorter never shortens)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    def _went_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            self._report_down(exc)
        self._next_try = now + self.retry_interval

    def _report_down(self, exc: BaseException) -> None:
        """Say (once per outage) that the ledger failed: one WARNING."""
        log.warning(
            "%s at %s unreachable or failing (%s: %s): using the local fallback share "
            "of the budgets",
            self.kind,
            self.shown_url,
            type(exc).__name__,
            exc,
        )

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.warning(
                "%s at %s is back after %.1fs: budgets are shared again",
                self.kind,
                self.shown_url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None
