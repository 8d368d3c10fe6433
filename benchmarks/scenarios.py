"""The scenarios: each one runs and measures, and returns plain numbers (no printing).

The limiter against an exact-window server, side by side with aiolimiter; admission cost;
throughput against bare httpx; several processes through Redis; time-to-flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
from aiolimiter import AsyncLimiter

from weex_async import (
    Budget,
    CancelReport,
    Credentials,
    FlattenReport,
    Heartbeat,
    RateLimits,
    RetryPolicy,
    WeexAuth,
    WeexClient,
)
from weex_async._cancel import CancelRun
from weex_async._checks import ApiVersion, HttpBackend
from weex_async._client import API
from weex_async._demo import DemoOptions, least_flatten_seconds, theoretical_seconds
from weex_async._limiter import AdmissionQueue
from weex_async._limiter._admission import Pool
from weex_async._limiter._ledger import Ledger
from weex_async._limiter._pools import SlotPool, WindowPool
from weex_async._limiter._redis import RedisLedger
from weex_async._signing import sign
from weex_async._v2 import CANCEL_BATCH_ORDERS
from weex_async.testing import FakeExchange, Fault, RedisServer, free_port, serve

IP_W, UID_W = CANCEL_BATCH_ORDERS.ip_weight, CANCEL_BATCH_ORDERS.uid_weight
#: The first order id the fake exchange opens (its ids count up from there).
FIRST_ID = 596471064624628269


@attrs.define
class Row:
    name: str
    calls: int
    elapsed: float
    theoretical: float
    worst_ip: int
    worst_uid: int
    worst_uid_sent: int  # the 429'd requests included: what the limiter let through
    budget: int
    rate_limited: int
    burst: float  # share of the UID budget that arrived within 1 s of the start
    arrivals: list[tuple[float, int]] = attrs.field(factory=list, repr=False)

    @property
    def pace(self) -> float:
        return self.theoretical / self.elapsed if self.elapsed else math.nan


def theoretical(
    calls_per_account: int, accounts: int, budget: int, window: float, trade_cap: bool = False
) -> float:
    """The least time without ever exceeding a window (and, with ``trade_cap``, WEEX's 10 trade
    calls per second), as the demo counts it: ``weex_async.testing.least_seconds``."""
    options = DemoOptions(
        accounts=accounts, ip_budget=budget, uid_budget=budget, window=window, trade_cap=trade_cap
    )
    return theoretical_seconds(options, calls_per_account)


Wrap = Callable[[int], contextlib.AbstractAsyncContextManager[None]]


def aiolimiter_wrap(ip: AsyncLimiter, uids: list[AsyncLimiter]) -> Wrap:
    """Acquire the IP limiter, then the account's: the usual way of stacking aiolimiter."""

    @contextlib.asynccontextmanager
    async def wrap(account: int) -> AsyncIterator[None]:
        await ip.acquire(IP_W)
        await uids[account].acquire(UID_W)
        yield

    return wrap


async def scenario(
    name: str,
    *,
    accounts: int,
    calls: int,
    budget: int,
    window: float,
    limits: RateLimits,
    wrap: Callable[[], Wrap] | None = None,
    trade_capped: bool = False,
    in_blocks: bool = False,
) -> Row:
    """``calls`` batch cancels per account fired at once against an exchange that meters an exact
    window at arrival (with ``trade_capped``, also 10 trade calls per second per account).

    The accounts' calls are interleaved as they are fired (account 0's first, account 1's first,
    ..., account 0's second, ...), as when several engines fire together; ``in_blocks`` fires all
    of account 0's calls first, then account 1's, and so on.
    """
    exchange = FakeExchange(
        ip_budget=budget, uid_budget=budget, window=window, trade_cap=10 if trade_capped else None
    )
    creds = [Credentials(f"bench-{n}", f"secret-{n}", "pass") for n in range(accounts)]
    ids: list[list[str]] = []
    for c in creds:
        exchange.add_account(c.api_key, c.api_secret, c.passphrase)
        ids.append(exchange.place_resting_orders(c.api_key, calls))
    with serve(exchange) as url:
        clients = [WeexClient(c, base_url=url, rate_limits=limits, sync_time=False) for c in creds]
        stack = wrap() if wrap else None

        async def one(account: int, order_id: str) -> None:
            if stack is None:
                await clients[account].cancel_batch_orders(ids=[order_id])
                return
            async with stack(account):
                with contextlib.suppress(Exception):  # a 429 after retries: counted by the server
                    await clients[account].cancel_batch_orders(ids=[order_id])

        started = time.monotonic()
        if in_blocks:
            fired = [one(a, order_id) for a in range(accounts) for order_id in ids[a]]
        else:
            fired = [one(a, ids[a][n]) for n in range(calls) for a in range(accounts)]
        await asyncio.gather(*fired)
        elapsed = time.monotonic() - started
        for client in clients:
            await client.aclose()
    arrivals = [
        (a.at, a.uid_weight)
        for a in sorted(exchange.arrivals + exchange.refused, key=lambda a: a.at)
    ]
    first = arrivals[0][0] if arrivals else 0.0
    burst_uid = sum(w for t, w in arrivals if t - first < 1.0 and True) / max(1, accounts)
    return Row(
        name,
        calls * accounts,
        elapsed,
        theoretical(calls, accounts, budget, window, trade_capped),
        exchange.worst_window("ip"),
        exchange.worst_window("uid"),
        exchange.worst_window("uid", sent=True),
        budget,
        exchange.rate_limited,
        burst_uid / budget,
        arrivals,
    )


def unlimited() -> RateLimits:
    return RateLimits(ip=Budget(10**9, 1.0), uid=Budget(10**9, 1.0), trade=None, ban=10.0)


