"""PiAPI (piapi.ai) and GoAPI (goapi.ai), unified API: the webhook POSTed to ``config.webhook_config.endpoint``.

``{"timestamp", "data": {"task_id", "model", "task_type", "status": "pending"|"processing"|"staged"|
"completed"|"failed", "config": {"webhook_config": {"endpoint", "secret"}}, "input", "output", "meta", "logs",
"error": {"code", "message", "raw_message"}}}``; ``GET /api/v1/task/{id}`` answers ``{"code", "data": {same},
"message"}``. Results are in ``data.output`` (model-specific: Kling ``works[].video.resource(_without_watermark)``,
Midjourney ``image_url(s)``, Suno ``clips``...); ``input`` is the request.

PiAPI sends the configured secret in the ``x-webhook-secret`` header, compared (constant-time) with
``RELAY_PIAPI_WEBHOOK_SECRET`` when set. The body echoes it in ``data.config.webhook_config.secret``: the
relay never shows it (request headers are stored redacted; the dashboard masks the echo, see
:func:`redact_secret_echo`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from relay.errors import SignatureInvalid
from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, coerce_progress, get, make_error, read_state, task_id_of, text_of

SECRET_HEADER = "x-webhook-secret"
REDACTED = "[redacted]"
_STATUSES: dict[str, Status] = {
    "pending": "queued",
    "staged": "queued",
    "processing": "processing",
    "completed": "succeeded",
    "failed": "failed",
}


class PiAPIProvider:
    name: str = "piapi"

    def __init__(self, webhook_secret: str | None = None) -> None:
        self._secret = webhook_secret.encode() if webhook_secret else None

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if self._secret is None:
            return
        given = {str(k).lower(): v for k, v in headers.items()}.get(SECRET_HEADER)
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), self._secret):
            raise SignatureInvalid("x-webhook-secret does not match", provider=self.name)

    def parse(self, payload: Any) -> TaskUpdate | None:
        task = get(payload, "data")
        if not isinstance(task, dict) or "task_id" not in task:
            # The legacy Midjourney API's webhook: the v2 fetch answer itself, results in ``task_result``.
            if isinstance(payload, dict) and "task_id" in payload:
                return _legacy(payload)
            return None
        task_id = task_id_of(task.get("task_id"))
        if task_id is None:
            return None
        status, word = read_state(task.get("status"), _STATUSES)
        error: TaskError | None = None
        raw_error = task.get("error")
        if status == "failed":
            code = get(raw_error, "code")
            message = text_of(get(raw_error, "message")) or text_of(get(raw_error, "raw_message")) or "task failed"
            error = make_error(code if code not in (None, 0, "") else "failed", message)
        collector = OutputCollector()
        collector.walk(task.get("output"))
        progress = 100 if status == "succeeded" else coerce_progress(get(task, "output", "progress"))
        step = f"{word}:{'' if progress is None else progress}" if status in ("queued", "processing") else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )


_LEGACY: dict[str, Status] = {
    "pending": "queued",
    "retry": "queued",
    "processing": "processing",
    "staged": "queued",
    "finished": "succeeded",
    "completed": "succeeded",
    "failed": "failed",
}


def _legacy(payload: dict[str, Any]) -> TaskUpdate | None:
    """``{"task_id", "status": "pending"|"processing"|"finished"|"failed"|"retry", "task_result": {"image_url",
    "image_urls", "task_progress", "intermediate_image_urls", "error_messages"}, "meta"}``."""
    task_id = task_id_of(payload.get("task_id"))
    if task_id is None:
        return None
    status, word = read_state(payload.get("status"), _LEGACY)
    result = payload.get("task_result")
    error: TaskError | None = None
    if status == "failed":
        messages = get(result, "error_messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        error = make_error("failed", text_of(first) or "task failed")
    collector = OutputCollector(inputs=("intermediate*",) if status == "succeeded" else ())
    collector.walk(result)
    progress = 100 if status == "succeeded" else coerce_progress(get(result, "task_progress"))
    step = f"{word}:{'' if progress is None else progress}" if status in ("queued", "processing") else None
    return TaskUpdate(
        task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
    )


def redact_secret_echo(body: bytes) -> bytes:
    """The body as shown to people: the echoed ``data.config.webhook_config.secret`` replaced (when not empty)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    config = get(payload, "data", "config", "webhook_config")
    if not isinstance(config, dict) or not config.get("secret"):
        return body
    config["secret"] = REDACTED
    return orjson.dumps(payload)
