"""The ceiling the relay's ingest is measured against: a bare Starlette endpoint that parses JSON and answers 200.

It mirrors the relay's route and response class (same path shape, ``JSONResponse``) and parses with orjson as the
relay does, so the difference between the two is the relay's own work: token check, normalization, the durable
write to Redis.
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def receive(request: Request) -> JSONResponse:
    orjson.loads(await request.body())
    return JSONResponse({"received": True})


app = Starlette(routes=[Route("/hooks/{provider}/{token}", receive, methods=["POST"])])
