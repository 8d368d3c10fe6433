"""Ctrl-C while ``weex-async`` is still importing: one line and exit 130, never a traceback.

The package's imports take a few tenths of a second; the console script's entry point
(``_weex_async_cli``, outside the package) catches a Ctrl-C among them. The process is made to
stop inside those imports deterministically: a ``sitecustomize`` (run by Python at start-up, put
on ``PYTHONPATH``) says "importing" and blocks when ``weex_async._client`` is about to be
imported, and the test sends SIGINT once it has said so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import _weex_async_cli
from weex_async.cli import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child: POSIX only")

#: blocks in the package's imports until SIGINT (whose KeyboardInterrupt ends the sleep)
SITECUSTOMIZE = """
import sys, time

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "weex_async._client":
            sys.meta_path.remove(self)
            sys.stderr.write("importing\\n")
            sys.stderr.flush()
            time.sleep(120)
        return None

sys.meta_path.insert(0, Block())
"""


def console_script() -> list[str]:
    """The installed ``weex-async``; else what it runs (its entry point), as it runs it."""
    script = Path(sys.executable).with_name("weex-async")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys, _weex_async_cli; sys.exit(_weex_async_cli.main())"]


@pytest.mark.real_time("a real process, interrupted in its imports")
@pytest.mark.parametrize("argv", [["--help"], ["flatten", "--symbol", "cmt_btcusdt"]])
def test_ctrl_c_while_importing_is_one_line_and_exit_130(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [*console_script(), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline() == "importing\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in err
    assert err == "weex-async: error: interrupted\n"
    assert out == ""
    assert process.returncode == EXIT_INTERRUPTED


def test_the_entry_point_is_the_one_that_catches_it() -> None:
    """pyproject's console script is ``_weex_async_cli:main``, which says 130 as the CLI does."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'weex-async = "_weex_async_cli:main"' in text
    assert _weex_async_cli.EXIT_INTERRUPTED == EXIT_INTERRUPTED
