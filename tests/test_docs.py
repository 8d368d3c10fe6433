"""Every Python example in docs/ runs, against the fake exchange (never the network)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import attrs
import pytest

import weex_async
from weex_async import Credentials, WeexClient
from weex_async.testing import FakeExchange

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
KEY, SECRET, PASSPHRASE = "docs-key", "docs-secret", "docs-pass"


def examples() -> list[Any]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for index, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append(pytest.param(match.group(1), id=f"{path.stem}-{index}"))
    return found


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 6


@pytest.mark.parametrize("code", examples())
def test_docs_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    order_ids = exchange.open_orders(KEY, 120)
    exchange.open_orders(KEY, 0, client_oids=["mm-1", "mm-2"])
    monkeypatch.setenv("WEEX_API_KEY", KEY)
    monkeypatch.setenv("WEEX_API_SECRET", SECRET)
    monkeypatch.setenv("WEEX_API_PASSPHRASE", PASSPHRASE)

    class DocsClient(WeexClient):
        """WeexClient bound to the fake exchange (examples name the real one)."""

        def __init__(self, credentials: Credentials | None = None, **kwargs: Any) -> None:
            if kwargs.get("transport") is None:  # an example with its own fake keeps it
                kwargs["base_url"] = "http://fake"
                kwargs["transport"] = exchange.transport()
            limits = kwargs.get("rate_limits")
            shared = None if limits is None else limits.shared_ledger
            if limits is not None and shared is not None and not shared.startswith("file:"):
                # no host but loopback: a Redis named in an example is not there
                kwargs["rate_limits"] = attrs.evolve(limits, redis_url=None, ledger="process")
            super().__init__(credentials, **kwargs)

    monkeypatch.setattr(weex_async, "WeexClient", DocsClient)
    namespace: dict[str, Any] = {name: getattr(weex_async, name) for name in weex_async.__all__}
    creds = Credentials(KEY, SECRET, PASSPHRASE)
    namespace.update(creds=creds, order_ids=order_ids, all_my_order_ids=order_ids)
    compiled = compile(code, "<docs example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

    if "asyncio.run(" in code:  # a whole program: it runs its own event loop
        exec(compiled, namespace)
        return

    async def run() -> None:
        async with DocsClient(creds) as client:
            namespace["client"] = client
            result = eval(compiled, namespace)
            if inspect.iscoroutine(result):
                await result
            for name, value in list(namespace.items()):
                if name.startswith("test_") and inspect.iscoroutinefunction(value):
                    await value()

    asyncio.run(run())


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
ROOT = DOCS.parent


def relative_links() -> list[Any]:
    found = []
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a URL, or an anchor in the same page
            found.append(pytest.param(path, target, id=f"{path.name}->{target}"))
    return found


def test_the_docs_have_relative_links() -> None:
    assert len(relative_links()) >= 20


@pytest.mark.parametrize(("page", "target"), relative_links())
def test_every_relative_link_resolves(page: Path, target: str) -> None:
    file = target.split("#", 1)[0]
    assert (page.parent / file).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_docs_point_to_nothing_outside_the_repository() -> None:
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "weex-api.md" not in text, path.name
        assert "../shared" not in text, path.name
