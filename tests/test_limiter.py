"""The limiter's invariants (docs/rate-limits.md), on an injected clock: no sleeps, no timing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weex_async import Budget, RateLimits
from weex_async._endpoints import Endpoint
from weex_async._limiter import AdmissionQueue, ClientLimiter, Limiter, Priority, Ticket
from weex_async._limiter._admission import Pool
from weex_async._limiter._pools import SlotPool, WindowPool
from weex_async._v2 import CANCEL_BATCH_ORDERS, CANCEL_ORDER, OPEN_ORDERS, SERVER_TIME
from weex_async.testing import worst_window

from .manual_clock import ManualClock, settle


def answered(ticket: Ticket) -> None:
    """The request went out and its answer came at once: its slot is free, its weight stays."""
    ticket.mark_sent()
    ticket.mark_answered()
    ticket.finish()


# -- the window pool on its own -----------------------------------------------------------------


def test_burst_from_idle_is_the_whole_budget() -> None:
    pool = WindowPool("uid", 500, 10.0)
    for _ in range(50):
        assert pool.can_take(10, 0.0)
        pool.take(10, 0.0)
    assert not pool.can_take(10, 0.0)
    assert pool.ready_at(10, 0.0) == 10.0
    assert not pool.can_take(10, 9.999)
    assert pool.can_take(10, 10.0)


def test_ready_at_counts_from_the_oldest_spend_that_frees_enough() -> None:
    pool = WindowPool("p", 30, 10.0)
    pool.take(10, 1.0)
    pool.take(10, 2.0)
    pool.take(10, 3.0)
    assert pool.ready_at(10, 4.0) == 11.0
    assert pool.ready_at(20, 4.0) == 12.0


def test_pause_extends_never_shortens() -> None:
    pool = WindowPool("p", 10, 1.0)
    assert pool.pause(20.0)
    assert not pool.pause(15.0)
    assert pool.paused_until == 20.0
    assert pool.pause(25.0)
    assert not pool.can_take(1, 24.9)
    assert pool.ready_at(1, 0.0) == 25.0


def test_reconcile_raises_the_ledger_never_lowers_it() -> None:
    pool = WindowPool("p", 500, 10.0)
    pool.take(10, 0.0)
    pool.reconcile(400, 1.0)  # another tool on our IP spent 390
    assert pool.used(1.0) == 400
    pool.reconcile(100, 2.0)
    assert pool.used(2.0) == 400
    assert not pool.can_take(101, 2.0)


def test_restamped_entry_holds_back_the_ones_behind_it() -> None:
    pool = WindowPool("p", 20, 10.0)
    first = pool.take(10, 0.0)
    pool.take(10, 1.0)
    first[0] = 5.0  # re-stamped at send: now later than the entry behind it
    assert pool.ready_at(20, 2.0) == 15.0  # both must go; the later expiry decides
    assert pool.ready_at(10, 2.0) == 15.0  # the head goes first, at its new time
    assert not pool.can_take(10, 14.9)
    assert pool.can_take(20, 15.0)


def test_refund_gives_back_an_unsent_charge() -> None:
    pool = WindowPool("p", 10, 1.0)
    entry = pool.take(10, 0.0)
    pool.refund(entry)
    assert pool.can_take(10, 0.0)


# -- the queue ---------------------------------------------------------------------------------


async def acquire_in_task(
    queue: AdmissionQueue,
    charges: Sequence[tuple[Pool, int]],
    priority: int = 1,
    log: list[tuple[str, float]] | None = None,
    name: str = "",
) -> asyncio.Future[Ticket]:
    async def run() -> Ticket:
        ticket = await queue.acquire(charges, priority)
        if log is not None:
            log.append((name, queue.clock.time()))
        return ticket

    task = asyncio.ensure_future(run())
    await settle()
    return task


async def test_all_or_nothing_and_other_accounts_pass() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    ip, uid_a, uid_b = WindowPool("ip", 100, 10), WindowPool("a", 10, 10), WindowPool("b", 10, 10)
    await queue.acquire([(ip, 5), (uid_a, 10)], 1)
    waiting = await acquire_in_task(queue, [(ip, 5), (uid_a, 10)])
    assert not waiting.done()
    assert ip.used(clock.now) == 5  # the waiter holds nothing in the IP pool
    other = await acquire_in_task(queue, [(ip, 5), (uid_b, 10)])
    assert other.done()  # account B does not queue behind account A's empty budget
    await clock.advance(9.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert waiting.done()
    assert ip.used(clock.now) == 5
    assert uid_a.used(clock.now) == 10


async def test_fifo_within_priority_and_cancels_first() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("uid", 10, 1.0)
    await queue.acquire([(pool, 10)], Priority.QUERY)
    order: list[tuple[str, float]] = []
    tasks = [
        await acquire_in_task(queue, [(pool, 10)], Priority.QUERY, order, "query-1"),
        await acquire_in_task(queue, [(pool, 10)], Priority.PLACE, order, "place-1"),
        await acquire_in_task(queue, [(pool, 10)], Priority.CANCEL, order, "cancel-1"),
        await acquire_in_task(queue, [(pool, 10)], Priority.QUERY, order, "query-2"),
        await acquire_in_task(queue, [(pool, 10)], Priority.CANCEL, order, "cancel-2"),
    ]
    await clock.advance(10)
    assert all(t.done() for t in tasks)
    assert [name for name, _ in order] == ["cancel-1", "cancel-2", "place-1", "query-1", "query-2"]
    assert [at for _, at in order] == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0]


async def test_heavy_call_is_not_starved_by_light_ones() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("ip", 50, 10.0)
    await queue.acquire([(pool, 45)], 1)
    order: list[tuple[str, float]] = []
    heavy = await acquire_in_task(queue, [(pool, 50)], 1, order, "heavy")
    lights = [await acquire_in_task(queue, [(pool, 1)], 1, order, f"light{i}") for i in range(5)]
    assert not any(t.done() for t in lights)  # 5 units are free, but the heavy one is first
    await clock.advance(30)
    assert heavy.done()
    assert all(t.done() for t in lights)
    assert order[0][0] == "heavy"


async def test_cancelled_waiter_charges_nothing_and_unblocks_the_queue() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("ip", 50, 10.0)
    await queue.acquire([(pool, 45)], 1)
    heavy = await acquire_in_task(queue, [(pool, 50)], 1)
    light = await acquire_in_task(queue, [(pool, 5)], 1)
    assert not light.done()
    heavy.cancel()
    await settle()
    assert light.done()  # the cancelled heavy waiter no longer blocks the pool
    assert pool.used(clock.now) == 50
    assert len(queue) == 0


async def test_cancelled_right_after_admission_is_refunded() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("ip", 10, 1.0)
    slots = SlotPool("in-flight", 1)
    first = await queue.acquire([(pool, 10), (slots, 1)], 1)
    waiter = await acquire_in_task(queue, [(pool, 10), (slots, 1)])
    answered(first)
    clock.now += 1.0
    queue.rescan()  # admits the waiter (sets its result) ...
    waiter.cancel()  # ... but its caller is cancelled before it runs
    await settle()
    assert waiter.cancelled()
    assert pool.used(clock.now) == 0
    assert slots.in_use == 0


async def test_in_flight_slots_bound_concurrency_and_free_on_release() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    slots = SlotPool("in-flight", 2)
    tickets = [await queue.acquire([(slots, 1)], 1) for _ in range(2)]
    third = await acquire_in_task(queue, [(slots, 1)])
    assert not third.done()
    assert slots.in_use == 2
    answered(tickets[0])
    answered(tickets[0])  # idempotent
    await settle()
    assert third.done()
    assert slots.in_use == 2


async def test_waiting_arms_one_timer_not_a_poll() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("uid", 10, 10.0)
    await queue.acquire([(pool, 10)], 1)
    waiters = [await acquire_in_task(queue, [(pool, 10)]) for _ in range(100)]
    assert len(clock.pending) == 1
    assert clock.pending[0].when == pytest.approx(1010.0, abs=1e-5)
    await clock.advance(1010)
    assert all(w.done() for w in waiters)
    assert clock.armed <= 101  # one timer per admission step, never a polling loop


async def test_pause_holds_the_queue_then_resumes() -> None:
    clock = ManualClock()
    queue = AdmissionQueue(clock)
    pool = WindowPool("uid", 100, 10.0)
    queue.pause([pool], clock.now + 10.0, "test")
    queue.pause([pool], clock.now + 3.0, "shorter: ignored")
    waiter = await acquire_in_task(queue, [(pool, 10)])
    await clock.advance(9.9)
    assert not waiter.done()
    await clock.advance(0.2)
    assert waiter.done()


# -- the window invariant under random arrivals (hypothesis) ------------------------------------

arrivals = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0),  # gap before this caller arrives
        st.sampled_from([1, 2, 5, 10, 40]),  # weight
        st.sampled_from(["a", "b"]),  # account
        st.sampled_from([0, 1, 2, 3]),  # priority
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals)
async def test_window_never_exceeded_and_everyone_served(
    plan: list[tuple[float, int, str, int]],
) -> None:
    clock = ManualClock(start=0.0)
    queue = AdmissionQueue(clock)
    ip = WindowPool("ip", 60, 10.0)
    uids = {"a": WindowPool("a", 40, 10.0), "b": WindowPool("b", 40, 10.0)}
    admitted: dict[str, list[tuple[float, int]]] = {"ip": [], "a": [], "b": []}
    tasks = []

    async def call(weight: int, account: str, priority: int) -> None:
        ticket = await queue.acquire([(ip, weight), (uids[account], weight)], priority)
        # The task resumes some time after admission (here: whenever the test's clock moved on);
        # the request is sent, and counted, from then.
        answered(ticket)
        admitted["ip"].append((clock.now, weight))
        admitted[account].append((clock.now, weight))

    for gap, weight, account, priority in plan:
        await clock.advance(gap)
        tasks.append(asyncio.ensure_future(call(weight, account, priority)))
        await settle()
    await clock.advance(10.0 * len(plan) + 20)
    assert all(t.done() for t in tasks)  # nobody starves
    assert worst_window(admitted["ip"], 10.0) <= 60
    assert worst_window(admitted["a"], 10.0) <= 40
    assert worst_window(admitted["b"], 10.0) <= 40


class ExactWindow:
    """The brute-force model: every charge kept; a charge at ``t`` counts during ``[t, t + window)``
    (the same float expression as the pool's, so both agree to the last bit)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.charges: list[tuple[float, int]] = []

    def used(self, now: float) -> int:
        return sum(w for at, w in self.charges if at <= now < at + self.window)

    def fits(self, weight: int, now: float) -> bool:
        return self.used(now) + weight <= self.limit


pool_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=12),  # quarter seconds since the previous step
        st.integers(min_value=1, max_value=40),  # weight
        st.booleans(),  # take it when it fits (or only ask)
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(pool_steps, st.integers(min_value=40, max_value=120), st.sampled_from([1.0, 2.5, 10.0]))
def test_window_pool_agrees_with_the_brute_force_exact_window(
    steps: list[tuple[int, int, bool]], limit: int, window: float
) -> None:
    pool, model = WindowPool("p", limit, window), ExactWindow(limit, window)
    now = 0.0
    for quarters, weight, take in steps:
        now += quarters / 4  # exact in binary: charges expire exactly on window boundaries
        assert pool.can_take(weight, now) == model.fits(weight, now)
        assert pool.used(now) == model.used(now)
        ready = pool.ready_at(weight, now)
        assert ready is not None  # every weight drawn fits the budget
        assert model.fits(weight, ready)  # ready when it says ...
        if ready > now:  # ... and not a moment before
            assert not model.fits(weight, ready - 1e-6)
        if take and model.fits(weight, now):
            pool.take(weight, now)
            model.charges.append((now, weight))
    assert worst_window(model.charges, window) <= limit


