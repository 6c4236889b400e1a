"""``/healthz``: the process is up. ``/readyz``: Redis answers, so callbacks can be acknowledged."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        async with asyncio.timeout(request.state.settings.store_timeout_s):
            await request.state.redis.ping()
    except (RedisError, OSError, TimeoutError):
        return JSONResponse(
            {"error": {"code": "store_unavailable", "message": "Redis does not answer"}}, status_code=503
        )
    return JSONResponse({"status": "ready"})
