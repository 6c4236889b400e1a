"""notify_url: exactly one signed (Standard Webhooks) terminal notification per task, with the usual retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
import standardwebhooks
from starlette.responses import Response

from tests.delivery.subscriber import Received, Subscriber, serve_subscriber, wait_for
from tests.tasks.conftest import Sim, callback_url, kie_task, submit

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


async def register(client: httpx.AsyncClient, task_id: str, notify_url: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/tasks", json=kie_task(task_id, notify_url=notify_url, **fields))
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    assert body["notify_secret"].startswith("whsec_")
    return body


async def test_one_signed_notification_although_the_result_arrives_by_poll_then_three_callbacks(
    sim: Sim,
    relay_server: Callable[..., AbstractContextManager[str]],
    admin: Callable[[str], httpx.AsyncClient],
    subscriber: Subscriber,
) -> None:
    sim.config.delay_s, sim.config.duplicates = 1.0, 2  # the poll finds it first; then the callback, twice repeated
    sim.config.time_scale = 0.01  # Kie's retries after 0.6, 3 and 9 s: a callback refused under load still arrives
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        secret = (await register(client, task_id, f"{subscriber.url}/done/1", deadline_s=0.3))["notify_secret"]
        await wait_for(lambda: subscriber.at("/done/1"), 10, "the notification")
        acked = lambda: [c for c in sim.simulator.log.callbacks if c.get("outcome") == 200]  # noqa: E731
        await wait_for(lambda: len(acked()) == 3, 25, "the three callbacks acknowledged")
        assert all(c["ack"]["duplicate"] for c in acked())

        # Positive control: a later task's notification arrives, so a second one for the first would have too.
        other = await submit(sim, "kie", await callback_url(client, "kie"))
        await register(client, other, f"{subscriber.url}/done/2")
        await wait_for(lambda: subscriber.at("/done/2"), 10, "the control notification")

        task = (await client.get(f"/v1/tasks/kie/{task_id}")).json()["task"]
    notes = subscriber.at("/done/1")
    assert len(notes) == 1
    payload = standardwebhooks.Webhook(secret).verify(notes[0].body, notes[0].headers)
    assert payload["type"] == "task.succeeded" and payload["task_id"] == task_id and payload["source"] == "poll"
    assert notes[0].msg_id == task["terminal_event_id"] == task["notified_event_id"]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook("whsec_" + "A" * 44).verify(notes[0].body, notes[0].headers)


async def test_registration_after_the_result_still_notifies_once(
    sim: Sim,
    relay_server: Callable[..., AbstractContextManager[str]],
    admin: Callable[[str], httpx.AsyncClient],
    subscriber: Subscriber,
) -> None:
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        await wait_for(lambda: any(c.get("outcome") == 200 for c in sim.simulator.log.callbacks), 10, "the callback")
        body = await register(client, task_id, f"{subscriber.url}/late")
        assert body["status"] == "succeeded"
        await wait_for(lambda: subscriber.at("/late"), 10, "the notification")
        # Registering again (a client retry) sends nothing more.
        await register(client, task_id, f"{subscriber.url}/late")
        control = await submit(sim, "kie", await callback_url(client, "kie"))
        await register(client, control, f"{subscriber.url}/control")
        await wait_for(lambda: subscriber.at("/control"), 10, "the control notification")
    assert len(subscriber.at("/late")) == 1
    assert (
        standardwebhooks.Webhook(body["notify_secret"]).verify(
            subscriber.at("/late")[0].body, subscriber.at("/late")[0].headers
        )["source"]
        == "callback"
    )


async def test_a_failing_notify_url_is_retried_and_a_task_with_no_result_times_out(
    sim: Sim,
    relay_server: Callable[..., AbstractContextManager[str]],
    admin: Callable[[str], httpx.AsyncClient],
    subscriber: Subscriber,
) -> None:
    async def fail_twice(received: Received, count: int) -> Response:
        return Response("busy", status_code=503 if count <= 2 else 200)

    subscriber.respond = fail_twice
    sim.config.duration_s = 120  # the generation never ends while the test runs
    with relay_server() as url:
        client = admin(url)
        task_id = await submit(sim, "kie", await callback_url(client, "kie"))
        body = await register(client, task_id, f"{subscriber.url}/never", deadline_s=0.2, horizon_s=1)
        found = (await client.get(f"/v1/tasks/kie/{task_id}", params={"wait": 10})).json()
        assert found["task"]["status"] == "timed_out"
        assert found["task"]["polls"] >= 1
        await wait_for(lambda: len(subscriber.at("/never")) == 3, 10, "two failures and a success")
        deliveries = (await client.get("/v1/deliveries")).json()["data"]
    timed_out = [e for e in found["data"] if e["type"] == "task.timed_out"]
    assert len(timed_out) == 1 and timed_out[0]["source"] == "relay"
    notes = [standardwebhooks.Webhook(body["notify_secret"]).verify(r.body, r.headers) for r in subscriber.at("/never")]
    assert {note["type"] for note in notes} == {"task.timed_out"}
    assert len({r.msg_id for r in subscriber.at("/never")}) == 1  # one notification, attempted three times
    notify = [d for d in deliveries if d["event_id"] == timed_out[0]["id"]]
    assert len(notify) == 1 and notify[0]["status"] == "succeeded" and notify[0]["attempt_count"] == 3
