"""``/healthz``: the process is up, and whether Redis answers. ``/readyz``: Redis answers and keeps what is
written to it, so callbacks can be acknowledged (see :mod:`relay.store.persistence`).

``/healthz`` is a liveness check: it stays 200 while the process serves (restarting it would not bring Redis back),
but says ``"status": "degraded"`` and ``"redis": "down"`` when callbacks are being answered 503; ``/readyz`` is
then 503, which takes the process out of a load balancer.
"""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError, ResponseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.store.persistence import Persistence, check_persistence

HEALTH_PING_S = 0.5


async def healthz(request: Request) -> Response:
    try:
        async with asyncio.timeout(min(HEALTH_PING_S, request.state.settings.store_timeout_s)):
            await request.state.redis.ping()
    except (RedisError, OSError, TimeoutError):
        return JSONResponse({"status": "degraded", "redis": "down"})
    return JSONResponse({"status": "ok", "redis": "up"})


async def readyz(request: Request) -> Response:
    settings = request.state.settings
    try:
        async with asyncio.timeout(settings.store_timeout_s):
            await request.state.store.ping()
            persistence = None if settings.allow_volatile_redis else await _persistence(request)
    except (RedisError, OSError, TimeoutError):
        return JSONResponse(
            {"error": {"code": "store_unavailable", "message": "Redis does not answer"}}, status_code=503
        )
    if persistence is not None and persistence.durable is False:
        message = (
            f"Redis persistence is off ({persistence.describe()}): acknowledged callbacks would be lost on a "
            "restart; turn on AOF or set RELAY_ALLOW_VOLATILE_REDIS=true"
        )
        return JSONResponse({"error": {"code": "volatile_store", "message": message}}, status_code=503)
    return JSONResponse({"status": "ready"})


async def _persistence(request: Request) -> Persistence | None:
    try:
        return await check_persistence(request.state.redis)
    except ResponseError:
        # INFO refused (ACLs): persistence cannot be judged, and an unanswerable question must not fail readiness.
        return None
