"""The guard's flatten when one endpoint of the exchange is down: real processes, kept short
(the engine exits at once; tests/test_guard.py has the rest of the guard)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from weex_async.testing import FakeExchange, Fault, serve

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, PASSPHRASE = "gf-key", "gf-secret-xyz", "gf-pass-xyz"
SYMBOL = {"v2": "cmt_btcusdt", "v3": "BTCUSDT"}


def guard(
    url: str, version: str, tmp_path: Path, deadline: str = "3"
) -> subprocess.CompletedProcess[str]:
    """``weex-async guard`` over an engine that exits at once: it flattens, then exits. Its
    clients back off 1 ms (tests/quick_cli.py): their retries are not the subject here."""
    argv = [sys.executable, "-m", "tests.quick_cli", "guard", "--base-url", url]
    argv += ["--api-version", version, "--deadline", deadline, "--", sys.executable, "-c", "pass"]
    env = {
        "PATH": "/usr/bin:/bin",
        "WEEX_API_KEY": KEY,
        "WEEX_API_SECRET": SECRET,
        "WEEX_API_PASSPHRASE": PASSPHRASE,
        "XDG_STATE_HOME": str(tmp_path),  # a per-user ledger stays in the test
    }
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=60, check=False, cwd=ROOT
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert SECRET not in done.stdout + done.stderr
    return done


def test_the_guard_flattens_by_batch_cancels_while_the_cancel_all_is_down(tmp_path: Path) -> None:
    """V3 picks its cancel-all whenever an order is open: before, the guard sent it until its
    deadline and exited 1 with every order resting."""
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    exchange.place_resting_orders(KEY, 150, symbol=SYMBOL["v3"])
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path="/capi/v3/allOpenOrders")
    with serve(exchange) as url:
        done = guard(url, "v3", tmp_path)
    assert done.returncode == 0, done
    assert not exchange.accounts[KEY].orders
    assert "FLAT: the last listing showed no open order" in done.stdout
    assert "the cancel-all failed in 1 of 1 round(s)" in done.stdout


def test_the_guard_cancels_blind_while_the_listing_is_down(tmp_path: Path) -> None:
    """No listing answers: the orders are cancelled all the same, and the guard, unable to prove
    it, says NOT FLAT and exits 1 (before: nothing cancelled)."""
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    exchange.place_resting_orders(KEY, 150, symbol=SYMBOL["v2"])
    exchange.faults.next(Fault.SERVER_ERROR, 10**6, path="/capi/v2/order/current")
    with serve(exchange) as url:
        done = guard(url, "v2", tmp_path, deadline="1")  # never flat: it runs to its deadline
    assert done.returncode == 1, done
    assert not exchange.accounts[KEY].orders, "nothing left resting"
    assert "NOT FLAT" in done.stdout
    assert "the cancel-all sent without a listing" in done.stdout
