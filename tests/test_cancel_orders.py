"""cancel_orders: every order accounted for, whatever the network and the exchange do."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weex_async import Budget, CancelReport, Credentials, RateLimits, RetryPolicy, WeexClient
from weex_async._cancel import MAYBE_CANCELLED_EARLIER
from weex_async._checks import ApiVersion
from weex_async.errors import InvalidRequestError
from weex_async.testing import FakeExchange, Fault

from . import helpers
from .conftest import API_KEY, API_SECRET, PASSPHRASE
from .helpers import BAD_SIGNATURE, NOT_FOUND, PER_BATCH, check, client_for, until
from .manual_clock import settle

ROOMY = RateLimits(  # as helpers.ROOMY
    ip=Budget(1_000_000, 1.0), uid=Budget(1_000_000, 1.0), trade=None, arrival_jitter=0.0, ban=0.02
)
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_initial=0.005, backoff_max=0.02)

#: Every fault test runs on both API versions (``fast_client`` speaks the version under test),
#: except those about V2's own answers (``only_on("v2")``).
pytestmark = pytest.mark.usefixtures("version", "jumping_clock")


@pytest.fixture
async def fast_client(exchange: FakeExchange, version: ApiVersion) -> AsyncIterator[WeexClient]:
    exchange.faults.slow_delay = 1.0
    exchange.ip_budget = exchange.uid_budget = 10**9  # the budgets out of the way, both sides
    async with client_for(exchange, version=version, retry=FAST_RETRY) as client:  # 4 attempts
        yield client


async def test_all_cancelled_across_many_batches(
    exchange: FakeExchange, fast_client: WeexClient, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 237)
    report = await fast_client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert report.all_cancelled
    assert list(report.cancelled) == ids
    assert report.calls == math.ceil(237 / PER_BATCH[version])  # V2: 5 batches of 50; V3: 24


async def test_partial_failure_and_unknown_ids(
    exchange: FakeExchange, fast_client: WeexClient, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 30)
    asked = [*ids[:20], "111", "222"]
    exchange.accounts[API_KEY].orders.pop(ids[5])  # filled meanwhile
    report = await fast_client.cancel_orders(ids=asked)
    check(report, asked, exchange)
    assert report.failed == dict.fromkeys([ids[5], "111", "222"], NOT_FOUND[version])
    assert len(report.cancelled) == 19
    assert not report.unknown


async def test_duplicates_are_cancelled_once_and_reported_once(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 3)
    report = await fast_client.cancel_orders(ids=[ids[0], ids[1], ids[0], ids[2], ids[1]])
    assert report.cancelled == tuple(ids)
    assert len(report) == 3


async def test_by_client_ids(exchange: FakeExchange, fast_client: WeexClient) -> None:
    exchange.place_resting_orders(API_KEY, client_oids=[f"mm-{i}" for i in range(60)])
    asked = [f"mm-{i}" for i in range(65)]
    report = await fast_client.cancel_orders(cids=asked)
    assert len(report.cancelled) == 60
    assert set(report.failed) == {f"mm-{i}" for i in range(60, 65)}


async def test_empty_list_sends_nothing(exchange: FakeExchange, fast_client: WeexClient) -> None:
    before = exchange.requests
    assert await fast_client.cancel_orders(ids=[]) == CancelReport()
    assert exchange.requests == before


async def test_bad_arguments_send_nothing(exchange: FakeExchange, fast_client: WeexClient) -> None:
    with pytest.raises(InvalidRequestError):
        await fast_client.cancel_orders(ids="1")
    with pytest.raises(InvalidRequestError):
        await fast_client.cancel_orders(ids=["1"], batch_size=51)
    report = await fast_client.cancel_orders(ids=["x"])  # a malformed id fails on its own
    assert report.failed == {
        "x": "not sent: order id 'x' is not a decimal string of 1 to 20 digits"
    }
    assert exchange.requests == 0


async def test_an_id_beyond_a_java_long_is_not_sent_and_the_others_are_cancelled(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 9)
    too_big = ["9223372036854775808", "18446744073709551615", "99999999999999999999"]
    report = await fast_client.cancel_orders(ids=[*too_big, 2**64, *ids])
    assert report.cancelled == tuple(ids)
    for name in [*too_big, str(2**64)]:
        assert report.failed[name].startswith("not sent: ")
        assert "9223372036854775807" in report.failed[name]
    assert set(report.failed) == {*too_big, str(2**64)}
    largest = await fast_client.cancel_orders(ids=[str(2**63 - 1)])
    assert not largest.failed.get(str(2**63 - 1), "").startswith("not sent")
    with pytest.raises(InvalidRequestError, match="9223372036854775807"):
        await fast_client.cancel_batch_orders(ids=[too_big[0]])
    with pytest.raises(InvalidRequestError, match="9223372036854775807"):
        await fast_client.order_detail(2**63)


@pytest.mark.parametrize(
    "fault",
    [Fault.SERVER_ERROR, Fault.EMPTY_521, Fault.BAD_JSON, Fault.DROP_BEFORE, Fault.RATE_LIMIT],
)
async def test_a_fault_that_did_nothing_is_retried_to_success(
    exchange: FakeExchange, fast_client: WeexClient, fault: Fault
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 10)
    exchange.faults.next(fault, times=2)
    report = await fast_client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert report.all_cancelled
    assert report.calls == 3


@pytest.mark.parametrize("fault", [Fault.DROP_AFTER, Fault.SLOW])
async def test_a_lost_answer_then_not_found_is_unknown_without_a_lookup(
    exchange: FakeExchange, fast_client: WeexClient, fault: Fault
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 4)
    exchange.faults.next(fault)
    report = await fast_client.cancel_orders(ids=ids, confirm=False)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    assert all(MAYBE_CANCELLED_EARLIER in reason for reason in report.unknown.values())
    assert exchange.accounts[API_KEY].orders == {}  # gone either way


@pytest.mark.parametrize("fault", [Fault.DROP_AFTER, Fault.SLOW])
async def test_a_lost_answer_then_not_found_is_settled_by_a_lookup(
    exchange: FakeExchange, fast_client: WeexClient, fault: Fault, version: ApiVersion
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 4)
    exchange.faults.next(fault)
    report = await fast_client.cancel_orders(ids=ids)
    check(report, ids, exchange)
    assert report.cancelled == tuple(ids)  # the lost attempt did it: the look says so
    # the lost attempt, the "not found" one, then the cheaper look: on V2 four lookups (UID 2
    # each) weigh less than one order-history page (UID 10); on V3 (UID 3 each) the page does
    assert report.calls == 2 + (4 if version == "v2" else 1)


async def test_retries_run_out_then_unknown_with_the_last_error(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 5)
    exchange.faults.next(Fault.SERVER_ERROR, times=4)
    report = await fast_client.cancel_orders(ids=ids, confirm=False)
    check(report, ids, exchange)
    assert set(report.unknown) == set(ids)
    assert all("4 attempt(s)" in r and "ServerError" in r for r in report.unknown.values())


async def test_auth_error_is_attempted_once_and_reported_failed(
    exchange: FakeExchange, version: ApiVersion
) -> None:
    bad = Credentials(API_KEY, "not-the-secret", PASSPHRASE)
    async with WeexClient(
        bad,
        base_url="http://fake",
        transport=exchange.transport(),
        rate_limits=ROOMY,
        api_version=version,
    ) as client:
        ids = exchange.place_resting_orders(API_KEY, 3)
        await client.sync_time()
        before = exchange.requests
        report = await client.cancel_orders(ids=ids)
    assert exchange.requests - before == 1
    assert set(report.failed) == set(ids)
    assert all(reason.startswith(BAD_SIGNATURE[version]) for reason in report.failed.values())


@pytest.mark.only_on("v2")  # V2's 40912 ("cannot exceed"): V3's maximum is documented
async def test_too_many_ids_splits_and_remembers(creds: Credentials) -> None:
    exchange = FakeExchange(max_ids_per_call=10)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), rate_limits=ROOMY
    ) as client:
        ids = exchange.place_resting_orders(API_KEY, 40)
        report = await client.cancel_orders(ids=ids)
        check(report, ids, exchange)
        assert report.all_cancelled
        first_calls = report.calls
        ids = exchange.place_resting_orders(API_KEY, 40)
        report = await client.cancel_orders(ids=ids)
    assert report.all_cancelled
    assert first_calls > 4
    assert report.calls == 4


async def test_clock_skew_beyond_30s_mid_session(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 5)
    await fast_client.cancel_orders(ids=ids[:1])  # syncs with the exchange's clock
    exchange.skew_ms = 45_000  # the exchange's clock jumps
    report = await fast_client.cancel_orders(ids=ids[1:])
    check(report, ids[1:], exchange)
    assert report.all_cancelled
    assert report.calls == 2


async def test_deadline_reports_the_rest_unknown(
    exchange: FakeExchange, creds: Credentials, version: ApiVersion
) -> None:
    exchange.faults.slow_delay = 1.0
    exchange.faults.next(Fault.SLOW, times=100)
    async with WeexClient(
        creds,
        base_url="http://fake",
        api_version=version,
        transport=exchange.transport(),
        rate_limits=ROOMY,
        timeout=5.0,
    ) as client:
        ids = exchange.place_resting_orders(API_KEY, 10)
        report = await client.cancel_orders(ids=ids, deadline=0.1)
        check(report, ids, exchange)
        assert set(report.unknown) == set(ids)
        assert all("deadline" in reason for reason in report.unknown.values())
        assert [s.used for s in client.rate_limit_status() if s.name == "in-flight"] == [0]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_fault_mixture(
    exchange: FakeExchange, fast_client: WeexClient, seed: int
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 400)
    exchange.faults.randomly(0.2, seed=seed)
    report = await fast_client.cancel_orders(ids=ids, batch_size=10)
    check(report, ids, exchange)
    definite = len(report.cancelled) + len(report.failed)
    assert definite >= 0.98 * len(ids)


@settings(max_examples=40, deadline=None)
@given(
    opened=st.integers(min_value=1, max_value=120),
    gone=st.integers(min_value=0, max_value=10),
    batch_size=st.integers(min_value=1, max_value=50),
    rate=st.floats(min_value=0.0, max_value=0.7),
    kinds=st.lists(st.sampled_from(list(Fault)), min_size=1, unique=True),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_every_id_one_outcome_nothing_falsely_cancelled(
    opened: int, gone: int, batch_size: int, rate: float, kinds: list[Fault], seed: int
) -> None:
    """Any mixture of faults, any batch size: the report's promises hold (see ``check``)."""
    exchange = FakeExchange(ip_budget=10**9, uid_budget=10**9)
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    exchange.faults.slow_delay = 0.05
    ids = exchange.place_resting_orders(API_KEY, opened)
    asked = ids + [str(10**17 + n) for n in range(gone)]  # never opened: "not found"
    exchange.faults.randomly(rate, kinds, seed=seed)
    async with WeexClient(
        Credentials(API_KEY, API_SECRET, PASSPHRASE),
        base_url="http://fake",
        api_version=helpers.VERSION_UNDER_TEST,  # the ``version`` fixture's (not an argument:
        transport=exchange.transport(),  # hypothesis refuses function-scoped fixtures there)
        rate_limits=ROOMY,
        retry=FAST_RETRY,
        timeout=0.02,
    ) as client:
        report = await client.cancel_orders(ids=asked, batch_size=batch_size)
    check(report, asked, exchange)


