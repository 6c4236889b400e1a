"""Replicate (replicate.com) prediction webhooks: the prediction object POSTed to the request's ``webhook``.

``{"id", "status": "starting"|"processing"|"succeeded"|"failed"|"canceled", "output", "error", "logs", "input",
"urls": {"get", "cancel", "stream"}, ...}``. Results are in ``output`` only: a URL, a list of URLs, an object of
them, or plain text (a language model's answer), which is no file. ``input`` and the ``urls`` API links are never
results. Progress, when a model reports it, is the last tqdm-style ``NN%|`` in ``logs``.

Replicate signs webhooks with Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``); they are checked when ``RELAY_REPLICATE_WEBHOOK_SECRET`` (``whsec_…``) is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from relay import signing
from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import (
    OutputCollector,
    coerce_progress,
    first_task_id,
    make_error,
    status_from_word,
    text_of,
)

_STATUSES: dict[str, Status] = {
    "starting": "queued",
    "processing": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
_PROGRESS = re.compile(r"(\d{1,3})%\|")
# Progress bars are redrawn at the end of the logs; the tail is enough and bounds the regex's work.
_LOGS_TAIL = 4096


class ReplicateProvider:
    name: str = "replicate"

    def __init__(self, webhook_secrets: Sequence[str] = (), tolerance_s: int = 300) -> None:
        self._secrets = tuple(webhook_secrets)
        self._tolerance_s = tolerance_s

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        if self._secrets:
            signing.verify(self._secrets, headers, body, now, self._tolerance_s, provider=self.name)

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = first_task_id(payload, ("id",))
        if task_id is None:
            return None
        raw_status = payload.get("status")
        status: Status = "processing"
        if isinstance(raw_status, str):
            status = _STATUSES.get(raw_status.strip().lower()) or status_from_word(raw_status) or "processing"

        collector = OutputCollector()
        output = payload.get("output")
        if isinstance(output, str):
            collector.add(output, "output")  # a bare URL is a file; any other text is the answer itself
        else:
            collector.walk(output)
        outputs = collector.outputs()
        progress = _progress(payload)
        if status == "succeeded":
            progress = 100
        error = _error(raw_status, payload.get("error")) if status == "failed" else None
        step = f"{'' if progress is None else progress}/{len(outputs)}" if status in ("queued", "processing") else None
        return TaskUpdate(task_id=task_id, status=status, progress=progress, outputs=outputs, error=error, step=step)


def _progress(payload: dict[str, Any]) -> int | None:
    given = coerce_progress(payload.get("progress"))
    if given is not None:
        return given
    logs = payload.get("logs")
    if not isinstance(logs, str):
        return None
    found = _PROGRESS.findall(logs[-_LOGS_TAIL:])
    return coerce_progress(found[-1]) if found else None


def _error(raw_status: Any, raw_error: Any) -> TaskError:
    canceled = isinstance(raw_status, str) and raw_status.strip().lower() == "canceled"
    message = raw_error.get("message") if isinstance(raw_error, dict) else raw_error
    return make_error("canceled" if canceled else None, text_of(message) or ("prediction canceled" if canceled else ""))
