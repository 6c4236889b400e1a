"""The normalized event: built from one callback, stored once, rendered the same way everywhere.

An event is stored as ``meta`` (its JSON without ``id`` and ``raw``) plus the raw body bytes. Rendering splices
``raw`` back in: a JSON body is inserted verbatim (it parsed as strict JSON, so the result is valid JSON and the
provider's bytes survive untouched); any other body becomes ``{"content_type", "body_base64"}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from relay import ids
from relay.names import EVENT_TYPES as EVENT_TYPES
from relay.names import UNRECOGNIZED as UNRECOGNIZED
from relay.providers.base import TaskUpdate
from relay.store import keys

FORMAT_JSON = b"json"
FORMAT_BYTES = b"bytes"


class _NotJSON(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON")


def parse_json(body: bytes) -> tuple[bool, Any]:
    """``(True, value)`` when the body is strict UTF-8 JSON (whatever the content type says), else ``(False, None)``."""
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses integers beyond 64 bits, which are valid JSON; the stdlib is the slow, complete fallback.
    try:
        return True, json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False, None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event ready to be stored: its keys, its stream fields and its stored form."""

    id: str  # as proposed: the store's reply names the id it stored
    partition: int
    provider: str
    type: str
    task_id: str
    tag: str
    dedup_key: str
    meta: bytes  # the event JSON without "id" and "raw"
    body: bytes
    body_format: bytes
    request: bytes
    status: str = ""
    """The task status the event reports ('' when unrecognized): moves a tracked task on when stored."""
    service: str = ""
    """A service to start tracking the task under when nobody registered it ('' = do not track)."""
    source: str = "callback"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    content_type: str

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "headers": self.headers,
                "content_type": self.content_type,
            }
        )


_second_prefix: tuple[int, str] = (-1, "")


def rfc3339(now_s: float) -> str:
    """``2026-01-02T03:04:05.678Z``; the part up to the second is formatted once per second, not per callback."""
    global _second_prefix
    # Rounded to the microsecond first, as datetime.fromtimestamp does, then truncated to the millisecond.
    fraction, whole = math.modf(now_s)
    micros = round(fraction * 1e6)
    second = int(whole) + micros // 1_000_000
    milli = micros % 1_000_000 // 1000
    if _second_prefix[0] != second:
        _second_prefix = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second_prefix[1]}.{milli:03d}Z"


def build_event(
    *,
    provider: str,
    tag: str | None,
    update: TaskUpdate | None,
    body: bytes,
    is_json: bool,
    request: RequestInfo,
    now_s: float,
    partitions: int,
    source: str = "callback",
    service: str | None = None,
) -> NewEvent:
    """Normalize one callback. ``update`` is None when the adapter could not understand the body.

    ``source`` says where the body came from: ``callback`` (the provider POSTed it) or ``poll`` (the relay fetched it
    from the provider's status endpoint). ``service`` asks the store to start tracking a task nobody registered.
    """
    if update is None:
        # Unrecognized bodies are still kept; their identity for deduplication is the bytes themselves.
        task_key = "sha256:" + hashlib.sha256(body).hexdigest()
        state = UNRECOGNIZED
        event_type = UNRECOGNIZED
        task_id: str | None = None
    else:
        task_key = update.task_id
        state = update.dedup_state
        event_type = update.event_type
        task_id = update.task_id
    partition = keys.partition_for(provider, task_key, partitions)
    event_id = ids.new_event_id(int(now_s * 1000), partition)
    # No "id": the store may move the event to a later millisecond, and so rewrite its id (scripts/accept.lua);
    # reading splices the stored id back in first.
    meta: dict[str, Any] = {
        "type": event_type,
        "provider": provider,
        "task_id": task_id,
        "status": update.status if update else None,
        "progress": update.progress if update else None,
        "outputs": [{"url": o.url, "kind": o.kind} for o in update.outputs] if update else [],
        "error": {"code": update.error.code, "message": update.error.message} if update and update.error else None,
        "tag": tag,
        "source": source,
        "received_at": rfc3339(now_s),
    }
    # Optional fields, present only when they say something (the event's shape stays as it was otherwise).
    if update is not None and update.refs:
        meta["refs"] = dict(update.refs)
    if update is not None and update.outputs_truncated:
        meta["outputs_truncated"] = True
    return NewEvent(
        id=event_id,
        partition=partition,
        provider=provider,
        type=event_type,
        task_id=task_id or "",
        tag=tag or "",
        # The tag is part of the identity: two tenants whose providers reuse a task id are two tasks.
        dedup_key=keys.dedup(partition, provider, task_key, state, tag or ""),
        meta=orjson.dumps(meta),
        body=body,
        body_format=FORMAT_JSON if is_json else FORMAT_BYTES,
        request=request.to_json(),
        status=update.status if update else "",
        service=service or "",
        source=source,
    )


def render_event(meta: bytes, body: bytes, body_format: bytes, request: bytes) -> bytes:
    """The event's JSON with ``raw`` spliced in (see the module docstring)."""
    if body_format == FORMAT_JSON:
        raw = body
    else:
        content_type = orjson.loads(request).get("content_type", "")
        raw = orjson.dumps({"content_type": content_type, "body_base64": base64.b64encode(body).decode()})
    return meta[:-1] + b',"raw":' + raw + b"}"


def meta_of(rendered: bytes) -> dict[str, Any]:
    """The event's own fields from a rendered event, without parsing ``raw`` (which may hold what orjson refuses:
    integers beyond 64 bits, lone surrogates, deep nesting). Inside JSON strings every quote is escaped, so the
    first ``,"raw":`` is the one :func:`render_event` wrote."""
    cut = rendered.find(b',"raw":')
    meta: dict[str, Any] = orjson.loads(rendered[:cut] + b"}" if cut >= 0 else rendered)
    return meta
