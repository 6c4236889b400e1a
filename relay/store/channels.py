"""Tunnel channels: what one is, and which events it receives.

A channel has a name (>= 128 random bits), a filter, a mode, a ``whsec_`` signing secret and a read secret. The name
is only a *write* credential: webhook senders get ``/t/{name}``, which accepts POSTs. Reading the channel's stream
needs its read secret (or the admin token), so a URL handed to a third party cannot be used to read the tunnel.
Its buffer (:mod:`relay.store.tunnels`) receives every matching event whether or not a client is connected;
buffer entry ids are what the SSE stream sends as ``id:``, so a client resumes exactly.
"""

from __future__ import annotations

import hmac
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
from relay.store.cluster import is_cluster, read_streams
from relay.store.store import load_script

MODES = ("event", "raw")
CHANNEL_BYTES = 24  # 192 bits, URL-safe: also a valid smee.io channel name ([A-Za-z0-9_-], <= 128 chars)
READ_SECRET_PREFIX = "trk_"
KIND_EVENT = b"event"
# A routed event in a channel's buffer: the events stream entry's fields that clients filter and print by (the
# stream reads the event itself by its id).
ROUTED_FIELDS = ("id", "provider", "type", "task_id", "tag")
KIND_WEBHOOK = b"webhook"
FILTER_FIELDS = ("providers", "types", "tags")


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
    read_secret: str = field(repr=False, default="")  # channels made before the split: only the admin reads them

    @classmethod
    def new(cls, flt: ChannelFilter, mode: str, now_ms: int) -> Channel:
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {list(MODES)}, got {mode!r}")
        return cls(
            name=secrets.token_urlsafe(CHANNEL_BYTES),
            mode=mode,
            filter=flt,
            created_ms=now_ms,
            secret=new_secret(),
            read_secret=READ_SECRET_PREFIX + secrets.token_urlsafe(CHANNEL_BYTES),
        )

    def can_read(self, presented: str) -> bool:
        return bool(self.read_secret) and hmac.compare_digest(presented.encode(), self.read_secret.encode())

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "mode": self.mode,
                "filter": self.filter.to_dict(),
                "created_ms": self.created_ms,
                "secret": self.secret,
                "read_secret": self.read_secret,
            }
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
            read_secret=data.get("read_secret", ""),
        )

    def public(self) -> dict[str, Any]:
        """The channel as the API lists it: everything but the secrets."""
        return {"channel": self.name, "mode": self.mode, "filter": self.filter.to_dict(), "created_ms": self.created_ms}


Entry = tuple[bytes, dict[bytes, bytes]]


def routed_entry(fields: Mapping[str, str | bytes], received_ms: str | bytes) -> dict[str, str | bytes]:
    """The buffer entry of a routed event from its events stream fields (any it lacks are left out)."""
    entry: dict[str, str | bytes] = {name: fields[name] for name in ROUTED_FIELDS if name in fields}
    entry |= {"kind": KIND_EVENT, "received_ms": received_ms}
    return entry


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
    redis: Redis, partitions: list[int], consumer: str, *, pending: bool, count: int, block_ms: int
) -> list[tuple[int, Entry]]:
    """Entries for ``consumer`` from every partition in one read: its own unacknowledged ones (``pending``), else
    new ones. A cluster reads each partition's stream on its own (they live in different slots)."""
    streams = {keys.events_stream(p): ("0" if pending else ">") for p in partitions}
    reply: Any
    if is_cluster(redis):
        reply = await read_streams(redis, ROUTER_GROUP, consumer, streams, count=count, block_ms=block_ms)
    else:
        reply = await redis.xreadgroup(ROUTER_GROUP, consumer, streams, count=count, block=block_ms)  # type: ignore[arg-type]
    by_stream = {keys.events_stream(p).encode(): p for p in partitions}
    return [(by_stream[stream], entry) for stream, entries in reply or [] for entry in entries]


class RouterShortcut:
    """The tunnel router's way past events while no channel exists (``scripts/router_skip.lua``): one script call
    instead of reading and acknowledging every event. Not on a cluster, whose registry and streams live in
    different slots (one script cannot touch both): there the router reads as usual."""

    def __init__(self, redis: Redis, partitions: list[int]) -> None:
        self._script = None if is_cluster(redis) else load_script(redis, "router_skip")
        self._keys = [keys.tunnels(), *(keys.events_stream(p) for p in partitions)]

    async def skip_if_no_channels(self) -> bool:
        """Whether there was no channel, the router's group now past every stored event; False on a cluster."""
        if self._script is None:
            return False
        return bool(await self._script.call(self._keys, [ROUTER_GROUP]))


async def claim_for_router(redis: Redis, partition: int, consumer: str, idle_ms: int, count: int) -> list[Entry]:
    """Entries another consumer took over ``idle_ms`` ago and never acknowledged (a dead router's)."""
    stream = keys.events_stream(partition)
    reply: Any = await redis.xautoclaim(stream, ROUTER_GROUP, consumer, idle_ms, "0-0", count=count)
    return [entry for entry in reply[1] if entry[1]]


async def ack_routed(redis: Redis, entry_ids: Mapping[int, list[bytes]]) -> None:
    """Acknowledge routed entries, by partition, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for partition, ids in entry_ids.items():
            pipe.xack(keys.events_stream(partition), ROUTER_GROUP, *ids)
        await pipe.execute()
