"""``PoolSnapshot``: one pool's state, as ``WeexClient.rate_limit_status()`` shows it."""

from __future__ import annotations

import attrs

__all__ = ["PoolSnapshot"]


@attrs.frozen
class PoolSnapshot:
    """One pool's state, as seen by the client (``WeexClient.rate_limit_status()``).

    Attributes:
        name: ``"ip:<host>"``, ``"uid:<host>:<key prefix>"``, ``"trade:..."`` or ``"in-flight"``.
        budget: the most weight per window (for ``in-flight``: the most requests at once).
        window: the effective window in seconds (with the arrival-jitter allowance), or ``inf``.
        used: weight charged in the last window (for ``in-flight``: requests on the wire).
        waiting: callers queued that charge this pool.
        paused_for: seconds left of a 429 pause, 0 when not paused.
        ready_in: seconds until one more unit of weight fits (0: it fits now; for
            ``in-flight``: 0 while a slot is free, else ``inf``, as a slot frees on an answer).
    """

    name: str
    budget: int
    window: float
    used: int
    waiting: int
    paused_for: float
    ready_in: float = 0.0
