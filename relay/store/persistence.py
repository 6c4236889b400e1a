"""Does Redis keep what the relay acknowledges? A callback is acknowledged once written to Redis; with neither AOF
nor RDB save points, a Redis restart loses every acknowledged callback and pending delivery.

``/readyz`` answers 503 ``volatile_store`` in that case and the app logs a loud warning at startup, unless
``RELAY_ALLOW_VOLATILE_REDIS=true``. Managed services that refuse ``CONFIG GET`` are judged from ``INFO
persistence`` (AOF only); when that shows no AOF the answer is "unknown", which warns but does not fail readiness.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from relay.logs import kv
from relay.store.cluster import is_cluster

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Persistence:
    """What one Redis server (or, for a cluster, the least durable primary) does to keep its data."""

    aof: bool
    save_points: str | None
    """RDB ``save`` points, e.g. ``"3600 1 300 100"``; ``""`` when off; None when ``CONFIG GET`` is refused."""

    @property
    def durable(self) -> bool | None:
        """True, False, or None when it cannot be known (no AOF, and ``CONFIG GET`` refused)."""
        if self.aof or self.save_points:
            return True
        return None if self.save_points is None else False

    def describe(self) -> str:
        rdb = "unknown" if self.save_points is None else repr(self.save_points)
        return f"appendonly={'yes' if self.aof else 'no'} save={rdb}"


async def _one(client: Redis, **target: Any) -> list[Persistence]:
    info: Any = await client.info("persistence", **target)
    try:
        config: Any = await client.config_get("save", **target)
    except ResponseError:
        # Managed Redis (ElastiCache, Memorystore...) often disables CONFIG.
        config = None
    if is_cluster(client):
        infos = list(info.values())
        saves = [None] * len(infos) if config is None else [c.get(b"save", c.get("save")) for c in config.values()]
    else:
        infos = [info]
        saves = [None if config is None else config.get(b"save", config.get("save"))]
    return [
        Persistence(aof=bool(int(i.get("aof_enabled", 0))), save_points=_text(save))
        for i, save in zip(infos, saves, strict=True)
    ]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return (value.decode() if isinstance(value, bytes) else str(value)).strip()


async def check_persistence(client: Redis) -> Persistence:
    """The persistence of Redis; for a cluster, the first primary found without any (the weakest link)."""
    target: dict[str, Any] = {"target_nodes": "primaries"} if is_cluster(client) else {}
    found = await _one(client, **target)
    ranked = sorted(found, key=lambda p: {False: 0, None: 1, True: 2}[p.durable])
    return ranked[0]


VOLATILE_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! Redis persistence is OFF (%s).
!! Every callback the relay acknowledges, and every pending delivery, is lost if Redis restarts.
!! Turn on AOF (appendonly yes; see deploy/redis.conf), or set RELAY_ALLOW_VOLATILE_REDIS=true to accept it.
!! /readyz answers 503 until then.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


async def warn_if_volatile(client: Redis, allow_volatile: bool) -> None:
    """Log, at startup, when Redis keeps nothing on disk (loudly, unless the operator opted out)."""
    try:
        found = await check_persistence(client)
    except ResponseError as exc:
        logger.warning("redis persistence unknown: INFO refused", extra=kv(error=str(exc)))
        return
    if found.durable is False:
        if allow_volatile:
            logger.warning("redis persistence off, allowed by RELAY_ALLOW_VOLATILE_REDIS %s", found.describe())
        else:
            logger.error(VOLATILE_WARNING, found.describe())
    elif found.durable is None:
        logger.warning("redis persistence unknown (no AOF, CONFIG GET refused) %s", found.describe())
