"""fal (fal.ai) queue webhooks: the body POSTed to the request's ``fal_webhook`` URL.

``{"request_id", "gateway_request_id", "status": "OK"|"ERROR", "payload": {...}|null, "error"?,
"payload_error"?}``: ``OK`` with a payload is a success (its results: ``images[].url``, ``video.url``...), ``OK``
with ``payload_error`` (the result could not be serialized) and ``ERROR`` are failures. The task id is
``request_id`` (what the queue API uses; ``gateway_request_id`` names the last retried attempt).

Signature (https://fal.ai/docs/model-endpoints/webhooks): ``X-Fal-Webhook-Signature`` is the hex ED25519
signature of ``request_id \\n user_id \\n timestamp \\n sha256(body) hex`` (the ``X-Fal-Webhook-Request-Id``,
``-User-Id`` and ``-Timestamp`` headers), by one of the keys of fal's JWKS; checked when ``RELAY_FAL_JWKS_URL``
is set, the timestamp within the tolerance.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature

from relay.errors import SignatureInvalid
from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.jwks import KeyCache, KeysUnknown
from relay.providers.outputs import OutputCollector, get, make_error, norm_key, task_id_of, text_of

_HEADERS = ("x-fal-webhook-request-id", "x-fal-webhook-user-id", "x-fal-webhook-timestamp")
_SIGNATURE = "x-fal-webhook-signature"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_HEX = re.compile(r"[0-9a-fA-F]{128}")


class FalProvider:
    name: str = "fal"

    def __init__(self, keys: KeyCache | None = None, tolerance_s: int = 300) -> None:
        self._keys = keys
        self._tolerance_s = tolerance_s

    async def refresh_keys(self, http: httpx.AsyncClient, now: float) -> bool:
        return self._keys is not None and await self._keys.refresh(http, now)

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if self._keys is None:
            return
        lowered = {str(k).lower(): v for k, v in headers.items()}
        request_id, user_id, timestamp = (str(lowered.get(name, "")).strip() for name in _HEADERS)
        signature = str(lowered.get(_SIGNATURE, "")).strip()
        if not (request_id and user_id and timestamp and signature):
            raise SignatureInvalid("missing X-Fal-Webhook-* signature headers", provider=self.name)
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureInvalid("malformed X-Fal-Webhook-Timestamp header", provider=self.name)
        if not abs(now - int(timestamp)) <= self._tolerance_s:  # a NaN clock fails closed
            raise SignatureInvalid("stale X-Fal-Webhook-Timestamp header", provider=self.name)
        if not _HEX.fullmatch(signature):
            raise SignatureInvalid("malformed X-Fal-Webhook-Signature header", provider=self.name)
        try:
            given = binascii.unhexlify(signature)
        except binascii.Error:
            raise SignatureInvalid("malformed X-Fal-Webhook-Signature header", provider=self.name) from None
        message = "\n".join((request_id, user_id, timestamp, hashlib.sha256(body).hexdigest())).encode()
        for key in self._keys.keys:
            try:
                key.verify(given, message)
            except InvalidSignature:
                continue
            return
        # Unknown signer: fal may have rotated its keys since they were fetched (the route refreshes once).
        raise KeysUnknown("X-Fal-Webhook-Signature does not match fal's keys", provider=self.name)

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = task_id_of(payload.get("request_id")) or task_id_of(payload.get("gateway_request_id"))
        if task_id is None:
            return None
        raw_status = payload.get("status")
        word = norm_key(raw_status) if isinstance(raw_status, str) else ""
        result = payload.get("payload")
        payload_error = text_of(payload.get("payload_error"))
        status: Status
        error: TaskError | None = None
        if word == "error" or payload_error is not None:
            status = "failed"
            message = payload_error or text_of(payload.get("error")) or _detail(result)
            error = make_error("payload_error" if payload_error else "error", message or "fal reported an error")
        elif word in ("ok", "completed"):
            status = "succeeded"
        else:
            status = "processing"  # a queue status body (IN_QUEUE, IN_PROGRESS) read from the status endpoint
        collector = OutputCollector(inputs=("prompt*", "seed"))
        if status != "failed":
            collector.walk(result)
        progress = 100 if status == "succeeded" else None
        step = (word or None) if status == "processing" else None
        return TaskUpdate(
            task_id=task_id, status=status, progress=progress, outputs=collector.outputs(), error=error, step=step
        )


def _detail(result: Any) -> str | None:
    """fal's validation errors: ``payload.detail`` is a message or a list of ``{"msg"}``."""
    detail = get(result, "detail")
    if isinstance(detail, list) and detail:
        detail = get(detail[0], "msg") if isinstance(detail[0], dict) else detail[0]
    return text_of(detail)
