"""The fake exchange against two WEEX clients written by others, served on loopback.

``weex-sdk`` 1.0.10 speaks V2, ccxt 4.5.90's WEEX implicit API speaks V3. Each request must be
accepted (signed as WEEX documents, checked by the fake over the exact bytes received), must
really change the orders in the fake's book, and each client must read the answer. Where they
pass, the fake answers what independent clients expect; where the SDK agrees with the fake, it
agrees with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
import weex_sdk

from weex_async.testing import FakeExchange, serve

KEY, SECRET, PASSPHRASE = "conformance-key", "conformance-secret", "conformance-pass"


@pytest.fixture
def exchange() -> FakeExchange:
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    return exchange


@pytest.fixture
def url(exchange: FakeExchange) -> Iterator[str]:
    with serve(exchange) as url:
        yield url


def book(exchange: FakeExchange) -> dict[str, Any]:
    return exchange.accounts[KEY].orders


def refused(exchange: FakeExchange) -> int:
    """Requests that reached the fake but were not admitted (authentication, 429)."""
    return exchange.requests - len(exchange.arrivals)


# -- weex-sdk (V2) -------------------------------------------------------------------------------


@pytest.fixture
def sdk(url: str) -> Iterator[Any]:
    client = weex_sdk.WeexClient(KEY, SECRET, PASSPHRASE, base_url=url)
    yield client
    client.close()


def test_weex_sdk_server_time(sdk: Any, exchange: FakeExchange) -> None:
    answer = sdk.market.get_server_time()
    assert abs(int(answer["timestamp"]) - exchange.server_ms()) < 5_000
    assert answer["epoch"]
    assert answer["iso"]


def test_weex_sdk_batch_cancel_by_ids_and_by_cids(sdk: Any, exchange: FakeExchange) -> None:
    ids = exchange.place_resting_orders(KEY, 3)
    by_cid = exchange.place_resting_orders(KEY, client_oids=["conf-1", "conf-2"])
    answer = sdk.trade.cancel_batch_orders(ids=[*ids, "7"])
    assert answer["result"] is False  # "7" does not exist
    assert sorted(answer["orderIds"]) == sorted(ids)
    verdicts = {item["order_id"]: item["result"] for item in answer["cancelOrderResultList"]}
    assert verdicts == {**dict.fromkeys(ids, True), "7": False}
    answer = sdk.trade.cancel_batch_orders(cids=["conf-1", "conf-2"])
    assert answer["result"] is True
    assert sorted(answer["clientOids"]) == ["conf-1", "conf-2"]
    assert not set(ids) & set(book(exchange))
    assert not set(by_cid) & set(book(exchange))
    assert refused(exchange) == 0


def test_weex_sdk_cancel_one_open_orders_and_detail(sdk: Any, exchange: FakeExchange) -> None:
    first, second = exchange.place_resting_orders(KEY, 2)
    listed = sdk.trade.get_current_orders(symbol="cmt_btcusdt", limit=100, page=0)
    assert sorted(order["order_id"] for order in listed) == sorted([first, second])
    answer = sdk.trade.cancel_order(order_id=first)
    assert answer["result"] is True
    assert answer["order_id"] == first
    assert first not in book(exchange)
    detail = sdk.trade.get_order_detail(first)
    assert (detail["order_id"], detail["status"]) == (first, "canceled")
    assert [o["order_id"] for o in sdk.trade.get_current_orders()] == [second]
    assert refused(exchange) == 0


def test_weex_sdk_cancel_all(sdk: Any, exchange: FakeExchange) -> None:
    ids = exchange.place_resting_orders(KEY, 4)
    answer = sdk.trade.cancel_all_orders("normal")
    assert sorted(str(item["orderId"]) for item in answer) == sorted(ids)
    assert all(item["success"] for item in answer)
    assert not book(exchange)


# -- ccxt's WEEX implicit API (V3) -----------------------------------------------------------------


@pytest.fixture
def weex(url: str) -> Any:
    client = ccxt.weex({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE})
    for api in ("contract", "contractPrivate"):
        client.urls["api"][api] = url
    return client


def test_ccxt_server_time(weex: Any, exchange: FakeExchange) -> None:
    assert abs(weex.fetch_time({"type": "swap"}) - exchange.server_ms()) < 5_000
    assert set(weex.contract_get_capi_v3_market_time()) == {"serverTime"}


@pytest.mark.parametrize("shape", ["list", "orderList", "data"])
def test_ccxt_batch_cancel_by_ids_and_client_ids(shape: str) -> None:
    exchange = FakeExchange(v3_batch_cancel_shape=shape)
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    with serve(exchange) as url:
        weex = ccxt.weex({"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE})
        weex.urls["api"]["contractPrivate"] = url
        ids = exchange.place_resting_orders(KEY, 3, symbol="BTCUSDT")
        exchange.place_resting_orders(KEY, client_oids=["conf-1", "conf-2"], symbol="BTCUSDT")
        answer = weex.contractprivate_delete_capi_v3_batchorders(
            {"orderIdList": [int(i) for i in ids] + [7]}
        )
        items = answer if shape == "list" else answer[shape]
        verdicts = {str(item["orderId"]): item["success"] for item in items}
        assert verdicts == {**dict.fromkeys(ids, True), "7": False}
        (missing,) = [item for item in items if not item["success"]]
        assert missing["errorCode"] == "FAILED_ORDER_NOT_FOUND"
        answer = weex.contractprivate_delete_capi_v3_batchorders(
            {"origClientOrderIdList": ["conf-1", "conf-2"]}
        )
        items = answer if shape == "list" else answer[shape]
        assert sorted(item["origClientOrderId"] for item in items) == ["conf-1", "conf-2"]
        assert all(item["success"] for item in items)
    assert not book(exchange)
    assert refused(exchange) == 0


def test_ccxt_cancel_one_and_order_detail(weex: Any, exchange: FakeExchange) -> None:
    (order_id,) = exchange.place_resting_orders(KEY, 1, symbol="BTCUSDT")
    detail = weex.contractprivate_get_capi_v3_order({"orderId": order_id})  # GET, no Content-Type
    assert (str(detail["orderId"]), detail["status"], detail["symbol"]) == (
        order_id,
        "NEW",
        "BTCUSDT",
    )
    answer = weex.contractprivate_delete_capi_v3_order({"orderId": order_id})
    assert (str(answer["orderId"]), answer["success"]) == (order_id, True)
    assert order_id not in book(exchange)
    detail = weex.contractprivate_get_capi_v3_order({"orderId": order_id})
    assert detail["status"] == "CANCELED"
    assert refused(exchange) == 0


def test_ccxt_reads_the_fakes_v3_refusals(weex: Any, exchange: FakeExchange) -> None:
    with pytest.raises(ccxt.BadRequest, match="-1140"):
        weex.contractprivate_delete_capi_v3_order({})
    with pytest.raises(ccxt.InvalidOrder, match="-3200"):
        weex.contractprivate_get_capi_v3_order({"orderId": "7"})
    weex.password = "wrong-passphrase"
    with pytest.raises(ccxt.AuthenticationError, match="-1049"):
        weex.contractprivate_get_capi_v3_openorders()
