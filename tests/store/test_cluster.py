"""The relay on a real 3-master Redis Cluster: ingest, dedup, reading back, subscriptions and deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from relay.config import Settings
from relay.store import keys
from relay.store.cluster import cluster_url
from relay.store.connect import open_redis
from relay.store.tunnels import TunnelStore
from tests.cluster import redis_cluster
from tests.conftest import ADMIN, app_client, callback_path
from tests.delivery.conftest import FAST, subscribe
from tests.delivery.subscriber import Subscriber, serve_subscriber, wait_for

pytestmark = pytest.mark.anyio

PARTITIONS = 8
TASKS = 12


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


def test_cluster_urls() -> None:
    assert cluster_url("redis+cluster://10.0.0.1:7000/0") == "redis://10.0.0.1:7000/0"
    assert cluster_url("rediss+cluster://u:p@h:7000") == "rediss://u:p@h:7000"
    assert cluster_url("redis://h:7000/0?cluster=true&socket_keepalive=1") == "redis://h:7000/0?socket_keepalive=1"
    assert cluster_url("redis://h:6379/0") is None
    assert cluster_url("unix:///tmp/redis.sock") is None


def _node_holding(cluster: str, key: str) -> int:
    seed = redis.RedisCluster.from_url(cluster_url(cluster) or "")
    try:
        return int(seed.get_node_from_key(key).port)
    finally:
        seed.close()


async def test_ingest_read_back_and_deliver_on_a_cluster(
    cluster: str, make_settings: Callable[..., Settings], subscriber: Subscriber, tmp_path: Path
) -> None:
    settings = make_settings(redis_url=cluster, partitions=str(PARTITIONS), **FAST)
    async with app_client(settings) as relay:
        assert (await relay.get("/readyz")).status_code == 200
        sub = await subscribe(relay, f"{subscriber.url}/hook")
        path = await callback_path(relay, "generic", tag="cl")
        acks = []
        for n in range(TASKS):
            for step in ({"status": "running", "progress": 40}, {"status": "completed"}):
                acks.append((await relay.post(path, json={"taskId": f"c-{n}", **step})).json())
        again = (await relay.post(path, json={"taskId": "c-0", "status": "completed"})).json()

        one = await relay.get(f"/v1/events/{acks[-1]['event_id']}", headers=ADMIN)
        listed = (await relay.get("/v1/events?limit=100&tag=cl", headers=ADMIN)).json()["data"]
        task = (await relay.get("/v1/tasks/generic/c-3", headers=ADMIN)).json()["data"]
        await wait_for(lambda: len(subscriber.received) >= 2 * TASKS, timeout_s=10, what="every delivery")
        patched = await relay.patch(
            f"/v1/subscriptions/{sub['id']}", json={"description": "on a cluster"}, headers=ADMIN
        )
        rotated = await relay.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=ADMIN)
        for _ in range(50):  # the last attempts may still be being recorded
            succeeded = (await relay.get("/v1/deliveries?status=succeeded&limit=100", headers=ADMIN)).json()["data"]
            if len(succeeded) == len(acks):
                break
            await asyncio.sleep(0.05)

    event_ids = [ack["event_id"] for ack in acks]
    assert all(ack["received"] and not ack["duplicate"] for ack in acks)
    assert again == {"received": True, "event_id": acks[1]["event_id"], "duplicate": True}
    assert one.status_code == 200 and one.json()["task_id"] == f"c-{TASKS - 1}"
    assert sorted(event["id"] for event in listed) == sorted(event_ids)
    assert [event["id"] for event in task] == [acks[6]["event_id"], acks[7]["event_id"]]
    delivered = subscriber.verified(sub["secret"])
    assert sorted({str(event["id"]) for event in delivered}) == sorted(event_ids)
    assert patched.status_code == 200 and rotated.status_code == 200
    assert len(succeeded) == len(event_ids)
    # The events really are spread over the cluster's nodes, not all in one slot.
    partitions = {int(event_id[-2:], 16) for event_id in event_ids}
    nodes = {_node_holding(cluster, keys.events_stream(p)) for p in partitions}
    assert len(partitions) > 2 and len(nodes) > 1


async def test_tunnel_router_on_a_cluster(cluster: str, make_settings: Callable[..., Settings]) -> None:
    """The router reads every partition's stream (one read per slot in a cluster) and routes each event once."""
    settings = make_settings(redis_url=cluster, partitions=str(PARTITIONS), tunnel_router="true")
    async with app_client(settings) as relay:
        channel = (await relay.post("/v1/tunnels", json={"filter": {"providers": ["generic"]}}, headers=ADMIN)).json()
        path = await callback_path(relay, "generic")
        acks = [(await relay.post(path, json={"taskId": f"t-{n}", "status": "completed"})).json() for n in range(TASKS)]
        buffers = TunnelStore(open_redis(settings), max_events=100, max_bytes=1 << 20, max_age_s=60, channel_ttl_s=60)
        try:
            for _ in range(100):  # each read waits up to 50 ms for an entry
                routed = await buffers.read(channel["channel"], "0", 100, 50)
                if len(routed) >= TASKS:
                    break
            await asyncio.sleep(0.3)  # a second copy of any event would be routed by now
            routed = await buffers.read(channel["channel"], "0", 100, 50)
        finally:
            await buffers.redis.aclose()

    partitions = {int(ack["event_id"][-2:], 16) for ack in acks}
    assert len(partitions) > 2  # the events really come from several slots
    assert sorted(fields[b"id"].decode() for _, fields in routed) == sorted(ack["event_id"] for ack in acks)
