"""``weex-async`` for tests whose subject is not the client's retries: ``python -m
tests.quick_cli COMMAND ...`` runs the command line with every account client retrying after
1 ms (at most 2 ms) instead of ``RetryPolicy``'s 0.1 s doubling up to 2 s; the number of attempts
is the policy's own.

A flatten against an exchange that is gone makes four attempts of each listing, of the time sync
and of the trigger listing: about 2 s with the default backoffs, a few ms with these. The guard's
own retries of a flatten that is not flat (its subject in ``tests/test_guard.py``) are unchanged.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from weex_async import Credentials, RetryPolicy, WeexClient, cli

#: the backoffs of the command's clients (the policy's defaults: 0.1 s, then doubled up to 2 s)
QUICK = RetryPolicy(backoff_initial=0.001, backoff_max=0.002)

_opened = cli.account_client


def _quick_client(
    args: argparse.Namespace, credentials: Credentials | None = None, **options: Any
) -> WeexClient:
    options.setdefault("retry", QUICK)
    return _opened(args, credentials, **options)


if __name__ == "__main__":
    cli.account_client = _quick_client  # read through the module's globals by each command
    sys.exit(cli.main())
