"""Pools shared by several processes (and hosts) through Redis.

One Lua script checks every pool a call charges and charges all of them or none, on the Redis
server's clock (never the hosts' clocks, which disagree), with the same exact-window rule as the
local pools: a charge counts until ``time + window`` (the window includes the arrival-jitter
allowance). When a call does not fit, the script answers how long until it would, and the caller
sleeps exactly that long before asking again: no polling loop.

Once the request is answered (or given up), a second script *settles* its charges, off the
caller's path: re-stamped so that they count until one exchange window after the answer (or one
window plus the allowance after the give-up), on Redis's clock, which reads that moment a little
late, never early. A process that dies before settling leaves its charges as the reservation
stamped them, until ``time + window``: they still expire on their own.

A pool is a sorted set scored by charge time; its members carry their weight. Keys are namespaced,
share one hash tag (so a Redis Cluster keeps them in one slot), and expire a little after their
last charge would have. A 429 pause is a key with a time to live.

If Redis cannot be reached, the caller is told (``RedisUnavailable``) and falls back to a local
share of the budget; it never sends without a charge (never fails open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from ._limits import mask_url

__all__ = ["RESTART_GRACE", "WATCH_INTERVAL", "LedgerReset", "RedisLedger", "RedisUnavailable"]

#: The shortest sleep between two asks (Redis's clock moves on meanwhile, so no ask repeats).
_MIN_WAIT = 0.001

log = logging.getLogger("weex_async.limiter")

# The ledger's epoch: an id written with the first charge into an empty Redis. A restarted (empty)
# Redis has none: the first process to ask writes a new one, with a grace period during which no
# new charge is admitted, and every process that sees an epoch other than the one it knows
# re-publishes its own charges of the last window first (``_REPUBLISH``), so the ledger again knows
# what was spent before anything new is. KEYS[1] epoch, KEYS[2] grace, KEYS[3] sequence.
_EPOCH_PREFIX = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = now_parts[1] .. now_parts[2] .. ':' .. redis.call('INCR', KEYS[3])
  redis.call('SET', KEYS[1], epoch)
  if tonumber(GRACE) > 0 then
    redis.call('SET', KEYS[2], '1', 'PX', GRACE)
  end
end
"""
# ARGV[1]: the grace (ms). Returns the epoch.
_EPOCH = _EPOCH_PREFIX.replace("GRACE", "ARGV[1]") + "return epoch\n"

# KEYS: epoch, grace, sequence; then for each pool: its sorted set, its pause key, its total.
# ARGV: the epoch the caller knows, the grace (ms); then for each pool: limit, window (ms), weight.
# Returns {'epoch', id} when the caller must re-publish first, {'wait', ms} when the call does not
# fit yet, {'ok', member...} (one member per pool, to settle) when every pool was charged.
# A call that fits costs O(log n): the total is kept, and only expiring charges are read.
_RESERVE = (
    _EPOCH_PREFIX.replace("GRACE", "ARGV[2]")
    + """
if epoch ~= ARGV[1] then
  return {'epoch', epoch}
end
local n = (#KEYS - 3) / 3
local function weight_of(member)
  return tonumber(string.match(member, ':(%d+)$'))
end
local wait = redis.call('PTTL', KEYS[2])
if wait < 0 then wait = 0 end
for i = 1, n do
  local key, pause_key, used_key = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local limit, window = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local weight = tonumber(ARGV[3 * i + 2])
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
  return {'wait', tostring(wait)}
end
local seq = redis.call('INCR', KEYS[3])
local members = {'ok'}
for i = 1, n do
  local key, used_key = KEYS[3 * i + 1], KEYS[3 * i + 3]
  local ttl = math.ceil(tonumber(ARGV[3 * i + 1])) + 1000
  local member = now .. ':' .. seq .. ':' .. ARGV[3 * i + 2]
  redis.call('ZADD', key, now, member)
  redis.call('INCRBY', used_key, ARGV[3 * i + 2])
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', used_key, ttl)
  members[i + 1] = member
end
return members
"""
)

# KEYS: for each pool, its sorted set and its total. ARGV: how far before now to stamp (ms): the
# allowance for an answered request (it counts until now + window - allowance: one exchange window
# from now), 0 for one given up; then for each pool its window (ms) and the member. Re-stamps
# members still in the ledger (XX: one that expired, or a ledger that restarted, is left alone),
# and keeps the pool's keys alive as long as the new stamp counts (a later stamp than the
# reservation's must not vanish with a key that expires first). Returns how many were re-stamped.
_SETTLE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local stamp = now - tonumber(ARGV[1])
local settled = 0
for i = 1, #KEYS / 2 do
  local key, used_key = KEYS[2 * i - 1], KEYS[2 * i]
  local window, member = tonumber(ARGV[2 * i]), ARGV[2 * i + 1]
  local changed = redis.call('ZADD', key, 'XX', 'CH', stamp, member)
  if changed > 0 then
    settled = settled + changed
    local ttl = math.ceil(stamp + window - now) + 1000
    if redis.call('PTTL', key) < ttl then
      redis.call('PEXPIRE', key, ttl)
      redis.call('PEXPIRE', used_key, ttl)
    end
  end
