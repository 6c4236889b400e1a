"""MiniMax (Hailuo) official API, ``callback_url`` of video generation (platform.minimax.io).

Before any status callback MiniMax POSTs ``{"challenge": "<value>"}`` and turns callbacks on only if the same
JSON comes back within 3 s: :meth:`MiniMaxProvider.handshake` answers it (nothing is stored). Status callbacks:
``{"task_id", "status": "processing"|"success"|"failed" (query API: "Preparing"|"Queueing"|"Processing"|
"Success"|"Fail"), "file_id"?, "base_resp": {"status_code", "status_msg"}}``. A success carries a ``file_id``
(the video is fetched with ``/v1/files/retrieve``), not a URL: it is kept in the event's ``refs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from relay.providers.base import Status, TaskError, TaskUpdate
from relay.providers.outputs import OutputCollector, get, make_error, read_state, table_update, task_id_of, text_of

_STATUSES: dict[str, Status] = {
    "preparing": "queued",
    "queueing": "queued",
    "processing": "processing",
    "success": "succeeded",
    "fail": "failed",
    "failed": "failed",
}
MAX_CHALLENGE = 1024


class MiniMaxProvider:
    name: str = "minimax"

    def verify(self, headers: Mapping[str, str], payload: Any, now: float, *, body: bytes = b"") -> None:
        return None  # MiniMax signs nothing; the challenge proves the URL, the token authenticates.

    def handshake(self, payload: Any) -> bytes | None:
        """The answer to MiniMax's ``{"challenge": ...}`` (the same JSON), or None for any other body."""
        if isinstance(payload, dict) and set(payload) == {"challenge"}:
            value = payload["challenge"]
            if isinstance(value, str) and len(value) <= MAX_CHALLENGE:
                return orjson.dumps({"challenge": value})
        return None

    def parse(self, payload: Any) -> TaskUpdate | None:
        if not isinstance(payload, dict):
            return None
        task_id = task_id_of(payload.get("task_id"))
        if task_id is None:
            return None
        status, word = read_state(payload.get("status"), _STATUSES)
        code = get(payload, "base_resp", "status_code")
        error: TaskError | None = None
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            status = "failed"  # e.g. 1026/1027: sensitive input or output content
        if status == "failed":
            message = text_of(get(payload, "base_resp", "status_msg")) or "video generation failed"
            error = make_error(code if code not in (None, 0) else word, message)
        file_id = task_id_of(payload.get("file_id"))
        refs = (("file_id", file_id),) if file_id else ()
        collector = OutputCollector()
        collector.walk({k: v for k, v in payload.items() if k != "base_resp"}, "video")
        return table_update(task_id, status, word, collector, error, refs)
