"""Settling: how ``cancel_orders`` learns what became of orders whose batch went unanswered.

``CancelRun`` (``_cancel``) settles its unknown orders by the cheapest look: the open-orders
listing, then the order history, then single lookups. Two pieces of that live here, each with one
job:

- ``HistoryWalk``: which order-history page to read next, aimed where each order sought should
  have closed, so that one page settles a lost batch instead of a lookup per order.
- ``SettleReads``: whether the exchange answers the settling reads at all; once it has shown it
  does not (timeouts in a row), no more are sent and the orders left get one reason.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from ._checks import canonical_id
from .errors import RequestTimeoutError, ResponseDecodeError, TransportError, WeexAPIError, brief
from .models import Order

__all__ = ["PAGE", "UNANSWERED_READS", "HistoryWalk", "SettleReads", "Unanswered"]

log = logging.getLogger("weex_async")

R = TypeVar("R")

#: Orders per listing page (open orders, order history): WEEX's largest.
PAGE = 100
#: Settling reads (listing pages, history pages, lookups) in a row that, ended unanswered, show
#: that the exchange does not answer them: then a run sends no more (``SettleReads``).
UNANSWERED_READS = 2


class Unanswered(Exception):
    """A settling read not sent, or abandoned: the exchange has shown it does not answer them."""


class SettleReads:
    """Whether the exchange answers a run's settling reads (listing and history pages, lookups),
    and once it has shown it does not, the one reason every order they would have settled gets.

    Shown: ``UNANSWERED_READS`` reads in a row, in the order they ended, ended in a timeout
    after the session's retries (``RequestTimeoutError``: each one already up to
    ``RetryPolicy.max_attempts`` attempts of ``timeout`` seconds, 40 s at the defaults). Any
    answer, an error's ("not found") included, starts the count again, so one lost read never
    ends settling. A read that failed fast (a connection reset or refused: its attempts take a
    fraction of a second) neither counts nor starts the count again: a burst of resets is no
    sign that waiting is wasted, and giving up on it left orders resting, reported unknown. While
    the last read ended unanswered, reads go one at a time: the second costs one read, not a wave
    of concurrent lookups of 40 s each. Once shown, nothing more is read: reads waiting or on
    the wire are abandoned (a read changes nothing at the exchange) and raise ``Unanswered``.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled
        #: reads in a row that ended unanswered
        self.unanswered = 0
        #: why no more reads are sent, once it is so
        self.gave_up: str | None = None
        self._one_at_a_time = asyncio.Lock()
        self._reading: set[asyncio.Task[Any]] = set()
        self._abandoned: set[asyncio.Task[Any]] = set()

    async def send(self, read: Coroutine[Any, Any, R]) -> R:
        """Await ``read`` (a ``Session.send`` of a settling read), counting how it ended.

        Raises:
            Unanswered: the exchange has shown it does not answer (``gave_up`` says so).
        """
        if not self._enabled:
            return await read
        task = asyncio.current_task()
        assert task is not None  # always called from a task of the run
        self._reading.add(task)
        alone = False
        try:
            alone = await self._turn()
            if self.gave_up is not None:
                raise Unanswered(self.gave_up)
            return await self._counted(read, task)
        except asyncio.CancelledError:
            if task not in self._abandoned:
                raise  # the caller's
            self._abandoned.discard(task)
            # Python 3.11+ counts cancels: ours is taken back; the caller's, if any, still stands
            if hasattr(task, "uncancel") and task.uncancel() > 0:
                raise
            raise Unanswered(self.gave_up or "") from None
        finally:
            read.close()  # never awaited if it was not sent (a no-op on one that ran)
            self._reading.discard(task)
            if alone:
                self._one_at_a_time.release()

    async def _turn(self) -> bool:
        """Wait for this read's turn: after an unanswered read, one at a time (``True``: this
        one goes alone, holding the lock)."""
        if not self.unanswered or self.gave_up is not None:
            return False
        await self._one_at_a_time.acquire()
        if self.unanswered:
            return True
        self._one_at_a_time.release()  # the read before was answered: no need to go alone
        return False

    async def _counted(self, read: Coroutine[Any, Any, R], task: asyncio.Task[Any]) -> R:
        try:
            result = await read
        except RequestTimeoutError as exc:
            self._ended_unanswered(exc, task)
            raise
        except (WeexAPIError, ResponseDecodeError):
            self.unanswered = 0  # an answer, if an error
            raise
        self.unanswered = 0
        return result

    def _ended_unanswered(self, error: TransportError, task: asyncio.Task[Any]) -> None:
        self.unanswered += 1
        if self.unanswered < UNANSWERED_READS or self.gave_up is not None:
            return
        self.gave_up = (
            f"not looked up: the exchange did not answer {self.unanswered} reads in a row "
            f"(the last: {brief(error)}), so this run sent no more"
        )
        log.warning("cancel_orders: %s", self.gave_up)
        for other in self._reading - {task}:
            self._abandoned.add(other)
            other.cancel()


