"""``weex-async demo``: the SDK's main job, end to end, against the fake exchange on loopback."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import attrs

from ._api import Api
from ._checks import ApiVersion
from ._client import API, WeexClient
from ._flatten import LIST_LIMIT, Plan, call_cost
from ._limiter import Budget, PoolSnapshot, RateLimits, _rules
from ._retry import RetryPolicy
from ._signing import Credentials
from .events import Event, RequestDone
from .testing import FakeExchange, serve
from .testing._measure import least_seconds_under, least_weight_seconds

__all__ = ["DemoOptions", "least_flatten_seconds", "run_demo", "theoretical_seconds"]


@attrs.frozen
class DemoOptions:
    """What the demo does; the defaults finish in about one WEEX window (~11 s)."""

    orders: int = 600  #: orders per account
    accounts: int = 1
    batch_size: int = 10  #: ids per batch cancel (so 60 concurrent batch cancels per account)
    ip_budget: int = 500
    uid_budget: int = 500
    window: float = 10.0
    trade_cap: bool = True  #: WEEX's 10 trade calls/s (on by default in the SDK)
    faults: float = 0.0  #: share of cancel requests that meet an injected fault
    seed: int = 1
    #: flatten each account with ``cancel_everything`` (orders over ``symbols`` symbols) instead
    #: of cancelling its ids with ``cancel_orders``
    flatten: bool = False
    symbols: int = 20
    #: the API version the clients speak (the fake exchange serves both)
    api_version: ApiVersion = "v2"

    @property
    def ids_per_batch(self) -> int:
        """The ids one batch cancel carries: ``batch_size``, at most the version's maximum."""
        return min(self.batch_size, API[self.api_version].max_ids)


#: The demo clients' timeout, and how late a "slow" fault answers (past the timeout: an answer
#: lost in time). Module constants so that a test running the demo in process can shorten both.
TIMEOUT = 2.0
SLOW_ANSWER = 3.0

#: What ``--seed`` fixes, and what it does not (said in the summary, the help and the docs).
SEED_FIXES = (
    "seed {seed} fixes the fault drawn for the n-th request the fake receives; which request "
    "comes n-th depends on timing, so the calls and outcomes vary from run to run"
)


def demo_credentials(n: int) -> Credentials:
    """The fake exchange's demo accounts (documented; not secrets of any real account)."""
    return Credentials(f"demo-key-{n}", f"demo-secret-{n}", "demo-passphrase")


def _rate_limits(options: DemoOptions) -> RateLimits:
    """The demo clients' budgets: the options' windows, and WEEX's trade cap unless dropped."""
    return RateLimits(
        ip=Budget(options.ip_budget, options.window),
        uid=Budget(options.uid_budget, options.window),
        trade=Budget(10, 1.0) if options.trade_cap else None,
        ban=options.window,  # WEEX bans for one window (10 s); a scaled-down demo scales it too
    )


def theoretical_seconds(options: DemoOptions, calls_per_account: int) -> float:
    """The least time the workload can take without ever exceeding a window (full burst at 0,
    the trade cap included when on): ``weex_async.testing.least_seconds``."""
    endpoint = API[options.api_version].cancel_batch("ids", ["1"], None).endpoint
    return least_seconds_under(
        _rate_limits(options), endpoint, [calls_per_account] * options.accounts
    )


def least_flatten_seconds(
    api: Api, limits: RateLimits, open_by_symbol: dict[str, int], *, whole_account: bool
) -> tuple[float, int, int]:
    """A lower bound for any client: (seconds, IP weight, UID weight) of flattening these orders.

    Any client must cancel every order (one cancel-all per symbol, one for the account, or batch
    cancels of ids it already knows) and then list each target once to prove it flat. This takes
    the cheapest of those plans, spends it from empty pools under every rule of the rules table,
    and counts the whole windows it must wait (round trips are not counted): the "theoretical
    minimum under the budgets" (``testing._measure.least_weight_seconds``).
    """
    plan = Plan(api, limits, api.max_ids)
    cancel_all = api.cancel_all(None).endpoint
    batch = api.cancel_batch("ids", ["1"], None).endpoint
    listing = api.open_orders(None, LIST_LIMIT, 0).endpoint

    def spend(calls: dict[Any, int]) -> Counter[str]:  # each rule's weight of these calls
        return Counter(
            {rule.name: sum(rule.charge(e) * n for e, n in calls.items()) for rule in _rules.RULES}
        )

    spent: Counter[str] = Counter()
    for orders in open_by_symbol.values():
        if orders and plan.use_cancel_all(orders, False, orders):
            spent += spend({cancel_all: 1})
        elif orders:
            spent += spend({batch: math.ceil(orders / api.max_ids)})
    if whole_account and any(open_by_symbol.values()):
        share = max(spent["ip"] / limits.ip.weight, spent["uid"] / limits.uid.weight)
        if call_cost(cancel_all, limits) < share:
            spent = spend({cancel_all: 1})
    spent += spend({listing: 1 if whole_account else len(open_by_symbol)})
    return least_weight_seconds(limits, spent), spent["ip"], spent["uid"]


#: What the summary calls each endpoint's calls (V3's endpoints end in ``_v3``).
CALL_KINDS = {
    "cancel_batch_orders": "batch cancels",
    "order_detail": "order lookups",
    "open_orders": "listings",
    "order_history": "history pages",
    "cancel_all_orders": "cancel-alls",
    "open_trigger_orders": "trigger listings",
    "cancel_all_trigger_orders": "trigger cancel-alls",
}


class _CallCounter:
    """Counts the attempts sent per kind of call (``on_event``), time syncs left out: the
    summary says batch cancels and lookups apart."""

    def __init__(self) -> None:
        self.by_kind: Counter[str] = Counter()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            name = event.endpoint.removesuffix("_v3")
            if name != "server_time":
                self.by_kind[CALL_KINDS.get(name, name)] += 1


async def _cancel_all(
    options: DemoOptions,
    base_url: str,
    exchange: FakeExchange,
    ids_by_account: dict[str, list[str]],
    progress: Callable[[list[WeexClient], float], None] | None,
    counter: _CallCounter,
) -> tuple[list[Any], float]:
    limits = _rate_limits(options)
    accounts = [demo_credentials(n) for n in range(1, options.accounts + 1)]
    clients = [
        WeexClient(
            creds,
            base_url=base_url,
            rate_limits=limits,
            batch_size=options.batch_size,
            api_version=options.api_version,
            timeout=TIMEOUT,
            retry=RetryPolicy(backoff_initial=0.05, backoff_max=0.5),
            on_event=counter,
        )
        for creds in accounts
    ]
    for client in clients:
        await client.sync_time()  # before the clock starts: the demo times the cancels
    started = time.monotonic()
    work = asyncio.gather(
        *(
            client.cancel_everything()
            if options.flatten
            else client.cancel_orders(ids=ids_by_account[creds.api_key])
            for client, creds in zip(clients, accounts, strict=True)
        )
    )
    try:
        while not work.done():
            if progress is not None:
                progress(clients, time.monotonic() - started)
            await asyncio.wait([work], timeout=0.25)
        reports = work.result()
        elapsed = time.monotonic() - started
        if progress is not None:
            progress(clients, elapsed)
    except BaseException:  # Ctrl-C cancels this task: stop the work and wait for it, quietly
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
        raise
    finally:
        for client in clients:
            await client.aclose()
    return reports, elapsed


