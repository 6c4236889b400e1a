"""AceData (api.acedata.cloud) callbacks: the body POSTed to the request's ``callback_url``.

Flat bodies: ``task_id``, ``success``, ``progress`` and the results (``video_urls``, cover ``image_url``,
``raw_image_url``, ``sub_image_urls``, ``data[].audio_url``...); failures carry ``error: {code, message}``.
With streaming enabled AceData POSTs several ``success: true`` bodies with ``progress`` < 100 before the final
one, so ``success`` alone does not mean the task is done.
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
    status_from_word,
    text_of,
)

_TASK_ID_KEYS = ("task_id", "taskId")


class AceDataProvider:
    name: str = "acedata"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # AceData does not sign its callbacks.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        body: dict[str, Any] = payload
        # The task-record shape ({"request": ..., "response": {...}}) nests the callback under "response".
        response = body.get("response")
        if "success" not in body and isinstance(response, dict):
            body = {**response, **{k: v for k, v in body.items() if k in _TASK_ID_KEYS}}
        task_id = first_task_id(body, _TASK_ID_KEYS, ("data",))
        if task_id is None:
            return None

        progress = coerce_progress(body.get("progress"))
        status, error = _status(body, progress)
        collector = OutputCollector()
        collector.walk(body)
        step = str(progress) if status in ("processing", "queued") and progress is not None else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )


def _status(body: dict[str, Any], progress: int | None) -> tuple[Status, TaskError | None]:
    success = body.get("success")
    raw_error = body.get("error")
    word = status_from_word(body.get("state")) or status_from_word(body.get("status"))
    if success is False or word == "failed" or (success is not True and raw_error not in (None, "", {})):
        return "failed", _error(raw_error, body)
    if word in ("queued", "processing"):
        return word, None
    if progress is not None and progress < 100:
        return "processing", None
    if success is True or word == "succeeded" or progress == 100:
        return "succeeded", None
    return "processing", None


def _error(raw: Any, body: dict[str, Any]) -> TaskError:
    if isinstance(raw, dict):
        return make_error(raw.get("code"), raw.get("message") or raw.get("msg"))
    return make_error(None, text_of(raw) or get(body, "message"))
