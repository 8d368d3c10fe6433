"""One of several processes cancelling for one account through a shared ledger.

python -m benchmarks._redis_worker EXCHANGE_URL LEDGER FIRST_ID COUNT BUDGET WINDOW

LEDGER: a Redis URL, ``host`` or ``file:///path`` (``RateLimits(ledger=...)``).
"""

from __future__ import annotations

import asyncio
import sys

from weex_async import Budget, Credentials, RateLimits, WeexClient

ACCOUNT = ("bench-shared", "bench-secret", "bench-pass")


async def main(url: str, ledger: str, first: int, count: int, budget: int, window: float) -> None:
    limits = RateLimits(ip=Budget(budget, window), uid=Budget(budget, window), ledger=ledger)
    async with WeexClient(Credentials(*ACCOUNT), base_url=url, rate_limits=limits) as client:
        await client.sync_time()
        print("ready", flush=True)
        sys.stdin.readline()  # all processes start together
        await asyncio.gather(
            *(client.cancel_batch_orders(ids=[str(first + n)]) for n in range(count))
        )


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1],
            sys.argv[2],
            int(sys.argv[3]),
            int(sys.argv[4]),
            int(sys.argv[5]),
            float(sys.argv[6]),
        )
    )
