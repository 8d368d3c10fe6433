"""The resources a call charges: window pools (weight per window) and in-flight slots.

``WindowPool`` is an exact sliding window: a token bucket whose tokens come back one window after
the request's weight can last have reached the exchange.  A request arrives between its sending
and its answer, so a charge is held while the request is on the wire and comes back one exchange
window after the answer; a request that got no answer comes back one window plus the arrival
allowance after it was given up.  In any half-open interval ``[t, t + window)`` of arrivals the
weight it admits never exceeds the budget, whatever the network's latency (docs/rate-limits.md has
the proof), which also bounds what a fixed-window or token-bucket server would count.  The whole
budget is available as a burst from idle.
"""

from __future__ import annotations

import math
from collections import Counter, deque

__all__ = ["SlotPool", "WindowPool"]


class WindowPool:
    """A budget of ``limit`` weight per ``window`` seconds, with 429 pauses.

    Args:
        name: shown in snapshots and logs (``"ip:api-contract.weex.com"``).
        limit: the budget's weight.
        window: the effective window: the exchange's window plus the arrival allowance (what a
            charge is held for after a request that got no answer was given up).
        exact_window: the exchange's window (what a charge is held for after the answer);
            ``window`` when not given.
    """

    freed_on_release = False

    def __init__(
        self, name: str, limit: int, window: float, exact_window: float | None = None
    ) -> None:
        self.name = name
        self.limit = limit
        #: the budget; ``limit`` drops below it while a shared (Redis) ledger is unreachable
        self.full_limit = limit
        self.window = window
        self.exact_window = window if exact_window is None else exact_window
        self.paused_until = -math.inf
        #: callers currently queued that charge this pool (for snapshots)
        self.waiting = 0
        # [time, weight] lists: mutable so that a charge can be re-stamped when its request is
        # actually sent (Ticket.mark_sent); re-stamping only ever moves a time later.
        self._entries: deque[list[float]] = deque()
        self._used = 0
        # (limit, window, exact window) -> how many clients charge this pool with that budget
        self._budgets: Counter[tuple[int, float, float]] = Counter()
        self._share = 1.0

    def __repr__(self) -> str:
        return f"<WindowPool {self.name} {self._used}/{self.limit} per {self.window:g}s>"

    def adopt(self, limit: int, window: float, exact_window: float | None = None) -> None:
        """A client charges this pool with this budget: the strictest of its clients' applies."""
        self._budgets[(limit, window, window if exact_window is None else exact_window)] += 1
        self._apply_budgets()

    def drop(self, limit: int, window: float, exact_window: float | None = None) -> None:
        """A client that adopted this budget is gone: its budget no longer applies.

        With no client left, the last budget stays (with the charges still in the window) until
        the next client adopts its own.
        """
        budgets = self._budgets
        key = (limit, window, window if exact_window is None else exact_window)
        budgets[key] -= 1
        if budgets[key] <= 0:
            del budgets[key]
        self._apply_budgets()

    @property
    def adopted(self) -> bool:
        """Some open client charges this pool."""
        return bool(self._budgets)

    def idle(self, now: float) -> bool:
        """No client adopts it and nothing it holds still counts: no charge in the window (a
        request on the wire included), no pause, nobody waiting. Forgetting it then loses
        nothing: a new pool of the same name starts in the same state."""
        return (
            not self._budgets
            and not self.waiting
            and self.paused_until <= now
            and self.used(now) == 0
        )

    def set_share(self, share: float) -> None:
        """Spend at most ``share`` of the budget (while a shared ledger is unreachable), or all."""
        self._share = share
        self._apply_budgets()

    def _apply_budgets(self) -> None:
        if self._budgets:
            self.full_limit = min(limit for limit, _, _ in self._budgets)
            self.window = max(window for _, window, _ in self._budgets)
            self.exact_window = max(exact for _, _, exact in self._budgets)
        share = self._share
        self.limit = self.full_limit if share >= 1 else max(1, int(self.full_limit * share))

    def _expire(self, now: float) -> None:
        # The same float expression as ready_at(): "now - window" could differ from it by one ulp,
        # leaving a pool full at the very instant ready_at() promised, and the timer re-arming.
        entries = self._entries
        window = self.window
        while entries and entries[0][0] + window <= now:
            self._used -= int(entries.popleft()[1])

    def used(self, now: float) -> int:
        """Weight charged within the last window."""
        self._expire(now)
        return self._used

    def can_take(self, weight: int, now: float) -> bool:
        if now < self.paused_until:
            return False
        entries = self._entries
        if entries and entries[0][0] + self.window <= now:
            self._expire(now)
        return self._used + weight <= self.limit

    def take(self, weight: int, now: float) -> list[float]:
        entry = [now, weight]
        self._entries.append(entry)
        self._used += weight
        return entry

    def peek(self, now: float) -> tuple[int, float]:
        """``(used, ready_in)`` as ``used(now)`` and ``ready_at(1, now)`` would tell, read from
        a copy of the ledger: nothing is changed, so another thread (a metrics exporter) may call
        it while the event loop charges the pool. ``deque.copy`` runs without releasing the GIL,
        so the copy is one consistent state of the pool."""
        entries = self._entries.copy()
        window, limit, paused_until = self.window, self.limit, self.paused_until
        # the same rule as _expire: entries leave from the head only
        start = 0
        while start < len(entries) and entries[start][0] + window <= now:
            start += 1
        live = [(when, int(weight)) for when, weight in list(entries)[start:]]
        used = sum(weight for _, weight in live)
        ready = now
        excess = used + 1 - limit
        if excess > 0:
            ready = math.inf
            latest = -math.inf
            for when, weight in live:
                latest = max(latest, when)
                excess -= weight
                if excess <= 0:
                    ready = latest + window
                    break
        ready = max(ready, paused_until)
        return used, max(0.0, ready - now)

    def recent(self, now: float) -> list[tuple[float, int]]:
        """``(age, weight)`` of every charge still in the window (to publish to a shared ledger)."""
        self._expire(now)
        return [(max(0.0, now - when), int(weight)) for when, weight in self._entries]

    def hold(self, entry: list[float]) -> None:
        """The charge's request is on the wire: it stays charged until its answer (or until it is
        given up), however long that takes."""
        entry[0] = math.inf

    def answered(self, entry: list[float], now: float) -> None:
        """The answer came at ``now``: the request arrived by then, so its weight leaves the
        exchange's window ``exact_window`` later."""
        entry[0] = now + self.exact_window - self.window

    def given_up(self, entry: list[float], now: float) -> None:
        """No answer came and the request was given up at ``now``: it may still arrive a little
        later (the allowance), so it is held one effective window from now."""
        entry[0] = now

    def refund(self, entry: list[float]) -> None:
        """Give back a charge whose request was never sent."""
        for index, candidate in enumerate(self._entries):
            if candidate is entry:
                del self._entries[index]
                self._used -= int(entry[1])
                return
        # already expired: nothing left to give back

    def ready_at(self, weight: int, now: float) -> float | None:
        """The earliest time at which ``weight`` fits, if nothing else is charged meanwhile;
        ``None`` when only a change of the limit can make it fit (a fallback share smaller than
        the call: it waits for the shared ledger to come back)."""
        if weight > self.limit:
            return None
        self._expire(now)
        ready = now
        excess = self._used + weight - self.limit
        if excess > 0:
            # Entries expire from the head only, so a re-stamped entry can hold back those behind
            # it: the answer is the latest expiry among the entries that must go.
            latest = -math.inf
            for when, spent in self._entries:
                latest = max(latest, when)
                excess -= int(spent)
                if excess <= 0:
                    ready = latest + self.window
                    break
        return max(ready, self.paused_until)

    def pause(self, until: float) -> bool:
        """Admit nothing before ``until``. A later pause extends, an earlier never shortens.

        Returns:
            True if the pause was extended.
        """
        if until > self.paused_until:
            self.paused_until = until
            return True
        return False

    def reconcile(self, server_used: int, now: float) -> None:
        """Raise the ledger to ``server_used`` if the server has seen more than we charged.

        The difference is charged now, so it comes back a full window later: never earlier than the
        server's own count would.
        """
        self._expire(now)
        if server_used > self._used:
            self.take(server_used - self._used, now)