async def test_sustained_use_fills_every_window() -> None:
    """Under constant demand, each window admits the whole budget (use the budget)."""
    clock = ManualClock(start=0.0)
    queue = AdmissionQueue(clock)
    pool = WindowPool("uid", 500, 10.0)
    times: list[float] = []

    async def call() -> None:
        await queue.acquire([(pool, 10)], 1)
        times.append(clock.now)

    tasks = [asyncio.ensure_future(call()) for _ in range(200)]
    await clock.advance(100)
    assert all(t.done() for t in tasks)
    assert max(times) == pytest.approx(30.0, abs=1e-3)  # 4 bursts of 50: t = 0, 10, 20, 30
    assert worst_window([(t, 10) for t in times], 10.0) == 500


# -- the client's view: pools shared per host and per key ----------------------------------------


async def test_clients_share_the_ip_pool_and_keep_their_own_uid_pool() -> None:
    clock = ManualClock()
    limiter = Limiter(clock=clock)
    limits = RateLimits(trade=None)
    a = ClientLimiter(limits, "api.test", "key-a", 10, limiter)
    b = ClientLimiter(limits, "api.test", "key-b", 10, limiter)
    a2 = ClientLimiter(limits, "api.test", "key-a", 10, limiter)
    (ip_a, _), (uid_a, _), _ = a.charges(CANCEL_BATCH_ORDERS)
    (ip_b, _), (uid_b, _), _ = b.charges(CANCEL_BATCH_ORDERS)
    (_, _), (uid_a2, _), _ = a2.charges(CANCEL_BATCH_ORDERS)
    assert ip_a is ip_b
    assert uid_a is uid_a2
    assert uid_a is not uid_b
    assert ip_a.window == 10.25  # the arrival-jitter allowance


