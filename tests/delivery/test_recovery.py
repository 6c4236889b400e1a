"""The worker outlives its Redis: restarted (scripts forgotten, connections dropped) or flushed (consumer group,
subscriptions, everything gone), it recovers by itself and new callbacks are delivered again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from relay.config import Settings
from relay.embedded import EmbeddedRedis
from tests.conftest import app_client, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Subscriber, wait_for

pytestmark = pytest.mark.anyio


async def post_until_stored(relay: httpx.AsyncClient, path: str, task_id: str, timeout_s: float = 5.0) -> str:
    """POST a callback as a provider does: again after a 503, until it is stored."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await relay.post(path, json={"taskId": task_id, "status": "completed"})
        if response.status_code == 200:
            return str(response.json()["event_id"])
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the relay did not store the callback after Redis came back"
        await asyncio.sleep(0.05)


async def test_worker_recovers_from_a_redis_restart_and_a_flushall(
    fast_settings: Callable[..., Settings], subscriber: Subscriber, tmp_path: Path
) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        settings = fast_settings(redis_url=server.url)
        async with app_client(settings) as relay:
            await subscribe(relay, f"{subscriber.url}/hook")
            path = await callback_path(relay, "generic")
            await post_until_stored(relay, path, "before")
            await wait_for(lambda: len(subscriber.received) == 1, what="the first delivery")

            # Restart: AOF keeps the data; connections drop and the script cache is empty afterwards.
            server.stop()
            await asyncio.sleep(0.1)  # the worker's blocked read and claims fail meanwhile
            server.start()
            await post_until_stored(relay, path, "after-restart")
            await wait_for(lambda: len(subscriber.received) == 2, what="a delivery after the restart")

            # FLUSHALL: the consumer group, the subscription and the scripts' keys are gone.
            client = redis.Redis.from_url(server.url)
            client.flushall()
            client.close()
            await subscribe(relay, f"{subscriber.url}/again")
            path = await callback_path(relay, "generic")
            await post_until_stored(relay, path, "after-flush")
            await wait_for(lambda: len(subscriber.at("/again")) == 1, what="a delivery after FLUSHALL")

    assert [r.path for r in subscriber.received] == ["/hook", "/hook", "/again"]
