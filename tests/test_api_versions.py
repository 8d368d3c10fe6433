"""V2 and V3 batch cancel: the same engine code, the same result types, the same outcomes."""

from __future__ import annotations

import json

import httpx
import pytest

from weex_async import BatchCancelResult, CancelOrderResult, Credentials, WeexClient
from weex_async._checks import ApiVersion
from weex_async._client import API
from weex_async._decode import make_converter
from weex_async.errors import ConfigurationError, InvalidRequestError
from weex_async.testing import FakeExchange

from .conftest import API_KEY
from .helpers import recording

# WEEX's documented V3 answer (DELETE /capi/v3/batchOrders).
V3_EXAMPLE = [
    {
        "orderId": "702345678901234567",
        "origClientOrderId": "",
        "success": True,
        "errorCode": "",
        "errorMessage": "",
    },
    {
        "orderId": "702345678901234568",
        "origClientOrderId": "",
        "success": False,
        "errorCode": "ORDER_NOT_FOUND",
        "errorMessage": "orderId not exist",
    },
]


def test_v3_documented_answer_decodes_strictly_into_the_v2_types() -> None:
    call = API["v3"].cancel_batch_orders(["702345678901234567"], None, None)
    result = call.result(httpx.Response(200, json=V3_EXAMPLE), make_converter(strict=True))
    not_found = CancelOrderResult(
        "702345678901234568", "", False, "ORDER_NOT_FOUND (orderId not exist)", "ORDER_NOT_FOUND"
    )
    assert result == BatchCancelResult(
        result=False,
        order_ids=("702345678901234567",),
        client_oids=(),
        cancel_order_result_list=(
            CancelOrderResult("702345678901234567", "", True, "", None),
            not_found,
        ),
        fail_infos=(not_found,),
    )


async def test_v3_request_is_a_signed_delete_with_numeric_ids() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=V3_EXAMPLE[:1])

    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version="v3",
        transport=httpx.MockTransport(handler),
        sync_time=False,
    ) as client:
        result = await client.cancel_batch_orders(ids=["702345678901234567"], symbol="BTCUSDT")
    (request,) = seen
    assert (request.method, request.url.path) == ("DELETE", "/capi/v3/batchOrders")
    assert request.content == b'{"orderIdList":[702345678901234567]}'  # exact: no float
    assert json.loads(request.content)["orderIdList"][0] == 702345678901234567
    assert result.cancel_order_result_list[0].order_id == "702345678901234567"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": [str(10**17 + i) for i in range(11)]}, "at most 10"),
        ({"cids": ["has space"]}, "does not match"),
        ({"cids": ["x" * 37]}, "does not match"),
    ],
)
async def test_v3_refusals_send_nothing(kwargs: dict[str, object], message: str) -> None:
    calls: list[httpx.Request] = []
    async with WeexClient(
        Credentials("k", "s", "p"),
        base_url="https://api.test",
        api_version="v3",
        transport=recording(calls),
    ) as client:
        with pytest.raises(InvalidRequestError, match=message):
            await client.cancel_batch_orders(**kwargs)  # type: ignore[arg-type]
        report = await client.cancel_orders(cids=["bad id"])
    assert report.failed["bad id"].startswith("not sent: client order id 'bad id'")
    assert calls == []


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="api_version"):
        WeexClient(api_version="v4")  # type: ignore[arg-type]  # refused at run time too


async def engine(client: WeexClient, ids: list[str]) -> tuple[tuple[str, ...], set[str], int]:
    """Code a user writes once: it must not care which API version is underneath."""
    report = await client.cancel_orders(ids=ids)
    return report.cancelled, set(report.failed), len(report.unknown)


@pytest.mark.parametrize("version", ["v2", "v3"])
async def test_same_engine_code_same_outcomes(creds: Credentials, version: ApiVersion) -> None:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, creds.api_secret, creds.passphrase)
    ids = exchange.place_resting_orders(API_KEY, 35)
    exchange.accounts[API_KEY].orders.pop(ids[7])  # filled meanwhile
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), api_version=version
    ) as client:
        cancelled, failed, unknown = await engine(client, [*ids, "123"])
        report = await client.cancel_orders(ids=ids[:3])  # already gone
    assert cancelled == tuple(i for i in ids if i != ids[7])
    assert failed == {ids[7], "123"}
    assert unknown == 0
    assert all("NOT_FOUND" in reason for reason in report.failed.values())
    calls = [a for a in exchange.arrivals if not a.path.endswith("/market/time")]
    assert len(calls) == (1 + 1 if version == "v2" else 4 + 1)  # 36 ids: 1 call of 50 or 4 of 10
    assert all(a.uid_weight == 10 and a.ip_weight == 5 for a in calls)


async def test_v3_by_client_ids_against_the_fake(creds: Credentials) -> None:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, creds.api_secret, creds.passphrase)
    exchange.place_resting_orders(API_KEY, client_oids=["mm.1", "mm:2"])
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), api_version="v3"
    ) as client:
        result = await client.cancel_batch_orders(cids=["mm.1", "mm:2", "mm-3"])
    assert result.client_oids == ("mm.1", "mm:2")
    assert [i.result for i in result.cancel_order_result_list] == [True, True, False]
