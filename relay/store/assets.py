"""Copies of events' files in Redis: the copier's job queue, each event's copy record, and copy retention.

* Jobs are the events stream itself, read through the consumer group ``relay-assets`` (one per partition stream),
  plus a small per-partition stream of retries asked for through the API. An entry stays pending until its copies
  are settled, so a worker killed mid-copy leaves it to another (``XAUTOCLAIM`` past the lease); a live worker
  renews its entries (``XCLAIM ... JUSTID``) while it copies.
* The record of an event's copies is a key of its own beside the event (``event-assets``): it expires with the
  event (events stored before packing keep it in their hash).
* ``relay:assets:expiry`` maps each stored file (content-addressed) to when its last event expires, or, while one
  worker deletes the file, to minus the deadline of that deletion: no event may reference the file then (it waits
  and stores it again), so none ends up pointing to a file deleted under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from relay import ids
from relay.store import keys
from relay.store.cluster import is_cluster, read_streams
from relay.store.store import RedisClient, StoredEvent, load_script, read_events


@dataclass(frozen=True, slots=True)
class Job:
    """One event whose files are to be copied: a stream entry of the ``relay-assets`` group."""

    stream: str
    entry_id: str
    event_id: str
    retry: bool


class AssetStore:
    """Typed access to the copier's Redis data; the caller owns the client."""

    def __init__(self, redis: RedisClient, *, partitions: int, event_ttl_s: int) -> None:
        self.redis = redis
        self.partitions = partitions
        self.event_ttl_ms = event_ttl_s * 1000
        self._save = load_script(redis, "save_assets")
        self._reference = load_script(redis, "reference_asset")
        self._forget = load_script(redis, "forget_asset")
        self._deleted = load_script(redis, "deleted_asset")

    def _streams(self) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for partition in range(self.partitions):
            found[keys.events_stream(partition)] = False
            found[keys.asset_retries(partition)] = True
        return found

    async def ensure_groups(self, since_ms: int) -> None:
        """Create the group on every stream; on the events streams it starts at ``since_ms`` (older events are not
        copied when copying is first turned on: their providers' links are likely dead)."""
        for stream, retry in self._streams().items():
            try:
                start = "0" if retry else f"{since_ms}-0"
                await self.redis.xgroup_create(stream, keys.ASSETS_GROUP, id=start, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read_new(self, consumer: str, *, count: int, block_ms: int | None) -> list[Job]:
        streams = {stream: ">" for stream in self._streams()}
        if is_cluster(self.redis):
            replies: Any = await read_streams(
                self.redis, keys.ASSETS_GROUP, consumer, streams, count=count, block_ms=block_ms
            )
        else:
            replies = await self.redis.xreadgroup(keys.ASSETS_GROUP, consumer, streams, count=count, block=block_ms)  # type: ignore[arg-type]
        return await self._jobs(replies or [])

    async def claim_stale(self, consumer: str, *, min_idle_ms: int, count: int) -> list[Job]:
        """Entries another worker read and stopped renewing (it died): taken over by ``consumer``."""
        replies: list[Any] = []
        for stream in self._streams():
            reply: Any = await self.redis.xautoclaim(
                stream, keys.ASSETS_GROUP, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
            )
            if reply and reply[1]:
                replies.append((stream.encode(), reply[1]))
        return await self._jobs(replies)

    async def _jobs(self, replies: list[Any]) -> list[Job]:
        retries = {stream for stream, retry in self._streams().items() if retry}
        found: list[Job] = []
        for raw_stream, entries in replies:
            stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
            for raw_id, fields in entries:
                entry_id = raw_id.decode()
                event_id = (fields or {}).get(b"id", b"").decode()
                if not event_id:  # trimmed from the stream meanwhile: nothing to copy
                    await self.redis.xack(stream, keys.ASSETS_GROUP, entry_id)
                    continue
                found.append(Job(stream=stream, entry_id=entry_id, event_id=event_id, retry=stream in retries))
        return found

    async def renew(self, job: Job, consumer: str) -> None:
        """Reset the entry's idle time, so no other worker takes over a copy still in progress."""
        await self.redis.xclaim(job.stream, keys.ASSETS_GROUP, consumer, 0, [job.entry_id], justid=True)

    async def ack(self, job: Job) -> None:
        await self.redis.xack(job.stream, keys.ASSETS_GROUP, job.entry_id)

    async def load(self, event_id: str) -> StoredEvent | None:
        """The event as stored, its copy record included (``assets``)."""
        partition = ids.partition_of(event_id)
        if partition is None or partition >= self.partitions:
            return None
        return (await read_events(self.redis, [event_id]))[0]

    async def save(self, event_id: str, record: bytes) -> bool:
        """Record the event's copies; False when the event expired (nothing written)."""
        partition = ids.partition_of(event_id) or 0
        event_ms = ids.ms_of(event_id, ids.EVENT_PREFIX)
        return bool(
            await self._save.call(
                [
                    keys.event_assets(partition, event_id),
                    keys.events_stream(partition),
                    keys.event(partition, event_id),
                ],
                [record, event_id, event_ms, event_ms + self.event_ttl_ms],
            )
        )

    async def queue_retry(self, event_id: str) -> None:
        partition = ids.partition_of(event_id) or 0
        await self.redis.xadd(
            keys.asset_retries(partition), {"id": event_id}, maxlen=keys.ASSET_RETRIES_KEPT, approximate=True
        )

    # -- retention ------------------------------------------------------------------------------------------------

    async def reference(self, sha256: str, expires_ms: int, now_ms: int) -> bool:
        """Keep the file at least until ``expires_ms`` (never shortens: another event may need it longer); False
        while a worker deletes it (store it again once that is over)."""
        return bool(await self._reference.call([keys.asset_expiry()], [sha256, expires_ms, now_ms]))

    async def expired(self, now_ms: int, limit: int) -> list[tuple[str, int]]:
        """Files to delete, with their score: expired, or marked by a deletion whose deadline passed (its worker
        died)."""
        found: Any = await self.redis.zrangebyscore(
            keys.asset_expiry(), f"({-now_ms}", now_ms, start=0, num=limit, withscores=True
        )
        return [(raw.decode(), int(score)) for raw, score in found]

    async def forget(self, sha256: str, score: int, until_ms: int) -> bool:
        """Mark the file as being deleted until ``until_ms`` unless referenced again since it was found with
        ``score``; True: delete it, then call :meth:`deleted`."""
        return bool(await self._forget.call([keys.asset_expiry()], [sha256, score, until_ms]))

    async def deleted(self, sha256: str, until_ms: int) -> None:
        await self._deleted.call([keys.asset_expiry()], [sha256, until_ms])

    async def hold_sweep(self, token: str, lease_ms: int) -> bool:
        """One worker at a time deletes expired files: take or renew the lease."""
        key = keys.asset_sweep()
        if await self.redis.set(key, token, nx=True, px=lease_ms):
            return True
        if await self.redis.get(key) == token.encode():
            await self.redis.pexpire(key, lease_ms)
            return True
        return False
