"""The report: Markdown tables of what the scenarios measured."""

from __future__ import annotations

from .scenarios import (
    FlattenRow,
    GuardRow,
    Row,
    SettleRow,
    SideBySideBurst,
    SilentRow,
    ThroughputRow,
    TradeCapRow,
)


def pacing_table(rows: list[Row], budget: int, window: float) -> str:
    lines = [
        f"## Pace and safety: 200 batch cancels per account fired at once, budget {budget} "
        f"per {window:g} s, exact sliding-window server\n",
        "| scenario | calls | elapsed s | theoretical s | pace | worst IP window | "
        "worst UID window | worst UID window sent | 429s | burst in 1 s (UID) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.calls} | {r.elapsed:.2f} | {r.theoretical:.2f} | {r.pace:.1%} | "
            f"{r.worst_ip / budget:.0%} | {r.worst_uid / budget:.0%} | "
            f"{r.worst_uid_sent / budget:.0%} | {r.rate_limited} | {r.burst:.0%} |"
        )
    return "\n".join(lines)


def admission_table(ours: float, theirs: float) -> str:
    return "\n".join(
        [
            "## Admission cost when nothing waits (median of 5 x 20,000)\n",
            "| limiter | µs per call |\n|---|---|",
            "| weex-async (IP, UID, trade cap, in-flight slot; charge and re-stamp) | "
            f"{ours:.2f} |",
            f"| two aiolimiter.AsyncLimiter acquires (IP, UID) | {theirs:.2f} |",
        ]
    )


def throughput_table(rows: list[ThroughputRow]) -> str:
    lines = [
        "## Throughput at 10 and 1000 concurrent callers, latency with one (budgets out of the "
        "way, the fake exchange in its own process; median of 3, runs interleaved)\n",
        "| client | 1 caller, ms per call | 10 callers, calls/s | 1000 callers, calls/s | "
        "1000 callers vs its bare library at 10 |",
        "|---|---|---|---|---|",
    ]
    bare = {row.name: row for row in rows if not row.floor}
    for row in rows:
        floor = bare.get(row.floor, row)
        lines.append(
            f"| {row.name} | {row.one_call * 1e3:.2f} | {row.few:.0f} | {row.many:.0f} | "
            f"{row.many / floor.few:.0%} |"
        )
    for row in rows:
        if row.floor:
            floor = bare[row.floor]
            lines.append(
                f"\n{row.name}: {row.few / floor.few:.0%} of {floor.name} at 10 callers, "
                f"{row.many / floor.few:.0%} of it (at 10) with 1000 callers; adds "
                f"{(row.one_call - floor.one_call) * 1e6:.0f} µs per call at one caller."
            )
    return "\n".join(lines)


def inversion_table(cancel_at: float, last_query_at: float, queries: int) -> str:
    return "\n".join(
        [
            "## A waiting cancel and a crowd of queries (WEEX's budgets, the default trade cap, "
            "a trade-capped exchange)\n",
            f"10 batch cancels fill the trade cap, an 11th waits for it, then {queries} "
            "open-order queries are called (enough to drain the account's window).\n",
            "| the 11th cancel reached the exchange | the last query reached it |\n|---|---|",
            f"| {cancel_at:.2f} s after the first | {last_query_at:.2f} s after the first cancel |",
        ]
    )


def flatten_table(rows: list[FlattenRow]) -> str:
    lines = [
        "## Time to flat: `cancel_everything` on 2,000 open orders over 20 symbols (WEEX's "
        "budgets, the default trade cap of 10 calls/s, the fake exchange on loopback; median of "
        "3)\n",
        "| scenario | elapsed s | theoretical minimum s | calls | rounds | UID spent (least) | "
        "IP spent (least) | 429s | flat |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.elapsed:.2f} | {r.minimum:.2f} | {r.calls} | {r.rounds} | "
        f"{r.uid_spent} ({r.min_uid}) | {r.ip_spent} ({r.min_ip}) | {r.rate_limited} | "
        f"{'yes' if r.flat else 'NO'} |"
        for r in rows
    ]
    lines.append(
        "\nThe theoretical minimum is the cheapest plan any client could use (knowing every id "
        "in advance: one cancel-all per symbol or for the account, or batch cancels, then one "
        "listing per target to prove it flat), spent from empty pools; round trips are not "
        "counted, so 0 s means the budgets need no wait and the time is round trips."
    )
    return "\n".join(lines)