async def test_endpoint_weights_are_charged() -> None:
    clock = ManualClock()
    limiter = ClientLimiter(RateLimits(), "api.test", "key", 10, Limiter(clock=clock))
    ticket = await limiter.acquire(CANCEL_BATCH_ORDERS)
    answered(ticket)
    await limiter.acquire(SERVER_TIME)
    used = {s.name.split(":")[0]: s.used for s in limiter.snapshot()}
    assert used == {"ip": 6, "uid": 10, "trade": 1, "in-flight": 1}


async def test_429_pauses_the_pools_the_call_charged() -> None:
    clock = ManualClock()
    limiter = ClientLimiter(RateLimits(), "api.test", "key", 10, Limiter(clock=clock))
    limiter.charges(CANCEL_BATCH_ORDERS)
    assert await limiter.rate_limited(CANCEL_BATCH_ORDERS, None) == 10.0
    assert await limiter.rate_limited(CANCEL_BATCH_ORDERS, 3.0) == 3.0
    paused = {s.name.split(":")[0]: s.paused_for for s in limiter.snapshot()}
    assert paused["ip"] == paused["uid"] == 10.0  # the shorter Retry-After did not shorten it
    assert paused["in-flight"] == 0.0


async def test_usage_header_raises_ip_and_uid_not_trade() -> None:
    clock = ManualClock()
    limiter = ClientLimiter(RateLimits(), "api.test", "key", 10, Limiter(clock=clock))
    answered(await limiter.acquire(CANCEL_BATCH_ORDERS))
    limiter.observe_headers(CANCEL_BATCH_ORDERS, {"x-used-weight-10s": "300"})
    used = {s.name.split(":")[0]: s.used for s in limiter.snapshot()}
    assert used["ip"] == 300
    assert used["uid"] == 300
    assert used["trade"] == 1


