"""A gate that callers wait at before their first request, opened once for all of them.

What a client waits for before its first request (the first server-time sync) must not undo the
admission queue's order: ``asyncio.Lock`` and ``asyncio.Event`` release their waiters in arrival
order, so queries fired before a kill switch would reach the queue first and, taking the free
path while nothing is queued, spend the account's window before the cancels arrive. The gate
releases its waiters in priority order (then arrival): when it opens, the cancels are woken first
and reach the queue first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["PriorityGate"]


class PriorityGate:
    """Closed until ``open()``; then every waiter goes, the lowest priority value first."""

    def __init__(self) -> None:
        self._open = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    @property
    def is_open(self) -> bool:
        return self._open

    async def wait(self, priority: int) -> None:
        """Wait until the gate opens (return at once if it is open)."""
        if self._open:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._sequence), future))
        await future  # a cancelled waiter's future is cancelled: open() skips it

    def open(self) -> None:
        """Let everyone through. Tasks resume in the order their futures are resolved, so each
        reaches the admission queue before any waiter of a lower priority runs at all."""
        self._open = True
        waiters, self._waiters = self._waiters, []
        while waiters:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)
