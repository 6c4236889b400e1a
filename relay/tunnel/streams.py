"""Serving tunnel streams: replay from a resume point, then live entries and pings, for a bounded set of clients."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from typing import Literal

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from relay.config import Settings
from relay.errors import BadRequest, TooManyStreams
from relay.logs import kv
from relay.metrics import tunnel_client_connected, tunnel_client_disconnected
from relay.store.channels import Channel
from relay.store.connect import MAX_BLOCK_S
from relay.store.store import RedisClient
from relay.store.tunnels import Resume, TunnelStore
from relay.tunnel.frames import load, sse

logger = logging.getLogger(__name__)

Format = Literal["relay", "smee"]
ENTRY_ID = re.compile(r"\d{1,20}(-\d{1,20})?")
READ_COUNT = 100
# Frames of one read are written together up to about this many bytes (large bodies are not copied into one).
WRITE_BYTES = 64 * 1024


def resume_point(last_event_id: str | None) -> str | None:
    if last_event_id is None or last_event_id == "":
        return None
    if not ENTRY_ID.fullmatch(last_event_id):
        raise BadRequest(f"Last-Event-ID {last_event_id!r} is not an id this stream sent")
    return last_event_id


def tunnel_store(redis: RedisClient, settings: Settings) -> TunnelStore:
    return TunnelStore(
        redis,
        max_events=settings.tunnel_buffer_max_events,
        max_bytes=settings.tunnel_buffer_max_bytes,
        max_age_s=settings.tunnel_buffer_max_age_s,
        channel_ttl_s=settings.tunnel_channel_ttl_s,
    )


class TunnelHub:
    """The tunnel side of the app: channels, and the streams of connected clients.

    :param redis: the stream client from :func:`open_stream_redis`; the caller owns and closes it.
    :param settings: buffer bounds, ping interval and the stream limit.
    :param clock: seconds since the epoch (signing timestamps).
    """

    def __init__(self, redis: RedisClient, settings: Settings, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.channels = tunnel_store(redis, settings)
        self.ping_interval_s = settings.tunnel_ping_interval_s
        self.max_streams = settings.tunnel_max_streams
        self.max_streams_per_channel = settings.tunnel_max_streams_per_channel
        self.clock = clock
        self.active = 0
        self.connected: Counter[str] = Counter()

    def response(self, channel: Channel, resume: Resume | None, fmt: Format) -> StreamingResponse:
        """The stream of ``channel`` from ``resume`` (None: live only, from the newest entry on)."""
        if self.active >= self.max_streams:
            raise TooManyStreams(f"{self.max_streams} tunnel streams are open; close one or raise the limit")
        if self.connected[channel.name] >= self.max_streams_per_channel:
            raise TooManyStreams(
                f"{self.max_streams_per_channel} streams of this channel are open; close one "
                "(RELAY_TUNNEL_MAX_STREAMS_PER_CHANNEL)"
            )
        self.active += 1
        self.connected[channel.name] += 1
        tunnel_client_connected()
        return _TunnelStream(self, channel.name, self.frames(channel, resume, fmt))

    def stream_ended(self, channel: str) -> None:
        self.active -= 1
        self.connected[channel] -= 1
        if self.connected[channel] <= 0:
            del self.connected[channel]
        tunnel_client_disconnected()

    async def frames(self, channel: Channel, resume: Resume | None, fmt: Format) -> AsyncGenerator[bytes, None]:
        # Without a resume point the stream is live-only: it starts after the newest buffered entry.
        cursor = resume.cursor if resume is not None else await self.channels.last_id(channel.name)
        await self.channels.touch(channel.name, int(self.clock() * 1000))
        ready: dict[str, object] = {}
        if fmt == "relay":
            ready = {"mode": channel.mode, "ping_interval_s": self.ping_interval_s, "cursor": cursor}
            if resume is not None and resume.lost:
                ready["lost"] = resume.lost
            if resume is not None and resume.dropped_before_ms:
                ready["dropped_before_ms"] = resume.dropped_before_ms
        yield sse(orjson.dumps(ready), event="ready")
        next_ping = time.monotonic() + self.ping_interval_s
        while True:
            wait_s = min(next_ping - time.monotonic(), MAX_BLOCK_S)
            entries = await self.channels.read(channel.name, cursor, READ_COUNT, max(int(wait_s * 1000), 1))
            if entries:
                # The frames of a read go in one write, not one each (every write passes each send wrapper, then
                # makes a system call): a client catching up on a backlog got about 10% more events/s.
                frames: list[bytes] = []
                size = 0
                for entry_id, message in await load(self.channels, channel, entries, self.clock()):
                    cursor = entry_id
                    if message is None:
                        logger.warning("tunnel event expired before it was streamed", extra=kv(entry_id=entry_id))
                        continue
                    data = message.smee_data() if fmt == "smee" else message.relay_data()
                    frames.append(sse(data, entry_id=entry_id))
                    size += len(frames[-1])
                    if size >= WRITE_BYTES:
                        yield b"".join(frames)
                        frames, size = [], 0
                if frames:
                    yield b"".join(frames)
            if time.monotonic() >= next_ping:
                if await self.channels.get(channel.name) is None:
                    return  # deleted: end the stream, the client's reconnect then gets a 404
                yield sse(b"{}", event="ping")
                next_ping = time.monotonic() + self.ping_interval_s


class _TunnelStream(StreamingResponse):
    """An SSE response that gives its slot back however the stream ends, and takes a disconnect quietly."""

    def __init__(self, hub: TunnelHub, channel: str, frames: AsyncGenerator[bytes, None]) -> None:
        super().__init__(
            frames,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        self.hub = hub
        self.channel = channel
        self.frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (ClientDisconnect, OSError):
            pass
        finally:
            self.hub.stream_ended(self.channel)
            await self.frames.aclose()