def test_a_weight_larger_than_its_pool_is_refused() -> None:
    limiter = ClientLimiter(
        RateLimits(uid=Budget(5, 10.0)),
        "api.test",
        "key",
        10,
        Limiter(clock=ManualClock()),
    )
    with pytest.raises(ValueError, match="allows 5"):
        limiter.charges(CANCEL_BATCH_ORDERS)


def test_snapshot_window_is_infinite_for_slots() -> None:
    limiter = ClientLimiter(RateLimits(), "h", "k", 3, Limiter(clock=ManualClock()))
    (snap,) = limiter.snapshot()
    assert snap.name == "in-flight"
    assert snap.budget == 3
    assert math.isinf(snap.window)


async def test_snapshot_says_when_weight_fits_again() -> None:
    clock = ManualClock(start=0.0)
    limits = RateLimits(uid=Budget(20, 10.0), trade=None, arrival_jitter=0.0)
    limiter = ClientLimiter(limits, "api.test", "key", 10, Limiter(clock=clock))
    ready = {s.name.split(":")[0]: s.ready_in for s in limiter.snapshot()}
    assert ready == {"in-flight": 0.0}
    answered(await limiter.acquire(CANCEL_BATCH_ORDERS))
    await clock.advance(3.0)
    answered(await limiter.acquire(CANCEL_BATCH_ORDERS))  # the UID pool is full: 20 of 20
    ready = {s.name.split(":")[0]: s.ready_in for s in limiter.snapshot()}
    assert ready["uid"] == 7.0  # the first charge leaves the window at 10 s
    assert ready["ip"] == 0.0
    await limiter.rate_limited(CANCEL_BATCH_ORDERS, 12.0)
    assert {s.name.split(":")[0]: s.ready_in for s in limiter.snapshot()}["ip"] == 12.0


