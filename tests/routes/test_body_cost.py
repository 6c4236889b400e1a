"""A body's cost is bounded (issue 13, item 6): outputs are capped per event, the raw body is kept once."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from relay.providers.outputs import MAX_OUTPUTS
from tests.conftest import ADMIN, callback_path

pytestmark = pytest.mark.anyio


async def test_a_body_of_34000_urls_makes_a_bounded_event(client: httpx.AsyncClient, redis_url: str) -> None:
    urls = [f"https://c.ex/{n:05d}.png" for n in range(34_000)]
    body = json.dumps({"taskId": "many", "status": "completed", "images": urls}).encode()
    assert len(body) > 850_000
    path = await callback_path(client, "generic")

    ack = await client.post(path, content=body, headers={"content-type": "application/json"})

    assert ack.status_code == 200, ack.text
    got = await client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN)
    event = got.json()
    assert [output["url"] for output in event["outputs"]] == urls[:MAX_OUTPUTS]
    assert event["outputs_truncated"] is True
    assert event["raw"]["images"] == urls  # every result is still in the raw body
    # Stored: the raw body once plus a small event (it was 2.9 MB for a 1 MiB body).
    stored = redis.Redis.from_url(redis_url)
    try:
        usage = sum(stored.memory_usage(key) or 0 for key in stored.scan_iter(match="*event:*"))
    finally:
        stored.close()
    assert usage < len(body) + 100_000


async def test_few_outputs_are_not_marked_truncated(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "generic")
    urls = [f"https://cdn.example/{n}.png" for n in range(MAX_OUTPUTS)]
    ack = await client.post(path, json={"taskId": "exact", "status": "completed", "images": urls})

    event = (await client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN)).json()

    assert len(event["outputs"]) == MAX_OUTPUTS
    assert "outputs_truncated" not in event
