"""The limiter against an exact-window server, side by side with aiolimiter; overheads; time to
flat.

Every figure is taken in one run, side by side, as a ratio or a median, because absolute timings
on a shared machine are noisy. Prints Markdown tables; ``--svg PATH`` also draws the admitted
weight per sliding window against the budget.

    python -m benchmarks            # WEEX's budgets (10 s window): about 5 minutes
    python -m benchmarks --quick    # a 2 s window: about 1 minute, for a smoke run
    python -m benchmarks --bursts   # only the bursts, the CPU per call and max_in_flight
    python -m benchmarks --bursts --idle 60   # the quiet period as the issue states it
    python -m benchmarks --silent   # only an exchange that answers nothing in time (~30 s)
    python -m benchmarks --settle   # only the settling of unknowns (V2 and V3): about 15 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from weex_async._checks import ApiVersion
from weex_async._limiter._host import HostLedger
from weex_async._limiter._redis import RedisLedger
from weex_async.testing import RedisServer

from . import report
from .drawing import svg
from .scenarios import (
    admission_cost,
    beat_cost,
    burst_after_idle,
    burst_time,
    bursts_side_by_side,
    cancel_latency_beside_beats,
    cpu_per_call,
    flatten_time,
    flock_json_cost,
    guard_time,
    host_ledger_cost,
    ledger_admission_cost,
    pacing,
    priority_inversion,
    processes_sharing,
    processes_through_redis,
    redis_admission_cost,
    settle_time,
    silent_settle,
    throughput_table,
    trade_cap_cost,
)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="a 2 s window instead of 10 s")
    parser.add_argument("--svg", help="write the window-usage picture to this path")
    parser.add_argument(
        "--ledgers", action="store_true", help="only the shared ledgers' rows (several processes)"
    )
    parser.add_argument(
        "--bursts", action="store_true", help="only the bursts, CPU per call and max_in_flight"
    )
    parser.add_argument(
        "--silent", action="store_true", help="only the rows of an exchange that answers nothing"
    )
    parser.add_argument(
        "--settle", action="store_true", help="only the settling of unknowns (V2 and V3)"
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=20.0,
        help="seconds of quiet before the burst after a quiet period (default 20: past httpx's "
        "5 s and aiohttp's 15 s keep-alive, well within the SDK's 300 s and the server's 75 s)",
    )
    args = parser.parse_args(argv)
    window = 2.0 if args.quick else 10.0
    budget = 500
    if args.ledgers:
        await shared_ledgers(budget, window)
        return
    if args.bursts:
        await bursts(args.idle)
        return
    if args.silent:
        await silent()
        return
    if args.settle:
        await settling()
        return
    print(
        f"# weex-async benchmarks ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]})\n"
    )
    rows = await pacing(budget, window, calls=200)
    print(report.pacing_table(rows, budget, window))
    print("\n" + report.admission_table(*await admission_cost()))
    print("  running: a waiting cancel and a crowd of queries ...", file=sys.stderr, flush=True)
    print("\n" + report.inversion_table(*await priority_inversion(), queries=230))
    print("  running: throughput ...", file=sys.stderr, flush=True)
    print("\n" + report.throughput_table(await throughput_table()))
    print("  running: time to flat ...", file=sys.stderr, flush=True)
    flat_rows = await asyncio.to_thread(
        lambda: [flatten_time(v, whole) for v in ("v2", "v3") for whole in (True, False)]
    )
    print("\n" + report.flatten_table(flat_rows))
    print("  running: the guard ...", file=sys.stderr, flush=True)
    guard_rows = await asyncio.to_thread(lambda: [guard_time("kill"), guard_time("hang")])
    latency = await cancel_latency_beside_beats()
    print("\n" + report.guard_table(guard_rows, beat_cost(), latency))
    await settling()
    print("  running: the trade cap's cost ...", file=sys.stderr, flush=True)
    cap_rows = await asyncio.to_thread(
        lambda: [trade_cap_cost(v, n) for v in ("v2", "v3") for n in (100, 500, 1000)]
    )
    print("\n" + report.trade_cap_table(cap_rows))
    await silent()
    await bursts(args.idle)
    print("  running: a burst after a quiet moment ...", file=sys.stderr, flush=True)
    idle_rows = await asyncio.to_thread(
        lambda: [
            ("keepalive_expiry=300 (the default)", *burst_after_idle(300.0)),
            ("keepalive_expiry=5 (httpx's default, the SDK's before)", *burst_after_idle(5.0)),
        ]
    )
    print("\n" + report.idle_burst_table(idle_rows))
    if args.svg:
        svg(rows, window, budget, args.svg)
        print(f"\n(picture written to {args.svg})", file=sys.stderr)
    await shared_ledgers(budget, window)


async def silent() -> None:
    print("  running: an exchange that answers nothing in time ...", file=sys.stderr, flush=True)
    rows = await asyncio.to_thread(
        lambda: [silent_settle(v, stop=stop) for v in ("v2", "v3") for stop in (False, True)]
    )
    print("\n" + report.silent_table(rows))


async def settling() -> None:
    """``cancel_orders`` of 2,000 ids at 20% faults, each way of settling its unknowns."""
    print("  running: settling unknowns ...", file=sys.stderr, flush=True)
    settle_plan: list[tuple[ApiVersion, bool, bool, bool]] = [
        ("v2", False, False, False),
        ("v2", True, False, False),
        ("v2", True, True, False),
        ("v2", True, True, True),
        ("v3", True, True, False),  # V3's batches of 10: some 250 calls, about 50 s a run
        ("v3", True, True, True),
    ]
    settle_rows = await asyncio.to_thread(
        lambda: [
            settle_time(version, pages_first=first, aimed=aimed, listed=listed)
            for version, first, aimed, listed in settle_plan
        ]
    )
    print("\n" + report.settle_table(settle_rows))


async def bursts(idle: float) -> None:
    """A burst of 50 batch cancels: side by side with the bare libraries (warm, after a quiet
    period), the CPU each spends per call, and the SDK's burst at 10, 25 and 50 in flight."""
    print("  running: bursts side by side ...", file=sys.stderr, flush=True)
    rows = await asyncio.to_thread(
        lambda: [r for latency in (0.0, 0.005) for r in bursts_side_by_side(latency, idle)]
    )
    print("\n" + report.side_by_side_burst_table(rows, idle))
    print("  running: CPU per call ...", file=sys.stderr, flush=True)
    print("\n" + report.cpu_table(await cpu_per_call()))
    print("  running: bursts at 10, 25, 50 in flight ...", file=sys.stderr, flush=True)
    for backend in ("httpx", "aiohttp"):
        widths = await asyncio.to_thread(
            lambda: {
                (width, latency): burst_time(width, latency, backend=backend)  # noqa: B023
                for width in (10, 25, 50)
                for latency in (0.0, 0.005, 0.030)
            }
        )
        print("\n" + report.burst_table(widths, backend))