def guard_table(
    rows: list[GuardRow], beat: tuple[float, float], latency: tuple[float, float, float, float]
) -> str:
    lines = [
        "## The guard: from the engine's death to a proven-flat book (`weex-async guard`, 2,000 "
        "resting orders over 20 symbols, the whole account flattened, WEEX's budgets, the fake "
        "exchange on loopback; median of 3)\n",
        "| the engine | elapsed s | least: detection + flat s | flat |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.elapsed:.2f} | {r.detection + r.least_flat:.2f} "
        f"({r.detection:g} + {r.least_flat:g}) | {'yes' if r.flat else 'NO'} |"
        for r in rows
    ]
    lines.append(
        "\nElapsed runs from the SIGKILL (or the engine's last moment before it blocked its loop) "
        "to the arrival of the guard's last listing, the one that proved the account flat. The "
        "least time is the detection (0 for an exit: a pidfd says it at once; `--stale-after` "
        "for a hang) plus the least time to flat under the budgets (0: they need no wait, so the "
        "rest is round trips). A `Heartbeat` beat costs "
        f"{beat[0]:.0f} µs (median; 99th percentile {beat[1]:.0f} µs): the most a cancel can "
        "wait behind one on the engine's loop. One batch cancel against the in-process fake, "
        f"without a heartbeat: {latency[0]:.3f} ms median, {latency[1]:.3f} ms p99; beside one "
        f"beating every 0.01 s (100 times the default): {latency[2]:.3f} ms, {latency[3]:.3f} ms."
    )
    return "\n".join(lines)


def settle_table(rows: list[SettleRow]) -> str:
    lines = [
        "## Settling unknowns: `cancel_orders` of 2,000 ids with 20% of the requests failing "
        "(5xx, unreadable answers, connections dropped before or after the exchange acted), "
        "WEEX's budgets and the default trade cap, the fake exchange in process; the same 5 "
        "seeds per row\n",
        "| scenario | last order gone s (median) | report s (median) | worst report after gone s "
        "| report within 1 s of gone | most UID in batch cancels | batch cancels | calls "
        "| lookups | listing + history pages | unknown | exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.gone_at:.2f} | {r.reported_at:.2f} | {r.worst_delay:.2f} "
        f"| {r.prompt} of {r.runs} | {r.batch_uid} | {r.batches} | {r.calls} "
        f"| {r.lookups} | {r.pages} | {r.unknown} | {'yes' if r.exact else 'NO'} |"
        for r in rows
    ]
    lines.append(
        "\nExact: no order reported cancelled that the exchange did not cancel. Batch cancels "
        "(those that reached the exchange), calls, lookups, pages and unknowns are totals over "
        "the runs."
    )
    return "\n".join(lines)


def trade_cap_table(rows: list[TradeCapRow]) -> str:
    lines = [
        "## The trade cap's cost: a kill switch (`cancel_orders` from fresh pools, WEEX's budgets, "
        "the fake exchange on loopback)\n",
        "| version | orders | batch cancels | with the cap (default) s | without it s | "
        "without it, exchange capping 10/s: s | 429s |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.version} | {r.orders} | {r.calls} | {r.capped:.2f} | {r.uncapped:.2f} | "
        f"{r.risky:.2f} | {r.risky_429} |"
        for r in rows
    ]
    return "\n".join(lines)


def ledgers_table(
    costs: dict[str, float],
    rows: list[Row],
    budget: int,
    redis: tuple[float, float, float] | None = None,
) -> str:
    lines = [
        "## Several processes, one account: the host ledger and Redis side by side\n",
        "Admission cost per call, as the caller sees it (IP, UID and trade pools checked and "
        "charged in one step; median of 3 x 2,000; the settlement after the answer, off the "
        "caller's path, not counted): "
        + ", ".join(f"{name} {cost:.0f} µs" for name, cost in costs.items())
        + ".\n",
    ]
    if redis is not None:
        lines.append(
            f"The Redis script alone: {redis[0]:.0f} µs per call back to back, against "
            f"{redis[1]:.0f} µs for a bare PING with the same client; {redis[2]:.0f} µs of Redis "
            "CPU per call.\n"
        )
    lines.append(
        "| scenario | calls | elapsed s | theoretical s | pace | worst UID window sent | "
        "429s |\n|---|---|---|---|---|---|---|"
    )
    lines += [
        f"| {row.name} | {row.calls} | {row.elapsed:.2f} | {row.theoretical:.2f} | "
        f"{row.pace:.1%} | {row.worst_uid_sent / budget:.0%} | {row.rate_limited} |"
        for row in rows
    ]
    return "\n".join(lines)


