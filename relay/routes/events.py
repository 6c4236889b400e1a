"""The admin API for reading events back and issuing callback URLs."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.auth import require_admin
from relay.errors import BadRequest, NotFound, UnknownProvider
from relay.store.store import EventFilter

CURSOR = re.compile(r"\d{1,20}-\d{1,20}")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def json_bytes(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


async def list_events(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    cursor = params.get("cursor") or None
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise BadRequest(f"cursor {cursor!r} is not one this API returned")
    flt = EventFilter(
        provider=params.get("provider") or None,
        type=params.get("type") or None,
        task_id=params.get("task_id") or None,
        tag=params.get("tag") or None,
    )
    events, next_cursor = await request.state.store.list_events(flt, _limit(params.get("limit")), cursor)
    return json_bytes(b'{"data":[' + b",".join(events) + b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}")


async def get_event(request: Request) -> Response:
    require_admin(request)
    event_id = request.path_params["event_id"]
    event = await request.state.store.get_event(event_id)
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    deliveries = await request.state.deliveries.for_event(event_id)
    # Inserted before "raw", which stays the last field: the first unescaped `,"raw":` is that field (quotes
    # inside JSON strings are escaped), and the provider's bytes after it stay verbatim to the closing brace.
    at = event.index(b',"raw":')
    summaries = orjson.dumps([d.summary() for d in deliveries])
    return json_bytes(event[:at] + b',"deliveries":' + summaries + event[at:])


async def task_events(request: Request) -> Response:
    require_admin(request)
    provider, task_id = request.path_params["provider"], request.path_params["task_id"]
    events = await request.state.store.task_events(provider, task_id, int(request.state.clock() * 1000))
    if not events:
        raise NotFound(f"no events for task {task_id!r} of provider {provider!r}")
    return json_bytes(b'{"data":[' + b",".join(events) + b"]}")


async def create_callback_url(request: Request) -> Response:
    require_admin(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest('body must be a JSON object like {"provider": "kie", "tag": "order-42"}') from exc
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object like {"provider": "kie", "tag": "order-42"}')
    provider, tag = body.get("provider"), body.get("tag")
    if not isinstance(provider, str):
        raise BadRequest(f"provider must be a string, got {provider!r}")
    if provider not in request.state.providers:
        raise UnknownProvider(provider, list(request.state.providers))
    if tag is not None and (not isinstance(tag, str) or not 1 <= len(tag) <= 200):
        raise BadRequest("tag must be a string of 1 to 200 characters")
    url = callback_url(request.state.settings.public_url, provider, request.state.tokens.issue(provider, tag))
    return JSONResponse({"url": url, "provider": provider, "tag": tag}, status_code=201)


def callback_url(public_url: str, provider: str, token: str) -> str:
    return f"{public_url}/hooks/{provider}/{token}"
