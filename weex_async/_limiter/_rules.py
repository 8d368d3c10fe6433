"""The exchange's rate-limit rules, as data: each declared once, in ``RULES``.

A rule says who shares a budget (its scope), its default budget, and which calls it charges with
what weight. Everything that meters reads this table: the client's pools
(``ClientLimiter.charges``: one pool per rule and owner), what the used-weight header corrects
(rules that count weight, not requests), the shared ledgers' key names, the fake exchange's
meters, the least time any client needs (``weex_async.testing.least_seconds``) and the pools
table of docs/rate-limits.md (``tests/test_rules.py`` checks it against ``doc_rows``). The budget
a client uses is its ``RateLimits`` field of the rule's name when there is one (``ip``, ``uid``,
``trade``), else the rule's default. CONTRIBUTING.md's "Adding an exchange rule" is the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import attrs

__all__ = [
    "IP",
    "RULES",
    "TRADE",
    "UID",
    "Rule",
    "Scope",
    "Weighed",
    "doc_rows",
    "rule_named",
]

#: Who shares one budget of a rule: every account behind one IP, one account, or one account's
#: calls of one endpoint.
Scope = Literal["ip", "account", "account-endpoint"]


class Weighed(Protocol):
    """What a rule reads of a call to know its charge (``_endpoints.Endpoint`` has it, and so
    has the fake exchange's route)."""

    @property
    def ip_weight(self) -> int: ...
    @property
    def uid_weight(self) -> int: ...
    @property
    def trade(self) -> bool: ...


@attrs.frozen
class Rule:
    """One rate-limit rule of the exchange.

    Attributes:
        name: its pools' kind: the first part of their name (``rate_limit_status()``) and of
            their key in a shared ledger, and the ``RateLimits`` field holding its budget.
        scope: who shares one budget.
        default: WEEX's budget, ``(weight, window seconds)``; ``None``: off unless set.
        charge: the weight one call charges (0: the call is not charged).
        unit: ``"weight"`` or ``"requests"``: what it counts (the exchange's used-weight header
            corrects only the rules that count weight).
        private: a call it charges needs credentials (else a client without a key skips it).
        charged_by: which calls it charges, in words (docs/rate-limits.md's table).
        source: where WEEX says so, and how sure that is (docs/weex-facts.md has the details).
    """

    name: str
    scope: Scope
    default: tuple[int, float] | None
    charge: Callable[[Weighed], int]
    unit: Literal["weight", "requests"]
    private: bool
    charged_by: str
    source: str

    def key(self, host: str, api_key: str | None, endpoint: str) -> tuple[str, ...]:
        """The key of the pool a call of ``endpoint`` charges (``api_key`` is set for account
        scopes)."""
        if self.scope == "ip":
            return (self.name, host)
        assert api_key is not None
        if self.scope == "account":
            return (self.name, host, api_key)
        return (self.name, host, api_key, endpoint)

    @staticmethod
    def label(key: tuple[str, ...]) -> str:
        """A pool's shown name: its key, the API key cut to 6 characters (never shown whole)."""
        kind, host, *owner = key
        shown = [owner[0][:6] + "…", *owner[1:]] if owner else []
        return ":".join((kind, host, *shown))

    def shared_key(self, key: tuple[str, ...], ip_group: str) -> tuple[str, ...]:
        """The parts of the pool's key in a shared ledger: only processes behind one egress IP
        (one ``ip_group``) share an IP pool."""
        if self.scope == "ip":
            return (self.name, ip_group, *key[1:])
        return key

    def pattern(self) -> str:
        """The names of its pools, as docs/rate-limits.md shows them."""
        return {
            "ip": f"`{self.name}:<host>`",
            "account": f"`{self.name}:<host>:<key>`",
            "account-endpoint": f"`{self.name}:<host>:<key>:<endpoint>`",
        }[self.scope]


IP = Rule(
    name="ip",
    scope="ip",
    default=(500, 10.0),
    charge=lambda call: call.ip_weight,
    unit="weight",
    private=False,
    charged_by="every call (its IP weight)",
    source="WEEX's rate-limit page: 500 per 10 s per IP (older copies say 1000)",
)
UID = Rule(
    name="uid",
    scope="account",
    default=(500, 10.0),
    charge=lambda call: call.uid_weight,
    unit="weight",
    private=True,
    charged_by="every signed call (its UID weight)",
    source="WEEX's rate-limit page: 500 per 10 s per account",
)
TRADE = Rule(
    name="trade",
    scope="account",
    default=(10, 1.0),
    charge=lambda call: 1 if call.trade else 0,
    unit="requests",
    private=False,
    charged_by="place and cancel calls (1 each)",
    source=(
        'WEEX\'s V2 limits page: "10 requests per second" on trade endpoints (whether batch '
        "cancels count is undocumented)"
    ),
)

#: Every rule, in the order a call's pools are charged.
RULES: tuple[Rule, ...] = (IP, UID, TRADE)

_SHARED_BY: dict[Scope, str] = {
    "ip": "every client of one `Limiter` talking to that host",
    "account": "every client of one `Limiter` with that API key",
    "account-endpoint": "every client of one `Limiter` with that API key, per endpoint",
}


def rule_named(name: str, rules: Sequence[Rule] = RULES) -> Rule:
    """The rule called ``name``."""
    for rule in rules:
        if rule.name == name:
            return rule
    raise KeyError(name)


def doc_rows(rules: Sequence[Rule] = RULES) -> list[str]:
    """docs/rate-limits.md's pools table, one Markdown row per rule."""
    rows = []
    for rule in rules:
        if rule.default is None:
            budget = "off"
        else:
            weight, window = rule.default
            unit = " calls" if rule.unit == "requests" else ""
            budget = f"{weight}{unit} / {window:g} s"
        cells = (rule.pattern(), _SHARED_BY[rule.scope], budget, rule.charged_by)
        rows.append("| " + " | ".join(cells) + " |")
    return rows
