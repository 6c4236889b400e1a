"""Typed access to the relay's Redis data. Key names come from :mod:`relay.store.keys`, Lua from ``scripts/``."""

from __future__ import annotations

import importlib.resources
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from relay import ids
from relay.errors import StoreUnavailable
from relay.events import NewEvent, render_event
from relay.store import keys, packing
from relay.store.indexes import merge_newest, scan_newest
from relay.store.writer import ScriptWriter

RedisClient = Redis  # decode_responses=False everywhere: values are bytes.


def script_source(name: str) -> str:
    return importlib.resources.files("relay.store.scripts").joinpath(f"{name}.lua").read_text()


def load_script(redis: RedisClient, name: str) -> ScriptWriter:
    """The one way the relay runs a Lua script of ``scripts/``: ``await load_script(redis, name).call(keys, args)``.

    Concurrent calls share a pipelined round trip, and a script Redis forgot (restart, SCRIPT FLUSH) is loaded again.
    """
    return ScriptWriter(redis, script_source(name))


EVENT_FIELDS = ("meta", "body", "fmt", "request")
"""An event's parts (``relay.store.packing`` packs them; events stored before were hashes of these fields), in
:func:`relay.events.render_event`'s argument order."""
LEGACY_FIELDS = (*EVENT_FIELDS, "assets")
"""The hash of an event stored before packing: its parts and, for those, the record of its file copies."""

AssetsRender = Callable[[bytes, bytes | None], bytes]
"""``(meta, assets record) -> meta`` with the copies (:meth:`relay.assets.service.Assets.render_meta`)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: ``meta`` is the normalized event's JSON without ``raw``."""

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


