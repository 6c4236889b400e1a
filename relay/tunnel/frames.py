"""What a tunnel client receives: buffer entries loaded into messages, then written as Server-Sent Events.

Two wire formats share one stream loop:

* ``relay`` (``/v1/tunnels/{channel}/stream``): ``data`` is ``{"id", "provider", "type", "task_id", "received_ms",
  "method", "path", "query", "headers": [[name, value], ...], "body_base64"}``, the exact request to replay.
  ``event`` mode carries the normalized event signed as a subscriber delivery; ``raw`` mode the provider's request.
* ``smee`` (``/t/{channel}``): smee.io's format, the headers flattened at the top level plus ``body`` (parsed),
  ``query`` (an object) and ``timestamp`` (ms), for the stock ``smee-client``.

Both send ``id:`` = the buffer entry id (so ``Last-Event-ID`` resumes exactly), an initial ``ready`` event and
``ping`` events, which carry no ``id:`` so they never move a client's resume point.

A stream never carries a callback token: the stored path ``/hooks/<provider>/<token>`` is sent as
``/hooks/<provider>/{token}``. A body smee's format cannot carry as JSON (not UTF-8, or nested too deep to encode)
goes as a string with an ``x-relay-body-encoding`` header (``base64`` or ``text``) instead of ending the stream.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from relay.events import parse_json
from relay.signing import webhook_headers
from relay.store.channels import KIND_WEBHOOK, Channel, Entry
from relay.store.store import StoredEvent
from relay.store.tunnels import TunnelStore

logger = logging.getLogger(__name__)

# Headers that describe one hop's connection, not the message: the forwarding HTTP client sets its own.
HOP_BY_HOP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}
)
WEBHOOK_TYPE = "webhook"
CALLBACK_PREFIX = "/hooks/"
BODY_ENCODING_HEADER = "x-relay-body-encoding"


def redact_path(path: str) -> str:
    """``/hooks/<provider>/<token>`` without the token: whoever reads a tunnel must not be able to forge callbacks."""
    if not path.startswith(CALLBACK_PREFIX):
        return path
    provider = path[len(CALLBACK_PREFIX) :].split("/", 1)[0]
    return f"{CALLBACK_PREFIX}{provider}/{{token}}"


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
    n: int = 0

    def relay_data(self) -> bytes:
        return orjson.dumps(
            {
                "id": self.id,
                "n": self.n,
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
        payload["query"] = dict(parse_qsl(self.query, keep_blank_values=True))
        payload["timestamp"] = self.received_ms
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            return orjson.dumps(
                {**payload, BODY_ENCODING_HEADER: "base64", "body": base64.b64encode(self.body).decode()}
            )
        try:
            return orjson.dumps({**payload, "body": smee_body(self.headers, self.body)})
        except TypeError:  # orjson's recursion limit is a plain TypeError
            # Valid JSON orjson cannot write back (nested deeper than 255): the text as received.
            return orjson.dumps({**payload, BODY_ENCODING_HEADER: "text", "body": text})


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


def _stream_ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


async def load(
    store: TunnelStore, channel: Channel, entries: list[Entry], now_s: float
) -> list[tuple[str, Message | None]]:
    """Each entry with its message, or None when its event has expired from the store (one round trip)."""
    event_ids = [fields[b"id"].decode() for _, fields in entries if fields.get(b"kind") != KIND_WEBHOOK]
    rows = await store.event_rows(event_ids) if event_ids else []
    loaded: list[tuple[str, Message | None]] = []
    row_iter = iter(rows)
    for entry_id, fields in entries:
        try:
            if fields.get(b"kind") == KIND_WEBHOOK:
                message: Message | None = _webhook(fields)
            else:
                message = _event(channel, fields, next(row_iter), now_s)
        except (KeyError, ValueError, TypeError) as exc:
            # One unreadable entry must not end the stream for every entry after it.
            logger.warning("tunnel entry unreadable entry_id=%s error=%r", entry_id.decode(), exc)
            message = None
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
        n=int(fields.get(b"n", b"0")),
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
        "n": int(fields.get(b"n", b"0")),
    }
    if channel.mode == "raw":
        request = orjson.loads(request_json)
        return Message(
            **common,
            method=request["method"],
            path=redact_path(request["path"]),
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
