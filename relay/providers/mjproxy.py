"""midjourney-proxy (github.com/novicezk/midjourney-proxy and its forks, e.g. trueai-org/midjourney-proxy): the task
object POSTed to the submission's ``notifyHook`` on every change.

``{"id", "action": "IMAGINE"|"UPSCALE"|..., "status": "NOT_START"|"SUBMITTED"|"MODAL"|"IN_PROGRESS"|"FAILURE"|
"SUCCESS"|"CANCEL", "progress": "0%".."100%", "imageUrl", "failReason", "prompt", "promptEn", "description",
"properties": {...}, "buttons": [...]}``; forks add ``imageUrls[].url`` (the split grid) and ``videoUrl(s)``.
midjourney-proxy does not retry a callback that fails, so a refused callback is a lost result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, coerce_progress, make_error, read_state, task_id_of, text_of

_STATUSES: dict[str, Status] = {
    "notstart": "queued",
    "submitted": "queued",
    "modal": "processing",
    "inprogress": "processing",
    "success": "succeeded",
    "failure": "failed",
    "cancel": "failed",
}
# The request and Discord bookkeeping: never results.
_INPUTS = ("prompt*", "description", "properties", "buttons", "base64*", "state", "botType", "customid")


class MJProxyProvider:
    name: str = "mjproxy"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # midjourney-proxy signs nothing: the callback URL token is the authentication.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = task_id_of(payload.get("id")) or task_id_of(payload.get("taskId"))
        if task_id is None:
            return None
        raw_status = payload.get("status")
        status, word = read_state(raw_status, _STATUSES)
        progress = coerce_progress(payload.get("progress"))
        if status == "succeeded":
            progress = 100
        error: TaskError | None = None
        if status == "failed":
            reason = text_of(payload.get("failReason"))
            error = make_error(raw_status, reason or ("task canceled" if word == "cancel" else "task failed"))
        collector = OutputCollector(inputs=tuple(key.lower() for key in _INPUTS))
        collector.walk(payload)
        step = f"{word}:{'' if progress is None else progress}" if status in ("queued", "processing") else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )
