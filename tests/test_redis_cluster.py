"""The shared ledger through Redis Cluster: a local three-node cluster, started by the tests."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from weex_async.errors import ConfigurationError
from weex_async.testing import FakeExchange, RedisServer, free_port, serve

from .redis_worker import BUDGET, Warm
from .test_redis import LIMITS_WINDOW, SHARED_KEY, adopt_epoch
from .test_redis_config import _cancel_one

#: The ledger's keys share this hash tag: one slot, one owner.
TAG = "{weex-async}"


def _slot_owner(port: int) -> int:
    import redis

    with redis.Redis(port=port) as node:
        slot = node.cluster("keyslot", TAG)
        for entry in node.execute_command("CLUSTER", "SLOTS"):
            first, last, owner = entry[0], entry[1], entry[2]
            if first <= slot <= last:
                return int(owner[1])
    raise AssertionError("no node owns the ledger's slot")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """Three primaries on loopback, every slot assigned; the first node in the list does not own
    the ledger's slot. Started once for this module's tests (conftest runs them on one worker);
    a test that changes a node's settings puts them back."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    if shutil.which("redis-server") is None:
        if os.environ.get("WEEX_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (WEEX_REQUIRE_REDIS)")
        pytest.skip("redis-server is not installed")
    nodes: list[RedisServer] = []
    buses: list[int] = []
    try:
        for n in range(3):
            workdir = tmp_path / f"node{n}"
            workdir.mkdir()
            buses.append(free_port())
            node = RedisServer(
                workdir,
                args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(workdir / "nodes.conf"),
                    "--cluster-port",  # else port + 10000, which may be past 65535
                    str(buses[-1]),
                ],
            )
            nodes.append(node)
            node.start()
        _form(nodes, buses)
        deadline = time.monotonic() + 30
        while any(not _ready(node.port) for node in nodes):
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.02)
        owner = _slot_owner(nodes[0].port)
        nodes.sort(key=lambda node: node.port == owner)  # a node that does not own it first
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _form(nodes: list[RedisServer], buses: list[int]) -> None:
    """What ``redis-cli --cluster create`` does, without its one-second waits: each node takes a
    third of the slots (and an epoch of its own), then meets every other (left to gossip, a node
    may take seconds to learn of the third). A primary still turns ``ok`` only two seconds after
    it started (Redis's ``CLUSTER_WRITABLE_DELAY``)."""
    import redis

    slots = 16384
    for n, node in enumerate(nodes):  # (an epoch is set only on a node that knows no other)
        with redis.Redis(port=node.port) as client:
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", n + 1)
            first, last = slots * n // len(nodes), slots * (n + 1) // len(nodes)
            client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last))
    for node in nodes:
        with redis.Redis(port=node.port) as client:
            for other, bus in zip(nodes, buses, strict=True):
                if other is not node:
                    client.execute_command("CLUSTER", "MEET", "127.0.0.1", other.port, bus)


def _ready(port: int) -> bool:
    """The node sees the whole cluster: every slot served, every node known."""
    import redis

    with redis.Redis(port=port) as node:
        info = node.cluster("info")
        return bool(info.get("cluster_state") == "ok" and int(info["cluster_known_nodes"]) == 3)


def test_three_processes_share_one_budget_through_any_cluster_node(
    cluster: list[RedisServer], warm_workers: Warm
) -> None:
    """Through a node that does not own the ledger's slot (every script would be MOVED), three
    processes share one account: the whole budget used, never more, no 429."""
    adopt_epoch(cluster[0])  # a ledger in use: no restart grace to wait out (not the subject)
    exchange = FakeExchange(uid_budget=BUDGET, window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(SHARED_KEY, "shared-secret", "shared-pass")
    ids = exchange.place_resting_orders(SHARED_KEY, 30)
    with serve(exchange) as url:
        workers = [warm_workers.take(url, cluster[0].url, ids[10 * n], "10") for n in range(3)]
        outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert sum(json.loads(out)["cancelled"] for out in outputs) == 30
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= BUDGET
    assert exchange.worst_window("uid") == BUDGET  # shared, not a fallback share each


async def test_an_evicting_primary_of_the_cluster_is_refused(cluster: list[RedisServer]) -> None:
    import redis.asyncio as redis_asyncio

    async with redis_asyncio.Redis(port=cluster[-1].port) as node:
        await node.config_set("maxmemory", "10mb")
        await node.config_set("maxmemory-policy", "allkeys-lru")
        try:
            with pytest.raises(ConfigurationError, match="maxmemory-policy allkeys-lru") as caught:
                await _cancel_one(cluster[0].url)
        finally:  # the cluster serves the module's other tests
            await node.config_set("maxmemory", "0")
            await node.config_set("maxmemory-policy", "noeviction")
    assert f"node 127.0.0.1:{cluster[-1].port}" in str(caught.value)
