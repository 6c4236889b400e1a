"""End to end against `relay simulate` stand-ins and a relay over real HTTP: results whose callbacks never come are
recovered by polling; late callbacks are duplicates."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from tests.delivery.subscriber import wait_for
from tests.tasks.conftest import Sim, callback_url, kie_task, submit

pytestmark = pytest.mark.anyio

SERVICES = {"kie": "market", "ttapi": "midjourney", "acedata": "midjourney", "replicate": None}


@pytest.mark.parametrize("provider", sorted(SERVICES))
async def test_dropped_callbacks_are_recovered_by_polling(
    provider: str,
    sim: Sim,
    relay_server: Callable[..., AbstractContextManager[str]],
    admin: Callable[[str], httpx.AsyncClient],
) -> None:
    sim.config.drop = "all"
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, provider, await callback_url(client, provider))
        registered = await client.post(
            "/v1/tasks",
            json={"provider": provider, "task_id": task_id, "service": SERVICES[provider], "deadline_s": 0.5},
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["status"] == "waiting"

        found = (await client.get(f"/v1/tasks/{provider}/{task_id}", params={"wait": 10})).json()
        assert found["task"]["status"] == "succeeded", found
        assert found["task"]["polls"] >= 1
        final = [event for event in found["data"] if event["type"] == "task.succeeded"]
        assert len(final) == 1
        assert final[0]["source"] == "poll"
        assert [o["url"] for o in final[0]["outputs"]][:1] == [sim.simulator.tasks[(provider, task_id)].results[0]]
        assert found["task"]["terminal_event_id"] == final[0]["id"]
    # Positive control that callbacks were really withheld: the simulator dropped every one it would have sent.
    assert sim.simulator.log.callbacks and all(c["outcome"] == "dropped" for c in sim.simulator.log.callbacks)


async def test_a_callback_after_the_poll_found_the_result_is_a_duplicate(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.delay_s = 1.5  # the callback leaves well after the relay's first poll
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=0.4))
        found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 10})).json()
        assert found["task"]["status"] == "succeeded"
        assert [e["source"] for e in found["data"] if e["type"] == "task.succeeded"] == ["poll"]

        await wait_for(lambda: any(c["kind"] == "final" for c in sim.simulator.log.callbacks), 10, "the late callback")
        late = next(c for c in sim.simulator.log.callbacks if c["kind"] == "final")
        assert late["outcome"] == 200
        assert late["ack"]["duplicate"] is True
        assert late["ack"]["event_id"] == found["task"]["terminal_event_id"]
        again = (await client.get(f"/v1/tasks/kie/{task_id}")).json()
        assert [e["type"] for e in again["data"]].count("task.succeeded") == 1


async def test_a_callback_before_the_deadline_closes_the_task_without_polling(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.time_scale = 0.01  # Kie's retries after 0.6, 3 and 9 s: a callback refused under load still arrives
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=30))
        found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 25})).json()
        assert found["task"]["status"] == "succeeded"
        assert found["task"]["polls"] == 0
        assert [e["source"] for e in found["data"]] == ["callback"]
    assert sim.simulator.log.status_calls == []
