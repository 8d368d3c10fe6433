"""Pools shared by several processes (and hosts) through Redis.

One Lua script checks every pool a call charges and charges all of them or none, on the Redis
server's clock (never the hosts' clocks, which disagree), with the same exact-window rule as the
local pools: a charge counts until ``time + window`` (the window includes the arrival-jitter
allowance). When a call does not fit, the script answers how long until it would, and the caller
sleeps exactly that long before asking again: no polling loop.

A charge is stamped ``lease`` seconds ahead of Redis's clock, and renewed while its request is on
the wire (``_ledger``). Once the request is answered (or given up), a second script *settles* its
charges, off the caller's path: re-stamped so that they count until one exchange window after the
answer (or one window plus the allowance after the give-up), on Redis's clock, which reads that
moment a little late, never early. A process that dies stops renewing: its charges still expire
on their own.

At the first contact, a Redis that could lose the ledger is refused (``check``): a
``maxmemory-policy`` that can evict its keys. A URL that names a node of a Redis Cluster is
recognised there, and the cluster is used through a client that follows its redirects (the
ledger's keys share one hash tag: one slot).

A pool is a sorted set scored by charge time; its members carry their weight. Keys are namespaced,
share one hash tag (so a Redis Cluster keeps them in one slot), and expire a little after their
last charge would have. A 429 pause is a key with a time to live.

If Redis cannot be reached, the caller is told (``RedisUnavailable``) and falls back to a local
share of the budget; it never sends without a charge (never fails open).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigurationError
from ._ledger import (
    HOLD_LEASE,
    MIN_WAIT,
    WATCH_INTERVAL,
    Ledger,
    LedgerReset,
    LedgerUnavailable,
    PoolCharge,
    Receipt,
)
from ._limits import mask_url

__all__ = [
    "RESTART_GRACE",
    "WATCH_INTERVAL",
    "LedgerReset",
    "RedisLedger",
    "RedisUnavailable",
]

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
# ARGV: the epoch the caller knows, the grace (ms); then for each pool: limit, window (ms), weight;
# last, the lease (ms): a charge is stamped that far ahead (held while its request is on the wire).
# Returns {'epoch', id} when the caller must re-publish first, {'wait', ms} when the call does not
# fit yet (the earliest it could: a charge on the wire counts as if answered now), {'ok',
# member...} (one member per pool, to settle) when every pool was charged.
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
        -- a charge on the wire (stamped ahead) frees one window after its answer at the
        -- earliest: ask again then, not a lease later
        ready = math.min(tonumber(entries[j + 1]), now) + window
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
local lease = tonumber(ARGV[#ARGV])
for i = 1, n do
  local key, used_key = KEYS[3 * i + 1], KEYS[3 * i + 3]
  local ttl = math.ceil(tonumber(ARGV[3 * i + 1]) + lease) + 1000
  local member = now .. ':' .. seq .. ':' .. ARGV[3 * i + 2]
  redis.call('ZADD', key, now + lease, member)
  redis.call('INCRBY', used_key, ARGV[3 * i + 2])
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', used_key, ttl)
  members[i + 1] = member
end
return members
"""
)

# KEYS: for each pool, its sorted set and its total. ARGV: the offset from now of the new stamp
# (ms): the lease ahead for a charge on the wire; minus the allowance for an answered request (it
# counts until now + window - allowance: one exchange window from now), 0 for one given up; then
# for each pool its window (ms) and the member. A member the ledger no longer has (its lease ran
# out while this process was stalled, or the ledger restarted) is charged again: its request
# counts at the exchange whatever happened to the ledger. Keeps the pool's keys alive as long as
# the new stamp counts. Returns how many members were still there.
_RESTAMP = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + tonumber(now_parts[2]) / 1000
local stamp = now + tonumber(ARGV[1])
local found = 0
for i = 1, #KEYS / 2 do
  local key, used_key = KEYS[2 * i - 1], KEYS[2 * i]
  local window, member = tonumber(ARGV[2 * i]), ARGV[2 * i + 1]
  if redis.call('ZADD', key, stamp, member) == 0 then
    found = found + 1
  else
    redis.call('INCRBY', used_key, tonumber(string.match(member, ':(%d+)$')))
  end
  local ttl = math.ceil(stamp + window - now) + 1000
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
  if redis.call('PTTL', used_key) < ttl then
    redis.call('PEXPIRE', used_key, ttl)
  end