end
return settled
"""

# KEYS: epoch, grace, sequence; then for each pool: its sorted set, its total.
# ARGV: the epoch the caller knows, the grace (ms); then for each pool: window (ms), the number of
# charges, and each charge as age (ms) and weight. Adds the charges at ``now - age``, without a
# budget check: they were spent already. Returns {'epoch', id} if the epoch is not the caller's.
_REPUBLISH = (
    _EPOCH_PREFIX.replace("GRACE", "ARGV[2]")
    + """
if epoch ~= ARGV[1] then
  return {'epoch', epoch}
end
local arg = 3
for i = 1, (#KEYS - 3) / 2 do
  local key, used_key = KEYS[2 * i + 2], KEYS[2 * i + 3]
  local window, count = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1])
  arg = arg + 2
  for _ = 1, count do
    local age, weight = tonumber(ARGV[arg]), ARGV[arg + 1]
    arg = arg + 2
    if age < window then
      local seq = redis.call('INCR', KEYS[3])
      redis.call('ZADD', key, now - age, (now - age) .. ':' .. seq .. ':' .. weight)
      redis.call('INCRBY', used_key, weight)
    end
  end
  redis.call('PEXPIRE', key, math.ceil(window) + 1000)
  redis.call('PEXPIRE', used_key, math.ceil(window) + 1000)
end
return {'ok'}
"""
)

# KEYS: pause keys. ARGV: pause (ms, a positive integer). Extends, never shortens.
_PAUSE = """
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[1]) then
    redis.call('SET', key, '1', 'PX', ARGV[1])
  end
