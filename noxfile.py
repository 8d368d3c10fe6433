"""The single entry point: tests, lint, typing, benchmarks. README.md and .ci/run call these."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox
import nox.command

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The suite in four pytest-xdist workers: its tests wait (on processes, sockets, rate-limit
#: windows) far longer than they compute, so four overlap their waits even on two cores. Every
#: test keeps to its own ports, directories and Redis servers; the modules of conftest's
#: ``ONE_AT_A_TIME`` run on one worker each (``loadgroup``). ``nox -s tests -- -n 0`` runs the
#: suite in one process (a later ``-n`` wins).
PARALLEL = ("-n", "4", "--dist", "loadgroup")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the current Python."""
    session.install("-e", ".[test]")
    session.run("pytest", *PARALLEL, *session.posargs)


@nox.session(name="tests-uvloop")
def tests_uvloop(session: nox.Session) -> None:
    """The test suite on uvloop, the event loop many market makers run (tests/conftest.py)."""
    session.install("-e", ".[test]", "uvloop>=0.19")
    session.run("pytest", *PARALLEL, *session.posargs, env={"WEEX_TEST_LOOP": "uvloop"})


@nox.session(name="tests-all", python=PYTHONS)
def tests_all(session: nox.Session) -> None:
    """The test suite on every supported Python (needs them on PATH, e.g. via pyenv)."""
    session.install("-e", ".[test]")
    session.run("pytest", *PARALLEL, *session.posargs)


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


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, check their metadata, install the wheel into a fresh virtual
    environment (no checkout on its path) and run the command from there: a missing package file
    or entry point fails here, not on a user's machine."""
    session.install("build", "twine")
    tmp = Path(session.create_tmp()).resolve()
    dist, venv = tmp / "dist", tmp / "wheel-venv"
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    sdists, wheels = list(dist.glob("*.tar.gz")), list(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        session.error(f"expected one sdist and one wheel, got {sorted(dist.iterdir())}")
    wheel = str(wheels[0])
    session.run("twine", "check", "--strict", str(sdists[0]), wheel)
    session.run("python", "-m", "venv", str(venv))
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    session.run(
        str(scripts / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[fake]", external=True
    )
    session.chdir(tmp)  # away from the checkout: only the installed wheel can be imported
    version = session.run(str(scripts / "weex-async"), "--version", silent=True, external=True)
    expected = session.run(
        str(scripts / "python"),
        "-c",
        "import importlib.metadata as m, importlib.resources as r, weex_async; "
        "assert 'site-packages' in weex_async.__file__, weex_async.__file__; "
        "assert r.files('weex_async').joinpath('py.typed').is_file(), 'py.typed'; "
        "print('weex-async', m.version('weex-async'))",
        silent=True,
        external=True,
    )
    if not version or version.strip() != (expected or "").strip():
        session.error(f"weex-async --version said {version!r}, the metadata {expected!r}")
    session.log(version.strip())
    session.run(
        str(scripts / "weex-async"), "demo", "--orders", "50", "--window", "0.5", external=True
    )
