"""TTAPI (ttapi.io) callbacks: the body POSTed to the request's ``hookUrl`` (same shape as its fetch endpoint).

``{"status": "PENDING_QUEUE"|"ON_QUEUE"|"SUCCESS"|"FAILED", "message", "jobId", "data": {"jobId", "action",
"progress": "0".."100", "videos"|"images"|"cdnImage"|"discordImage"|"imageUrl"..., "hookUrl", "prompt"...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import (
    OutputCollector,
    coerce_progress,
    first_task_id,
    get,
    make_error,
    norm_key,
    status_from_word,
    text_of,
)

_TASK_ID_KEYS = ("jobId", "job_id", "taskId", "task_id")
_STATUSES: dict[str, Status] = {
    "pendingqueue": "queued",
    "onqueue": "processing",
    "success": "succeeded",
    "failed": "failed",
}


# What TTAPI echoes of the request: GPT-4o's ``referImages`` (and any ``refer*``) are the
# caller's reference images; ``hookUrl`` is the callback URL (excluded for every provider).
_INPUTS = ("refer*", "prompt*", "cref", "sref")


class TTAPIProvider:
    name: str = "ttapi"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # TTAPI does not sign its callbacks.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = first_task_id(payload, _TASK_ID_KEYS, ("data",))
        if task_id is None:
            return None

        raw_status = payload.get("status")
        if not isinstance(raw_status, str):
            raw_status = get(payload, "data", "status")
        status: Status = "processing"
        if isinstance(raw_status, str):
            status = _STATUSES.get(norm_key(raw_status)) or status_from_word(raw_status) or "processing"

        progress = coerce_progress(get(payload, "data", "progress"))
        if progress is None:
            progress = coerce_progress(payload.get("progress"))
        error: TaskError | None = None
        if status == "failed":
            message = text_of(payload.get("message")) or text_of(get(payload, "data", "failReason"))
            error = make_error(raw_status, message, default_code="FAILED")

        collector = OutputCollector(inputs=_INPUTS)
        # Results live under "data"; the top level only carries status, message and jobId.
        collector.walk(payload.get("data"))
        step = str(progress) if status == "processing" and progress is not None else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )
