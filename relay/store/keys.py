"""Every Redis key the relay uses, built here and nowhere else.

All keys start with ``relay:``. Keys that one Lua script touches together share a hash tag ``{pNN}``, the event's
partition (``crc32(provider, task_id) % RELAY_PARTITIONS``), so they live in one Redis Cluster slot.

=====================================  ======  ============================  =========================================
key                                    type    TTL                           holds
=====================================  ======  ============================  =========================================
relay:{pNN}:dedup:<sha256>             string  RELAY_DEDUP_TTL_S             id of the first event with this provider +
                                                                             task id + state (or body hash)
relay:{pNN}:event:<event id>           hash    RELAY_EVENT_TTL_S             meta (event JSON without raw), body (raw
                                                                             bytes), request (method, path, headers)
relay:{pNN}:events                     stream  trimmed past RELAY_EVENT_TTL_S  one entry per event: id, provider,
                                                                             type, task_id, tag (newest last)
relay:{pNN}:task:<sha256>              list    RELAY_EVENT_TTL_S             the event ids of one provider task, in
                                                                             arrival order
relay:tunnels                          hash    none (HDEL on delete)         channel name -> channel JSON (filter,
                                                                             mode, whsec_ secret, created_ms)
relay:tunnel:<channel>:buffer          stream  RELAY_TUNNEL_BUFFER_MAX_AGE_S  what the channel's clients receive:
                                       (reset on every append; trimmed by  routed events (id, kind=event, provider,
                                       age and RELAY_TUNNEL_BUFFER_MAX_    type, task_id) and webhooks POSTed to
                                       EVENTS)                             /t/<channel> (id, kind=webhook, body,
                                                                             request, received_ms)
=====================================  ======  ============================  =========================================

Tunnel keys are single-key operations, so they carry no partition hash tag.
"""

from __future__ import annotations

import hashlib
import zlib

PREFIX = "relay:"


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        # Length-prefixed so ("ab", "c") and ("a", "bc") never collide.
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


def partition_for(provider: str, task_id: str, partitions: int) -> int:
    return zlib.crc32(f"{provider}\x00{task_id}".encode()) % partitions


def _tag(partition: int) -> str:
    return f"{PREFIX}{{p{partition:02x}}}:"


def dedup(partition: int, provider: str, task_id: str, state: str) -> str:
    return f"{_tag(partition)}dedup:{_digest(provider, task_id, state)}"


def event(partition: int, event_id: str) -> str:
    return f"{_tag(partition)}event:{event_id}"


def events_stream(partition: int) -> str:
    return f"{_tag(partition)}events"


def task(partition: int, provider: str, task_id: str) -> str:
    return f"{_tag(partition)}task:{_digest(provider, task_id)}"


def tunnels() -> str:
    return f"{PREFIX}tunnels"


def tunnel_buffer(channel: str) -> str:
    return f"{PREFIX}tunnel:{channel}:buffer"
