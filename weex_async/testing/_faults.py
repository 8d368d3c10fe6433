"""Faults the fake exchange injects on demand: deterministic queues and seeded random mixtures."""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable

__all__ = ["DroppedConnection", "Fault", "Faults"]


class DroppedConnection(Exception):
    """Raised by the app to drop the connection without an answer (a fault)."""


class Fault(str, enum.Enum):
    """What can go wrong with one request.

    ``SERVER_ERROR``, ``EMPTY_521``, ``BAD_JSON`` and ``DROP_BEFORE`` leave the orders untouched;
    ``DROP_AFTER`` and ``SLOW`` act on the request first (the cancel takes effect), then fail to
    answer in time, as a lost answer does.
    """

    SERVER_ERROR = "500"  #: HTTP 500 with a WEEX error body; nothing done
    EMPTY_521 = "521"  #: HTTP 521 with an empty body (a load balancer's answer); nothing done
    BAD_JSON = "bad-json"  #: HTTP 200 whose body is not JSON; nothing done
    DROP_BEFORE = "drop-before"  #: the connection drops before the request is handled
    DROP_AFTER = "drop-after"  #: the request is handled, then the connection drops
    SLOW = "slow"  #: the request is handled, then the answer waits ``slow_delay`` seconds
    RATE_LIMIT = "429"  #: an HTTP 429 (no ban), as if another tool spent the budget; nothing done


class Faults:
    """The fault plan of one fake exchange.

    Faults apply to private (signed) endpoints only: server-time syncs are never disturbed.
    """

    def __init__(self) -> None:
        self._queued: deque[Fault] = deque()
        self._by_path: dict[str, deque[Fault]] = {}
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()
        self._rng = random.Random(0)
        self.slow_delay = 30.0
        #: how many faults were injected, by kind
        self.injected: dict[Fault, int] = {}

    def next(self, fault: Fault | str, times: int = 1, *, path: str | None = None) -> None:
        """Inject ``fault`` into the next ``times`` private requests (before any random faults);
        with ``path``, into the next ``times`` requests to that path only."""
        queue = self._queued if path is None else self._by_path.setdefault(path, deque())
        queue.extend([Fault(fault)] * times)

    def randomly(
        self, rate: float, kinds: Iterable[Fault | str] = tuple(Fault), seed: int = 0
    ) -> None:
        """Inject one of ``kinds`` into each private request with probability ``rate``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self._rate = rate
        self._kinds = tuple(Fault(kind) for kind in kinds)
        self._rng = random.Random(seed)

    def clear(self) -> None:
        """No more faults."""
        self._queued.clear()
        self._by_path.clear()
        self._rate = 0.0

    def draw(self, path: str = "") -> Fault | None:
        """The fault for the next request (to ``path``), if any (called by the exchange)."""
        fault: Fault | None = None
        if self._by_path.get(path):
            fault = self._by_path[path].popleft()
        elif self._queued:
            fault = self._queued.popleft()
        elif self._rate and self._kinds and self._rng.random() < self._rate:
            fault = self._rng.choice(self._kinds)
        if fault is not None:
            self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault
