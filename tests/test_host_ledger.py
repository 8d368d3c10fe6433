"""Several processes on one host, one budget: the host ledger (a file, no server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings

from weex_async import RateLimits
from weex_async._limiter._host import HostLedger, default_path
from weex_async._limiter._ledger import LedgerReset
from weex_async._limiter._pools import WindowPool
from weex_async.errors import ConfigurationError
from weex_async.testing import FakeExchange, serve

from .redis_worker import Warm
from .test_redis import LIMITS_WINDOW, ROOT, SHARED_KEY, ledger_calls


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[HostLedger]:
    ledger = HostLedger(tmp_path / "ledger.sqlite3")
    await ledger.republish(await ledger.current_epoch(), [])  # adopt the epoch
    yield ledger
    await ledger.aclose()


async def test_reserve_charges_up_to_the_budget_then_names_the_wait(ledger: HostLedger) -> None:
    key = ledger.key("uid", "k")
    for _ in range(3):
        wait, members = await ledger.try_reserve([(key, 3, 5.0, 1)])
        assert wait == 0
        assert len(members) == 1
    wait, members = await ledger.try_reserve([(key, 3, 5.0, 1)])
    assert members == []
    # the first charge is on the wire (held a lease ahead): it frees one window after its
    # answer at the earliest, so the caller asks again one window from now, not a lease later
    assert 4.9 < wait <= 5.0


async def test_all_pools_or_none(ledger: HostLedger) -> None:
    ip, uid = ledger.key("ip"), ledger.key("uid")
    assert (await ledger.try_reserve([(uid, 1, 5.0, 1)]))[0] == 0
    wait, _ = await ledger.try_reserve([(ip, 10, 5.0, 1), (uid, 1, 5.0, 1)])
    assert wait > 0
    # the IP pool was not charged by the call that did not fit
    for _ in range(10):
        assert (await ledger.try_reserve([(ip, 10, 5.0, 1)]))[0] == 0


async def test_settle_counts_one_window_from_the_answer(ledger: HostLedger) -> None:
    key = ledger.key("s")
    members = await ledger.reserve([(key, 1, 0.2, 1)])
    await ledger.settle([(key, 0.2, members[0])], 0.0)  # given up now: one window from now
    wait, _ = await ledger.try_reserve([(key, 1, 0.2, 1)])
    assert 0 < wait <= 0.2  # no longer a lease ahead
    # the ledger's clock is the host's monotonic one; a loop's timer may fire up to a
    # millisecond early (uvloop rounds to whole milliseconds), so sleep a little past the wait
    await asyncio.sleep(wait + 0.005)
    assert (await ledger.try_reserve([(key, 1, 0.2, 1)]))[0] == 0


async def test_pause_is_shared_and_never_shortened(tmp_path: Path) -> None:
    one, two = HostLedger(tmp_path / "l"), HostLedger(tmp_path / "l")
    for led in (one, two):
        await led.republish(await led.current_epoch(), [])
    await one.pause(["p"], 5.0)
    await one.pause(["p"], 1.0)
    wait, _ = await two.try_reserve([("p", 10, 1.0, 1)])
    assert 4.0 < wait <= 5.0
    await one.aclose()
    await two.aclose()


async def test_an_unknown_epoch_must_republish_first(tmp_path: Path) -> None:
    ledger = HostLedger(tmp_path / "l")
    with pytest.raises(LedgerReset):
        await ledger.try_reserve([("k", 1, 1.0, 1)])
    await ledger.aclose()


def test_the_file_lives_in_the_user_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = Path(os.environ["XDG_STATE_HOME"])  # the autouse fixture's (tests/conftest.py)
    assert default_path() == state / "weex-async" / "ledger.sqlite3"
    limits = RateLimits(ledger="host")
    assert limits.shared_ledger == default_path().as_uri()
    assert default_path().exists()
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")  # ignored, as XDG says
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".local" / "state" / "weex-async" / "ledger.sqlite3"
    named = tmp_path / "mine.db"
    assert RateLimits(ledger=named.as_uri()).shared_ledger == named.as_uri()


def test_ledger_setting_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert RateLimits().shared_ledger is None
    assert RateLimits(ledger="process").shared_ledger is None
    assert RateLimits.from_env().ledger == "process"
    assert RateLimits.from_env(default_ledger="host").ledger == "host"
    monkeypatch.setenv("WEEX_ASYNC_LEDGER", "host")
    assert RateLimits.from_env().ledger == "host"
    monkeypatch.setenv("WEEX_ASYNC_LEDGER", "process")
    assert RateLimits.from_env(default_ledger="host").shared_ledger is None
    for wrong in ("hosts", "file://relative", "http://x", "file://otherhost/x", 3):
        monkeypatch.setenv("WEEX_ASYNC_LEDGER", str(wrong))
        with pytest.raises(ConfigurationError):
            RateLimits.from_env()
        with pytest.raises(ConfigurationError):
            RateLimits(ledger=wrong)  # type: ignore[arg-type]
    url = "redis://:hunter2@127.0.0.1:1/0"
    assert RateLimits(ledger=url).shared_ledger == url
    assert RateLimits(redis_url=url).shared_ledger == url  # redis_url keeps working
    assert RateLimits(redis_url=url, ledger=url).shared_ledger == url
    with pytest.raises(ConfigurationError, match="disagree") as caught:
        RateLimits(redis_url=url, ledger="host")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2@127.0.0.1:6379/0",
        "redis://user:hunter2@127.0.0.1:6379/0",
        "unix:///tmp/redis.sock?db=0&password=hunter2",
        "rediss://127.0.0.1:6379/0?password=hunter2",
        "redis://hunter2@127.0.0.1:6379/0",
    ],
)
def test_secrets_in_any_part_of_a_url_are_masked(url: str) -> None:
    for limits in (RateLimits(ledger=url), RateLimits(redis_url=url)):
        assert "hunter2" not in repr(limits)
        assert "***" in repr(limits)
    with pytest.raises(ConfigurationError) as caught:
        RateLimits(ledger=url.replace("redis", "http", 1).replace("unix", "http", 1))
    assert "hunter2" not in str(caught.value)


async def test_log_lines_never_show_a_query_password(caplog: pytest.LogCaptureFixture) -> None:
    from weex_async._limiter._redis import RedisLedger, RedisUnavailable

    ledger = RedisLedger("unix:///nonexistent/redis.sock?password=hunter2", timeout=0.2)
    with pytest.raises(RedisUnavailable):
        await ledger.current_epoch()
    assert "unreachable" in caplog.text
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(ledger)
    await ledger.aclose()


def test_a_corrupt_file_is_refused_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database, " * 200)
    with pytest.raises(ConfigurationError, match="cannot be used") as caught:
        RateLimits(ledger=path.as_uri())
    assert str(path) in str(caught.value)


def test_a_file_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="cannot be used"):
        RateLimits(ledger=(blocker / "ledger.sqlite3").as_uri())


def test_another_program_s_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as other:
        other.execute("PRAGMA user_version=42")
    with pytest.raises(ConfigurationError, match="schema version"):
        RateLimits(ledger=path.as_uri())


_READ_ONLY = textwrap.dedent(
    """
    import subprocess, sys
    directory, script = sys.argv[1], sys.argv[2]
    subprocess.run(["mount", "-o", "bind,ro", directory, directory], check=True)
    sys.exit(subprocess.run([sys.executable, "-c", script]).returncode)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces are Linux's")
