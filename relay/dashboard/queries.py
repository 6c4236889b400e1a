"""The event page's detail: the stored event, its raw body shown as pretty JSON or hex and base64."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import orjson

from relay.events import FORMAT_JSON
from relay.providers.leonardo import redact_key_echo
from relay.providers.piapi import redact_secret_echo
from relay.store.store import Store

HEX_PREVIEW_BYTES = 4096


@dataclass(frozen=True, slots=True)
class RawBody:
    """The provider's body as the event page shows it: pretty JSON, or hex and base64 for anything else."""

    is_json: bool
    size: int
    content_type: str
    text: str = ""
    hex_preview: str = ""
    base64: str = ""


@dataclass(frozen=True, slots=True)
class EventDetail:
    id: str
    event: dict[str, Any]
    raw: RawBody
    request: dict[str, Any]


def _pretty_json(body: bytes) -> str:
    """The body indented; as stored (UTF-8 text, invalid bytes replaced) when no encoder can indent it."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass  # integers beyond 64 bits, lone surrogates (the stdlib parsed them at ingest), nesting past 255
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")
    # A lone surrogate ("\ud83d", half an emoji) is no UTF-8: shown as its escape, as the provider sent it.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def hex_dump(data: bytes) -> str:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {printable}")
    return "\n".join(lines)


def raw_body(body: bytes, body_format: bytes, content_type: str) -> RawBody:
    if body_format == FORMAT_JSON:
        return RawBody(is_json=True, size=len(body), content_type=content_type, text=_pretty_json(body))
    return RawBody(
        is_json=False,
        size=len(body),
        content_type=content_type,
        hex_preview=hex_dump(body[:HEX_PREVIEW_BYTES]),
        base64=base64.b64encode(body).decode(),
    )


# Providers whose bodies echo a credential (PiAPI its webhook secret, Leonardo its API keys).
_ECHO_REDACTORS = {"piapi": redact_secret_echo, "leonardo": redact_key_echo}


async def event_detail(store: Store, event_id: str) -> EventDetail | None:
    stored = await store.get_stored(event_id)
    if stored is None:
        return None
    request_info: dict[str, Any] = orjson.loads(stored.request) if stored.request else {}
    # The path holds the callback token, a credential: show the provider part only.
    path = str(request_info.get("path", ""))
    if path.startswith("/hooks/"):
        request_info["path"] = "/".join(path.split("/")[:3]) + "/…"
    event = orjson.loads(stored.meta)
    body = stored.body
    redact = _ECHO_REDACTORS.get(str(event.get("provider")))
    if redact is not None and body:
        body = redact(body)  # the provider echoes a credential in its body: never shown
    return EventDetail(
        id=event_id,
        event=event,
        raw=raw_body(body, stored.fmt, str(request_info.get("content_type", ""))),
        request=request_info,
    )
