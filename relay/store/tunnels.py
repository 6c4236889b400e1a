"""Tunnel channels in Redis: the registry, each channel's buffer, its position and the entries a client gave up on.

A buffer entry carries ``n`` (1, 2, ... per channel, assigned by ``scripts/tunnel_append.lua``), so a client that
resumes from a position knows exactly how many entries the bounds dropped in between: the first entry after the
position has ``n`` = position's ``n`` + 1 unless some were lost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from relay.store import keys
from relay.store.channels import Channel, Entry
from relay.store.store import StoredEvent, load_script, read_events

Fields = dict[str, str | bytes]
# The registry is swept of stale channels at most this often per process.
SWEEP_EVERY_S = 60.0
# Appending moves a channel's last use (its expiry, hours away) at most this often per channel and process: a
# webhook at a time, it was a Redis round trip of its own for each.
TOUCH_EVERY_MS = 1000
# A webhook for /t/{channel} only needs to know that the channel exists: a process remembers that it does for this
# long, so a stream of webhooks costs one Redis round trip each (the append), not two. A channel deleted by another
# process can take webhooks for as long after; the buffer they recreate expires on its own (the append sets TTLs).
KNOWN_FOR_MS = 1000
# Channels a process remembers the time of (a touch, an existence); past it, all are forgotten at once.
MAX_REMEMBERED = 10_000
# Fields the append script adds; a resent entry gets new ones.
NUMBERING = (b"n", b"size")
# Appends to one channel made in one event-loop iteration go to Redis as one script call, at most this many together:
# with a webhook at a time, each call's fixed part (reading the channel's state, resetting its TTLs) was most of the
# script's work.
MAX_COALESCED = 64


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a stream starts and how many entries it asked for that the buffer had already dropped."""

    cursor: str
    lost: int | None  # None: nothing known to be lost
    dropped_before_ms: int | None = None  # for a start by time: entries older than this are gone


class _Recent:
    """Names marked within the last ``for_ms`` (a process's memo that saves a Redis round trip)."""

    def __init__(self, for_ms: int) -> None:
        self.for_ms = for_ms
        self._at: dict[str, int] = {}

    def fresh(self, name: str, now_ms: int) -> bool:
        return 0 <= now_ms - self._at.get(name, now_ms - self.for_ms) < self.for_ms

    def mark(self, name: str, now_ms: int) -> None:
        if len(self._at) >= MAX_REMEMBERED:
            self._at.clear()
        self._at[name] = now_ms

    def forget(self, name: str) -> None:
        self._at.pop(name, None)


@dataclass(slots=True)
class _Append:
    entries: list[Fields]
    ids: asyncio.Future[list[str]]


