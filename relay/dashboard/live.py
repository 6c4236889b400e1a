"""The events page's live feed: Server-Sent Events carrying re-rendered fragments, sent only when they change.

The rows are re-read every :data:`TICK_S` (a few pipelined reads, no event bodies) so a delivery's status moves
on the page as it does in Redis; the charts every :data:`CHART_EVERY_TICKS` ticks. A stream ends after
:data:`LIFETIME_S` and the browser's EventSource reconnects by itself, so no connection is held forever (a
server draining on SIGTERM waits for none of them for long).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from relay.dashboard import session, views
from relay.dashboard.web import TEMPLATES
from relay.logs import kv
from relay.store.store import EventFilter

logger = logging.getLogger(__name__)

TICK_S = 1.0
CHART_EVERY_TICKS = 10
LIFETIME_S = 30.0
RECONNECT_MS = 1000


def sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


async def events_stream(request: Request) -> Response:
    if await session.current(request) is None:
        # Not a redirect: EventSource gives up on any non-200 answer, and the page then reloads into the login.
        return Response("log in first", status_code=401, media_type="text/plain")
    flt, _ = views.event_filter(request)
    return StreamingResponse(
        _frames(request, flt),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _frames(request: Request, flt: EventFilter) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    rows_template = TEMPLATES.get_template("_event_rows.html")
    charts_template = TEMPLATES.get_template("_charts.html")
    sent_rows = sent_charts = ""
    deadline = time.monotonic() + LIFETIME_S
    tick = 0
    while time.monotonic() < deadline:
        try:
            rows = rows_template.render(await views.rows_context(request, flt))
            due = tick > 0 and tick % CHART_EVERY_TICKS == 0  # the page came with fresh charts
            charts = charts_template.render(await views.charts_context(request)) if due else ""
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("dashboard stream: store unavailable", extra=kv(error=type(exc).__name__))
            yield sse("offline", "")
            return
        if rows != sent_rows:
            sent_rows = rows
            yield sse("rows", rows)
        if charts and charts != sent_charts:
            sent_charts = charts
            yield sse("charts", charts)
        tick += 1
        await asyncio.sleep(TICK_S)
