"""The single entry point: tests, lint, typing, benchmarks. README.md and .ci/run call these."""

from __future__ import annotations

import nox
import nox.command

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the current Python."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-all", python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python (needs them on PATH, e.g. via pyenv)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


#: The independent WEEX clients the fake exchange is checked against (test-only, pinned).
CONFORMANCE_CLIENTS = ("weex-sdk==1.0.10", "ccxt==4.5.90")


@nox.session
def conformance(session: nox.Session) -> None:
    """The fake exchange against WEEX clients written by others: weex-sdk (V2), ccxt (V3)."""
    session.install("-e", ".[test]")
    try:
        session.install(*CONFORMANCE_CLIENTS)
    except nox.command.CommandFailed:
        session.error(
            f"conformance: cannot install {' and '.join(CONFORMANCE_CLIENTS)} from the package "
            "index; these checks need both, so the session fails"
        )
    session.run("pytest", "tests/conformance", *session.posargs, env={"WEEX_CONFORMANCE": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting of the sources."""
    session.install("ruff>=0.6")
    paths = ("weex_async", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the package, the tests and the benchmarks."""
    session.install("mypy>=1.10", "-e", ".[test,bench]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with --strict (any warning fails)."""
    session.install("-e", ".[docs]")
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks (bounded; they print a table and stop by themselves)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