def test_a_file_on_a_read_only_file_system_is_refused(tmp_path: Path) -> None:
    """An existing ledger on a file system mounted read-only fails at construction (a clear
    ConfigurationError), never later and never as a hang."""
    path = tmp_path / "ro" / "ledger.sqlite3"
    assert RateLimits(ledger=path.as_uri()).shared_ledger is not None  # created, writable
    script = (
        "from weex_async import RateLimits\n"
        "from weex_async.errors import ConfigurationError\n"
        "try:\n"
        f"    RateLimits(ledger={path.as_uri()!r})\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
        "    raise SystemExit(3)\n"
    )
    try:
        done = subprocess.run(
            ["unshare", "-m", sys.executable, "-c", _READ_ONLY, str(path.parent), script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    except FileNotFoundError:
        pytest.skip("unshare is not installed")
    if done.returncode not in (0, 3):
        pytest.skip(f"cannot mount read-only here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 3, done.stdout
    assert "cannot be used" in done.stdout
    assert str(path) in done.stdout


_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from weex_async._limiter._host import HostLedger

    async def main():
        ledger = HostLedger(Path(sys.argv[1]), lease=float(sys.argv[2]))
        await ledger.republish(await ledger.current_epoch(), [])
        await ledger.reserve([("uid", 1, float(sys.argv[3]), 1)])
        print("charged", flush=True)
        await asyncio.sleep(3600)  # on the wire until killed

    asyncio.run(main())
    """
)


def _kill_a_process_holding_a_charge(path: Path, lease: float, window: float) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(lease), str(window)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "charged"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    holder.stdout.close()


async def test_a_killed_process_leaves_charges_that_expire(tmp_path: Path) -> None:
    """A process killed while its request is on the wire stops renewing its lease: its charge
    counts one lease and one window after its last renewal, then expires on its own."""
    path, lease, window = tmp_path / "l", 0.3, 0.3
    _kill_a_process_holding_a_charge(path, lease, window)
    ledger = HostLedger(path)
    await ledger.republish(await ledger.current_epoch(), [])
    waited = 0.0
    wait, _ = await ledger.try_reserve([("uid", 1, window, 1)])
    assert wait > 0  # still counted: it may be on its way
    while wait > 0:  # each ask names the earliest moment; a dead process's charge never answers
        waited += wait
        await asyncio.sleep(wait)
        wait, _ = await ledger.try_reserve([("uid", 1, window, 1)])
    assert waited <= 2 * (lease + window)  # then gone, on its own
    await ledger.aclose()


def test_three_processes_share_one_account_budget_through_the_host(warm_workers: Warm) -> None:
    """Three processes cancel 25 orders each, one per batch cancel: 750 weight, a window and a
    half of the account's budget, so the ledger makes them wait for the window once."""
    exchange = FakeExchange(window=LIMITS_WINDOW, ban=5.0)
    exchange.add_account(SHARED_KEY, "shared-secret", "shared-pass")
    ids = exchange.place_resting_orders(SHARED_KEY, 75)
    with serve(exchange) as url:
        workers = [warm_workers.take(url, "host", ids[25 * n], "25") for n in range(3)]
        done = [w.communicate(timeout=120) for w in workers]
    outputs = [out for out, _ in done]
    assert [w.returncode for w in workers] == [0, 0, 0]
    for _, err in done:  # shared all along: never an outage of the ledger (a fallback share)
        assert "unreachable or failing" not in err, err
    assert sum(json.loads(out)["cancelled"] for out in outputs) == 75
    assert exchange.rate_limited == 0
    assert exchange.worst_window("uid", sent=True) <= 500
    assert exchange.worst_window("uid") == 500  # and the budget was used


async def test_a_lock_held_too_long_is_an_outage_never_a_hang(tmp_path: Path) -> None:
    """Another process holding the ledger's lock (stopped, say) makes this one's step fail after
    ``timeout`` (the outage behaviour then applies); once the lock is free, steps work again."""
    import fcntl

    from weex_async._limiter._ledger import LedgerUnavailable

    path = tmp_path / "l"
    ledger = HostLedger(path, timeout=0.1)
    await ledger.republish(await ledger.current_epoch(), [])
    other = os.open(f"{path}.lock", os.O_RDWR)  # another descriptor: as another process's
    fcntl.flock(other, fcntl.LOCK_EX)
    with pytest.raises(LedgerUnavailable, match="held the lock"):
        await ledger.try_reserve([("k", 1, 1.0, 1)])
    assert ledger.down
    with pytest.raises(LedgerUnavailable):  # the abandoned wait still owns the descriptor
        await ledger.try_reserve([("k", 1, 1.0, 1)])
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    for _ in range(100):  # the abandoned wait gets the lock and lets it go, soon
        await asyncio.sleep(0.01)
        with contextlib.suppress(LedgerUnavailable):
            assert (await ledger.try_reserve([("k", 1, 1.0, 1)]))[0] == 0
            break
    assert not ledger.down
    await ledger.aclose()


async def test_charges_of_another_boot_are_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monotonic clock starts again at a reboot: stamps written during another boot would
    mean nothing, so the first process of the new boot forgets them."""
    from weex_async._limiter import _host

    boot = tmp_path / "boot_id"
    monkeypatch.setattr(_host, "_BOOT_ID", boot)
    boot.write_text("first-boot\n")
    before = HostLedger(tmp_path / "l")
    await before.republish(await before.current_epoch(), [])
    await before.reserve([("k", 1, 60.0, 1)])
    await before.aclose()
    boot.write_text("second-boot\n")
    after = HostLedger(tmp_path / "l")
    await after.republish(await after.current_epoch(), [])
    assert (await after.try_reserve([("k", 1, 60.0, 1)]))[0] == 0
    await after.aclose()


async def test_a_call_admitted_but_never_sent_stops_being_renewed(tmp_path: Path) -> None:
    """A call admitted through a shared ledger and given back unsent is settled at once (as
    given up): its charge is no longer on the wire, so its lease is not renewed for ever."""
    from weex_async import Limiter
    from weex_async._limiter import ClientLimiter
    from weex_async._v2 import CANCEL_BATCH_ORDERS

    limits = RateLimits(ledger=(tmp_path / "l").as_uri())
    client = ClientLimiter(limits, "fake", "key", 10, Limiter())
    async with client.admit(CANCEL_BATCH_ORDERS) as ticket:
        assert ticket.settle is not None
        shared = client._shared  # noqa: SLF001 (what the ledger holds on the wire)
        assert shared is not None
        assert shared._on_wire  # noqa: SLF001
    assert not shared._on_wire  # noqa: SLF001
    await client.aclose(RuntimeError)


@settings(max_examples=25, deadline=None)
@given(ledger_calls)
async def test_host_ledger_agrees_with_the_local_window_pools(
    calls: list[tuple[list[str], int]],
) -> None:
    """The same calls, in the same order, charged to the host ledger and to local pools: the same
    ones fit (all or nothing across pools), and a call that does not fit is told to wait in both.
    The window is long, so nothing expires while the example runs."""
    import tempfile

    window, limits = 60.0, {"ip": 100, "uid": 70, "trade": 45}
    local = {name: WindowPool(name, limit, window) for name, limit in limits.items()}
    with tempfile.TemporaryDirectory() as directory:
        ledger = HostLedger(Path(directory) / "l")
        await ledger.republish(await ledger.current_epoch(), [])
        for names, weight in calls:
            pools = [(name, limits[name], window, weight) for name in names]
            fits_locally = all(local[name].can_take(weight, 0.0) for name in names)
            wait, _ = await ledger.try_reserve(pools)
            assert (wait == 0.0) == fits_locally
            if fits_locally:
                for name in names:
                    local[name].take(weight, 0.0)
            else:
                assert wait > window - 5  # not before the first charge leaves the window
        await ledger.aclose()
