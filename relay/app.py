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
import redis.asyncio
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from relay.config import Settings
from relay.delivery.targets import Resolver, TargetGuard, system_resolver
from relay.delivery.transport import delivery_client
from relay.delivery.worker import Worker
from relay.errors import RelayError
from relay.persistence import warn_if_volatile
from relay.providers import build_providers
from relay.providers.base import Provider
from relay.ratelimit import Bucket, RateLimiter
from relay.routes import ROUTES, inbound
from relay.store.cluster import cluster_url, open_cluster
from relay.store.deliveries import DeliveryStore
from relay.store.store import Store
from relay.store.subscriptions import SubscriptionStore
from relay.tokens import CallbackTokens
from relay.tunnel.router import TunnelRouter
from relay.tunnel.streams import TunnelHub, open_stream_redis
from relay.tunnel.streams import disconnect as disconnect_streams

logger = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    redis: redis.asyncio.Redis
    http: httpx.AsyncClient
    store: Store
    providers: dict[str, Provider]
    tokens: CallbackTokens
    clock: Callable[[], float]
    limiter: RateLimiter
    guard: TargetGuard
    subscriptions: SubscriptionStore
    deliveries: DeliveryStore
    tunnels: TunnelHub


def open_redis(settings: Settings) -> redis.asyncio.Redis:
    cluster = cluster_url(settings.redis_url)
    if cluster is not None:
        return open_cluster(
            cluster,
            max_connections=settings.redis_max_connections,
            connect_timeout_s=settings.redis_connect_timeout_s,
            timeout_s=settings.store_timeout_s,
        )
    # socket_timeout bounds every command, so a hung Redis cannot hold a callback past the provider's window;
    # a blocking pool makes a burst wait for a connection instead of failing with "too many connections".
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.store_timeout_s,
        socket_connect_timeout=settings.redis_connect_timeout_s,
        socket_timeout=settings.store_timeout_s,
        health_check_interval=30,
    )
    return redis.asyncio.Redis(connection_pool=pool)


async def wait_for_redis(client: redis.asyncio.Redis, wait_s: float) -> None:
    """PING until Redis answers, logging each failed try; give up after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            await client.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Redis did not answer within {wait_s} s: {exc}") from exc
            logger.warning("redis not ready attempt=%d error=%r", attempt, str(exc))
            await asyncio.sleep(min(0.2 * attempt, 1.0))


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
    logger.warning("store unavailable path=%s error=%r", request.url.path, type(exc).__name__)
    return error_response(503, "store_unavailable", "the event store is unavailable; retry later")


async def internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error path=%s", request.url.path)
    return error_response(500, "internal_error", "internal error")


class RelayApp(Starlette):
    """The relay's Starlette app, with callbacks served ahead of its middleware and router: ``POST /hooks/...`` is
    most of the traffic and does little work, so the layers every other route needs were a large share of its
    cost. The callback route stays in the router (for the OpenAPI document and a mounted app's paths)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            params = inbound.callback_params(scope["path"])
            if params is not None:
                scope["app"] = self
                scope["path_params"] = params
                await inbound.serve_callback(scope, receive, send, self.exception_handlers)
                return
        await super().__call__(scope, receive, send)


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
        http = httpx.AsyncClient(timeout=httpx.Timeout(connect=5, read=15, write=15, pool=5), follow_redirects=False)
        guard = TargetGuard(resolver, allow_private=resolved.allow_private_targets)
        stop_worker: Callable[[], Awaitable[None]] = _no_worker
        stream_redis = open_stream_redis(resolved)
        router_task: asyncio.Task[None] | None = None
        limiter: RateLimiter | None = None
        try:
            await wait_for_redis(client, resolved.redis_startup_wait_s)
            await warn_if_volatile(client, resolved.allow_volatile_redis)
            if resolved.tunnel_router:
                router = TunnelRouter(stream_redis, resolved, clock)
                # The group exists before the first callback is accepted, so no event slips past the router.
                await router.prepare()
                router_task = asyncio.create_task(router.run(), name="tunnel-router")
            if resolved.worker:
                stop_worker = await start_worker(resolved, client, guard, clock)
            kie_key = resolved.kie_webhook_hmac_key
            limiter = RateLimiter(
                client,
                token=Bucket(resolved.rate_token_per_s, resolved.rate_token_burst),
                address=Bucket(resolved.rate_address_per_s, resolved.rate_address_burst),
            )
            yield State(
                settings=resolved,
                redis=client,
                http=http,
                store=Store(
                    client,
                    partitions=resolved.partitions,
                    dedup_ttl_s=resolved.dedup_ttl_s,
                    event_ttl_s=resolved.event_ttl_s,
                ),
                providers=build_providers(
                    str(kie_key).encode() if kie_key else None,
                    [str(resolved.replicate_webhook_secret)] if resolved.replicate_webhook_secret else [],
                    resolved.signature_tolerance_s,
                ),
                tokens=CallbackTokens([str(key) for key in resolved.secret_keys]),
                clock=clock,
                limiter=limiter,
                guard=guard,
                subscriptions=SubscriptionStore(client),
                deliveries=DeliveryStore(client, partitions=resolved.partitions, event_ttl_s=resolved.event_ttl_s),
                tunnels=TunnelHub(stream_redis, resolved, clock),
            )
        finally:
            if limiter is not None:
                await limiter.aclose()  # the last local takes reach the shared buckets
            await stop_worker()
            if router_task is not None:
                router_task.cancel()
                await disconnect_streams(stream_redis)
                with contextlib.suppress(asyncio.CancelledError):
                    await router_task
            await stream_redis.aclose(close_connection_pool=True)
            await http.aclose()
            await client.aclose(close_connection_pool=True)

    return RelayApp(
        routes=ROUTES,
        exception_handlers={
            RelayError: relay_error,
            HTTPException: http_error,
            RedisError: redis_error,
            TimeoutError: redis_error,
            Exception: internal_error,
        },
        lifespan=lifespan,
    )


async def _no_worker() -> None:
    return None


async def start_worker(
    settings: Settings, client: redis.asyncio.Redis, guard: TargetGuard, clock: Callable[[], float]
) -> Callable[[], Awaitable[None]]:
    """Run a delivery worker beside the app; returns the coroutine function that drains and stops it."""
    # The worker's own client: guarded connections (SSRF), no redirects; the app's client stays for other uses.
    http = delivery_client(guard, settings.delivery_timeout_s, settings.delivery_concurrency)
    worker = Worker(client, http, settings, clock)
    task = asyncio.create_task(worker.run(), name="relay-worker")

    async def stop() -> None:
        worker.stop()
        try:
            async with asyncio.timeout(settings.shutdown_grace_s + 5):
                await task
        except TimeoutError:
            logger.error("worker did not stop within the grace period")
        finally:
            await http.aclose()

    return stop