# -- cancellation safety ---------------------------------------------------------------------------


async def test_caller_cancelled_while_waiting_for_budget_charges_nothing(
    exchange: FakeExchange, creds: Credentials, version: ApiVersion
) -> None:
    tight = RateLimits(ip=Budget(500, 60.0), uid=Budget(10, 60.0), trade=None)
    async with WeexClient(
        creds,
        base_url="http://fake",
        transport=exchange.transport(),
        rate_limits=tight,
        api_version=version,
    ) as client:
        ids = exchange.place_resting_orders(API_KEY, 30)
        task = asyncio.ensure_future(client.cancel_orders(ids=ids, batch_size=10))
        await until(lambda: len(exchange.accounts[API_KEY].cancelled) == 10)
        await settle()  # the other batches reach the queue, waiting for the budget
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        status = {s.name.split(":")[0]: s for s in client.rate_limit_status()}
        assert status["uid"].used == 10
        assert status["uid"].waiting == 0
        assert status["in-flight"].used == 0
        assert len(exchange.accounts[API_KEY].cancelled) == 10  # only the admitted batch went
        assert (await client.server_time()).timestamp > 0  # still usable


async def test_caller_cancelled_while_in_flight_frees_the_slot(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    exchange.faults.slow_delay = 0.08
    exchange.faults.next(Fault.SLOW)
    ids = exchange.place_resting_orders(API_KEY, 3)
    task = asyncio.ensure_future(fast_client.cancel_orders(ids=ids))
    await until(lambda: Fault.SLOW in exchange.faults.injected)  # handled; its answer waits
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [s.used for s in fast_client.rate_limit_status() if s.name == "in-flight"] == [0]
    assert (await fast_client.cancel_orders(ids=ids)).calls == 1


async def test_debug_logs_carry_no_secret(
    exchange: FakeExchange, fast_client: WeexClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = exchange.place_resting_orders(API_KEY, 30)
    exchange.faults.randomly(0.3, seed=7)
    await fast_client.cancel_orders(ids=ids, batch_size=5)
    exchange.faults.next(Fault.RATE_LIMIT)
    await fast_client.cancel_orders(ids=["1"])
    text = caplog.text
    assert re.search(r"cancel_batch_orders(_v3)? attempt", text)
    assert "pausing" in text
    assert API_SECRET not in text
    assert PASSPHRASE not in text
    assert "ACCESS-SIGN" not in text.upper().replace("_", "-")


async def test_429_storm_every_order_still_accounted_for(
    exchange: FakeExchange, fast_client: WeexClient
) -> None:
    ids = exchange.place_resting_orders(API_KEY, 25)
    exchange.faults.next(Fault.RATE_LIMIT, times=1000)
    report = await fast_client.cancel_orders(ids=ids, batch_size=5)
    check(report, ids, exchange)
    assert set(report.failed) == set(ids)  # refused by the exchange, never sent on to cancel
    assert all(reason.startswith("429") for reason in report.failed.values())
    assert report.calls == 5 * FAST_RETRY.max_attempts  # each batch retried, then given up
    assert exchange.accounts[API_KEY].cancelled == []
