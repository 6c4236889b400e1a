"""Tunnel channels: the admin API, the SSE stream for ``relay tunnel``, and smee.io's ``/t/{channel}``.

Credentials: the admin token creates, lists and deletes channels. A channel's read secret (or the admin token)
reads it: streams, its position, resending. ``POST /t/{channel}`` needs nothing but the name (webhook senders).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import ids
from relay.auth import require_admin
from relay.bodies import read_body
from relay.errors import BadRequest, NotAcceptable, NotFound, Unauthorized, UnknownField
from relay.events import EVENT_TYPES
from relay.routes import direct
from relay.store.channels import KIND_WEBHOOK, Channel, ChannelFilter
from relay.store.tunnels import Resume, TunnelStore
from relay.tunnel.streams import ENTRY_ID, TunnelHub, resume_point

WEBHOOK_PREFIX = "whk_"
MAX_FAILED_PER_ACK = 1000


def _hub(request: Request) -> TunnelHub:
    hub: TunnelHub = request.state.tunnels
    return hub


def _store(request: Request) -> TunnelStore:
    return _hub(request).channels


def _now_ms(request: Request) -> int:
    return int(request.state.clock() * 1000)


async def _channel(request: Request) -> Channel:
    name: str = request.path_params["channel"]
    channel = await _store(request).get(name)
    if channel is None:
        raise NotFound("no such tunnel channel")  # the name is a credential: never echo it
    return channel


async def _readable(request: Request) -> Channel:
    """The channel, if the request holds its read secret or the admin token (bearer, or ``?key=`` for smee)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    presented = given.strip() if scheme.lower() == "bearer" else request.query_params.get("key", "")
    admin = str(request.state.settings.admin_token)
    is_admin = hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), hashlib.sha256(admin.encode()).digest())
    # Without valid credentials an unknown channel is a 401 like a known one: no probing which names exist.
    channel = await _channel(request) if is_admin else await _store(request).get(request.path_params["channel"])
    if channel is None or not presented or not (is_admin or channel.can_read(presented)):
        raise Unauthorized(
            "reading a tunnel channel needs its read secret or the admin token: `Authorization: Bearer <secret>` "
            "(or ?key=<secret> on /t/<channel>); the channel's URL alone only accepts webhooks"
        )
    return channel


def _urls(public_url: str, channel: Channel, read_secret: str | None = None) -> dict[str, str]:
    urls = {
        "webhook_url": f"{public_url}/t/{channel.name}",
        "stream_url": f"{public_url}/v1/tunnels/{channel.name}/stream",
    }
    if read_secret:
        urls["smee_url"] = f"{public_url}/t/{channel.name}?key={read_secret}"
    return urls


async def create_tunnel(request: Request) -> Response:
    require_admin(request)
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest('body must be a JSON object like {"filter": {"providers": ["kie"]}, "mode": "raw"}') from exc
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object like {"filter": {"providers": ["kie"]}, "mode": "raw"}')
    UnknownField.refuse(body, ["filter", "mode"], "POST /v1/tunnels")
    flt = ChannelFilter.parse(body.get("filter"))
    for name, values, known in (
        ("providers", flt.providers, request.state.providers),
        ("types", flt.types, EVENT_TYPES),
    ):
        if set(values) - set(known):
            unknown = sorted(set(values) - set(known))
            raise BadRequest(f"unknown filter.{name} {unknown}; expected any of {sorted(known)}")
    channel = Channel.new(flt, body.get("mode", "event"), _now_ms(request))
    await _store(request).create(channel, _now_ms(request))
    # The secrets are shown once, here: the client keeps them (signing secret to verify, read secret to stream).
    payload = {
        **channel.public(),
        **_urls(request.state.settings.public_url, channel, channel.read_secret),
        "secret": channel.secret,
        "read_secret": channel.read_secret,
    }
    return JSONResponse(payload, status_code=201)


async def list_tunnels(request: Request) -> Response:
    require_admin(request)
    public_url = request.state.settings.public_url
    channels = await _store(request).all(_now_ms(request))
    return JSONResponse({"data": [{**c.public(), **_urls(public_url, c)} for c in channels]})


async def get_tunnel(request: Request) -> Response:
    """One channel with its position and the number of entries a client gave up on (reader)."""
    channel = await _readable(request)
    store = _store(request)
    state = await store.state(channel.name)
    body: dict[str, Any] = {
        **channel.public(),
        **_urls(request.state.settings.public_url, channel),
        "position": state.get("position"),
        "failed": await store.failed_count(channel.name),
    }
    return JSONResponse(body)