def run_demo(
    options: DemoOptions, progress_to: TextIO | None = None, live: bool = False
) -> dict[str, Any]:
    """Serve the fake exchange on loopback, open orders, cancel them all; return the summary."""
    exchange = FakeExchange(
        ip_budget=options.ip_budget,
        uid_budget=options.uid_budget,
        window=options.window,
        ban=options.window,
    )
    ids_by_account: dict[str, list[str]] = {}
    for n in range(1, options.accounts + 1):
        creds = demo_credentials(n)
        exchange.add_account(creds.api_key, creds.api_secret, creds.passphrase)
        ids_by_account[creds.api_key] = [
            order_id
            for n, count in enumerate(_spread(options))
            for order_id in exchange.place_resting_orders(creds.api_key, count, symbol=_symbol(n))
        ]
    if options.faults:
        exchange.faults.slow_delay = SLOW_ANSWER
        exchange.faults.randomly(options.faults, seed=options.seed)
    total = options.orders * options.accounts
    progress = _progress_printer(exchange, total, progress_to, live) if progress_to else None
    counter = _CallCounter()
    with serve(exchange) as base_url:
        reports, elapsed = asyncio.run(
            _cancel_all(options, base_url, exchange, ids_by_account, progress, counter)
        )
    calls = sum(report.calls for report in reports)
    reasons: Counter[str] = Counter()
    if options.flatten:
        theoretical = _flatten_minimum(options)
        outcomes: dict[str, Any] = {
            "flat": sum(report.flat for report in reports),
            "rounds": max(report.rounds for report in reports),
            "still_open": sum(len(report.still_open) for report in reports),
            "problems": [problem for report in reports for problem in report.problems],
            "failed": 0,
            "unknown": sum(
                len(part.unknown) for report in reports for part in report.symbols.values()
            ),
        }
        for report in reports:
            for part in report.symbols.values():
                reasons.update(f"still open: {why}" for why in part.still_open.values())
                reasons.update(f"unknown: {why}" for why in part.unknown.values())
    else:
        theoretical = theoretical_seconds(
            options, math.ceil(options.orders / options.ids_per_batch)
        )
        outcomes = {
            "failed": sum(len(r.failed) for r in reports),
            "unknown": sum(len(r.unknown) for r in reports),
        }
        for report in reports:
            reasons.update(f"failed: {why}" for why in report.failed.values())
            reasons.update(f"unknown: {why}" for why in report.unknown.values())
    injected = {kind.value: n for kind, n in exchange.faults.injected.items()}
    return {
        "mode": "flatten" if options.flatten else "cancel_orders",
        "orders": total,
        "accounts": options.accounts,
        "cancelled": sum(len(r.cancelled) for r in reports),
        **outcomes,
        "calls": calls,
        "batch_size": options.ids_per_batch,
        "api_version": options.api_version,
        "calls_by_kind": dict(counter.by_kind.most_common()),
        "elapsed_s": round(elapsed, 3),
        "theoretical_s": round(theoretical, 3),
        "pace": round(theoretical / elapsed, 4) if elapsed and theoretical else None,
        "calls_per_s": round(calls / elapsed, 2) if elapsed else None,
        "worst_window_ip": exchange.worst_window("ip"),
        "worst_window_uid": exchange.worst_window("uid"),
        "ip_budget": options.ip_budget,
        "uid_budget": options.uid_budget,
        "window_s": options.window,
        "rate_limited": exchange.rate_limited,  # the budget exceeded; injected 429s are faults
        "injected_429": injected.get("429", 0),
        "faults_injected": sum(injected.values()),
        "faults_by_kind": injected,
        "seed": options.seed,
        "closed_on_exchange": total - sum(len(a.orders) for a in exchange.accounts.values()),
        "reasons": dict(reasons.most_common(5)),
    }


def _spread(options: DemoOptions) -> list[int]:
    """Orders per symbol: all on one symbol, or spread evenly over ``symbols`` when flattening."""
    if not options.flatten:
        return [options.orders]
    base, extra = divmod(options.orders, options.symbols)
    return [base + (n < extra) for n in range(options.symbols)]


def _symbol(n: int) -> str:
    return "cmt_btcusdt" if n == 0 else f"cmt_demo{n}usdt"


def _flatten_minimum(options: DemoOptions) -> float:
    """The least time any client could flatten the accounts in, under the demo's budgets."""
    orders = {_symbol(n): count for n, count in enumerate(_spread(options))}
    seconds, _, _ = least_flatten_seconds(
        API[options.api_version], _rate_limits(options), orders, whole_account=True
    )
    return seconds


def _progress_printer(
    exchange: FakeExchange, total: int, out: TextIO, live: bool
) -> Callable[[list[WeexClient], float], None]:
    """Progress: the orders no longer open on the exchange (what the fake's book says), the
    account pool's use, and the callers waiting for the rate-limit window."""
    last: dict[str, Any] = {"at": -1.0, "line": "", "all_closed": False}

    def show(clients: list[WeexClient], elapsed: float) -> None:
        done = total - sum(len(account.orders) for account in exchange.accounts.values())
        pools = [s for c in clients for s in c.rate_limit_status()]
        queued = max((s.waiting for s in pools if s.name == "in-flight"), default=0)
        uid_used = max((s.used for s in pools if s.name.startswith("uid")), default=0)
        window_pools = [s for s in pools if s.name.startswith(("uid", "ip", "trade"))]
        paused = max((s.paused_for for s in window_pools), default=0.0)
        holding = max(  # the rule that holds the queue: the pool that frees last
            (s for s in window_pools if s.waiting and 0 < s.ready_in < math.inf),
            key=lambda s: s.ready_in,
            default=None,
        )
        if live:
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "." * (width - filled)
            out.write(
                f"\r[{bar}] {done}/{total} closed  uid {uid_used}/{exchange.uid_budget}"
                f"  queued {queued:3d}  {elapsed:5.1f}s"
            )
            if done == total:
                out.write("\n")
            out.flush()
            return
        line = f"closed on the exchange {done}/{total}, queued {queued}"
        if paused > 0:
            line += f", paused after an HTTP 429: {_up(paused)}s left"
        elif queued and holding is not None:
            line += f", waiting for {_rule(holding)} in {_up(holding.ready_in)}s"
        changed = line != last["line"]
        # a line a second at most, but the first one saying every order is closed at once
        first_all_closed = done == total and not last["all_closed"]
        if changed and (elapsed - last["at"] >= 1.0 or first_all_closed):
            last.update(at=elapsed, line=line, all_closed=done == total)
            out.write(f"{elapsed:5.1f}s  {line}\n")
            out.flush()

    return show


