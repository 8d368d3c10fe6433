"""The ``weex-async`` console script's entry point, kept outside the ``weex_async`` package.

Importing the package takes a few tenths of a second (httpx, attrs, cattrs, the whole SDK), and
Python runs a package's ``__init__`` before any of its modules: a Ctrl-C during those imports
would escape as a traceback before ``weex_async.cli.main`` could catch it. This module imports
nothing of the package until ``main`` runs, and says an early Ctrl-C the way the command says any
other: one line, exit 130 (docs/cli.md). Everything else is ``weex_async.cli``.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

#: weex_async.cli's EXIT_INTERRUPTED (a test keeps the two equal): not imported, on purpose
EXIT_INTERRUPTED = 130


def main() -> int:
    """Import the command line and run it; a Ctrl-C while importing exits 130 in one line."""
    try:
        from weex_async.cli import main as run
    except KeyboardInterrupt:
        print("weex-async: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return run()