async def pacing(budget: int, window: float, calls: int) -> list[Row]:
    ours = RateLimits(ip=Budget(budget, window), uid=Budget(budget, window))
    ours_no_cap = attrs.evolve(ours, trade=None)
    safe_capacity = budget // 10  # C + r*W <= L with C = 10% of L

    def naive() -> Wrap:
        return aiolimiter_wrap(AsyncLimiter(budget, window), [AsyncLimiter(budget, window)])

    def safe() -> Wrap:
        period = safe_capacity / ((budget - safe_capacity) / window)

        def limiter() -> AsyncLimiter:
            return AsyncLimiter(safe_capacity, period)

        return aiolimiter_wrap(limiter(), [limiter()])

    rows = []
    capped = {"limits": ours, "trade_capped": True}
    for name, kwargs in [
        ("weex-async, 1 account", {"accounts": 1, "limits": ours_no_cap}),
        ("weex-async, 3 accounts sharing the IP", {"accounts": 3, "limits": ours_no_cap}),
        (
            "weex-async, 3 accounts sharing the IP, each account's calls in one block",
            {"accounts": 3, "limits": ours_no_cap, "in_blocks": True},
        ),
        ("weex-async defaults, trade-capped exchange, 1 account", {"accounts": 1, **capped}),
        ("weex-async defaults, trade-capped exchange, 3 accounts", {"accounts": 3, **capped}),
        (
            "aiolimiter naive AsyncLimiter(L, W)",
            {"accounts": 1, "limits": unlimited(), "wrap": naive},
        ),
        ("aiolimiter window-safe (C=0.1L)", {"accounts": 1, "limits": unlimited(), "wrap": safe}),
    ]:
        print(f"  running: {name} ...", file=sys.stderr, flush=True)
        rows.append(
            await scenario(name, calls=calls, budget=budget, window=window, **kwargs)  # type: ignore[arg-type]
        )
    return rows


async def admission_cost(n: int = 20_000, repeats: int = 5) -> tuple[float, float]:
    """Median µs per admission when nothing waits: ours (3 pools + slots) vs two aiolimiters."""
    ours, theirs = [], []
    for _ in range(repeats):
        queue = AdmissionQueue()
        charges: list[tuple[Pool, int]] = [
            (WindowPool("ip", 10**12, 10.0), 5),
            (WindowPool("uid", 10**12, 10.0), 10),
            (WindowPool("trade", 10**12, 1.0), 1),
            (SlotPool("slots", 10**9), 1),
        ]
        start = time.perf_counter()
        for _ in range(n):
            ticket = await queue.acquire(charges, 1)
            ticket.mark_sent()
            ticket.mark_answered()
            ticket.finish()
        ours.append((time.perf_counter() - start) / n * 1e6)
        ip, uid = AsyncLimiter(10**12, 10.0), AsyncLimiter(10**12, 10.0)
        start = time.perf_counter()
        for _ in range(n):
            await ip.acquire(5)
            await uid.acquire(10)
        theirs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(ours), statistics.median(theirs)


@contextlib.contextmanager
def fake_exchange_process(orders: int) -> Iterator[str]:
    """The fake exchange in its own process (its own core and GIL); yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "weex_async.cli",
            "fake-exchange",
            "--port",
            str(port),
            "--account",
            "load:secret:pass",
            "--open",
            str(orders),
            "--ip-budget",
            "1000000000",
            "--uid-budget",
            "1000000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "fake WEEX exchange on ..." once it listens
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


#: sends one batch cancel of one order id
Sender = Callable[[str], Awaitable[None]]
#: opens a client on the fake exchange's URL and yields its sender
Client = Callable[[str], contextlib.AbstractAsyncContextManager[Sender]]
#: the bare libraries' connection pool: the SDK's default ``max_in_flight``
POOL = 10


def sdk(
    backend: HttpBackend, transport: Callable[[], httpx.AsyncBaseTransport] | None = None
) -> Client:
    """weex-async with this HTTP backend, or on the ``transport`` built (budgets out of the
    way)."""

    @contextlib.asynccontextmanager
    async def client(url: str) -> AsyncIterator[Sender]:
        async with WeexClient(
            Credentials("load", "secret", "pass"),
            base_url=url,
            rate_limits=unlimited(),
            sync_time=False,
            http_backend=backend,
            transport=transport() if transport is not None else None,
        ) as weex:

            async def send(order_id: str) -> None:
                await weex.cancel_batch_orders(ids=[order_id])

            yield send

    return client


@contextlib.asynccontextmanager
async def bare_httpx(url: str) -> AsyncIterator[Sender]:
    """A bare signed httpx client (pool of 10, no limiter): the default backend's floor."""
    auth = WeexAuth(Credentials("load", "secret", "pass"), lambda: int(time.time() * 1000))
    async with httpx.AsyncClient(
        base_url=url,
        auth=auth,
        headers={"Content-Type": "application/json"},
        limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL),
        timeout=30.0,
    ) as http:

        async def send(order_id: str) -> None:
            body = f'{{"ids":["{order_id}"]}}'.encode()
            response = await http.post(CANCEL_BATCH_ORDERS.path, content=body)
            response.raise_for_status()

        yield send


@contextlib.asynccontextmanager
async def bare_aiohttp(url: str) -> AsyncIterator[Sender]:
    """A bare signed aiohttp session (10 connections, no limiter): the aiohttp backend's floor."""
    import aiohttp

    path = CANCEL_BATCH_ORDERS.path
    connector = aiohttp.TCPConnector(limit=POOL)
    async with aiohttp.ClientSession(url, connector=connector) as http:

        async def send(order_id: str) -> None:
            body = f'{{"ids":["{order_id}"]}}'
            timestamp = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "ACCESS-KEY": "load",
                "ACCESS-SIGN": sign("secret", timestamp, "POST", path, body),
                "ACCESS-TIMESTAMP": timestamp,
                "ACCESS-PASSPHRASE": "pass",
            }
            async with http.post(path, data=body, headers=headers) as response:
                await response.read()
                response.raise_for_status()

        yield send


async def drive(client: Client, concurrency: int, calls: int) -> tuple[float, float]:
    """Calls/s and the median seconds per call with ``concurrency`` callers at once.

    The orders are the ids the fake exchange opens from its first id on: the answers are real
    cancels, not "not found".
    """
    ids = iter(str(FIRST_ID + n) for n in range(calls))
    took: list[float] = []
    with fake_exchange_process(calls) as url:
        async with client(url) as send:

            async def worker() -> None:
                for order_id in ids:
                    start = time.perf_counter()
                    await send(order_id)
                    took.append(time.perf_counter() - start)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return calls / (time.perf_counter() - start), statistics.median(took)


