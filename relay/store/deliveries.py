"""Deliveries in Redis: created from the events stream, claimed under a lease, finished or scheduled again.

Life of a delivery (keys in :mod:`relay.store.keys`, scripts in ``scripts/``)::

    create_deliveries.lua   pending, in ``due`` (or waiting in its chain behind the same task's earlier ones)
    claim.lua               its ``due`` score becomes this worker's lease end; nobody else sees it until then
    finish.lua              failed -> ``due`` again at the next retry time; succeeded | dead -> out of ``due``,
                            the next of its chain becomes due, the hash gets the event TTL
    release.lua             back to ``due`` without an attempt (drain, per-subscription limit)
    requeue.lua             manual retry / recover: reopened and queued again
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from redis.exceptions import ResponseError

from relay import ids
from relay.events import rfc3339
from relay.store import keys
from relay.store.cluster import is_cluster, read_streams
from relay.store.indexes import claim_due, merge_newest, scan_newest
from relay.store.store import RedisClient, load_script, read_events

ATTEMPTS_KEPT = 50
INGEST_CONSUMER = "ingest"
FIELDS = (
    "id",
    "event_id",
    "subscription_id",
    "provider",
    "type",
    "task_id",
    "status",
    "attempts",
    "created_ms",
    "updated_ms",
    "next_ms",
    "last_status_code",
    "last_error",
    "chained",
)


class DeliveryStatus(StrEnum):
    """A delivery's ``status`` field, as the scripts write it (``create_deliveries.lua``, ``finish.lua``...)."""

    PENDING = "pending"  # not tried yet, or requeued
    FAILED = "failed"  # tried, a retry is scheduled
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # retries exhausted or not retryable


STATUSES = tuple(DeliveryStatus)
SCAN_BATCH = 200
# Most events per create script, so a long run of them cannot stall Redis for long.
CREATE_BATCH_EVENTS = 500


@dataclass(frozen=True, slots=True)
class NewDeliveries:
    """The deliveries of one event to create, and the stream entry they acknowledge (``''`` for a replay)."""

    event_id: str
    provider: str
    type: str
    task_id: str
    subscription_ids: list[str]
    entry_id: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    subscription_id: str
    provider: str
    type: str
    task_id: str
    status: DeliveryStatus
    attempts: int
    created_ms: int
    updated_ms: int
    next_ms: int | None
    last_status_code: int | None
    last_error: str
    chained: bool
    # The event JSON it sends (loaded with_body); None when the event has expired or was never stored.
    body: bytes | None = b""

    @property
    def partition(self) -> int:
        return ids.partition_of(self.id, ids.DELIVERY_PREFIX) or 0

    @property
    def received_s(self) -> float | None:
        """When its event arrived (unix s), from the event id."""
        if ids.partition_of(self.event_id) is None:
            return None
        return ids.ms_of(self.event_id, ids.EVENT_PREFIX) / 1000

    def chain_key(self) -> str:
        return keys.chain(self.partition, self.subscription_id, self.provider, self.task_id)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "subscription_id": self.subscription_id,
            "status": self.status,
            "attempt_count": self.attempts,
            "created_at": rfc3339(self.created_ms / 1000),
            "updated_at": rfc3339(self.updated_ms / 1000),
            "next_attempt_at": rfc3339(self.next_ms / 1000) if self.next_ms else None,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error or None,
        }

    @classmethod
    def from_row(cls, row: list[Any]) -> Delivery | None:
        if row[0] is None:
            return None
        values = (value.decode() if value is not None else "" for value in row[: len(FIELDS)])
        text = dict(zip(FIELDS, values, strict=True))
        return cls(
            id=text["id"],
            event_id=text["event_id"],
            subscription_id=text["subscription_id"],
            provider=text["provider"],
            type=text["type"],
            task_id=text["task_id"],
            status=DeliveryStatus(text["status"]),
            attempts=int(text["attempts"] or 0),
            created_ms=int(text["created_ms"] or 0),
            updated_ms=int(text["updated_ms"] or 0),
            next_ms=int(text["next_ms"]) if text["next_ms"] else None,
            last_status_code=int(text["last_status_code"]) if text["last_status_code"] else None,
            last_error=text["last_error"],
            chained=text["chained"] == "1",
        )


