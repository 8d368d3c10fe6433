"""``ClientLimiter``: one client's pools in its ``Limiter``, and ``Admission``, the ``async with``
around one call.

What a call charges comes from the rules table (``_rules.RULES``): one window pool per rule and
owner (the host, the API key, the endpoint: the rule's scope), plus the client's in-flight slots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from ..errors import ConfigurationError
from . import _rules
from ._admission import AdmissionQueue, Charges, Clock, Pool, Priority, Ticket
from ._limiter import Limiter, default_for_client
from ._limits import Budget, RateLimits
from ._pool_snapshot import PoolSnapshot
from ._pools import SlotPool, WindowPool
from ._rules import Rule, Weighed
from ._shared import SharedLedger

__all__ = ["USED_WEIGHT_HEADER", "Admission", "Chargeable", "ClientLimiter"]


class Chargeable(Weighed, Protocol):
    """What the limiter needs of a call's endpoint (``_endpoints.Endpoint``, the declaration of
    one REST endpoint, has it): a name, a priority, and what the rules read."""

    @property
    def name(self) -> str: ...
    @property
    def priority(self) -> Priority: ...


#: Response header through which newer WEEX APIs report the weight used in the current window.
USED_WEIGHT_HEADER = "x-used-weight-10s"


class Admission:
    """``async with limiter.admit(endpoint) as ticket``: wait for admission, finish on exit."""

    __slots__ = ("_endpoint", "_limiter", "_ticket")

    def __init__(self, limiter: ClientLimiter, endpoint: Chargeable) -> None:
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
    """One client's pools in its limiter: one per rule and owner (the IP pool per host, the
    UID pool and trade cap per key, ...: ``_rules.RULES``), and its in-flight slots.

    Args:
        limits: the budgets.
        host: the exchange host (the IP pool is shared by every client talking to it).
        api_key: the account; ``None`` for a client without credentials (public calls only).
        max_in_flight: the most requests on the wire at once for this client.
        limiter: whose pools and queue; the running loop's ``Limiter.default()`` when ``None``.
        rules: the exchange's rules (``_rules.RULES`` when ``None``).
    """

    def __init__(
        self,
        limits: RateLimits,
        host: str,
        api_key: str | None,
        max_in_flight: int,
        limiter: Limiter | None = None,
        *,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self._limits = limits
        self._host = host
        self._api_key = api_key
        self._slots = SlotPool("in-flight", max_in_flight)
        self._limiter = limiter
        self._rules = tuple(_rules.RULES if rules is None else rules)
        self._charges: dict[str, tuple[tuple[Pool, int], ...]] = {}
        self._window_pools: dict[str, tuple[WindowPool, ...]] = {}
        # Each window pool this client adopted a budget in: its rule, its key (also its name in a
        # shared ledger) and the budget.
        self._adopted: dict[WindowPool, tuple[Rule, tuple[str, ...], Budget]] = {}
        #: each shared pool's key in the shared ledger
        self._shared_keys: dict[WindowPool, str] = {}
        #: each window pool's rule (kept after ``aclose``, as ``_window_pools`` is)
        self._rule_of: dict[WindowPool, Rule] = {}
        self._shared: SharedLedger | None = None
        #: whose calls these are: clients of one key are one account, and take turns with the
        #: other accounts; a client without a key is a flow of its own
        self._flow: object = ("key", host, api_key) if api_key is not None else self

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            self._limiter = default_for_client(shared=self._limits.shared_ledger is not None)
        return self._limiter

    @property
    def queue(self) -> AdmissionQueue:
        return self.limiter.queue

    @property
    def clock(self) -> Clock:
        return self.queue.clock

    def _window_pool(self, rule: Rule, budget: Budget, endpoint: str) -> WindowPool:
        key = rule.key(self._host, self._api_key, endpoint)
        for pool, (_, adopted_key, _) in self._adopted.items():
            if adopted_key == key:
                return pool
        pool = self.limiter.pool(key, rule.label(key), budget, self._limits.arrival_jitter)
        self._adopted[pool] = (rule, key, budget)
        self._rule_of[pool] = rule
        self._register_shared(pool)
        return pool

    def _rule_charge(self, rule: Rule, endpoint: Chargeable) -> tuple[WindowPool, int] | None:
        """The pool ``rule`` charges for a call of ``endpoint``, and the weight; ``None`` when
        the rule does not charge it (or is off)."""
        weight = rule.charge(endpoint)
        budget = self._limits.budget_for(rule)
        if not weight or budget is None:
            return None
        if rule.scope != "ip" and self._api_key is None:
            if rule.private:
                raise ConfigurationError(f"{endpoint.name} is a private call: it needs credentials")
            return None
        return self._window_pool(rule, budget, endpoint.name), weight

    def charges(self, endpoint: Chargeable) -> tuple[tuple[Pool, int], ...]:
        """What one call of ``endpoint`` charges, pool by pool (built once per endpoint): the
        pool of each rule that charges it (``_rules.RULES``), then an in-flight slot."""
        charges = self._charges.get(endpoint.name)
        if charges is None:
            pools: list[tuple[Pool, int]] = []
            for rule in self._rules:
                charge = self._rule_charge(rule, endpoint)
                if charge is not None:
                    pools.append(charge)
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

    def admit(self, endpoint: Chargeable) -> Admission:
        """``async with limiter.admit(endpoint) as ticket:``: admitted (charged) on entry; on exit,
        the slot of a sent request is released and an unsent one is refunded."""
        return Admission(self, endpoint)

    async def acquire(self, endpoint: Chargeable) -> Ticket:
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
                if shared.outage and not shared.available:
                    if not self._may_spend_share(endpoint):
                        ticket.finish()  # the policy changed meanwhile: wait for Redis
                        continue
                    if not shared.spend_share(ticket.charges, mark):
                        ticket.finish()  # admitted under the full budget: again, under the share
                        continue
                    return ticket
                receipt = await shared.charge(self._shared_charges(charges))
                if receipt is not None:
                    shared.settle_with(ticket, receipt, self._limits.arrival_jitter)
                    return ticket
                ticket.finish()  # Redis is unreachable: re-admit under the fallback share
            except BaseException:
                ticket.finish()
                raise

    def _may_spend_share(self, endpoint: Chargeable) -> bool:
        """During an outage: may this call spend the local fallback share?"""
        policy = self._limits.redis_outage
        return policy == "share" or (policy == "cancels" and endpoint.priority <= Priority.CANCEL)

    def _shared_charges(self, charges: Charges) -> list[tuple[str, int, float, int]]:
        return [
            (self._shared_keys[pool], pool.full_limit, pool.window, weight)
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
        rule, key_parts, _ = self._adopted[pool]
        parts = rule.shared_key(key_parts, self._limits.ip_group)
        key = self._shared_keys[pool] = shared.key(*parts)
        shared.register(pool, key, self._limits.redis_fallback_share)

    def unexplained(self, endpoint: Chargeable) -> str | None:
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

    async def rate_limited(self, endpoint: Chargeable, retry_after: float | None) -> float:
        """A 429 answered ``endpoint``: pause the pools it charged. Returns the pause's length."""
        pause = self._limits.pause_for(retry_after)
        queue = self.queue
        pools = self._window_pools[endpoint.name]
        queue.pause(pools, queue.clock.time() + pause, f"HTTP 429 on {endpoint.name}")
        if self._shared is not None and pause > 0:  # every process sharing the pools pauses too
            await self._shared.pause([self._shared_keys[pool] for pool in pools], pause)
        return pause

    async def aclose(self, error: Callable[[], BaseException]) -> None:
        """Fail this client's waiting callers with ``error()``, and let go of the pools' budgets
        and of the shared ledger (closed when its last user goes)."""
        if self._limiter is None:
            return
        if self._limiter.has_queue:
            self.queue.abort(self._slots, error)
        for pool, (_, _, budget) in self._adopted.items():
            self._limiter.drop_pool(pool, budget, self._limits.arrival_jitter)
        self._adopted.clear()
        self._charges.clear()
        if self._shared is not None:
            shared, self._shared = self._shared, None
            await self._limiter.drop_ledger(shared)

    def observe_headers(self, endpoint: Chargeable, headers: Mapping[str, str]) -> None:
        """Raise the pools of the rules that count weight (IP, UID) to the server's count when it
        reports more than ours.

        Which pool WEEX's header describes is not documented, so each is raised (never
        under-counts). A rule that counts requests (the trade cap) is not touched. A value that
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
            if self._rule_of[pool].unit == "weight" and 0 <= reported <= 10 * pool.full_limit:
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
