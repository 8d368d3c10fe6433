"""Every Python example in docs/ runs, against the fake exchange (never the network)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import weex_async
from weex_async import Credentials, WeexClient
from weex_async.testing import FakeExchange, free_port

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
KEY, SECRET, PASSPHRASE = "docs-key", "docs-secret", "docs-pass"


#: Pages whose examples are whole programs, run as written against ``weex-async fake-exchange``
#: (below), not through the patched client.
PROGRAM_PAGES = ("quickstart.md", "trading-engine.md", "guard.md")


def examples() -> list[Any]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        if path.name in PROGRAM_PAGES:
            continue
        for index, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append(pytest.param(match.group(1), id=f"{path.stem}-{index}"))
    return found


def test_the_docs_have_examples() -> None:
    assert len(examples()) >= 6


@pytest.mark.parametrize("code", examples())
def test_docs_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = FakeExchange()
    exchange.add_account(KEY, SECRET, PASSPHRASE)
    order_ids = exchange.place_resting_orders(KEY, 120)
    exchange.place_resting_orders(KEY, 0, client_oids=["mm-1", "mm-2"])
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


def test_the_docs_install_extras_from_the_checkout() -> None:
    # weex-async is not on the package index yet: `pip install 'weex-async[redis]'` could install
    # someone else's package; the docs say `pip install -e '.[redis]'` in the checkout instead
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        assert "install 'weex-async[" not in text, path.name


# -- whole programs, run as written against `weex-async fake-exchange` ----------------------------


def test_every_whole_program_in_the_docs_is_run_against_the_fake_exchange() -> None:
    """A program pasted after the fake exchange's ``export`` line must not reach WEEX with the
    fake's demo key, signed: every one reads ``WEEX_BASE_URL`` and is run so below."""
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for index, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            code = match.group(1)
            if "asyncio.run(" not in code or "WeexClient(" not in code:
                continue  # a fragment: run above, through the patched client
            where = f"{path.name}, program {index}"
            assert path.name in PROGRAM_PAGES, f"{where} is not run as a program"
            if "transport=" not in code:
                assert 'os.environ.get("WEEX_BASE_URL"' in code, f"{where} ignores WEEX_BASE_URL"
                assert code.count("WeexClient(") == code.count("base_url="), where


TOML = re.compile(r"```toml\n(.*?)```", re.S)


def programs() -> list[Any]:
    found = []
    for name in PROGRAM_PAGES:
        text = (DOCS / name).read_text(encoding="utf-8")
        for index, match in enumerate(BLOCK.finditer(text)):
            found.append(pytest.param(name, match.group(1), id=f"{Path(name).stem}-{index}"))
    return found


@pytest.fixture(scope="module")
def fake_exchange_shell() -> Iterator[dict[str, str]]:
    """``weex-async fake-exchange --open 300`` in a process, and the environment of a shell in
    which its banner's ``export`` line was pasted (nothing else: no credential of this machine)."""
    script = Path(sys.executable).with_name("weex-async")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "weex_async.cli"]
    process = subprocess.Popen(
        [
            *command,
            "fake-exchange",
            "--port",
            str(free_port()),
            "--open",
            "300",
            "--ids-out",
            os.devnull,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEEX_")}
    try:
        for line in iter(process.stdout.readline, ""):
            if line.strip().startswith("export "):
                for word in shlex.split(line.strip())[1:]:
                    key, _, value = word.partition("=")
                    env[key] = value
                break
        assert env.get("WEEX_BASE_URL", "").startswith("http://127.0.0.1:"), "never the network"
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


@pytest.mark.parametrize(("page", "code"), programs())
def test_docs_program_runs_as_written_against_the_fake_exchange(
    page: str, code: str, fake_exchange_shell: dict[str, str], tmp_path: Path
) -> None:
    if "import pytest" in code:  # a test file: run by pytest with the page's own settings
        (tmp_path / "pyproject.toml").write_text(TOML.findall((DOCS / page).read_text())[0])
        (tmp_path / "test_engine.py").write_text(code)
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        # hypothesis's plugin (installed for this suite, not a reader's need) was half of that
        # pytest's start-up: 0.5 s of CPU
        argv += ["-p", "no:hypothesispytest"]
        argv += ["-W", "error::pytest.PytestDeprecationWarning", "test_engine.py"]
    else:
        argv = [sys.executable, "-c", code]
    done = subprocess.run(
        argv,
        cwd=tmp_path,
        env=fake_exchange_shell,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "HTTP Request" not in done.stderr, "httpx kept at WARNING"
    if "server_time()" in code:
        assert "my_engine INFO server time" in done.stderr, "the service's own INFO lines stay"
    if "cancel_orders(" in code:
        assert re.search(r"^[1-9]\d* (of \d+ )?cancelled", done.stdout, re.M), done.stdout


# -- the site: every page reachable, the API reference rendered ------------------------------------


def test_the_index_and_the_nav_list_every_page() -> None:
    pages = {path.name for path in DOCS.glob("*.md")} - {"index.md"}
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    for page in sorted(pages):
        assert f"]({page})" in index, f"docs/index.md leaves out {page}"
        assert f": {page}\n" in nav, f"mkdocs.yml's nav leaves out {page}"
    assert "`flatten`" in index.split("(cli.md)", 1)[1].split("\n- ", 1)[0], "the CLI with flatten"


def test_docstrings_use_no_sphinx_roles() -> None:
    """mkdocstrings renders Markdown: ``:meth:`x``` would show as raw text in the reference."""
    role = re.compile(r":(meth|func|class|attr|mod|exc|obj|data):`")
    for path in sorted((ROOT / "weex_async").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not role.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_the_reference_lists_parameters_with_their_whole_defaults() -> None:
    """A table's narrow Default column cut defaults short (``DEFAULT_BAS…``); a list does not."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^ +docstring_section_style: list$", config, re.M)
