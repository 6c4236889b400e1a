"""Tasks nobody registered are tracked from their first progress callback when the body names the service; the
task API validates what it is given."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN
from tests.delivery.subscriber import wait_for
from tests.tasks.conftest import Sim, callback_url, submit

pytestmark = pytest.mark.anyio


async def test_a_progress_callback_starts_tracking_and_the_lost_final_is_recovered(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.drop = "final"
    with relay_server(tasks_deadline_s="0.5") as url:
        client = admin(url)
        task_id = await submit(sim, "ttapi", await callback_url(client, "ttapi"))
        await wait_for(lambda: any(c["kind"] == "progress" for c in sim.simulator.log.callbacks), 10, "progress")
        found = (await client.get(f"/v1/tasks/ttapi/{task_id}", params={"wait": 10})).json()
    assert found["task"]["origin"] == "callback" and found["task"]["service"] == "midjourney"
    assert found["task"]["status"] == "succeeded"
    assert [(e["type"], e["source"]) for e in found["data"]] == [
        ("task.progress", "callback"),
        ("task.succeeded", "poll"),
    ]


async def test_without_auto_tracking_a_progress_callback_tracks_nothing(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.drop = "final"
    with relay_server(tasks_auto_track="false") as url:
        client = admin(url)
        task_id = await submit(sim, "ttapi", await callback_url(client, "ttapi"))
        await wait_for(lambda: any(c.get("outcome") == 200 for c in sim.simulator.log.callbacks), 10, "progress")
        found = (await client.get(f"/v1/tasks/ttapi/{task_id}")).json()
        assert (await client.get("/v1/tasks")).json()["data"] == []
    assert found["task"] is None and [e["type"] for e in found["data"]] == ["task.progress"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"provider": "kie", "task_id": "t"}, 400, "needs a service"),
        ({"provider": "kie", "task_id": "t", "service": "nope"}, 400, "unknown service 'nope'"),
        ({"provider": "replicate", "task_id": "t", "service": "x"}, 400, "takes no service"),
        ({"provider": "generic", "task_id": "t"}, 400, "cannot poll provider 'generic'"),
        ({"provider": "nope", "task_id": "t"}, 404, "unknown provider"),
        ({"provider": "kie", "task_id": "", "service": "mj"}, 400, "task_id"),
        ({"provider": "kie", "task_id": "t", "service": "mj", "deadline_s": -1}, 400, "deadline_s"),
        ({"provider": "kie", "task_id": "t", "service": "mj", "deadline_s": 10, "horizon_s": 5}, 400, "horizon_s"),
        ({"provider": "kie", "task_id": "t", "service": "mj", "notify_url": "ftp://x"}, 400, "http or https"),
        ({"provider": "kie", "task_id": "t", "service": "mj", "extra": 1}, 400, "unknown_field"),
    ],
)
async def test_registrations_are_validated(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, message: str
) -> None:
    response = await client.post("/v1/tasks", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"] or message in response.json()["error"]["code"]


async def test_listing_and_reading_validate_their_parameters(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tasks", params={"status": "nope"}, headers=ADMIN)).status_code == 400
    assert (await client.get("/v1/tasks", params={"limit": "0"}, headers=ADMIN)).status_code == 400
    assert (await client.get("/v1/tasks/kie/x", params={"wait": "61"}, headers=ADMIN)).status_code == 400
    assert (await client.get("/v1/tasks/kie/x", headers=ADMIN)).status_code == 404
    assert (await client.post("/v1/tasks", json={}, headers={})).status_code == 401
    created = await client.post("/v1/tasks", json={"provider": "kie", "task_id": "x", "service": "mj"}, headers=ADMIN)
    assert created.status_code == 201 and "notify_secret" not in created.json()
    again = await client.post("/v1/tasks", json={"provider": "kie", "task_id": "x", "service": "veo"}, headers=ADMIN)
    assert again.status_code == 200 and again.json()["service"] == "veo"
    found = (await client.get("/v1/tasks/kie/x", headers=ADMIN)).json()
    assert found == {"task": again.json(), "data": []}
    listed = (await client.get("/v1/tasks", params={"status": "waiting"}, headers=ADMIN)).json()
    assert [task["task_id"] for task in listed["data"]] == ["x"]