class SlotPool:
    """At most ``capacity`` requests in flight: the connection pool's size.

    Callers beyond it wait in the admission queue (FIFO, prioritised), never in httpx's pool.
    """

    window = math.inf
    freed_on_release = True

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.limit = capacity
        self.full_limit = capacity
        self.in_use = 0
        self.waiting = 0
        self.paused_until = -math.inf

    def __repr__(self) -> str:
        return f"<SlotPool {self.name} {self.in_use}/{self.limit}>"

    def used(self, now: float) -> int:
        return self.in_use

    def can_take(self, weight: int, now: float) -> bool:
        return self.in_use + weight <= self.limit

    def take(self, weight: int, now: float) -> list[float]:
        self.in_use += weight
        return [now, weight]

    def refund(self, entry: list[float]) -> None:
        self.in_use -= int(entry[1])

    def peek(self, now: float) -> tuple[int, float]:
        """``(in use, ready_in)``: 0 while a slot is free, else ``inf`` (it frees on an answer).
        Reads only: safe from another thread."""
        in_use = self.in_use
        return in_use, 0.0 if in_use < self.limit else math.inf

    def ready_at(self, weight: int, now: float) -> float | None:
        return None  # frees on a release, not at a time

    # A slot is held from admission to release, whatever the request does meanwhile.
    def hold(self, entry: list[float]) -> None:
        pass

    def answered(self, entry: list[float], now: float) -> None:
        pass

    def given_up(self, entry: list[float], now: float) -> None:
        pass