end
return 0
"""

#: Seconds during which a new (restarted) ledger admits no new charge, while every process that
#: spent in the last window re-publishes its charges (each checks every ``WATCH_INTERVAL``).
RESTART_GRACE = 2.0
#: Seconds between two checks of the epoch by a process holding charges of the last window.
WATCH_INTERVAL = 0.5
#: The longest pause written to Redis, in ms (a day: far beyond any ``max_retry_after``).
_MAX_PAUSE_MS = 86_400_000


class RedisUnavailable(Exception):
    """Redis could not be reached or answered with an error."""


class LedgerReset(Exception):
    """The ledger's epoch is not the one this process knows (Redis restarted, or this process is
    new): re-publish this process's charges of the last window before charging anything new.

    Attributes:
        epoch: the ledger's epoch now.
    """

    def __init__(self, epoch: str) -> None:
        super().__init__(f"the shared ledger's epoch is {epoch}")
        self.epoch = epoch


class RedisLedger:
    """The shared ledger in one Redis database.

    Args:
        url: ``redis://host:port/db`` (its password is never logged).
        namespace: the prefix of every key (a hash tag, so a cluster keeps them in one slot).
        timeout: seconds allowed for connecting to and answering from Redis.
        retry_interval: seconds between attempts to reach Redis again during an outage.
        restart_grace: seconds a new (restarted) ledger admits no new charge (``RESTART_GRACE``).
    """

    def __init__(
        self,
        url: str,
        namespace: str = "weex-async",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        restart_grace: float = RESTART_GRACE,
    ) -> None:
        import redis.asyncio as redis_asyncio  # RateLimits checked that the extra is installed

        self.url = url
        self.shown_url = mask_url(url)
        self._prefix = "{" + namespace + "}"
        self._redis: Any = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._epoch_script = self._redis.register_script(_EPOCH)
        self._reserve = self._redis.register_script(_RESERVE)
        self._republish = self._redis.register_script(_REPUBLISH)
        self._pause = self._redis.register_script(_PAUSE)
        self._settle = self._redis.register_script(_SETTLE)
        self.retry_interval = retry_interval
        self._grace_ms = int(restart_grace * 1000)
        self._down_since: float | None = None
        self._next_try = 0.0
        self._errors: tuple[type[BaseException], ...] = (redis_asyncio.RedisError, OSError)
        self._turns: dict[tuple[str, ...], asyncio.Lock] = {}
        #: the ledger's epoch as this process last saw it (``None``: not yet)
        self.epoch: str | None = None

    def __repr__(self) -> str:
        return f"<RedisLedger {self.shown_url}>"

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
    def down(self) -> bool:
        """Redis failed the last time it was asked."""
        return self._down_since is not None

    @property
    def available(self) -> bool:
        """False during an outage, until the next attempt to reach Redis is due."""
        return self._down_since is None or time.monotonic() >= self._next_try

    def key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _meta_keys(self) -> list[str]:
        return [self.key("epoch"), self.key("grace"), self.key("seq")]

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            answer = await script(keys=keys, args=args)
        except self._errors as exc:
            self._went_down(exc)
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from None
        self._came_back()
        return answer

    async def current_epoch(self) -> str:
        """The ledger's epoch (written now, with the grace period, if Redis has none).

        Raises:
            RedisUnavailable: Redis cannot be reached.
        """
        return _text(await self._run(self._epoch_script, self._meta_keys(), [self._grace_ms]))

    async def reserve(self, pools: Sequence[tuple[str, int, float, int]]) -> list[str]:
        """Wait until every pool fits its weight in Redis, then charge them all.

        Args:
            pools: ``(key, limit, window seconds, weight)`` for each pool the call charges.

        Returns:
            The charges' members, one per pool, in order (for ``settle``).

        Raises:
            RedisUnavailable: Redis cannot be reached; nothing was charged there.
            LedgerReset: the epoch is not the one this process knows: re-publish, then ask again.
        """
        while True:
            wait, members = await self.try_reserve(pools)
            if not wait:
                return members
            log.debug("shared budget: waiting %.3fs for Redis pools", wait)
            await asyncio.sleep(wait)

    async def try_reserve(
        self, pools: Sequence[tuple[str, int, float, int]]
    ) -> tuple[float, list[str]]:
        """Charge every pool now if all fit (returns 0 and the charges' members, one per pool),
        else nothing (returns the seconds until they would fit, at least 1 ms, and no member).

        Raises:
            RedisUnavailable: Redis cannot be reached; nothing was charged there.
            LedgerReset: the epoch is not the one this process knows; nothing was charged.
        """
        keys = self._meta_keys()
        for key, _, _, _ in pools:
            keys += [key, f"{key}:pause", f"{key}:used"]
        args: list[Any] = [self.epoch or "", self._grace_ms]
        for _, limit, window, weight in pools:
            args += [limit, window * 1000.0, weight]
        answer = await self._run(self._reserve, keys, args)
        kind = _text(answer[0])
        if kind == "ok":
            return 0.0, [_text(member) for member in answer[1:]]
        if kind == "epoch":
            raise LedgerReset(_text(answer[1]))
        return max(float(_text(answer[1])) / 1000.0, _MIN_WAIT), []

    async def settle(self, charges: Sequence[tuple[str, float, str]], before: float) -> int:
        """Re-stamp charges at Redis's now minus ``before`` seconds: they then count until
        ``now - before + window`` (the window the reservation gave, allowance included).

        Args:
            charges: ``(key, window seconds, member)`` of each pool's charge (the member from
                ``reserve``).
            before: the allowance, for an answered request (it counts until one exchange window
                from now); 0 for a request given up (one window plus the allowance from now).

        Returns:
            How many charges were re-stamped (one that already expired, or a restarted ledger,
            has nothing to re-stamp).

        Raises:
            RedisUnavailable: Redis cannot be reached; the charges keep their first stamp.
        """
        keys: list[str] = []
        args: list[Any] = [before * 1000.0]
        for key, window, member in charges:
            keys += [key, f"{key}:used"]
            args += [window * 1000.0, member]
        return int(await self._run(self._settle, keys, args))

    async def republish(
        self, epoch: str, pools: Sequence[tuple[str, float, Sequence[tuple[float, int]]]]
    ) -> None:
        """Add this process's charges to the ledger of ``epoch`` (then adopt it as known).

        Args:
            epoch: the epoch to publish into (from ``LedgerReset`` or ``current_epoch``).
            pools: ``(key, window seconds, [(age seconds, weight), ...])`` for each pool.

        Raises:
            RedisUnavailable: Redis cannot be reached.
            LedgerReset: the epoch changed again meanwhile: publish into the new one.
        """
        keys = self._meta_keys()
        args: list[Any] = [epoch, self._grace_ms]
        for key, window, charges in pools:
            keys += [key, f"{key}:used"]
            args += [window * 1000.0, len(charges)]
            for age, weight in charges:
                args += [age * 1000.0, weight]
        answer = await self._run(self._republish, keys, args)
        if _text(answer[0]) == "epoch":
            raise LedgerReset(_text(answer[1]))
        self.epoch = epoch

    async def pause(self, pool_keys: Sequence[str], seconds: float) -> None:
        """Pause the pools for every process (a longer pause extends, a shorter never shortens).

        ``seconds`` is written as whole milliseconds, at least 1 and at most a day.
        """
        ms = min(max(int(seconds * 1000), 1), _MAX_PAUSE_MS)
        with contextlib.suppress(RedisUnavailable):
            await self._run(self._pause, [f"{k}:pause" for k in pool_keys], [ms])

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _went_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Redis at %s unreachable or failing (%s: %s): using the local fallback share "
                "of the budgets",
                self.shown_url,
                type(exc).__name__,
                exc,
            )
        self._next_try = now + self.retry_interval

    def _came_back(self) -> None:
        if self._down_since is not None:
            log.warning(
                "Redis at %s is back after %.1fs: budgets are shared again",
                self.shown_url,
                time.monotonic() - self._down_since,
            )
            self._down_since = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
