"""Small helpers shared by the fake exchange, the tests and the benchmarks."""

from __future__ import annotations

import math
import socket
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from .._limiter import RateLimits, _rules
from .._limiter._rules import Weighed

__all__ = [
    "Meter",
    "free_port",
    "least_seconds",
    "least_seconds_under",
    "least_weight_seconds",
    "worst_window",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` right now (bound, then released: nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worst_window(points: Iterable[tuple[float, int]], window: float) -> int:
    """The most weight in any half-open interval ``[t, t + window)``: an exact sliding window.

    Args:
        points: ``(time, weight)`` of each request, in any order.
        window: the window's length, in the same unit as the times.
    """
    ordered = sorted(points)
    worst = start = total = 0
    for end_at, weight in ordered:
        total += weight
        while ordered[start][0] + window <= end_at:
            total -= ordered[start][1]
            start += 1
        worst = max(worst, total)
    return worst


class Meter:
    """An exact sliding window of weight at arrival, with a ban: the exchange's meter.

    A weight charged at ``t`` counts until ``t + window`` (excluded).
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.entries: deque[tuple[float, int]] = deque()
        self.used = 0
        self.banned_until = 0.0

    def fits(self, weight: int, now: float) -> bool:
        while self.entries and self.entries[0][0] + self.window <= now:
            self.used -= self.entries.popleft()[1]
        return now >= self.banned_until and self.used + weight <= self.limit

    def charge(self, weight: int, now: float) -> None:
        self.entries.append((now, weight))
        self.used += weight

    def frees_at(self) -> float:
        """When the oldest charge leaves the window (infinity when nothing is charged)."""
        return self.entries[0][0] + self.window if self.entries else math.inf


#: a budget as the exchange meters it: (weight per window, window seconds, weight of one call)
Rule = tuple[int, float, int]
#: one rule's pools in the least-time schedule: (shared by every account, weight per window,
#: window seconds, weight of one call)
_Metered = tuple[bool, int, float, int]


def least_seconds(
    calls_per_account: Sequence[int],
    *,
    ip: Rule,
    uid: Rule,
    trade: Rule | None = None,
) -> float:
    """The least time an ideal client needs to send these calls without ever exceeding a window:
    when its last call can go, with every call ready at 0, no latency, and each call sent the
    moment the rules allow (the accounts share the IP budget; each has its own UID budget and
    trade cap: the scopes of the rules table, ``weex_async._limiter._rules.RULES``).

    The rules are exact sliding windows, so sending a call as early as possible never delays a
    later one: the earliest-possible (greedy) schedule is the fastest. Among accounts, the one
    with the most calls left goes first, which keeps any one account from being left alone with
    its own caps at the end.

    Args:
        calls_per_account: how many calls (all of one kind) each account sends.
        ip, uid, trade: each rule's ``(weight per window, window seconds, weight of one call)``;
            ``trade=None``: no trade cap.
    """
    given = {"ip": ip, "uid": uid, "trade": trade}
    return _earliest_last(
        calls_per_account,
        [
            (rule.scope == "ip", *budget)
            for rule in _rules.RULES
            if (budget := given.get(rule.name)) is not None
        ],
    )


def least_seconds_under(
    limits: RateLimits, call: Weighed, calls_per_account: Sequence[int]
) -> float:
    """``least_seconds`` for calls like ``call`` (an ``Endpoint``), under every rule of the
    rules table that charges it, each with its budget in ``limits``."""
    metered: list[_Metered] = []
    for rule in _rules.RULES:
        budget = limits.budget_for(rule)
        weight = rule.charge(call)
        if budget is not None and weight:
            metered.append((rule.scope == "ip", budget.weight, budget.window, weight))
    return _earliest_last(calls_per_account, metered)


def least_weight_seconds(limits: RateLimits, weight_by_rule: Mapping[str, int]) -> float:
    """The least time in which one account can spend this much weight of each rule (its name:
    weight), split as finely as it likes: the whole windows each rule makes it wait, the
    longest of them (``least_seconds`` over calls of weight 1)."""
    longest = 0.0
    for rule in _rules.RULES:
        budget = limits.budget_for(rule)
        weight = weight_by_rule.get(rule.name, 0)
        if budget is not None and weight:
            metered = [(rule.scope == "ip", budget.weight, budget.window, 1)]
            longest = max(longest, _earliest_last([weight], metered))
    return longest


def _earliest_last(calls_per_account: Sequence[int], metered: Sequence[_Metered]) -> float:
    """When the last call goes in the earliest-possible schedule (``least_seconds``)."""
    shared = [(Meter(limit, window), weight) for ip, limit, window, weight in metered if ip]
    left = list(calls_per_account)
    own = [
        [(Meter(limit, window), weight) for ip, limit, window, weight in metered if not ip]
        for _ in calls_per_account
    ]
    now = last = 0.0
    while any(left):
        ready = [n for n in range(len(left)) if left[n] and all(m.fits(w, now) for m, w in own[n])]
        if ready and all(m.fits(w, now) for m, w in shared):
            n = max(ready, key=lambda n: left[n])
            for meter, weight in (*shared, *own[n]):
                meter.charge(weight, now)
            left[n] -= 1
            last = now
        else:  # nobody can go: wait for the next charge to leave its window
            now = min(
                m.frees_at()
                for m, _ in (*shared, *(p for n in range(len(left)) if left[n] for p in own[n]))
                if m.frees_at() > now
            )
    return last
