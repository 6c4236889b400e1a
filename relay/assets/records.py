"""The record of an event's copies, one state per output, and how it shows in the rendered event.

Stored as JSON in the event's hash (field ``assets``)::

    {"outputs": [{"state": "copied", "sha256": "...", "bytes": 123, "content_type": "image/png", "attempts": 1},
                 {"state": "failed", "error": "HTTP 404 from the provider", "attempts": 1},
                 {"state": "pending", "attempts": 0}]}

Rendering adds ``asset`` to each copied output (``{"url", "sha256", "bytes", "content_type"}``; the URL is made
fresh at every rendering), ``asset_error`` to each failed one, and ``assets`` to the event: ``{"status",
"copied", "failed", "total"}`` with status ``pending`` (copies still running), ``complete`` or ``incomplete``
(some failed for good).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

PENDING = "pending"
COPIED = "copied"
FAILED = "failed"

Link = Callable[[str, str], str]
"""``(sha256, content_type) -> url``."""
Record = list[dict[str, Any]]


def parse(raw: bytes | None, outputs: int) -> Record:
    """The states of ``outputs`` outputs, pending where nothing is recorded yet."""
    states: Record = orjson.loads(raw)["outputs"] if raw else []
    states = states[:outputs]
    return states + [{"state": PENDING, "attempts": 0} for _ in range(outputs - len(states))]


def dump(states: Record) -> bytes:
    return orjson.dumps({"outputs": states})


def status(states: Record) -> str:
    if any(state["state"] == PENDING for state in states):
        return PENDING
    return "incomplete" if any(state["state"] == FAILED for state in states) else "complete"


def summary(states: Record) -> dict[str, Any]:
    return {
        "status": status(states),
        "copied": sum(state["state"] == COPIED for state in states),
        "failed": sum(state["state"] == FAILED for state in states),
        "total": len(states),
    }


def render_meta(meta: bytes, raw: bytes | None, link: Link) -> bytes:
    """The event's meta JSON with its copies; unchanged when nothing was recorded (copying off, no outputs)."""
    if raw is None:
        return meta
    event = orjson.loads(meta)
    outputs = event.get("outputs") or []
    states = parse(raw, len(outputs))
    for output, state in zip(outputs, states, strict=True):
        if state["state"] == COPIED:
            output["asset"] = {
                "url": link(state["sha256"], state["content_type"]),
                "sha256": state["sha256"],
                "bytes": state["bytes"],
                "content_type": state["content_type"],
            }
        elif state["state"] == FAILED:
            output["asset_error"] = state.get("error", "")
    event["assets"] = summary(states)
    return orjson.dumps(event)