def _up(seconds: float) -> str:
    """Seconds rounded up to a tenth: a wait never reads 0.0 s while it lasts."""
    return f"{math.ceil(seconds * 10 - 1e-9) / 10:.1f}"


def _rule(pool: PoolSnapshot) -> str:
    """The rule a pool stands for, and what frees in it, as the progress line says them."""
    kind = pool.name.split(":", 1)[0]
    if kind == "trade":
        return f"the trade cap ({pool.budget} trade calls per second): a call frees"
    who = "account's (UID)" if kind == "uid" else "IP's"
    return f"the {who} rate-limit window ({pool.budget} weight per window): weight frees"


def _calls_line(summary: dict[str, Any]) -> str:
    kinds = summary.get("calls_by_kind") or {}
    parts = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
    line = f"calls        {summary['calls']}" + (f": {parts}" if parts else "")
    if summary["mode"] != "flatten":
        line += f" (batches of up to {summary['batch_size']} ids)"
    return line + f" (API {summary['api_version'].upper()})"


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable summary."""
    flatten = summary["mode"] == "flatten"
    lines = [f"orders       {summary['orders']} ({summary['accounts']} account(s))"]
    if flatten:
        lines += [
            f"flat         {summary['flat']} of {summary['accounts']} account(s)"
            f" (a last listing showed no open order), in {summary['rounds']} round(s)",
            f"cancelled    {summary['cancelled']}   still open {summary['still_open']}"
            f"   unknown {summary['unknown']}",
            _calls_line(summary),
        ]
    else:
        lines += [
            f"cancelled    {summary['cancelled']}   failed {summary['failed']}"
            f"   unknown {summary['unknown']}",
            _calls_line(summary),
        ]
    lines.append(
        f"closed       {summary['closed_on_exchange']} of {summary['orders']} orders are no longer"
        " open on the exchange (what the progress counts)"
    )
    lines += [
        f"elapsed      {summary['elapsed_s']:.2f} s (theoretical minimum "
        f"{summary['theoretical_s']:.2f} s under the budgets)",
        f"rate         {summary['calls_per_s']} calls/s"
        + (
            f"; pace {summary['pace'] * 100:.1f}% of the theoretical"
            + (
                " (a minimum without faults: the retries, lookups and slow answers they cause"
                " are not in it)"
                if summary["faults_injected"]
                else ""
            )
            if summary["pace"]
            else "; the budgets need no wait: the time is round trips"
            + (
                ", and the retries, lookups and slow answers of the faults"
                if summary["faults_injected"]
                else ""
            )
        ),
        f"server worst window   IP {summary['worst_window_ip']}/{summary['ip_budget']}"
        f"   UID {summary['worst_window_uid']}/{summary['uid_budget']}"
        f" (per {summary['window_s']:g} s)",
        f"429s received         {summary['rate_limited'] + summary['injected_429']}"
        f" ({summary['rate_limited']} for the budget,"
        f" {summary['injected_429']} injected as faults)",
    ]
    for problem in summary.get("problems", ()):
        lines.append(f"problem      {problem}")
    if summary["faults_injected"]:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(summary["faults_by_kind"].items()))
        lines.append(f"faults injected       {summary['faults_injected']}: {kinds}")
        lines.append(f"  {SEED_FIXES.format(seed=summary['seed'])}")
    for reason, count in summary["reasons"].items():
        lines.append(f"  {count:5d} x {reason}")
    return "\n".join(lines)
