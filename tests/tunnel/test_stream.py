"""The SSE stream served by a real uvicorn: routing by filter, replay from Last-Event-ID, pings, bounds."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import orjson
import pytest

from relay.app import create_app
from relay.config import Settings
from tests.conftest import ADMIN
from tests.servers import run_server
from tests.tunnel.conftest import sse_events

pytestmark = pytest.mark.anyio


def serve(settings: Settings) -> AbstractContextManager[str]:
    return run_server(create_app(settings), timeout_graceful_shutdown=1)


async def read_stream(url: str, headers: dict[str, str], until: Callable[[list[Any]], bool]) -> list[Any]:
    """(event, id, data) tuples until ``until`` says enough (bounded by a 5 s deadline)."""
    seen: list[Any] = []
    async with httpx.AsyncClient() as http, http.stream("GET", url, headers={**ADMIN, **headers}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + 5
        async for item in sse_events(response.aiter_bytes()):
            seen.append(item)
            if until(seen) or time.monotonic() > deadline:
                break
    return seen


def messages(items: list[Any]) -> list[Any]:
    return [(entry_id, orjson.loads(data)) for event, entry_id, data in items if event == "message"]


async def test_replay_from_last_event_id_then_live_with_pings(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(tunnel_router="true", tunnel_ping_interval_s="0.1")
    with serve(settings) as base:
        with httpx.Client(base_url=base, headers=ADMIN) as http:
            channel = http.post("/v1/tunnels", json={"filter": {"providers": ["generic"]}, "mode": "raw"}).json()
            generic = http.post("/v1/callback-urls", json={"provider": "generic"}).json()["url"]
            kie = http.post("/v1/callback-urls", json={"provider": "kie"}).json()["url"]
            for n in range(3):
                http.post(generic.replace(settings.public_url, base), json={"taskId": f"g-{n}", "status": "done"})
            http.post(kie.replace(settings.public_url, base), json={"code": 200, "data": {"taskId": "k"}})
        url = f"{base}/v1/tunnels/{channel['channel']}/stream"

        first = await read_stream(url, {"last-event-id": "0"}, lambda seen: len(messages(seen)) == 3)
        replayed = messages(first)
        assert [orjson.loads(base64.b64decode(m["body_base64"]))["taskId"] for _, m in replayed] == [
            "g-0",
            "g-1",
            "g-2",
        ]
        assert first[0][0] == "ready" and orjson.loads(first[0][2])["ping_interval_s"] == 0.1
        assert replayed[0][1]["method"] == "POST" and replayed[0][1]["provider"] == "generic"

        resumed = await read_stream(
            url, {"last-event-id": replayed[0][0]}, lambda seen: sum(e == "ping" for e, _, _ in seen) >= 2
        )
        assert [entry_id for entry_id, _ in messages(resumed)] == [entry_id for entry_id, _ in replayed[1:]]

        live = await read_stream(url, {}, lambda seen: sum(e == "ping" for e, _, _ in seen) >= 1)
        assert messages(live) == []  # no resume point: live only


async def test_buffer_is_bounded_by_count(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(tunnel_router="true", tunnel_buffer_max_events="5", tunnel_ping_interval_s="0.1")
    with serve(settings) as base:
        with httpx.Client(base_url=base, headers=ADMIN) as http:
            channel = http.post("/v1/tunnels", json={"mode": "raw"}).json()["channel"]
            for n in range(150):
                http.post(f"/t/{channel}", content=f"n={n}".encode())
        got = await read_stream(
            f"{base}/v1/tunnels/{channel}/stream", {"last-event-id": "0"}, lambda seen: seen[-1][0] == "ping"
        )
        bodies = [base64.b64decode(m["body_base64"]) for _, m in messages(got)]
        assert 5 <= len(bodies) < 150  # approximate trimming keeps about the bound, never everything
        assert bodies[-1] == b"n=149"
