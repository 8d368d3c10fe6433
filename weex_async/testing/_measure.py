"""Small helpers shared by the fake exchange, the tests and the benchmarks."""

from __future__ import annotations

import socket
from collections.abc import Iterable

__all__ = ["free_port", "worst_window"]


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
