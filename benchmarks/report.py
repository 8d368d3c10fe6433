"""The report: Markdown tables of what the scenarios measured."""

from __future__ import annotations

from .scenarios import FlattenRow, Row, ThroughputRow


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
