"""Rate limits per callback token, per client address and per tunnel channel: token buckets shared through Redis.

The limiter runs before anything is stored, so a refused request was never acknowledged. It fails open: when
Redis is down or slow the request goes on (and the store answers 503 if Redis is really gone), because refusing
a provider's callback for a limiter outage would lose it.

Callbacks and webhooks POSTed to tunnel channels are checked against a local copy of each bucket, with no Redis
round trip on the request's path (that round trip, per callback and outside the store's group commit, cost more
CPU than the rest of the limiter). Every ``SYNC_S`` the tokens taken locally go to the shared bucket in Redis
(``scripts/ratelimit_sync.lua``, all buckets in one pipelined round trip) and the local copy takes the shared
bucket's level, which counts every process's takes. A bucket a process has not seen yet, and any refusal, asks
Redis (the shared bucket decides; an unreachable Redis lets the request through). In one process the limit is
exact; with N processes sharing a bucket, up to N times its tokens can pass within one sync interval, after which
the shared level holds them all back. Dashboard logins (rare, and guarding the admin token) take from Redis
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.errors import RateLimited
from relay.logs import kv
from relay.store import keys
from relay.store.store import script_source
from relay.store.writer import ScriptWriter

logger = logging.getLogger(__name__)

# The limiter must not eat the provider's time budget: a slow Redis lets the request through after this.
TIMEOUT_S = 0.25


@dataclass(frozen=True, slots=True)
class Bucket:
    """``per_s`` tokens refill every second up to ``burst``; either one 0 turns the limit off."""

    per_s: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_s > 0 and self.burst > 0

    @property
    def ttl_ms(self) -> int:
        return math.ceil(self.burst / self.per_s * 1000) + 1000


# Dashboard logins: a burst of 10 tries, then one every 10 s per client address.
LOGIN_BUCKET = Bucket(per_s=0.1, burst=10)
# How often local takes reach the shared buckets: the window in which N processes can together exceed a limit.
SYNC_S = 0.1
# A local bucket's kind: what a refusal names, and the shared bucket's key of a name.
_KINDS = {
    "t": ("callback token", keys.rate_token),
    "a": ("client address", keys.rate_address),
    "c": ("tunnel channel", keys.rate_tunnel),
}
# Local buckets kept; past it, the ones with nothing to sync are forgotten (they start full again, as in Redis
# after their TTL).
MAX_LOCAL_BUCKETS = 100_000


class _LocalBucket:
    __slots__ = ("bucket", "key", "tokens", "ts", "taken")

    def __init__(self, bucket: Bucket, key: str, now_ms: int) -> None:
        self.bucket = bucket
        self.key = key
        # Unknown until Redis has said: the first take asks (another process may have emptied it).
        self.tokens = 0.0
        self.ts = now_ms
        self.taken = 0

    def refill(self, now_ms: int) -> None:
        if now_ms > self.ts:
            self.tokens = min(self.bucket.burst, self.tokens + (now_ms - self.ts) * self.bucket.per_s / 1000)
            self.ts = now_ms

    def take(self, now_ms: int) -> int:
        """0 when a token was taken, else the ms until one is available."""
        self.refill(now_ms)
        if self.tokens < 1:
            return math.ceil((1 - self.tokens) * 1000 / self.bucket.per_s)
        self.tokens -= 1
        self.taken += 1
        return 0


class RateLimiter:
    """Token buckets per callback token and per client address.

    :param redis: the app's client (``decode_responses=False``); the caller owns and closes it.
    :param token: the bucket of each callback token.
    :param address: the bucket of each client address.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        token: Bucket,
        address: Bucket,
        channel: Bucket = Bucket(0, 0),
        login: Bucket = LOGIN_BUCKET,
        timeout_s: float = TIMEOUT_S,
        sync_s: float = SYNC_S,
    ) -> None:
        self.redis = redis
        self.token = token
        self.address = address
        self.channel = channel
        self.login = login
        self.timeout_s = timeout_s
        self.sync_s = sync_s
        self._take = ScriptWriter(redis, script_source("ratelimit"))
        self._sync_writer = ScriptWriter(redis, script_source("ratelimit_sync"))
        self._local: dict[tuple[str, str], _LocalBucket] = {}
        self._now_ms = 0
        self._sync_task: asyncio.Task[None] | None = None

    async def check(self, token: str, address: str | None, now_ms: int) -> None:
        """Take one token from each bucket; raise :class:`RateLimited` when one of them is empty."""
        await self._take_each([("t", token, self.token), ("a", address, self.address)], now_ms)

    async def check_channel(self, channel: str, now_ms: int) -> None:
        """One webhook POSTed to a tunnel channel, against the channel's bucket as callbacks are checked."""
        await self._take_each([("c", channel, self.channel)], now_ms)

    async def _take_each(self, wanted: list[tuple[str, str | None, Bucket]], now_ms: int) -> None:
        """One token from each enabled bucket named (kind, name, limit), all of them even after a refusal;
        :class:`RateLimited` naming the first that refused."""
        if now_ms > self._now_ms:
            self._now_ms = now_ms
        refused: tuple[str, int] | None = None
        for kind, name, bucket in wanted:
            if name is None or not bucket.enabled:
                continue
            wait_ms = await self._take_one(self._bucket(kind, name, bucket, now_ms), now_ms)
            if wait_ms and refused is None:
                refused = (kind, wait_ms)
        self._start_sync()
        if refused is not None:
            raise RateLimited(_KINDS[refused[0]][0], max(1, math.ceil(refused[1] / 1000)))

    def _start_sync(self) -> None:
        if self._sync_task is None:
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop(), name="rate-limit-sync")

    def _bucket(self, kind: str, name: str, bucket: Bucket, now_ms: int) -> _LocalBucket:
        local = self._local.get((kind, name))
        if local is None:
            if len(self._local) >= MAX_LOCAL_BUCKETS:
                self._local = {k: v for k, v in self._local.items() if v.taken}
            local = self._local[(kind, name)] = _LocalBucket(bucket, _KINDS[kind][1](name), now_ms)
        return local

    async def _take_one(self, local: _LocalBucket, now_ms: int) -> int:
        """0 when a token was taken, else the ms until one is available. Only a refusal asks Redis: the shared
        bucket decides (other processes' takes and refills are in it), and an unreachable Redis lets it through."""
        wait_ms = local.take(now_ms)
        if not wait_ms:
            return 0
        taken = local.taken
        local.taken = 0
        bucket = local.bucket
        try:
            level = float(
                await self._sync_writer.call(
                    [local.key], [bucket.per_s, bucket.burst, now_ms, bucket.ttl_ms, taken], timeout_s=self.timeout_s
                )
            )
        except (RedisError, OSError, TimeoutError) as exc:
            local.taken += taken
            logger.warning("rate limiter unavailable, request let through", extra=kv(error=type(exc).__name__))
            return 0
        local.ts = max(local.ts, now_ms)
        if level < 1:
            local.tokens = level
            return math.ceil((1 - level) * 1000 / bucket.per_s)
        # Taken here, sent with the next sync.
        local.tokens = level - 1
        local.taken += 1
        return 0

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_s)
            await self.sync()

    async def sync(self) -> None:
        """Send the tokens taken locally to the shared buckets and take their levels; never raises."""
        pending = [local for local in self._local.values() if local.taken]
        if not pending:
            return
        now_ms = self._now_ms
        sent = [local.taken for local in pending]
        for local in pending:
            local.taken = 0
        calls = [
            self._sync_writer.call(
                [local.key],
                [local.bucket.per_s, local.bucket.burst, now_ms, local.bucket.ttl_ms, taken],
                timeout_s=self.timeout_s,
            )
            for local, taken in zip(pending, sent, strict=True)
        ]
        replies = await asyncio.gather(*calls, return_exceptions=True)
        errors: list[BaseException] = []
        for local, taken, reply in zip(pending, sent, replies, strict=True):
            if isinstance(reply, BaseException):
                local.taken += taken  # sent with the next sync
                errors.append(reply)
                continue
            # The shared level counts every process's takes up to now_ms; the ones since are still this process's.
            local.tokens = float(reply) - local.taken
            local.ts = now_ms
        if errors:
            logger.warning("rate limiter sync failed", extra=kv(buckets=len(errors), error=type(errors[0]).__name__))

    async def aclose(self) -> None:
        """Stop syncing, after one last sync so the shared buckets hold every take."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        await self.sync()

    async def check_login(self, address: str, now_ms: int) -> None:
        """One try at the admin token from ``address`` (a dashboard login, or an admin API request answered 401):
        guessing the admin token must stay slow, through either door."""
        await self._check([("client address", keys.rate_login(address), self.login)], now_ms)

    async def login_allowed(self, address: str, now_ms: int) -> None:
        """Raise :class:`RateLimited` while ``address`` has no tries left, without taking one."""
        await self._check([("client address", keys.rate_login(address), self.login)], now_ms, cost=0)

    async def _check(self, checks: list[tuple[str, str, Bucket]], now_ms: int, cost: int = 1) -> None:
        if not checks:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                results = await self._take_all(checks, now_ms, cost)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("rate limiter unavailable, request let through", extra=kv(error=type(exc).__name__))
            return
        for (scope, _, _), (allowed, retry_after_ms) in zip(checks, results, strict=True):
            if not allowed:
                raise RateLimited(scope, max(1, math.ceil(int(retry_after_ms) / 1000)))

    async def _take_all(self, checks: list[tuple[str, str, Bucket]], now_ms: int, cost: int) -> list[list[int]]:
        # Queued in the same loop iteration, the buckets' calls go to Redis in one pipelined round trip.
        calls = [
            self._take.call([key], [bucket.per_s, bucket.burst, now_ms, bucket.ttl_ms, cost])
            for _, key, bucket in checks
        ]
        results: list[list[int]] = await asyncio.gather(*calls)
        return results
