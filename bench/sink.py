"""The fast loopback receiver the delivery and tunnel sections deliver to: a bare ASGI app (no framework) in its own
process, so that what the bench measures is the relay's cost and not its receiver's.

``POST /<anything>`` answers 204 and remembers, per request, the event's key (its ``task_id``, else its ``id``: what the
bench sent, so it can match the two) and when it arrived, on the wall clock and on the system-wide monotonic clock
(``time.perf_counter``, what the tunnel's senders stamp). It checks that each request carries a ``webhook-signature``
and counts those that do not, without verifying (that is the subscriber's cost, not the relay's). ``GET /count`` is
what to poll (how many arrived, how many distinct keys); ``GET /stats`` returns every arrival; ``DELETE`` forgets.
:class:`Sink` is how a bench section reads it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

arrivals: list[tuple[str, float, float]] = []
keys: set[str] = set()
unsigned = 0


def _key(body: bytes) -> str:
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(event.get("task_id") or event.get("id") or "") if isinstance(event, dict) else ""


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
        if scope["path"] == "/count":
            payload = orjson.dumps({"count": len(arrivals), "distinct": len(keys)})
        else:
            payload = orjson.dumps({"count": len(arrivals), "unsigned": unsigned, "arrivals": arrivals})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})
        return
    if scope["method"] == "DELETE":
        arrivals.clear()
        keys.clear()
        unsigned = 0
    else:
        wall, monotonic = time.time(), time.perf_counter()
        if not any(name == b"webhook-signature" for name, _ in scope["headers"]):
            unsigned += 1
        key = _key(body)
        arrivals.append((key, wall, monotonic))
        keys.add(key)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Sink:
    """A sink served at ``url``, read from the bench's process."""

    def __init__(self, url: str) -> None:
        self.url = url

    def clear(self) -> None:
        httpx.delete(f"{self.url}/stats", timeout=30).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """``count``, ``unsigned`` and ``arrivals``: ``[key, wall time, monotonic time]`` in order of arrival."""
        stats: dict[str, Any] = httpx.get(f"{self.url}/stats", timeout=30).json()
        return stats

    def wait(self, at_least: int, timeout_s: float, *, distinct: bool = False, poll_s: float = 0.25) -> None:
        """Until ``at_least`` requests (or distinct keys) arrived, or ``timeout_s`` passed: polled on the counts alone,
        so the arrival list is fetched once, afterwards."""
        deadline = time.monotonic() + timeout_s
        field = "distinct" if distinct else "count"
        while httpx.get(f"{self.url}/count", timeout=30).json()[field] < at_least and time.monotonic() < deadline:
            time.sleep(poll_s)
