"""Luma Dream Machine API (official, api.lumalabs.ai): the Generation object POSTed to the request's
``callback_url`` on every update (state, video URL, failure reason); Luma retries 3 times, 100 ms apart, when the
answer is not 200.

``{"id", "generation_type": "video"|"image", "state": "queued"|"dreaming"|"completed"|"failed",
"failure_reason", "created_at", "assets": {"video", "image", "progress_video"?}, "model", "request": {...}}``.
Results are in ``assets``; ``request`` (prompt, keyframe images, callback URL) is the caller's input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, make_error, read_state, table_update, task_id_of, text_of

_STATES: dict[str, Status] = {
    "pending": "queued",
    "queued": "queued",
    "dreaming": "processing",
    "processing": "processing",
    "completed": "succeeded",
    "failed": "failed",
}


class LumaProvider:
    name: str = "luma"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # Luma signs no callback: the callback URL token is the authentication.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = task_id_of(payload.get("id"))
        if task_id is None:
            return None
        status, word = read_state(payload.get("state"), _STATES)
        error: TaskError | None = None
        if status == "failed":
            error = make_error("failed", text_of(payload.get("failure_reason")) or "generation failed")
        collector = OutputCollector(inputs=("progress*",))
        assets = payload.get("assets")
        if isinstance(assets, dict):
            kind = "image" if payload.get("generation_type") == "image" else None
            collector.walk(assets, kind)
        return table_update(task_id, status, word, collector, error)
