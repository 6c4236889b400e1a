"""Retries, Retry-After, 410, exhaustion and manual retry, on the compressed schedule (see conftest.FAST)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from starlette.responses import Response

from tests.conftest import ADMIN, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Received, Subscriber, wait_for

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def send(client: httpx.AsyncClient, task_id: str = "t-1", status: str = "completed", **extra: object) -> str:
    path = await callback_path(client, "generic")
    ack = (await client.post(path, json={"taskId": task_id, "status": status, **extra})).json()
    return str(ack["event_id"])


async def only_delivery(client: httpx.AsyncClient, event_id: str) -> dict[str, object]:
    deliveries = (await client.get(f"/v1/events/{event_id}", headers=ADMIN)).json()["deliveries"]
    assert len(deliveries) == 1
    found = await client.get(f"/v1/deliveries/{deliveries[0]['id']}", headers=ADMIN)
    result: dict[str, object] = found.json()
    return result


async def test_a_subscriber_failing_twice_gets_the_event_on_the_third_attempt(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    async def flaky(received: Received, count: int) -> Response:
        return Response("down", status_code=503) if count <= 2 else Response("ok")

    subscriber.respond = flaky
    sub = await subscribe(relay, f"{subscriber.url}/flaky")
    event_id = await send(relay)

    await wait_for(lambda: len(subscriber.received) == 3, what="three attempts")
    await asyncio.sleep(0.1)  # room for a (wrong) fourth attempt
    delivery = await only_delivery(relay, event_id)

    assert len(subscriber.received) == 3
    assert {r.msg_id for r in subscriber.received} == {event_id}  # the same webhook-id on every retry
    assert all(event["id"] == event_id for event in subscriber.verified(sub["secret"]))
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    records = delivery["attempts"]
    assert [(r["outcome"], r["status_code"], r["response"]) for r in records] == [
        ("http_error", 503, "down"),
        ("http_error", 503, "down"),
        ("succeeded", 200, "ok"),
    ]
    assert all(r["latency_ms"] >= 0 and r["at"].endswith("Z") for r in records)


async def test_retry_after_is_honoured(relay: httpx.AsyncClient, subscriber: Subscriber) -> None:
    async def busy(received: Received, count: int) -> Response:
        if count == 1:
            return Response("slow down", status_code=503, headers={"retry-after": "1"})
        return Response("ok")

    subscriber.respond = busy
    await subscribe(relay, f"{subscriber.url}/busy")
    await send(relay)

    await wait_for(lambda: len(subscriber.received) == 2, timeout_s=5, what="the retry")

    gap = subscriber.received[1].at - subscriber.received[0].at
    assert 0.95 <= gap < 2.0  # the schedule alone would have retried after 0.05 s


async def test_a_429_waits_at_least_the_throttle_floor(relay: httpx.AsyncClient, subscriber: Subscriber) -> None:
    async def throttled(received: Received, count: int) -> Response:
        return Response("too many", status_code=429) if count == 1 else Response("ok")

    subscriber.respond = throttled
    await subscribe(relay, f"{subscriber.url}/throttled")
    await send(relay)

    await wait_for(lambda: len(subscriber.received) == 2, what="the retry")

    assert subscriber.received[1].at - subscriber.received[0].at >= 0.28  # RELAY_RETRY_MIN_AFTER_THROTTLE_S=0.3


async def test_410_gone_disables_the_subscription(relay: httpx.AsyncClient, subscriber: Subscriber) -> None:
    async def gone(received: Received, count: int) -> Response:
        return Response("gone", status_code=410)

    subscriber.respond = gone
    sub = await subscribe(relay, f"{subscriber.url}/gone")
    first = await send(relay, "a")

    await wait_for(lambda: len(subscriber.received) == 1, what="the attempt")
    await asyncio.sleep(0.15)
    second = await send(relay, "b")
    await asyncio.sleep(0.15)
    state = (await relay.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).json()

    assert len(subscriber.received) == 1
    assert (await only_delivery(relay, first))["status"] == "dead"
    assert state["enabled"] is False and "410" in state["disabled_reason"]
    assert (await relay.get(f"/v1/events/{second}", headers=ADMIN)).json()["deliveries"] == []


async def test_exhausted_delivery_is_dead_then_a_manual_retry_succeeds(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    healthy = asyncio.Event()

    async def broken(received: Received, count: int) -> Response:
        return Response("ok") if healthy.is_set() else Response("boom", status_code=500)

    subscriber.respond = broken
    sub = await subscribe(relay, f"{subscriber.url}/broken")
    event_id = await send(relay)

    await wait_for(lambda: len(subscriber.received) == 4, what="four attempts")  # the schedule has four steps
    delivery = await only_delivery(relay, event_id)
    dead = (await relay.get("/v1/deliveries", params={"status": "dead"}, headers=ADMIN)).json()["data"]
    healthy.set()
    retried = await relay.post(f"/v1/deliveries/{delivery['id']}/retry", headers=ADMIN)
    await wait_for(lambda: len(subscriber.received) == 5, what="the manual retry")
    await asyncio.sleep(0.05)
    after = await only_delivery(relay, event_id)

    assert delivery["status"] == "dead" and delivery["attempt_count"] == 4
    assert [d["id"] for d in dead] == [delivery["id"]]
    assert retried.status_code == 202
    assert after["status"] == "succeeded" and after["attempt_count"] == 5
    assert {event["id"] for event in subscriber.verified(sub["secret"])} == {event_id}


async def test_redirects_are_not_followed(relay: httpx.AsyncClient, subscriber: Subscriber) -> None:
    async def redirect(received: Received, count: int) -> Response:
        if received.path == "/moved":
            return Response(status_code=307, headers={"location": f"{subscriber.url}/target"})
        return Response("ok")

    subscriber.respond = redirect
    await subscribe(relay, f"{subscriber.url}/moved")
    event_id = await send(relay)

    await wait_for(lambda: len(subscriber.received) == 4, what="four attempts")
    await asyncio.sleep(0.05)

    assert subscriber.at("/target") == []
    records = (await only_delivery(relay, event_id))["attempts"]
    assert {r["outcome"] for r in records} == {"redirected"}


async def test_a_hanging_subscriber_times_out_and_only_4kb_of_an_answer_is_kept(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    async def answer(received: Received, count: int) -> Response:
        if count == 1:
            await subscriber.hold()  # the worker gives up after 0.3 s
        return Response("x" * 10_000)

    subscriber.respond = answer
    async with relay_factory(delivery_timeout_s="0.3", retry_min_after_throttle_s="0.05") as relay:
        await subscribe(relay, f"{subscriber.url}/hang")
        event_id = await send(relay)
        await wait_for(lambda: len(subscriber.received) == 2, what="the retry after the timeout")
        await asyncio.sleep(0.05)
        records = (await only_delivery(relay, event_id))["attempts"]

    assert [r["outcome"] for r in records] == ["timeout", "succeeded"]
    assert 250 <= records[0]["latency_ms"] < 1000
    assert len(records[1]["response"]) == 4096


async def test_a_subscription_failing_continuously_is_disabled(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    async def broken(received: Received, count: int) -> Response:
        return Response("boom", status_code=500)

    subscriber.respond = broken
    async with relay_factory(subscription_disable_after_s="0", retry_schedule_s="0,0.05,0.05") as relay:
        sub = await subscribe(relay, f"{subscriber.url}/broken")
        await send(relay)
        await wait_for(lambda: len(subscriber.received) >= 2, what="two failures")
        await asyncio.sleep(0.1)
        state = (await relay.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).json()

    assert state["enabled"] is False
    assert state["disabled_reason"].startswith("failing continuously since")
    assert len(subscriber.received) == 2  # the third attempt found the subscription disabled


async def test_recover_resends_the_dead_deliveries_of_a_subscription(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    healthy = asyncio.Event()

    async def broken(received: Received, count: int) -> Response:
        return Response("ok") if healthy.is_set() else Response("boom", status_code=500)

    subscriber.respond = broken
    sub = await subscribe(relay, f"{subscriber.url}/broken")
    first, second = await send(relay, "a"), await send(relay, "b")
    await wait_for(lambda: len(subscriber.received) == 8, what="both deliveries to die")
    await asyncio.sleep(0.05)
    healthy.set()

    recovered = await relay.post(
        f"/v1/subscriptions/{sub['id']}/recover", params={"since": "2000-01-01T00:00:00Z"}, headers=ADMIN
    )
    await wait_for(lambda: len(subscriber.received) == 10, what="the recovered deliveries")
    await asyncio.sleep(0.05)

    assert recovered.json()["requeued"] == 2
    assert (await only_delivery(relay, first))["status"] == "succeeded"
    assert (await only_delivery(relay, second))["status"] == "succeeded"
