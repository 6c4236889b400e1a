"""Tunnel channels and their buffers.

A channel is a name (>= 128 random bits; it is the credential of its stream), a filter, a mode and a ``whsec_``
secret. Its buffer is a Redis stream that receives every matching event whether or not a client is connected,
bounded by age and count. Buffer entry ids are what the SSE stream sends as ``id:``, so a client resumes exactly.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from relay.errors import BadRequest
from relay.signing import new_secret
from relay.store import keys

MODES = ("event", "raw")
CHANNEL_BYTES = 24  # 192 bits, URL-safe: also a valid smee.io channel name ([A-Za-z0-9_-], <= 128 chars)
KIND_EVENT = b"event"
KIND_WEBHOOK = b"webhook"
FILTER_FIELDS = ("providers", "types", "tags")

Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class ChannelFilter:
    """Which events a channel receives; an empty list means any value."""

    providers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: object) -> ChannelFilter:
        if raw is None:
            return cls()
        if not isinstance(raw, dict) or set(raw) - set(FILTER_FIELDS):
            raise BadRequest(f"filter must be an object with any of {list(FILTER_FIELDS)}, got {raw!r}")
        values: dict[str, tuple[str, ...]] = {}
        for name in FILTER_FIELDS:
            items = raw.get(name) or []
            if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
                raise BadRequest(f"filter.{name} must be a list of non-empty strings, got {items!r}")
            values[name] = tuple(items)
        return cls(**values)

    def matches(self, fields: Mapping[bytes, bytes]) -> bool:
        return all(
            not wanted or fields.get(name, b"").decode() in wanted
            for name, wanted in ((b"provider", self.providers), (b"type", self.types), (b"tag", self.tags))
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {"providers": list(self.providers), "types": list(self.types), "tags": list(self.tags)}


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    mode: str
    filter: ChannelFilter
    created_ms: int
    secret: str = field(repr=False)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"mode": self.mode, "filter": self.filter.to_dict(), "created_ms": self.created_ms, "secret": self.secret}
        )

    @classmethod
    def from_json(cls, name: str, raw: bytes) -> Channel:
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            name=name,
            mode=data["mode"],
            filter=ChannelFilter(**{k: tuple(v) for k, v in data["filter"].items()}),
            created_ms=data["created_ms"],
            secret=data["secret"],
        )

    def public(self) -> dict[str, Any]:
        """The channel as the API lists it: everything but the secret."""
        return {"channel": self.name, "mode": self.mode, "filter": self.filter.to_dict(), "created_ms": self.created_ms}


class Channels:
    """Channel registry and buffers.

    :param redis: a client with ``decode_responses=False``; the caller owns and closes it.
    :param max_events: a buffer keeps about this many entries (approximate trimming, as Redis does it cheaply).
    :param max_age_s: a buffer drops entries older than this, and disappears when idle for as long.
    """

    def __init__(self, redis: Redis, *, max_events: int, max_age_s: int) -> None:
        self.redis = redis
        self.max_events = max_events
        self.max_age_ms = max_age_s * 1000

    async def create(self, flt: ChannelFilter, mode: str, now_ms: int) -> Channel:
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {list(MODES)}, got {mode!r}")
        channel = Channel(
            name=secrets.token_urlsafe(CHANNEL_BYTES), mode=mode, filter=flt, created_ms=now_ms, secret=new_secret()
        )
        await self.redis.hset(keys.tunnels(), channel.name, channel.to_json())
        return channel

    async def get(self, name: str) -> Channel | None:
        raw: Any = await self.redis.hget(keys.tunnels(), name)
        return Channel.from_json(name, raw) if raw is not None else None

    async def all(self) -> list[Channel]:
        rows: Any = await self.redis.hgetall(keys.tunnels())
        return sorted((Channel.from_json(k.decode(), v) for k, v in rows.items()), key=lambda c: c.created_ms)

    async def delete(self, name: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.tunnels(), name)
            pipe.delete(keys.tunnel_buffer(name))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def append(self, channel: str, entries: list[dict[str, str | bytes]], now_ms: int) -> None:
        """Append ``entries`` to the channel's buffer, trim it, and reset its TTL, in one transaction."""
        buffer = keys.tunnel_buffer(channel)
        min_id = max(now_ms - self.max_age_ms, 0)
        async with self.redis.pipeline(transaction=True) as pipe:
            for fields in entries:
                pipe.xadd(buffer, fields, minid=min_id, approximate=True)  # type: ignore[arg-type]
            pipe.xtrim(buffer, maxlen=self.max_events, approximate=True)
            pipe.pexpire(buffer, self.max_age_ms)
            await pipe.execute()

    async def last_id(self, channel: str) -> str:
        """The id of the newest buffered entry (``0-0`` when empty): where a live-only stream starts."""
        newest: Any = await self.redis.xrevrange(keys.tunnel_buffer(channel), "+", "-", count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def read(self, channel: str, after: str, count: int, block_ms: int) -> list[Entry]:
        """Entries after ``after``, oldest first; waits up to ``block_ms`` when there are none yet."""
        reply: Any = await self.redis.xread({keys.tunnel_buffer(channel): after}, count=count, block=block_ms)
        return reply[0][1] if reply else []


# -- the tunnel router's consumer group on the events streams --------------------------------------------------

ROUTER_GROUP = "tunnels"


async def ensure_router_group(redis: Redis, partition: int) -> None:
    """Create the router's group on the partition's events stream (from now on: events stored later get routed)."""
    try:
        await redis.xgroup_create(keys.events_stream(partition), ROUTER_GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def read_for_router(
    redis: Redis, partition: int, consumer: str, cursor: str, count: int, block_ms: int
) -> list[Entry]:
    """Entries for ``consumer``: its own unacknowledged ones from ``cursor`` ``"0"``, new ones with ``">"``."""
    reply: Any = await redis.xreadgroup(
        ROUTER_GROUP, consumer, {keys.events_stream(partition): cursor}, count=count, block=block_ms
    )
    return reply[0][1] if reply else []


async def claim_for_router(redis: Redis, partition: int, consumer: str, idle_ms: int, count: int) -> list[Entry]:
    """Entries another consumer took over ``idle_ms`` ago and never acknowledged (a dead router's)."""
    stream = keys.events_stream(partition)
    reply: Any = await redis.xautoclaim(stream, ROUTER_GROUP, consumer, idle_ms, "0-0", count=count)
    return [entry for entry in reply[1] if entry[1]]


async def ack_routed(redis: Redis, partition: int, entry_ids: list[bytes]) -> None:
    await redis.xack(keys.events_stream(partition), ROUTER_GROUP, *entry_ids)
