"""A real subscriber for delivery tests: a Starlette app served by uvicorn on loopback that records every request.

Its answer is programmable: ``respond(received, count)`` returns a Starlette response (or awaits first), where
``count`` is how many requests this path has had, this one included.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import standardwebhooks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.servers import run_server


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


Responder = Callable[[Received, int], Awaitable[Response]]


async def ok(received: Received, count: int) -> Response:
    return Response("ok")


class Subscriber:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.respond: Responder = ok
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.url = ""
        self._held: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET"])])

    async def _handle(self, request: Request) -> Response:
        received = Received(request.url.path, dict(request.headers), await request.body(), time.monotonic())
        with self._lock:
            self.received.append(received)
            self._counts[received.path] += 1
            count = self._counts[received.path]
        return await self.respond(received, count)

    async def hold(self, timeout_s: float = 5.0) -> None:
        """Inside a responder: hang (as a stuck subscriber does) until :meth:`release_all` or ``timeout_s``."""
        event = asyncio.Event()
        with self._lock:
            self._held.append((asyncio.get_running_loop(), event))
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass

    def release_all(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for loop, event in held:
            loop.call_soon_threadsafe(event.set)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def verified(self, secret: str, path: str | None = None) -> list[dict[str, object]]:
        """Every request (to ``path``) verified by the official standardwebhooks package, as parsed JSON."""
        webhook = standardwebhooks.Webhook(secret)
        found = self.received if path is None else self.at(path)
        return [webhook.verify(r.body, r.headers) for r in found]


@contextmanager
def serve_subscriber() -> Iterator[Subscriber]:
    subscriber = Subscriber()
    with run_server(subscriber.app) as url:
        subscriber.url = url
        try:
            yield subscriber
        finally:
            subscriber.release_all()


async def wait_for(predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms until it is truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)
