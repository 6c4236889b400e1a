"""``GET /metrics`` after real traffic: callbacks by outcome, ack latency, attempts, dead deliveries, backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.responses import Response

from relay import metrics
from relay.config import Settings
from tests.conftest import ADMIN, app_client, callback_path
from tests.delivery.conftest import FAST, subscribe
from tests.delivery.subscriber import Received, Subscriber, ok, serve_subscriber, wait_for

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] = ADMIN) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_callbacks_and_deliveries(
    make_settings: Callable[..., Settings], subscriber: Subscriber
) -> None:
    async def respond(received: Received, count: int) -> Response:
        return Response("no", status_code=500) if received.path == "/broken" else Response("ok")

    subscriber.respond = respond
    settings = make_settings(**FAST, metrics_token="scrape-me")
    async with app_client(settings) as relay:
        before = await scrape(relay)
        await subscribe(relay, f"{subscriber.url}/ok")
        await subscribe(relay, f"{subscriber.url}/broken", filter={"types": ["task.succeeded"]})
        generic = await callback_path(relay, "generic")
        statuses = [
            (await relay.post(generic, json={"taskId": "m-1", "status": "completed"})).status_code,
            (await relay.post(generic, json={"taskId": "m-1", "status": "completed"})).status_code,
            (await relay.post(generic, content=b"not json at all")).status_code,
            (await relay.post(generic + "x", json={"taskId": "m-2"})).status_code,
            (await relay.post("/hooks/nope/abc", json={})).status_code,
        ]
        # /ok gets both events; /broken the succeeded one, 4 times (the FAST schedule), then it is dead.
        await wait_for(lambda: len(subscriber.at("/ok")) == 2 and len(subscriber.at("/broken")) == 4, what="attempts")
        for _ in range(40):
            after = await scrape(relay, {"Authorization": "Bearer scrape-me"})
            if delta(after, before, "relay_deliveries_dead_total") == 1:
                break
            await asyncio.sleep(0.05)
        anonymous = await relay.get("/metrics")
        wrong = await relay.get("/metrics", headers={"Authorization": "Bearer nope"})
        metrics_token_elsewhere = await relay.get("/v1/events", headers={"Authorization": "Bearer scrape-me"})

    assert statuses == [200, 200, 200, 401, 404]
    assert delta(after, before, "relay_callbacks_total", provider="generic", outcome="stored") == 1
    assert delta(after, before, "relay_callbacks_total", provider="generic", outcome="duplicate") == 1
    assert delta(after, before, "relay_callbacks_total", provider="generic", outcome="unrecognized") == 1
    assert delta(after, before, "relay_callbacks_total", provider="generic", outcome="rejected") == 1
    assert delta(after, before, "relay_callbacks_total", provider="unknown", outcome="rejected") == 1
    assert delta(after, before, "relay_callback_ack_seconds_count", provider="generic") == 3
    assert delta(after, before, "relay_callback_ack_seconds_bucket", provider="generic", le="+Inf") == 3
    assert delta(after, before, "relay_delivery_attempts_total", outcome="succeeded", status="succeeded") == 2
    assert delta(after, before, "relay_delivery_attempts_total", outcome="http_error", status="failed") == 3
    assert delta(after, before, "relay_delivery_attempts_total", outcome="http_error", status="dead") == 1
    assert delta(after, before, "relay_delivery_attempt_seconds_count") == 6
    assert delta(after, before, "relay_delivery_lag_seconds_count") == 2
    assert delta(after, before, "relay_deliveries_dead_total") == 1
    assert after[("relay_redis_up", ())] == 1
    assert after[("relay_deliveries_scheduled", ())] == 0
    assert ("process_cpu_seconds_total", ()) in after
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert metrics_token_elsewhere.status_code == 401  # the metrics token reads /metrics and nothing else


async def test_backlog_gauges_come_from_redis(make_settings: Callable[..., Settings], subscriber: Subscriber) -> None:
    async def respond(received: Received, count: int) -> Response:
        await subscriber.hold()
        return Response("ok")

    subscriber.respond = respond
    # One attempt at a time: while the subscriber holds the first, the others wait, due and unclaimed.
    settings = make_settings(**{**FAST, "delivery_timeout_s": "3", "delivery_lease_s": "5"}, delivery_concurrency="1")
    async with app_client(settings) as relay:
        await subscribe(relay, f"{subscriber.url}/slow")
        generic = await callback_path(relay, "generic")
        for n in range(3):
            await relay.post(generic, json={"taskId": f"b-{n}", "status": "completed"})
        await wait_for(lambda: len(subscriber.received) == 1, what="the first attempt")
        await asyncio.sleep(0.1)
        before_connect = (await scrape(relay))[("relay_tunnel_clients_connected", ())]
        metrics.tunnel_client_connected()
        try:
            busy = await scrape(relay)
        finally:
            metrics.tunnel_client_disconnected()
        subscriber.release_all()
        subscriber.respond = ok
        await wait_for(lambda: len(subscriber.received) == 3, what="every delivery")
        for _ in range(40):
            idle = await scrape(relay)
            if idle[("relay_deliveries_scheduled", ())] == 0:
                break
            await asyncio.sleep(0.05)

    # Two wait behind the held attempt; the dispatcher may already hold one of them claimed (parked under its lease
    # until the subscription has a free slot), and a claimed delivery is scheduled but no longer due.
    assert busy[("relay_deliveries_due", ())] in (1, 2)
    assert busy[("relay_deliveries_scheduled", ())] == 3
    assert 0.1 <= busy[("relay_deliveries_oldest_due_age_seconds", ())] < 5
    # A process-wide gauge that other tests' servers also move: compare with the value just before connecting.
    assert busy[("relay_tunnel_clients_connected", ())] == before_connect + 1
    assert idle[("relay_deliveries_due", ())] == 0
    assert idle[("relay_deliveries_scheduled", ())] == 0
    assert idle[("relay_deliveries_oldest_due_age_seconds", ())] == 0
