"""The delivery backlog as Redis holds it (the ``due`` zset of every partition), read for ``/metrics``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from relay.store import keys
from relay.store.store import RedisClient


@dataclass(frozen=True, slots=True)
class Backlog:
    due: int
    """Deliveries whose time has come and that no worker holds (a claimed one's score is its lease end)."""
    scheduled: int
    """Everything in ``due``: due now, waiting for a retry, or claimed. Deliveries queued behind an earlier one of
    the same task are not counted (only a chain's head is scheduled)."""
    oldest_due_age_s: float
    """How long the longest-waiting due delivery has been due; 0 when nothing is due."""


async def read_backlog(redis: RedisClient, partitions: int, now_ms: int, timeout_s: float) -> Backlog:
    """One pipelined read of every partition's ``due`` zset: three single-key commands each."""
    async with asyncio.timeout(timeout_s):
        async with redis.pipeline(transaction=False) as pipe:
            for partition in range(partitions):
                key = keys.due(partition)
                pipe.zcard(key)
                pipe.zcount(key, "-inf", now_ms)
                pipe.zrangebyscore(key, "-inf", now_ms, start=0, num=1, withscores=True)
            replies: list[Any] = await pipe.execute()
    scheduled = due = 0
    oldest_ms: float | None = None
    for n in range(partitions):
        card, count, first = replies[3 * n : 3 * n + 3]
        scheduled += int(card)
        due += int(count)
        if first:
            score = float(first[0][1])
            oldest_ms = score if oldest_ms is None else min(oldest_ms, score)
    age_s = 0.0 if oldest_ms is None else max(now_ms - oldest_ms, 0) / 1000
    return Backlog(due=due, scheduled=scheduled, oldest_due_age_s=age_s)
