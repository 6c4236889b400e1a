"""``POST /hooks/{provider}/{token}``: a provider's callback, acknowledged only once it is stored."""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay import metrics
from relay.bodies import read_body
from relay.edge import admit
from relay.errors import RelayError, UnknownProvider
from relay.events import UNRECOGNIZED, RequestInfo, build_event, parse_json

logger = logging.getLogger(__name__)


async def receive_callback(request: Request) -> Response:
    started = time.perf_counter()
    provider_name: str = request.path_params["provider"]
    try:
        response, outcome = await _receive(request, started)
    except RelayError:
        metrics.callback_received(provider_name, "rejected")
        raise
    except (RedisError, TimeoutError):
        metrics.callback_received(provider_name, "unavailable")
        raise
    metrics.callback_received(provider_name, outcome, time.perf_counter() - started)
    return response


async def _receive(request: Request, started: float) -> tuple[Response, str]:
    """The acknowledgement, and the callback's outcome for the metrics: stored, duplicate or unrecognized."""
    state = request.state
    provider_name: str = request.path_params["provider"]
    provider = state.providers.get(provider_name)
    if provider is None:
        raise UnknownProvider(provider_name, list(state.providers))
    token = state.tokens.read(request.path_params["token"], provider_name)
    await admit(request, provider_name, request.path_params["token"])
    body = await read_body(request, state.settings.max_body_bytes_for(provider_name), state.settings.body_timeout_s)
    now_s: float = state.clock()
    is_json, payload = parse_json(body)
    provider.verify(request.headers, payload if is_json else None, now_s, body=body)
    update = provider.parse(payload) if is_json else None
    event = build_event(
        provider=provider_name,
        tag=token.tag,
        update=update,
        body=body,
        is_json=is_json,
        request=RequestInfo(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=[(name, value) for name, value in request.headers.items()],
            content_type=request.headers.get("content-type", ""),
        ),
        now_s=now_s,
        partitions=state.settings.partitions,
    )
    # The store's own socket timeout also bounds each command; this bounds the whole exchange, retries included.
    async with asyncio.timeout(state.settings.store_timeout_s):
        result = await state.store.accept(event, int(now_s * 1000))
    logger.info(
        "callback provider=%s task_id=%s type=%s event_id=%s duplicate=%s elapsed_ms=%.1f",
        provider_name,
        event.task_id or "-",
        event.type,
        result.event_id,
        result.duplicate,
        (time.perf_counter() - started) * 1000,
    )
    response = JSONResponse({"received": True, "event_id": result.event_id, "duplicate": result.duplicate})
    if result.duplicate:
        return response, "duplicate"
    return response, "unrecognized" if event.type == UNRECOGNIZED else "stored"
