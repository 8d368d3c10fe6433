"""The report: Markdown tables of what the scenarios measured."""

from __future__ import annotations

from .scenarios import FlattenRow, Row


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


def throughput_table(rows: list[tuple[str, float, float]]) -> str:
    lines = [
        "## Throughput at 10 and 1000 concurrent callers (budgets out of the way, the fake "
        "exchange in its own process; median of 3, runs interleaved)\n",
        "| client | 10 callers, calls/s | 1000 callers, calls/s | 1000 vs 10 |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {few:.0f} | {many:.0f} | {many / few:.0%} |" for name, few, many in rows]
    bare_few, bare_many = rows[0][1], rows[0][2]
    for name, few, many in rows[1:]:
        lines.append(
            f"\n{name}: {few / bare_few:.0%} of bare httpx at 10 callers, "
            f"{many / bare_many:.0%} at 1000."
        )
    return "\n".join(lines)


def redis_table(cost: tuple[float, float, float], rows: list[Row], budget: int) -> str:
    lines = [
        "## Several processes through Redis (a local redis-server)\n",
        f"Admission cost through Redis: {cost[0]:.0f} µs per call, against {cost[1]:.0f} µs "
        "for a bare PING with the same client (medians of 3 x 2,000); the script itself takes "
        f"{cost[2]:.0f} µs of Redis CPU per call.\n",
        "| scenario | calls | elapsed s | theoretical s | pace | worst UID window sent | "
        "429s |\n|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row.name} | {row.calls} | {row.elapsed:.2f} | {row.theoretical:.2f} | "
        f"{row.pace:.1%} | {row.worst_uid_sent / budget:.0%} | {row.rate_limited} |"
        for row in rows
    ]
    return "\n".join(lines)


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
