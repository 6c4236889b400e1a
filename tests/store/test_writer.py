"""Group commit of accepts (relay.store.writer) against real Redis: batching, per-call errors, outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import redis.asyncio
from redis.exceptions import ResponseError

from relay.config import Settings
from relay.embedded import EmbeddedRedis
from relay.events import NewEvent, RequestInfo, build_event
from relay.providers.base import TaskUpdate
from relay.store import keys
from relay.store.store import Store, script_source
from relay.store.writer import ScriptWriter
from tests.conftest import app_client, callback_path

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000


def new_event(task_id: str, now_s: float = 1_700_000_000.0) -> NewEvent:
    update = TaskUpdate(task_id=task_id, status="succeeded", progress=100, outputs=(), error=None, step=None)
    request = RequestInfo(method="POST", path="/hooks/generic/t", query="", headers=[], content_type="")
    body = b'{"taskId": "%s"}' % task_id.encode()
    return build_event(
        provider="generic", tag=None, update=update, body=body, is_json=True, request=request, now_s=now_s, partitions=1
    )


def accept_call(name: str, dedup_ttl_ms: object = DAY_MS) -> tuple[list[str], list[object]]:
    """Keys and arguments of accept.lua for a minimal event called ``name``."""
    script_keys = [f"t:dedup:{name}", f"t:event:{name}", "t:events", f"t:task:{name}"]
    script_keys += [f"t:rec:{name}", "t:polls", "t:ix"]
    args: list[object] = [dedup_ttl_ms, DAY_MS, name, b"{}", b"{}", b"json", b"{}", 0, "generic", "t", name, ""]
    args += ["succeeded", name, 1_700_000_000_000, "", 0, 0, "callback"]
    return script_keys, args


async def test_concurrent_accepts_share_one_round_trip_and_each_gets_its_own_reply(
    client: redis.asyncio.Redis,
) -> None:
    store = Store(client, partitions=1, dedup_ttl_s=60, event_ttl_s=60)
    events = [new_event(f"task-{n}") for n in range(40)]

    results = await asyncio.gather(*(store.accept(event, 1_700_000_000_000) for event in events))

    assert [result.event_id for result in results] == [event.id for event in events]
    assert not any(result.duplicate for result in results)
    assert store._accept.batches == 1
    assert await client.xlen(keys.events_stream(0)) == 40


async def test_a_failing_call_fails_alone_and_writes_nothing(client: redis.asyncio.Redis) -> None:
    writer = ScriptWriter(client, script_source("accept"))
    calls = [accept_call("a"), accept_call("bad", dedup_ttl_ms="not-a-number"), accept_call("c")]

    replies = await asyncio.gather(*(writer.call(k, a) for k, a in calls), return_exceptions=True)

    assert replies[0] == [1, b"a"] and replies[2] == [1, b"c"]
    assert isinstance(replies[1], ResponseError)
    assert writer.batches == 1
    assert await client.exists("t:dedup:bad", "t:event:bad", "t:task:bad") == 0
    assert [fields[b"id"] for _, fields in await client.xrange("t:events")] == [b"a", b"c"]


async def test_a_call_cancelled_before_its_batch_is_sent_is_not_written(client: redis.asyncio.Redis) -> None:
    writer = ScriptWriter(client, script_source("accept"))
    tasks = [asyncio.create_task(writer.call(*accept_call(name))) for name in ("a", "gone", "c")]
    await asyncio.sleep(0)  # every call is queued; the flush, scheduled by the first, has not run yet
    tasks[1].cancel()

    done = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] == [1, b"a"] and done[2] == [1, b"c"]
    assert await client.exists("t:dedup:gone", "t:event:gone") == 0


async def test_a_call_past_its_deadline_fails_and_one_expired_before_sending_is_not_written(
    client: redis.asyncio.Redis, redis_url: str
) -> None:
    import threading

    import redis as sync_redis

    # One pipeline in flight: while Redis sleeps, the first call's batch holds it and "late" waits in the queue.
    writer = ScriptWriter(client, script_source("accept"), max_in_flight=1)
    blocker = sync_redis.Redis.from_url(redis_url)
    thread = threading.Thread(target=blocker.execute_command, args=("DEBUG", "SLEEP", "0.6"))
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    first = asyncio.create_task(writer.call(*accept_call("first"), timeout_s=0.15))
    await asyncio.sleep(0)
    late = asyncio.create_task(writer.call(*accept_call("late"), timeout_s=0.15))
    done = await asyncio.gather(first, late, return_exceptions=True)
    elapsed = time.monotonic() - started
    thread.join()
    blocker.close()
    after = await writer.call(*accept_call("after"), timeout_s=1.0)

    assert all(isinstance(result, TimeoutError) for result in done)
    assert elapsed < 0.45
    # "first" was sent and runs when Redis wakes (the provider's retry would be a duplicate); "late" never left.
    assert await client.exists("t:dedup:late", "t:event:late") == 0
    assert after == [1, b"after"]


async def test_script_forgotten_by_redis_is_loaded_again(client: redis.asyncio.Redis) -> None:
    writer = ScriptWriter(client, script_source("accept"))
    assert await writer.call(*accept_call("before")) == [1, b"before"]
    await client.script_flush()

    replies = await asyncio.gather(*(writer.call(*accept_call(name)) for name in ("x", "y")))

    assert replies == [[1, b"x"], [1, b"y"]]
    assert await client.xlen("t:events") == 3


async def test_an_event_written_twice_is_not_its_own_duplicate(client: redis.asyncio.Redis) -> None:
    store = Store(client, partitions=1, dedup_ttl_s=60, event_ttl_s=60)
    event = new_event("task-1")

    first = await store.accept(event, 1_700_000_000_000)
    resent = await store.accept(event, 1_700_000_000_000)  # what a client resending after a dropped reply does
    retried = await store.accept(new_event("task-1"), 1_700_000_000_000)  # the provider's own retry

    assert (first.duplicate, resent.duplicate, retried.duplicate) == (False, False, True)
    assert first.event_id == resent.event_id == retried.event_id == event.id


async def test_redis_down_fails_every_waiting_request_with_503_and_writes_nothing(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    settings = make_settings(redis_url=server.start())
    bodies = [f'{{"taskId": "t-{n}", "status": "completed"}}' for n in range(12)]
    try:
        async with app_client(settings) as http:
            path = await callback_path(http, "generic")
            server.stop()
            started = time.monotonic()
            down = await asyncio.gather(*(http.post(path, content=body) for body in bodies))
            elapsed = time.monotonic() - started
            server.start()  # same AOF: only what was acknowledged before is there, and the script cache is empty
            with anyio.fail_after(5):
                again = await asyncio.gather(*(http.post(path, content=body) for body in bodies))
    finally:
        server.stop()

    assert [r.status_code for r in down] == [503] * len(bodies)
    assert {r.json()["error"]["code"] for r in down} == {"store_unavailable"}
    assert elapsed < 3
    assert [r.status_code for r in again] == [200] * len(bodies)
    assert not any(r.json()["duplicate"] for r in again)
    assert len({r.json()["event_id"] for r in again}) == len(bodies)
