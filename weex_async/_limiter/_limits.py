"""The rate-limit settings: ``Budget`` and ``RateLimits``, with WEEX's documented defaults."""

from __future__ import annotations

import importlib.util
import math
import os
import re
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from .._checks import check_setting
from ..errors import ConfigurationError
from ._rules import IP, TRADE, UID, Rule

__all__ = ["LEDGER_ENV", "Budget", "RateLimits", "mask_url"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")
#: The environment variable ``RateLimits.from_env()`` reads the ledger from.
LEDGER_ENV = "WEEX_ASYNC_LEDGER"
#: Query parameters of a URL whose value is a secret (masked wherever the URL is shown).
_SECRET_PARAMS = re.compile(r"pass|secret|token|auth|key|credential", re.IGNORECASE)
#: What a process cut off from Redis sends: its share of the budget, only cancels, or nothing.
RedisOutage = Literal["share", "cancels", "nothing"]


def _positive(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_setting(f"{type(instance).__name__}.{attribute.name}", value)


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_setting(f"{type(instance).__name__}.{attribute.name}", value, zero=True)


def _redis_url(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or _scheme(value) not in _REDIS_SCHEMES:
        shown = mask_url(value) if isinstance(value, str) else repr(value)
        raise ConfigurationError(
            f"redis_url must be a redis://, rediss:// or unix:// URL, got {shown}"
        )
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            "a Redis ledger needs the redis extra: pip install -e '.[redis]' from the "
            "checkout (weex-async is not on a package index yet)"
        )
    # read now as redis-py will read it: a port out of range or a bad db would otherwise fail
    # every call later (a kill switch reporting every order unknown, having sent nothing)
    from redis.connection import parse_url

    try:
        parse_url(value)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        raise ConfigurationError(
            f"{attribute.name} is not a Redis URL redis-py can read ({exc}), got "
            f"{mask_url(value)}: expected redis://[[user]:password@]host[:port][/db], "
            "rediss://... or unix:///path/to/socket"
        ) from None


def _one_of_outage(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in get_args(RedisOutage):
        raise ConfigurationError(
            f"redis_outage must be one of {get_args(RedisOutage)}, got {value!r}"
        )


def _group_name(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or not value.isprintable() or "}" in value:
        raise ConfigurationError(f"ip_group must be a short printable name, got {value!r}")


def _masked_repr(url: str | None) -> str:
    return "None" if url is None else repr(mask_url(url))


def mask_url(url: str) -> str:
    """``url`` with its secrets replaced by ``***``: the password of its user information (the
    whole user information when it has no password: it may be a token), and the value of every
    query parameter named like a secret (``?password=``, redis-py's form for ``unix://``).
    Safe to log and show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that cannot be parsed>"
    shown = url
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        masked = f"{user}:***@{host}" if has_password else f"***@{host}"
        shown = shown.replace(f"//{parts.netloc}", f"//{masked}", 1)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_SECRET_PARAMS.search(name) for name, _ in pairs):
            query = "&".join(
                f"{name}=***" if _SECRET_PARAMS.search(name) else f"{name}={value}"
                for name, value in pairs
            )
            shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    if parts.fragment:
        shown = shown.replace(f"#{parts.fragment}", "#***", 1)
    return shown


def _ledger(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value in ("process", "host"):
        return
    if isinstance(value, str):
        scheme = _scheme(value) if "://" in value else ""
        if scheme in _REDIS_SCHEMES:
            _redis_url(instance, attribute, value)
            return
        if scheme == "file":
            _file_path(value)
            return
    raise ConfigurationError(
        'ledger must be "process", "host", "file:///path" or a redis://, rediss:// or unix:// '
        f"URL, got {_shown_ledger(value)}"
    )


def _scheme(url: str) -> str:
    """``url``'s scheme; ``""`` for one that cannot be parsed (``redis://[::1``)."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _shown_ledger(value: object) -> str:
    """A refused ``ledger`` as a message may show it: quoted (an empty or padded value is seen),
    masked when a URL, and not at all when it looks like a misspelt URL (``redis:/user:pw@h``
    is no URL, so ``mask_url`` would show its password)."""
    if not isinstance(value, str):
        return repr(value)
    if "://" in value:
        shown = mask_url(value)
        return shown if shown.startswith("<") else repr(shown)  # "<... cannot be parsed>"
    if "@" in value or ":" in value:
        return "a value not shown (it may hold a password)"
    return repr(value)


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost") or not os.path.isabs(path) or parts.query:
        raise ConfigurationError(
            "a file:// ledger must name an absolute path on this host (file:///path/to/file), "
            f"got {mask_url(url)}"
        )
    return Path(path)


def _resolve(ledger: str, redis_url: str | None) -> str | None:
    """Where ``ledger`` (or ``redis_url``) lives: ``None``, a ``file:`` URL or a Redis URL."""
    if redis_url is not None:
        if ledger not in ("process", redis_url):
            raise ConfigurationError(
                f"redis_url={mask_url(redis_url)} and ledger={mask_url(ledger)} disagree: "
                "set one of them"
            )
        return redis_url
    if ledger == "process":
        return None
    if ledger == "host":
        from ._host import default_path

        return default_path().as_uri()
    return ledger


def _share(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigurationError(f"{attribute.name} must be in (0, 1], got {value!r}")


@attrs.frozen
class Budget:
    """A pool's budget: at most ``weight`` units in any ``window`` seconds.

    Attributes:
        weight: the most weight the exchange accepts in one window.
        window: the window's length in seconds.
    """

    weight: int = attrs.field(validator=_positive)
    window: float = attrs.field(validator=_positive, converter=float)


def _default(rule: Rule) -> Budget:
    assert rule.default is not None
    return Budget(*rule.default)


@attrs.frozen
class RateLimits:
    """What the client may spend, per pool.

    The defaults are WEEX's documented budgets; the sizes are *uncertain* (docs/weex-facts.md), so
    each is a setting whose default is the conservative reading.

    Attributes:
        ip: the IP pool, shared by every client of this process (and event loop) that talks to the
            same host. Default 500 per 10 s (some old docs say 1000: 500 never over-spends).
        uid: the account pool, shared by every client using the same API key. Default 500 / 10 s.
        trade: a cap on the number of trade calls (place / cancel; each counts 1), for WEEX's
            "10 requests per second" on trade endpoints. Whether batch cancel counts is not
            documented, so it is on by default; ``None`` turns it off.
        arrival_jitter: the allowance for a request that got **no answer**: its weight is held
            one window plus this long after it was given up (it may still be on its way). An
            answered request needs none: it arrived before its answer came back, so its weight
            is held exactly one window after the answer, whatever the latency. The Redis ledger
            also adds it to every charge (docs/several-processes.md says why).
        ban: seconds to pause the pools after an HTTP 429 without a usable ``Retry-After``
            header (WEEX documents a 10 s ban; none is documented).
        max_retry_after: the longest pause a ``Retry-After`` header may ask for, in seconds
            (longer asks are cut to it; ``inf``, ``nan``, negative or unparsable ones are
            ignored for ``ban``), so that a hostile or broken gateway cannot stop the client.
        redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL of a Redis that shares the IP,
            account and trade pools with every process (on any host) using it; needs the
            ``redis`` extra (checked here). The same as ``ledger=`` with that URL (kept for
            compatibility). Its secrets are never shown (``repr``, logs, errors).
        redis_fallback_share: while Redis is unreachable, each process spends at most this share
            of every budget (0.25: safe for up to 4 processes on one account or IP; see
            docs/several-processes.md for what it guarantees and what it does not).
        redis_outage: what a process cut off from Redis sends: ``"share"`` (its fallback share
            of every budget, the default), ``"cancels"`` (its share, for cancels only: the rest
            waits for Redis), or ``"nothing"`` (everything waits for Redis: never over budget,
            even when only some processes are cut off).
        ip_group: the name of the egress IP behind which this process sends (``"default"``).
            Processes sharing one Redis share one IP pool per host *and IP group*: give hosts
            with different public IPs different groups. One group (the default) is the safe
            choice: it never under-counts.
        ledger: where budgets are shared: ``"process"`` (the clients of this process only, the
            default), ``"host"`` (every process of the user on this machine, through a file in
            the user's state directory: ``$XDG_STATE_HOME/weex-async/``, else
            ``~/.local/state/weex-async/``; no server), ``"file:///path"`` (the same, in that
            file), or a ``redis://``, ``rediss://`` or ``unix://`` URL (every process on every
            host; the same as ``redis_url``). A malformed value is a ``ConfigurationError`` here;
            a host ledger's file that cannot be used (corrupt, a directory that cannot be
            written, a full disk) is an outage, met at the first call: the fallback share, as
            for an unreachable Redis. ``RateLimits.from_env()`` reads it from
            ``WEEX_ASYNC_LEDGER``. See docs/several-processes.md.
    """

    ip: Budget = attrs.field(default=_default(IP))
    uid: Budget = attrs.field(default=_default(UID))
    trade: Budget | None = attrs.field(default=_default(TRADE))
    arrival_jitter: float = attrs.field(default=0.25, validator=_non_negative)
    ban: float = attrs.field(default=10.0, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    redis_url: str | None = attrs.field(
        default=None,
        validator=_redis_url,
        repr=lambda url: "None" if url is None else repr(mask_url(url)),
    )
    redis_fallback_share: float = attrs.field(default=0.25, validator=_share)
    redis_outage: RedisOutage = attrs.field(default="share", validator=_one_of_outage)
    ip_group: str = attrs.field(default="default", validator=_group_name)
    ledger: str = attrs.field(
        default="process",
        validator=_ledger,
        repr=lambda where: repr(mask_url(where) if "://" in where else where),
    )
    #: where the ledger lives (``shared_ledger``), resolved once
    _where: str | None = attrs.field(init=False, default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        where = _resolve(self.ledger, self.redis_url)
        if where is not None and where.startswith("file:"):
            # the file itself is not opened here: one that cannot be used is an outage at the
            # first call (the fallback share), never an error that stops a kill switch
            try:
                from . import _host  # noqa: F401
            except ImportError as exc:  # no fcntl: not a POSIX system
                raise ConfigurationError(
                    f"the host ledger needs a POSIX system ({exc}): use ledger='process' or a "
                    "Redis URL here"
                ) from None
        object.__setattr__(self, "_where", where)

    @property
    def shared_ledger(self) -> str | None:
        """The ledger the budgets are shared through: ``None`` (this process only), a
        ``file:///...`` URL (the host ledger's file) or the Redis URL."""
        return self._where

    @classmethod
    def from_env(cls, *, default_ledger: str = "process", **settings: Any) -> RateLimits:
        """``RateLimits(**settings)`` whose ledger is ``$WEEX_ASYNC_LEDGER`` when set (else
        ``default_ledger``): ``process``, ``host``, ``file:///path`` or a Redis URL.

        Raises:
            ConfigurationError: the variable names no ledger (a malformed value).
        """
        ledger = os.environ.get(LEDGER_ENV, "").strip() or default_ledger
        return cls(**settings, ledger=ledger)

    def budget_for(self, rule: Rule) -> Budget | None:
        """The budget of ``rule``: the setting of its name when there is one (``ip``, ``uid``,
        ``trade``), else the rule's default (``None``: the rule is off)."""
        if rule.name in _SETTINGS:
            budget: Budget | None = getattr(self, rule.name)
            return budget
        return None if rule.default is None else Budget(*rule.default)

    def pause_for(self, retry_after: float | None) -> float:
        """Seconds to pause after a 429 that asked for ``retry_after`` (``None``: not sent)."""
        if retry_after is None or not math.isfinite(retry_after) or retry_after < 0:
            return self.ban
        return min(retry_after, self.max_retry_after)


#: The rules whose budget is a setting of ``RateLimits``.
_SETTINGS = frozenset(("ip", "uid", "trade"))