@attrs.frozen
class ThroughputRow:
    """One client: medians over the repeats."""

    name: str
    floor: str  #: the bare library this client is compared with
    one_call: float  #: seconds per call with one caller
    few: float  #: calls/s with 10 callers
    many: float  #: calls/s with 1000 callers


async def throughput_table(
    calls: int = 1500, latency_calls: int = 300, repeats: int = 3
) -> list[ThroughputRow]:
    """Each client at 1 (latency), 10 and 1000 callers; runs interleaved, medians of
    ``repeats``."""
    clients: list[tuple[str, str, Client]] = [
        ("bare signed httpx (pool of 10, no limiter)", "", bare_httpx),
        ("weex-async, httpx (default)", "bare signed httpx (pool of 10, no limiter)", sdk("httpx")),
        ("bare signed aiohttp (10 connections, no limiter)", "", bare_aiohttp),
        (
            "weex-async, aiohttp backend",
            "bare signed aiohttp (10 connections, no limiter)",
            sdk("aiohttp"),
        ),
    ]
    rates: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeats):
        for name, _floor, client in clients:
            for concurrency in (1, 10, 1000):
                n = latency_calls if concurrency == 1 else calls
                rate, each = await drive(client, concurrency, n)
                rates.setdefault((name, concurrency), []).append(each if concurrency == 1 else rate)
    return [
        ThroughputRow(
            name,
            floor,
            statistics.median(rates[name, 1]),
            statistics.median(rates[name, 10]),
            statistics.median(rates[name, 1000]),
        )
        for name, floor, _ in clients
    ]


async def priority_inversion(queries: int = 230) -> tuple[float, float]:
    """The case a waiting cancel must not lose: 10 batch cancels fill the trade cap (10 per
    second), an 11th waits for it, then ``queries`` open-order queries are called, enough to drain
    the account's window. WEEX's budgets and the SDK's defaults, against an exchange that caps
    trade calls too.

    Returns:
        When the 11th cancel reached the exchange, and when the last query did, in seconds after
        the first cancel.
    """
    exchange = FakeExchange(trade_cap=10)
    exchange.add_account("inversion", "secret", "pass")
    ids = exchange.place_resting_orders("inversion", 11)
    with serve(exchange) as url:
        async with WeexClient(
            Credentials("inversion", "secret", "pass"), base_url=url, sync_time=False
        ) as client:
            first = [
                asyncio.ensure_future(client.cancel_batch_orders(ids=[order_id]))
                for order_id in ids[:10]
            ]
            await asyncio.sleep(0)  # the ten are admitted and take the trade cap
            eleventh = asyncio.ensure_future(client.cancel_batch_orders(ids=[ids[10]]))
            await asyncio.sleep(0)  # it waits for the cap
            reads = [asyncio.ensure_future(client.open_orders()) for _ in range(queries)]
            await asyncio.gather(*first, eleventh, *reads)
    cancels = [a.at for a in exchange.arrivals if a.path == CANCEL_BATCH_ORDERS.path]
    reads_at = [a.at for a in exchange.arrivals if a.path != CANCEL_BATCH_ORDERS.path]
    return cancels[10] - cancels[0], max(reads_at) - cancels[0]


async def redis_admission_cost(
    url: str, n: int = 2000, repeats: int = 3
) -> tuple[float, float, float]:
    """Median µs per shared admission (IP, UID, trade in one Lua call) and per bare PING, as the
    client sees them, and the script's own Redis CPU µs per call (``INFO commandstats``)."""
    ledger = RedisLedger(url, namespace="bench-cost", restart_grace=0)
    await ledger.republish(await ledger.current_epoch(), [])  # adopt the epoch, publish nothing
    pools = [
        (ledger.key(kind), 10**12, 10.0, weight)
        for kind, weight in (("ip", 5), ("uid", 10), ("trade", 1))
    ]
    costs, pings = [], []
    try:
        await ledger.client.config_resetstat()
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(n):
                await ledger.reserve(pools)
            costs.append((time.perf_counter() - start) / n * 1e6)
            start = time.perf_counter()
            for _ in range(n):
                await ledger.client.ping()
            pings.append((time.perf_counter() - start) / n * 1e6)
        stats = await ledger.client.info("commandstats")
        script_cpu = float(stats.get("cmdstat_evalsha", {}).get("usec_per_call", 0.0))
    finally:
        await ledger.aclose()
    return statistics.median(costs), statistics.median(pings), script_cpu


def processes_through_redis(
    server: RedisServer,
    budget: int,
    window: float,
    processes: int = 3,
    calls: int = 70,
    restart_at: float | None = None,
) -> Row:
    """``processes`` OS processes cancel for one account at once, sharing it through Redis;
    with ``restart_at``, Redis is killed that many seconds in and restarted empty."""
    restarted = f", Redis restarted empty at {restart_at:g} s" if restart_at is not None else ""
    return processes_sharing(
        server.url,
        f"through Redis{restarted}",
        budget,
        window,
        processes,
        calls,
        restart=None if restart_at is None else (restart_at, server),
    )


def processes_sharing(
    ledger: str,
    label: str,
    budget: int,
    window: float,
    processes: int = 3,
    calls: int = 70,
    restart: tuple[float, RedisServer] | None = None,
) -> Row:
    """``processes`` OS processes cancel for one account at once, sharing it through ``ledger``
    (``RateLimits(ledger=...)``); with ``restart``, its Redis is killed that many seconds in and
    restarted empty."""
    exchange = FakeExchange(ip_budget=budget, uid_budget=budget, window=window)
    exchange.add_account("bench-shared", "bench-secret", "bench-pass")
    ids = exchange.place_resting_orders("bench-shared", processes * calls)
    with serve(exchange) as exchange_url:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks._redis_worker",
                    exchange_url,
                    ledger,
                    ids[calls * n],
                    str(calls),
                    str(budget),
                    str(window),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(processes)
        ]
        for worker in workers:
            assert worker.stdout is not None
            worker.stdout.readline()  # "ready": synced, connected
        started = time.monotonic()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        if restart is not None:
            time.sleep(restart[0])
            restart[1].kill()  # a crash: the ledger is lost
            restart[1].start()  # empty
        for worker in workers:
            worker.wait(timeout=600)
        elapsed = time.monotonic() - started
    total = processes * calls
    return Row(
        f"{processes} processes, 1 account, {label}",
        total,
        elapsed,
        theoretical(total, 1, budget, window, trade_cap=True),  # the workers keep the default cap
        exchange.worst_window("ip"),
        exchange.worst_window("uid"),
        exchange.worst_window("uid", sent=True),
        budget,
        exchange.rate_limited,
        0.0,
    )


