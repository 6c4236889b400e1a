"""What the admin API's routes read alike: a JSON object body, and a page's ``limit``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from relay.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


async def read_object(request: Request, example: str) -> dict[str, Any]:
    """The body's JSON object (an empty body is ``{}``); 400 naming ``example`` for anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body must be a JSON object like {example}") from exc
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object like {example}")
    return body


def page_limit(raw: str | None) -> int:
    """The ``limit`` query parameter: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent."""
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)
