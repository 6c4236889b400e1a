"""Polite polling: 429 and Retry-After honoured, provider errors recorded, garbage leaves the task polling,
concurrency bounded per provider, and the key kept out of errors and logs even when the provider echoes it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from tests.delivery.subscriber import wait_for
from tests.tasks.conftest import SIM_KEY, Sim, callback_url, kie_task, submit

pytestmark = pytest.mark.anyio


async def test_a_429_pauses_the_provider_for_its_retry_after_and_garbage_keeps_the_task_polling(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.drop, sim.config.throttle_status, sim.config.retry_after_s, sim.config.garbage_status = "all", 1, 1, 1
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=0.4))
        seen: list[str] = []

        async def errors() -> bool:
            task = (await client.get(f"/v1/tasks/kie/{task_id}")).json()["task"]
            if task["last_error"] and task["last_error"] not in seen:
                seen.append(task["last_error"])
            return bool(task["status"] == "succeeded")

        for _ in range(500):
            if await errors():
                break
            await asyncio.sleep(0.01)
        found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 10})).json()
    calls = sim.simulator.log.status_calls
    assert found["task"]["status"] == "succeeded"
    assert found["task"]["polls"] == len(calls) >= 3
    assert calls[1]["at"] - calls[0]["at"] >= 1.0  # Retry-After: 1 honoured
    assert "rate limited (429)" in seen and "answer is not JSON" in seen


async def test_concurrency_per_provider_is_bounded(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.drop, sim.config.status_delay_s = "all", 0.2
    with relay_server(tasks_poll_concurrency="2") as url:
        client = admin(url)
        callback = await callback_url(client, "kie")
        task_ids = [await submit(sim, "kie", callback) for _ in range(8)]
        for task_id in task_ids:
            await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=0.2))
        for task_id in task_ids:
            found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 20})).json()
            assert found["task"]["status"] == "succeeded"
    assert sim.simulator.log.status_max_in_flight == 2  # reached, never passed


async def test_a_rejected_key_is_recorded_without_the_key_and_the_task_keeps_polling(
    sim: Sim,
    relay_server: Callable[..., AbstractContextManager[str]],
    admin: Callable[[str], httpx.AsyncClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.config.drop, sim.config.echo_key = "all", True
    with relay_server(kie_api_key="wrong-" + SIM_KEY) as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=0.2))
        await wait_for(lambda: len(sim.simulator.log.status_calls) >= 3, 10, "three polls")
        task = (await client.get(f"/v1/tasks/kie/{task_id}")).json()["task"]  # the first two are recorded by now
        scraped = (await client.get("/metrics")).text
    assert task["status"] == "polling" and task["polls"] >= 2
    assert task["last_error"].startswith("HTTP 401") and "***" in task["last_error"]
    assert "wrong-" + SIM_KEY in sim.simulator.log.keys_seen  # the provider did get (and echo) it
    polled = [record for record in caplog.records if record.getMessage() == "task polled"]
    assert polled and all(record.__dict__["fields"]["provider"] == "kie" for record in polled)
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert SIM_KEY not in logged and SIM_KEY not in str(task)
    assert 'relay_task_polls_total{outcome="error",provider="kie"}' in scraped


async def test_without_a_key_the_task_is_overdue_then_times_out(
    sim: Sim, relay_server: Callable[..., AbstractContextManager[str]], admin: Callable[[str], httpx.AsyncClient]
) -> None:
    sim.config.drop = "all"
    with relay_server(kie_api_key="") as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await client.post("/v1/tasks", json=kie_task(task_id, deadline_s=0.2, horizon_s=1.5))
        overdue: dict[str, object] = {}
        for _ in range(100):
            listed = (await client.get("/v1/tasks", params={"status": "overdue"})).json()["data"]
            if listed and listed[0]["status"] == "overdue":
                overdue = listed[0]
                break
            await asyncio.sleep(0.05)
        found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 10})).json()
    assert overdue["task_id"] == task_id and "RELAY_KIE_API_KEY is not set" in str(overdue["last_error"])
    assert found["task"]["status"] == "timed_out" and found["task"]["polls"] == 0
    assert sim.simulator.log.status_calls == []