class HistoryWalk:
    """Which order-history page to read next, from the rows of the pages read so far.

    The history lists closed orders, most recently closed first, ``PAGE`` a page. ``closed_at``
    numbers this run's confirmed cancels in the order they were heard; an order is sought at
    numbers (where among those confirmations it may have closed: ``CancelRun._places``), or at
    ``None`` when nothing says where (then from the top down). Each row of a page read that is a
    confirmed cancel is an anchor: number ``c`` at row ``r``, so number ``n`` should be near row
    ``r + (c - n) * density``.

    Args:
        closed_at: the run's confirmed cancels, by id as the exchange reads them.
        margin: how many rows an order may sit from where its number puts it (one batch): a
            page whose numbers say "here" but that lacks the order sends the search to the page
            beside it only when the order's place is within this of that page's edge.
        unconfirmed: closed orders of the run that are not in ``closed_at`` (those sought):
            they lie among the confirmed ones, so each confirmed cancel stands for
            ``1 + unconfirmed / len(closed_at)`` rows (the density).
    """

    def __init__(self, closed_at: dict[str, int], margin: int, unconfirmed: int = 0) -> None:
        self._closed_at = closed_at
        self._total = len(closed_at)
        self._margin = margin
        #: rows per confirmed cancel: the unconfirmed closed orders lie among them
        self._density = 1 + unconfirmed / max(1, self._total)
        #: each page read, and the least and most confirmation numbers on it (``None``: none)
        self.pages: dict[int, tuple[int, int] | None] = {}
        #: (confirmation number, row) of every confirmed cancel on the pages read, sorted
        self._anchors: list[tuple[int, int]] = []
        #: the first page known to be past the end
        self.last: float = math.inf

    def read(self, page: int, orders: Sequence[Order]) -> None:
        """Learn from ``page``'s rows."""
        numbers = []
        for row, order in enumerate(orders, start=page * PAGE):
            number = self._closed_at.get(canonical_id(order.order_id))
            if number is not None:
                numbers.append(number)
                bisect.insort(self._anchors, (number, row))
        self.pages[page] = (min(numbers), max(numbers)) if numbers else None
        if len(orders) < PAGE:
            self.last = min(self.last, page + 1 if orders else page)

    def next_from_top(self) -> int | None:
        """The shallowest page not read (``None`` past the end)."""
        page = next(p for p in itertools.count() if p not in self.pages)
        return page if page < self.last else None

    def next_page(self, aims: dict[str, list[int | None]]) -> int | None:
        """The page the most sought orders point to (the shallowest of a tie); ``None`` when no
        page is worth reading. ``aims`` holds each sought order's places, best first: a place
        the pages read rule out is dropped from its list."""
        votes: dict[int, int] = {}
        for places in aims.values():
            while places:
                page = self.wanted(places[0])
                if page is not None:
                    votes[page] = votes.get(page, 0) + 1
                    break
                places.pop(0)
        if not votes:
            return None
        return min(votes, key=lambda page: (-votes[page], page))

    def wanted(self, number: int | None) -> int | None:
        """The page to read for an order closed at ``number`` (``None``: the pages read rule it
        out). From the page where the nearest anchor puts it, the walk goes the way the rows
        read point (all more recent than sought: deeper; all older: shallower), never back."""
        if number is None:
            return self.next_from_top()
        place = self._place(number)
        page = max(0, min(place // PAGE, int(min(self.last, 2**62)) - 1))
        direction = 0
        while page in self.pages:
            side = self._side(page, number)
            if side == 0:
                return self._beside(page, place)
            if direction and side != direction:
                return None  # between two pages read: not where this number says
            direction = side
            page += side
            if not 0 <= page < self.last:
                return None
        return page

    def _place(self, number: int) -> int:
        """The row where ``number`` should be: counted from the nearest anchor (else from the
        top), each confirmed cancel between standing for ``_density`` rows."""
        if not self._anchors:
            return round((self._total - 1 - number) * self._density)
        i = bisect.bisect_left(self._anchors, (number, -1))
        near = min(self._anchors[max(0, i - 1) : i + 1], key=lambda a: abs(a[0] - number))
        return near[1] + round((near[0] - number) * self._density)

    def _side(self, page: int, number: int) -> int:
        """1: ``number`` is older than every confirmed cancel on ``page`` (deeper); -1: more
        recent (shallower); 0: among them, or the page tells nothing."""
        span = self.pages[page]
        if span is None:
            return 0
        if span[0] > number:
            return 1
        if span[1] < number:
            return -1
        return 0

    def _beside(self, page: int, place: int) -> int | None:
        """The page beside ``page`` when ``place`` lies within the margin of its edge and it is
        not read; else ``None``."""
        row = place - page * PAGE
        if row < self._margin and page - 1 >= 0 and page - 1 not in self.pages:
            return page - 1
        if PAGE - 1 - row < self._margin and page + 1 < self.last and page + 1 not in self.pages:
            return page + 1
        return None
