"""Leonardo.Ai webhook callbacks: the body POSTed to the webhook URL of a production API key when a job completes
(https://docs.leonardo.ai/docs/guide-to-the-webhook-callback-feature).

``{"type": "image_generation.complete", "object": "generation", "timestamp", "api_version": "v1",
"data": {"object": {"id", "status": "COMPLETE"|"FAILED"|"PENDING", "images": [{"id", "url", "nsfw",
"motionMP4URL", "generated_image_variation_generics": [{"url", "transformType"}]}], "prompt", "modelId",
"initStrength", ...}}}``; the same ``generations_by_pk`` object is what ``GET /generations/{id}`` returns.
The task id is ``data.object.id``.

Leonardo authenticates with the webhook callback API key set on the API key: ``authorization: Bearer <key>``,
checked (constant-time) when ``RELAY_LEONARDO_WEBHOOK_API_KEY`` is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from relay.errors import SignatureInvalid
from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, get, make_error, norm_key, status_from_word, task_id_of, text_of

_STATUSES: dict[str, Status] = {"pending": "processing", "complete": "succeeded", "failed": "failed"}
# The request's own images (init, image prompts, control nets) are inputs.
_INPUTS = ("init*", "imageprompt*", "controlnet*", "prompt*", "negativeprompt", "user", "apikey", "model")


class LeonardoProvider:
    name: str = "leonardo"

    def __init__(self, webhook_api_key: str | None = None) -> None:
        self._expected = f"Bearer {webhook_api_key}".encode() if webhook_api_key else None

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if self._expected is None:
            return
        given = {str(k).lower(): v for k, v in headers.items()}.get("authorization")
        if not isinstance(given, str) or not hmac.compare_digest(given.strip().encode(), self._expected):
            raise SignatureInvalid("authorization does not carry the webhook callback API key", provider=self.name)

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        generation = _generation(payload)
        if generation is None:
            return None
        task_id = task_id_of(generation.get("id")) or task_id_of(generation.get("generationId"))
        if task_id is None:
            return None
        raw_status = generation.get("status")
        status: Status | None = None
        if isinstance(raw_status, str):
            status = _STATUSES.get(norm_key(raw_status)) or status_from_word(raw_status)
        if status is None:
            # The event name says it: image_generation.complete, ...failed.
            event = payload.get("type")
            status = status_from_word(event.rsplit(".", 1)[-1]) if isinstance(event, str) else None
        status = status or "processing"
        error: TaskError | None = None
        if status == "failed":
            message = text_of(generation.get("failedReason")) or text_of(payload.get("message"))
            error = make_error(raw_status, message or "generation failed")
        collector = OutputCollector(inputs=_INPUTS)
        collector.walk(generation)
        progress = 100 if status == "succeeded" else None
        return TaskUpdate(task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error)


def _generation(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The generation object: ``data.object`` (webhook), ``generations_by_pk`` (GET), or the body itself."""
    for found in (get(payload, "data", "object"), payload.get("generations_by_pk"), get(payload, "data")):
        if isinstance(found, dict) and "id" in found:
            return found
    return payload if "id" in payload and "images" in payload else None


def redact_key_echo(body: bytes) -> bytes:
    """The body as shown to people: the echoed API key (``data.object.apiKey``: ``key``, ``webhookCallbackApiKey``)
    replaced."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    echo = get(payload, "data", "object", "apiKey")
    if not isinstance(echo, dict) or not any(echo.get(name) for name in ("key", "webhookCallbackApiKey")):
        return body
    for name in ("key", "webhookCallbackApiKey"):
        if echo.get(name):
            echo[name] = "[redacted]"
    return orjson.dumps(payload)
