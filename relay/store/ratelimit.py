"""Rate limits per callback token and per client address: token buckets in Redis (``scripts/ratelimit.lua``).

The limiter runs before anything is stored, so a refused request was never acknowledged. It fails open: when
Redis is down or slow the request goes on (and the store answers 503 if Redis is really gone), because refusing
a provider's callback for a limiter outage would lose it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.errors import RateLimited
from relay.logs import kv
from relay.store import keys
from relay.store.store import load_script

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
        login: Bucket = LOGIN_BUCKET,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.redis = redis
        self.token = token
        self.address = address
        self.login = login
        self.timeout_s = timeout_s
        self._take = load_script(redis, "ratelimit")

    async def check(self, token: str, address: str | None, now_ms: int) -> None:
        """Take one token from each bucket; raise :class:`RateLimited` when one of them is empty."""
        checks = [("callback token", keys.rate_token(token), self.token)]
        if address is not None:
            checks.append(("client address", keys.rate_address(address), self.address))
        await self._check([check for check in checks if check[2].enabled], now_ms)

    async def check_key(self, scope: str, key: str, bucket: Bucket, now_ms: int) -> None:
        """One request against ``bucket`` stored at ``key`` (a key of :mod:`relay.store.keys`)."""
        if bucket.enabled:
            await self._check([(scope, key, bucket)], now_ms)

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
