"""Channels safe to share: a write URL that cannot read, no callback token in a stream, per-channel limits."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
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
SSE = {"accept": "text/event-stream"}


async def read_until(url: str, headers: dict[str, str], count: int) -> list[tuple[str, str | None, bytes]]:
    """Stream events until ``count`` messages arrived, or the first ping after fewer (bounded by 5 s)."""
    seen: list[Any] = []
    async with httpx.AsyncClient() as http, http.stream("GET", url, headers={**SSE, **headers}) as response:
        assert response.status_code == 200, await response.aread()
        deadline = time.monotonic() + 5
        async for item in sse_events(response.aiter_bytes()):
            seen.append(item)
            messages = [s for s in seen if s[0] == "message"]
            if len(messages) >= count or item[0] == "ping" or time.monotonic() > deadline:
                break
    return [s for s in seen if s[0] == "message"]


def serve(make_settings: Callable[..., Settings], clock: Callable[[], float] = time.time, **overrides: str) -> Any:
    settings = make_settings(tunnel_ping_interval_s="0.1", **overrides)
    return run_server(create_app(settings, clock=clock), timeout_graceful_shutdown=1)


async def test_the_write_url_cannot_read_the_channel(make_settings: Callable[..., Settings]) -> None:
    with serve(make_settings) as base, httpx.Client(base_url=base) as http:
        channel = http.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
        other = http.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
        name, secret = channel["channel"], channel["read_secret"]
        assert http.post(channel["webhook_url"].replace("https://relay.test", base), json={"a": 1}).status_code == 200

        refused = [
            http.get(f"/t/{name}", headers=SSE),
            http.get(f"/t/{name}?key={other['read_secret']}", headers=SSE),
            http.get(f"/v1/tunnels/{name}/stream", headers=SSE),
            http.get(f"/v1/tunnels/{name}/stream", headers={**SSE, "authorization": f"Bearer {name}"}),
            http.get(f"/v1/tunnels/{name}"),
            http.post(f"/v1/tunnels/{name}/position", json={"position": "1-0"}),
            http.post(f"/v1/tunnels/{name}/resend"),
        ]
        assert [r.status_code for r in refused] == [401] * len(refused)
        assert all(r.json()["error"]["code"] == "unauthorized" for r in refused)
        assert all(secret not in r.text and name not in r.text for r in refused)

    # Positive controls: the read secret (query or bearer) and the admin token read.
    with serve(make_settings) as base, httpx.Client(base_url=base) as http:
        channel = http.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
        name, secret = channel["channel"], channel["read_secret"]
        http.post(f"/t/{name}", content=b"x=1", headers={"content-type": "application/x-www-form-urlencoded"})
        by_query = await read_until(f"{base}/t/{name}?key={secret}", {"last-event-id": "0"}, 1)
        by_bearer = await read_until(
            f"{base}/v1/tunnels/{name}/stream?start=position", {"authorization": f"Bearer {secret}"}, 1
        )
        by_admin = await read_until(f"{base}/v1/tunnels/{name}/stream?start=position", ADMIN, 1)
    assert len(by_query) == len(by_bearer) == len(by_admin) == 1


async def test_a_raw_stream_never_carries_the_callback_token(make_settings: Callable[..., Settings]) -> None:
    with serve(make_settings, tunnel_router="true") as base, httpx.Client(base_url=base, headers=ADMIN) as http:
        channel = http.post("/v1/tunnels", json={"mode": "raw"}).json()
        callback = http.post("/v1/callback-urls", json={"provider": "generic"}).json()["url"]
        token = callback.rsplit("/", 1)[1]
        assert http.post(callback.replace("https://relay.test", base), json={"taskId": "t-1"}).status_code == 200
        name = channel["channel"]
        relay_format = await read_until(f"{base}/v1/tunnels/{name}/stream?start=position", ADMIN, 1)
        smee_format = await read_until(f"{base}/t/{name}?key={channel['read_secret']}", {"last-event-id": "0"}, 1)

    assert len(relay_format) == len(smee_format) == 1
    assert all(token.encode() not in data for _, _, data in relay_format + smee_format)
    assert orjson.loads(relay_format[0][2])["path"] == "/hooks/generic/{token}"
    assert base64.b64decode(orjson.loads(relay_format[0][2])["body_base64"]) == b'{"taskId":"t-1"}'


async def test_posts_to_a_channel_are_rate_limited_and_size_capped_per_channel(
    make_settings: Callable[..., Settings],
) -> None:
    limits = {"tunnel_post_per_s": "0.5", "tunnel_post_burst": "3", "tunnel_max_body_bytes": "100"}
    with serve(make_settings, **limits) as base, httpx.Client(base_url=base) as http:
        first = http.post("/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
        second = http.post("/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
        statuses = [http.post(f"/t/{first}", content=b"{}").status_code for _ in range(4)]
        other = http.post(f"/t/{second}", content=b"{}")
        too_big = http.post(f"/t/{second}", content=b"x" * 101)

    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200  # another channel has its own bucket
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"


async def test_the_buffer_is_capped_in_bytes_oldest_dropped_first(make_settings: Callable[..., Settings]) -> None:
    with (
        serve(make_settings, tunnel_buffer_max_bytes="3000", tunnel_post_per_s="0") as base,
        httpx.Client(base_url=base) as http,
    ):
        name = http.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()["channel"]
        for n in range(10):
            http.post(f"/t/{name}", content=bytes([65 + n]) * 900)
        got = await read_until(f"{base}/v1/tunnels/{name}/stream?start=position", ADMIN, 10)

    bodies = [base64.b64decode(orjson.loads(data)["body_base64"]) for _, _, data in got]
    assert 1 <= len(bodies) <= 3  # 900 bytes of body plus the request JSON each: at most 3 fit in 3000 bytes
    assert bodies[-1] == b"J" * 900


async def test_open_streams_are_capped_per_channel(make_settings: Callable[..., Settings]) -> None:
    with serve(make_settings, tunnel_max_streams_per_channel="1") as base, httpx.Client(base_url=base) as http:
        busy = http.post("/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
        free = http.post("/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
        async with httpx.AsyncClient(base_url=base, headers={**SSE, **ADMIN}) as streams:
            async with streams.stream("GET", f"/v1/tunnels/{busy}/stream") as first:
                assert first.status_code == 200
                second = await streams.get(f"/v1/tunnels/{busy}/stream")
                async with streams.stream("GET", f"/v1/tunnels/{free}/stream") as elsewhere:
                    assert elsewhere.status_code == 200
    assert second.status_code == 503 and second.json()["error"]["code"] == "too_many_streams"


async def test_stale_channels_expire(make_settings: Callable[..., Settings]) -> None:
    now = [1_800_000_000.0]
    with (
        serve(make_settings, clock=lambda: now[0], tunnel_channel_ttl_s="3600") as base,
        httpx.Client(base_url=base, headers=ADMIN) as http,
    ):
        stale = http.post("/v1/tunnels", json={}).json()["channel"]
        used = http.post("/v1/tunnels", json={}).json()["channel"]
        now[0] += 3000
        assert http.post(f"/t/{used}", content=b"{}").status_code == 200
        now[0] += 1000  # the stale one: unused for 4000 s; the used one: 1000 s
        http.post("/v1/tunnels", json={})  # creating a channel sweeps
        listed = [c["channel"] for c in http.get("/v1/tunnels").json()["data"]]
        assert http.get(f"/v1/tunnels/{stale}").status_code == 404

    assert stale not in listed and used in listed


async def test_bodies_smee_cannot_encode_are_sent_in_another_form_and_the_stream_goes_on(
    make_settings: Callable[..., Settings],
) -> None:
    deep = b"[" * 300 + b"]" * 300  # valid JSON that orjson cannot write back (255 levels at most)
    latin1 = "café".encode("latin-1")  # not UTF-8
    with serve(make_settings) as base, httpx.Client(base_url=base) as http:
        channel = http.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
        for body in (deep, latin1, b'{"after": true}'):
            http.post(f"/t/{channel['channel']}", content=body, headers={"content-type": "application/json"})
        got = await read_until(f"{base}/t/{channel['channel']}?key={channel['read_secret']}", {"last-event-id": "0"}, 3)

    payloads = [orjson.loads(data) for _, _, data in got]
    assert [p.get("x-relay-body-encoding") for p in payloads] == ["text", "base64", None]
    assert payloads[0]["body"] == deep.decode()
    assert base64.b64decode(payloads[1]["body"]) == latin1
    assert payloads[2]["body"] == {"after": True}