async def test_a_waiting_cancel_is_not_robbed_by_queries() -> None:
    """10 batch cancels fill the trade cap; an 11th waits for it; then 230 queries come. The
    queries may not drain the account's window meanwhile: the cancel goes as soon as the trade cap
    frees (it used to wait for the account's window, 10 s), and the queries follow."""
    clock = ManualClock(start=0.0)
    limiter = ClientLimiter(RateLimits(), "api.test", "key", 1000, Limiter(clock=clock))
    for _ in range(10):
        answered(await limiter.acquire(CANCEL_BATCH_ORDERS))
    admitted: dict[str, list[float]] = {"cancel": [], "query": []}

    async def call(endpoint: Endpoint[Any], kind: str) -> None:
        ticket = await limiter.acquire(endpoint)
        admitted[kind].append(clock.now)
        answered(ticket)

    cancel = asyncio.ensure_future(call(CANCEL_BATCH_ORDERS, "cancel"))
    await settle()
    queries = [asyncio.ensure_future(call(OPEN_ORDERS, "query")) for _ in range(230)]
    await settle()
    assert admitted == {"cancel": [], "query": []}, "the queries wait behind the waiting cancel"
    await clock.advance(1.5)
    assert admitted["cancel"] == [1.0]  # one trade window after the first ten were answered
    assert len(admitted["query"]) == 195  # the rest of the account's window: (500 - 110) / 2
    await clock.advance(20.0)
    assert cancel.done()
    assert all(q.done() for q in queries)


async def test_lower_priorities_pass_when_they_share_no_pool() -> None:
    """A cancel waiting on one account's pools does not hold back another account's queries."""
    clock = ManualClock(start=0.0)
    shared = Limiter(clock=clock)
    one = ClientLimiter(RateLimits(), "api.test", "key-1", 1000, shared)
    other = ClientLimiter(RateLimits(ip=Budget(100_000, 10.0)), "api.other", "key-2", 1000, shared)
    for _ in range(10):
        answered(await one.acquire(CANCEL_BATCH_ORDERS))
    waiting = asyncio.ensure_future(one.acquire(CANCEL_BATCH_ORDERS))
    await settle()
    ticket = await other.acquire(OPEN_ORDERS)  # other host, other account: no pool in common
    answered(ticket)
    assert not waiting.done()
    await clock.advance(2.0)
    answered(waiting.result())


# -- exact at arrival, whatever the latency --------------------------------------------------------

flights = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=8),  # quarter seconds since the previous call
        st.integers(min_value=1, max_value=30),  # weight
        st.integers(min_value=0, max_value=16),  # quarter seconds on the wire: up to 4 s
        st.floats(min_value=0.0, max_value=1.0),  # where on the wire it reaches the exchange
        st.booleans(),  # answered, or given up after its time on the wire
    ),
    min_size=1,
    max_size=40,
)


async def sleep_until(clock: ManualClock, when: float) -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    clock.call_at(when, wake)
    await future


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flights, st.sampled_from([0.0, 0.25]))
async def test_exact_at_arrival_whatever_the_latency(
    plan: list[tuple[int, int, int, float, bool]], allowance: float
) -> None:
    """The exchange counts a request when it *arrives*, anywhere between its sending and its
    answer (or, unanswered, up to the allowance after it was given up). Against that brute-force
    exact window, with latencies far beyond any allowance, the pool never admits more than the
    budget in any window, and everyone is served."""
    clock = ManualClock(start=0.0)
    queue = AdmissionQueue(clock)
    limit, window = 60, 10.0
    pool = WindowPool("uid", limit, window + allowance, window)
    arrivals: list[tuple[float, int]] = []
    tasks = []

    async def call(weight: int, quarters: int, where: float, answered_: bool) -> None:
        ticket = await queue.acquire([(pool, weight)], 1)
        sent = clock.now
        ticket.mark_sent()
        await sleep_until(clock, sent + quarters / 4)
        if answered_:
            arrivals.append((sent + where * (clock.now - sent), weight))
            ticket.mark_answered()
        else:  # given up now; it may still arrive up to the allowance later
            arrivals.append((sent + where * (clock.now - sent + allowance), weight))
        ticket.finish()

    for gap, weight, quarters, where, answered_ in plan:
        await clock.advance(gap / 4)
        tasks.append(asyncio.ensure_future(call(weight, quarters, where, answered_)))
        await settle()
    await clock.advance(window * len(plan) + 60)
    assert all(t.done() for t in tasks)  # nobody starves
    for task in tasks:
        task.result()
    assert worst_window(arrivals, window) <= limit


