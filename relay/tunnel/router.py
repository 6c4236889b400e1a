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

from redis.exceptions import RedisError

from relay.config import Settings
from relay.logs import kv
from relay.store.channels import (
    Entry,
    RouterShortcut,
    ack_routed,
    claim_for_router,
    ensure_router_group,
    read_for_router,
    routed_entry,
)
from relay.store.connect import raise_if_cancelled
from relay.store.store import RedisClient
from relay.store.tunnels import TunnelStore

logger = logging.getLogger(__name__)

BATCH = 200
BLOCK_MS = 1_000
# An entry a dead router took but never acknowledged is taken over after this long; looked for when idle, and at
# least this often under steady traffic.
CLAIM_IDLE_MS = 60_000
CLAIM_EVERY_S = 30.0
# Pause after a read that did not fill a batch (see run); the most it adds to a tunnel event's latency.
PACE_S = 0.005
# While no channel exists, how often the router looks again: the most a new channel waits for its first routed
# event.
NO_CHANNEL_CHECK_S = 0.05


class TunnelRouter:
    """Routes events from the events streams to channel buffers until cancelled.

    :param redis: a client whose socket timeout exceeds ``BLOCK_MS``; the caller owns and closes it.
    :param settings: partitions and buffer bounds.
    :param clock: seconds since the epoch, for buffer trimming by age.
    :param consumer: this process's name in the consumer group.
    """

    def __init__(
        self,
        redis: RedisClient,
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
        self.shortcut = RouterShortcut(redis, list(range(settings.partitions)))
        self.clock = clock
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"

    async def prepare(self) -> None:
        """Create the consumer group on every partition, so every event stored from now on gets routed."""
        for partition in range(self.partitions):
            await ensure_router_group(self.redis, partition)

    async def run(self) -> None:
        # First our own pending entries (a previous run of this consumer), then new ones.
        pending = True
        failures = 0
        claimed_at = time.monotonic()
        partitions = list(range(self.partitions))
        # Whether the last look (the shortcut, or routing) found no channel: only then is the shortcut tried, so
        # that a router with channels to serve makes no extra round trip per read.
        no_channel_seen = True
        while True:
            raise_if_cancelled()
            try:
                if failures:
                    await self.prepare()
                # Without channels, reading every stored event only to acknowledge it cost the web process a few
                # percent of each callback's CPU: the group moves past them unread instead.
                skipped = False
                if not pending and no_channel_seen:
                    skipped = no_channel_seen = await self.shortcut.skip_if_no_channels()
                found = (
                    []
                    if skipped
                    else await read_for_router(
                        self.redis, partitions, self.consumer, pending=pending, count=BATCH, block_ms=BLOCK_MS
                    )
                )
                if pending and not found:
                    pending = False
                    continue
                if (not found and not skipped) or time.monotonic() - claimed_at > CLAIM_EVERY_S:
                    claimed_at = time.monotonic()
                    for partition in partitions:
                        found += [
                            (partition, entry)
                            for entry in await claim_for_router(
                                self.redis, partition, self.consumer, CLAIM_IDLE_MS, BATCH
                            )
                        ]
                if found:
                    no_channel_seen = not await self.route(found)
                failures = 0
                if skipped:
                    await asyncio.sleep(NO_CHANNEL_CHECK_S)
                elif len(found) < BATCH and not pending:
                    # A short pause lets entries gather: one read, one channel lookup and one acknowledgement then
                    # serve several events instead of one each (which cost more than storing them).
                    await asyncio.sleep(PACE_S)
            except (RedisError, OSError) as exc:
                failures += 1
                logger.warning("tunnel router redis error", extra=kv(attempt=failures, error=exc))
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))

    async def route(self, found: list[tuple[int, Entry]]) -> bool:
        """Append each entry to the buffer of every channel whose filter it matches, then acknowledge them all;
        whether any channel exists."""
        now_ms = int(self.clock() * 1000)
        channels = await self.channels.all(now_ms)
        if channels:
            # A pending entry trimmed from the stream comes back without fields: nothing to route.
            entries = [(entry_id, fields) for _, (entry_id, fields) in found if fields]
            routed = [
                routed_entry({name.decode(): value for name, value in fields.items()}, entry_id.split(b"-", 1)[0])
                for entry_id, fields in entries
            ]
            for channel in channels:
                matching = [
                    entry for (_, fields), entry in zip(entries, routed, strict=True) if channel.filter.matches(fields)
                ]
                if matching:
                    await self.channels.append(channel.name, matching, now_ms)
        by_partition: dict[int, list[bytes]] = {}
        for partition, (entry_id, _) in found:
            by_partition.setdefault(partition, []).append(entry_id)
        await ack_routed(self.redis, by_partition)
        logger.debug("tunnel router routed", extra=kv(entries=len(found), channels=len(channels)))
        return bool(channels)


async def run_tunnel_router(settings: Settings, clock: Callable[[], float] = time.time) -> None:
    """Run a router with its own RedisClient client until cancelled (for a worker process)."""
    from relay.store.connect import open_stream_redis

    redis = open_stream_redis(settings)
    try:
        router = TunnelRouter(redis, settings, clock)
        await router.prepare()
        await router.run()
    finally:
        await redis.aclose(close_connection_pool=True)
