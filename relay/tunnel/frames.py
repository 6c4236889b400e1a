"""What a tunnel client receives: buffer entries loaded into messages, then written as Server-Sent Events.

Two wire formats share one stream loop:

* ``relay`` (``/v1/tunnels/{channel}/stream``): ``data`` is ``{"id", "provider", "type", "task_id", "received_ms",
  "method", "path", "query", "headers": [[name, value], ...], "body_base64"}``, the exact request to replay.
  ``event`` mode carries the normalized event signed as a subscriber delivery; ``raw`` mode the provider's request.
* ``smee`` (``/t/{channel}``): smee.io's format, the headers flattened at the top level plus ``body`` (parsed),
  ``query`` (an object) and ``timestamp`` (ms), for the stock ``smee-client``.

Both send ``id:`` = the buffer entry id (so ``Last-Event-ID`` resumes exactly), an initial ``ready`` event and
``ping`` events, which carry no ``id:`` so they never move a client's resume point.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from relay.events import parse_json
from relay.signing import webhook_headers
from relay.store.channels import KIND_WEBHOOK, Channel, Entry
from relay.store.store import RedisClient, StoredEvent, read_events

# Headers that describe one hop's connection, not the message: the forwarding HTTP client sets its own.
HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}
)
WEBHOOK_TYPE = "webhook"


@dataclass(frozen=True, slots=True)
class Message:
    """One request to replay at the local target."""

    id: str
    provider: str | None
    type: str
    task_id: str | None
    received_ms: int
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def relay_data(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "provider": self.provider,
                "type": self.type,
                "task_id": self.task_id,
                "received_ms": self.received_ms,
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "headers": self.headers,
                "body_base64": base64.b64encode(self.body).decode(),
            }
        )

    def smee_data(self) -> bytes:
        payload: dict[str, Any] = {}
        for name, value in self.headers:
            payload[name] = f"{payload[name]}, {value}" if name in payload else value
        payload["body"] = smee_body(self.headers, self.body)
        payload["query"] = dict(parse_qsl(self.query, keep_blank_values=True))
        payload["timestamp"] = self.received_ms
        return orjson.dumps(payload)


def smee_body(headers: list[tuple[str, str]], body: bytes) -> Any:
    """The body as smee.io's server parses it: JSON, a form as an object, anything else as text."""
    is_json, value = parse_json(body)
    if is_json:
        return value
    content_type = next((v for k, v in headers if k == "content-type"), "")
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def forwardable(headers: list[list[str]]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in headers if name.lower() not in HOP_BY_HOP]


async def load(
    redis: RedisClient, channel: Channel, entries: list[Entry], now_s: float
) -> list[tuple[str, Message | None]]:
    """Each entry with its message, or None when its event has expired from the store (one round trip)."""
    event_ids = [fields[b"id"].decode() for _, fields in entries if fields.get(b"kind") != KIND_WEBHOOK]
    rows = await read_events(redis, event_ids)
    loaded: list[tuple[str, Message | None]] = []
    row_iter = iter(rows)
    for entry_id, fields in entries:
        if fields.get(b"kind") == KIND_WEBHOOK:
            message: Message | None = _webhook(fields)
        else:
            message = _event(channel, fields, next(row_iter), now_s)
        loaded.append((entry_id.decode(), message))
    return loaded


def _webhook(fields: dict[bytes, bytes]) -> Message:
    request = orjson.loads(fields[b"request"])
    return Message(
        id=fields[b"id"].decode(),
        provider=None,
        type=WEBHOOK_TYPE,
        task_id=None,
        received_ms=int(fields[b"received_ms"]),
        method=request["method"],
        path=request["path"],
        query=request["query"],
        headers=forwardable(request["headers"]),
        body=fields[b"body"],
    )


def _event(channel: Channel, fields: dict[bytes, bytes], row: StoredEvent | None, now_s: float) -> Message | None:
    if row is None:
        return None
    body, request_json = row.body, row.request
    event_id = fields[b"id"].decode()
    common: dict[str, Any] = {
        "id": event_id,
        "provider": fields.get(b"provider", b"").decode() or None,
        "type": fields.get(b"type", b"").decode(),
        "task_id": fields.get(b"task_id", b"").decode() or None,
        "received_ms": int(fields.get(b"received_ms", b"0")),
    }
    if channel.mode == "raw":
        request = orjson.loads(request_json)
        return Message(
            **common,
            method=request["method"],
            path=request["path"],
            query=request["query"],
            headers=forwardable(request["headers"]),
            body=body,
        )
    rendered = row.render()
    # Signed when sent, not when received: a replayed event must still pass the receiver's timestamp tolerance.
    signed = webhook_headers([channel.secret], event_id, int(now_s), rendered)
    return Message(
        **common,
        method="POST",
        path="/",
        query="",
        headers=[("content-type", "application/json"), *signed.items()],
        body=rendered,
    )


def sse(data: bytes, event: str | None = None, entry_id: str | None = None) -> bytes:
    head = (f"id: {entry_id}\n" if entry_id else "") + (f"event: {event}\n" if event else "")
    return head.encode() + b"data: " + data + b"\n\n"
