"""Any other provider: best-effort reading of a JSON callback.

The task id, status, progress and error are looked up under the names most APIs use, at the top level first and
then inside a ``data``-like envelope; the results are every http(s) URL outside request echoes, callback URLs and
API links (Replicate's ``urls.get``/``urls.cancel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import (
    OutputCollector,
    coerce_progress,
    make_error,
    status_from_word,
    task_id_of,
    text_of,
)

_ENVELOPES = ("data", "result", "task", "job", "payload")
# Specific names first: an event envelope's own "id" must not win over the task id it carries.
_TASK_ID_KEYS = tuple(
    "taskId task_id jobId job_id runId run_id requestId request_id predictionId prediction_id generationId"
    " generation_id".split()
)
_STATUS_KEYS = ("status", "state")
_INNER = ("object", "generation", "task")
_PAYLOAD_ERROR_KEYS = ("payload_error", "payloadError")
_PROGRESS_KEYS = ("progress", "percentage", "percent")
_MESSAGE_KEYS = ("failReason", "fail_reason", "failMsg", "errorMessage", "error_message", "message", "msg", "detail")
_CODE_KEYS = ("errorCode", "error_code", "failCode", "fail_code")
_T = TypeVar("_T")


class GenericProvider:
    name: str = "generic"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # No known signature scheme: the callback URL token is the authentication.

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        scopes = _scopes(payload)
        task_id = _first(scopes, _TASK_ID_KEYS, task_id_of) or _first(scopes, ("id",), task_id_of)
        if task_id is None:
            return None

        progress = _first(scopes, _PROGRESS_KEYS, coerce_progress)
        status = _status(scopes, progress)
        collector = OutputCollector()
        collector.walk(payload)
        payload_error = _first(scopes, _PAYLOAD_ERROR_KEYS, text_of)
        if payload_error is not None and status != "failed":
            # fal: "status": "OK" says the request ran, "payload_error" that its result could not be had.
            status = "failed"
        elif status == "processing" and not _has_status(scopes) and progress is None and collector.outputs():
            # No status field at all but results (APIFrame v1 posts its final result so): the task is done.
            status = "succeeded"
        error = _error(scopes, payload_error) if status == "failed" else None
        step = str(progress) if status in ("processing", "queued") and progress is not None else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )


def _scopes(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Where the fields may be: the top level, each envelope, and one object inside an envelope (Leonardo's
    ``data.object``)."""
    scopes = [payload]
    for name in _ENVELOPES:
        envelope = payload.get(name)
        if isinstance(envelope, dict):
            scopes.append(envelope)
    for envelope in scopes[1:]:
        for name in _INNER:
            inner = envelope.get(name)
            if isinstance(inner, dict):
                scopes.append(inner)
    return scopes


def _has_status(scopes: list[dict[str, Any]]) -> bool:
    return any(scope.get(key) not in (None, "") for scope in scopes for key in (*_STATUS_KEYS, "success", "code"))


def _first(scopes: list[dict[str, Any]], keys: tuple[str, ...], convert: Callable[[Any], _T | None]) -> _T | None:
    for scope in scopes:
        for key in keys:
            value = convert(scope.get(key))
            if value is not None:
                return value
    return None


def _status(scopes: list[dict[str, Any]], progress: int | None) -> Status:
    word: Status | None = _first(scopes, _STATUS_KEYS, status_from_word)
    if word is not None:
        return word
    ok_code = False
    for scope in scopes:
        success = scope.get("success")
        if success is False:
            return "failed"
        if success is True:
            return "processing" if progress is not None and progress < 100 else "succeeded"
        code = scope.get("code")
        if isinstance(code, str) and status_from_word(code) is not None:
            return status_from_word(code) or "processing"
        if isinstance(code, int) and not isinstance(code, bool) and code >= 400:
            return "failed"
        ok_code = ok_code or code == 200
    word = _first(scopes, ("event", "type"), status_from_word)
    if word is not None:
        return word
    # A bare 200 envelope code says the task worked unless a progress below 100 says it is still running.
    return "succeeded" if ok_code and (progress is None or progress == 100) else "processing"


def _error(scopes: list[dict[str, Any]], payload_error: str | None = None) -> TaskError:
    code: Any = None
    message: Any = payload_error
    for scope in scopes:
        raw = scope.get("error")
        if isinstance(raw, dict):
            code = code or text_of(raw.get("code")) or text_of(raw.get("type"))
            message = message or text_of(raw.get("message")) or text_of(raw.get("msg"))
        else:
            message = message or text_of(raw)
    code = code or _first(scopes, _CODE_KEYS, text_of) or _first(scopes, ("code",), _failure_code)
    message = message or _first(scopes, _MESSAGE_KEYS, text_of)
    if not message:
        # No words from the provider (a canceled Replicate prediction): say what its status was.
        word = _first(scopes, _STATUS_KEYS, text_of)
        message = f"the provider reported status {word!r}" if word else "the provider reported a failure"
    return make_error(code, message)


def _failure_code(value: Any) -> str | None:
    text = text_of(value)
    return None if text in ("0", "200") else text