async def shared_ledgers(budget: int, window: float) -> None:
    """Three processes on one account through the host ledger, then through Redis."""
    workdir = Path(tempfile.mkdtemp())
    costs = {"host ledger": await ledger_admission_cost(HostLedger(workdir / "cost.sqlite3"))}
    print("  running: the host ledger against a flock'd JSON file ...", file=sys.stderr, flush=True)
    alternatives = [
        (
            window_s,
            await host_ledger_cost(workdir / f"alt-{window_s}.sqlite3", window_s),
            flock_json_cost(workdir / f"alt-{window_s}.json", window_s),
        )
        for window_s in (0.001, 0.5)
    ]
    print("  running: 3 processes through the host ledger ...", file=sys.stderr, flush=True)
    host = (workdir / "ledger.sqlite3").as_uri()
    rows = [processes_sharing(host, "through the host ledger", budget, window)]
    redis_cost = None
    redis_server = RedisServer(workdir)
    if redis_server.available:
        redis_server.start()
        try:
            costs["Redis"] = await ledger_admission_cost(
                RedisLedger(redis_server.url, namespace="bench-cost", restart_grace=0)
            )
            redis_cost = await redis_admission_cost(redis_server.url)
            print("  running: 3 processes through Redis ...", file=sys.stderr, flush=True)
            rows.append(processes_through_redis(redis_server, budget, window))
            print("  running: ... with a restart of Redis ...", file=sys.stderr, flush=True)
            rows.append(processes_through_redis(redis_server, budget, window, restart_at=window))
        finally:
            redis_server.stop()
    else:
        print("\n(redis-server not installed: the Redis rows were skipped)", file=sys.stderr)
    print("\n" + report.ledgers_table(costs, rows, budget, redis_cost))
    print("\n" + report.alternatives_table(alternatives))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
