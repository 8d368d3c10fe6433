"""Test helpers: a fake WEEX exchange, importable without pytest.

In process (no sockets)::

    from weex_async import Credentials, WeexClient
    from weex_async.testing import FakeExchange

    exchange = FakeExchange()
    exchange.add_account("key-1", "secret-1", "pass-1")
    ids = exchange.place_resting_orders("key-1", 20)
    creds = Credentials("key-1", "secret-1", "pass-1")
    async with WeexClient(creds, base_url="http://fake", transport=exchange.transport()) as client:
        result = await client.cancel_batch_orders(ids=ids)

On a real socket (several processes, the demo): ``with serve(exchange) as url: ...`` (needs the
``fake`` extra, i.e. uvicorn).
"""

from ._exchange import Arrival, FakeExchange
from ._faults import DroppedConnection, Fault, Faults
from ._measure import free_port, least_seconds, worst_window
from ._order_desk import FakeAccount, FakeOrder, FakePosition
from ._redis_server import RedisServer
from ._server import serve
from ._transport import FakeTransport

__all__ = [
    "Arrival",
    "DroppedConnection",
    "FakeAccount",
    "FakeExchange",
    "FakeOrder",
    "FakePosition",
    "FakeTransport",
    "Fault",
    "Faults",
    "RedisServer",
    "free_port",
    "least_seconds",
    "serve",
    "worst_window",
]
