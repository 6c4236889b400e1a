"""Kie.ai callbacks: the body POSTed to the request's ``callBackUrl``, ``{"code", "msg", "data"}``.

``code`` 200 is success, anything else a failure. The task id is at ``data.taskId`` (MJ, Veo, Flux, 4o, Market),
``data.task_id`` (Runway, Suno) or the top-level ``taskId`` (Runway Aleph). The Market API adds ``data.state``,
``data.failCode``/``failMsg`` and ``data.resultJson`` (a JSON string); Suno sends one callback per
``data.callbackType`` (text, first, complete, error). Request echoes (``param``, ``promptJson``, ``originUrls``,
``callBackUrl``) are never results.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from relay.errors import SignatureInvalid
from relay.providers.base import Output, Status, TaskError, TaskUpdate
from relay.providers.outputs import (
    OutputCollector,
    coerce_progress,
    first_task_id,
    get,
    is_http_url,
    make_error,
    status_from_word,
    text_of,
)

TIMESTAMP_HEADER = "x-webhook-timestamp"
SIGNATURE_HEADER = "x-webhook-signature"
MAX_SKEW_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # bounded: int() of a huge digit string is slow or refused
_TASK_ID_KEYS = ("taskId", "task_id")
_SUNO_STEPS: dict[str, Status] = {"text": "processing", "first": "processing", "complete": "succeeded"}
_SUCCESS_FLAGS: dict[int, Status] = {0: "processing", 1: "succeeded", 2: "failed", 3: "failed"}


class KieProvider:
    name: str = "kie"

    def __init__(self, hmac_key: bytes | None = None) -> None:
        self._key = hmac_key or None

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if self._key is None:
            return
        # Starlette's Headers are case-insensitive already; a plain dict is not.
        lowered = {str(k).lower(): v for k, v in headers.items()}
        timestamp = lowered.get(TIMESTAMP_HEADER)
        signature = lowered.get(SIGNATURE_HEADER)
        if not isinstance(timestamp, str) or not isinstance(signature, str) or not timestamp or not signature:
            raise SignatureInvalid("missing X-Webhook-Timestamp or X-Webhook-Signature header", provider="kie")
        timestamp = timestamp.strip()
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureInvalid("malformed X-Webhook-Timestamp header", provider="kie")
        if not abs(now - int(timestamp)) <= MAX_SKEW_SECONDS:  # written so that a NaN clock fails closed
            raise SignatureInvalid("stale X-Webhook-Timestamp header", provider="kie")
        try:
            given = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureInvalid("malformed X-Webhook-Signature header", provider="kie") from None
        task_id = _task_id(payload)
        if task_id is None:
            raise SignatureInvalid("signed callback carries no task id", provider="kie")
        expected = hmac.new(self._key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given):
            raise SignatureInvalid("X-Webhook-Signature does not match", provider="kie")

    def parse(self, payload: Any) -> TaskUpdate | None:
        task_id = _task_id(payload)
        if task_id is None or not isinstance(payload, dict):
            return None
        data = payload.get("data")
        data = data if isinstance(data, dict) else {}
        status, error, step = _status(payload, data)
        progress = coerce_progress(data.get("progress"))
        if status == "succeeded" and progress is not None:
            progress = 100  # some Kie records report progress as a fraction ("1.00")
        if step is None and status in ("processing", "queued") and progress is not None:
            step = str(progress)
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=_outputs(payload), error=error, step=step
        )


def _task_id(payload: Any) -> str | None:
    return first_task_id(get(payload, "data"), _TASK_ID_KEYS) or first_task_id(payload, _TASK_ID_KEYS)


def _code(payload: dict[str, Any]) -> str | None:
    code = payload.get("code")
    return text_of(code) if isinstance(code, int | str) else None


def _status(payload: dict[str, Any], data: dict[str, Any]) -> tuple[Status, TaskError | None, str | None]:
    code = _code(payload)
    msg = payload.get("msg")
    fail_code, fail_msg = data.get("failCode") or data.get("errorCode"), data.get("failMsg") or data.get("errorMessage")
    # A non-200 top-level code is the failure Kie reports; failCode/failMsg (Market) explain a 200 with state=fail.
    if code is not None and code != "200":
        return "failed", make_error(code, msg or fail_msg), None

    callback_type = data.get("callbackType")
    if isinstance(callback_type, str) and callback_type.strip():
        step_name = callback_type.strip().lower()
        if step_name == "error":
            return "failed", make_error(fail_code, fail_msg or msg, default_code="error"), None
        if step_name in _SUNO_STEPS:
            suno_status = _SUNO_STEPS[step_name]
            return suno_status, None, (step_name if suno_status == "processing" else None)

    status: Status | None = None
    for key in ("state", "status"):
        status = status or status_from_word(data.get(key))
    flag = data.get("successFlag")
    if status is None and isinstance(flag, int) and not isinstance(flag, bool):
        status = _SUCCESS_FLAGS.get(flag)
    if status == "failed":
        return "failed", make_error(fail_code, fail_msg or msg), None
    if status is not None:
        return status, None, None
    # No state field: Kie only calls back when the task is done, and code 200 says it worked.
    return ("succeeded" if code == "200" else "processing"), None, None


# Kie's "origin" URLs are what the task started from: Flux Kontext's ``originImageUrl`` is the image to edit,
# Veo's ``originUrls`` the pre-reframe originals of the results.
_INPUTS = ("origin*", "filesurl")


def _outputs(payload: dict[str, Any]) -> tuple[Output, ...]:
    collector = OutputCollector(inputs=_INPUTS)
    tracks = get(payload, "data", "data")
    # Suno tracks: the stream URL stands in for the audio until the file is ready (the "first" callback).
    for track in tracks if isinstance(tracks, list) else ():
        if isinstance(track, dict):
            audio = track.get("audio_url") or track.get("audioUrl")
            if not is_http_url(audio):
                audio = track.get("stream_audio_url") or track.get("streamAudioUrl")
            collector.add(audio, "audio_url")
            collector.walk(track)
    collector.walk(payload)
    return collector.outputs()
