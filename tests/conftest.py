from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from weex_async import Credentials, WeexClient
from weex_async._checks import ApiVersion
from weex_async.testing import FakeExchange

API_KEY, API_SECRET, PASSPHRASE = (
    "key-alpha-0001",
    "secret-alpha-must-not-leak",
    "pass-alpha-hidden",
)


@pytest.fixture(autouse=True)
def _own_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test (and every process it starts) has its own state directory, so that no host
    ledger is shared with the user's or with other test runs on this machine."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("WEEX_ASYNC_LEDGER", raising=False)
    return state


@pytest.fixture
def creds() -> Credentials:
    return Credentials(API_KEY, API_SECRET, PASSPHRASE)


@pytest.fixture
def exchange() -> FakeExchange:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


@pytest.fixture
async def client(creds: Credentials, exchange: FakeExchange) -> AsyncIterator[WeexClient]:
    async with WeexClient(creds, base_url="http://fake", transport=exchange.transport()) as client:
        yield client


@pytest.fixture(params=["v2", "v3"])
def version(request: pytest.FixtureRequest) -> ApiVersion:
    version: ApiVersion = request.param
    return version


@pytest.fixture
async def vclient(
    creds: Credentials, exchange: FakeExchange, version: ApiVersion
) -> AsyncIterator[WeexClient]:
    async with WeexClient(
        creds, base_url="http://fake", transport=exchange.transport(), api_version=version
    ) as client:
        yield client