def stream_id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class TunnelStore:
    """Channels, buffers and positions.

    :param redis: a client with ``decode_responses=False``; the caller owns and closes it.
    :param max_events: a buffer keeps at most this many entries (oldest dropped first).
    :param max_bytes: ... and at most this many bytes of entry fields.
    :param max_age_s: ... and no entry older than this; an idle buffer disappears after as long.
    :param channel_ttl_s: a channel nobody streamed, posted to or acknowledged for this long is deleted.
    """

    def __init__(self, redis: Redis, *, max_events: int, max_bytes: int, max_age_s: int, channel_ttl_s: int) -> None:
        self.redis = redis
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_s * 1000
        self.channel_ttl_ms = channel_ttl_s * 1000
        self._append = load_script(redis, "tunnel_append")
        self._ack = load_script(redis, "tunnel_ack")
        self._swept_at = 0.0
        self._touched = _Recent(TOUCH_EVERY_MS)
        self._known = _Recent(KNOWN_FOR_MS)  # channels Redis said exist
        self._queued: dict[str, list[_Append]] = {}  # appends to a channel not yet sent, see append
        # Strong references: the loop keeps only weak ones to running tasks.
        self._writes: set[asyncio.Task[None]] = set()

    # --- registry ---

    async def create(self, channel: Channel, now_ms: int) -> None:
        await self.sweep(now_ms, force=True)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.tunnels(), channel.name, channel.to_json())
            pipe.zadd(keys.tunnels_used(), {channel.name: now_ms})
            await pipe.execute()

    async def get(self, name: str) -> Channel | None:
        raw: Any = await self.redis.hget(keys.tunnels(), name)
        return Channel.from_json(name, raw) if raw is not None else None

    async def exists(self, name: str, now_ms: int) -> bool:
        """Whether the channel exists, as Redis said within the last ``KNOWN_FOR_MS`` (see there)."""
        if self._known.fresh(name, now_ms):
            return True
        if not await self.redis.hexists(keys.tunnels(), name):
            return False
        self._known.mark(name, now_ms)
        return True

    async def all(self, now_ms: int | None = None) -> list[Channel]:
        if now_ms is not None:
            await self.sweep(now_ms)
        rows: Any = await self.redis.hgetall(keys.tunnels())
        return sorted((Channel.from_json(k.decode(), v) for k, v in rows.items()), key=lambda c: c.created_ms)

    async def delete(self, name: str) -> bool:
        self._known.forget(name)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(keys.tunnels(), name)
            pipe.zrem(keys.tunnels_used(), name)
            pipe.delete(keys.tunnel_buffer(name), keys.tunnel_state(name), keys.tunnel_failed(name))
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def touch(self, name: str, now_ms: int) -> None:
        """Record that the channel was used (its expiry moves on)."""
        await self.redis.zadd(keys.tunnels_used(), {name: now_ms}, xx=True)
        self._touched.mark(name, now_ms)

    async def sweep(self, now_ms: int, force: bool = False) -> list[str]:
        """Delete the channels unused for the channel TTL (checked at most once a minute unless forced)."""
        if not force and time.monotonic() - self._swept_at < SWEEP_EVERY_S:
            return []
        self._swept_at = time.monotonic()
        stale: Any = await self.redis.zrangebyscore(keys.tunnels_used(), 0, now_ms - self.channel_ttl_ms)
        names = [name.decode() for name in stale]
        for name in names:
            await self.delete(name)
        return names

    # --- buffer ---

    async def append(self, name: str, entries: list[Fields], now_ms: int) -> list[str]:
        """Append ``entries`` (numbered, trimmed past the bounds, TTLs reset); returns their ids once Redis has them.

        The first append to a channel in an event-loop iteration starts a write that runs in the next one, by when the
        other appends to that channel made in this iteration (concurrent webhooks) have joined it: one script call
        for them all. The script is atomic, so each of them is written, or (an error for each) none is.
        """
        appending = _Append(entries, asyncio.get_running_loop().create_future())
        queued = self._queued.get(name)
        if queued is None or len(queued) >= MAX_COALESCED:
            queued = self._queued[name] = []
            write = asyncio.create_task(self._write(name, queued, now_ms))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)
        queued.append(appending)
        ids = await appending.ids
        if not self._touched.fresh(name, now_ms):
            await self.touch(name, now_ms)
        return ids

    async def _write(self, name: str, queued: list[_Append], now_ms: int) -> None:
        if self._queued.get(name) is queued:
            del self._queued[name]  # later appends start a write of their own
        appends = [appending for appending in queued if not appending.ids.done()]  # a cancelled caller's: unwritten
        if not appends:
            return
        args: list[Any] = [
            max(now_ms - self.max_age_ms, 0),
            self.max_events,
            self.max_bytes,
            self.max_age_ms,
            self.channel_ttl_ms,
            sum(len(appending.entries) for appending in appends),
        ]
        for appending in appends:
            for fields in appending.entries:
                args.append(len(fields))
                for field_name, value in fields.items():
                    args += [field_name, value]
        try:
            added: Any = await self._append.call([keys.tunnel_buffer(name), keys.tunnel_state(name)], args)
        except Exception as exc:
            for appending in appends:
                if not appending.ids.done():
                    appending.ids.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): so are its callers
            for appending in appends:
                appending.ids.cancel()
            raise
        ids = [entry_id.decode() for entry_id in added]
        for appending in appends:
            if not appending.ids.done():
                appending.ids.set_result(ids[: len(appending.entries)])
            del ids[: len(appending.entries)]

    async def last_id(self, name: str) -> str:
        """The id of the newest buffered entry (``0-0`` when empty): where a live-only stream starts."""
        newest: Any = await self.redis.xrevrange(keys.tunnel_buffer(name), "+", "-", count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def read(self, name: str, after: str, count: int, block_ms: int) -> list[Entry]:
        """Entries after ``after``, oldest first; waits up to ``block_ms`` when there are none yet."""
        reply: Any = await self.redis.xread({keys.tunnel_buffer(name): after}, count=count, block=block_ms)
        return reply[0][1] if reply else []

    async def event_rows(self, event_ids: list[str]) -> list[StoredEvent | None]:
        """Each stored event (None once it expired), in one round trip."""
        return await read_events(self.redis, event_ids)

    # --- positions ---

    async def state(self, name: str) -> dict[str, str]:
        raw: Any = await self.redis.hgetall(keys.tunnel_state(name))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def resume_at_position(self, name: str) -> Resume:
        """Start after the channel's acknowledged position (from the beginning when it has none)."""
        state = await self.state(name)
        cursor = state.get("position", "0-0")
        position_n = int(state.get("position_n", "0"))
        first: Any = await self.redis.xrange(keys.tunnel_buffer(name), f"({cursor}", "+", count=1)
        if first:
            next_n = int(first[0][1].get(b"n", b"0"))
            lost = next_n - position_n - 1 if next_n else 0
        else:
            lost = int(state.get("added", "0")) - position_n
        return Resume(cursor, max(lost, 0) or None)

    async def resume_at_time(self, name: str, since_ms: int) -> Resume:
        """Start with the first entry received at or after ``since_ms``; says so when older ones were dropped."""
        cursor = f"{max(since_ms - 1, 0)}-18446744073709551615"
        dropped = (await self.state(name)).get("dropped_id")
        if dropped is not None and stream_id_key(dropped) > stream_id_key(cursor):
            return Resume(cursor, None, dropped_before_ms=stream_id_key(dropped)[0] + 1)
        return Resume(cursor, None)

    async def ack(self, name: str, position: str | None, n: int, failed: list[tuple[str, int]], now_ms: int) -> str:
        """Move the position forward to ``position`` and record ``failed``; returns the stored position."""
        args: list[Any] = [position or "", n, self.channel_ttl_ms]
        for entry_id, entry_n in failed:
            args += [entry_id, entry_n]
        stored: Any = await self._ack.call([keys.tunnel_state(name), keys.tunnel_failed(name)], args)
        await self.touch(name, now_ms)
        return stored.decode() if isinstance(stored, bytes) else str(stored)

    async def failed_count(self, name: str) -> int:
        count: Any = await self.redis.zcard(keys.tunnel_failed(name))
        return int(count)

    async def resend_failed(self, name: str, now_ms: int) -> tuple[int, int]:
        """Append the entries a client gave up on again; returns (resent, no longer in the buffer)."""
        failed: Any = await self.redis.zrange(keys.tunnel_failed(name), 0, -1)
        if not failed:
            return 0, 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in failed:
                pipe.xrange(keys.tunnel_buffer(name), entry_id, entry_id)
            found: list[Any] = await pipe.execute()
        entries: list[Fields] = [
            {k.decode(): v for k, v in rows[0][1].items() if k not in NUMBERING} for rows in found if rows
        ]
        if entries:
            await self.append(name, entries, now_ms)
        await self.redis.zrem(keys.tunnel_failed(name), *failed)
        return len(entries), len(failed) - len(entries)
