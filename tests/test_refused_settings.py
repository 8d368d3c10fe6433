"""Settings that could only hang the client or break its contract are refused where they are set."""

from __future__ import annotations

import math
from typing import Any

import httpx
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


@pytest.mark.parametrize(
    ("timeout", "part"),
    [
        (0, "timeout"),
        (-1, "timeout"),
        (math.nan, "timeout"),
        (math.inf, "timeout"),
        (httpx.Timeout(5.0, read=0), "timeout.read"),
        (httpx.Timeout(5.0, connect=-1.0), "timeout.connect"),
    ],
)
def test_a_timeout_that_can_only_fail_every_request_is_refused(timeout: Any, part: str) -> None:
    # Before: timeout=0 or -1 was taken; every request then failed at once as an unknown
    # outcome, and a kill switch of 100 ids sent 412 calls and cancelled nothing.
    with pytest.raises(ConfigurationError, match=rf"{part} must be"):
        WeexClient(Credentials("k", "s", "p"), timeout=timeout)


def test_a_timeout_without_a_limit_on_one_part_is_taken() -> None:
    WeexClient(Credentials("k", "s", "p"), timeout=httpx.Timeout(5.0, pool=None))


@pytest.mark.parametrize("locale", ["en-US ", " en-US", "en-US\r\nX: 1", "en US", 7])
def test_a_locale_that_is_no_header_value_is_refused(locale: Any) -> None:
    # Before: h11 refused the header on every request, each reported unknown and looked up.
    with pytest.raises(ConfigurationError, match="locale must be a language tag"):
        WeexClient(Credentials("k", "s", "p"), locale=locale)


@pytest.mark.parametrize("locale", ["en-US", "zh-CN", "en", "zh_CN", "", None])
def test_a_language_tag_is_taken_as_locale(locale: str | None) -> None:
    WeexClient(Credentials("k", "s", "p"), locale=locale)


def test_the_defaults_pass() -> None:
    RateLimits()
    RetryPolicy(deadline=5)
    Budget(1, 0.001)