def flock_json_cost(path: Path, window: float, n: int = 2000) -> float:
    """µs per call (admission and settlement) through the alternative to the host ledger that
    was measured against it: one file under ``flock``, its charges rewritten as JSON at each step
    (no crash safety: a process killed mid-write leaves a torn file)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    pools = (("ip", 5), ("uid", 10), ("trade", 1))

    def step(change: Callable[[dict[str, list[list[float]]], float], None]) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            raw = os.read(fd, 1 << 22)
            state = json.loads(raw) if raw else {}
            change(state, time.monotonic())
            data = json.dumps(state).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, data)
            os.ftruncate(fd, len(data))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def reserve(state: dict[str, list[list[float]]], now: float) -> None:
        for key, weight in pools:
            kept = [entry for entry in state.get(key, []) if entry[0] > now - window]
            kept.append([now + 2.0, weight])
            state[key] = kept

    def settle(state: dict[str, list[list[float]]], now: float) -> None:
        for key, _ in pools:
            state[key][-1][0] = now - 0.25

    try:
        start = time.perf_counter()
        for _ in range(n):
            step(reserve)
            step(settle)
        return (time.perf_counter() - start) / n * 1e6
    finally:
        os.close(fd)


async def host_ledger_cost(path: Path, window: float, n: int = 2000) -> float:
    """µs per call (admission and settlement) through the host ledger, as ``flock_json_cost``
    measures its alternative."""
    from weex_async._limiter._host import HostLedger

    ledger = HostLedger(path)
    await ledger.republish(await ledger.current_epoch(), [])
    pools = [
        (kind, 10**12, window, weight) for kind, weight in (("ip", 5), ("uid", 10), ("trade", 1))
    ]
    try:
        start = time.perf_counter()
        for _ in range(n):
            members = await ledger.reserve(pools)
            receipts = [
                (key, window, member)
                for (key, _, window, _), member in zip(pools, members, strict=True)
            ]
            await ledger.settle(receipts, 0.25)
        return (time.perf_counter() - start) / n * 1e6
    finally:
        await ledger.aclose()


async def ledger_admission_cost(ledger: Ledger, n: int = 2000, repeats: int = 3) -> float:
    """Median µs per shared admission (IP, UID and trade pools charged in one step) through
    ``ledger``, as the caller sees it (its settlement, off the caller's path, not counted)."""
    await ledger.republish(await ledger.current_epoch(), [])  # adopt the epoch, publish nothing
    pools = [
        (ledger.key("cost", kind), 10**12, 0.001, weight)  # a tiny window: few charges in it
        for kind, weight in (("ip", 5), ("uid", 10), ("trade", 1))
    ]
    costs = []
    try:
        for _ in range(repeats):
            elapsed = 0.0
            for _ in range(n):
                start = time.perf_counter()
                members = await ledger.reserve(pools)
                elapsed += time.perf_counter() - start
                await ledger.settle(
                    [
                        (key, window, m)
                        for (key, _, window, _), m in zip(pools, members, strict=True)
                    ],
                    0.0,
                )
            costs.append(elapsed / n * 1e6)
    finally:
        await ledger.aclose()
    return statistics.median(costs)


@attrs.frozen
class FlattenRow:
    """Time-to-flat of one scenario: medians over the repeats (the counts are the last run's)."""

    name: str
    orders: int
    elapsed: float
    minimum: float  #: the theoretical minimum under the budgets (round trips not counted)
    calls: int
    rounds: int
    ip_spent: int
    uid_spent: int
    min_ip: int
    min_uid: int
    rate_limited: int
    flat: bool


def flatten_time(
    version: ApiVersion, whole_account: bool, symbols: int = 20, each: int = 100, repeats: int = 3
) -> FlattenRow:
    """``cancel_everything`` on ``symbols`` x ``each`` open orders, with WEEX's budgets (and the
    SDK's default trade cap), against the fake exchange served on loopback: a fresh exchange per
    run, so every run starts from empty pools."""
    names = [f"cmt_s{n}usdt" if version == "v2" else f"S{n}USDT" for n in range(symbols)]
    limits = RateLimits()
    elapsed: list[float] = []
    for _ in range(repeats):
        exchange = FakeExchange()
        exchange.add_account("flat", "secret", "pass")
        for name in names:
            exchange.place_resting_orders("flat", each, symbol=name)
        with serve(exchange) as url:

            async def run() -> FlattenReport:
                async with WeexClient(
                    Credentials("flat", "secret", "pass"),
                    base_url=url,
                    api_version=version,
                    rate_limits=limits,
                ) as client:
                    await client.sync_time()  # before the clock starts
                    return await client.cancel_everything(None if whole_account else names)

            report = asyncio.run(run())
        elapsed.append(report.elapsed)
        spent = [a for a in exchange.arrivals if "/market/time" not in a.path]
    minimum, min_ip, min_uid = least_flatten_seconds(
        API[version], limits, dict.fromkeys(names, each), whole_account=whole_account
    )
    return FlattenRow(
        name=f"{version.upper()}, "
        + ("the whole account" if whole_account else f"{symbols} symbols named"),
        orders=symbols * each,
        elapsed=statistics.median(elapsed),
        minimum=minimum,
        calls=report.calls,
        rounds=report.rounds,
        ip_spent=sum(a.ip_weight for a in spent),
        uid_spent=sum(a.uid_weight for a in spent),
        min_ip=min_ip,
        min_uid=min_uid,
        rate_limited=exchange.rate_limited,
        flat=report.flat and not exchange.accounts["flat"].orders,
    )


GUARDED_ENGINE = """\
import sys, time, asyncio
from weex_async import Heartbeat

async def main() -> None:
    async with Heartbeat(sys.argv[2], every=0.1):
        print("ready", flush=True)
        await asyncio.sleep(0.5)
        if sys.argv[1] == "hang":
            print("hang", time.monotonic(), flush=True)
            time.sleep(600)  # the loop blocked: the beats stop (SIGTERM still ends it)
        await asyncio.sleep(600)

asyncio.run(main())
"""


@attrs.frozen
class GuardRow:
    """From the engine's death (or its last beat) to the guard's proving listing: medians."""

    name: str
    orders: int
    elapsed: float
    detection: float  #: the least time to notice: 0 for an exit, ``stale_after`` for a hang
    least_flat: float  #: the least time to flat under the budgets (round trips not counted)
    flat: bool


def guard_time(
    how: str, stale_after: float = 1.0, symbols: int = 20, each: int = 100, repeats: int = 3
) -> GuardRow:
    """``weex-async guard`` over an engine that beats, then is SIGKILLed (``how="kill"``) or
    blocks its event loop (``"hang"``), with ``symbols`` x ``each`` orders resting on the fake
    exchange served on loopback. The end is the arrival of the guard's last request (the listing
    that proved the account flat), on the same monotonic clock as the death."""
    names = [f"cmt_s{n}usdt" for n in range(symbols)]
    elapsed: list[float] = []
    flat = True
    with tempfile.TemporaryDirectory() as folder:
        engine = Path(folder) / "engine.py"
        engine.write_text(GUARDED_ENGINE)
        beat = str(Path(folder) / "beat")
        for _ in range(repeats):
            exchange = FakeExchange()
            exchange.add_account("guarded", "secret", "pass")
            for name in names:
                exchange.place_resting_orders("guarded", each, symbol=name)
            with serve(exchange) as url:
                env = {
                    **os.environ,
                    "WEEX_API_KEY": "guarded",
                    "WEEX_API_SECRET": "secret",
                    "WEEX_API_PASSPHRASE": "pass",
                    "XDG_STATE_HOME": folder,
                }
                command = [sys.executable, "-m", "weex_async.cli", "guard", "--base-url", url]
                command += ["--heartbeat", beat, "--stale-after", str(stale_after), "--"]
                command += [sys.executable, str(engine), how, beat]
                guard = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
                )
                assert guard.stdout is not None
                if guard.stdout.readline().strip() != "ready":
                    guard.kill()
                    raise RuntimeError("the guarded engine did not start")
                if how == "kill":
                    died = time.monotonic()
                    for pid in _children(guard.pid):
                        os.kill(pid, signal.SIGKILL)
                else:
                    died = float(guard.stdout.readline().split()[1])
                guard.communicate(timeout=120)
                last = max(a.at for a in exchange.arrivals if "/market/time" not in a.path)
                elapsed.append(last - died)
                flat = flat and guard.returncode == 0 and not exchange.accounts["guarded"].orders
    least, _, _ = least_flatten_seconds(
        API["v2"], RateLimits(), dict.fromkeys(names, each), whole_account=True
    )
    return GuardRow(
        name="engine SIGKILLed"
        if how == "kill"
        else f"event loop blocked (stale after {stale_after:g} s)",
        orders=symbols * each,
        elapsed=statistics.median(elapsed),
        detection=0.0 if how == "kill" else stale_after,
        least_flat=least,
        flat=flat,
    )


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (Linux's /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def beat_cost(beats: int = 5_000) -> tuple[float, float]:
    """Microseconds per ``Heartbeat.beat()`` (one atomic rewrite of the file): median and the
    99th percentile. A cancel waits behind at most one beat on the engine's loop."""
    with tempfile.TemporaryDirectory() as folder:
        heart = Heartbeat(Path(folder) / "beat")
        times = []
        for _ in range(beats):
            started = time.perf_counter()
            heart.beat()
            times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


async def cancel_latency_beside_beats(
    calls: int = 400, every: float = 0.01, repeats: int = 3
) -> tuple[float, float, float, float]:
    """Median and 99th-percentile ms of one batch cancel against the in-process fake exchange,
    without a ``Heartbeat`` and beside one beating every ``every`` s (100 times the default rate),
    interleaved over ``repeats`` rounds."""
    plain: list[float] = []
    beating: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            for with_beats in (False, True):
                exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
                exchange.add_account("beat", "secret", "pass")
                ids = exchange.place_resting_orders("beat", calls)
                async with contextlib.AsyncExitStack() as stack:
                    if with_beats:
                        await stack.enter_async_context(Heartbeat(Path(folder) / "b", every))
                    client = await stack.enter_async_context(
                        WeexClient(
                            Credentials("beat", "secret", "pass"),
                            base_url="http://fake",
                            transport=exchange.transport(),
                            rate_limits=unlimited(),
                            sync_time=False,
                        )
                    )
                    for order_id in ids:
                        started = time.perf_counter()
                        await client.cancel_batch_orders(ids=[order_id])
                        (beating if with_beats else plain).append(time.perf_counter() - started)
    plain.sort()
    beating.sort()

    def p99(times: list[float]) -> float:
        return times[int(len(times) * 0.99)] * 1e3

    return (
        statistics.median(plain) * 1e3,
        p99(plain),
        statistics.median(beating) * 1e3,
        p99(beating),
    )


@attrs.define
class SettleRow:
    name: str
    orders: int
    runs: int
    gone_at: float  # median seconds from the call until the book held none of the orders
    reported_at: float  # median seconds from the call until the report
    worst_delay: float  # the longest report-after-gone of the runs
    prompt: int  # runs whose report came within 1 s of the last order gone
    batch_uid: int  # the most UID one run's batch cancels took (WEEX's window holds 500)
    batches: int  # batch cancels that reached the exchange, all runs together
    calls: int  # all runs together
    lookups: int  # single-order lookups (order detail), all runs together
    pages: int  # open-order and order-history pages, all runs together
    unknown: int  # orders the reports left unknown, all runs together
    exact: bool  # nothing reported cancelled that was not cancelled, in any run


#: The faults of the settling benchmark: every kind that leaves a batch's outcome unclear or
#: refused, without the slow answers and 429 pauses whose waits would hide the settling time.
SETTLE_FAULTS = (
    Fault.SERVER_ERROR,
    Fault.EMPTY_521,
    Fault.BAD_JSON,
    Fault.DROP_BEFORE,
    Fault.DROP_AFTER,
)


#: Each version's batch-cancel path (V3's holds no "cancel").
BATCH_PATHS = ("/capi/v2/order/cancel_batch_orders", "/capi/v3/batchOrders")


class _Stamped(list[str]):
    """The fake account's list of cancelled ids, noting when each was cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def append(self, order_id: str) -> None:
        self.stamps.append(time.monotonic())
        super().append(order_id)


async def _settle_once(
    version: ApiVersion, orders: int, faults: float, seed: int
) -> tuple[float, float, CancelReport, FakeExchange]:
    exchange = FakeExchange()
    exchange.add_account("settle", "secret", "pass")
    symbol = "cmt_btcusdt" if version == "v2" else "BTCUSDT"
    ids = exchange.place_resting_orders("settle", orders, symbol=symbol)
    account = exchange.accounts["settle"]
    async with WeexClient(
        Credentials("settle", "secret", "pass"),
        base_url="http://fake",
        transport=exchange.transport(),
        api_version=version,
    ) as client:
        await client.sync_time()  # before the clock starts
        exchange.faults.randomly(faults, SETTLE_FAULTS, seed=seed)
        exchange.arrivals.clear()
        account.cancelled = _Stamped()
        started = time.monotonic()
        report = await client.cancel_orders(ids=ids)
        done = time.monotonic()
    stamps = account.cancelled.stamps
    empty_at = stamps[-1] if stamps and not account.orders else math.inf
    return empty_at - started, done - started, report, exchange


def settle_time(
    version: ApiVersion,
    *,
    pages_first: bool,
    aimed: bool = True,
    listed: bool = True,
    orders: int = 2000,
    faults: float = 0.2,
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5),
) -> SettleRow:
    """``cancel_orders`` of ``orders`` ids with ``faults`` of the private requests failing (5xx,
    unreadable bodies, dropped connections before or after the exchange acted), WEEX's budgets
    and the default trade cap, the fake exchange in process: when the last order left the book,
    and when the report came. ``pages_first``: unknowns settled by listing and order-history
    pages first (``False``: by single lookups only, as before); ``aimed``: the history read where
    each order should be, not from its top page down; ``listed``: a batch whose answer was lost
    is sent again only for its orders a listing, read once every batch has gone out, still
    shows open (``False``: sent again by the session after its backoff, as before)."""
    CancelRun.pages_first = pages_first
    CancelRun.aimed = aimed
    CancelRun.listed_retries = listed
    gone: list[float] = []
    reported: list[float] = []
    calls = lookups = pages = unknown = batches = 0
    batch_uid: list[int] = []
    exact = True
    detail = "/capi/v2/order/detail" if version == "v2" else "/capi/v3/order"
    try:
        for seed in seeds:
            gone_s, reported_s, report, exchange = asyncio.run(
                _settle_once(version, orders, faults, seed)
            )
            gone.append(gone_s)
            reported.append(reported_s)
            calls += report.calls
            lookups += sum(a.path == detail and a.ip_weight == 2 for a in exchange.arrivals)
            pages += sum(
                a.path.endswith(("/current", "/openOrders", "/history")) for a in exchange.arrivals
            )
            unknown += len(report.unknown)
            batch_uid.append(
                sum(a.uid_weight for a in exchange.arrivals if a.path.endswith(BATCH_PATHS))
            )
            batches += sum(a.path.endswith(BATCH_PATHS) for a in exchange.arrivals)
            cancelled = set(exchange.accounts["settle"].cancelled)
            exact = exact and all(name in cancelled for name in report.cancelled)
    finally:
        CancelRun.pages_first = True
        CancelRun.aimed = True
        CancelRun.listed_retries = True
    if not pages_first:
        how = "single lookups"
    elif not aimed:
        how = "listing, history pages from the top"
    elif not listed:
        how = "lost batches sent again at once, history pages aimed (before)"
    else:
        how = "lost batches sent again only if a listing shows them open (now)"
    return SettleRow(
        name=f"{version.upper()}, {how}",
        orders=orders,
        runs=len(seeds),
        gone_at=statistics.median(gone),
        reported_at=statistics.median(reported),
        worst_delay=max(r - g for r, g in zip(reported, gone, strict=True)),
        prompt=sum(r - g <= 1.0 for r, g in zip(reported, gone, strict=True)),
        batch_uid=max(batch_uid),
        batches=batches,
        calls=calls,
        lookups=lookups,
        pages=pages,
        unknown=unknown,
        exact=exact,
    )


@attrs.define
class TradeCapRow:
    version: str
    orders: int
    calls: int
    capped: float  # seconds with the SDK's trade cap (the default)
    uncapped: float  # seconds without it, against an exchange without such a cap
    risky: float  # seconds without it, against an exchange that caps trade calls at 10/s
    risky_429: int


def trade_cap_cost(version: ApiVersion, orders: int) -> TradeCapRow:
    """A kill switch (``cancel_orders`` of ``orders`` ids, fresh pools) with WEEX's budgets, with
    and without the SDK's cap of 10 trade calls per second, against the fake exchange served on
    loopback; and without the cap against an exchange that enforces one (the risk)."""
    results: dict[str, tuple[float, int, int]] = {}
    for mode, sdk_cap, exchange_cap in (
        ("capped", True, None),
        ("uncapped", False, None),
        ("risky", False, 10),
    ):
        exchange = FakeExchange(trade_cap=exchange_cap)
        exchange.add_account("kill", "secret", "pass")
        ids = exchange.place_resting_orders("kill", orders)
        limits = RateLimits() if sdk_cap else RateLimits(trade=None)
        with serve(exchange) as url:

            async def run(
                url: str = url, ids: list[str] = ids, limits: RateLimits = limits
            ) -> tuple[float, int]:
                async with WeexClient(
                    Credentials("kill", "secret", "pass"),
                    base_url=url,
                    api_version=version,
                    rate_limits=limits,
                    sync_time=False,  # the exchange runs on this machine's clock
                ) as client:
                    started = time.perf_counter()
                    report = await client.cancel_orders(ids=ids)
                    return time.perf_counter() - started, report.calls

            elapsed, calls = asyncio.run(run())
        results[mode] = (elapsed, calls, exchange.rate_limited)
    return TradeCapRow(
        version.upper(),
        orders,
        results["capped"][1],
        results["capped"][0],
        results["uncapped"][0],
        results["risky"][0],
        results["risky"][2],
    )


def burst_time(
    max_in_flight: int, latency: float, repeats: int = 5, backend: HttpBackend = "httpx"
) -> float:
    """Median seconds for a burst of 50 batch cancels (a whole account budget) from a warm client
    (its connections open) on ``backend``, the trade cap off, against the fake exchange on
    loopback that answers ``latency`` seconds late."""
    limits = RateLimits(ip=Budget(10**6, 10.0), uid=Budget(10**6, 10.0), trade=None)
    exchange = FakeExchange(ip_budget=10**6, uid_budget=10**6)
    exchange.add_account("burst", "secret", "pass")
    ids = iter(exchange.place_resting_orders("burst", 50 * (repeats + 1)))
    if latency:
        exchange.faults.slow_delay = latency
        exchange.faults.randomly(1.0, [Fault.SLOW])
    with serve(exchange) as url:

        async def run() -> float:
            async with WeexClient(
                Credentials("burst", "secret", "pass"),
                base_url=url,
                rate_limits=limits,
                sync_time=False,
                max_in_flight=max_in_flight,
                http_backend=backend,
            ) as client:
                times = []
                for round_ in range(repeats + 1):  # the first opens the connections
                    started = time.perf_counter()
                    await asyncio.gather(
                        *(client.cancel_batch_orders(ids=[next(ids)]) for _ in range(50))
                    )
                    if round_:
                        times.append(time.perf_counter() - started)
                return statistics.median(times)

        return asyncio.run(run())


class _Ports(FakeExchange):
    """The fake exchange, noting the client port (so the connection) of every request."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ports: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
        await super().__call__(scope, receive, send)


def burst_after_idle(keepalive_expiry: float, idle: float = 7.0) -> tuple[float, int]:
    """A burst of 50 batch cancels after ``idle`` quiet seconds, from a client whose connections
    were warm, against a server that keeps idle connections 75 s (nginx's default): the seconds
    it took and the connections it had to open."""
    limits = RateLimits(ip=Budget(10**6, 10.0), uid=Budget(10**6, 10.0), trade=None)
    exchange = _Ports(ip_budget=10**6, uid_budget=10**6)
    exchange.add_account("idle", "secret", "pass")
    ids = iter(exchange.place_resting_orders("idle", 100))
    with serve(exchange, keep_alive=75.0) as url:

        async def run() -> tuple[float, int]:
            async with WeexClient(
                Credentials("idle", "secret", "pass"),
                base_url=url,
                rate_limits=limits,
                sync_time=False,
                keepalive_expiry=keepalive_expiry,
            ) as client:
                burst = [client.cancel_batch_orders(ids=[next(ids)]) for _ in range(50)]
                await asyncio.gather(*burst)
                warm = set(exchange.ports)
                await asyncio.sleep(idle)
                started = time.perf_counter()
                burst = [client.cancel_batch_orders(ids=[next(ids)]) for _ in range(50)]
                await asyncio.gather(*burst)
                elapsed = time.perf_counter() - started
                return elapsed, len(set(exchange.ports) - warm)

        return asyncio.run(run())


@contextlib.asynccontextmanager
async def raw_socket(url: str) -> AsyncIterator[Sender]:
    """Signed HTTP/1.1 written and read by hand on asyncio streams (10 kept-alive connections, no
    HTTP library, no limiter): the floor under every client."""
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    path = CANCEL_BATCH_ORDERS.path
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(POOL)

    async def send(order_id: str) -> None:
        async with slots:
            reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
            body = f'{{"ids":["{order_id}"]}}'.encode()
            timestamp = str(int(time.time() * 1000))
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"ACCESS-KEY: load\r\nACCESS-SIGN: {sign('secret', timestamp, 'POST', path, body)}"
                f"\r\nACCESS-TIMESTAMP: {timestamp}\r\nACCESS-PASSPHRASE: pass\r\n\r\n"
            )
            writer.write(head.encode() + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            await _read_body(reader, answer)
            if answer[9:12] != b"200":
                raise RuntimeError(answer.split(b"\r\n", 1)[0].decode())
            idle.append((reader, writer))

    try:
        yield send
    finally:
        for _, writer in idle:
            writer.close()


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    """The body after ``head``: by its length, or chunked (uvicorn chunks an ASGI app's answer)."""
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":", 1)[1]))
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")  # the end of the (empty) trailer
    return body


