"""Typed access to the relay's Redis data. Key names come from :mod:`relay.store.keys`, Lua from ``scripts/``."""

from __future__ import annotations

import heapq
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from relay import ids
from relay.events import NewEvent, render_event
from relay.store import keys
from relay.store.writer import ScriptWriter

RedisClient = Redis  # decode_responses=False everywhere: values are bytes.


def script_source(name: str) -> str:
    return importlib.resources.files("relay.store.scripts").joinpath(f"{name}.lua").read_text()


def load_script(redis: RedisClient, name: str) -> AsyncScript:
    return redis.register_script(script_source(name))


@dataclass(frozen=True, slots=True)
class AcceptResult:
    event_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class EventFilter:
    provider: str | None = None
    type: str | None = None
    task_id: str | None = None
    tag: str | None = None

    def matches(self, fields: dict[bytes, bytes]) -> bool:
        return all(
            wanted is None or fields.get(name, b"").decode() == wanted
            for name, wanted in (
                (b"provider", self.provider),
                (b"type", self.type),
                (b"task_id", self.task_id),
                (b"tag", self.tag),
            )
        )


EVENT_FIELDS = ["meta", "body", "fmt", "request", "assets"]
# Listing filters in Python over the stream; this bounds the entries read for one page.
SCAN_BATCH = 500
SCAN_LIMIT = 20_000


class Store:
    """The relay's event store.

    :param redis: a client with ``decode_responses=False``; the caller owns and closes it.
    :param partitions: how many partitions events are spread over (``RELAY_PARTITIONS``).
    :param dedup_ttl_s: how long a callback is remembered for deduplication.
    :param event_ttl_s: how long an event is kept.
    :param assets: adds an event's file copies to its meta (:meth:`relay.assets.service.Assets.render_meta`).
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        partitions: int,
        dedup_ttl_s: int,
        event_ttl_s: int,
        assets: Callable[[bytes, bytes | None], bytes] | None = None,
    ) -> None:
        self.redis = redis
        self.assets = assets
        self.partitions = partitions
        self.dedup_ttl_ms = dedup_ttl_s * 1000
        self.event_ttl_ms = event_ttl_s * 1000
        # Accepts of concurrent requests share one round trip (group commit); see relay.store.writer.
        self._accept = ScriptWriter(redis, script_source("accept"))

    async def accept(self, event: NewEvent, now_ms: int, timeout_s: float | None = None) -> AcceptResult:
        """Store ``event`` unless its dedup key exists; one atomic script, so nothing is ever half-written.

        ``timeout_s`` bounds the whole exchange (queueing and retries included): past it, ``TimeoutError``, and
        the event may or may not be stored (the provider's retry is deduplicated).
        """
        stored, event_id = await self._accept.call(
            [
                event.dedup_key,
                keys.event(event.partition, event.id),
                keys.events_stream(event.partition),
                keys.task(event.partition, event.provider, event.task_id),
            ],
            [
                self.dedup_ttl_ms,
                self.event_ttl_ms,
                event.id,
                event.meta,
                event.body,
                event.body_format,
                event.request,
                max(now_ms - self.event_ttl_ms, 0),
                event.provider,
                event.type,
                event.task_id,
                event.tag,
            ],
            timeout_s,
        )
        first_id = event_id.decode()
        # A reply naming this very event is its own write, run twice when a dropped connection made the client
        # resend it: stored, not a duplicate.
        return AcceptResult(event_id=first_id, duplicate=not stored and first_id != event.id)

    async def get_event(self, event_id: str) -> bytes | None:
        """The rendered event JSON, or None when no such event is stored."""
        partition = ids.partition_of(event_id)
        if partition is None or partition >= self.partitions:
            return None
        row: list[Any] = await self.redis.hmget(keys.event(partition, event_id), EVENT_FIELDS)
        if row[0] is None:
            return None
        return self._render(row)

    async def get_events(self, event_ids: list[str]) -> list[bytes]:
        """Rendered events in the order given, skipping any that expired."""
        return [event for event in await self.find_events(event_ids) if event is not None]

    async def find_events(self, event_ids: list[str]) -> list[bytes | None]:
        """Rendered events in the order given, None for any that expired (one round trip)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.hmget(keys.event(ids.partition_of(event_id) or 0, event_id), EVENT_FIELDS)
            rows: list[list[Any]] = await pipe.execute()
        return [self._render(row) if row[0] is not None else None for row in rows]

    def _render(self, row: list[Any]) -> bytes:
        meta, body, body_format, request, assets = row
        if assets is not None and self.assets is not None:
            meta = self.assets(meta, assets)
        return render_event(meta, body, body_format, request)

    async def task_events(self, provider: str, task_id: str) -> list[bytes]:
        partition = keys.partition_for(provider, task_id, self.partitions)
        raw_ids: list[Any] = await self.redis.lrange(keys.task(partition, provider, task_id), 0, -1)
        return await self.get_events([raw.decode() for raw in raw_ids])

    async def list_events(self, flt: EventFilter, limit: int, cursor: str | None) -> tuple[list[bytes], str | None]:
        """Newest first. ``cursor`` is the stream position of the last event of the previous page."""
        picked = await self.newest(flt, limit, cursor)
        events = await self.get_events([event_id for _, event_id in picked])
        next_cursor = picked[-1][0] if len(picked) == limit else None
        return events, next_cursor

    async def newest(self, flt: EventFilter, limit: int, cursor: str | None = None) -> list[tuple[str, str]]:
        """``(stream position, event id)`` of the newest ``limit`` events matching ``flt``, newest first."""
        if flt.task_id is not None and flt.provider is not None:
            # One task lives in one partition: read just that one.
            partitions = [keys.partition_for(flt.provider, flt.task_id, self.partitions)]
        else:
            partitions = list(range(self.partitions))
        pages = [await self._scan_partition(p, flt, limit, cursor) for p in partitions]
        return list(heapq.merge(*pages, key=lambda row: stream_order(row[0]), reverse=True))[:limit]

    async def _scan_partition(
        self, partition: int, flt: EventFilter, limit: int, cursor: str | None
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        upper = f"({cursor}" if cursor else "+"
        scanned = 0
        while len(found) < limit and scanned < SCAN_LIMIT:
            entries: list[Any] = (
                await self.redis.xrevrange(keys.events_stream(partition), upper, "-", count=SCAN_BATCH) or []
            )
            if not entries:
                break
            for entry_id, fields in entries:
                if flt.matches(fields):
                    found.append((entry_id.decode(), fields[b"id"].decode()))
                    if len(found) == limit:
                        break
            scanned += len(entries)
            upper = "(" + entries[-1][0].decode()
        return found


def stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
