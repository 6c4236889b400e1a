"""Subscribers choose: the event as soon as it is stored, or once its files are copied (bounded wait)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from starlette.responses import Response

from tests.assets.conftest import fetch_asset, post_result, settled
from tests.assets.files import FileServer, generated
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Received, Subscriber, serve_subscriber, wait_for

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


def bodies(subscriber: Subscriber, path: str) -> list[dict[str, object]]:
    return [json.loads(received.body) for received in subscriber.at(path)]


async def test_waiting_subscribers_get_the_copies_others_get_the_event_at_once(
    relay_with_assets: RelayFactory, files: FileServer, subscriber: Subscriber
) -> None:
    data = generated(30 * 1024, seed=7)
    files.add("w.png", data, "image/png")
    url = f"{files.url}/slow/w.png?pause=0.02"  # about 0.6 s to copy
    async with relay_with_assets() as relay:
        sub = await subscribe(relay, f"{subscriber.url}/waits", wait_for_assets=True)
        await subscribe(relay, f"{subscriber.url}/now")
        event_id = await post_result(relay, "t-wait", [url])
        await wait_for(lambda: subscriber.at("/now"), what="the immediate delivery")
        immediate = bodies(subscriber, "/now")[0]
        waited_so_far = len(subscriber.at("/waits"))
        await wait_for(lambda: subscriber.at("/waits"), what="the waiting delivery")
        waited = bodies(subscriber, "/waits")[0]
        served = await fetch_asset(relay, waited["outputs"][0]["asset"]["url"])  # type: ignore[index]

    assert sub["wait_for_assets"] is True
    assert immediate["id"] == event_id and waited["id"] == event_id
    assert immediate.get("assets", {"status": "pending"})["status"] == "pending"  # type: ignore[index]
    assert waited_so_far == 0  # still copying when the immediate one arrived
    assert waited["assets"] == {"status": "complete", "copied": 1, "failed": 0, "total": 1}
    assert served.content == data


async def test_the_wait_is_bounded_and_the_event_goes_out_marked(
    relay_with_assets: RelayFactory, files: FileServer, subscriber: Subscriber
) -> None:
    fast = files.add("fast.png", generated(2000, seed=1), "image/png")
    files.add("crawl.bin", generated(200 * 1024, seed=2))
    crawl = f"{files.url}/slow/crawl.bin?pause=0.05"  # 10 s to copy: longer than the wait
    async with relay_with_assets(assets_wait_s="0.5") as relay:
        await subscribe(relay, f"{subscriber.url}/waits", wait_for_assets=True)
        event_id = await post_result(relay, "t-bounded", [fast, crawl])
        await wait_for(lambda: subscriber.at("/waits"), timeout_s=5, what="the delivery after the wait")
        delivered = bodies(subscriber, "/waits")[0]

    assert delivered["id"] == event_id
    assert delivered["assets"] == {"status": "pending", "copied": 1, "failed": 0, "total": 2}
    outputs = delivered["outputs"]
    assert isinstance(outputs, list)
    assert "asset" in outputs[0] and "asset" not in outputs[1]


async def test_a_retry_carries_the_copies_made_since_the_first_attempt(
    relay_with_assets: RelayFactory, files: FileServer, subscriber: Subscriber
) -> None:
    files.add("later.png", generated(8 * 1024, seed=3), "image/png")
    url = f"{files.url}/slow/later.png?pause=0.05"  # 0.4 s: copied between the first attempt and the retry
    answers = iter([500])

    async def fail_once(received: Received, count: int) -> Response:
        return Response(status_code=next(answers, 200))

    subscriber.respond = fail_once
    async with relay_with_assets(retry_schedule_s="0,0.8") as relay:
        await subscribe(relay, f"{subscriber.url}/down")
        event_id = await post_result(relay, "t-retry", [url])
        await settled(relay, event_id)
        await wait_for(lambda: len(subscriber.at("/down")) == 2, what="the retry")
        first, second = bodies(subscriber, "/down")

    assert first.get("assets", {"status": "pending"})["status"] == "pending"  # type: ignore[index]
    assert second["assets"]["status"] == "complete"  # type: ignore[index]
