"""AceData (api.acedata.cloud) callbacks: the body POSTed to the request's ``callback_url``.

Flat bodies: ``task_id``, ``success``, ``progress`` and the results (``video_urls``, cover ``image_url``,
``raw_image_url``, ``sub_image_urls``, ``data[].audio_url``...); failures carry ``error: {code, message}``.
With streaming enabled AceData POSTs several ``success: true`` bodies before the final one, so ``success`` alone
does not mean the task is done: a body is terminal only when the provider says so. Video/image streams carry a
``progress`` (< 100 until done); Suno streams carry none, only a ``state`` per track in ``data[]``
(``pending``, ``running``, ``succeeded``, ``failed``): the task succeeded when every track did, failed when one
did, and is in progress otherwise (each distinct line of states is its own progress event).
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
        states = _track_states(body)
        step = str(progress) if progress is not None else None
        if states and status != "failed":
            status, error = _status_of_tracks(states, body)
            step = f"{step or ''}/{','.join(states)}"
        collector = OutputCollector()
        collector.walk(body)
        step = step if status in ("processing", "queued") else None
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


def _track_states(body: dict[str, Any]) -> list[str]:
    """The ``state`` of each item of ``data`` (Suno tracks, Hailuo/Luma videos...), normalized; [] when none has one."""
    data = body.get("data")
    if not isinstance(data, list):
        return []
    states = [item.get("state") for item in data if isinstance(item, dict)]
    if not states or not all(isinstance(state, str) and state.strip() for state in states):
        return []
    return [str(state).strip().lower() for state in states]


def _status_of_tracks(states: list[str], body: dict[str, Any]) -> tuple[Status, TaskError | None]:
    words = [status_from_word(state) for state in states]
    if "failed" in words:
        failed = next(s for s, w in zip(states, words, strict=True) if w == "failed")
        message = text_of(get(body, "error", "message")) or f"a track ended {failed}"
        return "failed", make_error(get(body, "error", "code") or failed, message)
    if all(word == "succeeded" for word in words):
        return "succeeded", None
    return "processing", None  # a stream under way, whatever state its tracks are in
