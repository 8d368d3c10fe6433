"""Settings that could only hang the client or break its contract are refused where they are set."""

from __future__ import annotations

import math
from typing import Any

import pytest

from weex_async import Budget, Credentials, RateLimits, RetryPolicy, WeexClient
from weex_async.errors import ConfigurationError

BAD_SECONDS = [math.inf, -math.inf, math.nan, 0, -1, -0.5]


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_a_budget_window_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ConfigurationError, match=r"Budget\.window"):
        Budget(500, value)


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_a_budget_weight_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ConfigurationError, match=r"Budget\.weight"):
        Budget(value, 10.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["ban", "max_retry_after"])
@pytest.mark.parametrize("value", BAD_SECONDS)
def test_bans_must_be_finite_and_positive(field: str, value: float) -> None:
    with pytest.raises(ConfigurationError, match=rf"RateLimits\.{field}"):
        RateLimits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.inf, math.nan, -0.1])
def test_the_arrival_jitter_must_be_finite_and_not_negative(value: float) -> None:
    with pytest.raises(ConfigurationError, match=r"RateLimits\.arrival_jitter"):
        RateLimits(arrival_jitter=value)


def test_no_jitter_is_allowed() -> None:
    assert RateLimits(arrival_jitter=0).arrival_jitter == 0


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_a_retry_deadline_must_be_finite_and_positive(value: float) -> None:
    """``deadline=0`` (or -1, or nan) used to be accepted, then every kill switch reported every
    order unknown without sending one."""
    with pytest.raises(ConfigurationError, match=r"RetryPolicy\.deadline"):
        RetryPolicy(deadline=value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("backoff_initial", math.inf),
        ("backoff_initial", math.nan),
        ("backoff_max", math.inf),
        ("backoff_max", -1),
        ("max_attempts", math.inf),
        ("max_attempts", 0),
    ],
)
def test_retry_waits_must_be_finite(field: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=rf"RetryPolicy\.{field}"):
        RetryPolicy(**{field: value})


@pytest.mark.parametrize("value", [math.inf, math.nan, 0, -1])
def test_the_time_sync_interval_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(ConfigurationError, match="time_sync_interval"):
        WeexClient(Credentials("k", "s", "p"), time_sync_interval=value)


def test_the_defaults_pass() -> None:
    RateLimits()
    RetryPolicy(deadline=5)
    Budget(1, 0.001)
