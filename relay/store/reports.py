"""Read-only aggregates for the dashboard, each bounded: a page reads a fixed number of entries whatever the data size.

Nothing here writes. The stores' own methods serve single lookups; these add the pipelined aggregates a page needs
(statuses of many deliveries in one round trip, an hour of activity, recent health per subscription) without
reading event bodies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from relay import ids
from relay.events import rfc3339
from relay.store import keys
from relay.store.deliveries import DeliveryStatus
from relay.store.store import EventFilter, Store, read_events, stream_order

SCAN_BATCH = 500
"""At most this many stream entries are read per partition to fill one filtered page."""
ACTIVITY_LIMIT = 10_000
"""At most this many events (per partition) and deliveries are counted for the hour chart."""
HEALTH_WINDOW = 2_000
"""Subscription health is computed over this many newest deliveries."""
TRIED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.DEAD)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    stream_id: str
    provider: str
    type: str
    task_id: str
    tag: str
    received_at: str
    status: str
    deliveries: dict[str, int]

    @property
    def delivery_total(self) -> int:
        return sum(self.deliveries.values())


async def delivery_statuses(redis: Redis, event_ids: list[str]) -> list[dict[str, int]]:
    """For each event, how many of its deliveries are in each status; two round trips for all of them."""
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.lrange(keys.event_deliveries(ids.partition_of(event_id) or 0, event_id), 0, -1)
        lists: list[list[bytes]] = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for found in lists:
            for raw in found:
                delivery_id = raw.decode()
                pipe.hget(keys.delivery(ids.partition_of(delivery_id, ids.DELIVERY_PREFIX) or 0, delivery_id), "status")
        statuses: list[bytes | None] = await pipe.execute()
    counts: list[dict[str, int]] = []
    at = 0
    for found in lists:
        mine = statuses[at : at + len(found)]
        at += len(found)
        counts.append(dict(Counter(status.decode() for status in mine if status is not None)))
    return counts


async def recent_events(store: Store, flt: EventFilter, limit: int) -> list[EventRow]:
    """The newest ``limit`` events matching ``flt`` (newest first), with their delivery status counts."""
    redis = store.redis
    picked = await store.newest(flt, limit)
    metas = [stored.meta if stored else None for stored in await read_events(redis, [e for _, e in picked])]
    counts = await delivery_statuses(redis, [event_id for _, event_id in picked])
    rows = []
    for (stream_id, event_id), meta, summary in zip(picked, metas, counts, strict=True):
        if meta is None:
            continue  # expired between the scan and the read
        event = orjson.loads(meta)
        rows.append(
            EventRow(
                id=event_id,
                stream_id=stream_id,
                provider=event.get("provider") or "",
                type=event.get("type") or "",
                task_id=event.get("task_id") or "",
                tag=event.get("tag") or "",
                received_at=event.get("received_at") or "",
                status=event.get("status") or "",
                deliveries=summary,
            )
        )
    return rows


@dataclass(slots=True)
class Activity:
    """Counts per minute over the last hour: index 0 is the oldest minute, 59 the current one."""

    start_ms: int
    callbacks: dict[str, list[int]] = field(default_factory=dict)
    deliveries: dict[str, list[int]] = field(default_factory=dict)
    truncated: bool = False

    def add(self, table: dict[str, list[int]], name: str, at_ms: int) -> None:
        minute = (at_ms - self.start_ms) // 60_000
        if 0 <= minute < 60:
            table.setdefault(name, [0] * 60)[minute] += 1


async def activity(store: Store, now_ms: int) -> Activity:
    """Callbacks per minute by provider, and deliveries per minute (of creation) by their current status."""
    redis, partitions = store.redis, store.partitions
    start_ms = (now_ms // 60_000 - 59) * 60_000
    result = Activity(start_ms=start_ms)
    for partition in range(partitions):
        upper, read = "+", 0
        while read < ACTIVITY_LIMIT:
            count = min(SCAN_BATCH, ACTIVITY_LIMIT - read)
            entries: Any = await redis.xrevrange(keys.events_stream(partition), upper, str(start_ms), count=count)
            for entry_id, fields in entries:
                # Bucketed by the event id's time, the relay's clock (as received_at and delivery ids are).
                event_id = fields.get(b"id", b"").decode()
                at_ms = ids.ms_of(event_id, ids.EVENT_PREFIX) if ids.partition_of(event_id) is not None else None
                provider = fields.get(b"provider", b"?").decode()
                result.add(
                    result.callbacks, provider, at_ms if at_ms is not None else stream_order(entry_id.decode())[0]
                )
            read += len(entries)
            if len(entries) < count:
                break
            upper = "(" + entries[-1][0].decode()
        result.truncated |= read >= ACTIVITY_LIMIT
    lower = "[" + ids.DELIVERY_PREFIX + ids.ulid_time_prefix(start_ms)
    delivery_ids: list[str] = []
    for partition in range(partitions):
        found: Any = await redis.zrevrangebylex(
            keys.deliveries_index(partition), "+", lower, start=0, num=ACTIVITY_LIMIT
        )
        delivery_ids.extend(raw.decode() for raw in found)
    delivery_ids = sorted(delivery_ids, reverse=True)[:ACTIVITY_LIMIT]
    result.truncated |= len(delivery_ids) >= ACTIVITY_LIMIT
    statuses = await _fields(redis, delivery_ids, ["status"])
    for delivery_id, (status,) in zip(delivery_ids, statuses, strict=True):
        if status is not None:
            result.add(result.deliveries, status, ids.ms_of(delivery_id, ids.DELIVERY_PREFIX))
    return result


async def _fields(redis: Redis, delivery_ids: list[str], names: list[str]) -> list[list[str | None]]:
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in delivery_ids:
            pipe.hmget(keys.delivery(ids.partition_of(delivery_id, ids.DELIVERY_PREFIX) or 0, delivery_id), names)
        rows: list[list[bytes | None]] = await pipe.execute()
    return [[value.decode() if value is not None else None for value in row] for row in rows]


@dataclass(slots=True)
class Health:
    """One subscription's recent deliveries (see :data:`HEALTH_WINDOW`)."""

    counts: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    last_error_at: str = ""
    last_status_code: str = ""
    last_delivery_at: str = ""

    @property
    def tried(self) -> int:
        return sum(
            self.counts[status] for status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED, DeliveryStatus.DEAD)
        )

    @property
    def success_rate(self) -> float | None:
        """Succeeded among the deliveries tried at least once; None before any."""
        return self.counts[DeliveryStatus.SUCCEEDED] / self.tried if self.tried else None

    @property
    def backlog(self) -> int:
        """Deliveries still to go out: not yet tried, or waiting for a retry."""
        return self.counts[DeliveryStatus.PENDING] + self.counts[DeliveryStatus.FAILED]


