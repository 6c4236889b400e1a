"""The admin API for deliveries: list and inspect them with their attempts, retry one, replay an event."""

from __future__ import annotations

import re

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import ids
from relay.auth import require_admin
from relay.errors import BadRequest, NotFound
from relay.routes.events import _limit
from relay.routes.subscriptions import read_object
from relay.store.deliveries import STATUSES, Delivery
from relay.store.subscriptions import Subscription

CURSOR = re.compile(r"dlv_[0-9A-Z]{26}[0-9a-f]{2}")


async def list_deliveries(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {list(STATUSES)}, got {status!r}")
    cursor = params.get("cursor") or None
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise BadRequest(f"cursor {cursor!r} is not one this API returned")
    found, next_cursor = await request.state.deliveries.page(
        status=status,
        subscription_id=params.get("subscription_id") or None,
        limit=_limit(params.get("limit")),
        cursor=cursor,
    )
    return JSONResponse({"data": [delivery.summary() for delivery in found], "next_cursor": next_cursor})


async def get_delivery(request: Request) -> Response:
    require_admin(request)
    delivery_id = request.path_params["delivery_id"]
    found = await request.state.deliveries.get(delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    delivery, attempts = found
    return JSONResponse({**delivery.summary(), "attempts": attempts})


async def retry_delivery(request: Request) -> Response:
    require_admin(request)
    delivery_id = request.path_params["delivery_id"]
    if await request.state.deliveries.requeue(delivery_id, int(request.state.clock() * 1000)) is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    delivery, _ = await request.state.deliveries.get(delivery_id)
    return JSONResponse(delivery.summary(), status_code=202)


async def replay_event(request: Request) -> Response:
    """New deliveries of a stored event: to every enabled matching subscription, or to the one named."""
    require_admin(request)
    event_id = request.path_params["event_id"]
    body = await read_object(request, '{"subscription_id": "sub_..."}')
    wanted = body.get("subscription_id")
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest(f"subscription_id must be a string, got {wanted!r}")
    loaded = await replay(request, event_id, wanted)
    return JSONResponse({"event_id": event_id, "deliveries": [d.summary() for d in loaded]}, status_code=202)


async def replay(request: Request, event_id: str, wanted: str | None) -> list[Delivery]:
    """Create the replay's deliveries (the API's and the dashboard's); raises NotFound for an unknown id."""
    event = await request.state.store.get_event(event_id)
    partition = ids.partition_of(event_id)
    if event is None or partition is None:
        raise NotFound(f"no event {event_id!r}")
    meta = orjson.loads(event)
    fields = {name: meta.get(name) or "" for name in ("provider", "type", "task_id", "tag")}
    if wanted is not None:
        sub: Subscription | None = await request.state.subscriptions.get(wanted)
        if sub is None:
            raise NotFound(f"no subscription {wanted!r}")
        targets = [sub.id]
    else:
        subs: list[Subscription] = await request.state.subscriptions.all()
        targets = [s.id for s in subs if s.enabled and s.matches(fields["provider"], fields["type"], fields["tag"])]
    created = await request.state.deliveries.create(
        partition,
        event_id=event_id,
        provider=fields["provider"],
        event_type=fields["type"],
        task_id=fields["task_id"],
        subscription_ids=targets,
        now_ms=int(request.state.clock() * 1000),
    )
    loaded: list[Delivery | None] = await request.state.deliveries.load(created, with_body=False)
    return [d for d in loaded if d is not None]
