"""The rate limiter: exact-window pools checked and charged together through one queue per loop.

Why not aiolimiter: its leaky bucket admits up to ~2x its rate in one window (a burst of its
capacity plus a window of drain), so a window-safe setting gives up either the burst or ~half the
sustained rate; its waiters are ordered by amount (a weight-10 cancel starves behind weight-1
traffic); and acquiring two limiters one after the other holds the first pool's weight idle.
An exact window ledger checked and charged in one step for every pool meets all the invariants.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._admission import AdmissionQueue, Clock, Pool, Priority, Ticket
from ._limits import Budget, RateLimits
from ._pools import SlotPool, WindowPool
from ._redis import RedisLedger, RedisUnavailable

if TYPE_CHECKING:
    from .._endpoints import Endpoint

__all__ = [
    "AdmissionQueue",
    "Budget",
    "ClientLimiter",
    "PoolSnapshot",
    "Priority",
    "RateLimits",
    "Ticket",
]

_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AdmissionQueue] = (
    weakref.WeakKeyDictionary()
)

#: Response headers through which newer WEEX APIs report the weight used in the current window.
USED_WEIGHT_HEADER = "x-used-weight-10s"
REMAINING_WEIGHT_HEADER = "x-remaining-weight-10s"


_LEDGERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[RedisLedger, int]]
] = weakref.WeakKeyDictionary()


def shared_ledger(url: str) -> RedisLedger:
    """The running loop's ledger for ``url`` (one connection pool per loop and URL)."""
    ledgers = _LEDGERS.setdefault(asyncio.get_running_loop(), {})
    ledger, users = ledgers.get(url, (None, 0))
    if ledger is None:
        ledger = RedisLedger(url)
    ledgers[url] = (ledger, users + 1)
    return ledger


async def release_ledger(ledger: RedisLedger) -> None:
    ledgers = _LEDGERS.get(asyncio.get_running_loop(), {})
    _, users = ledgers.get(ledger.url, (ledger, 1))
    if users <= 1:
        ledgers.pop(ledger.url, None)
        await ledger.aclose()
    else:
        ledgers[ledger.url] = (ledger, users - 1)


def queue_for_running_loop() -> AdmissionQueue:
    """The admission queue shared by every client on the running event loop."""
    loop = asyncio.get_running_loop()
    queue = _QUEUES.get(loop)
    if queue is None:
        queue = _QUEUES[loop] = AdmissionQueue(loop)
    return queue


@attrs.frozen
class PoolSnapshot:
    """One pool's state, as seen by the client (``WeexClient.rate_limit_status()``).

    Attributes:
        name: ``"ip:<host>"``, ``"uid:<host>:<key prefix>"``, ``"trade:..."`` or ``"in-flight"``.
        budget: the most weight per window (for ``in-flight``: the most requests at once).
        window: the effective window in seconds (with the arrival-jitter allowance), or ``inf``.
        used: weight charged in the last window (for ``in-flight``: requests on the wire).
        waiting: callers queued that charge this pool.
        paused_for: seconds left of a 429 pause, 0 when not paused.
    """

    name: str
    budget: int
    window: float
    used: int
    waiting: int
    paused_for: float


