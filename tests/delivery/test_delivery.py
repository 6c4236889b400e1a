"""Delivery end to end: real Redis, the app with its worker, real subscribers on loopback (uvicorn)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import ADMIN, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Subscriber, wait_for

pytestmark = pytest.mark.anyio


async def test_every_matching_event_is_delivered_signed_and_verifiable(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    everything = await subscribe(relay, f"{subscriber.url}/all")
    kie_only = await subscribe(relay, f"{subscriber.url}/kie", filter={"providers": ["kie"]})
    succeeded_tagged = await subscribe(
        relay, f"{subscriber.url}/done", filter={"types": ["task.succeeded"], "tags": ["order-1"]}
    )
    generic = await callback_path(relay, "generic", tag="order-1")
    kie = await callback_path(relay, "kie")

    acks = [
        (await relay.post(generic, json={"taskId": "g-1", "status": "running", "progress": 10})).json(),
        (await relay.post(generic, json={"taskId": "g-1", "status": "completed"})).json(),
        (
            await relay.post(kie, json={"code": 200, "data": {"taskId": "k-1", "resultUrls": ["https://x/r.png"]}})
        ).json(),
    ]
    await wait_for(lambda: len(subscriber.received) == 3 + 1 + 1, what="five deliveries")

    all_events = subscriber.verified(everything["secret"], "/all")
    assert sorted(event["id"] for event in all_events) == sorted(ack["event_id"] for ack in acks)
    # Different tasks go out concurrently; within one task the order is the order of arrival.
    assert [e["id"] for e in all_events if e["task_id"] == "g-1"] == [acks[0]["event_id"], acks[1]["event_id"]]
    assert [event["id"] for event in subscriber.verified(kie_only["secret"], "/kie")] == [acks[2]["event_id"]]
    assert [event["id"] for event in subscriber.verified(succeeded_tagged["secret"], "/done")] == [acks[1]["event_id"]]
    first = next(r for r in subscriber.at("/all") if r.msg_id == acks[0]["event_id"])
    stored = await relay.get(f"/v1/events/{acks[0]['event_id']}", headers=ADMIN)
    stored_event = stored.json()
    assert first.headers["webhook-id"] == acks[0]["event_id"]
    assert first.headers["content-type"] == "application/json"
    assert first.headers["user-agent"].startswith("relay/")
    assert json.loads(first.body) == {key: value for key, value in stored_event.items() if key != "deliveries"}
    assert stored_event["deliveries"][0]["status"] == "succeeded"
    assert stored_event["deliveries"][0]["subscription_id"] == everything["id"]
