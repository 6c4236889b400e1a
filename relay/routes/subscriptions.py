"""The admin API for subscriptions: where events are delivered, which ones, and the secrets that sign them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import actions
from relay.auth import require_admin
from relay.errors import BadRequest, NotFound, UnknownField
from relay.events import EVENT_TYPES, rfc3339
from relay.routes.params import read_object
from relay.store.subscriptions import Subscription, new_subscription

HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}")
HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "user-agent", "transfer-encoding", "connection"}
)
MAX_HEADERS = 20
MAX_FILTER_VALUES = 50
MAX_TEXT = 200


def _strings(name: str, value: object, allowed: list[str] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_FILTER_VALUES:
        raise BadRequest(f"{name} must be a list of at most {MAX_FILTER_VALUES} strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item) <= MAX_TEXT:
            raise BadRequest(f"{name} must hold strings of 1 to {MAX_TEXT} characters, got {item!r}")
        if allowed is not None and item not in allowed:
            raise BadRequest(f"unknown {name[:-1]} {item!r}; expected one of {sorted(allowed)}")
    return tuple(dict.fromkeys(value))


def _filter(request: Request, value: object) -> dict[str, tuple[str, ...]]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadRequest('filter must be an object with "providers", "types" and/or "tags" lists')
    UnknownField.refuse(value, ["providers", "types", "tags"], "filter")
    return {
        "providers": _strings("providers", value.get("providers"), list(request.state.providers)),
        "types": _strings("types", value.get("types"), list(EVENT_TYPES)),
        "tags": _strings("tags", value.get("tags")),
    }


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise BadRequest(f"headers must be an object of at most {MAX_HEADERS} name: value strings")
    headers: dict[str, str] = {}
    for name, text in value.items():
        lowered = name.lower()
        if not HEADER_NAME.fullmatch(name) or lowered in RESERVED_HEADERS or lowered.startswith("webhook-"):
            raise BadRequest(f"header {name!r} is not allowed (invalid, or set by the relay)")
        if not isinstance(text, str) or len(text) > 1000 or not HEADER_VALUE.fullmatch(text):
            # What the delivery client can put on the wire (visible ASCII, space, tab): anything else would fail
            # every delivery of this subscription until it is dead.
            raise BadRequest(
                f"header {name!r} must be at most 1000 visible ASCII characters, spaces or tabs on one line"
            )
        headers[lowered] = text
    return headers


def _text(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 1000:
        raise BadRequest(f"{name} must be a string of at most 1000 characters")
    return value


def _url(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"url must be a non-empty string, got {value!r}")
    return value


async def _get(request: Request) -> Subscription:
    return await actions.get_subscription(request.state, request.path_params["subscription_id"])


def _now_ms(request: Request) -> int:
    return int(request.state.clock() * 1000)


def _secret_view(sub: Subscription, now_ms: int) -> dict[str, Any]:
    overlapping = bool(sub.previous_secret) and now_ms < sub.previous_secret_until_ms
    return {
        "id": sub.id,
        "secret": sub.secret,
        "previous_secret": sub.previous_secret if overlapping else None,
        "previous_secret_expires_at": rfc3339(sub.previous_secret_until_ms / 1000) if overlapping else None,
    }


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {value!r}")
    return value


async def create_subscription(request: Request) -> Response:
    require_admin(request)
    body = await read_object(request, '{"url": "https://example.com/hooks", "filter": {"providers": ["kie"]}}')
    UnknownField.refuse(body, ["url", "description", "filter", "headers", "wait_for_assets"], "POST /v1/subscriptions")
    url = await request.state.guard.check_url(_url(body.get("url")))
    flt = _filter(request, body.get("filter"))
    sub = new_subscription(
        url,
        _now_ms(request),
        description=_text("description", body.get("description")),
        headers=_headers(body.get("headers")),
        wait_for_assets=_bool("wait_for_assets", body.get("wait_for_assets", False)),
        **flt,
    )
    await request.state.subscriptions.create(sub)
    return JSONResponse({**sub.public(), "secret": sub.secret}, status_code=201)


async def list_subscriptions(request: Request) -> Response:
    require_admin(request)
    subs: list[Subscription] = await request.state.subscriptions.all()
    return JSONResponse({"data": [sub.public() for sub in subs]})


async def get_subscription(request: Request) -> Response:
    require_admin(request)
    return JSONResponse((await _get(request)).public())


async def update_subscription(request: Request) -> Response:
    require_admin(request)
    sub = await _get(request)
    body = await read_object(request, '{"enabled": false}')
    UnknownField.refuse(
        body, ["url", "description", "filter", "headers", "enabled", "wait_for_assets"], "PATCH /v1/subscriptions/{id}"
    )
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = await request.state.guard.check_url(_url(body["url"]))
    if "description" in body:
        changes["description"] = _text("description", body["description"])
    if "filter" in body:
        changes.update(_filter(request, body["filter"]))
    if "headers" in body:
        changes["headers"] = _headers(body["headers"])
    if "wait_for_assets" in body:
        changes["wait_for_assets"] = _bool("wait_for_assets", body["wait_for_assets"])
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise BadRequest(f"enabled must be true or false, got {body['enabled']!r}")
        changes.update(actions.enabled_changes(sub, body["enabled"], "disabled through the API"))
    updated = await actions.update_subscription(request.state, sub, changes)
    return JSONResponse(updated.public())


async def delete_subscription(request: Request) -> Response:
    require_admin(request)
    subscription_id = request.path_params["subscription_id"]
    if not await request.state.subscriptions.delete(subscription_id):
        raise NotFound(f"no subscription {subscription_id!r}")
    return Response(status_code=204)


async def get_secret(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(_secret_view(await _get(request), _now_ms(request)))


async def rotate_secret(request: Request) -> Response:
    require_admin(request)
    rotated = await actions.rotate_secret(request.state, request.path_params["subscription_id"])
    return JSONResponse(_secret_view(rotated, _now_ms(request)))


def parse_since(value: str | None) -> int:
    """``since`` as ms: RFC 3339 (``2024-05-01T12:00:00Z``) or unix seconds."""
    if not value:
        raise BadRequest("since is required: an RFC 3339 time or unix seconds")
    try:
        if value.replace(".", "", 1).isdigit():
            return int(float(value) * 1000)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"since must be an RFC 3339 time or unix seconds, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"since must carry a time zone (e.g. Z), got {value!r}")
    return int(parsed.timestamp() * 1000)


async def recover(request: Request) -> Response:
    """Send again every delivery of this subscription that failed (failed or dead) since a time."""
    require_admin(request)
    sub = await _get(request)
    since_ms = parse_since(request.query_params.get("since"))
    requeued = await actions.recover(request.state, sub.id, since_ms)
    return JSONResponse({"subscription_id": sub.id, "requeued": requeued}, status_code=202)
