"""Each API version's own dialect in the fake exchange, and the SDK's reading of it.

V3 paths answer V3's codes (ccxt's WEEX table: negative integers), V3's per-order failures
(``FAILED_ORDER_NOT_FOUND``) and V3's symbols (``BTCUSDT``); V3's server time is V3's own path.
The strictness WEEX does not document is a setting (Content-Type on GET, ids and cids together).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from weex_async import Credentials, WeexClient, sign
from weex_async._v3 import V3CancelItem, cancel_result
from weex_async.errors import (
    AuthenticationError,
    BadRequestError,
    OrderNotFoundError,
    TimestampError,
    api_error_for,
)
from weex_async.testing import FakeExchange

from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import Wrapped

V3_BATCH = "/capi/v3/batchOrders"


async def signed(
    fake: FakeExchange,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: str = "",
    change: dict[str, str] | None = None,
    content_type: bool = True,
) -> httpx.Response:
    """One request signed as WEEX documents, with ``change`` applied to its headers."""
    raw = b"" if body is None else json.dumps(body).encode()
    ts = str(fake.server_ms())
    target = f"{path}?{query}" if query else path
    headers = {
        "ACCESS-KEY": API_KEY,
        "ACCESS-SIGN": sign(API_SECRET, ts, method, target, raw),
        "ACCESS-TIMESTAMP": ts,
        "ACCESS-PASSPHRASE": PASSPHRASE,
    }
    if content_type:
        headers["Content-Type"] = "application/json"
    headers.update(change or {})
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://fake") as http:
        return await http.request(method, target, content=raw, headers=headers)


def read_by_the_sdk(answer: httpx.Response) -> Exception:
    body = answer.json()
    return api_error_for(answer.status_code, str(body["code"]), body["msg"], body)


@pytest.mark.parametrize(
    ("change", "v2_code", "v3_code", "error"),
    [
        ({"ACCESS-KEY": ""}, "40001", -1040, AuthenticationError),
        ({"ACCESS-SIGN": ""}, "40002", -1041, AuthenticationError),
        ({"ACCESS-TIMESTAMP": ""}, "40003", -1042, AuthenticationError),
        ({"ACCESS-TIMESTAMP": "1700000000"}, "40005", -1043, TimestampError),
        ({"ACCESS-TIMESTAMP": "1700000000000"}, "40008", -1046, TimestampError),
        ({"ACCESS-KEY": "nobody"}, "40006", -1044, AuthenticationError),
        ({"Content-Type": "text/plain"}, "40007", -1045, BadRequestError),
        ({"ACCESS-PASSPHRASE": "wrong"}, "40012", -1049, AuthenticationError),
        ({"ACCESS-SIGN": "bm90IGEgc2lnbmF0dXJl"}, "40009", -1047, AuthenticationError),
    ],
)
async def test_each_version_refuses_in_its_own_words(
    exchange: FakeExchange,
    change: dict[str, str],
    v2_code: str,
    v3_code: int,
    error: type[Exception],
) -> None:
    v2_path = "/capi/v2/order/cancel_batch_orders"
    v2 = await signed(exchange, "POST", v2_path, {"ids": ["1"]}, change=change)
    v3 = await signed(exchange, "DELETE", V3_BATCH, {"orderIdList": [1]}, change=change)
    assert (v2.status_code, v2.json()["code"]) == (400, v2_code)
    assert (v3.status_code, v3.json()["code"]) == (400, v3_code)
    assert type(read_by_the_sdk(v2)) is error
    assert type(read_by_the_sdk(v3)) is error, "the SDK reads V3's words as it reads V2's"


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "v3_code", "error"),
    [
        ("DELETE", V3_BATCH, {}, "", -1140, BadRequestError),
        ("DELETE", V3_BATCH, {"orderIdList": list(range(11))}, "", -1140, BadRequestError),
        ("DELETE", "/capi/v3/order", None, "", -1140, BadRequestError),
        ("GET", "/capi/v3/order", None, "orderId=7", -3200, OrderNotFoundError),
        ("PUT", V3_BATCH, None, "", -1150, BadRequestError),
    ],
)
async def test_v3_refusals_use_ccxts_table(
    exchange: FakeExchange,
    method: str,
    path: str,
    body: Any,
    query: str,
    v3_code: int,
    error: type[Exception],
) -> None:
    answer = await signed(exchange, method, path, body, query=query)
    assert answer.json()["code"] == v3_code
    assert type(read_by_the_sdk(answer)) is error


async def test_v3_failure_items_and_symbols(exchange: FakeExchange) -> None:
    (order_id,) = exchange.place_resting_orders(API_KEY, 1, symbol="cmt_btcusdt")
    listed = await signed(exchange, "GET", "/capi/v3/openOrders", query="symbol=BTCUSDT")
    assert [(o["orderId"], o["symbol"]) for o in listed.json()] == [(int(order_id), "BTCUSDT")]
    v2_path = "/capi/v2/order/current"
    v2_listed = await signed(exchange, "GET", v2_path, query="symbol=cmt_btcusdt")
    assert [o["symbol"] for o in v2_listed.json()] == ["cmt_btcusdt"]
    answer = await signed(exchange, "DELETE", V3_BATCH, {"orderIdList": [int(order_id), 7]})
    ok, missing = answer.json()
    assert ok["success"] is True
    assert (missing["success"], missing["errorCode"]) == (False, "FAILED_ORDER_NOT_FOUND")


async def test_v3_server_time_is_public_and_weighs_ip_1(exchange: FakeExchange) -> None:
    async with httpx.AsyncClient(transport=exchange.transport(), base_url="http://fake") as http:
        answer = (await http.get("/capi/v3/market/time")).json()
    assert set(answer) == {"serverTime"}
    assert abs(answer["serverTime"] - exchange.server_ms()) < 1_000
    (arrival,) = exchange.arrivals
    assert (arrival.path, arrival.ip_weight, arrival.uid_weight) == ("/capi/v3/market/time", 1, 0)


async def test_content_type_on_get_is_a_setting(exchange: FakeExchange) -> None:
    no_type = await signed(exchange, "GET", "/capi/v2/order/current", content_type=False)
    assert no_type.status_code == 200  # as the exchange seems to (ccxt sends none on GET)
    strict = FakeExchange(content_type_on_get=True)
    strict.add_account(API_KEY, API_SECRET, PASSPHRASE)
    v2 = await signed(strict, "GET", "/capi/v2/order/current", content_type=False)
    v3 = await signed(strict, "GET", "/capi/v3/openOrders", content_type=False)
    assert (v2.json()["code"], v3.json()["code"]) == ("40007", -1045)
    path = "/capi/v2/order/cancel_batch_orders"
    post = await signed(exchange, "POST", path, {"ids": ["1"]}, content_type=False)
    assert post.json()["code"] == "40007", "a body always needs its Content-Type"


async def test_ids_and_cids_together_is_a_setting(exchange: FakeExchange) -> None:
    (order_id,) = exchange.place_resting_orders(API_KEY, 1)
    both = {"ids": [order_id], "cids": ["x"]}
    path = "/capi/v2/order/cancel_batch_orders"
    assert (await signed(exchange, "POST", path, both)).json()["code"] == "40017"
    lenient = FakeExchange(refuse_ids_and_cids=False)
    lenient.add_account(API_KEY, API_SECRET, PASSPHRASE)
    (order_id,) = lenient.open_orders(API_KEY, 1)
    answer = await signed(lenient, "POST", path, {"ids": [order_id], "cids": ["x"]})
    assert answer.json()["orderIds"] == [order_id], "the exchange ids are used"


# -- the SDK against the fake's V3 dialect ---------------------------------------------------------


def v3_client(exchange: FakeExchange, **kwargs: Any) -> WeexClient:
    credentials = kwargs.pop("credentials", Credentials(API_KEY, API_SECRET, PASSPHRASE))
    return WeexClient(
        credentials,
        base_url="http://fake",
        transport=kwargs.pop("transport", exchange.transport()),
        api_version="v3",
        **kwargs,
    )


@pytest.mark.parametrize("shape", ["list", "orderList", "data"])
async def test_the_sdk_reads_every_v3_batch_cancel_shape(shape: str) -> None:
    exchange = FakeExchange(v3_batch_cancel_shape=shape)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    ids = exchange.place_resting_orders(API_KEY, 3, symbol="BTCUSDT")
    async with v3_client(exchange) as client:
        result = await client.cancel_batch_orders(ids=[*ids, "7"])
        report = await client.cancel_orders(ids=ids)
    assert [item.result for item in result.cancel_order_result_list] == [True, True, True, False]
    assert result.cancel_order_result_list[-1].err_code == "FAILED_ORDER_NOT_FOUND"
    assert report.failed == dict.fromkeys(ids, "FAILED_ORDER_NOT_FOUND (order does not exist)")


@pytest.mark.parametrize(
    ("credentials", "error", "code"),
    [
        (Credentials(API_KEY, "wrong-secret", PASSPHRASE), AuthenticationError, "-1047"),
        (Credentials(API_KEY, API_SECRET, "wrong-pass"), AuthenticationError, "-1049"),
        (Credentials("nobody", API_SECRET, PASSPHRASE), AuthenticationError, "-1044"),
    ],
)
async def test_the_sdk_maps_the_fakes_v3_auth_refusals(
    exchange: FakeExchange, credentials: Credentials, error: type[Exception], code: str
) -> None:
    async with v3_client(exchange, credentials=credentials) as client:
        with pytest.raises(error) as raised:
            await client.open_orders()
    assert raised.value.code == code  # type: ignore[attr-defined]


async def test_the_sdk_maps_the_fakes_v3_refusals(exchange: FakeExchange) -> None:
    async with v3_client(exchange) as client:
        with pytest.raises(OrderNotFoundError):
            await client.order_detail("7")
    skewed = FakeExchange(skew_ms=120_000)
    skewed.add_account(API_KEY, API_SECRET, PASSPHRASE)
    async with v3_client(skewed, sync_time=False) as client:
        with pytest.raises(TimestampError) as raised:
            await client.open_orders()
    assert raised.value.code == "-1046"


async def test_a_v3_client_never_calls_a_v2_path(exchange: FakeExchange) -> None:
    """With every /capi/v2/ path gone, a V3 client syncs its clock, cancels and flattens."""
    ids = exchange.place_resting_orders(API_KEY, 12, symbol="BTCUSDT")

    def no_v2(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.startswith("/capi/v2/"):
            return httpx.Response(404, json={"code": -1000, "msg": "V2 is switched off"})
        return None

    transport = Wrapped(exchange, no_v2)
    async with v3_client(exchange, transport=transport) as client:
        assert (await client.server_time()).timestamp > 0
        await client.sync_time()
        result = await client.cancel_batch_orders(ids=ids[:2])
        report = await client.cancel_orders(ids=ids[2:6])
        await client.order_detail(ids[0])
        await client.cancel_order(ids[6])
        flat = await client.cancel_everything()
    assert all(item.result for item in result.cancel_order_result_list)
    assert report.all_cancelled
    assert flat.flat
    assert not exchange.accounts[API_KEY].orders
    paths = {request.url.path for request in transport.seen}
    assert "/capi/v3/market/time" in paths
    assert not [path for path in paths if path.startswith("/capi/v2/")]


def test_a_v3_reason_is_not_said_twice() -> None:
    same = V3CancelItem("7", "", False, "FAILED_ORDER_NOT_FOUND", "FAILED_ORDER_NOT_FOUND")
    assert cancel_result(same).err_msg == "FAILED_ORDER_NOT_FOUND"
    both = V3CancelItem("7", "", False, "FAILED_ORDER_NOT_FOUND", "order does not exist")
    assert cancel_result(both).err_msg == "FAILED_ORDER_NOT_FOUND (order does not exist)"