end
return found
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
#: The longest pause written to Redis, in ms (a day: far beyond any ``max_retry_after``).
_MAX_PAUSE_MS = 86_400_000

#: Redis's ``maxmemory-policy`` that never evicts a key (the others can evict the ledger's).
SAFE_POLICY = "noeviction"

#: Redis could not be reached or answered with an error (a ``LedgerUnavailable``).
RedisUnavailable = LedgerUnavailable


class RedisLedger(Ledger):
    """The shared ledger in one Redis database.

    Args:
        url: ``redis://host:port/db`` (its password is never logged).
        namespace: the prefix of every key (a hash tag: one account's keys stay in one slot).
        timeout: seconds allowed for connecting to and answering from Redis.
        retry_interval: seconds between attempts to reach Redis again during an outage.
        restart_grace: seconds a new (restarted) ledger admits no new charge (``RESTART_GRACE``).
        lease: seconds ahead of Redis's clock a charge on the wire is stamped (``HOLD_LEASE``).
    """

    kind = "Redis"

    def __init__(
        self,
        url: str,
        namespace: str = "weex-async",
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        restart_grace: float = RESTART_GRACE,
        lease: float = HOLD_LEASE,
    ) -> None:
        import redis.asyncio as redis_asyncio  # RateLimits checked that the extra is installed

        super().__init__(url, mask_url(url), retry_interval, lease)
        self._prefix = "{" + namespace + "}"
        self._timeout = timeout
        self._redis: Any = redis_asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._register_scripts()
        self._grace_ms = int(restart_grace * 1000)
        from redis.exceptions import RedisClusterException

        self._errors: tuple[type[BaseException], ...] = (
            redis_asyncio.RedisError,
            RedisClusterException,
            OSError,
        )
        self._refused: type[BaseException] = redis_asyncio.ResponseError
        self._checked = False
        #: the URL names a node of a Redis Cluster (the client follows its redirects)
        self.cluster = False

    def _register_scripts(self) -> None:
        self._epoch_script = self._redis.register_script(_EPOCH)
        self._reserve = self._redis.register_script(_RESERVE)
        self._republish = self._redis.register_script(_REPUBLISH)
        self._pause = self._redis.register_script(_PAUSE)
        self._restamp = self._redis.register_script(_RESTAMP)

    async def _use_cluster(self) -> None:
        """The URL names a cluster node: talk to the cluster (a client that learns which node
        owns the ledger's slot and follows ``MOVED`` and ``ASK`` redirects)."""
        from redis.asyncio.cluster import RedisCluster

        try:
            cluster = RedisCluster.from_url(
                self.url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
        except self._errors as exc:  # e.g. a database other than 0, which a cluster has not
            raise ConfigurationError(
                f"the Redis at {self.shown_url} runs Redis Cluster, but its URL cannot be used "
                f"for a cluster ({type(exc).__name__}: {exc})"
            ) from None
        standalone, self._redis = self._redis, cluster
        self._register_scripts()
        self.cluster = True
        await standalone.aclose()

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client (to inspect the ledger's keys)."""
        return self._redis

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

    async def check(self) -> None:
        """Refuse a Redis that can lose the ledger: a ``maxmemory-policy`` other than
        ``noeviction`` under a ``maxmemory`` limit (on any primary of a cluster). A node of a
        Redis Cluster is recognised (``cluster_enabled:1``) and the cluster is used through it.
        Checked once (at the first contact); an unreachable Redis is an outage, checked when it
        answers.

        Raises:
            ConfigurationError: Redis cannot keep the ledger (the message names the setting).
            RedisUnavailable: Redis cannot be reached.
        """
        if self._checked:
            return
        if not self.cluster and str((await self._info("cluster")).get("cluster_enabled")) == "1":
            await self._use_cluster()
        for where, memory in (await self._memory()).items():
            self._check_policy(where, memory.get("maxmemory_policy"), memory.get("maxmemory"))
        self._checked = True

    async def _memory(self) -> dict[str, dict[str, Any]]:
        """``INFO memory`` of each node that may hold the ledger (every primary of a cluster),
        by the node's address; ``CONFIG GET`` fills in what INFO does not tell (standalone)."""
        if self.cluster:
            from redis.asyncio.cluster import RedisCluster

            try:
                answers: dict[str, Any] = await self._redis.info(
                    "memory", target_nodes=RedisCluster.PRIMARIES
                )
            except self._refused:
                return {self.shown_url: {}}
            except self._errors as exc:
                self._went_down(exc)
                raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from None
            return {f"{self.shown_url} (node {node})": info for node, info in answers.items()}
        memory = dict(await self._info("memory"))
        if memory.get("maxmemory_policy") is None or memory.get("maxmemory") is None:
            try:  # INFO without them: ask CONFIG
                config = await self._redis.config_get("maxmemory*")
            except self._refused:  # CONFIG disabled (as on some managed services)
                config = {}
            except self._errors as exc:
                self._went_down(exc)
                raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from None
            memory["maxmemory_policy"] = config.get("maxmemory-policy")
            memory["maxmemory"] = config.get("maxmemory")
        return {self.shown_url: memory}

    @staticmethod
    def _check_policy(where: str, policy: Any, maxmemory: Any) -> None:
        if policy is None or maxmemory is None:
            raise ConfigurationError(
                f"cannot read maxmemory-policy of the Redis at {where} (neither INFO memory nor "
                "CONFIG GET tells it): the shared ledger needs to know that Redis never evicts "
                f"its keys (maxmemory-policy {SAFE_POLICY}, or maxmemory 0)"
            )
        policy = _text(policy)
        if policy != SAFE_POLICY and int(maxmemory) != 0:
            raise ConfigurationError(
                f"the Redis at {where} has maxmemory-policy {policy} with maxmemory "
                f"{int(maxmemory)}: it can evict the shared ledger's keys (and overspend the "
                f"budget). Set maxmemory-policy {SAFE_POLICY} (or maxmemory 0) for this Redis, "
                "or give the ledger a Redis of its own"
            )

    async def _info(self, section: str) -> dict[str, Any]:
        """``INFO section`` (empty if the server refuses the command)."""
        try:
            answer: dict[str, Any] = await self._redis.info(section)
        except self._refused:
            return {}
        except self._errors as exc:
            self._went_down(exc)
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from None
        return answer

    async def current_epoch(self) -> str:
        """The ledger's epoch (written now, with the grace period, if Redis has none).

        Raises:
            RedisUnavailable: Redis cannot be reached.
            ConfigurationError: Redis cannot keep the ledger (``check``, at the first contact).
        """
        await self.check()
        return _text(await self._run(self._epoch_script, self._meta_keys(), [self._grace_ms]))

    async def try_reserve(self, pools: Sequence[PoolCharge]) -> tuple[float, list[str]]:
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
        args.append(self.lease * 1000.0)
        answer = await self._run(self._reserve, keys, args)
        kind = _text(answer[0])
        if kind == "ok":
            return 0.0, [_text(member) for member in answer[1:]]
        if kind == "epoch":
            raise LedgerReset(_text(answer[1]))
        return max(float(_text(answer[1])) / 1000.0, MIN_WAIT), []

    async def restamp(self, charges: Sequence[Receipt], offset: float) -> int:
        keys: list[str] = []
        args: list[Any] = [offset * 1000.0]
        for key, window, member in charges:
            keys += [key, f"{key}:used"]
            args += [window * 1000.0, member]
        return int(await self._run(self._restamp, keys, args))

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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
