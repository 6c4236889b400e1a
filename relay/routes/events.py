"""The admin API for reading events back and issuing callback URLs."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import actions
from relay.auth import require_admin
from relay.errors import BadRequest, NotFound, UnknownField
from relay.events import EVENT_TYPES
from relay.routes.params import page_limit, read_object
from relay.store.store import EventFilter

CURSOR = re.compile(r"\d{1,20}-\d{1,20}")
FILTERS = ("provider", "type", "task_id", "tag")


def json_bytes(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


async def list_events(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    cursor = params.get("cursor") or None
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise BadRequest(f"cursor {cursor!r} is not one this API returned")
    UnknownField.refuse(dict(params), [*FILTERS, "limit", "cursor"], "GET /v1/events")
    provider, event_type = params.get("provider") or None, params.get("type") or None
    if provider is not None and provider not in request.state.providers:
        raise BadRequest(f"unknown provider {provider!r}; expected one of {sorted(request.state.providers)}")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise BadRequest(f"unknown type {event_type!r}; expected one of {sorted(EVENT_TYPES)}")
    flt = EventFilter(
        provider=provider,
        type=event_type,
        task_id=params.get("task_id") or None,
        tag=params.get("tag") or None,
    )
    events, next_cursor = await request.state.store.list_events(flt, page_limit(params.get("limit")), cursor)
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


async def create_callback_url(request: Request) -> Response:
    require_admin(request)
    body = await read_object(request, '{"provider": "kie", "tag": "order-42"}')
    UnknownField.refuse(body, ["provider", "tag"], "POST /v1/callback-urls")
    provider, tag = body.get("provider"), body.get("tag")
    url = actions.issue_callback_url(request.state, provider, tag)
    return JSONResponse({"url": url, "provider": provider, "tag": tag}, status_code=201)
