"""weex_async: an asyncio SDK for the WEEX futures REST API.

Cancel many orders fast, with many batch cancels in flight at once, without ever tripping the
exchange's rate limits.
"""

from ._client import WeexClient
from ._heartbeat import Heartbeat
from ._limiter import Budget, Limiter, PoolSnapshot, Priority, RateLimits
from ._retry import RetryPolicy
from ._signing import Credentials, WeexAuth, sign
from ._version import __version__ as __version__
from .models import (
    BatchCancelResult,
    CancelAllResult,
    CancelOrderResult,
    CancelReport,
    ClosePositionResult,
    FlattenReport,
    Order,
    OrderAck,
    OrderRequest,
    ServerTime,
    SymbolReport,
    TriggerOrder,
)

__all__ = [
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
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("weex_async._"):
        _obj.__module__ = __name__
del _name, _obj
