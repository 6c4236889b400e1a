from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ADMIN, PROVIDERS_DIR, callback_path

pytestmark = pytest.mark.anyio


async def post_json(client: httpx.AsyncClient, path: str, body: object) -> dict[str, object]:
    response = await client.post(path, content=json.dumps(body).encode())
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


async def task_types(client: httpx.AsyncClient, provider: str, task_id: str) -> list[tuple[str, int | None]]:
    events = (await client.get(f"/v1/tasks/{provider}/{task_id}", headers=ADMIN)).json()["data"]
    return [(event["type"], event["progress"]) for event in events]


async def test_streamed_progress_keeps_each_step_once(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "acedata")
    steps = [35, 35, 60, 100, 100]

    acks = [await post_json(client, path, {"task_id": "t-1", "success": True, "progress": p}) for p in steps]

    assert [ack["duplicate"] for ack in acks] == [False, True, False, False, True]
    assert await task_types(client, "acedata", "t-1") == [
        ("task.progress", 35),
        ("task.progress", 60),
        ("task.succeeded", 100),
    ]


async def test_retried_final_callback_with_a_new_timestamp_is_a_duplicate(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "generic")
    final = {"taskId": "run-9", "status": "completed", "completedAt": "2026-01-01T00:00:00Z"}

    first = await post_json(client, path, final)
    retried = await post_json(client, path, {**final, "completedAt": "2026-01-01T00:00:07Z"})

    assert first["duplicate"] is False
    assert retried == {"received": True, "event_id": first["event_id"], "duplicate": True}


async def test_suno_stages_are_separate_events(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "kie")
    text = json.loads((PROVIDERS_DIR / "kie_suno_extend_progress_text.json").read_text())
    first = json.loads(json.dumps(text))
    first["data"]["callbackType"] = "first"
    complete = json.loads((PROVIDERS_DIR / "kie_suno_music_success.json").read_text())

    acks = [await post_json(client, path, body) for body in (text, first, text, complete)]

    assert [ack["duplicate"] for ack in acks] == [False, False, True, False]
    types = [t for t, _ in await task_types(client, "kie", "2fac****9f72")]
    assert types == ["task.progress", "task.progress", "task.succeeded"]


async def test_same_task_id_on_two_providers_is_not_a_duplicate(client: httpx.AsyncClient) -> None:
    body = {"taskId": "shared-1", "status": "completed"}

    generic = await post_json(client, await callback_path(client, "generic"), body)
    kie = await post_json(client, await callback_path(client, "kie"), {"code": 200, "msg": "ok", "data": body})

    assert generic["duplicate"] is False and kie["duplicate"] is False
    assert generic["event_id"] != kie["event_id"]


async def test_dedup_key_expires_with_the_configured_ttl(client_factory, make_settings, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    import redis

    async with client_factory(make_settings(dedup_ttl_s="60")) as client:
        await post_json(client, await callback_path(client, "generic"), {"taskId": "ttl-1", "status": "done"})
    sync = redis.Redis.from_url(redis_url)
    try:
        ttls = [sync.pttl(key) for key in sync.keys("relay:*:dedup:*")]
    finally:
        sync.close()
    assert len(ttls) == 1 and 55_000 < ttls[0] <= 60_000


async def test_acedata_stream_lines_are_progress_until_every_track_succeeded(client: httpx.AsyncClient) -> None:
    # Issue 13 item 2: the pending line used to become an empty success and the final one a lost duplicate.
    path = await callback_path(client, "acedata")
    pending = json.loads((PROVIDERS_DIR / "acedata_suno_audios_stream_pending.json").read_text())
    final = json.loads((PROVIDERS_DIR / "acedata_suno_audios_stream_final.json").read_text())
    running = {**pending, "data": [{**pending["data"][0], "state": "running"}, pending["data"][1]]}
    task_id = final["task_id"]

    acks = [await post_json(client, path, body) for body in (pending, running, running, final, final)]

    assert [ack["duplicate"] for ack in acks] == [False, False, True, False, True]
    events = (await client.get(f"/v1/tasks/acedata/{task_id}", headers=ADMIN)).json()["data"]
    assert [event["type"] for event in events] == ["task.progress", "task.progress", "task.succeeded"]
    audio = [output["url"] for output in events[-1]["outputs"] if output["kind"] == "audio"]
    assert audio == [track["audio_url"] for track in final["data"]]


async def test_acedata_stream_with_a_failed_track_fails(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "acedata")
    final = json.loads((PROVIDERS_DIR / "acedata_suno_audios_stream_final.json").read_text())
    failed = {**final, "data": [final["data"][0], {**final["data"][1], "state": "failed", "audio_url": ""}]}

    ack = await post_json(client, path, failed)

    event = (await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)).json()
    assert (event["type"], event["status"]) == ("task.failed", "failed")
    assert event["error"]["message"]


async def test_same_task_id_under_two_tags_is_two_events(client: httpx.AsyncClient) -> None:
    # Issue 13 item 4: two tenants whose provider reuses a task id (a runId reseller, two accounts).
    first_path = await callback_path(client, "generic", tag="tenant-a")
    second_path = await callback_path(client, "generic", tag="tenant-b")
    body = {"runId": "run-1", "status": "completed", "output": "https://cdn.example/a.png"}

    first = await post_json(client, first_path, body)
    second = await post_json(client, second_path, body)
    again = await post_json(client, second_path, body)

    assert first["duplicate"] is False and second["duplicate"] is False
    assert second["event_id"] != first["event_id"]
    assert again == {**second, "duplicate": True}  # positive control: the same tenant's retry is still one event
    tags = {(await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)).json()["tag"] for ack in (first, second)}
    assert tags == {"tenant-a", "tenant-b"}