def _over_httpx_aiohttp() -> httpx.AsyncBaseTransport:
    """httpx's API over aiohttp's connections (``httpx-aiohttp``): how the aiohttp backend sent
    before it called aiohttp directly, sized and kept alive as the SDK's defaults."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(
        max_connections=POOL, max_keepalive_connections=POOL, keepalive_expiry=300
    )
    transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    return transport


#: the clients a burst is compared across: the SDK's two backends, and the floors under them
BURST_CLIENTS: list[tuple[str, Client]] = [
    ("weex-async, httpx (default)", sdk("httpx")),
    ("weex-async, aiohttp backend", sdk("aiohttp")),
    ("bare signed httpx (pool of 10)", bare_httpx),
    ("bare signed aiohttp (10 connections)", bare_aiohttp),
    ("raw socket (asyncio streams, 10 connections)", raw_socket),
]
try:  # the bench extra installs it, to measure the aiohttp backend against what it was
    import httpx_aiohttp  # noqa: F401
except ImportError:  # pragma: no cover
    pass
else:
    BURST_CLIENTS.insert(
        2,
        (
            "weex-async over httpx-aiohttp (the aiohttp backend before)",
            sdk("httpx", _over_httpx_aiohttp),
        ),
    )


@attrs.frozen
class SideBySideBurst:
    """One client's bursts of 50 batch cancels at one added latency: medians."""

    name: str
    latency: float
    warm: float  #: seconds, connections open
    after_idle: float  #: seconds, after ``idle`` quiet seconds
    opened: int  #: connections the burst after the quiet had to open (the most of the repeats)


