"""Tracked tasks on a real 3-master Redis Cluster: registration, lease-claimed polling and notification across slots."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
import standardwebhooks

from relay.config import Settings
from tests.cluster import redis_cluster
from tests.conftest import ADMIN, app_client
from tests.delivery.subscriber import Subscriber, serve_subscriber, wait_for
from tests.tasks.conftest import Sim, kie_task, submit, task_settings

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]
TASKS = 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


async def test_polling_and_notification_on_a_cluster(
    cluster: str, sim: Sim, make_settings: Callable[..., Settings]
) -> None:
    sim.config.drop = "all"
    settings = task_settings(make_settings, sim, redis_url=cluster, partitions="8")
    subscriber: Subscriber
    with serve_subscriber() as subscriber:
        async with app_client(settings) as relay:
            secrets: dict[str, str] = {}
            for n in range(TASKS):
                task_id = await submit(sim, "kie", "https://relay.test/unused")
                body = kie_task(task_id, deadline_s=0.2, notify_url=f"{subscriber.url}/t/{n}")
                registered = await relay.post("/v1/tasks", json=body, headers=ADMIN)
                assert registered.status_code == 201, registered.text
                secrets[task_id] = registered.json()["notify_secret"]
            for task_id in secrets:
                found = (await relay.get(f"/v1/tasks/kie/{task_id}", params={"wait": 20}, headers=ADMIN)).json()
                assert found["task"]["status"] == "succeeded"
            await wait_for(lambda: len(subscriber.received) == TASKS, 20, "one notification per task")
            listed = (await relay.get("/v1/tasks", params={"status": "succeeded"}, headers=ADMIN)).json()["data"]
    assert sorted(task["task_id"] for task in listed) == sorted(secrets)
    for note in subscriber.received:
        task_id = str(orjson.loads(note.body)["task_id"])
        assert standardwebhooks.Webhook(secrets[task_id]).verify(note.body, note.headers)["source"] == "poll"
