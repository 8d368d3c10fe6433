"""Small helpers shared by the fake exchange, the tests and the benchmarks."""

from __future__ import annotations

import math
import socket
from collections import deque
from collections.abc import Iterable, Sequence

__all__ = ["Meter", "free_port", "least_seconds", "worst_window"]


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
    trade cap).

    The rules are exact sliding windows, so sending a call as early as possible never delays a
    later one: the earliest-possible (greedy) schedule is the fastest. Among accounts, the one
    with the most calls left goes first, which keeps any one account from being left alone with
    its own caps at the end.
    """
    ip_meter = Meter(ip[0], ip[1])
    left = list(calls_per_account)
    meters = [
        [Meter(uid[0], uid[1]), *([Meter(trade[0], trade[1])] if trade else [])]
        for _ in calls_per_account
    ]
    weights = [uid[2], *([trade[2]] if trade else [])]
    now = last = 0.0
    while any(left):
        ready = [
            n
            for n in range(len(left))
            if left[n] and all(m.fits(w, now) for m, w in zip(meters[n], weights, strict=True))
        ]
        if ready and ip_meter.fits(ip[2], now):
            n = max(ready, key=lambda n: left[n])
            ip_meter.charge(ip[2], now)
            for meter, weight in zip(meters[n], weights, strict=True):
                meter.charge(weight, now)
            left[n] -= 1
            last = now
        else:  # nobody can go: wait for the next charge to leave its window
            now = min(
                m.frees_at()
                for m in (ip_meter, *(m for n in range(len(left)) if left[n] for m in meters[n]))
                if m.frees_at() > now
            )
    return last
