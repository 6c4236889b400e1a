"""``POST /hooks/{provider}/{token}``: a provider's callback, acknowledged only once it is stored."""

from __future__ import annotations

import logging
import time

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from relay import metrics
from relay.bodies import read_body
from relay.edge import admit
from relay.errors import RelayError, StoreUnavailable, UnknownProvider
from relay.events import UNRECOGNIZED, build_event, parse_json
from relay.logs import kv
from relay.providers.base import TERMINAL_STATUSES, Provider
from relay.providers.safety import parse_safely
from relay.routes import direct
from relay.routes.provider_calls import handshake_answer, redact_headers, verify
from relay.tasks.catalog import service_of

logger = logging.getLogger(__name__)

# From this size on, a callback waits for the large-callback lane (see _receive).
LARGE_BODY_BYTES = 64 * 1024
# The most of the wall time large callbacks take while more of them wait: with a third, eight senders of 1 MiB
# bodies back to back left small callbacks' median acknowledgement within 2x of its idle value (python -m bench).
LARGE_BODY_SHARE = 1 / 3


class CallbackApp:
    """The route as a plain ASGI app: Starlette's ``request_response`` wrapper would add a second exception-handling
    layer per request, which the app's ``ExceptionMiddleware`` (same handlers) already provides."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await receive_callback(Request(scope, receive, send))
        await response(scope, receive, send)


def callback_params(path: str) -> dict[str, str] | None:
    """The path parameters of ``/hooks/{provider}/{token}`` as Starlette's router would match them, else None."""
    if not path.startswith("/hooks/"):
        return None
    provider, slash, token = path[7:].partition("/")
    if not slash or not provider or not token or "/" in token:
        return None
    return {"provider": provider, "token": token}


async def receive_callback(request: Request) -> Response:
    started = time.perf_counter()
    provider_name: str = request.path_params["provider"]
    try:
        response, outcome = await _receive(request, started)
    except (RedisError, StoreUnavailable):
        metrics.callback_received(provider_name, "unavailable")
        raise
    except RelayError:
        metrics.callback_received(provider_name, "rejected")
        raise
    metrics.callback_received(provider_name, outcome, time.perf_counter() - started)
    return response


async def _receive(request: Request, started: float) -> tuple[Response, str]:
    """The acknowledgement, and the callback's outcome for the metrics: stored, duplicate or unrecognized."""
    state = request.state
    path_params = request.path_params
    provider_name: str = path_params["provider"]
    provider = state.providers.get(provider_name)
    if provider is None:
        raise UnknownProvider(provider_name, list(state.providers))
    token = state.tokens.read(path_params["token"], provider_name)
    await admit(request, state, provider_name, path_params["token"])
    body = await read_body(request, state.settings.max_body_bytes_for(provider_name), state.settings.body_timeout_s)
    if len(body) < LARGE_BODY_BYTES:
        return await _store(request, provider_name, provider, token.tag, body, started)
    # Large bodies are parsed, normalized and stored one at a time, and for at most a share of the time (each costs
    # milliseconds of the event loop), so a burst of them cannot crowd out the small callbacks that are most of the
    # traffic; their senders wait instead (relay.lane).
    async with state.large_lane.turn():
        return await _store(request, provider_name, provider, token.tag, body, started)


async def _store(
    request: Request, provider_name: str, provider: Provider, tag: str | None, body: bytes, started: float
) -> tuple[Response, str]:
    """Normalize and store a callback whose body is read; the acknowledgement and the outcome."""
    state = request.state
    now_s: float = state.clock()
    is_json, payload = parse_json(body)
    headers = request.headers
    await verify(provider, state.http, headers, payload if is_json else None, now_s, body)
    if is_json and (answer := handshake_answer(provider, payload)) is not None:
        # A handshake (MiniMax's challenge), not an event: answered at once, nothing stored.
        logger.info("callback handshake", extra=kv(provider=provider_name))
        return Response(answer, media_type="application/json"), "handshake"
    update = parse_safely(provider, payload) if is_json else None
    event = build_event(
        provider=provider_name,
        tag=tag,
        update=update,
        body=body,
        is_json=is_json,
        request=direct.request_info(request.scope, redact_headers(headers.items()), headers.get("content-type", "")),
        now_s=now_s,
        partitions=state.settings.partitions,
        # A progress callback of a task nobody registered starts tracking it, when its body names the service.
        service=service_of(provider_name, payload) if update and update.status not in TERMINAL_STATUSES else None,
    )
    # The store's own socket timeout also bounds each command; this bounds the whole exchange, retries included.
    result = await state.store.accept(event, int(now_s * 1000), timeout_s=state.settings.store_timeout_s)
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "callback",
            extra=kv(
                provider=provider_name,
                task_id=event.task_id,
                type=event.type,
                event_id=result.event_id,
                duplicate=result.duplicate,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            ),
        )
    response = direct.Accepted(
        orjson.dumps({"received": True, "event_id": result.event_id, "duplicate": result.duplicate})
    )
    if result.duplicate:
        return response, "duplicate"
    return response, "unrecognized" if event.type == UNRECOGNIZED else "stored"
