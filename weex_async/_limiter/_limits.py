"""The rate-limit settings: ``Budget`` and ``RateLimits``, with WEEX's documented defaults."""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import ConfigurationError

__all__ = ["Budget", "RateLimits"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{attribute.name} must be a positive number, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigurationError(f"{attribute.name} must be >= 0, got {value!r}")


def _share(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigurationError(f"{attribute.name} must be in (0, 1], got {value!r}")


@attrs.frozen
class Budget:
    """A pool's budget: at most ``weight`` units in any ``window`` seconds.

    Attributes:
        weight: the most weight the exchange accepts in one window.
        window: the window's length in seconds.
    """

    weight: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive, converter=float)


@attrs.frozen
class RateLimits:
    """What the client may spend, per pool.

    The defaults are WEEX's documented budgets; the sizes are *uncertain* (docs/weex-facts.md), so
    each is a setting whose default is the conservative reading.

    Attributes:
        ip: the IP pool, shared by every client of this process (and event loop) that talks to the
            same host. Default 500 per 10 s (some old docs say 1000: 500 never over-spends).
        uid: the account pool, shared by every client using the same API key. Default 500 / 10 s.
        trade: a cap on the number of trade calls (place / cancel; each counts 1), for WEEX's
            "10 requests per second" on trade endpoints. Whether batch cancel counts is not
            documented, so it is on by default; ``None`` turns it off.
        arrival_jitter: seconds added to every window to cover the spread between the moment a
            request is charged and the moment it arrives at the exchange. 0.25 s costs 2.4% of the
            sustained rate at a 10 s window and keeps the budget safe under an exact sliding
            window counted at arrival.
        ban: seconds to pause the pools after an HTTP 429 without a ``Retry-After`` header
            (WEEX documents a 10 s ban).
        redis_url: ``redis://host:port/db`` to share the IP, account and trade pools with every
            process (on any host) using the same Redis; needs the ``redis`` extra. ``None``: this
            process's clients only.
        redis_fallback_share: while Redis is unreachable, each process spends at most this share
            of every budget (0.25: safe for up to 4 processes on one account or IP).
    """

    ip: Budget = Budget(500, 10.0)
    uid: Budget = Budget(500, 10.0)
    trade: Budget | None = Budget(10, 1.0)
    arrival_jitter: float = attrs.field(default=0.25, validator=_non_negative)
    ban: float = attrs.field(default=10.0, validator=_positive)
    redis_url: str | None = None
    redis_fallback_share: float = attrs.field(default=0.25, validator=_share)
