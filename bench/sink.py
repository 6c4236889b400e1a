"""The fast loopback subscriber the delivery sections deliver to: a bare ASGI app (no framework) in its own process.

``POST /<anything>`` answers 204 and remembers, per delivery, the wall time it arrived and the ``task_id`` of the
event (so the bench can match it to the callback it sent); ``GET /stats`` returns what arrived. It checks that each
request carries a ``webhook-signature`` and counts those that do not, without verifying (that is the subscriber's
cost, not the relay's).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

arrivals: list[tuple[str, float]] = []
unsigned = 0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global unsigned
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "GET":
        payload = orjson.dumps({"count": len(arrivals), "unsigned": unsigned, "arrivals": arrivals})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})
        return
    if scope["method"] == "DELETE":
        arrivals.clear()
        unsigned = 0
    else:
        at = time.time()
        if not any(name == b"webhook-signature" for name, _ in scope["headers"]):
            unsigned += 1
        try:
            task_id = orjson.loads(body).get("task_id") or ""
        except orjson.JSONDecodeError:
            task_id = ""
        arrivals.append((task_id, at))
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
