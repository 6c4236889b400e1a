"""The admin API for deliveries: list and inspect them with their attempts, retry one, replay an event."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import actions
from relay.auth import require_admin
from relay.errors import BadRequest, NotFound, UnknownField
from relay.routes.params import page_limit, read_object
from relay.store.deliveries import STATUSES, DeliveryStatus

CURSOR = re.compile(r"dlv_[0-9A-Z]{26}[0-9a-f]{2}")


async def list_deliveries(request: Request) -> Response:
    require_admin(request)
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {[s.value for s in STATUSES]}, got {status!r}")
    cursor = params.get("cursor") or None
    if cursor is not None and not CURSOR.fullmatch(cursor):
        raise BadRequest(f"cursor {cursor!r} is not one this API returned")
    found, next_cursor = await request.state.deliveries.page(
        status=DeliveryStatus(status) if status is not None else None,
        subscription_id=params.get("subscription_id") or None,
        limit=page_limit(params.get("limit")),
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
    delivery = await actions.retry(request.state, request.path_params["delivery_id"])
    return JSONResponse(delivery.summary(), status_code=202)


async def replay_event(request: Request) -> Response:
    """New deliveries of a stored event: to every enabled matching subscription, or to the one named."""
    require_admin(request)
    event_id = request.path_params["event_id"]
    body = await read_object(request, '{"subscription_id": "sub_..."} or {"channel": "<tunnel channel>"}')
    # A misspelled subscription_id must not become a replay to every subscriber.
    UnknownField.refuse(body, ["subscription_id", "channel"], "POST /v1/events/{event_id}/replay")
    wanted, channel = body.get("subscription_id"), body.get("channel")
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest(f"subscription_id must be a string, got {wanted!r}")
    if channel is not None:
        if not isinstance(channel, str) or not channel:
            raise BadRequest("channel must be a tunnel channel's name")
        if wanted is not None:
            raise BadRequest("pass subscription_id or channel, not both")
        # Into the channel's buffer instead of to subscriptions (a tunnel client gave up on it, or never had it).
        entry_id = await actions.replay_to_channel(request.state, event_id, channel)
        return JSONResponse({"event_id": event_id, "deliveries": [], "entry_id": entry_id}, status_code=202)
    loaded = await actions.replay(request.state, event_id, wanted)
    return JSONResponse({"event_id": event_id, "deliveries": [d.summary() for d in loaded]}, status_code=202)
