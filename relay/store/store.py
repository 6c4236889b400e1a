"""Typed access to the relay's Redis data. Key names come from :mod:`relay.store.keys`, Lua from ``scripts/``."""

from __future__ import annotations

import heapq
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from relay import ids
from relay.errors import StoreUnavailable
from relay.events import NewEvent, render_event
from relay.store import keys
from relay.store.writer import ScriptWriter

RedisClient = Redis  # decode_responses=False everywhere: values are bytes.


def script_source(name: str) -> str:
    return importlib.resources.files("relay.store.scripts").joinpath(f"{name}.lua").read_text()


def load_script(redis: RedisClient, name: str) -> ScriptWriter:
    """The one way the relay runs a Lua script of ``scripts/``: ``await load_script(redis, name).call(keys, args)``.

    Concurrent calls share a pipelined round trip, and a script Redis forgot (restart, SCRIPT FLUSH) is loaded again.
    """
    return ScriptWriter(redis, script_source(name))


EVENT_FIELDS = ("meta", "body", "fmt", "request", "assets")
"""An event hash's fields (``accept.lua`` writes the first four; ``assets`` is the record of its file copies,
:mod:`relay.assets.records`)."""

AssetsRender = Callable[[bytes, bytes | None], bytes]
"""``(meta, assets record) -> meta`` with the copies (:meth:`relay.assets.service.Assets.render_meta`)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event hash as stored: ``meta`` is the normalized event's JSON without ``raw``."""

    meta: bytes
    body: bytes
    fmt: bytes
    request: bytes
    assets: bytes | None = None

    def render(self, with_assets: AssetsRender | None = None) -> bytes:
        meta = self.meta
        if self.assets is not None and with_assets is not None:
            meta = with_assets(meta, self.assets)
        return render_event(meta, self.body, self.fmt, self.request)


async def read_events(redis: RedisClient, event_ids: list[str]) -> list[StoredEvent | None]:
    """The stored hashes of these events in the order given, None for any that expired (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.hmget(keys.event(ids.partition_of(event_id) or 0, event_id), EVENT_FIELDS)
        rows: list[list[Any]] = await pipe.execute()
    return [_stored(row) for row in rows]


def _stored(row: list[Any]) -> StoredEvent | None:
    meta, body, fmt, request, assets = row
    return None if meta is None else StoredEvent(meta, body or b"", fmt or b"", request or b"", assets)


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


# Listing filters in Python over the stream; this bounds the entries read for one page.
SCAN_BATCH = 500
SCAN_LIMIT = 20_000


class Store:
    """The relay's event store.

    :param redis: a client with ``decode_responses=False``; the caller owns and closes it.
    :param partitions: how many partitions events are spread over (``RELAY_PARTITIONS``).
    :param dedup_ttl_s: how long a callback is remembered for deduplication.
    :param event_ttl_s: how long an event is kept.
    :param track_deadlines: ``(provider, service, now_ms) -> (deadline_ms, horizon_ms)`` of a task first heard of
        through a progress callback (:mod:`relay.tasks`); None tracks no unregistered task.
    :param assets: adds an event's file copies to it when rendered (``RELAY_ASSETS``).
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        partitions: int,
        dedup_ttl_s: int,
        event_ttl_s: int,
        track_deadlines: Callable[[str, str, int], tuple[int, int]] | None = None,
        assets: AssetsRender | None = None,
    ) -> None:
        self.redis = redis
        self.track_deadlines = track_deadlines
        self.assets = assets
        self.partitions = partitions
        self.dedup_ttl_ms = dedup_ttl_s * 1000
        self.event_ttl_ms = event_ttl_s * 1000
        # Accepts of concurrent requests share one round trip (group commit); see relay.store.writer.
        self._accept = load_script(redis, "accept")

    async def accept(self, event: NewEvent, now_ms: int, timeout_s: float | None = None) -> AcceptResult:
        """Store ``event`` unless its dedup key exists; one atomic script, so nothing is ever half-written.

        ``timeout_s`` bounds the whole exchange (queueing and retries included): past it, :class:`StoreUnavailable`
        (503), and the event may or may not be stored (the provider's retry is deduplicated).
        """
        digest = keys.task_digest(event.provider, event.task_id)
        service, deadline_ms, horizon_ms = "", 0, 0
        if event.service and self.track_deadlines is not None:
            service = event.service
            deadline_ms, horizon_ms = self.track_deadlines(event.provider, service, now_ms)
        try:
            stored, event_id = await self._accept.call(
                [
                    event.dedup_key,
                    keys.event(event.partition, event.id),
                    keys.events_stream(event.partition),
                    keys.task(event.partition, event.provider, event.task_id),
                    keys.task_record(event.partition, digest),
                    keys.task_polls(event.partition),
                    keys.tasks_index(event.partition),
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
                    event.status,
                    digest,
                    now_ms,
                    service,
                    deadline_ms,
                    horizon_ms,
                    event.source,
                ],
                timeout_s,
            )
        except TimeoutError as exc:
            raise StoreUnavailable(f"the event store did not answer within {timeout_s} s; retry later") from exc
        first_id = event_id.decode()
        # A reply naming this very event is its own write, run twice when a dropped connection made the client
        # resend it: stored, not a duplicate.
        return AcceptResult(event_id=first_id, duplicate=not stored and first_id != event.id)

    async def ping(self) -> None:
        await self.redis.ping()

    async def get_event(self, event_id: str) -> bytes | None:
        """The rendered event JSON, or None when no such event is stored."""
        stored = await self.get_stored(event_id)
        return None if stored is None else stored.render(self.assets)

    async def get_stored(self, event_id: str) -> StoredEvent | None:
        """The event's hash as stored, or None when no such event is stored."""
        partition = ids.partition_of(event_id)
        if partition is None or partition >= self.partitions:
            return None
        return _stored(await self.redis.hmget(keys.event(partition, event_id), EVENT_FIELDS))

    async def get_events(self, event_ids: list[str]) -> list[bytes]:
        """Rendered events in the order given, skipping any that expired."""
        return [event for event in await self.find_events(event_ids) if event is not None]

    async def find_events(self, event_ids: list[str]) -> list[bytes | None]:
        """Rendered events in the order given, None for any that expired (one round trip)."""
        found = await read_events(self.redis, event_ids)
        return [None if stored is None else stored.render(self.assets) for stored in found]

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
