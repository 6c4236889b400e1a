"""The admin API for tracked tasks: register one, list them, read one with its events (optionally waiting for it)."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import Response

from relay.auth import require_admin
from relay.errors import BadRequest, NotFound, UnknownField, UnknownProvider
from relay.routes.events import json_bytes
from relay.routes.params import page_limit, read_object
from relay.store.tasks import OPEN_STATUSES, TERMINAL_STATUSES
from relay.tasks.catalog import check_service
from relay.tasks.service import Registration

STATUSES = ("overdue", *OPEN_STATUSES, *TERMINAL_STATUSES)
MAX_WAIT_S = 60
MAX_TASK_ID = 200
MAX_TIME_S = 30 * 86_400
CURSOR = re.compile(r"\d{1,16}")
EXAMPLE = '{"provider": "kie", "task_id": "...", "service": "market", "notify_url": "https://example.com/done"}'


def _seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TIME_S:
        raise BadRequest(f"{name} must be a number of seconds from 0 to {MAX_TIME_S}, got {value!r}")
    return float(value)


def _text(name: str, value: object, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not 1 <= len(value) <= limit or any(c in value for c in "\r\n\x00"):
        raise BadRequest(f"{name} must be a single-line string of 1 to {limit} characters, got {value!r}")
    return value


async def create_task(request: Request) -> Response:
    require_admin(request)
    body = await read_object(request, EXAMPLE)
    fields = ["provider", "task_id", "service", "tag", "notify_url", "deadline_s", "horizon_s"]
    UnknownField.refuse(body, fields, "POST /v1/tasks")
    provider = body.get("provider")
    if not isinstance(provider, str):
        raise BadRequest(f"provider must be a string, got {provider!r}")
    if provider not in request.state.providers:
        raise UnknownProvider(provider, list(request.state.providers))
    task_id = _text("task_id", body.get("task_id"), MAX_TASK_ID)
    if not task_id.strip() or task_id != task_id.strip():
        raise BadRequest(f"task_id must be the provider's task id, got {body.get('task_id')!r}")
    service = body.get("service")
    if service is not None and not isinstance(service, str):
        raise BadRequest(f"service must be a string, got {service!r}")
    try:
        service = check_service(provider, service)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    notify_url = _text("notify_url", body.get("notify_url"), 2000)
    if notify_url:
        notify_url = await request.state.guard.check_url(notify_url)
    deadline_s = _seconds("deadline_s", body.get("deadline_s"))
    horizon_s = _seconds("horizon_s", body.get("horizon_s"))
    if deadline_s is not None and horizon_s is not None and horizon_s < deadline_s:
        raise BadRequest("horizon_s must not be shorter than deadline_s")
    if horizon_s is not None and horizon_s > request.state.settings.event_ttl_s:
        raise BadRequest(f"horizon_s must not exceed RELAY_EVENT_TTL_S ({request.state.settings.event_ttl_s} s)")
    service_layer = request.state.tasks
    record, created, secret = await service_layer.register(
        Registration(
            provider=provider,
            task_id=task_id,
            service=service,
            tag=_text("tag", body.get("tag"), 200),
            notify_url=notify_url,
            deadline_s=deadline_s,
            horizon_s=horizon_s,
        )
    )
    view = service_layer.view(record)
    if secret is not None:
        view["notify_secret"] = secret
    return json_bytes(orjson.dumps(view), status_code=201 if created else 200)


async def list_tasks(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"unknown status {status!r}; expected one of {list(STATUSES)}")
    limit = page_limit(params.get("limit"))
    cursor = params.get("cursor") or None
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise BadRequest(f"cursor {cursor!r} is not one this API returned")
    service_layer = request.state.tasks
    now_ms = int(request.state.clock() * 1000)
    records = await service_layer.tasks.page(
        status=status, now_ms=now_ms, limit=limit, cursor=int(cursor) if cursor else None
    )
    next_cursor = str(records[-1].created_ms) if len(records) == limit else None
    return json_bytes(
        orjson.dumps({"data": [service_layer.view(record) for record in records], "next_cursor": next_cursor})
    )


async def get_task(request: Request) -> Response:
    """The task (``null`` when it is not tracked) and its events in arrival order, as ``data``."""
    require_admin(request)
    provider, task_id = request.path_params["provider"], request.path_params["task_id"]
    raw_wait = request.query_params.get("wait")
    if raw_wait is not None and (not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT_S):
        raise BadRequest(f"wait must be whole seconds from 0 to {MAX_WAIT_S}, got {raw_wait!r}")
    service_layer = request.state.tasks
    if raw_wait:
        record = await service_layer.wait(provider, task_id, float(raw_wait))
    else:
        record = await service_layer.tasks.get(provider, task_id)
    events = await request.state.store.task_events(provider, task_id, int(request.state.clock() * 1000))
    if record is None and not events:
        raise NotFound(f"no task {task_id!r} of provider {provider!r}")
    task = orjson.dumps(service_layer.view(record) if record is not None else None)
    return json_bytes(b'{"task":' + task + b',"data":[' + b",".join(events) + b"]}")
