"""Weights restated in prose (docstrings, comments, the docs) are the declared ones.

An endpoint's weights are declared once, in ``_v2.py`` / ``_v3.py``; the docstrings and pages
that name an endpoint say them again for the reader. Every "``METHOD /path`` (IP n, UID m)"
written anywhere in the package or docs/ is read here and checked against the declaration of
that method and path, so a weight changed in one place fails until it is changed in the other.
"""

from __future__ import annotations

import re
from pathlib import Path

from weex_async import _v2, _v3
from weex_async._endpoints import Endpoint

ROOT = Path(__file__).resolve().parent.parent

#: "``GET /capi/v2/order/current`` (IP 2, UID 2)", "(IP weight 1)", "`PATH`: IP 40, UID 50",
#: "`PATH` weighs IP 5 and UID 10", "`PATH`, IP 5 / UID 10": query strings and line breaks
#: allowed, the UID weight optional (public endpoints have none).
STATED = re.compile(
    r"`{1,2}(GET|POST|DELETE|PUT) (/capi/[^`?\s]+)[^`]*`{1,2}"
    r"(?:\s*\(|:\s*|,\s*|\s+weighs\s+)"
    r"IP (?:weight )?\**(\d+)\**(?:(?:,| and| /)\s*UID (?:weight )?\**(\d+)\**)?\b"
)


def declared() -> dict[tuple[str, str], Endpoint[object]]:
    endpoints = [
        value
        for module in (_v2, _v3)
        for value in vars(module).values()
        if isinstance(value, Endpoint)
    ]
    return {(e.method, e.path): e for e in endpoints}


def stated() -> list[tuple[str, str, str, int, int | None]]:
    """(file, method, path, IP, UID) for every weight stated in prose."""
    files = [*sorted((ROOT / "weex_async").rglob("*.py")), *sorted((ROOT / "docs").rglob("*.md"))]
    found = []
    for file in files:
        text = " ".join(file.read_text().split())  # a statement may span lines
        for method, path, ip, uid in STATED.findall(text):
            name = str(file.relative_to(ROOT))
            found.append((name, method, path, int(ip), int(uid) if uid else None))
    return found


def test_every_weight_stated_in_prose_is_the_declared_one() -> None:
    endpoints = declared()
    statements = stated()
    assert len(statements) >= 15, "the pattern still finds the statements"
    wrong = []
    for name, method, path, ip, uid in statements:
        endpoint = endpoints.get((method, path))
        if endpoint is None:
            wrong.append(f"{name}: {method} {path} is not a declared endpoint")
        elif ip != endpoint.ip_weight or (uid is not None and uid != endpoint.uid_weight):
            wrong.append(
                f"{name}: {method} {path} stated as IP {ip}, UID {uid}; declared "
                f"IP {endpoint.ip_weight}, UID {endpoint.uid_weight}"
            )
    assert not wrong, "\n".join(wrong)


def test_a_wrong_weight_in_prose_is_caught() -> None:
    text = "``POST /capi/v2/order/cancel_order`` (IP 2, UID 4)."
    ((method, path, ip, uid),) = STATED.findall(text)
    endpoint = declared()[(method, path)]
    assert (int(ip), int(uid)) != (endpoint.ip_weight, endpoint.uid_weight)