# -- turns between accounts ----------------------------------------------------------------------


async def fire_in_blocks(
    clients: list[ClientLimiter], calls: int, clock: ManualClock, latency: float
) -> dict[int, list[float]]:
    """``calls`` batch cancels per account, account 0's all first, then account 1's, ...; each
    answered ``latency`` after it was sent. Returns each account's admission times."""
    admitted: dict[int, list[float]] = {n: [] for n in range(len(clients))}

    async def call(n: int) -> None:
        ticket = await clients[n].acquire(CANCEL_BATCH_ORDERS)
        admitted[n].append(clock.now)
        ticket.mark_sent()
        await sleep_until(clock, clock.now + latency)
        ticket.mark_answered()
        ticket.finish()

    tasks = [asyncio.ensure_future(call(n)) for n in range(len(clients)) for _ in range(calls)]
    await settle()
    while not all(t.done() for t in tasks):
        when = clock.next_timer()
        assert when is not None
        await clock.advance_to(when)
    return admitted


async def test_accounts_sharing_the_ip_take_turns() -> None:
    """Three accounts, 200 batch cancels each, fired account after account, 10 in flight each,
    answered in 5 ms. The IP (100 cancels a window) is the bottleneck: served in turns, each
    account gets a third of it every window (first come, first served, account 0 took 40 of each
    window and the others 30), and all three finish at the theoretical pace: six windows."""
    clock = ManualClock(start=0.0)
    shared = Limiter(clock=clock)
    limits = RateLimits(trade=None, arrival_jitter=0.0)
    clients = [ClientLimiter(limits, "api.test", f"key-{n}", 10, shared) for n in range(3)]
    admitted = await fire_in_blocks(clients, 200, clock, latency=0.005)
    assert max(max(times) for times in admitted.values()) < 50.1
    for window in (10, 20, 30, 40):
        shares = [sum(1 for t in times if window <= t < window + 10) for times in admitted.values()]
        assert max(shares) - min(shares) <= 1, (window, shares)


async def test_a_backlog_does_not_delay_another_accounts_cancel() -> None:
    """Account A has 1,000 cancels queued for the shared IP pool; account B's one cancel goes at
    the next freeing of the pool, not after A's backlog."""
    clock = ManualClock(start=0.0)
    shared = Limiter(clock=clock)
    limits = RateLimits(uid=Budget(100_000, 10.0), trade=None, arrival_jitter=0.0)
    a = ClientLimiter(limits, "api.test", "key-a", 100_000, shared)
    b = ClientLimiter(limits, "api.test", "key-b", 100_000, shared)
    backlog = [asyncio.ensure_future(a.acquire(CANCEL_BATCH_ORDERS)) for _ in range(1000)]
    await settle()
    assert sum(t.done() for t in backlog) == 100  # the IP's whole window
    cancel = asyncio.ensure_future(b.acquire(CANCEL_BATCH_ORDERS))
    await settle()
    assert not cancel.done()
    for task in backlog:
        if task.done():
            answered(task.result())
    await clock.advance_to(10.0)
    assert cancel.done()  # at the first freeing, ahead of the 900 A still has queued
    answered(cancel.result())
    for task in backlog:
        task.cancel()
    await settle()


