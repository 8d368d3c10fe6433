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
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from ..errors import ConfigurationError
from ._admission import AdmissionQueue, Charges, Clock, Pool, Priority, Ticket
from ._limits import Budget, RateLimits
from ._pools import SlotPool, WindowPool
from ._shared import SharedLedger, open_ledger

__all__ = [
    "USED_WEIGHT_HEADER",
    "Admission",
    "AdmissionQueue",
    "Budget",
    "ClientLimiter",
    "Limiter",
    "PoolSnapshot",
    "Priority",
    "RateLimits",
    "Ticket",
]


class Endpoint(Protocol):
    """What the limiter needs to know of a call's endpoint (``_endpoints.Endpoint`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def ip_weight(self) -> int: ...
    @property
    def uid_weight(self) -> int: ...
    @property
    def priority(self) -> Priority: ...
    @property
    def trade(self) -> bool: ...


#: Response header through which newer WEEX APIs report the weight used in the current window.
USED_WEIGHT_HEADER = "x-used-weight-10s"

_DEFAULTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limiter] = (
    weakref.WeakKeyDictionary()
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
        shared.users += 1
        shared.start()
        return shared

    async def drop_ledger(self, shared: SharedLedger) -> None:
        """One user less; the ledger's connections close when its last user goes."""
        shared.users -= 1
        if shared.users <= 0:
            self._ledgers.pop(shared.ledger.url, None)
            await shared.aclose()


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
        ready_in: seconds until one more unit of weight fits (0: it fits now; for
            ``in-flight``: 0 while a slot is free, else ``inf``, as a slot frees on an answer).
    """

    name: str
    budget: int
    window: float
    used: int
    waiting: int
    paused_for: float
    ready_in: float = 0.0


class Admission:
    """``async with limiter.admit(endpoint) as ticket``: wait for admission, finish on exit."""

    __slots__ = ("_endpoint", "_limiter", "_ticket")

    def __init__(self, limiter: ClientLimiter, endpoint: Endpoint) -> None:
        self._limiter = limiter
        self._endpoint = endpoint
        self._ticket: Ticket | None = None

    async def __aenter__(self) -> Ticket:
        self._ticket = await self._limiter.acquire(self._endpoint)
        return self._ticket

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ticket is not None:
            self._ticket.finish()


class ClientLimiter:
    """One client's pools in its limiter: IP (per host), UID and trade cap (per key), slots.

    Args:
        limits: the budgets.
        host: the exchange host (the IP pool is shared by every client talking to it).
        api_key: the account; ``None`` for a client without credentials (public calls only).
        max_in_flight: the most requests on the wire at once for this client.
        limiter: whose pools and queue; the running loop's ``Limiter.default()`` when ``None``.
    """

    def __init__(
        self,
        limits: RateLimits,
        host: str,
        api_key: str | None,
        max_in_flight: int,
        limiter: Limiter | None = None,
    ) -> None:
        self._limits = limits
        self._host = host
        self._api_key = api_key
        self._slots = SlotPool("in-flight", max_in_flight)
        self._limiter = limiter
        self._charges: dict[str, tuple[tuple[Pool, int], ...]] = {}
        self._window_pools: dict[str, tuple[WindowPool, ...]] = {}
        self._trade_pool: WindowPool | None = None
        # Each window pool this client adopted a budget in: its key (also its name in a shared
        # ledger) and the budget.
        self._adopted: dict[WindowPool, tuple[tuple[str, ...], Budget]] = {}
        #: each shared pool's key in the Redis ledger
        self._redis_keys: dict[WindowPool, str] = {}
        self._shared: SharedLedger | None = None
        #: whose calls these are: clients of one key are one account, and take turns with the
        #: other accounts; a client without a key is a flow of its own
        self._flow: object = ("key", host, api_key) if api_key is not None else self

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            self._limiter = Limiter.default()
        return self._limiter

    @property
    def queue(self) -> AdmissionQueue:
        return self.limiter.queue

    @property
    def clock(self) -> Clock:
        return self.queue.clock

    def _window_pool(self, kind: str, budget: Budget, *owner: str) -> WindowPool:
        key = (kind, self._host, *owner)
        for pool, (adopted_key, _) in self._adopted.items():
            if adopted_key == key:
                return pool
        label = ":".join((kind, self._host, *(o[:6] + "…" for o in owner)))
        pool = self.limiter.pool(key, label, budget, self._limits.arrival_jitter)
        self._adopted[pool] = (key, budget)
        self._register_shared(pool)
        return pool

    def charges(self, endpoint: Endpoint) -> tuple[tuple[Pool, int], ...]:
        """What one call of ``endpoint`` charges, pool by pool (built once per endpoint)."""
        charges = self._charges.get(endpoint.name)
        if charges is None:
            limits = self._limits
            pools: list[tuple[Pool, int]] = [
                (self._window_pool("ip", limits.ip), endpoint.ip_weight)
            ]
            if endpoint.uid_weight:
                if self._api_key is None:
                    raise ConfigurationError(
                        f"{endpoint.name} is a private call: it needs credentials"
                    )
                pools.append(
                    (self._window_pool("uid", limits.uid, self._api_key), endpoint.uid_weight)
                )
            if endpoint.trade and limits.trade is not None and self._api_key is not None:
                self._trade_pool = self._window_pool("trade", limits.trade, self._api_key)
                pools.append((self._trade_pool, 1))
            for pool, weight in pools:
                if weight > pool.limit:
                    raise ConfigurationError(
                        f"{endpoint.name} weighs {weight} but pool {pool.name} allows {pool.limit}"
                    )
            pools.append((self._slots, 1))
            charges = self._charges[endpoint.name] = tuple(pools)
            self._window_pools[endpoint.name] = tuple(
                pool for pool, _ in pools if isinstance(pool, WindowPool)
            )
        return charges

    def admit(self, endpoint: Endpoint) -> Admission:
        """``async with limiter.admit(endpoint) as ticket:``: admitted (charged) on entry; on exit,
        the slot of a sent request is released and an unsent one is refunded."""
        return Admission(self, endpoint)

    async def acquire(self, endpoint: Endpoint) -> Ticket:
        """Wait for admission of one call of ``endpoint`` and charge it (prefer ``admit``).

        With a shared ledger (``RateLimits.ledger``), the local queue orders the calls and holds
        the in-flight slot, then the shared pools are charged in Redis, one call at a time per set
        of pools (FIFO within this process). While Redis is unreachable, the local pools shrink to
        ``redis_fallback_share`` of each budget (``RateLimits.redis_outage`` may hold some calls,
        or all, until Redis answers); what is spent meanwhile is published once it does.
        Whatever goes wrong after admission (an exception, a cancelled caller), the admission is
        given back: nothing leaks.
        """
        charges = self.charges(endpoint)
        shared = self._shared_ledger()
        while True:
            if shared is not None and shared.outage and not self._may_spend_share(endpoint):
                await shared.wait_back(endpoint.priority)
            mark = shared.outage_mark() if shared is not None else None
            ticket = await self.queue.acquire(charges, endpoint.priority, self._flow)
            try:
                if shared is None:
                    return ticket
                if shared.outage and not shared.ledger.available:
                    if not self._may_spend_share(endpoint):
                        ticket.finish()  # the policy changed meanwhile: wait for Redis
                        continue
                    if not shared.spend_share(ticket.charges, mark):
                        ticket.finish()  # admitted under the full budget: again, under the share
                        continue
                    return ticket
                receipt = await shared.charge(self._shared_charges(charges))
                if receipt is not None:
                    ticket.settle = shared.settler(receipt, self._limits.arrival_jitter)
                    return ticket
                ticket.finish()  # Redis is unreachable: re-admit under the fallback share
            except BaseException:
                ticket.finish()
                raise

    def _may_spend_share(self, endpoint: Endpoint) -> bool:
        """During an outage: may this call spend the local fallback share?"""
        policy = self._limits.redis_outage
        return policy == "share" or (policy == "cancels" and endpoint.priority <= Priority.CANCEL)

    def _shared_charges(self, charges: Charges) -> list[tuple[str, int, float, int]]:
        return [
            (self._redis_keys[pool], pool.full_limit, pool.window, weight)
            for pool, weight in charges
            if isinstance(pool, WindowPool)
        ]

    def _shared_ledger(self) -> SharedLedger | None:
        if self._shared is None and self._limits.shared_ledger is not None:
            self._shared = self.limiter.ledger(self._limits.shared_ledger)
            for pool in self._adopted:
                self._register_shared(pool)
        return self._shared

    def _register_shared(self, pool: WindowPool) -> None:
        shared = self._shared
        if shared is None:
            return
        key_parts, _ = self._adopted[pool]
        if key_parts[0] == "ip":  # only processes behind one egress IP share an IP pool
            key_parts = ("ip", self._limits.ip_group, *key_parts[1:])
        key = self._redis_keys[pool] = shared.ledger.key(*key_parts)
        shared.register(pool, key, self._limits.redis_fallback_share)

    def unexplained(self, endpoint: Endpoint) -> str | None:
        """Why a 429 answering ``endpoint`` is not explained by this client's ledger, or ``None``
        when it is (a pool the call charges is at its budget, or already paused).

        The ledger never lets a pool over its budget, but a pool at it is one miscount away from
        a 429 (another tool on the IP, a clock skew). A 429 while every pool had room means the
        exchange counts something the SDK does not: the text names what could explain it."""
        now = self.queue.clock.time()
        pools = self._window_pools.get(endpoint.name, ())
        for pool in pools:
            if pool.used(now) >= pool.limit or pool.paused_until > now:
                return None
        usage = ", ".join(f"{pool.name} {pool.used(now)}/{pool.limit}" for pool in pools)
        if self._shared is not None:  # the local pools see this process's charges only
            usage += ", as this process counts"
        if endpoint.trade and self._limits.trade is None:
            suspect = (
                "WEEX's cap on trade calls per second (10 on its V2 limits page; whether batch "
                "cancels count is undocumented), which RateLimits(trade=None) turned off; "
                "WEEX's 300 orders a minute per account (its futures FAQ)"
            )
        elif endpoint.trade:
            suspect = (
                "a cap on trade calls stricter than RateLimits.trade; WEEX's 300 orders a "
                "minute per account (its futures FAQ)"
            )
        else:
            suspect = f"a limit of {endpoint.name} of its own"
        return (
            f"every pool it charges had room ({usage}); undocumented limits that could explain "
            f"it: {suspect}; a budget smaller than RateLimits says; or another process or tool "
            "spending this IP's or account's budget"
        )

    async def rate_limited(self, endpoint: Endpoint, retry_after: float | None) -> float:
        """A 429 answered ``endpoint``: pause the pools it charged. Returns the pause's length."""
        pause = self._limits.pause_for(retry_after)
        queue = self.queue
        pools = self._window_pools[endpoint.name]
        queue.pause(pools, queue.clock.time() + pause, f"HTTP 429 on {endpoint.name}")
        if self._shared is not None and pause > 0:  # every process sharing the pools pauses too
            await self._shared.ledger.pause([self._redis_keys[pool] for pool in pools], pause)
        return pause

    async def aclose(self, error: Callable[[], BaseException]) -> None:
        """Fail this client's waiting callers with ``error()``, and let go of the pools' budgets
        and of the shared ledger (closed when its last user goes)."""
        if self._limiter is None:
            return
        if self._limiter.has_queue:
            self.queue.abort(self._slots, error)
        for pool, (_, budget) in self._adopted.items():
            self._limiter.drop_pool(pool, budget, self._limits.arrival_jitter)
        self._adopted.clear()
        self._charges.clear()
        if self._shared is not None:
            shared, self._shared = self._shared, None
            await self._limiter.drop_ledger(shared)

    def observe_headers(self, endpoint: Endpoint, headers: Mapping[str, str]) -> None:
        """Raise the IP and UID ledgers to the server's count when it reports more than ours.

        Which pool WEEX's header describes is not documented, so both are raised (never
        under-counts). The trade cap is not touched: it counts requests, not weight. A value that
        is not a number of weight a server could report (``inf``, ``nan``, negative, or over ten
        budgets) is ignored: a hostile header never stops the client or raises.
        """
        value = headers.get(USED_WEIGHT_HEADER)
        if value is None:
            return
        try:
            reported = float(value)
        except ValueError:
            return
        now = self.queue.clock.time()
        for pool in self._window_pools[endpoint.name]:
            if pool is not self._trade_pool and 0 <= reported <= 10 * pool.full_limit:
                pool.reconcile(int(reported), now)

    def snapshot(self) -> tuple[PoolSnapshot, ...]:
        """The state of this client's pools (those it has charged at least once, and slots).

        Safe from any thread (an OpenTelemetry exporter calls it from its own): it only reads,
        each pool from one copy of its ledger, creates nothing (no limiter, no queue) and needs
        no running event loop."""
        seen: dict[int, WindowPool | SlotPool] = {}
        for charges in list(self._charges.values()):  # list(): one step, while the loop adds
            for pool, _ in charges:
                if isinstance(pool, (WindowPool, SlotPool)):
                    seen.setdefault(id(pool), pool)
        if not seen:
            seen[id(self._slots)] = self._slots
        limiter = self._limiter
        now = limiter.now() if limiter is not None else None
        if now is None:
            now = 0.0  # nothing was ever queued: every pool is empty and unpaused
        snapshots = []
        for pool in seen.values():
            used, ready_in = pool.peek(now)
            paused_until = pool.paused_until
            snapshots.append(
                PoolSnapshot(
                    name=pool.name,
                    budget=pool.limit,
                    window=pool.window,
                    used=used,
                    waiting=pool.waiting,
                    paused_for=max(0.0, paused_until - now),
                    ready_in=ready_in,
                )
            )
        return tuple(snapshots)
