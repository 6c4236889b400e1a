"""Durability: the ack means stored. These tests run their own Redis with AOF, and stop it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.config import Settings
from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN, app_client, callback_path

pytestmark = pytest.mark.anyio


async def test_redis_down_answers_503_quickly_and_restart_keeps_events(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    settings = make_settings(redis_url=server.start())
    try:
        async with app_client(settings) as client:
            path = await callback_path(client, "generic")
            stored = (await client.post(path, json={"taskId": "before", "status": "completed"})).json()
            server.stop()

            started = time.monotonic()
            down = await client.post(path, json={"taskId": "during", "status": "completed"})
            elapsed = time.monotonic() - started
            ready = await client.get("/readyz")

            server.start()
            again = await client.post(path, json={"taskId": "during", "status": "completed"})
            earlier = await client.get(f"/v1/events/{stored['event_id']}", headers=ADMIN)
            listed = (await client.get("/v1/events", headers=ADMIN)).json()["data"]
    finally:
        server.stop()

    assert down.status_code == 503
    assert down.json()["error"]["code"] == "store_unavailable"
    assert elapsed < 5
    assert ready.status_code == 503
    assert again.status_code == 200 and again.json()["duplicate"] is False  # nothing of the refused call was kept
    assert earlier.status_code == 200 and earlier.json()["task_id"] == "before"
    assert [event["task_id"] for event in listed] == ["during", "before"]


def test_embedded_redis_keeps_data_across_restarts(tmp_path: Path) -> None:
    import redis

    with EmbeddedRedis(tmp_path) as first:
        client = redis.Redis.from_url(first.url)
        client.set("kept", "yes")
        client.close()

    with EmbeddedRedis(tmp_path) as second:
        client = redis.Redis.from_url(second.url)
        try:
            assert client.get("kept") == b"yes"
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        finally:
            client.close()


async def test_slow_redis_answers_503_within_the_store_timeout(
    redis_url: str, make_settings: Callable[..., Settings]
) -> None:
    import threading

    import redis

    async with app_client(make_settings(store_timeout_s="0.5")) as client:
        path = await callback_path(client, "generic")
        blocker = redis.Redis.from_url(redis_url)
        # DEBUG SLEEP blocks the whole server, as a stalled disk or a long script would.
        thread = threading.Thread(target=blocker.execute_command, args=("DEBUG", "SLEEP", "1.5"))
        thread.start()
        time.sleep(0.1)
        started = time.monotonic()
        response = await client.post(path, json={"taskId": "slow", "status": "completed"})
        elapsed = time.monotonic() - started
        thread.join()
        blocker.close()
        retried = await client.post(path, json={"taskId": "slow", "status": "completed"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    assert elapsed < 1.4
    # The script may have run once the server woke up: the provider's retry is then a duplicate, never a loss.
    assert retried.status_code == 200
