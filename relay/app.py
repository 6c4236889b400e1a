"""The ASGI application: ``create_app(settings)`` wires routes, error handlers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from relay import heap
from relay.access import logging_send
from relay.adminthrottle import AdminGuessThrottle
from relay.assets.copier import BACKFILL_S
from relay.assets.service import Assets, copying
from relay.config import Settings
from relay.delivery.targets import Resolver, TargetGuard, system_resolver
from relay.delivery.worker import delivery_worker
from relay.errors import RelayError
from relay.lane import PacedLane
from relay.logs import kv
from relay.providers import build_providers
from relay.providers.base import Provider
from relay.routes import ROUTES, direct, inbound, tunnels
from relay.store.connect import disconnect as disconnect_streams
from relay.store.connect import open_redis, open_stream_redis, wait_for_redis
from relay.store.deliveries import DeliveryStore
from relay.store.persistence import warn_if_volatile
from relay.store.ratelimit import Bucket, RateLimiter
from relay.store.store import RedisClient, Store
from relay.store.subscriptions import SubscriptionStore
from relay.store.tasks import TaskStore
from relay.tasks.policy import Schedule
from relay.tasks.service import TaskService
from relay.tokens import CallbackTokens
from relay.tunnel.router import TunnelRouter
from relay.tunnel.streams import TunnelHub

logger = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    redis: RedisClient
    store: Store
    providers: dict[str, Provider]
    tokens: CallbackTokens
    clock: Callable[[], float]
    limiter: RateLimiter
    guard: TargetGuard
    subscriptions: SubscriptionStore
    deliveries: DeliveryStore
    tunnels: TunnelHub
    tasks: TaskService
    http: httpx.AsyncClient
    """Outbound calls the app makes itself: provider signing keys (fal's JWKS)."""
    assets: Assets | None
    large_lane: PacedLane
    """Large callbacks are normalized and stored one at a time, and for at most a share of the time
    (relay.routes.inbound)."""


def _reveal(secret: Secret | None) -> str | None:
    return str(secret) if secret is not None else None


def error_response(status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code, headers=headers)


async def relay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RelayError)
    return error_response(exc.status_code, exc.code, exc.message, headers=exc.headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def redis_error(request: Request, exc: Exception) -> Response:
    logger.warning("store unavailable", extra=kv(path=request.url.path, error=type(exc).__name__))
    return error_response(503, "store_unavailable", "the event store is unavailable; retry later")


async def internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", extra=kv(path=request.url.path))
    return error_response(500, "internal_error", "internal error")


class RelayApp(Starlette):
    """The relay's Starlette app, with the webhook senders' routes (``POST /hooks/...`` and ``POST /t/...``) served
    ahead of its middleware and router (see :mod:`relay.routes.direct`), and an access line for every other request
    (:mod:`relay.access`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            endpoint: direct.Endpoint | None = None
            if (params := inbound.callback_params(path)) is not None:
                endpoint = inbound.receive_callback
            elif (channel := direct.one_segment(path, "/t/")) is not None:
                endpoint, params = tunnels.smee_post, {"channel": channel}
            if endpoint is not None:
                scope["app"] = self
                scope["path_params"] = params
                await direct.serve(endpoint, scope, receive, send, self.exception_handlers)
                return
        await super().__call__(scope, receive, logging_send(scope, send))


def create_app(
    settings: Settings | None = None, clock: Callable[[], float] = time.time, resolver: Resolver = system_resolver
) -> Starlette:
    """Build the relay's ASGI app. Without ``settings`` they are read from the process environment.

    With ``RELAY_WORKER`` on (the default) the lifespan also runs a delivery worker; ``resolver`` is the name
    lookup of subscriber URLs (tests inject one).
    """
    if settings is None:
        settings = Settings.from_environ(os.environ)
    resolved = settings

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        client = open_redis(resolved)
        guard = TargetGuard(resolver, allow_private=resolved.allow_private_targets)
        stop_worker: Callable[[], Awaitable[None]] = _no_worker
        stream_redis = open_stream_redis(resolved)
        router_task: asyncio.Task[None] | None = None
        http = httpx.AsyncClient(timeout=httpx.Timeout(connect=3, read=3, write=3, pool=3), follow_redirects=False)
        limiter: RateLimiter | None = None
        store: Store | None = None
        try:
            await wait_for_redis(client, resolved.redis_startup_wait_s)
            await warn_if_volatile(client, resolved.allow_volatile_redis)
            if resolved.tunnel_router:
                router = TunnelRouter(stream_redis, resolved, clock)
                # The group exists before the first callback is accepted, so no event slips past the router.
                await router.prepare()
                router_task = asyncio.create_task(router.run(), name="tunnel-router")
            assets = Assets(client, resolved, clock) if copying(resolved) else None
            if assets is not None:
                # The copier's group exists before the first callback is accepted, so no event slips past it.
                await assets.store.ensure_groups(max(int((clock() - BACKFILL_S) * 1000), 0))
            if resolved.worker:
                stop_worker = await start_worker(resolved, client, guard, clock)
            kie_key = resolved.kie_webhook_hmac_key
            limiter = RateLimiter(
                client,
                token=Bucket(resolved.rate_token_per_s, resolved.rate_token_burst),
                address=Bucket(resolved.rate_address_per_s, resolved.rate_address_burst),
                channel=Bucket(resolved.tunnel_post_per_s, resolved.tunnel_post_burst),
            )
            schedule = Schedule.from_settings(resolved)
            store = Store(
                client,
                partitions=resolved.partitions,
                dedup_ttl_s=resolved.dedup_ttl_s,
                event_ttl_s=resolved.event_ttl_s,
                track_deadlines=schedule.track if resolved.tasks_auto_track else None,
                assets=assets.render_meta if assets else None,
            )
            deliveries = DeliveryStore(client, partitions=resolved.partitions, event_ttl_s=resolved.event_ttl_s)
            state = State(
                settings=resolved,
                redis=client,
                store=store,
                providers=build_providers(
                    str(kie_key).encode() if kie_key else None,
                    [str(resolved.replicate_webhook_secret)] if resolved.replicate_webhook_secret else [],
                    resolved.signature_tolerance_s,
                    fal_jwks_url=resolved.fal_jwks_url,
                    piapi_webhook_secret=_reveal(resolved.piapi_webhook_secret),
                    apiframe_api_key=_reveal(resolved.apiframe_api_key),
                    leonardo_webhook_api_key=_reveal(resolved.leonardo_webhook_api_key),
                ),
                tokens=CallbackTokens([str(key) for key in resolved.secret_keys]),
                clock=clock,
                limiter=limiter,
                guard=guard,
                subscriptions=SubscriptionStore(client),
                deliveries=deliveries,
                tunnels=TunnelHub(stream_redis, resolved, clock),
                tasks=TaskService(
                    store,
                    TaskStore(client, partitions=resolved.partitions, event_ttl_s=resolved.event_ttl_s),
                    deliveries,
                    schedule,
                    clock,
                ),
                http=http,
                assets=assets,
                large_lane=PacedLane(inbound.LARGE_BODY_SHARE),
            )
            heap.settle()
            yield state
        finally:
            if limiter is not None:
                await limiter.aclose()  # the last local takes reach the shared buckets
            if store is not None:
                store.close()
            await stop_worker()
            if router_task is not None:
                router_task.cancel()
                await disconnect_streams(stream_redis)
                with contextlib.suppress(asyncio.CancelledError):
                    await router_task
            await stream_redis.aclose(close_connection_pool=True)
            await client.aclose(close_connection_pool=True)
            await http.aclose()

    return RelayApp(
        routes=ROUTES,
        middleware=[Middleware(AdminGuessThrottle)],
        exception_handlers={
            RelayError: relay_error,
            HTTPException: http_error,
            # Redis down, refusing or slow (its socket timeouts are RedisErrors too); the store's own deadline
            # raises StoreUnavailable, a RelayError. Any other exception is a bug: 500.
            RedisError: redis_error,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )


async def _no_worker() -> None:
    return None


async def start_worker(
    settings: Settings, client: RedisClient, guard: TargetGuard, clock: Callable[[], float]
) -> Callable[[], Awaitable[None]]:
    """Run a delivery worker beside the app; returns the coroutine function that drains and stops it."""
    resources = contextlib.AsyncExitStack()
    worker = await resources.enter_async_context(delivery_worker(client, settings, guard, clock))
    task = asyncio.create_task(worker.run(), name="relay-worker")

    async def stop() -> None:
        worker.stop()
        try:
            async with asyncio.timeout(settings.shutdown_grace_s + 5):
                await task
        except TimeoutError:
            logger.error("worker did not stop within the grace period")
        finally:
            await resources.aclose()

    return stop