async def _burst(send: Sender, ids: Iterator[str], size: int = 50) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(send(next(ids)) for _ in range(size)))
    return time.perf_counter() - started


def bursts_side_by_side(
    latency: float, idle: float, repeats: int = 5, idle_repeats: int = 2
) -> list[SideBySideBurst]:
    """A burst of 50 batch cancels (a whole account budget, no limiter in the way) by each of
    ``BURST_CLIENTS``, from warm (median of ``repeats``, interleaved) and after ``idle`` quiet
    seconds (median of ``idle_repeats``), against the fake exchange on loopback answering
    ``latency`` seconds late and keeping idle connections 75 s (nginx's default; longer when
    ``idle`` is)."""
    exchange = _Ports(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account("load", "secret", "pass")
    bursts = len(BURST_CLIENTS) * (repeats + 1 + idle_repeats)
    ids = iter(exchange.place_resting_orders("load", 50 * bursts))
    if latency:
        exchange.faults.slow_delay = latency
        exchange.faults.randomly(1.0, [Fault.SLOW])
    names = [name for name, _ in BURST_CLIENTS]
    warm: dict[str, list[float]] = {name: [] for name in names}
    after: dict[str, list[float]] = {name: [] for name in names}
    opened: dict[str, list[int]] = {name: [] for name in names}
    with serve(exchange, keep_alive=max(75.0, 2 * idle)) as url:

        async def run() -> None:
            async with contextlib.AsyncExitStack() as stack:
                senders = [
                    (name, await stack.enter_async_context(client(url)))
                    for name, client in BURST_CLIENTS
                ]
                for round_ in range(repeats + 1):  # the first opens the connections
                    for name, send in senders:
                        took = await _burst(send, ids)
                        if round_:
                            warm[name].append(took)
                for _ in range(idle_repeats):
                    await asyncio.sleep(idle)
                    for name, send in senders:
                        seen = len(exchange.ports)
                        after[name].append(await _burst(send, ids))
                        new = set(exchange.ports[seen:]) - set(exchange.ports[:seen])
                        opened[name].append(len(new))

        asyncio.run(run())
    return [
        SideBySideBurst(
            name,
            latency,
            statistics.median(warm[name]),
            statistics.median(after[name]),
            max(opened[name]),
        )
        for name in names
    ]


async def cpu_per_call(calls: int = 300, repeats: int = 3) -> dict[str, float]:
    """CPU seconds this process spends per batch cancel at one caller, by each of
    ``BURST_CLIENTS`` (the fake exchange in its own process, so its CPU is not counted):
    medians of ``repeats``, interleaved."""
    spent: dict[str, list[float]] = {name: [] for name, _ in BURST_CLIENTS}
    for _ in range(repeats):
        for name, client in BURST_CLIENTS:
            with fake_exchange_process(calls + 1) as url:
                async with client(url) as send:
                    await send(str(FIRST_ID))  # the connection opened, imports done
                    started = time.process_time()
                    for n in range(1, calls + 1):
                        await send(str(FIRST_ID + n))
                    spent[name].append((time.process_time() - started) / calls)
    return {name: statistics.median(each) for name, each in spent.items()}


@attrs.define
class SilentRow:
    name: str
    orders: int
    seconds: float
    calls: int
    lookups: int
    unknown: int


def silent_settle(version: ApiVersion, *, stop: bool, orders: int = 300) -> SilentRow:
    """``cancel_orders`` of ``orders`` ids against an exchange that answers every private request
    late (the fake's ``Fault.SLOW``: the cancel takes effect, the answer waits), with WEEX's
    timings divided by 100 so that a row takes seconds: answers after 0.3 s (30 s), a timeout of
    0.1 s (10 s), four attempts, backoffs of 1 to 20 ms (0.1 to 2 s); the budgets out of the way
    (at these timings they would be 100 times too small). ``stop``: settling reads stop once two
    in a row went unanswered (``False``: every unknown order looked up on its own, as before)."""
    CancelRun.stop_unanswered = stop
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account("silent", "secret", "pass")
    symbol = "cmt_btcusdt" if version == "v2" else "BTCUSDT"
    ids = exchange.place_resting_orders("silent", orders, symbol=symbol)
    exchange.faults.slow_delay = 0.3
    roomy = RateLimits(
        ip=Budget(10**9, 1.0), uid=Budget(10**9, 1.0), trade=None, arrival_jitter=0.0
    )

    async def run() -> tuple[float, CancelReport]:
        async with WeexClient(
            Credentials("silent", "secret", "pass"),
            base_url="http://fake",
            transport=exchange.transport(),
            api_version=version,
            rate_limits=roomy,
            retry=RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.02),
            timeout=0.1,
        ) as client:
            await client.sync_time()  # before the clock starts, and before the fault
            exchange.faults.next(Fault.SLOW, 10**6)
            started = time.perf_counter()
            report = await client.cancel_orders(ids=ids)
            return time.perf_counter() - started, report

    try:
        seconds, report = asyncio.run(run())
    finally:
        CancelRun.stop_unanswered = True
    detail = "/capi/v2/order/detail" if version == "v2" else "/capi/v3/order"
    how = "reads stop after two unanswered (now)" if stop else "every order looked up (before)"
    return SilentRow(
        name=f"{version.upper()}, {how}",
        orders=orders,
        seconds=seconds,
        calls=report.calls,
        lookups=sum(a.path == detail for a in exchange.arrivals),
        unknown=len(report.unknown),
    )
