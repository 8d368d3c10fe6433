"""WeexClient: refusals before sending, lifecycle, retries that are safe, errors as documented."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from weex_async import Credentials, WeexClient, sign
from weex_async.errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    InvalidRequestError,
    NonJSONResponseError,
    RequestTimeoutError,
    TimestampError,
    TransportError,
)
from weex_async.testing import FakeExchange, Fault

#: In process only: timeouts, backoffs and deadlines pass at once on jumping time (conftest).
pytestmark = pytest.mark.usefixtures("jumping_clock")

BASE = "https://api.test"
CANCEL = f"{BASE}/capi/v2/order/cancel_batch_orders"
TIME = f"{BASE}/capi/v2/market/time"
OK = {
    "result": True,
    "orderIds": [],
    "clientOids": [],
    "cancelOrderResultList": [],
    "failInfos": [],
}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": ["1"], "cids": ["a"]}, "not both"),
        ({}, "pass ids or cids"),
        ({"ids": []}, "empty"),
        ({"cids": []}, "empty"),
        ({"ids": [str(i) for i in range(51)]}, "at most 50"),
        ({"ids": ["12a"]}, "not a decimal"),
        ({"ids": [5964710646.5]}, "must contain strings or integers"),
        ({"ids": [2**64]}, "not a positive 64-bit integer"),
        ({"ids": ["1.5"]}, "not a decimal"),
        ({"ids": "596471064624628269"}, "not a single string"),
        ({"cids": ["x" * 41]}, "1 to 40"),
        ({"cids": [""]}, "1 to 40"),
        ({"ids": ["1"], "symbol": ""}, "symbol"),
    ],
)
async def test_refusals_send_nothing(kwargs: dict[str, object], message: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.route()
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE) as client:
            with pytest.raises(InvalidRequestError, match=message):
                await client.cancel_batch_orders(**kwargs)  # type: ignore[arg-type]
        assert route.call_count == 0


async def test_exactly_fifty_is_one_request() -> None:
    with respx.mock() as router:
        route = router.post(CANCEL).respond(json=OK)
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE, sync_time=False) as c:
            await c.cancel_batch_orders(ids=[str(10**17 + i) for i in range(50)])
        assert route.call_count == 1


async def test_closed_client_refuses_reuse() -> None:
    client = WeexClient(Credentials("k", "s", "p"), base_url=BASE)
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(ClientClosedError, match="closed"):
        await client.cancel_batch_orders(ids=["1"])
    with pytest.raises(ClientClosedError):
        async with client:
            pass


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        WeexClient(base_url="ftp://x")
    with pytest.raises(ConfigurationError):
        WeexClient(max_in_flight=0)


async def test_private_call_without_credentials() -> None:
    async with WeexClient(base_url=BASE) as client:
        with pytest.raises(ConfigurationError, match="credentials"):
            await client.cancel_batch_orders(ids=["1"])


async def test_auth_error_is_attempted_once() -> None:
    with respx.mock() as router:
        route = router.post(CANCEL).respond(400, json={"code": "40009", "msg": "sign error"})
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE, sync_time=False) as c:
            with pytest.raises(AuthenticationError):
                await c.cancel_batch_orders(ids=["1"])
        assert route.call_count == 1


async def test_expired_timestamp_resyncs_and_retries_once_with_a_fresh_signature() -> None:
    with respx.mock() as router:
        times = router.get(TIME).respond(json={"timestamp": 1_700_000_000_000})
        cancel = router.post(CANCEL)
        cancel.side_effect = [
            httpx.Response(400, json={"code": "40008", "msg": "expired"}),
            httpx.Response(200, json=OK),
        ]
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE) as client:
            await client.cancel_batch_orders(ids=["1"])
        assert cancel.call_count == 2
        assert times.call_count == 6  # first sync (3 samples), resync after 40008 (3 samples)
        for call in cancel.calls:  # each attempt signed over its own, fresh timestamp
            request = call.request
            assert request.headers["ACCESS-SIGN"] == sign(
                "s",
                request.headers["ACCESS-TIMESTAMP"],
                "POST",
                "/capi/v2/order/cancel_batch_orders",
                request.content,
            )


async def test_timestamp_error_twice_is_raised() -> None:
    with respx.mock() as router:
        router.get(TIME).respond(json={"timestamp": 1_700_000_000_000})
        cancel = router.post(CANCEL).respond(400, json={"code": "40008", "msg": "expired"})
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE) as client:
            with pytest.raises(TimestampError):
                await client.cancel_batch_orders(ids=["1"])
        assert cancel.call_count == 2


async def test_transport_errors_are_typed() -> None:
    with respx.mock() as router:
        router.post(CANCEL).side_effect = httpx.ConnectError("refused")
        async with WeexClient(Credentials("k", "s", "p"), base_url=BASE, sync_time=False) as c:
            with pytest.raises(TransportError, match="ConnectError"):
                await c.cancel_batch_orders(ids=["1"])


async def test_timeout_against_a_slow_fake_exchange(
    exchange: FakeExchange, creds: Credentials
) -> None:
    exchange.faults.slow_delay = 5.0
    exchange.faults.next(Fault.SLOW)
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), timeout=0.05
    ) as client:
        with pytest.raises(RequestTimeoutError):
            await client.cancel_batch_orders(ids=["1"])
        assert client.rate_limit_status()  # still usable
        assert (await client.cancel_batch_orders(ids=["2"])).result is False


async def test_521_empty_body_is_non_json_error(exchange: FakeExchange, client: WeexClient) -> None:
    exchange.faults.next(Fault.EMPTY_521)
    with pytest.raises(NonJSONResponseError) as info:
        await client.cancel_batch_orders(ids=["1"])
    assert info.value.status_code == 521


async def test_end_to_end_against_the_fake_exchange(
    exchange: FakeExchange, client: WeexClient, creds: Credentials
) -> None:
    ids = exchange.place_resting_orders(creds.api_key, 3)
    result = await client.cancel_batch_orders(ids=[*ids, "123"], symbol="cmt_btcusdt")
    assert [item.result for item in result.cancel_order_result_list] == [True, True, True, False]
    assert result.fail_infos[0].order_id == "123"
    assert result.fail_infos[0].err_msg == "FAILED_ORDER_NOT_FOUND"
    assert set(result.order_ids) == set(ids)
    assert exchange.accounts[creds.api_key].orders == {}


async def test_cancel_by_client_ids(
    exchange: FakeExchange, client: WeexClient, creds: Credentials
) -> None:
    exchange.place_resting_orders(creds.api_key, client_oids=["mm-1", "mm-2"])
    result = await client.cancel_batch_orders(cids=["mm-1", "mm-2", "mm-3"])
    assert result.client_oids == ("mm-1", "mm-2")
    assert [i.result for i in result.cancel_order_result_list] == [True, True, False]


async def test_wrong_secret_is_an_authentication_error(exchange: FakeExchange) -> None:
    bad = Credentials("key-alpha-0001", "wrong-secret", "pass-alpha-hidden")
    async with WeexClient(bad, base_url="http://fake", transport=exchange.transport()) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.cancel_batch_orders(ids=["1"])
    assert info.value.code == "40009"
    assert "wrong-secret" not in str(info.value)


async def test_skewed_exchange_clock_is_followed(creds: Credentials) -> None:
    exchange = FakeExchange(skew_ms=-45_000)  # beyond WEEX's 30 s tolerance
    exchange.add_account(creds.api_key, creds.api_secret, creds.passphrase)
    async with WeexClient(creds, base_url="http://fake", transport=exchange.transport()) as client:
        await client.cancel_batch_orders(ids=["1"])
        assert -46_000 < client.time_offset_ms < -44_000
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), sync_time=False
    ) as client:
        with pytest.raises(TimestampError):
            await client.cancel_batch_orders(ids=["1"])


@pytest.mark.parametrize("fault", [Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.SLOW])
async def test_failed_requests_give_their_in_flight_slot_back(
    exchange: FakeExchange, creds: Credentials, fault: Fault
) -> None:
    exchange.faults.slow_delay = 5.0
    async with WeexClient(
        creds,
        base_url="http://fake",
        transport=exchange.transport(),
        max_in_flight=2,
        timeout=0.05,
    ) as client:
        for _ in range(5):  # more failures than slots: a leaked slot would hang a later call
            exchange.faults.next(fault)
            with pytest.raises(TransportError):
                await asyncio.wait_for(client.cancel_batch_orders(ids=["1"]), 5)
        assert [s.used for s in client.rate_limit_status() if s.name == "in-flight"] == [0]
        answer = await asyncio.wait_for(client.cancel_batch_orders(ids=["2"]), 5)
        assert answer.result is False  # still works
