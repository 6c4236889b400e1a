"""Tunnel channels: the admin API, the SSE stream for ``relay tunnel``, and smee.io's ``/t/{channel}``."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import ids
from relay.auth import require_admin
from relay.bodies import read_body
from relay.errors import BadRequest, NotAcceptable, NotFound, UnknownField
from relay.events import EVENT_TYPES, RequestInfo
from relay.store.channels import KIND_WEBHOOK, Channel, ChannelFilter
from relay.tunnel.streams import TunnelHub, resume_point

WEBHOOK_PREFIX = "whk_"


def _hub(request: Request) -> TunnelHub:
    hub: TunnelHub = request.state.tunnels
    return hub


async def _channel(request: Request) -> Channel:
    name: str = request.path_params["channel"]
    channel = await _hub(request).channels.get(name)
    if channel is None:
        raise NotFound("no such tunnel channel")  # the name is a credential: never echo it
    return channel


def _urls(public_url: str, channel: str) -> dict[str, str]:
    return {"stream_url": f"{public_url}/v1/tunnels/{channel}/stream", "smee_url": f"{public_url}/t/{channel}"}


async def create_tunnel(request: Request) -> Response:
    require_admin(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest('body must be a JSON object like {"filter": {"providers": ["kie"]}, "mode": "raw"}') from exc
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object like {"filter": {"providers": ["kie"]}, "mode": "raw"}')
    UnknownField.refuse(body, ["filter", "mode"], "POST /v1/tunnels")
    mode = body.get("mode", "event")
    flt = ChannelFilter.parse(body.get("filter"))
    for name, values, known in (
        ("providers", flt.providers, request.state.providers),
        ("types", flt.types, EVENT_TYPES),
    ):
        if set(values) - set(known):
            raise BadRequest(
                f"unknown filter.{name} {sorted(set(values) - set(known))}; expected any of {sorted(known)}"
            )
    now_ms = int(request.state.clock() * 1000)
    channel = await _hub(request).channels.create(flt, mode, now_ms)
    # The secret is shown once, here: the developer verifies event-mode signatures with it locally.
    payload = {**channel.public(), **_urls(request.state.settings.public_url, channel.name), "secret": channel.secret}
    return JSONResponse(payload, status_code=201)


async def list_tunnels(request: Request) -> Response:
    require_admin(request)
    public_url = request.state.settings.public_url
    channels = await _hub(request).channels.all()
    return JSONResponse({"data": [{**c.public(), **_urls(public_url, c.name)} for c in channels]})


async def delete_tunnel(request: Request) -> Response:
    require_admin(request)
    if not await _hub(request).channels.delete(request.path_params["channel"]):
        raise NotFound("no such tunnel channel")
    return Response(status_code=204)


async def stream(request: Request) -> Response:
    channel = await _channel(request)
    after = resume_point(request.headers.get("last-event-id") or request.query_params.get("after"))
    return _hub(request).response(channel, after, "relay")


async def smee_stream(request: Request) -> Response:
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise NotAcceptable("this is a tunnel channel: connect with `Accept: text/event-stream` (smee-client does)")
    channel = await _channel(request)
    return _hub(request).response(channel, resume_point(request.headers.get("last-event-id")), "smee")


async def smee_post(request: Request) -> Response:
    """Any webhook, put into the channel's buffer as received (smee.io's ``POST /{channel}``)."""
    channel = await _channel(request)
    settings = request.state.settings
    body = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    now_s: float = request.state.clock()
    webhook_id = WEBHOOK_PREFIX + ids.ulid(int(now_s * 1000))
    info = RequestInfo(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers=list(request.headers.items()),
        content_type=request.headers.get("content-type", ""),
    )
    fields: dict[str, str | bytes] = {
        "id": webhook_id,
        "kind": KIND_WEBHOOK,
        "received_ms": str(int(now_s * 1000)),
        "request": info.to_json(),
        "body": body,
    }
    await _hub(request).channels.append(channel.name, [fields], int(now_s * 1000))
    return JSONResponse({"received": True, "id": webhook_id})
