"""OpenTelemetry metrics from a client's events, when the ``otel`` extra is installed.

Only ``opentelemetry-api`` is needed: its meter is a no-op until the application sets a meter
provider (the SDK, a Prometheus exporter, ...), so without one the cost is a few no-op calls per
request; without the package, nothing at all (``recorder()`` returns ``None``). The instruments
are created once per process, on the first client, under the meter ``weex_async``.

Names follow OpenTelemetry's conventions (dotted, a ``weex.`` namespace, units in UCUM):
docs/monitoring.md lists them with their attributes.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ._version import __version__
from .events import CancelDone, Event, FlattenDone, RateLimited, RequestDone, RetryScheduled

__all__ = ["METER_NAME", "PoolSource", "Recorder", "recorder"]

log = logging.getLogger("weex_async")

METER_NAME = "weex_async"


class PoolSource(Protocol):
    """What the pool gauges read: a live client's pools."""

    def rate_limit_status(self) -> Iterable[Any]: ...


class Recorder:
    """Records events into OpenTelemetry instruments; reads pools for the gauges."""

    def __init__(self, meter: Any, observation: Callable[..., Any]) -> None:
        self._observation = observation
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()
        self.request_duration = meter.create_histogram(
            "weex.client.request.duration",
            unit="s",
            description="Time from sending a request to its answer (or failure), per attempt.",
        )
        self.limiter_wait = meter.create_histogram(
            "weex.limiter.wait.duration",
            unit="s",
            description="Time a request waited in the rate limiter before it was sent.",
        )
        self.rate_limited = meter.create_counter(
            "weex.client.rate_limited",
            unit="{response}",
            description="HTTP 429 answers; each pauses the pools the call charges.",
        )
        self.pause = meter.create_histogram(
            "weex.limiter.pause.duration",
            unit="s",
            description="Length of each pause of the pools after an HTTP 429.",
        )
        self.retries = meter.create_counter(
            "weex.client.retries",
            unit="{retry}",
            description="Attempts that failed and were followed by another.",
        )
        self.cancel_orders = meter.create_counter(
            "weex.cancel.orders",
            unit="{order}",
            description="Orders reported by cancel_orders, by outcome.",
        )
        self.flattens = meter.create_counter(
            "weex.flatten.runs",
            unit="{run}",
            description="cancel_everything calls, by whether they ended flat.",
        )
        for name, field, unit, description in _GAUGES:
            meter.create_observable_gauge(
                name, callbacks=[self._gauge(field)], unit=unit, description=description
            )

    def watch(self, source: PoolSource) -> None:
        """Report this client's pools in the gauges while it lives."""
        self._sources.add(source)

    def forget(self, source: PoolSource) -> None:
        self._sources.discard(source)

    def _gauge(self, field: str) -> Callable[[Any], list[Any]]:
        """A gauge's callback: ``field`` of every live client's pools, one point per pool."""

        def observe(options: Any) -> list[Any]:
            pools: dict[str, Any] = {}
            for source in list(self._sources):
                try:
                    snapshots = source.rate_limit_status()
                except Exception:  # one client's failure never loses the others' points
                    log.exception("OpenTelemetry metrics: reading a client's pools failed")
                    continue
                for snapshot in snapshots:
                    pools[snapshot.name] = snapshot  # a pool shared by clients is reported once
            return [
                self._observation(getattr(s, field), {"weex.pool": name})
                for name, s in pools.items()
            ]

        return observe

    def record(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            attributes: dict[str, Any] = {
                "weex.endpoint": event.endpoint,
                "weex.outcome": event.outcome,
            }
            if event.status_code is not None:
                attributes["http.response.status_code"] = event.status_code
            self.request_duration.record(event.duration, attributes)
            self.limiter_wait.record(event.limiter_wait, {"weex.endpoint": event.endpoint})
        elif isinstance(event, RateLimited):
            self.rate_limited.add(1, {"weex.endpoint": event.endpoint})
            self.pause.record(event.pause, {"weex.endpoint": event.endpoint})
        elif isinstance(event, RetryScheduled):
            self.retries.add(1, {"weex.endpoint": event.endpoint, "weex.reason": event.reason})
        elif isinstance(event, CancelDone):
            for outcome, count in (
                ("cancelled", event.cancelled),
                ("failed", event.failed),
                ("unknown", event.unknown),
            ):
                if count:
                    self.cancel_orders.add(count, {"weex.cancel.outcome": outcome})
        elif isinstance(event, FlattenDone):
            self.flattens.add(1, {"weex.flatten.flat": event.flat})


#: The pool gauges: (name, ``PoolSnapshot`` field, unit, description).
_GAUGES = (
    (
        "weex.limiter.pool.usage",
        "used",
        "{weight}",
        "Weight charged in the pool's current window (in-flight: requests).",
    ),
    (
        "weex.limiter.pool.limit",
        "budget",
        "{weight}",
        "The pool's budget per window (in-flight: the most requests at once).",
    ),
    (
        "weex.limiter.pool.waiting",
        "waiting",
        "{request}",
        "Requests queued in the limiter that charge the pool.",
    ),
)

_RECORDER: Recorder | None = None
_TRIED = False


def recorder() -> Recorder | None:
    """The process's recorder, or ``None`` when ``opentelemetry-api`` is not installed."""
    global _RECORDER, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            from opentelemetry import metrics
        except ImportError:
            return None
        _RECORDER = Recorder(metrics.get_meter(METER_NAME, __version__), metrics.Observation)
    return _RECORDER
