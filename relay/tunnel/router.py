"""The tunnel router: copies each stored event into the buffer of every channel whose filter matches.

It reads the events streams with its own consumer group (``tunnels``), independent of any other consumer, and
acknowledges an entry only after the buffers received it. A crash in between routes the entry again (at least
once); clients drop repeats by event id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from relay.config import Settings
from relay.store import keys
from relay.store.tunnels import Entry, TunnelStore
from relay.tunnel.channels import KIND_EVENT

logger = logging.getLogger(__name__)

GROUP = "tunnels"
BATCH = 200
BLOCK_MS = 1_000
# An entry a dead router took but never acknowledged is taken over after this long.
CLAIM_IDLE_MS = 60_000
ROUTED_FIELDS = (b"id", b"provider", b"type", b"task_id", b"tag")


class TunnelRouter:
    """Routes events from the events streams to channel buffers until cancelled.

    :param redis: a client whose socket timeout exceeds ``BLOCK_MS``; the caller owns and closes it.
    :param settings: partitions and buffer bounds.
    :param clock: seconds since the epoch, for buffer trimming by age.
    :param consumer: this process's name in the consumer group.
    """

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.partitions = settings.partitions
        self.channels = TunnelStore(
            redis,
            max_events=settings.tunnel_buffer_max_events,
            max_bytes=settings.tunnel_buffer_max_bytes,
            max_age_s=settings.tunnel_buffer_max_age_s,
            channel_ttl_s=settings.tunnel_channel_ttl_s,
        )
        self.clock = clock
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"

    async def prepare(self) -> None:
        """Create the consumer group on every partition, so every event stored from now on gets routed."""
        for partition in range(self.partitions):
            try:
                await self.redis.xgroup_create(keys.events_stream(partition), GROUP, id="$", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for partition in range(self.partitions):
                group.create_task(self._run_partition(partition))

    async def _run_partition(self, partition: int) -> None:
        stream = keys.events_stream(partition)
        # First our own pending entries (a previous run of this consumer), then new ones.
        cursor = "0"
        failures = 0
        while True:
            # redis-py can swallow a cancellation that lands mid-command (seen with redis 8 on HGETALL): honour it.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            try:
                if failures:
                    await self.prepare()
                reply: Any = await self.redis.xreadgroup(
                    GROUP, self.consumer, {stream: cursor}, count=BATCH, block=BLOCK_MS
                )
                entries: list[Entry] = reply[0][1] if reply else []
                if cursor == "0" and not entries:
                    cursor = ">"
                    continue
                if not entries:
                    entries = await self._claim_abandoned(stream)
                if entries:
                    await self.route(stream, entries)
                failures = 0
            except (RedisError, OSError) as exc:
                failures += 1
                logger.warning("tunnel router redis error partition=%d attempt=%d error=%r", partition, failures, exc)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))

    async def _claim_abandoned(self, stream: str) -> list[Entry]:
        reply: Any = await self.redis.xautoclaim(stream, GROUP, self.consumer, CLAIM_IDLE_MS, "0-0", count=BATCH)
        return [entry for entry in reply[1] if entry[1]]

    async def route(self, stream: str, entries: list[Entry]) -> None:
        now_ms = int(self.clock() * 1000)
        channels = await self.channels.all(now_ms)
        for channel in channels:
            matching: list[dict[str, str | bytes]] = []
            for entry_id, fields in entries:
                if fields and channel.filter.matches(fields):
                    routed: dict[str, str | bytes] = {
                        name.decode(): fields[name] for name in ROUTED_FIELDS if name in fields
                    }
                    routed["kind"] = KIND_EVENT
                    routed["received_ms"] = entry_id.split(b"-", 1)[0]
                    matching.append(routed)
            if matching:
                await self.channels.append(channel.name, matching, now_ms)
        await self.redis.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
        logger.debug("tunnel router routed entries=%d channels=%d", len(entries), len(channels))


async def run_tunnel_router(settings: Settings, clock: Callable[[], float] = time.time) -> None:
    """Run a router with its own Redis client until cancelled (for a worker process)."""
    from relay.tunnel.streams import open_stream_redis

    redis = open_stream_redis(settings)
    try:
        router = TunnelRouter(redis, settings, clock)
        await router.prepare()
        await router.run()
    finally:
        await redis.aclose(close_connection_pool=True)
