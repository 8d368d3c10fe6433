from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from weex_async import Credentials, WeexClient
from weex_async._checks import ApiVersion
from weex_async.testing import FakeExchange

from .redis_worker import Warm

API_KEY, API_SECRET, PASSPHRASE = (
    "key-alpha-0001",
    "secret-alpha-must-not-leak",
    "pass-alpha-hidden",
)


#: ``WEEX_TEST_LOOP=uvloop`` (``nox -s tests-uvloop``) runs the whole suite on uvloop, as many
#: market makers run: every loop the tests make (pytest-asyncio's and ``asyncio.run``'s) is one.
TEST_LOOP = os.environ.get("WEEX_TEST_LOOP", "asyncio")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "only_on(version): a test of one version's own answers, in a module run on both versions",
    )
    config.addinivalue_line(
        "markers",
        "real_time(why): a test on real sockets or processes, kept off jumping time",
    )
    config.addinivalue_line(  # pytest-xdist's own (ONE_AT_A_TIME): known without it too
        "markers", "xdist_group(name): the tests of one group run on one worker, in turn"
    )
    if TEST_LOOP == "uvloop":
        uvloop = importlib.import_module("uvloop")  # the session installs it
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif TEST_LOOP != "asyncio":
        raise pytest.UsageError(f"WEEX_TEST_LOOP must be asyncio or uvloop, got {TEST_LOOP!r}")


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


#: The worker processes of the multi-process tests on this pytest worker
_WARM = Warm()


@pytest.fixture
def warm_workers() -> Warm:
    """The multi-process tests' worker processes (``tests/redis_worker.py``), forked from a
    process that has imported them already: ``warm_workers.take(url, ledger, first, count)``.
    That process (one per pytest worker) is started after the test before the first that uses
    it, or by that test."""
    return _WARM


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is not None and "warm_workers" in getattr(nextitem, "fixturenames", ()):
        _WARM.refill(3)


def pytest_sessionfinish(session: pytest.Session) -> None:
    _WARM.close()


@pytest.fixture
def creds() -> Credentials:
    return Credentials(API_KEY, API_SECRET, PASSPHRASE)


@pytest.fixture
def exchange() -> FakeExchange:
    exchange = FakeExchange()
    exchange.add_account(API_KEY, API_SECRET, PASSPHRASE)
    return exchange


@pytest.fixture
async def client(exchange: FakeExchange) -> AsyncIterator[WeexClient]:
    """A V2 client of the account on ``exchange``, with the client's own defaults."""
    from .helpers import client_for  # helpers imports this module: not at the top

    async with client_for(exchange, version="v2", roomy=False) as client:
        yield client


@pytest.fixture(params=["v2", "v3"])
def version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ApiVersion:
    """Each API version in turn. ``helpers.client_for`` speaks it unless told otherwise, so a
    module runs every test on both with ``pytestmark = pytest.mark.usefixtures("version")``."""
    from . import helpers  # helpers imports this module: not at the top

    version: ApiVersion = request.param
    monkeypatch.setattr(helpers, "VERSION_UNDER_TEST", version)
    return version


#: The modules whose tests wait longest (on processes, sockets, Redis, rate-limit windows): run
#: first, so that with several workers (``nox -s tests``: pytest-xdist) the long waits start at
#: once and the short tests fill the gaps, instead of a long test starting last and running alone.
WAITING_FIRST = (
    "test_redis_faults.py",
    "test_redis.py",
    "test_redis_cluster.py",
    "test_shared_hold.py",
    "test_guard.py",
    "test_redis_config.py",
    "test_cli_operator.py",
    "test_cli.py",
    "test_host_ledger.py",
    "test_cli_ledger.py",
    "test_docs.py",
)


#: Modules whose tests run one after another on one worker (``--dist loadgroup``): the Redis
#: restarts, three processes each through a Redis that is killed, which must not starve each
#: other of the machine's cores (their ledgers' timing is what they test).
ONE_AT_A_TIME = ("test_redis_faults.py",)
#: Modules whose tests share a module-scoped fixture that takes seconds to build (a Redis
#: Cluster): on one worker too, so that it is built once, not once per worker.
ONE_WORKER = ("test_redis_cluster.py",)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``, with each module of ``ONE_AT_A_TIME`` and ``ONE_WORKER`` one group
    (its tests on one worker, in turn), every other test on its own. pytest-xdist 3.8 groups by
    a suffix it writes into each test's node id, which pytest 9.2 ignores (pytest-xdist issue
    1386): the Redis restarts ran on several workers at once. The scheduler is told the groups
    by module name instead."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class ModuleGroups(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            if module in ONE_AT_A_TIME + ONE_WORKER:
                return module
            return str(super()._split_scope(nodeid))

    return ModuleGroups(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An ``only_on("v2")`` test runs once, on V2: its other variant is deselected, not skipped.
    The modules of ``WAITING_FIRST`` run first (in that order; the rest keep theirs)."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        running = callspec.params.get("version") if callspec is not None else None
        only = item.get_closest_marker("only_on")
        (drop if only and running and running != only.args[0] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    rank = {name: n for n, name in enumerate(WAITING_FIRST)}
    keep.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept within
    items[:] = keep


@pytest.fixture
async def vclient(exchange: FakeExchange, version: ApiVersion) -> AsyncIterator[WeexClient]:
    """``client`` on the version under test."""
    from .helpers import client_for  # helpers imports this module: not at the top

    async with client_for(exchange, version=version, roomy=False) as client:
        yield client


@pytest.fixture
async def jumping_clock(request: pytest.FixtureRequest) -> AsyncIterator[bool]:
    """The test's event loop on jumping time (``manual_clock.jumping_time``): a module whose
    code waits only on its own loop opts in with ``pytest.mark.usefixtures("jumping_clock")``,
    and its timeouts, backoffs and deadlines pass at once. A test of it on real sockets says
    ``@pytest.mark.real_time("why")`` and keeps the wall's time."""
    from .manual_clock import jumping_time

    if request.node.get_closest_marker("real_time"):
        yield False
        return
    with jumping_time(asyncio.get_running_loop()) as jumping:
        yield jumping
