"""The dashboard's Tasks page (polling and overdue first) and a task's timeline, behind the login."""

from __future__ import annotations

import re
from collections.abc import Callable

import anyio
import pytest

from relay.config import Settings
from tests.conftest import ADMIN, app_client
from tests.dashboard.conftest import log_in
from tests.tasks.conftest import SIM_KEY, Sim, kie_task, submit, task_settings

pytestmark = pytest.mark.anyio


async def test_tasks_page_puts_polling_and_overdue_first_and_shows_a_timeline(
    sim: Sim, make_settings: Callable[..., Settings]
) -> None:
    sim.config.drop, sim.config.duration_s = "all", 60  # stays polling while the test looks at it
    settings = task_settings(make_settings, sim)
    async with app_client(settings) as client:
        assert (await client.get("/dashboard/tasks")).status_code == 303  # no session: to the login form
        await log_in(client)
        polled = await submit(sim, "kie", "https://relay.test/unused")
        waiting = await submit(sim, "kie", "https://relay.test/unused")
        await client.post("/v1/tasks", json=kie_task(waiting, deadline_s=600), headers=ADMIN)
        await client.post("/v1/tasks", json=kie_task(polled, deadline_s=0.1), headers=ADMIN)
        for _ in range(200):
            task = (await client.get(f"/v1/tasks/kie/{polled}", headers=ADMIN)).json()["task"]
            if task["polls"] >= 2:
                break
            await anyio.sleep(0.05)
        listing = await client.get("/dashboard/tasks")
        detail = await client.get(f"/dashboard/tasks/kie/{polled}")
        missing = await client.get("/dashboard/tasks/kie/nope")
    assert listing.status_code == 200
    order = re.findall(r'data-task="kie/([0-9a-f]+)"', listing.text)
    assert order == [polled, waiting]  # registered later, listed first: it is being polled
    assert "polling" in listing.text and SIM_KEY not in listing.text
    assert detail.status_code == 200
    kinds = re.findall(r'<li data-kind="(\w+)"', detail.text)
    assert kinds[0] == "registered" and "deadline" in kinds and "poll" in kinds
    assert "task.progress (poll)" in detail.text and SIM_KEY not in detail.text
    assert missing.status_code == 404