async def subscription_health(store: Store) -> dict[str, Health]:
    redis, partitions = store.redis, store.partitions
    newest: list[str] = []
    for partition in range(partitions):
        found: Any = await redis.zrevrangebylex(keys.deliveries_index(partition), "+", "-", start=0, num=HEALTH_WINDOW)
        newest.extend(raw.decode() for raw in found)
    newest = sorted(newest, reverse=True)[:HEALTH_WINDOW]
    rows = await _fields(redis, newest, ["subscription_id", "status", "last_error", "last_status_code", "updated_ms"])
    health: dict[str, Health] = {}
    failing: dict[str, str] = {}
    for delivery_id, (subscription_id, status, error, status_code, updated_ms) in zip(newest, rows, strict=True):
        if subscription_id is None or status is None:
            continue
        mine = health.setdefault(subscription_id, Health())
        mine.counts[status] += 1
        at = rfc3339(int(updated_ms) / 1000) if updated_ms else ""
        mine.last_delivery_at = mine.last_delivery_at or at
        # Newest first: the first failure seen is the latest one.
        if status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD) and subscription_id not in failing:
            failing[subscription_id] = delivery_id
            mine.last_error, mine.last_error_at, mine.last_status_code = error or "", at, status_code or ""
    # An HTTP error records no error text: the last attempt's response excerpt says what the subscriber said.
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in failing.values():
            pipe.lindex(keys.attempts(ids.partition_of(delivery_id, ids.DELIVERY_PREFIX) or 0, delivery_id), -1)
        last_attempts: list[bytes | None] = await pipe.execute()
    for subscription_id, record in zip(failing, last_attempts, strict=True):
        if record is not None and not health[subscription_id].last_error:
            attempt = orjson.loads(record)
            health[subscription_id].last_error = attempt.get("response") or attempt.get("error") or "failed"
    return health
