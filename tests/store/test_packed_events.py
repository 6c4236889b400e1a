"""Events packed into their stream entry (relay.store.packing): byte-exact, found by id, referenced by deliveries."""

from __future__ import annotations

import asyncio
import os
import threading

import orjson
import pytest
import redis.asyncio

from relay import ids
from relay.events import RequestInfo, build_event, parse_json
from relay.providers.base import TaskUpdate
from relay.store import keys, packing
from relay.store.deliveries import DeliveryStore
from relay.store.store import OFFLOAD_BYTES, Store

pytestmark = pytest.mark.anyio

NOW_S = 1_700_000_000.0


def event_of(body: bytes, task_id: str, now_s: float = NOW_S, state: str = "succeeded"):  # type: ignore[no-untyped-def]
    is_json, _ = parse_json(body)
    update = TaskUpdate(task_id=task_id, status=state, progress=None, outputs=(), error=None, step=None)  # type: ignore[arg-type]
    request = RequestInfo(
        "POST", "/hooks/generic/t", "a=1", [("content-type", "application/x-test")], "application/x-test"
    )
    return build_event(
        provider="generic",
        tag="t",
        update=update,
        body=body,
        is_json=is_json,
        request=request,
        now_s=now_s,
        partitions=4,
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"taskId": "j", "status": "done", "url": "https://example.com/a.png"}',
        os.urandom(3000),  # incompressible: stored framed, not compressed
        b"",
        b'{"logs": "' + b"step 1 of 2\\n" * (OFFLOAD_BYTES // 10) + b'"}',  # packed in a worker thread
    ],
    ids=["json", "binary", "empty", "large"],
)
async def test_the_raw_body_comes_back_byte_exact(client: redis.asyncio.Redis, body: bytes) -> None:
    store = Store(client, partitions=4, dedup_ttl_s=60, event_ttl_s=600)
    event = event_of(body, "exact")

    result = await store.accept(event, int(NOW_S * 1000))
    rendered = orjson.loads(await store.get_event(result.event_id) or b"null")

    assert rendered["id"] == result.event_id and rendered["task_id"] == "exact"
    if parse_json(body)[0]:
        assert orjson.dumps(rendered["raw"]) == orjson.dumps(orjson.loads(body))
        assert body in (await store.get_event(result.event_id) or b"")  # spliced verbatim
    else:
        assert rendered["raw"]["content_type"] == "application/x-test"
        import base64

        assert base64.b64decode(rendered["raw"]["body_base64"]) == body
    packed = packing.pack(event.meta, event.request, event.body_format, event.body)
    assert packing.unpack(packed) == (event.meta, event.body, event.body_format, event.request)


async def test_an_event_behind_the_streams_last_millisecond_takes_it_and_its_id_says_so(
    client: redis.asyncio.Redis,
) -> None:
    store = Store(client, partitions=4, dedup_ttl_s=60, event_ttl_s=600)
    later = event_of(b'{"n": 1}', "same-task", now_s=NOW_S + 5, state="processing")
    earlier = event_of(b'{"n": 2}', "same-task", now_s=NOW_S, state="succeeded")  # another process's slower clock

    first = await store.accept(later, int((NOW_S + 5) * 1000))
    second = await store.accept(earlier, int(NOW_S * 1000))

    assert first.event_id == later.id  # control: in order, the id is kept
    assert second.event_id != earlier.id and not second.duplicate
    assert ids.ms_of(second.event_id, ids.EVENT_PREFIX) == ids.ms_of(later.id, ids.EVENT_PREFIX)
    assert second.event_id[-18:] == earlier.id[-18:]  # same random part and partition
    assert ids.partition_of(second.event_id) == earlier.partition
    found = orjson.loads(await store.get_event(second.event_id) or b"null")
    assert found["id"] == second.event_id and found["raw"] == {"n": 2}
    assert await store.get_event(earlier.id) is None  # the proposed id was never stored
    # Retried, it is a duplicate of the stored one.
    again = await store.accept(event_of(b'{"n": 2}', "same-task", now_s=NOW_S + 6), int((NOW_S + 6) * 1000))
    assert again.duplicate and again.event_id == second.event_id
    task = [orjson.loads(e)["id"] for e in await store.task_events("generic", "same-task", int((NOW_S + 6) * 1000))]
    assert task == [first.event_id, second.event_id]


async def test_deliveries_reference_their_event_and_hold_no_copy(client: redis.asyncio.Redis) -> None:
    store = Store(client, partitions=4, dedup_ttl_s=60, event_ttl_s=600)
    deliveries = DeliveryStore(client, partitions=4, event_ttl_s=600)
    event = event_of(b'{"taskId": "d", "status": "done"}', "d")
    stored = await store.accept(event, int(NOW_S * 1000))

    created = await deliveries.create(
        event.partition,
        event_id=stored.event_id,
        provider="generic",
        event_type=event.type,
        task_id="d",
        subscription_ids=["sub_a", "sub_b", "sub_c"],
        now_ms=int(NOW_S * 1000),
    )
    assert created is not None and len(created) == 3
    for delivery_id in created:
        fields = await client.hgetall(keys.delivery(event.partition, delivery_id))
        assert fields[b"event_id"] == stored.event_id.encode() and b"body" not in fields
    loaded = await deliveries.load(created)
    rendered = await store.get_event(stored.event_id)
    assert [d.body for d in loaded if d is not None] == [rendered] * 3

    # A delivery whose event is gone has nothing to send (control above: the same load found it).
    await client.delete(keys.events_stream(event.partition))
    assert [d.body for d in await deliveries.load(created) if d is not None] == [None] * 3


async def test_large_bodies_are_packed_on_one_thread_of_their_own(client: redis.asyncio.Redis) -> None:
    store = Store(client, partitions=4, dedup_ttl_s=60, event_ttl_s=600)
    earlier = set(threading.enumerate())  # other tests' stores may still have theirs
    bodies = [b'{"logs": "' + f"run {n} step\\n".encode() * (OFFLOAD_BYTES // 8) + b'"}' for n in range(6)]

    try:
        results = await asyncio.gather(
            *(store.accept(event_of(body, f"large-{n}"), int(NOW_S * 1000)) for n, body in enumerate(bodies))
        )
        packers = [t for t in set(threading.enumerate()) - earlier if t.name.startswith("relay-pack")]
        stored = [await store.get_stored(result.event_id) for result in results]
    finally:
        store.close()

    # Six concurrent large callbacks, one packer thread (asyncio.to_thread would have used up to six).
    assert len(packers) == 1
    assert [event.body if event else None for event in stored] == bodies
    packers[0].join(timeout=5)
    assert not packers[0].is_alive()  # close() stops it
