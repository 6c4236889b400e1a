"""A provider's file server for the assets benchmark: ``GET /gen/{seed}/{size}`` streams ``size`` bytes generated
on the fly (1 MB blocks derived from the seed), so a 500 MB file never sits in this process's memory either."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

BLOCK = 1 << 20


def block(seed: int, index: int) -> bytes:
    return hashlib.sha256(f"{seed}:{index}".encode()).digest() * (BLOCK // 32)


async def generate(request: Request) -> StreamingResponse:
    seed, size = int(request.path_params["seed"]), int(request.path_params["size"])

    async def body() -> AsyncIterator[bytes]:
        sent, index = 0, 0
        while sent < size:
            chunk = block(seed, index)[: size - sent]
            sent += len(chunk)
            index += 1
            yield chunk

    return StreamingResponse(body(), media_type="video/mp4", headers={"Content-Length": str(size)})


app = Starlette(routes=[Route("/gen/{seed:int}/{size:int}", generate)])
