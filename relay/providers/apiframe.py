"""APIFrame (apiframe.ai / apiframe.pro), Midjourney and other models.

v1 (``webhook_url``): the result as the Fetch endpoint returns it, POSTed when done: ``{"task_id", "task_type",
"original_image_url" (the grid: a result), "image_urls", "sref"...}`` with no status; progress bodies carry
``"status": "processing"`` and ``"percentage"``; failures ``"status": "failed"`` and a ``message``.
v2 (``webhookUrl`` + ``webhookEvents``): ``{"event": "progress"|"completed"|"failed", "jobId", "status":
"PROCESSING"|"COMPLETED"|"FAILED", "progress", "model", "result"?: {...}, "error"?}``, signed: the
``X-Webhook-Signature`` header is the hex HMAC-SHA256 of the raw body keyed by the SHA-256 of the API key,
checked (constant-time) when ``RELAY_APIFRAME_API_KEY`` is set. v1 bodies are unsigned: with the key set, they
are refused (set the key only when every APIFrame callback is v2).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from relay.errors import SignatureInvalid
from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import (
    OutputCollector,
    coerce_progress,
    get,
    make_error,
    norm_key,
    status_from_word,
    task_id_of,
    text_of,
)

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
_HEX = re.compile(r"(?:sha256=)?([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_EVENTS: dict[str, Status] = {"progress": "processing", "completed": "succeeded", "failed": "failed"}


class APIFrameProvider:
    name: str = "apiframe"

    def __init__(self, api_key: str | None = None, tolerance_s: int = 300) -> None:
        # Keyed by the SHA-256 of the API key: as raw bytes, and as its hex text (both readings of the docs).
        digest = hashlib.sha256(api_key.encode()).digest() if api_key else None
        self._keys = (digest, digest.hex().encode()) if digest else ()
        self._tolerance_s = tolerance_s

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if not self._keys:
            return
        lowered = {str(k).lower(): v for k, v in headers.items()}
        found = _HEX.fullmatch(str(lowered.get(SIGNATURE_HEADER, "")).strip())
        if found is None:
            raise SignatureInvalid("missing or malformed X-Webhook-Signature header", provider=self.name)
        timestamp = lowered.get(TIMESTAMP_HEADER)
        if timestamp is not None:
            if not _TIMESTAMP.fullmatch(str(timestamp).strip()):
                raise SignatureInvalid("malformed X-Webhook-Timestamp header", provider=self.name)
            stamp = int(str(timestamp).strip())
            stamp = stamp // 1000 if stamp > 10**11 else stamp  # milliseconds
            if not abs(now - stamp) <= self._tolerance_s:
                raise SignatureInvalid("stale X-Webhook-Timestamp header", provider=self.name)
        given = bytes.fromhex(found.group(1))
        matches = [hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), given) for key in self._keys]
        if not any(matches):
            raise SignatureInvalid("X-Webhook-Signature does not match", provider=self.name)

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = (
            task_id_of(payload.get("jobId"))
            or task_id_of(payload.get("task_id"))
            or task_id_of(payload.get("taskId"))
            or task_id_of(get(payload, "data", "jobId"))
        )
        if task_id is None:
            return None
        progress = coerce_progress(payload.get("progress"))
        if progress is None:
            progress = coerce_progress(payload.get("percentage"))
        collector = OutputCollector()
        collector.walk({k: v for k, v in payload.items() if k not in ("error", "message")})
        status = _status(payload, progress, bool(collector.outputs()))
        error: TaskError | None = None
        if status == "failed":
            raw = payload.get("error")
            message = text_of(get(raw, "message")) or text_of(raw) or text_of(payload.get("message"))
            error = make_error(get(raw, "code"), message or "task failed")
        if status == "succeeded":
            progress = 100
        step = str(progress) if status in ("queued", "processing") and progress is not None else None
        outputs = collector.outputs() if status != "failed" else ()
        return TaskUpdate(task_id=task_id, status=status, progress=progress, outputs=outputs, error=error, step=step)


def _status(payload: dict[str, Any], progress: int | None, has_results: bool) -> Status:
    event = payload.get("event")
    if isinstance(event, str) and norm_key(event) in _EVENTS:
        return _EVENTS[norm_key(event)]
    word = status_from_word(payload.get("status"))
    if word is not None:
        return "processing" if word == "succeeded" and progress is not None and progress < 100 else word
    if payload.get("error") not in (None, "", {}):
        return "failed"
    # v1: the final result is posted without a status; anything else is still under way.
    return "succeeded" if has_results and (progress is None or progress == 100) else "processing"
