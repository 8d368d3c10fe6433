"""What the multi-process tests' worker processes need, made once in their fork server
(``redis_worker.Warm``) instead of once in each worker: what a ledger imports when it is opened,
httpx's connection layer (imported at the first request), and a TLS context (loading the CA
bundle: 35 ms; the workers speak plain HTTP to 127.0.0.1, and each client makes one)."""

from __future__ import annotations

import httpcore  # noqa: F401
import httpx
import redis.asyncio.cluster  # noqa: F401

import weex_async._limiter._host
import weex_async._limiter._redis  # noqa: F401

TLS = httpx.create_ssl_context()
