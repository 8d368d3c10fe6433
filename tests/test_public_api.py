from __future__ import annotations

import weex_async

PUBLIC = {
    "BatchCancelResult",
    "Budget",
    "CancelAllResult",
    "CancelOrderResult",
    "CancelReport",
    "ClosePositionResult",
    "Credentials",
    "FlattenReport",
    "Heartbeat",
    "Limiter",
    "Order",
    "OrderAck",
    "OrderRequest",
    "PoolSnapshot",
    "Priority",
    "RateLimits",
    "RetryPolicy",
    "ServerTime",
    "SymbolReport",
    "TriggerOrder",
    "WeexAuth",
    "WeexClient",
    "sign",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(weex_async.__all__) == PUBLIC
    assert weex_async.__all__ == sorted(weex_async.__all__)


def test_public_objects_live_in_the_package() -> None:
    for name in weex_async.__all__:
        assert getattr(weex_async, name).__module__ in ("weex_async", "weex_async.models")


def test_default_budgets_are_weex_documented_ones() -> None:
    limits = weex_async.RateLimits()
    assert limits.ip == weex_async.Budget(weight=500, window=10.0)
    assert limits.uid == weex_async.Budget(weight=500, window=10.0)
