"""The ``weex-async`` command.

::

    weex-async demo [--orders N] [--accounts N] [--json] ...   the main job, on the fake exchange
    weex-async fake-exchange [--port P] [--account K:S:P] ...  serve the fake exchange on loopback
    weex-async time [--base-url URL]                           server time and the local offset

``time``, ``cancel`` and ``flatten`` share their budgets through the host ledger by default
(``--ledger`` or ``WEEX_ASYNC_LEDGER`` names another).
    weex-async cancel (--ids ID... | --cids CID... | --ids-file F) [--symbol S] [--json]
    weex-async flatten [--symbol S ...] [--deadline SECONDS] [--json]  no open order left

Exit codes: 0 success (``flatten``: a last listing showed no open order); 1 the command ran but
not everything succeeded (an order not cancelled, not proven flat, an error from the exchange); 2
bad usage or configuration (a one-line message, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from . import __version__
from ._checks import MAX_IDS_V2
from ._client import DEFAULT_BASE_URL, WeexClient
from ._limiter import RateLimits
from ._limiter._limits import LEDGER_ENV
from ._signing import Credentials
from .errors import ConfigurationError, InvalidRequestError, TransportError, WeexError
from .models import FlattenReport

__all__ = ["main"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(
    parse: Callable[[str], float], valid: Callable[[float], bool], expected: str
) -> Callable[[str], Any]:
    """An argparse type: ``parse`` the text, and refuse it unless ``valid``."""

    def convert(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return convert


_positive_int = _number(int, lambda value: value >= 1, "a whole number >= 1")
_count = _number(int, lambda value: value >= 0, "a whole number >= 0")
_port = _number(int, lambda value: 1 <= value <= 65535, "a port from 1 to 65535")
_batch_size = _number(int, lambda value: 1 <= value <= MAX_IDS_V2, f"1 to {MAX_IDS_V2}")
_positive_float = _number(float, lambda value: value > 0, "a number > 0")
_rate = _number(float, lambda value: 0.0 <= value <= 1.0, "a share between 0 and 1")


def _account(text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError("expected KEY:SECRET:PASSPHRASE")
    return parts[0], parts[1], parts[2]


_CREDENTIALS = (
    "credentials: WEEX_API_KEY, WEEX_API_SECRET and WEEX_API_PASSPHRASE from the environment "
    "(nothing is sent before all three are set; no secret is ever printed)"
)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="weex-async",
        description="WEEX futures SDK: the demo, a fake exchange, and commands for your account.",
        epilog="exit codes: 0 done; 1 ran, but not everything succeeded; 2 bad usage; "
        "130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )

    def command(name: str, text: str, epilog: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=text,
            description=text,
            epilog=epilog,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )

    demo = command(
        "demo",
        "cancel many orders against the fake exchange on 127.0.0.1, under WEEX's budgets",
        "no request leaves your machine; the demo accounts are the fake exchange's own",
    )
    demo.add_argument("--orders", type=_positive_int, default=600, help="orders per account")
    demo.add_argument("--accounts", type=_positive_int, default=1, help="accounts (one IP)")
    demo.add_argument(
        "--batch-size",
        type=_batch_size,
        default=10,
        help=f"ids per batch cancel (1 to {MAX_IDS_V2}, WEEX V2's maximum)",
    )
    demo.add_argument("--ip-budget", type=_positive_int, default=500, help="IP weight per window")
    demo.add_argument(
        "--uid-budget", type=_positive_int, default=500, help="account weight per window"
    )
    demo.add_argument("--window", type=_positive_float, default=10.0, help="window, seconds")
    demo.add_argument(
        "--no-trade-cap", action="store_true", help="drop the 10 trade calls per second cap"
    )
    demo.add_argument(
        "--faults", type=_rate, default=0.0, help="share of requests that meet a fault (0 to 1)"
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the injected faults")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument(
        "--flatten",
        action="store_true",
        help="flatten each account with cancel_everything (orders over --symbols symbols)",
    )
    demo.add_argument(
        "--symbols", type=_positive_int, default=20, help="symbols the orders are spread over"
    )

    fake = command(
        "fake-exchange",
        "serve the fake exchange on loopback until Ctrl-C",
        "point a client at it with --base-url http://127.0.0.1:PORT",
    )
    fake.add_argument("--host", default="127.0.0.1", help="a loopback address")
    fake.add_argument("--port", type=_port, default=8000, help="TCP port (1 to 65535)")
    fake.add_argument(
        "--account",
        type=_account,
        action="append",
        metavar="KEY:SECRET:PASSPHRASE",
        help="an account (repeatable); none: demo-key-1:demo-secret-1:demo-passphrase",
    )
    fake.add_argument(
        "--open", type=_count, default=0, metavar="N", help="open N orders on each account"
    )
    fake.add_argument(
        "--ids-out", metavar="FILE", help="also write the ids opened there, one per line"
    )
    fake.add_argument("--ip-budget", type=_positive_int, default=500, help="IP weight per window")
    fake.add_argument(
        "--uid-budget", type=_positive_int, default=500, help="account weight per window"
    )
    fake.add_argument("--window", type=_positive_float, default=10.0, help="window, seconds")
    fake.add_argument(
        "--ban", type=_positive_float, default=10.0, help="seconds banned after a 429"
    )
    fake.add_argument(
        "--trade-cap",
        type=_positive_int,
        metavar="N",
        help="refuse (429) more than N trade calls per account in any second; none: no cap",
    )

    for name, text in (
        ("time", "the exchange's time and the local clock's offset (public: no credentials)"),
        ("cancel", "cancel orders on your account, and say what became of each"),
        ("flatten", "cancel every open order of your account (or of some symbols), and prove it"),
    ):
        sub = command(name, text, None if name == "time" else _CREDENTIALS)
        sub.add_argument("--base-url", default=DEFAULT_BASE_URL, help="the API's root URL")
        _add_ledger_option(sub)
        if name == "cancel":
            which = sub.add_mutually_exclusive_group(required=True)
            which.add_argument("--ids", nargs="+", metavar="ID", help="exchange order ids")
            which.add_argument("--cids", nargs="+", metavar="CID", help="client order ids")
            which.add_argument("--ids-file", metavar="FILE", help="order ids, one per line")
            sub.add_argument("--symbol", help="sent with every batch (e.g. cmt_btcusdt)")
            sub.add_argument("--json", action="store_true", help="print the report as JSON")
        if name == "flatten":
            sub.add_argument(
                "--symbol",
                action="append",
                dest="symbols",
                metavar="S",
                help="only this symbol (repeatable); none: the whole account",
            )
            sub.add_argument(
                "--deadline", type=_positive_float, help="seconds after which nothing is sent"
            )
            sub.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _add_ledger_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--ledger",
        default=argparse.SUPPRESS,  # the default is said here (a URL in it may hold a password)
        help="where budgets are shared: host (every process of yours on this machine), process, "
        f"file:///path or a redis:// URL (default: ${LEDGER_ENV}, else host)",
    )


def _rate_limits(args: argparse.Namespace) -> RateLimits:
    """The budgets, shared through ``--ledger``, else ``$WEEX_ASYNC_LEDGER``, else the host
    ledger: two commands back to back, or a command next to an engine, never overspend."""
    ledger = getattr(args, "ledger", None)
    if ledger is not None:
        return RateLimits(ledger=ledger)
    return RateLimits.from_env(default_ledger="host")


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"weex-async: error: {message}", file=sys.stderr)
    return code


def _demo(args: argparse.Namespace) -> int:
    from ._demo import DemoOptions, format_summary, run_demo

    options = DemoOptions(
        orders=args.orders,
        accounts=args.accounts,
        batch_size=args.batch_size,
        ip_budget=args.ip_budget,
        uid_budget=args.uid_budget,
        window=args.window,
        trade_cap=not args.no_trade_cap,
        faults=args.faults,
        seed=args.seed,
        flatten=args.flatten,
        symbols=args.symbols,
    )
    if args.uid_budget < 10 or args.ip_budget < 5:
        return _fail("a batch cancel weighs IP 5 and UID 10: the budgets must hold one call")
    progress = None if args.json else sys.stderr
    summary = run_demo(options, progress, live=sys.stderr.isatty())
    print(json.dumps(summary) if args.json else format_summary(summary))
    complete = summary["rate_limited"] == 0 and (
        summary["flat"] == summary["accounts"]
        if args.flatten
        else summary["cancelled"] == summary["orders"]
    )
    return EXIT_OK if complete or args.faults else EXIT_INCOMPLETE


def _fake_exchange(args: argparse.Namespace) -> int:
    from ._demo import demo_credentials
    from .testing import FakeExchange, serve

    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        return _fail("the fake exchange serves on loopback only (127.0.0.0/8, localhost, ::1)")
    exchange = FakeExchange(
        ip_budget=args.ip_budget,
        uid_budget=args.uid_budget,
        window=args.window,
        ban=args.ban,
        trade_cap=args.trade_cap,
    )
    demo = demo_credentials(1)
    accounts = args.account or [(demo.api_key, demo.api_secret, demo.passphrase)]
    opened: dict[str, list[str]] = {}
    for key, secret, passphrase in accounts:
        exchange.add_account(key, secret, passphrase)
        opened[key] = exchange.open_orders(key, args.open)
    if args.ids_out:
        try:
            with open(args.ids_out, "w", encoding="utf-8") as handle:
                handle.writelines(f"{i}\n" for ids in opened.values() for i in ids)
        except OSError as exc:
            return _fail(f"cannot write {args.ids_out}: {exc.strerror}")
    try:
        with serve(exchange, args.host, args.port) as url:
            print(f"fake WEEX exchange on {url} (Ctrl-C stops it)")
            for key, ids in opened.items():
                print(f"  account {key}: {len(ids)} open orders")
                if not args.ids_out:
                    print("".join(f"    {order_id}\n" for order_id in ids), end="")
            if args.ids_out:
                print(f"  their ids are in {args.ids_out}, one per line")
            sys.stdout.flush()
            while True:
                time.sleep(3600)  # the server runs in its own thread
    except KeyboardInterrupt:  # Ctrl-C is how it stops, at any moment
        return EXIT_OK


async def _time(args: argparse.Namespace) -> int:
    async with WeexClient(base_url=args.base_url, rate_limits=_rate_limits(args)) as client:
        offset = await client.sync_time()
        server = await client.server_time()
    print(f"server time  {server.iso or server.timestamp} ({server.timestamp} ms)")
    print(f"local offset {offset:+.1f} ms (server minus local)")
    return EXIT_OK


def _read_ids(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None


async def _cancel(args: argparse.Namespace) -> int:
    creds = Credentials.from_env()
    if args.ids_file is not None and not args.ids:
        print(
            f"weex-async: warning: {args.ids_file} holds no order id: nothing to cancel",
            file=sys.stderr,
        )
        return EXIT_OK
    async with WeexClient(creds, base_url=args.base_url, rate_limits=_rate_limits(args)) as client:
        report = await client.cancel_orders(ids=args.ids, cids=args.cids, symbol=args.symbol)
    if args.json:
        print(
            json.dumps(
                {
                    "cancelled": list(report.cancelled),
                    "failed": report.failed,
                    "unknown": report.unknown,
                    "calls": report.calls,
                }
            )
        )
    else:
        for name in report.cancelled:
            print(f"cancelled  {name}")
        for kind, outcomes in (("failed", report.failed), ("unknown", report.unknown)):
            for reason, names in _by_reason(outcomes).items():
                if len(names) > GROUPED:  # one line for a reason many orders share
                    print(f"{kind:<10} {len(names)} orders ({names[0]} ... {names[-1]}): {reason}")
                else:
                    for name in names:
                        print(f"{kind:<10} {name}  {reason}")
        print(
            f"{len(report.cancelled)} cancelled, {len(report.failed)} failed, "
            f"{len(report.unknown)} unknown, in {report.calls} call(s)"
        )
    reasons = [*report.failed.values(), *report.unknown.values()]
    if any("TransportError" in reason for reason in reasons):
        print(f"weex-async: could not reach {args.base_url}", file=sys.stderr)
    return EXIT_OK if report.all_cancelled else EXIT_INCOMPLETE


#: More orders than this with one reason are said in one line.
GROUPED = 3


def _by_reason(outcomes: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, reason in outcomes.items():
        grouped.setdefault(reason, []).append(name)
    return grouped


async def _flatten(args: argparse.Namespace) -> int:
    creds = Credentials.from_env()
    async with WeexClient(creds, base_url=args.base_url, rate_limits=_rate_limits(args)) as client:
        report = await client.cancel_everything(args.symbols, deadline=args.deadline)
    if args.json:
        print(json.dumps(flatten_json(report)))
    else:
        for symbol, part in report.symbols.items():
            print(
                f"{symbol or '(symbol not known)'}: {len(part.seen_open)} seen open, "
                f"{len(part.cancelled)} cancelled, {len(part.gone)} gone, "
                f"{len(part.still_open)} still open, {len(part.unknown)} unknown"
            )
            for name, why in part.still_open.items():
                print(f"  still open  {name}  {why}")
            for name, why in part.unknown.items():
                print(f"  unknown     {name}  {why}")
        for problem in report.problems:
            print(f"problem: {problem}")
        state = "FLAT: the last listing showed no open order" if report.flat else "NOT FLAT"
        print(f"{state} ({report.calls} call(s), {report.rounds} round(s), {report.elapsed:.2f} s)")
    return EXIT_OK if report.flat else EXIT_INCOMPLETE


def flatten_json(report: FlattenReport) -> dict[str, Any]:
    """A ``FlattenReport`` as plain JSON."""
    return {
        "flat": report.flat,
        "symbols": {
            symbol: {
                "seen_open": list(part.seen_open),
                "cancelled": list(part.cancelled),
                "gone": part.gone,
                "still_open": part.still_open,
                "unknown": part.unknown,
            }
            for symbol, part in report.symbols.items()
        },
        "calls": report.calls,
        "rounds": report.rounds,
        "elapsed_s": round(report.elapsed, 3),
        "problems": list(report.problems),
    }


class _Warnings(logging.Handler):
    """The SDK's warnings as one line each on stderr (the demo's summary says them instead)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"weex-async: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _log_to_stderr(*, quiet: bool) -> None:
    logger = logging.getLogger("weex_async")
    if not any(isinstance(handler, _Warnings) for handler in logger.handlers):
        logger.addHandler(_Warnings(logging.WARNING))
    for handler in logger.handlers:
        if isinstance(handler, _Warnings):
            handler.setLevel(logging.CRITICAL + 1 if quiet else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    args = _parser().parse_args(argv)
    _log_to_stderr(quiet=args.command == "demo")
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "fake-exchange":
            return _fake_exchange(args)
        if args.command == "cancel" and args.ids_file:
            args.ids = _read_ids(args.ids_file)  # before the loop: no blocking I/O on it
        runner: Any = {"time": _time, "cancel": _cancel, "flatten": _flatten}[args.command]
        return int(asyncio.run(runner(args)))
    except (ConfigurationError, InvalidRequestError) as exc:
        return _fail(str(exc))
    except TransportError as exc:
        return _fail(f"could not reach {args.base_url}: {exc}", EXIT_INCOMPLETE)
    except WeexError as exc:
        return _fail(f"{type(exc).__name__}: {exc}", EXIT_INCOMPLETE)
    except RuntimeError as exc:  # e.g. the fake exchange needs uvicorn, or its port is taken
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
