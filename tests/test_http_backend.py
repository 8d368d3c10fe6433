"""http_backend="aiohttp": the same client, over aiohttp's connections (real sockets)."""

from __future__ import annotations

import sys

import httpx
import pytest

from weex_async import Credentials, WeexClient
from weex_async.errors import ConfigurationError, RequestTimeoutError, TransportError
from weex_async.testing import FakeExchange, Fault, free_port, serve

from .conftest import API_KEY, API_SECRET, PASSPHRASE


async def test_cancels_signed_and_decoded_over_aiohttp(
    exchange: FakeExchange, creds: Credentials
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 30)
    with serve(exchange) as url:
        async with WeexClient(creds, base_url=url, http_backend="aiohttp") as client:
            result = await client.cancel_batch_orders(ids=ids[:2], symbol="cmt_btcusdt")
            report = await client.cancel_orders(ids=ids[2:])
    assert [i.result for i in result.cancel_order_result_list] == [True, True]
    assert report.all_cancelled
    assert len(report.cancelled) == 28
    assert exchange.accounts[API_KEY].orders == {}  # the fake verified every signature


async def test_errors_keep_their_types(exchange: FakeExchange, creds: Credentials) -> None:
    # past the 0.2 s timeout; not 3 s, which the server's shutdown waits out at the end
    exchange.faults.slow_delay = 0.6
    exchange.faults.next(Fault.SLOW)
    with serve(exchange) as url:
        async with WeexClient(creds, base_url=url, http_backend="aiohttp", timeout=0.2) as client:
            with pytest.raises(RequestTimeoutError):
                await client.cancel_batch_orders(ids=["1"])
    closed = f"http://127.0.0.1:{free_port()}"
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url=closed,
        http_backend="aiohttp",
        sync_time=False,
    ) as client:
        with pytest.raises(TransportError):
            await client.cancel_batch_orders(ids=["1"])


def test_missing_extra_is_a_clear_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # as if not installed
    with pytest.raises(ConfigurationError, match="aiohttp extra") as caught:
        WeexClient(http_backend="aiohttp")
    # weex-async is not on the package index yet: a hint naming the index could install someone
    # else's package, so it says how to install from the checkout
    assert "pip install -e '.[aiohttp]'" in str(caught.value)
    assert "weex-async[aiohttp]" not in str(caught.value)


def test_backend_choices() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        WeexClient(http_backend="aiohttp", transport=httpx.MockTransport(lambda r: None))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="http_backend"):
        WeexClient(http_backend="curl")  # type: ignore[arg-type]  # refused at run time too