async def test_each_accounts_calls_keep_their_order_across_endpoints() -> None:
    """Turns are between accounts; within one, calls of different endpoints (different lines of
    the queue) still go in the order they came, while another account's calls alternate."""
    clock = ManualClock(start=0.0)
    shared = Limiter(clock=clock)
    limits = RateLimits(ip=Budget(40, 10.0), trade=None, arrival_jitter=0.0)
    a = ClientLimiter(limits, "api.test", "key-a", 1000, shared)
    b = ClientLimiter(limits, "api.test", "key-b", 1000, shared)
    for _ in range(8):  # the IP's 40 spent
        answered(await a.acquire(CANCEL_BATCH_ORDERS))
    order: list[str] = []

    async def call(client: ClientLimiter, endpoint: Endpoint[Any], name: str) -> None:
        ticket = await client.acquire(endpoint)
        order.append(name)
        answered(ticket)

    plan: list[tuple[ClientLimiter, Endpoint[Any], str]] = [
        (a, CANCEL_BATCH_ORDERS, "a1"),
        (a, CANCEL_ORDER, "a2"),
        (a, CANCEL_BATCH_ORDERS, "a3"),
        (a, CANCEL_ORDER, "a4"),
        (b, CANCEL_ORDER, "b1"),
        (b, CANCEL_BATCH_ORDERS, "b2"),
    ]
    tasks = []
    for client, endpoint, name in plan:
        tasks.append(asyncio.ensure_future(call(client, endpoint, name)))
        await settle()
    await clock.advance(60.0)
    assert all(t.done() for t in tasks)
    assert [n for n in order if n.startswith("a")] == ["a1", "a2", "a3", "a4"]
    assert [n for n in order if n.startswith("b")] == ["b1", "b2"]
    assert order.index("b1") < order.index("a3")  # b took its turn, not after all of a's


# -- pools end when nothing holds them ---------------------------------------------------------


async def test_pools_of_closed_clients_are_forgotten_once_nothing_counts() -> None:
    """400 short-lived clients with distinct keys, one call each: once their charges leave the
    window, the limiter holds the pools of the clients still open, not one per key ever seen
    (it held 402)."""
    clock = ManualClock(start=0.0)
    limiter = Limiter(clock=clock)
    limits = RateLimits(ip=Budget(100_000, 10.0), trade=None, arrival_jitter=0.0)

    def closed() -> BaseException:
        return RuntimeError("closed")

    for n in range(400):
        client = ClientLimiter(limits, "api.test", f"key-{n}", 10, limiter)
        answered(await client.acquire(CANCEL_BATCH_ORDERS))
        await client.aclose(closed)
        clock.now += 0.01  # 4 s in all: every charge is still in its window
    assert repr(limiter) == "<Limiter 401 pools>"  # what they spent still counts: kept
    clock.now += 10.0
    last = ClientLimiter(limits, "api.test", "key-last", 10, limiter)
    answered(await last.acquire(CANCEL_BATCH_ORDERS))
    assert repr(limiter) == "<Limiter 2 pools>"  # the IP pool and the open client's account
    await last.aclose(closed)


async def test_a_pool_that_still_holds_something_is_kept() -> None:
    """A request still on the wire, or a 429 pause, counts: the next client of the key sees it."""
    clock = ManualClock(start=0.0)
    limiter = Limiter(clock=clock)
    limits = RateLimits(trade=None, arrival_jitter=0.0)

    def closed() -> BaseException:
        return RuntimeError("closed")

    on_the_wire = ClientLimiter(limits, "api.test", "key-wire", 10, limiter)
    ticket = await on_the_wire.acquire(CANCEL_BATCH_ORDERS)
    ticket.mark_sent()
    paused = ClientLimiter(limits, "api.paused", "key-paused", 10, limiter)
    answered(await paused.acquire(CANCEL_BATCH_ORDERS))
    await paused.rate_limited(CANCEL_BATCH_ORDERS, 60.0)
    await on_the_wire.aclose(closed)
    await paused.aclose(closed)
    clock.now += 30.0
    again = ClientLimiter(limits, "api.test", "key-wire", 10, limiter)
    assert {s.name.split(":")[0]: s.used for s in again.snapshot()} == {"in-flight": 0}
    answered(await again.acquire(OPEN_ORDERS))
    uid = {s.name.split(":")[0]: s.used for s in again.snapshot()}["uid"]
    assert uid == 10 + OPEN_ORDERS.uid_weight  # the request still on the wire counts
    paused_again = ClientLimiter(limits, "api.paused", "key-paused", 10, limiter)
    charges = paused_again.charges(CANCEL_BATCH_ORDERS)
    assert all(pool.paused_until == 60.0 for pool, _ in charges[:2])  # the ban still holds
    ticket.mark_answered()
    ticket.finish()
