"""The rate limiter: exact-window pools checked and charged together through one queue per loop.

Why not aiolimiter: its leaky bucket admits up to ~2x its rate in one window (a burst of its
capacity plus a window of drain), so a window-safe setting gives up either the burst or ~half the
sustained rate; its waiters are ordered by amount (a weight-10 cancel starves behind weight-1
traffic); and acquiring two limiters one after the other holds the first pool's weight idle.
An exact window ledger checked and charged in one step for every pool meets all the invariants.

This module is the package's face only; each class lives in a module named for it
(CONTRIBUTING.md's map): ``Limiter`` in ``_limiter``, ``ClientLimiter`` and ``Admission`` in
``_client_limiter``, ``PoolSnapshot`` in ``_pool_snapshot``, the exchange's rules in ``_rules``.
"""

from __future__ import annotations

from ._admission import AdmissionQueue, Priority, Ticket
from ._client_limiter import USED_WEIGHT_HEADER, Admission, Chargeable, ClientLimiter
from ._limiter import Limiter
from ._limits import Budget, RateLimits
from ._pool_snapshot import PoolSnapshot
from ._rules import Rule

__all__ = [
    "USED_WEIGHT_HEADER",
    "Admission",
    "AdmissionQueue",
    "Budget",
    "Chargeable",
    "ClientLimiter",
    "Limiter",
    "PoolSnapshot",
    "Priority",
    "RateLimits",
    "Rule",
    "Ticket",
]
