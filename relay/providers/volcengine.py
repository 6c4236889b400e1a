"""Volcengine Ark / BytePlus ModelArk content generation (Seedance video): the task object POSTed to the
creation request's ``callback_url`` on each status change, the same object ``GET .../contents/generations/tasks/
{id}`` returns.

``{"id": "cgt-...", "model", "status": "queued"|"running"|"succeeded"|"failed"|"cancelled"|"expired",
"content": {"video_url", "last_frame_url"?}, "error": {"code", "message"}?, "usage", "created_at", "updated_at",
"seed", "resolution", "ratio", "duration", ...}``. Results are in ``content`` only (the request's own
``content`` is a list of prompt parts and reference images, never a result).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, get, make_error, read_state, table_update, task_id_of, text_of

_STATUSES: dict[str, Status] = {
    "queued": "queued",
    "running": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
    "canceled": "failed",
    "expired": "failed",
}


class VolcengineProvider:
    name: str = "volcengine"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # Ark signs no callback: the callback URL token is the authentication.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task = payload.get("data") if isinstance(payload.get("data"), dict) and "id" not in payload else payload
        if not isinstance(task, dict):
            return None
        task_id = task_id_of(task.get("id")) or task_id_of(task.get("task_id"))
        if task_id is None:
            return None
        status, word = read_state(task.get("status"), _STATUSES)
        error: TaskError | None = None
        if status == "failed":
            message = text_of(get(task, "error", "message")) or f"task {word or 'failed'}"
            error = make_error(get(task, "error", "code") or word, message)
        collector = OutputCollector()
        content = task.get("content")
        if isinstance(content, dict):  # the result; a list is the request's prompt parts
            collector.walk(content, "video_url")
        return table_update(task_id, status, word, collector, error)
