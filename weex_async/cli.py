"""The ``weex-async`` command.

::

    weex-async demo [--orders N] [--accounts N] [--json] ...   the main job, on the fake exchange
    weex-async fake-exchange [--port P] [--account K:S:P] ...  serve the fake exchange on loopback
    weex-async time [--base-url URL] [--api-version v2|v3]     server time and the local offset

``time``, ``cancel``, ``flatten`` and ``guard`` share their budgets through the host ledger by
default (``--ledger`` or ``WEEX_ASYNC_LEDGER`` names another).
    weex-async cancel (--ids ID... | --cids CID... | --ids-file F) [--symbol S]
                      [--deadline SECONDS] [--json]
    weex-async flatten [--symbol S ...] [--deadline SECONDS] [--include-triggers] [--json]
                                                   no open order left
    weex-async guard [--heartbeat F --stale-after S] [--grace S] ... (-- COMMAND ... | --pid P)
                                                   flatten when the engine dies or hangs

Every command on an account takes ``add_account_options``'s options (``--base-url``,
``--api-version``, default ``WEEX_API_VERSION``, else ``v2``) and builds its client with
``account_client``, so a new command gets them by calling the two.

Exit codes (``EXIT_CODES``, the same for every command): 0 success (``flatten``: a last listing
showed no open order; ``fake-exchange``: stopped by Ctrl-C); 1 the command ran but not everything
succeeded (an order not cancelled, not proven flat, an error from the exchange); 2 bad usage or
configuration (a one-line message, no traceback); 130 interrupted (``cancel`` and ``flatten``
print their report of what they did first; ``guard`` passes Ctrl-C on and flattens instead).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import errno
import json
import logging
import math
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

import attrs

from ._api import TRIGGER_PAGE
from ._cancel import refusal
from ._checks import API_VERSIONS, MAX_IDS_V2, ApiVersion, checked_symbols
from ._client import DEFAULT_BASE_URL, WeexClient
from ._limiter import RateLimits
from ._limiter._limits import LEDGER_ENV
from ._signing import Credentials
from ._version import __version__
from .errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    PermissionDeniedError,
    TransportError,
    WeexError,
)
from .events import Event, RequestDone
from .models import CancelReport, FlattenReport, SymbolReport

__all__ = ["account_client", "add_account_options", "main"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The environment variable that points ``--base-url`` (and the docs' examples) elsewhere, such
#: as at ``weex-async fake-exchange``.
BASE_URL_VARIABLE = "WEEX_BASE_URL"

#: Every command's exit codes, one table (docs/cli.md says the same; a test keeps them equal).
EXIT_CODES = {
    EXIT_OK: "done (flatten: a last listing showed no open order; "
    "fake-exchange: stopped by Ctrl-C, its way to stop)",
    EXIT_INCOMPLETE: "ran, but not everything succeeded",
    EXIT_USAGE: "bad usage or configuration, nothing sent",
    EXIT_INTERRUPTED: "interrupted by Ctrl-C (cancel and flatten first print what they did; "
    "guard: passes it on to the engine, flattens, and exits with the flatten's code)",
}
_EXIT_EPILOG = "exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items())


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
#: finite: an infinite deadline or grace is refused here, not by a guard already running
_positive_float = _number(float, lambda value: 0 < value < math.inf, "a finite number > 0")
_rate = _number(float, lambda value: 0.0 <= value <= 1.0, "a share between 0 and 1")


def _shown_url(url: str) -> str:
    """``url`` as a message may show it: a password in it (``https://user:password@proxy``, a
    proxy's basic auth) is a secret, said as ``***``."""
    return re.sub(r"(//[^/:@]*:)[^/]*@", r"\1***@", url)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with every default, a password in a URL (``$WEEX_BASE_URL``'s) said as ``***``."""

    def _expand_help(self, action: argparse.Action) -> str:
        if isinstance(action.default, str) and "@" in action.default:
            action = copy.copy(action)
            action.default = _shown_url(action.default)
        return super()._expand_help(action)


def _base_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host and, if any, a port from 1 to 65535."""
    try:
        parts = urlsplit(text)
        port = parts.port  # ValueError when out of 0-65535 or not a number
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL with a port from 1 to 65535, got {_shown_url(text)!r}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL with a host, such as https://api-contract.weex.com, "
            f"got {_shown_url(text)!r}"
        )
    if port == 0:
        raise argparse.ArgumentTypeError(
            f"expected a port from 1 to 65535, got {_shown_url(text)!r}"
        )
    return text


def _account(text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError("expected KEY:SECRET:PASSPHRASE")
    return parts[0], parts[1], parts[2]


#: The environment variable that sets ``--api-version``'s default.
API_VERSION_ENV = "WEEX_API_VERSION"


def _api_version(text: str) -> ApiVersion:
    """An argparse type: ``v2`` or ``v3`` (the flag's value, or ``WEEX_API_VERSION``'s)."""
    value = text.strip().lower()
    for version in API_VERSIONS:
        if value == version:
            return version
    raise argparse.ArgumentTypeError(
        f"expected {' or '.join(API_VERSIONS)}, got {text!r} "
        f"(from --api-version, or {API_VERSION_ENV} when the option is not given)"
    )


def _add_api_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-version",
        type=_api_version,  # applied to the default too: a bad WEEX_API_VERSION is refused
        default=os.environ.get(API_VERSION_ENV) or "v2",
        metavar="{v2,v3}",
        help=f"the WEEX API version to speak (V3 symbols are spelled BTCUSDT); the default is "
        f"{API_VERSION_ENV} when set, else v2",
    )


def add_account_options(parser: argparse.ArgumentParser) -> None:
    """The options every command on a real account shares: where the API is, which of its
    versions to speak, and where budgets are shared. ``account_client`` builds the client they
    describe."""
    parser.add_argument(
        "--base-url",
        type=_base_url,
        default=os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL,
        help=f"the API's root URL (${BASE_URL_VARIABLE} when set)",
    )
    _add_api_version(parser)
    _add_ledger_option(parser)


def account_client(
    args: argparse.Namespace, credentials: Credentials | None = None, **options: Any
) -> WeexClient:
    """The client of a command on an account: ``add_account_options``'s options, the
    credentials (``None`` for public calls only), and any other ``WeexClient`` keyword."""
    options.setdefault("rate_limits", _rate_limits(args))
    return WeexClient(credentials, base_url=args.base_url, api_version=args.api_version, **options)


_CREDENTIALS = (
    "credentials: WEEX_API_KEY, WEEX_API_SECRET and WEEX_API_PASSPHRASE from the environment "
    "(nothing is sent before all three are set; no secret is ever printed)"
)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="weex-async",
        description="WEEX futures SDK: the demo, a fake exchange, and commands for your account.",
        epilog=_EXIT_EPILOG,
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
            epilog=f"{epilog}. {_EXIT_EPILOG}" if epilog else _EXIT_EPILOG,
            formatter_class=_HelpFormatter,
        )

    demo = command(
        "demo",
        "cancel many orders against the fake exchange on 127.0.0.1, under WEEX's budgets",
        "no request leaves your machine; the demo accounts are the fake exchange's own",
    )
    _add_api_version(demo)
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
    demo.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the injected faults: it fixes the fault drawn for the n-th request the "
        "fake receives; which request comes n-th depends on timing, so runs differ",
    )
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
        add_account_options(sub)
        if name == "cancel":
            which = sub.add_mutually_exclusive_group(required=True)
            which.add_argument("--ids", nargs="+", metavar="ID", help="exchange order ids")
            which.add_argument("--cids", nargs="+", metavar="CID", help="client order ids")
            which.add_argument("--ids-file", metavar="FILE", help="order ids, one per line")
            sub.add_argument(
                "--symbol", help="sent with every V2 batch (e.g. cmt_btcusdt; V3 sends none)"
            )
            sub.add_argument(
                "--deadline",
                type=_positive_float,
                help="seconds after which nothing more is sent (batches not sent are reported "
                "failed: not sent; one cut off on the wire, unknown)",
            )
            sub.add_argument("--json", action="store_true", help="print the report as JSON")
        if name == "flatten":
            sub.add_argument(
                "--symbol",
                action="append",
                dest="symbols",
                metavar="S",
                help="only this symbol (repeatable; V2 cmt_btcusdt, V3 BTCUSDT); none: the whole "
                "account",
            )
            sub.add_argument(
                "--deadline", type=_positive_float, help="seconds after which nothing is sent"
            )
            _add_include_triggers(sub)
            sub.add_argument("--json", action="store_true", help="print the report as JSON")
    _guard_arguments(
        command(
            "guard",
            "run (or watch) your engine, and flatten the account when it dies or stops beating",
            f"{_CREDENTIALS}; docs/guard.md has systemd and container set-ups",
        )
    )
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
    source = "--ledger" if ledger is not None else LEDGER_ENV
    try:
        if ledger is not None:
            return RateLimits(ledger=ledger)
        return RateLimits.from_env(default_ledger="host")
    except ConfigurationError as exc:  # named as the user typed it, not as a Python keyword
        raise ConfigurationError(f"{source}: {exc}") from None


#: What the CLI adds to the SDK's warning that the host ledger's file cannot be used.
_HOST_LEDGER_HINT = (
    f"; --ledger process (or {LEDGER_ENV}=process) shares nothing, --ledger file:///path "
    "names another file"
)


def _add_include_triggers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-triggers",
        action="store_true",
        help="also cancel trigger (plan / algo) orders, and say FLAT only when none is "
        "left; by default they are left in place and counted",
    )


def _guard_arguments(guard: argparse.ArgumentParser) -> None:
    """``guard``'s options: the engine, its heartbeat, and ``flatten``'s own."""
    guard.add_argument(
        "--pid", type=_positive_int, help="watch this running process instead of starting one"
    )
    guard.add_argument(
        "--heartbeat", metavar="FILE", help="the engine's heartbeat file (weex_async.Heartbeat)"
    )
    guard.add_argument(
        "--stale-after",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="with --heartbeat: flatten when no beat came for this long",
    )
    guard.add_argument(
        "--first-beat-within",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="with --heartbeat: the engine's first beat must come this soon after the start",
    )
    guard.add_argument(
        "--grace",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="after SIGTERM to its own engine, SIGKILL when it has not exited after this long",
    )
    add_account_options(guard)
    guard.add_argument(
        "--symbol",
        action="append",
        dest="symbols",
        metavar="S",
        help="flatten only this symbol (repeatable); none: the whole account",
    )
    guard.add_argument(
        "--deadline",
        type=_positive_float,
        default=60.0,
        help="seconds the flatten keeps trying (retrying until flat) before it gives up",
    )
    _add_include_triggers(guard)
    guard.add_argument("--json", action="store_true", help="print the flatten's report as JSON")
    guard.add_argument(
        "engine",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND [ARGS ...]",
        help="the engine to run as the guard's child (unless --pid)",
    )


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"weex-async: error: {message}", file=sys.stderr)
    return code


# -- Ctrl-C, reachability and unexpected errors: one way for every command ---------------------


class _Interrupt:
    """Ctrl-C during a command on an account: send nothing more, and keep the report.

    The first Ctrl-C closes the client: calls waiting to be sent end "not sent: interrupted",
    those on the wire are cut (their orders unknown), and the command prints what is known, then
    exits 130. A second Ctrl-C stops at once (one line, exit 130), until the run is over: from
    then on the report is being written, and a Ctrl-C waits until it is written whole (a
    truncated ``--json`` report would be unreadable), then the command exits 130 (``_finish``,
    through ``report_written``). Where the event loop cannot take a signal handler (Windows),
    Ctrl-C stops at once.
    """

    def __init__(self, client: WeexClient, *, install: bool = True) -> None:
        self.client = client
        self.interrupted = False
        self._closing: asyncio.Task[None] | None = None
        self._installed = False
        self._install = install
        #: Ctrl-C while the report is written: held until it is whole
        self._held: list[int] = []
        self._holding = False

    async def __aenter__(self) -> _Interrupt:
        if not self._install:  # the guard's flatten: the guard's own handlers stay in place
            return self
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._on_sigint)
            self._installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            if kind is None:  # the report comes next: a Ctrl-C must not cut it
                signal.signal(signal.SIGINT, self._hold)
                self._holding = True
        if self._closing is not None:
            await self._closing

    def _hold(self, signum: int, frame: object) -> None:
        self._held.append(signum)

    def report_written(self) -> bool:
        """The report is whole on stdout: Ctrl-C stops at once again. Whether one came while it
        was written (then the command exits 130, as interrupted)."""
        if self._holding:
            with contextlib.suppress(OSError, ValueError):  # stdout closed: nothing to keep
                sys.stdout.flush()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._holding = False
        return bool(self._held)

    def _on_sigint(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.interrupted = True
        print(
            "weex-async: interrupted: nothing more is sent; the report follows "
            "(Ctrl-C again stops at once)",
            file=sys.stderr,
            flush=True,
        )
        self._closing = asyncio.ensure_future(self.client.aclose())


def _interrupted(reason: str) -> str:
    """An outcome's reason as an interrupted command says it (the client was closed by Ctrl-C)."""
    return reason.replace("the client was closed", "interrupted")


def _cancel_report_interrupted(report: CancelReport) -> CancelReport:
    return attrs.evolve(
        report,
        failed={name: _interrupted(why) for name, why in report.failed.items()},
        unknown={name: _interrupted(why) for name, why in report.unknown.items()},
    )


def _flatten_report_interrupted(report: FlattenReport) -> FlattenReport:
    return attrs.evolve(
        report,
        symbols={
            symbol: attrs.evolve(
                part,
                still_open={name: _interrupted(why) for name, why in part.still_open.items()},
                unknown={name: _interrupted(why) for name, why in part.unknown.items()},
            )
            for symbol, part in report.symbols.items()
        },
        problems=tuple(_interrupted(problem) for problem in report.problems),
    )


class _Answers:
    """Counts the attempts that went out and those that got an HTTP answer (``on_event``)."""

    def __init__(self) -> None:
        self.sent = 0
        self.answered = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            self.sent += 1
            self.answered += event.status_code is not None


def _unreachable(url: str, detail: str) -> str:
    """The one wording of "nothing answered", for every command."""
    return f"could not reach {_shown_url(url)}: {detail}"


def _cause(error: BaseException) -> str:
    """What went wrong, named: an exception group (anyio's, from a connection attempt) is
    unwrapped to its first cause, which is what a user can act on."""
    while isinstance(getattr(error, "exceptions", None), tuple) and error.exceptions:  # type: ignore[attr-defined]
        error = error.exceptions[0]  # type: ignore[attr-defined]
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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
        api_version=args.api_version,
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
        opened[key] = exchange.place_resting_orders(key, args.open)
    if args.ids_out:
        try:
            with open(args.ids_out, "w", encoding="utf-8") as handle:
                handle.writelines(f"{i}\n" for ids in opened.values() for i in ids)
        except OSError as exc:
            return _fail(f"cannot write {args.ids_out}: {exc.strerror}")
    return _serve_until_interrupted(serve(exchange, args.host, args.port), args, opened)


def _serve_until_interrupted(
    server: contextlib.AbstractContextManager[str],
    args: argparse.Namespace,
    opened: dict[str, list[str]],
) -> int:
    """``fake-exchange``'s serving: its banner, then serve until Ctrl-C (exit 0)."""
    try:
        with contextlib.ExitStack() as serving:
            try:
                url = serving.enter_context(server)
            except OSError as exc:  # before anything is served: a port in use, say
                return _fail(_unservable(args.host, args.port, exc))
            print(f"fake WEEX exchange on {url} (Ctrl-C stops it)")
            for key, ids in opened.items():
                print(f"  account {key}: {len(ids)} open orders")
                if not args.ids_out:
                    print("".join(f"    {order_id}\n" for order_id in ids), end="")
            if args.ids_out:
                print(f"  their ids are in {args.ids_out}, one per line")
            print(_fake_exchange_usage(url, demo=not args.account))
            sys.stdout.flush()
            while True:
                time.sleep(3600)  # the server runs in its own thread
    except KeyboardInterrupt:  # Ctrl-C is how it stops, at any moment
        return EXIT_OK


def _unservable(host: str, port: int, error: OSError) -> str:
    """Why the fake exchange cannot listen on ``host:port``, and what to do, in one line."""
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use: choose another with --port"
    return f"cannot serve on {host}:{port}: {error.strerror or error}"


def _fake_exchange_usage(url: str, *, demo: bool) -> str:
    """The banner's ready-to-copy line: the demo account's credentials (fake, documented), never
    those of an account given with --account, which are the user's to keep."""
    from ._demo import demo_credentials

    if not demo:
        return f"  point the commands at it:\n    export {BASE_URL_VARIABLE}={url}"
    creds = demo_credentials(1)
    return (
        "  use it from a shell (its demo account's credentials are fake and documented):\n"
        f"    export WEEX_API_KEY={creds.api_key} WEEX_API_SECRET={creds.api_secret} "
        f"WEEX_API_PASSPHRASE={creds.passphrase} {BASE_URL_VARIABLE}={url}"
    )


async def _time(args: argparse.Namespace) -> int:
    async with account_client(args) as client:
        offset = await client.sync_time()
        server = await client.server_time()
    print(f"server time  {server.iso or server.timestamp} ({server.timestamp} ms)")
    print(f"local offset {offset:+.1f} ms (server minus local)")
    return EXIT_OK


def _read_ids(path: str) -> list[str]:
    """The ids of ``path``, one per line (UTF-8; a byte-order mark, as some editors write, is
    not part of the first id)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"cannot read {path}: not UTF-8 text (byte {exc.start}); order ids are digits, "
            "one per line"
        ) from None


async def _cancel(args: argparse.Namespace) -> int:
    creds = Credentials.from_env()
    if args.ids_file is not None and not args.ids:
        print(
            f"weex-async: warning: {args.ids_file} holds no order id: nothing to cancel",
            file=sys.stderr,
        )
        return EXIT_OK
    answers = _Answers()
    client = account_client(args, creds, on_event=answers)
    async with client, _Interrupt(client) as interrupt:
        report = await client.cancel_orders(
            ids=args.ids, cids=args.cids, symbol=args.symbol, deadline=args.deadline
        )
    if interrupt.interrupted:
        report = _cancel_report_interrupted(report)
    if args.json:
        print(
            json.dumps(
                {
                    "cancelled": list(report.cancelled),
                    "failed": report.failed,
                    "unknown": report.unknown,
                    "calls": report.calls,
                    "interrupted": interrupt.interrupted,
                }
            )
        )
    else:
        for name in report.cancelled:
            print(f"cancelled  {name}")
        for kind, outcomes in (("failed", report.failed), ("unknown", report.unknown)):
            _print_outcomes(kind, outcomes, width=10)
        print(
            f"{len(report.cancelled)} cancelled, {len(report.failed)} failed, "
            f"{len(report.unknown)} unknown, {_calls(report.calls, answers)}"
            + (" (interrupted)" if interrupt.interrupted else "")
        )
    return _finish(args.base_url, answers, interrupt, report.all_cancelled)


def _calls(calls: int, answers: _Answers) -> str:
    if calls and not answers.answered:
        return f"{calls} call(s) sent, none answered"
    return f"in {calls} call(s)"


def _finish(url: str, answers: _Answers, interrupt: _Interrupt, done: bool) -> int:
    """The exit code of a command on an account, after saying why it could reach nothing."""
    if interrupt.report_written():  # a Ctrl-C while the report was written
        return EXIT_INTERRUPTED
    if answers.sent and not answers.answered and not interrupt.interrupted:
        detail = f"no answer to any of {answers.sent} request(s), server-time syncs included"
        print(f"weex-async: error: {_unreachable(url, detail)}", file=sys.stderr)
    if interrupt.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if done else EXIT_INCOMPLETE


#: More orders than this with one reason are said in one line.
GROUPED = 3


def _print_outcomes(kind: str, outcomes: dict[str, str], *, width: int) -> None:
    """One line per order, or one line for a reason many orders share (cancel and flatten)."""
    for reason, names in _by_reason(outcomes).items():
        if len(names) > GROUPED:
            print(f"{kind:<{width}} {len(names)} orders ({names[0]} ... {names[-1]}): {reason}")
        else:
            for name in names:
                print(f"{kind:<{width}} {name}  {reason}")


def _by_reason(outcomes: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, reason in outcomes.items():
        grouped.setdefault(reason, []).append(name)
    return grouped


async def _flatten(args: argparse.Namespace, *, interruptible: bool = True) -> int:
    """The ``flatten`` command: ``cancel_everything`` with the parsed options, its report printed;
    returns the exit code (0 only when flat). ``guard`` runs it too, with its own parsed options,
    not ``interruptible``: a Ctrl-C there is the guard's (its flatten goes on), so no handler of
    ours replaces, then removes, the guard's."""
    creds = Credentials.from_env()
    answers = _Answers()
    client = account_client(args, creds, on_event=answers)
    async with client, _Interrupt(client, install=interruptible) as interrupt:
        report = await client.cancel_everything(
            args.symbols, deadline=args.deadline, include_triggers=args.include_triggers
        )
    if interrupt.interrupted:
        report = _flatten_report_interrupted(report)
    if args.json:
        print(json.dumps({**flatten_json(report), "interrupted": interrupt.interrupted}))
    else:
        for symbol, part in report.symbols.items():
            if not symbol and not _has_orders(part):  # trigger ids only: said below
                continue
            print(
                f"{_symbol_label(symbol)}: {len(part.seen_open)} seen open, "
                f"{len(part.cancelled)} cancelled, {len(part.gone)} gone, "
                f"{len(part.still_open)} still open, {len(part.unknown)} unknown"
            )
            for kind, outcomes in (("still open", part.still_open), ("unknown", part.unknown)):
                _print_outcomes(f"  {kind}", outcomes, width=13)
        for problem in report.problems:
            print(f"problem: {problem}")
        print(_triggers_text(report))
        state = "FLAT: the last listing showed no open order" if report.flat else "NOT FLAT"
        print(
            f"{state} ({_calls(report.calls, answers)}, {report.rounds} round(s), "
            f"{report.elapsed:.2f} s)" + (" (interrupted)" if interrupt.interrupted else "")
        )
    return _finish(args.base_url, answers, interrupt, report.flat)


#: How text and JSON name the symbol of orders known only from an account-wide cancel-all's
#: answer (the SDK files them under ``""``).
SYMBOL_NOT_KNOWN = "(symbol not known)"


def _symbol_label(symbol: str) -> str:
    return symbol or SYMBOL_NOT_KNOWN


def _has_orders(part: SymbolReport) -> bool:
    """Whether a symbol's report names any order (not only trigger orders)."""
    return bool(part.seen_open or part.cancelled or part.gone or part.still_open or part.unknown)


async def _guard(args: argparse.Namespace) -> int:
    """``guard``: check the key, then run ``_guard.run_guard`` with ``_flatten`` as its flatten."""
    from pathlib import Path

    from ._guard import (
        GuardOptions,
        heartbeat_problem,
        process_exists,
        run_guard,
        unfailing_output,
    )

    command = args.engine[1:] if args.engine[:1] == ["--"] else args.engine
    if bool(command) == (args.pid is not None):
        return _fail("guard needs either -- COMMAND [ARGS ...] or --pid PID (one of them)")
    if args.pid is not None and not process_exists(args.pid):  # before any signed request
        return _fail(f"no process {args.pid} to watch")
    problem = heartbeat_problem(Path(args.heartbeat)) if args.heartbeat else None
    if problem is not None:
        return _fail(problem)
    checked_symbols(args.symbols, args.api_version)  # one its flatten would refuse: never flat
    creds = Credentials.from_env()
    async with account_client(args, creds) as client:
        try:  # one signed read: a guard whose key is refused could never flatten
            await client.open_orders(limit=1)
        except (AuthenticationError, PermissionDeniedError) as exc:
            return _fail(
                f"the exchange refused this key ({refusal(exc)}): nothing started, nothing watched"
            )
        except WeexError as exc:
            print(
                f"weex-async guard: warning: could not check the key ({type(exc).__name__}: "
                f"{exc}); guarding anyway",
                file=sys.stderr,
            )

    def flatten(left: float | None) -> Any:
        return _flatten(argparse.Namespace(**{**vars(args), "deadline": left}), interruptible=False)

    options = GuardOptions(
        command=command,
        pid=args.pid,
        heartbeat=Path(args.heartbeat) if args.heartbeat else None,
        stale_after=args.stale_after,
        first_beat_within=args.first_beat_within,
        grace=args.grace,
        deadline=args.deadline,
    )
    try:
        with unfailing_output():  # a terminal gone, a closed pipe: the flatten goes on
            return await run_guard(options, flatten)
    except ProcessLookupError:
        return _fail(f"no process {args.pid} to watch")
    except OSError as exc:
        return _fail(f"cannot start {command[0]}: {exc.strerror or exc}")


def _triggers_text(report: FlattenReport) -> str:
    """How many trigger orders remain, as the report knows it."""
    count = len(report.triggers_open)
    # one page is read per target: from a full page's worth on, there may be more
    left = f"at least {count}" if count >= TRIGGER_PAGE else str(count)
    cancelled = sum(len(part.triggers_cancelled) for part in report.symbols.values())
    if not report.triggers_listed:
        return "trigger orders: not known (a trigger-order listing failed or was not made)"
    if report.include_triggers:
        return f"trigger orders: {cancelled} cancelled, {left} still open"
    if count:
        return f"trigger orders: {left} still open, left in place (--include-triggers cancels them)"
    return "trigger orders: none open"


def flatten_json(report: FlattenReport) -> dict[str, Any]:
    """A ``FlattenReport`` as plain JSON."""
    return {
        "flat": report.flat,
        "symbols": {
            _symbol_label(symbol): {
                "seen_open": list(part.seen_open),
                "cancelled": list(part.cancelled),
                "gone": part.gone,
                "still_open": part.still_open,
                "unknown": part.unknown,
                "triggers_open": list(part.triggers_open),
                "triggers_cancelled": list(part.triggers_cancelled),
            }
            for symbol, part in report.symbols.items()
        },
        "include_triggers": report.include_triggers,
        "triggers_listed": report.triggers_listed,
        "calls": report.calls,
        "rounds": report.rounds,
        "elapsed_s": round(report.elapsed, 3),
        "problems": list(report.problems),
    }


class _Warnings(logging.Handler):
    """The SDK's warnings as one line each on stderr (the demo's summary says them instead)."""

    def emit(self, record: logging.LogRecord) -> None:
        hint = _HOST_LEDGER_HINT if hasattr(record, "weex_async_host_ledger") else ""
        print(
            f"weex-async: {record.levelname.lower()}: {record.getMessage()}{hint}", file=sys.stderr
        )


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
        runner: Any = {"time": _time, "cancel": _cancel, "flatten": _flatten, "guard": _guard}[
            args.command
        ]
        return int(asyncio.run(runner(args)))
    except (ConfigurationError, InvalidRequestError) as exc:
        return _fail(str(exc))
    except TransportError as exc:
        return _fail(_unreachable(args.base_url, str(exc)), EXIT_INCOMPLETE)
    except WeexError as exc:
        return _fail(_cause(exc), EXIT_INCOMPLETE)
    except RuntimeError as exc:  # e.g. the fake exchange needs uvicorn, or its port is taken
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # never a traceback, never an exception group: name the cause
        return _fail(f"unexpected error: {_cause(exc)}", EXIT_INCOMPLETE)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