def _partition(delivery_id: str) -> int | None:
    return ids.partition_of(delivery_id, ids.DELIVERY_PREFIX)


class DeliveryStore:
    """Typed access to deliveries; see the module docstring for their life. The caller owns the client.

    :param partitions: ``RELAY_PARTITIONS``: deliveries live in their event's partition.
    :param event_ttl_s: how long a finished delivery and its attempts are kept.
    """

    def __init__(self, redis: RedisClient, *, partitions: int, event_ttl_s: int) -> None:
        self.redis = redis
        self.partitions = partitions
        self.ttl_ms = event_ttl_s * 1000
        self._create = load_script(redis, "create_deliveries")
        self._claim = load_script(redis, "claim")
        self._requeue = load_script(redis, "requeue")
        # Finishes and releases of concurrent attempts share a pipelined round trip (each script stays atomic).
        self._finish = load_script(redis, "finish")
        self._release = load_script(redis, "release")

    # -- ingest: events stream -> deliveries ---------------------------------------------------------------------

    async def ensure_groups(self) -> None:
        for partition in range(self.partitions):
            try:
                # From the start of the stream: events stored while no worker ran are delivered when one starts.
                await self.redis.xgroup_create(keys.events_stream(partition), keys.EVENTS_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def hold_ingest(self, partition: int, token: str, lease_ms: int) -> bool:
        """Take or renew the partition's ingest lease; True while this worker holds it."""
        key = keys.ingest_lease(partition)
        if await self.redis.set(key, token, nx=True, px=lease_ms):
            return True
        if await self.redis.get(key) == token.encode():
            # The lease may lapse between GET and PEXPIRE; harmless, since create_deliveries.lua checks the token.
            await self.redis.pexpire(key, lease_ms)
            return True
        return False

    async def read_events(
        self, partitions: list[int], *, pending: bool, count: int, block_ms: int | None
    ) -> list[tuple[int, str, dict[bytes, bytes]]]:
        """Entries of the owned partitions: the ones read before and never acknowledged (``pending``), or new ones.

        Every worker reads as the same consumer, so whoever holds a partition's lease inherits its pending entries.
        """
        streams = {keys.events_stream(p): ("0" if pending else ">") for p in partitions}
        if is_cluster(self.redis):
            replies: Any = await read_streams(
                self.redis, keys.EVENTS_GROUP, INGEST_CONSUMER, streams, count=count, block_ms=block_ms
            )
        else:
            replies = await self.redis.xreadgroup(
                keys.EVENTS_GROUP,
                INGEST_CONSUMER,
                streams,  # type: ignore[arg-type]
                count=count,
                block=block_ms,
            )
        by_stream = {keys.events_stream(p): p for p in partitions}
        found = []
        for stream, entries in replies or []:
            for entry_id, fields in entries:
                if fields:  # a pending entry trimmed from the stream comes back empty
                    found.append((by_stream[stream.decode()], entry_id.decode(), fields))
                else:
                    await self.redis.xack(stream, keys.EVENTS_GROUP, entry_id)
        return found

    async def create(
        self,
        partition: int,
        *,
        event_id: str,
        provider: str,
        event_type: str,
        task_id: str,
        subscription_ids: list[str],
        now_ms: int,
        token: str = "",
        entry_id: str = "",
    ) -> list[str] | None:
        """Create one delivery per subscription (and acknowledge ``entry_id`` under the lease ``token``).

        Returns the new delivery ids, or None when the lease is no longer this worker's (nothing written).
        """
        event = NewDeliveries(event_id, provider, event_type, task_id, subscription_ids, entry_id)
        created = await self.create_many(partition, [event], now_ms=now_ms, token=token)
        return None if created is None else created[0]

    async def create_many(
        self, partition: int, events: list[NewDeliveries], *, now_ms: int, token: str = ""
    ) -> list[list[str]] | None:
        """Create the deliveries of ``events`` (one partition, stream order) and acknowledge their entries.

        Each chunk is one script call, all or nothing, and chunks go in order; returns the new delivery ids per
        event, or None when the lease was lost (nothing written from there on).
        """
        created: list[list[str]] = []
        for start in range(0, len(events), CREATE_BATCH_EVENTS):
            chunk = events[start : start + CREATE_BATCH_EVENTS]
            if not await self._create_chunk(partition, chunk, now_ms, token, created):
                return None
        return created

    async def _create_chunk(
        self, partition: int, events: list[NewDeliveries], now_ms: int, token: str, created: list[list[str]]
    ) -> bool:
        script_keys = [
            keys.ingest_lease(partition),
            keys.events_stream(partition),
            keys.due(partition),
            keys.deliveries_index(partition),
        ]
        args: list[str | bytes | int] = [
            token,
            keys.EVENTS_GROUP,
            now_ms,
            self.ttl_ms,
            ids.DELIVERY_PREFIX + ids.ulid_time_prefix(max(now_ms - self.ttl_ms, 0)),
            len(events),
        ]
        made: list[list[str]] = []
        for event in events:
            delivery_ids = [ids.new_delivery_id(now_ms, partition) for _ in event.subscription_ids]
            script_keys.append(keys.event_deliveries(partition, event.event_id))
            args += [
                event.entry_id,
                event.event_id,
                event.provider,
                event.type,
                event.task_id,
                len(delivery_ids),
            ]
            for delivery_id, subscription_id in zip(delivery_ids, event.subscription_ids, strict=True):
                script_keys += [
                    keys.delivery(partition, delivery_id),
                    keys.chain(partition, subscription_id, event.provider, event.task_id),
                ]
                args += [delivery_id, subscription_id]
            made.append(delivery_ids)
        if await self._create.call(script_keys, args) == -1:
            return False
        created.extend(made)
        return True

    # -- dispatch: claim, finish, release -------------------------------------------------------------------------

    async def claim(self, partition: int, now_ms: int, lease_end_ms: int, limit: int) -> list[str]:
        return await claim_due(self._claim, keys.due(partition), now_ms, lease_end_ms, limit)

    async def load(self, delivery_ids: list[str], with_body: bool = True) -> list[Delivery | None]:
        """The deliveries (None for one that is gone); ``with_body``: with the event JSON each one sends."""
        fields = [*FIELDS, "body"] if with_body else list(FIELDS)
        async with self.redis.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                pipe.hmget(keys.delivery(_partition(delivery_id) or 0, delivery_id), fields)
            rows: list[list[Any]] = await pipe.execute()
        loaded = [Delivery.from_row(row) for row in rows]
        if not with_body:
            return loaded
        # A delivery holds no copy of its event (one created before events were packed still does: it is used).
        copies = [row[len(FIELDS)] for row in rows]
        wanted = [d.event_id for d, copy in zip(loaded, copies, strict=True) if d is not None and copy is None]
        events = iter(await read_events(self.redis, wanted)) if wanted else iter(())
        with_bodies: list[Delivery | None] = []
        for delivery, copy in zip(loaded, copies, strict=True):
            if delivery is not None:
                parts = next(events) if copy is None else None
                body = copy if copy is not None else (parts.render() if parts else None)
                delivery = dataclasses.replace(delivery, body=body)
            with_bodies.append(delivery)
        return with_bodies

    async def finish(
        self,
        delivery: Delivery,
        *,
        lease_ms: int | None,
        record: dict[str, Any] | None,
        status: DeliveryStatus,
        next_ms: int | None,
        now_ms: int,
        status_code: int | None = None,
        error: str = "",
    ) -> bool:
        """Record the attempt and move the delivery on; False when the lease had passed to another worker."""
        partition = delivery.partition
        applied = await self._finish.call(
            [
                keys.due(partition),
                keys.delivery(partition, delivery.id),
                keys.attempts(partition, delivery.id),
                delivery.chain_key(),
            ],
            [
                delivery.id,
                "" if lease_ms is None else lease_ms,
                orjson.dumps(record) if record is not None else "",
                status,
                "" if next_ms is None else next_ms,
                now_ms,
                self.ttl_ms,
                "" if status_code is None else status_code,
                error,
                ATTEMPTS_KEPT,
            ],
        )
        return bool(applied)

    async def drop(self, delivery_id: str) -> None:
        """Forget a due entry whose delivery no longer exists."""
        await self.redis.zrem(keys.due(_partition(delivery_id) or 0), delivery_id)

    async def release(self, delivery_id: str, lease_ms: int, due_ms: int) -> bool:
        partition = _partition(delivery_id) or 0
        return bool(await self._release.call([keys.due(partition)], [delivery_id, lease_ms, due_ms]))

    async def requeue(self, delivery_id: str, now_ms: int) -> str | None:
        """Send a delivery again; returns the status it had, or None when there is no such delivery."""
        found = (await self.load([delivery_id], with_body=False))[0] if _partition(delivery_id) is not None else None
        if found is None or found.partition >= self.partitions:
            return None
        partition = found.partition
        before = await self._requeue.call(
            [
                keys.due(partition),
                keys.delivery(partition, delivery_id),
                keys.attempts(partition, delivery_id),
                found.chain_key(),
            ],
            [delivery_id, now_ms, self.ttl_ms],
        )
        return before.decode() if before else None

    # -- reading back ---------------------------------------------------------------------------------------------

    async def get(self, delivery_id: str) -> tuple[Delivery, list[dict[str, Any]]] | None:
        partition = _partition(delivery_id)
        if partition is None or partition >= self.partitions:
            return None
        found = (await self.load([delivery_id], with_body=False))[0]
        if found is None:
            return None
        records: Any = await self.redis.lrange(keys.attempts(partition, delivery_id), 0, -1)
        return found, [orjson.loads(record) for record in records]

    async def for_event(self, event_id: str) -> list[Delivery]:
        partition = ids.partition_of(event_id)
        if partition is None or partition >= self.partitions:
            return []
        found: Any = await self.redis.lrange(keys.event_deliveries(partition, event_id), 0, -1)
        loaded = await self.load([raw.decode() for raw in found], with_body=False)
        return [delivery for delivery in loaded if delivery is not None]

    async def page(
        self, *, status: DeliveryStatus | None, subscription_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Delivery], str | None]:
        """Newest first, filtered; ``cursor`` is the id of the last delivery of the previous page."""
        pages = [await self._scan(p, status, subscription_id, limit, cursor) for p in range(self.partitions)]
        picked = merge_newest(pages, lambda d: d.id, limit)
        return picked, picked[-1].id if len(picked) == limit else None

    async def _scan(
        self, partition: int, status: DeliveryStatus | None, subscription_id: str | None, limit: int, cursor: str | None
    ) -> list[Delivery]:
        index = keys.deliveries_index(partition)

        async def read(upper: str) -> list[Any]:
            batch: list[Any] = await self.redis.zrevrangebylex(index, upper, "-", start=0, num=SCAN_BATCH)
            return batch

        async def keep(batch: Sequence[Any]) -> list[Delivery | None]:
            loaded = await self.load([raw.decode() for raw in batch], with_body=False)
            return [
                delivery
                if delivery is not None
                and (status is None or delivery.status == status)
                and (subscription_id is None or delivery.subscription_id == subscription_id)
                else None
                for delivery in loaded
            ]

        return await scan_newest(
            read, lambda last: "(" + last.decode(), keep, upper=f"({cursor}" if cursor else "+", limit=limit
        )