def burst_table(rows: dict[tuple[int, float], float], backend: str = "httpx") -> str:
    widths = sorted({width for width, _ in rows})
    latencies = sorted({latency for _, latency in rows})
    lines = [
        f"## A burst of 50 batch cancels, {backend} backend (a whole account budget, trade cap "
        "off, warm client, the fake exchange on loopback answering late; median of 5)\n",
        "| added latency | " + " | ".join(f"max_in_flight={w}" for w in widths) + " |",
        "|---" * (len(widths) + 1) + "|",
    ]
    for latency in latencies:
        cells = " | ".join(f"{rows[(w, latency)] * 1000:.1f} ms" for w in widths)
        lines.append(f"| {latency * 1000:.0f} ms | {cells} |")
    return "\n".join(lines)


def idle_burst_table(rows: list[tuple[str, float, int]]) -> str:
    lines = [
        "## A burst of 50 batch cancels after 7 s of quiet (warm connections before; the server "
        "keeps idle connections 75 s)\n",
        "| client | elapsed ms | connections opened |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {elapsed * 1000:.1f} | {opened} |" for name, elapsed, opened in rows]
    return "\n".join(lines)


def alternatives_table(rows: list[tuple[float, float, float]]) -> str:
    lines = [
        "## The host ledger against the alternative measured before choosing it\n",
        "µs per call, admission and settlement (IP, UID and trade pools), 2,000 calls back to "
        "back in one process; the window sets how many charges each step sees (0.001 s: a few; "
        "0.5 s: about a thousand).\n",
        "| window | SQLite (WAL), BEGIN IMMEDIATE under flock | one flock'd file of JSON |",
        "|---|---|---|",
    ]
    lines += [f"| {window:g} s | {sqlite:.0f} | {flock:.0f} |" for window, sqlite, flock in rows]
    return "\n".join(lines)


def side_by_side_burst_table(rows: list[SideBySideBurst], idle: float) -> str:
    floor = {r.latency: r for r in rows if r.name.startswith("bare signed aiohttp")}
    lines = [
        "## A burst of 50 batch cancels side by side: warm, and after a quiet period\n",
        f"Every client at 10 connections, no limiter in the way; warm: median of 5, interleaved; "
        f"after {idle:g} s of quiet: median of 2 (the server keeps idle connections 75 s). "
        "Ratios to bare aiohttp at the same latency, in the same run.\n",
        "| client | added latency | warm ms | x bare aiohttp | after quiet ms | x bare aiohttp "
        "| connections opened after quiet |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = floor[r.latency]
        lines.append(
            f"| {r.name} | {r.latency * 1000:.0f} ms | {r.warm * 1000:.1f} | "
            f"{r.warm / base.warm:.2f} | {r.after_idle * 1000:.1f} | "
            f"{r.after_idle / base.after_idle:.2f} | {r.opened} |"
        )
    return "\n".join(lines)


def cpu_table(rows: dict[str, float]) -> str:
    lines = [
        "## CPU per call at one caller\n",
        "CPU seconds of the client's process per batch cancel, one caller, 300 calls back to back "
        "(the fake exchange in its own process); median of 3, interleaved.\n",
        "| client | µs per call | over bare aiohttp | over bare httpx |",
        "|---|---|---|---|",
    ]
    aiohttp = next(v for k, v in rows.items() if k.startswith("bare signed aiohttp"))
    httpx = next(v for k, v in rows.items() if k.startswith("bare signed httpx"))
    lines += [
        f"| {name} | {cpu * 1e6:.0f} | {(cpu - aiohttp) * 1e6:+.0f} | {(cpu - httpx) * 1e6:+.0f} |"
        for name, cpu in rows.items()
    ]
    return "\n".join(lines)


def silent_table(rows: list[SilentRow]) -> str:
    lines = [
        "## An exchange that answers nothing in time: `cancel_orders` with every private answer "
        "late, WEEX's timings divided by 100 (answers after 0.3 s, timeout 0.1 s, 4 attempts)\n",
        "| scenario | orders | report s | calls | lookup attempts | unknown |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.name} | {r.orders} | {r.seconds:.2f} | {r.calls} | {r.lookups} | {r.unknown} |"
        for r in rows
    ]
    return "\n".join(lines)
