from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import redis

from relay.app import create_app
from relay.config import Settings
from relay.routes.inbound import LARGE_BODY_BYTES
from tests.conftest import ADMIN, PROVIDERS_DIR, callback_path

pytestmark = pytest.mark.anyio

KIE_SUCCESS = (PROVIDERS_DIR / "kie_mj_image_success.json").read_bytes()


async def stored_keys(redis_url: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        # Rate-limit buckets (relay:rl:*) are not stored callbacks.
        return sorted(key for key in client.keys("*") if not key.startswith(b"relay:rl:"))
    finally:
        client.close()


async def test_callback_is_acknowledged_after_it_is_stored(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "kie", tag="order-42")

    response = await client.post(path, content=KIE_SUCCESS, headers={"content-type": "application/json"})

    assert response.status_code == 200
    ack = response.json()
    assert ack["received"] is True and ack["duplicate"] is False
    event = (await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)).json()
    assert event["id"] == ack["event_id"]
    assert event["provider"] == "kie"
    assert event["tag"] == "order-42"
    assert event["task_id"] == "mj_task_12345"
    assert event["type"] == "task.succeeded"
    assert event["received_at"].endswith("Z")
    assert event["raw"] == json.loads(KIE_SUCCESS)


async def test_raw_json_body_is_kept_byte_exact(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "acedata")
    body = (
        b'{ "task_id" : "t-1",\n  "success": true, "progress": 100,'
        b' "note": "caf\\u00e9", "big": 123456789012345678901234567890 }\n'
    )

    ack = (await client.post(path, content=body)).json()

    response = await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)
    assert body in response.content  # the provider's bytes, spliced verbatim into the event JSON
    assert response.json()["raw"]["big"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"task_id=1&status=done"),
        ("application/octet-stream", bytes(range(256))),
        ("application/json", b'{"task_id": "no closing brace"'),
        ("application/json", b'{"value": NaN}'),
        ("application/json", b'{"data": {"no": "task id"}}'),
    ],
)
async def test_unrecognized_bodies_are_stored_byte_exact(
    client: httpx.AsyncClient, content_type: str, body: bytes
) -> None:
    path = await callback_path(client, "generic")

    first = await client.post(path, content=body, headers={"content-type": content_type})
    again = await client.post(path, content=body, headers={"content-type": content_type})

    assert first.status_code == 200 and again.status_code == 200
    assert again.json() == {"received": True, "event_id": first.json()["event_id"], "duplicate": True}
    event = (await client.get(f"/v1/events/{first.json()['event_id']}", headers=ADMIN)).json()
    assert event["type"] == "callback.unrecognized"
    assert event["task_id"] is None and event["status"] is None
    raw = event["raw"]
    if "body_base64" in raw:
        assert raw["content_type"] == content_type
        assert base64.b64decode(raw["body_base64"]) == body
    else:
        assert json.dumps(raw) and body.startswith(b"{")  # parsed as JSON, but not understood by the adapter


async def test_json_is_json_whatever_the_content_type(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "kie")

    ack = (await client.post(path, content=KIE_SUCCESS, headers={"content-type": "text/plain"})).json()

    event = (await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)).json()
    assert event["type"] == "task.succeeded"


@pytest.mark.parametrize("mangle", ["forged", "tampered", "other_provider", "truncated"])
async def test_bad_tokens_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, redis_url: str, mangle: str
) -> None:
    path = await callback_path(client, "kie", tag="order-1")
    token = path.rsplit("/", 1)[1]
    if mangle == "forged":
        target = "/hooks/kie/" + base64.urlsafe_b64encode(b'["kie","order-1"]').decode().rstrip("=") + ".AAAA"
    elif mangle == "tampered":
        payload, signature = token.split(".")
        other = base64.urlsafe_b64encode(b'["kie","order-2"]').decode().rstrip("=")
        target = f"/hooks/kie/{other}.{signature}"
    elif mangle == "other_provider":
        target = f"/hooks/ttapi/{token}"
    else:
        target = f"/hooks/kie/{token[:-2]}"
    before = await stored_keys(redis_url)

    response = await client.post(target, content=KIE_SUCCESS)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert token not in response.text
    assert await stored_keys(redis_url) == before


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/hooks/nope/abc", content=b"{}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_provider"
    assert "'nope'" in response.json()["error"]["message"]


async def test_body_over_the_limit_is_413(client_factory, make_settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    # No tunnel router: its consumer group creates the events stream at startup, which this count would see.
    async with client_factory(make_settings(max_body_bytes="1000")) as client:
        path = await callback_path(client, "generic")
        before = await stored_keys(redis_url)

        declared = await client.post(path, content=b"x" * 1001)

        async def chunked():  # type: ignore[no-untyped-def]
            for _ in range(20):
                yield b"y" * 100

        streamed = await client.post(path, content=chunked())
        at_limit = await client.post(path, content=b"z" * 1000)

    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"
    assert streamed.status_code == 413
    assert at_limit.status_code == 200
    # Only the body within the limit: its dedup key and its events stream (the event is packed into its entry).
    assert len(await stored_keys(redis_url)) == len(before) + 2


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/hooks/kie/abc")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_concurrent_identical_callbacks_make_one_event(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "kie")
    results: list[dict[str, object]] = []

    async def send() -> None:
        response = await client.post(path, content=KIE_SUCCESS)
        assert response.status_code == 200
        results.append(response.json())

    async with anyio.create_task_group() as group:
        for _ in range(300):
            group.start_soon(send)

    assert len(results) == 300
    assert sum(1 for r in results if r["duplicate"] is False) == 1
    assert len({r["event_id"] for r in results}) == 1
    events = (await client.get("/v1/tasks/kie/mj_task_12345", headers=ADMIN)).json()["data"]
    assert len(events) == 1


async def test_large_callbacks_queue_for_their_lane_while_small_ones_go_on(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="https://relay.test") as client:
            path = await callback_path(client, "generic")
            large = b'{"taskId": "large", "status": "done", "logs": "' + b"x" * LARGE_BODY_BYTES + b'"}'
            async with state["large_lane"].turn():  # another large callback is being stored
                waiting = asyncio.create_task(client.post(path, content=large))
                small = await client.post(path, json={"taskId": "small", "status": "done"})
                await asyncio.sleep(0.2)
                queued = not waiting.done()
            answered = await asyncio.wait_for(waiting, timeout=10)

    assert small.status_code == 200 and small.json()["received"] is True
    assert queued  # the large one waited for the lane, while the small one was stored
    assert answered.status_code == 200 and answered.json()["received"] is True
