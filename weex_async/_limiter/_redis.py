"""Pools shared by several processes (and hosts) through Redis.

One Lua script checks every pool a call charges and charges all of them or none, on the Redis
server's clock (never the hosts' clocks, which disagree), with the same exact-window rule as the
local pools: a charge counts until ``time + window`` (the window includes the arrival-jitter
allowance). When a call does not fit, the script answers how long until it would, and the caller
sleeps exactly that long before asking again: no polling loop.

A pool is a sorted set scored by charge time; its members carry their weight. Keys are namespaced,
share one hash tag (so a Redis Cluster keeps them in one slot), and expire a little after their
last charge would have. A 429 pause is a key with a time to live.

If Redis cannot be reached, the caller is told (``RedisUnavailable``) and falls back to a local
share of the budget; it never sends without a charge (never fails open).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["RedisLedger", "RedisUnavailable"]

#: The shortest sleep between two asks (Redis's clock moves on meanwhile, so no ask repeats).
_MIN_WAIT = 0.001

log = logging.getLogger("weex_async.limiter")

# KEYS: for each pool: its sorted set, its pause key, its running total; then the sequence key.
# ARGV: for each pool: limit, window (ms), weight.
# Returns {0, member...} when charged, {wait_ms} when it does not fit yet.
# A call that fits costs O(log n): the total is kept, and only expiring charges are read.
_RESERVE = """
local n = (#KEYS - 1) / 3
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local function weight_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end
local wait = 0
for i = 1, n do
  local key, pause_key, used_key = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local limit, window = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  local weight = tonumber(ARGV[3 * i])
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - window)
  local used
  if #expired > 0 then
    local freed = 0
    for _, member in ipairs(expired) do freed = freed + weight_of(member) end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    used = redis.call('DECRBY', used_key, freed)
  else
    used = tonumber(redis.call('GET', used_key) or '0')
  end
  local excess = used + weight - limit
  if excess > 0 then
    local ready = now
    local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for j = 1, #entries, 2 do
      excess = excess - weight_of(entries[j])
      if excess <= 0 then
        ready = tonumber(entries[j + 1]) + window
        break
      end
    end
    if ready - now > wait then wait = ready - now end
  end
  local paused = redis.call('PTTL', pause_key)
  if paused > wait then wait = paused end
end
if wait > 0 then
  return {tostring(wait)}
end
local seq = redis.call('INCR', KEYS[#KEYS])
local members = {'0'}
for i = 1, n do
  local key, used_key = KEYS[3 * i - 2], KEYS[3 * i]
  local ttl = math.ceil(tonumber(ARGV[3 * i - 1])) + 1000
  local member = now .. ':' .. seq .. ':' .. ARGV[3 * i]
  redis.call('ZADD', key, now, member)
  redis.call('INCRBY', used_key, ARGV[3 * i])
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', used_key, ttl)
  members[#members + 1] = member
end
return members
"""

# KEYS: pause keys. ARGV: pause (ms). Extends, never shortens.
_PAUSE = """
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[1]) then
    redis.call('SET', key, '1', 'PX', ARGV[1])
  end
end
return 0
"""


class RedisUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


class RedisLedger:
    """The shared ledger in one Redis database.

    Args:
        url: ``redis://host:port/db``.
        namespace: the prefix of every key (a hash tag, so a cluster keeps them in one slot).
        timeout: seconds allowed for connecting to and answering from Redis.
        retry_interval: seconds between attempts to reach Redis again during an outage.
    """

    def __init__(
        self,
        url: str,
        namespace: str = "weex-async",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
    ) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "RateLimits(redis_url=...) needs the redis extra: pip install 'weex-async[redis]'"
            ) from None
        self.url = url
        self._prefix = "{" + namespace + "}"
        self._redis: Any = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._reserve = self._redis.register_script(_RESERVE)
        self._pause = self._redis.register_script(_PAUSE)
        self._retry_interval = retry_interval
        self._down_since: float | None = None
        self._next_try = 0.0
        self._errors: tuple[type[BaseException], ...] = (redis_asyncio.RedisError, OSError)
        self._turns: dict[tuple[str, ...], asyncio.Lock] = {}

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client (to inspect the ledger's keys)."""
        return self._redis

    def turn(self, keys: tuple[str, ...]) -> asyncio.Lock:
        """One caller at a time per set of pools asks Redis (asyncio's lock is FIFO)."""
        lock = self._turns.get(keys)
        if lock is None:
            lock = self._turns[keys] = asyncio.Lock()
        return lock

    @property
    def available(self) -> bool:
        """False during an outage, until the next attempt to reach Redis is due."""
        return self._down_since is None or time.monotonic() >= self._next_try

    def key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    async def reserve(self, pools: Sequence[tuple[str, int, float, int]]) -> None:
        """Wait until every pool fits its weight in Redis, then charge them all.

        Args:
            pools: ``(key, limit, window seconds, weight)`` for each pool the call charges.

        Raises:
            RedisUnavailable: Redis cannot be reached; nothing was charged there.
        """
        while (wait := await self.try_reserve(pools)) > 0:
            log.debug("shared budget: waiting %.3fs for Redis pools", wait)
            await asyncio.sleep(wait)

    async def try_reserve(self, pools: Sequence[tuple[str, int, float, int]]) -> float:
        """Charge every pool now if all fit (returns 0), else nothing (returns the seconds until
        they would fit, at least 1 ms).

        Raises:
            RedisUnavailable: Redis cannot be reached; nothing was charged there.
        """
        keys = []
        for key, _, _, _ in pools:
            keys += [key, f"{key}:pause", f"{key}:used"]
        keys.append(self.key("seq"))
        args: list[float | int] = []
        for _, limit, window, weight in pools:
            args += [limit, window * 1000.0, weight]
        try:
            answer = await self._reserve(keys=keys, args=args)
        except self._errors as exc:
            self._went_down(exc)
            raise RedisUnavailable(str(exc)) from None
        self._came_back()
        if answer[0] in (b"0", "0"):
            return 0.0
        return max(float(_text(answer[0])) / 1000.0, _MIN_WAIT)

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        """Pause the pools for every process (a longer pause extends, a shorter never shortens)."""
        try:
            await self._pause(keys=[f"{k}:pause" for k in pool_keys], args=[int(seconds * 1000)])
        except self._errors as exc:
            self._went_down(exc)

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _went_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis at %s unreachable or failing (%s: %s): using the local fallback share "
                "of the budgets",
                self.url,
                type(exc).__name__,
                exc,
            )
        self._next_try = now + self._retry_interval

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.warning(
                "Redis at %s is back after %.1fs: budgets are shared again",
                self.url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
