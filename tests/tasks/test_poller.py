"""Pollers side by side (as in several worker processes): each due task is polled by one of them, once per turn."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest

from relay.config import Settings
from relay.store.connect import open_redis
from relay.store.tasks import NewTask, TaskStore
from relay.tasks.poller import Poller
from tests.tasks.conftest import Sim, submit, task_settings

pytestmark = pytest.mark.anyio
TASKS = 30


async def test_two_pollers_share_the_due_tasks_without_polling_one_twice(
    sim: Sim, make_settings: Callable[..., Settings]
) -> None:
    sim.config.duration_s, sim.config.status_delay_s = 3600, 0.02  # never done; answers take a moment
    settings = task_settings(
        make_settings, sim, tasks_poll_interval_s="3600", tasks_poll_max_interval_s="3600", tasks_tick_s="0.01"
    )
    clients = [open_redis(settings), open_redis(settings)]
    try:
        task_ids = [await submit(sim, "kie", "") for _ in range(TASKS)]
        store = TaskStore(clients[0], partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        now_ms = int(time.time() * 1000)
        for task_id in task_ids:
            await store.register(NewTask("kie", task_id, "market", "", now_ms - 1, now_ms + 3_600_000, "", ""), now_ms)
        pollers = [Poller(client, settings) for client in clients]
        runs = [asyncio.create_task(poller.run()) for poller in pollers]
        deadline = time.monotonic() + 20
        while sum(p.polls for p in pollers) < TASKS and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # room for a second poll of some task, were claims not exclusive
        for poller in pollers:
            poller.stop()
        await asyncio.gather(*runs)
        records = [await store.get("kie", task_id) for task_id in task_ids]
    finally:
        for client in clients:
            await client.aclose(close_connection_pool=True)
    polled = Counter(parse_qs(call["query"])["taskId"][0] for call in sim.simulator.log.status_calls)
    assert sorted(polled) == sorted(task_ids) and set(polled.values()) == {1}
    assert all(p.polls > 0 for p in pollers)  # both took part
    assert all(r is not None and r.polls == 1 and r.status == "polling" for r in records)
