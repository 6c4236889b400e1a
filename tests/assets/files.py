"""A provider's file server for tests: generated files, and the misbehaving kinds (slow, lying about sizes,
redirecting, failing), served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import run_server

CHUNK = 64 * 1024


def generated(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class FileServer:
    """What the server serves (``files``: name -> (bytes, content type)) and what it was asked for."""

    url: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    started: asyncio.Event | None = None

    def add(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def count(self, prefix: str) -> int:
        return sum(path.startswith(prefix) for path in self.requests)


def file_app(server: FileServer) -> Starlette:
    def found(request: Request) -> tuple[bytes, str] | None:
        server.requests.append(request.url.path)
        return server.files.get(request.path_params["name"])

    async def files(request: Request) -> Response:
        hit = found(request)
        if hit is None:
            return Response("no such file", status_code=404)
        data, content_type = hit

        async def body() -> AsyncIterator[bytes]:
            for at in range(0, len(data), CHUNK):
                yield data[at : at + CHUNK]

        headers = {"Content-Length": str(len(data))}
        return StreamingResponse(body(), media_type=content_type, headers=headers)

    async def slow(request: Request) -> Response:
        """``chunk`` bytes (default 1 KB) every ``pause`` seconds (default 0.1), with an honest length."""
        hit = found(request)
        assert hit is not None
        data, content_type = hit
        pause = float(request.query_params.get("pause", "0.1"))
        size = int(request.query_params.get("chunk", "1024"))

        async def body() -> AsyncIterator[bytes]:
            for at in range(0, len(data), size):
                yield data[at : at + size]
                await asyncio.sleep(pause)

        return StreamingResponse(body(), media_type=content_type, headers={"Content-Length": str(len(data))})

    async def endless(request: Request) -> Response:
        """Announces no length and never stops."""
        server.requests.append(request.url.path)

        async def body() -> AsyncIterator[bytes]:
            chunk = generated(CHUNK)
            while True:
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(body(), media_type="video/mp4")

    async def claims(request: Request) -> Response:
        """Announces ``n`` bytes in Content-Length."""
        server.requests.append(request.url.path)
        size = int(request.path_params["n"])
        return Response(b"x" * 10, headers={"Content-Length": str(size)}) if size < 10 else _announce(size)

    async def short(request: Request) -> Response:
        """Announces 100 KB, sends 10 KB and closes (cut off)."""
        server.requests.append(request.url.path)

        async def body() -> AsyncIterator[bytes]:
            yield b"y" * 10_240
            raise RuntimeError("connection cut")

        return StreamingResponse(body(), headers={"Content-Length": str(100 * 1024)})

    async def gzipped(request: Request) -> Response:
        """Compresses whatever the client asked for (some CDNs do)."""
        hit = found(request)
        assert hit is not None
        data, content_type = hit
        return Response(gzip.compress(data), media_type=content_type, headers={"Content-Encoding": "gzip"})

    async def redirect(request: Request) -> Response:
        server.requests.append(request.url.path)
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def status(request: Request) -> Response:
        server.requests.append(request.url.path)
        return Response("status", status_code=int(request.path_params["code"]))

    return Starlette(
        routes=[
            Route("/files/{name}", files),
            Route("/slow/{name}", slow),
            Route("/endless", endless),
            Route("/claims/{n:int}", claims),
            Route("/short", short),
            Route("/redirect", redirect),
            Route("/gzip/{name}", gzipped),
            Route("/status/{code:int}", status),
        ]
    )


def _announce(size: int) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"z" * 1024

    return StreamingResponse(body(), headers={"Content-Length": str(size)})


@contextmanager
def serve_files() -> Iterator[FileServer]:
    server = FileServer()
    with run_server(file_app(server)) as url:
        server.url = url
        yield server
