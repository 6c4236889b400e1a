"""Serving a route ahead of Starlette's middleware and router (:class:`relay.app.RelayApp`).

The two routes webhook senders call, ``POST /hooks/{provider}/{token}`` and ``POST /t/{channel}``, are most of the
traffic and do little work, so the layers every other route needs (middleware, routing, Starlette's per-route
exception wrapper) were a large share of their cost. Neither is an admin path (the admin-guess throttle skips them),
and both stay in the router too, for the OpenAPI document and a mounted app's paths.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from relay.access import log_access
from relay.events import RequestInfo

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def one_segment(path: str, prefix: str) -> str | None:
    """The single path segment after ``prefix`` (``/t/{channel}``), as Starlette's router would match it, else None."""
    if not path.startswith(prefix):
        return None
    segment = path[len(prefix) :]
    return segment if segment and "/" not in segment else None


async def serve(
    endpoint: Endpoint, scope: Scope, receive: Receive, send: Send, handlers: Mapping[Any, ExceptionHandler]
) -> None:
    """Run ``endpoint`` with the app's exception handlers, as the router and ``ExceptionMiddleware`` would. Only a
    request not answered 200 gets an access line (:mod:`relay.access`)."""
    request = Request(scope, receive, send)
    try:
        response = await endpoint(request)
    except Exception as exc:
        handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
        if handler is None:
            raise
        response = await handler(request, exc)
    if response.status_code != 200:
        log_access(scope, response.status_code)
    await response(scope, receive, send)


class Accepted(Response):
    """A webhook sender's 200: JSON whose headers are known, sent without building a header list per request."""

    def __init__(self, body: bytes) -> None:
        # Not Response.__init__: nothing it computes is needed here.
        self.body = body
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-length", str(len(body)).encode()), _JSON]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


_JSON = (b"content-type", b"application/json")


def request_info(scope: Scope, headers: list[tuple[str, str]], content_type: str) -> RequestInfo:
    """What is stored of a request: ``headers`` as given, its path and query as ``request.url`` would give them
    (without building and parsing a whole URL)."""
    return RequestInfo(
        method=scope["method"],
        path=scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C"),
        query=scope["query_string"].decode(errors="replace"),
        headers=headers,
        content_type=content_type,
    )
