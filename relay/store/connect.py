"""Opening the relay's Redis clients, and waiting for Redis at start-up.

Two clients per process: the app's (bounded commands, a pool for bursts) and the stream client of tunnels and the
tunnel router (blocking reads get connections of their own, so connected tunnels never starve callbacks).
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio
from redis.exceptions import RedisError

from relay.config import Settings
from relay.logs import kv
from relay.store.cluster import cluster_url, is_cluster, open_cluster

logger = logging.getLogger(__name__)

MAX_BLOCK_S = 5.0
"""The longest blocking read (``XREAD``/``XREADGROUP BLOCK``) made on the stream client."""


def raise_if_cancelled() -> None:
    """Raise ``CancelledError`` in a task asked to stop. For loops of Redis commands: redis-py can swallow a
    cancellation that lands mid-command (seen with redis 8 on a blocked XREADGROUP and on HGETALL), and such a loop
    would then run on forever, holding up the shutdown waiting for it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def open_redis(settings: Settings) -> redis.asyncio.Redis:
    cluster = cluster_url(settings.redis_url)
    if cluster is not None:
        return open_cluster(
            cluster,
            max_connections=settings.redis_max_connections,
            connect_timeout_s=settings.redis_connect_timeout_s,
            timeout_s=settings.store_timeout_s,
        )
    # socket_timeout bounds every command, so a hung Redis cannot hold a callback past the provider's window;
    # a blocking pool makes a burst wait for a connection instead of failing with "too many connections".
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.store_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.store_timeout_s,
        health_check_interval=30,
    )
    return redis.asyncio.Redis(connection_pool=pool)


async def wait_for_redis(client: redis.asyncio.Redis, wait_s: float) -> None:
    """PING until Redis answers, logging each failed try; give up after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            await client.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Redis did not answer within {wait_s} s: {exc}") from exc
            logger.warning("redis not ready", extra=kv(attempt=attempt, error=str(exc)))
            await asyncio.sleep(min(0.2 * attempt, 1.0))


def open_stream_redis(settings: Settings) -> redis.asyncio.Redis:
    """A Redis client of its own for blocking reads, so connected tunnels never starve callbacks of connections."""
    cluster = cluster_url(settings.redis_url)
    if cluster is not None:
        return open_cluster(
            cluster,
            max_connections=settings.tunnel_max_streams + settings.partitions + 4,
            connect_timeout_s=settings.redis_connect_timeout_s,
            timeout_s=MAX_BLOCK_S + settings.store_timeout_s,
        )
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.tunnel_max_streams + settings.partitions + 4,
        timeout=settings.store_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        # Longer than any XREAD/XREADGROUP BLOCK, so a blocked read is never mistaken for a dead server.
        socket_timeout=MAX_BLOCK_S + settings.store_timeout_s,
        health_check_interval=30,
    )
    return redis.asyncio.Redis(connection_pool=pool)


async def disconnect(client: redis.asyncio.Redis) -> None:
    """Close every connection now: redis-py may swallow the cancellation of a blocked read, this ends the read."""
    if is_cluster(client):
        await client.aclose()
    else:
        await client.connection_pool.disconnect()
