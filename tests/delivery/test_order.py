"""Per-task order, isolation of slow subscribers, and secret rotation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
import standardwebhooks
from starlette.responses import Response

from tests.conftest import ADMIN, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Received, Subscriber, wait_for

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def task_of(received: Received) -> str:
    return str(json.loads(received.body)["task_id"])


async def test_per_task_order_holds_through_retries_while_another_task_is_stuck(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    failed_once: set[str] = set()

    async def respond(received: Received, count: int) -> Response:
        event = json.loads(received.body)
        if event["task_id"] == "stuck" and event["progress"] == 10:
            await subscriber.hold()
        if event["progress"] == 50 and received.msg_id not in failed_once:
            failed_once.add(received.msg_id)
            return Response("not yet", status_code=503)
        return Response("ok")

    subscriber.respond = respond
    sent: dict[str, list[str]] = {"stuck": [], "a": [], "b": []}

    def finished(task_id: str) -> bool:
        return [r.msg_id for r in subscriber.received if task_of(r) == task_id][-1:] == sent[task_id][-1:]

    async with relay_factory(delivery_timeout_s="3", delivery_lease_s="4") as relay:
        await subscribe(relay, f"{subscriber.url}/hook")
        path = await callback_path(relay, "generic")
        steps = ({"status": "running", "progress": 10}, {"status": "running", "progress": 50}, {"status": "completed"})
        for task_id in ("stuck", "a", "b"):
            for body in steps:
                ack = (await relay.post(path, json={"taskId": task_id, **body})).json()
                sent[task_id].append(ack["event_id"])

        await wait_for(lambda: finished("a") and finished("b"), what="tasks a and b while stuck hangs")
        stuck_so_far = [r.msg_id for r in subscriber.received if task_of(r) == "stuck"]
        subscriber.release_all()
        await wait_for(lambda: finished("stuck"), what="the stuck task once released")

    assert stuck_so_far == [sent["stuck"][0]]  # nothing of the stuck task overtook its first event
    for task_id, event_ids in sent.items():
        order = [r.msg_id for r in subscriber.received if task_of(r) == task_id]
        assert list(dict.fromkeys(order)) == event_ids  # 50 is sent twice (503 then ok); 100 only after it
        assert order.count(event_ids[1]) == 2


async def test_a_slow_subscriber_does_not_delay_the_others(relay_factory: RelayFactory, subscriber: Subscriber) -> None:
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}

    async def respond(received: Received, count: int) -> Response:
        if received.path == "/slow":
            with lock:
                in_flight["now"] += 1
                in_flight["max"] = max(in_flight["max"], in_flight["now"])
            await subscriber.hold()
            with lock:
                in_flight["now"] -= 1
        return Response("ok")

    subscriber.respond = respond
    settings = {"delivery_timeout_s": "3", "delivery_lease_s": "4"}  # held attempts stay in flight, none time out
    async with relay_factory(delivery_concurrency="4", delivery_concurrency_per_subscription="2", **settings) as relay:
        await subscribe(relay, f"{subscriber.url}/slow")
        await subscribe(relay, f"{subscriber.url}/fast")
        path = await callback_path(relay, "generic")
        for n in range(8):
            await relay.post(path, json={"taskId": f"t-{n}", "status": "completed"})

        await wait_for(lambda: len(subscriber.at("/fast")) == 8, what="the fast subscriber's eight events")
        slow_meanwhile = len(subscriber.at("/slow"))
        subscriber.release_all()
        for _ in range(250):  # each release lets the next two in
            subscriber.release_all()
            if len(subscriber.at("/slow")) == 8:
                break
            await asyncio.sleep(0.02)
        subscriber.release_all()

    assert slow_meanwhile == 2  # its per-subscription cap, while the fast one got everything
    assert len({r.msg_id for r in subscriber.at("/slow")}) == 8
    assert in_flight["max"] <= 2


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    sub = await subscribe(relay, f"{subscriber.url}/hook")
    rotated = (await relay.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=ADMIN)).json()
    shown = (await relay.get(f"/v1/subscriptions/{sub['id']}/secret", headers=ADMIN)).json()
    path = await callback_path(relay, "generic")
    await relay.post(path, json={"taskId": "r-1", "status": "completed"})

    await wait_for(lambda: len(subscriber.received) == 1, what="the delivery")
    received = subscriber.received[0]

    assert rotated["secret"] != sub["secret"] and rotated["previous_secret"] == sub["secret"]
    assert rotated["secret"].startswith("whsec_") and rotated["previous_secret_expires_at"].endswith("Z")
    assert shown == rotated
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    for secret in (sub["secret"], rotated["secret"]):
        assert standardwebhooks.Webhook(secret).verify(received.body, received.headers)["task_id"] == "r-1"


async def test_after_the_overlap_only_the_new_secret_signs(relay_factory: RelayFactory, subscriber: Subscriber) -> None:
    async with relay_factory(secret_overlap_s="0") as relay:
        sub = await subscribe(relay, f"{subscriber.url}/hook")
        rotated = (await relay.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=ADMIN)).json()
        await relay.post(await callback_path(relay, "generic"), json={"taskId": "r-2", "status": "completed"})
        await wait_for(lambda: len(subscriber.received) == 1, what="the delivery")

    received = subscriber.received[0]
    assert rotated["previous_secret"] is None
    assert len(received.headers["webhook-signature"].split(" ")) == 1
    assert standardwebhooks.Webhook(rotated["secret"]).verify(received.body, received.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(sub["secret"]).verify(received.body, received.headers)