class ClientLimiter:
    """One client's pools in its loop's queue: IP (per host), UID and trade cap (per key), slots.

    Args:
        limits: the budgets.
        host: the exchange host (the IP pool is shared by every client talking to it).
        api_key: the account; ``None`` for a client without credentials (public calls only).
        max_in_flight: the most requests on the wire at once for this client.
        queue: the admission queue; the running loop's shared one by default (tests inject one).
    """

    def __init__(
        self,
        limits: RateLimits,
        host: str,
        api_key: str | None,
        max_in_flight: int,
        queue: AdmissionQueue | None = None,
    ) -> None:
        self._limits = limits
        self._host = host
        self._api_key = api_key
        self._slots = SlotPool("in-flight", max_in_flight)
        self._queue = queue
        self._charges: dict[str, tuple[tuple[Pool, int], ...]] = {}
        self._window_pools: dict[str, tuple[WindowPool, ...]] = {}
        self._trade_pool: WindowPool | None = None
        # With a shared (Redis) ledger: each window pool's name there, and the ledger itself.
        self._shared_keys: dict[WindowPool, tuple[str, ...]] = {}
        self._ledger: RedisLedger | None = None
        self._fallback = False

    @property
    def queue(self) -> AdmissionQueue:
        if self._queue is None:
            self._queue = queue_for_running_loop()
        return self._queue

    @property
    def clock(self) -> Clock:
        return self.queue.clock

    def _window_pool(self, kind: str, budget: Budget, *owner: str) -> WindowPool:
        window = budget.window + self._limits.arrival_jitter
        label = ":".join((kind, self._host, *(o[:6] + "…" for o in owner)))
        pool = self.queue.pool(
            (kind, self._host, *owner), lambda: WindowPool(label, budget.weight, window)
        )
        assert isinstance(pool, WindowPool)
        pool.tighten(budget.weight, window)
        self._shared_keys[pool] = (kind, self._host, *owner)
        return pool

    def charges(self, endpoint: Endpoint[Any]) -> tuple[tuple[Pool, int], ...]:
        """What one call of ``endpoint`` charges, pool by pool (built once per endpoint)."""
        charges = self._charges.get(endpoint.name)
        if charges is None:
            limits = self._limits
            pools: list[tuple[Pool, int]] = [
                (self._window_pool("ip", limits.ip), endpoint.ip_weight)
            ]
            if endpoint.uid_weight:
                if self._api_key is None:
                    raise ValueError(f"{endpoint.name} is a private endpoint: it needs credentials")
                pools.append(
                    (self._window_pool("uid", limits.uid, self._api_key), endpoint.uid_weight)
                )
            if endpoint.trade and limits.trade is not None and self._api_key is not None:
                self._trade_pool = self._window_pool("trade", limits.trade, self._api_key)
                pools.append((self._trade_pool, 1))
            for pool, weight in pools:
                if weight > pool.limit:
                    raise ValueError(
                        f"{endpoint.name} weighs {weight} but pool {pool.name} allows {pool.limit}"
                    )
            pools.append((self._slots, 1))
            charges = self._charges[endpoint.name] = tuple(pools)
            self._window_pools[endpoint.name] = tuple(
                pool for pool, _ in pools if isinstance(pool, WindowPool)
            )
        return charges

    async def acquire(self, endpoint: Endpoint[Any]) -> Ticket:
        """Wait for admission of one call of ``endpoint`` and charge it.

        With a shared ledger (``RateLimits.redis_url``), the local queue orders the calls and holds
        the in-flight slot, then the shared pools are charged in Redis, one call at a time per set
        of pools (FIFO within this process). While Redis is unreachable, the local pools shrink to
        ``redis_fallback_share`` of each budget; they return to the whole budget once Redis answers.
        """
        charges = self.charges(endpoint)
        while True:
            ticket = await self.queue.acquire(charges, endpoint.priority)
            ledger = self._shared_ledger()
            if ledger is None or (self._fallback and not ledger.available):
                return ticket
            shared = [
                (ledger.key(*self._shared_keys[pool]), pool.full_limit, pool.window, weight)
                for pool, weight in charges
                if isinstance(pool, WindowPool)
            ]
            try:
                async with ledger.turn(tuple(key for key, _, _, _ in shared)):
                    await ledger.reserve(shared)
            except RedisUnavailable:
                ticket.refund()  # re-admit under the fallback share
                self._set_fallback(True)
                continue
            except BaseException:
                ticket.refund()
                raise
            if self._fallback:
                self._set_fallback(False)
            return ticket

    def _shared_ledger(self) -> RedisLedger | None:
        if self._ledger is None and self._limits.redis_url is not None:
            self._ledger = shared_ledger(self._limits.redis_url)
        return self._ledger

    def _set_fallback(self, on: bool) -> None:
        self._fallback = on
        share = self._limits.redis_fallback_share
        for pool in self._shared_keys:
            pool.limit = max(1, int(pool.full_limit * share)) if on else pool.full_limit
        if not on:
            self.queue.rescan()

    async def rate_limited(self, endpoint: Endpoint[Any], retry_after: float | None) -> float:
        """A 429 answered ``endpoint``: pause the pools it charged. Returns the pause's length."""
        pause = self._limits.ban if retry_after is None else max(retry_after, 0.0)
        queue = self.queue
        pools = self._window_pools[endpoint.name]
        queue.pause(pools, queue.clock.time() + pause, f"HTTP 429 on {endpoint.name}")
        if self._ledger is not None:  # every process sharing the pools pauses too
            ledger = self._ledger
            await ledger.pause([ledger.key(*self._shared_keys[pool]) for pool in pools], pause)
        return pause

    async def aclose(self) -> None:
        """Let go of the shared ledger (closed when its last client goes)."""
        if self._ledger is not None:
            ledger, self._ledger = self._ledger, None
            await release_ledger(ledger)

    def observe_headers(self, endpoint: Endpoint[Any], headers: Mapping[str, str]) -> None:
        """Raise the IP and UID ledgers to the server's count when it reports more than ours.

        Which pool WEEX's header describes is not documented, so both are raised (never
        under-counts). The trade cap is not touched: it counts requests, not weight.
        """
        value = headers.get(USED_WEIGHT_HEADER)
        if value is None:
            return
        try:
            used = int(float(value))
        except ValueError:
            return
        now = self.queue.clock.time()
        for pool in self._window_pools[endpoint.name]:
            if pool is not self._trade_pool:
                pool.reconcile(used, now)

    def snapshot(self) -> tuple[PoolSnapshot, ...]:
        """The state of this client's pools (those it has charged at least once, and slots)."""
        now = self.queue.clock.time()
        seen: dict[int, Pool] = {}
        for charges in self._charges.values():
            for pool, _ in charges:
                seen.setdefault(id(pool), pool)
        if not seen:
            seen[id(self._slots)] = self._slots
        return tuple(
            PoolSnapshot(
                name=pool.name,
                budget=pool.limit,
                window=pool.window,
                used=pool.used(now),
                waiting=pool.waiting,
                paused_for=max(0.0, pool.paused_until - now),
            )
            for pool in seen.values()
        )
