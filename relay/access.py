"""Access lines, written by the app (``relay.access``) rather than by uvicorn.

uvicorn writes an access line per response from inside its protocol, and a logger filter can drop a line only once
its record is made. A stored callback has a line of its own (``callback``: event id, duplicate, elapsed), and a
webhook to ``/t/{channel}`` is printed by the tunnel client that forwards it, so their access lines said nothing
more; yet making (and for ``/t/``, redacting and writing) each record cost about a third of a ``/t/`` webhook's
CPU and a twentieth of a callback's. ``relay serve`` therefore turns uvicorn's access log off and the app writes
the same line (``client - "METHOD /path?query HTTP/1.1" status``) for every request but those two answered 200.
"""

from __future__ import annotations

import logging
import urllib.parse

from starlette.types import Message, Scope, Send

logger = logging.getLogger(__name__)

_LINE = '%s - "%s %s HTTP/%s" %d'


def log_access(scope: Scope, status: int) -> None:
    """Write the access line of an HTTP request answered with ``status`` (as uvicorn wrote it)."""
    if logger.isEnabledFor(logging.INFO):
        client = scope.get("client")
        path = urllib.parse.quote(scope["path"])
        if query := scope["query_string"]:
            path = f"{path}?{query.decode('ascii', errors='replace')}"
        address = f"{client[0]}:{client[1]}" if client else ""
        logger.info(_LINE, address, scope["method"], path, scope["http_version"], status)


def logging_send(scope: Scope, send: Send) -> Send:
    """``send``, writing the request's access line when its response starts."""

    async def send_and_log(message: Message) -> None:
        if message["type"] == "http.response.start":
            log_access(scope, message["status"])
        await send(message)

    return send_and_log