async def delete_tunnel(request: Request) -> Response:
    require_admin(request)
    if not await _store(request).delete(request.path_params["channel"]):
        raise NotFound("no such tunnel channel")
    return Response(status_code=204)


async def _resume(request: Request, channel: Channel) -> Resume | None:
    """Where a ``relay tunnel`` stream starts: ``Last-Event-ID`` (a reconnect), else ``?start=``."""
    after = resume_point(request.headers.get("last-event-id") or request.query_params.get("after"))
    if after is not None:
        return Resume(after, None)
    start = request.query_params.get("start", "now")
    store = _store(request)
    if start == "position":
        return await store.resume_at_position(channel.name)
    if start.startswith("since:") and start[6:].isdigit():
        return await store.resume_at_time(channel.name, int(start[6:]))
    if start != "now":
        raise BadRequest(f"start must be 'now', 'position' or 'since:<unix ms>', got {start!r}")
    return None


async def stream(request: Request) -> Response:
    channel = await _readable(request)
    return _hub(request).response(channel, await _resume(request, channel), "relay")


async def position(request: Request) -> Response:
    """``{"position": entry id, "n": its n, "failed": [[entry id, n], ...]}`` from a client: handled entries."""
    channel = await _readable(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest('body must be JSON like {"position": "1700000000000-0", "n": 12, "failed": []}') from exc
    if not isinstance(body, dict):
        raise BadRequest('body must be JSON like {"position": "1700000000000-0", "n": 12, "failed": []}')
    entry_id, n, failed = body.get("position"), body.get("n", 0), body.get("failed", [])
    if entry_id is not None and (not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id)):
        raise BadRequest(f"position must be an entry id the stream sent, got {entry_id!r}")
    if not isinstance(n, int) or n < 0:
        raise BadRequest(f"n must be a non-negative integer, got {n!r}")
    if (
        not isinstance(failed, list)
        or len(failed) > MAX_FAILED_PER_ACK
        or not all(
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and ENTRY_ID.fullmatch(item[0])
            and isinstance(item[1], int)
            for item in failed
        )
    ):
        raise BadRequest(f"failed must be a list of at most {MAX_FAILED_PER_ACK} [entry id, n] pairs")
    stored = await _store(request).ack(
        channel.name, entry_id, n, [(item[0], item[1]) for item in failed], _now_ms(request)
    )
    return JSONResponse({"position": stored or None})


async def resend(request: Request) -> Response:
    """Put the entries a client gave up on back into the channel, as new entries."""
    channel = await _readable(request)
    resent, gone = await _store(request).resend_failed(channel.name, _now_ms(request))
    return JSONResponse({"resent": resent, "gone": gone})


async def smee_stream(request: Request) -> Response:
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise NotAcceptable("this is a tunnel channel: connect with `Accept: text/event-stream` (smee-client does)")
    channel = await _readable(request)
    # ?after= lets a client that cannot send Last-Event-ID on its first connection (EventSource) replay the buffer.
    after = resume_point(request.headers.get("last-event-id") or request.query_params.get("after"))
    return _hub(request).response(channel, Resume(after, None) if after else None, "smee")


async def smee_post(request: Request) -> Response:
    """Any webhook, put into the channel's buffer as received (smee.io's ``POST /{channel}``)."""
    name: str = request.path_params["channel"]
    store = _store(request)
    now_ms = _now_ms(request)
    if not await store.exists(name, now_ms):
        raise NotFound("no such tunnel channel")  # the name is a credential: never echo it
    await request.state.limiter.check_channel(name, now_ms)
    settings = request.state.settings
    body = await read_body(request, settings.tunnel_max_body_bytes, settings.body_timeout_s)
    webhook_id = WEBHOOK_PREFIX + ids.ulid(now_ms)
    headers = request.headers
    info = direct.request_info(request.scope, headers.items(), headers.get("content-type", ""))
    fields: dict[str, str | bytes] = {
        "id": webhook_id,
        "kind": KIND_WEBHOOK,
        "received_ms": str(now_ms),
        "request": info.to_json(),
        "body": body,
    }
    await store.append(name, [fields], now_ms)
    return direct.Accepted(orjson.dumps({"received": True, "id": webhook_id}))