# Bodies from this size on are packed in a worker thread.
OFFLOAD_BYTES = 64 * 1024
# Listing filters in Python over the stream; this bounds the entries read for one page.
SCAN_BATCH = 500


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
        self._large = packing.LargePacker()

    async def accept(self, event: NewEvent, now_ms: int, timeout_s: float | None = None) -> AcceptResult:
        """Store ``event`` unless its dedup key exists; one atomic script, so nothing is ever half-written.

        ``timeout_s`` bounds the whole exchange (queueing and retries included): past it, :class:`StoreUnavailable`
        (503), and the event may or may not be stored (the provider's retry is deduplicated).
        """
        if len(event.body) < OFFLOAD_BYTES:
            packed = packing.pack(event.meta, event.request, event.body_format, event.body)
        else:
            packed = await self._large.pack(event.meta, event.request, event.body_format, event.body)
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
                    keys.task_index(event.partition, now_ms // keys.DAY_MS),
                    keys.task_record(event.partition, digest),
                    keys.task_polls(event.partition),
                    keys.tasks_index(event.partition),
                ],
                [
                    self.dedup_ttl_ms,
                    self.event_ttl_ms,
                    event.id,
                    packed,
                    keys.task_field(event.provider, event.task_id),
                    "",
                    "",
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
        # resend it: stored, not a duplicate. The script may have moved its millisecond, never its random part.
        own = first_id[-_RANDOM_AND_PARTITION:] == event.id[-_RANDOM_AND_PARTITION:]
        return AcceptResult(event_id=first_id, duplicate=not stored and not own)

    def close(self) -> None:
        """Stop the large-body packer's thread (it is started by the first large body)."""
        self._large.close()

    async def ping(self) -> None:
        await self.redis.ping()

    async def get_event(self, event_id: str) -> bytes | None:
        """The rendered event JSON, or None when no such event is stored."""
        stored = await self.get_stored(event_id)
        return None if stored is None else stored.render(self.assets)

    async def get_stored(self, event_id: str) -> StoredEvent | None:
        """The event as stored, or None when no such event is stored."""
        partition = ids.partition_of(event_id)
        if partition is None or partition >= self.partitions:
            return None
        return (await read_events(self.redis, [event_id]))[0]

    async def get_events(self, event_ids: list[str]) -> list[bytes]:
        """Rendered events in the order given, skipping any that expired."""
        return [event for event in await self.find_events(event_ids) if event is not None]

    async def find_events(self, event_ids: list[str]) -> list[bytes | None]:
        """Rendered events in the order given, None for any that expired (one round trip)."""
        found = await read_events(self.redis, event_ids)
        return [None if stored is None else stored.render(self.assets) for stored in found]

    async def task_events(self, provider: str, task_id: str, now_ms: int | None = None) -> list[bytes]:
        """The task's events in arrival order; ``now_ms`` (default: the wall clock) says which days to look in."""
        partition = keys.partition_for(provider, task_id, self.partitions)
        today = (int(time.time() * 1000) if now_ms is None else now_ms) // keys.DAY_MS
        first_day = today - self.event_ttl_ms // keys.DAY_MS - 1
        field = keys.task_field(provider, task_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.task(partition, provider, task_id), 0, -1)  # events stored before packing
            for day in range(first_day, today + 1):
                pipe.hget(keys.task_index(partition, day), field)
            legacy, *days = await pipe.execute()
        event_ids = [raw.decode() for raw in legacy]
        for found in days:
            event_ids += (found or b"").decode().split()
        return await self.get_events(event_ids)

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
        return merge_newest(pages, lambda row: stream_order(row[0]), limit)

    async def _scan_partition(
        self, partition: int, flt: EventFilter, limit: int, cursor: str | None
    ) -> list[tuple[str, str]]:
        stream = keys.events_stream(partition)

        async def read(upper: str) -> list[Any]:
            entries: list[Any] = await self.redis.xrevrange(stream, upper, "-", count=SCAN_BATCH) or []
            return entries

        async def keep(entries: Sequence[Any]) -> list[tuple[str, str] | None]:
            return [
                (entry_id.decode(), fields[b"id"].decode()) if flt.matches(fields) else None
                for entry_id, fields in entries
            ]

        return await scan_newest(
            read, lambda last: "(" + last[0].decode(), keep, upper=f"({cursor}" if cursor else "+", limit=limit
        )


# An event id ends with 16 random characters and the partition's two; accept.lua may change only what precedes.
_RANDOM_AND_PARTITION = 18


async def read_events(redis: RedisClient, event_ids: list[str]) -> list[StoredEvent | None]:
    """The stored events in the order given (meta with its id, and the record of its file copies when there is
    one), None for any not stored or expired; one round trip, a second only for events stored before packing."""
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            partition = ids.partition_of(event_id)
            ms = ids.ms_of(event_id, ids.EVENT_PREFIX) if partition is not None else 0
            pipe.xrange(keys.events_stream(partition or 0), f"{ms}-0", f"{ms}-18446744073709551615")
            pipe.get(keys.event_assets(partition or 0, event_id))
        replies: list[Any] = await pipe.execute()
    found: list[StoredEvent | None] = []
    missing: list[int] = []
    for index, event_id in enumerate(event_ids):
        entries, assets = replies[2 * index], replies[2 * index + 1]
        wanted = event_id.encode()
        packed = next((fields.get(b"e") for _, fields in entries if fields.get(b"id") == wanted), None)
        if packed is None:
            found.append(None)
            missing.append(index)
            continue
        meta, body, body_format, request = packing.unpack(packed)
        found.append(StoredEvent(packing.with_id(meta, event_id), body, body_format, request, assets))
    if missing:
        async with redis.pipeline(transaction=False) as pipe:
            for index in missing:
                event_id = event_ids[index]
                pipe.hmget(keys.event(ids.partition_of(event_id) or 0, event_id), LEGACY_FIELDS)
            rows: list[list[Any]] = await pipe.execute()
        for index, row in zip(missing, rows, strict=True):
            found[index] = _stored(row)
    return found


def stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
