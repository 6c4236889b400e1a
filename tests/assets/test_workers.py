"""Several workers share the copying (each file fetched once), downloads per host are bounded, and a Redis Cluster
works as well as a single server."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from relay.config import Settings
from tests.assets.conftest import fetch_asset, post_result, settled
from tests.assets.files import FileServer, generated
from tests.cluster import redis_cluster
from tests.conftest import app_client
from tests.servers import run_server

pytestmark = pytest.mark.anyio


async def test_two_workers_share_the_copies_each_file_fetched_once(
    assets_settings: Callable[..., Settings], files: FileServer
) -> None:
    datas = [generated(20_000, seed=100 + i) for i in range(12)]
    urls = [files.add(f"f{i}.png", data, "image/png") for i, data in enumerate(datas)]
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app_client(assets_settings()))
        await stack.enter_async_context(app_client(assets_settings()))  # a second worker on the same Redis
        event_ids = [await post_result(first, f"t-{i}", [url]) for i, url in enumerate(urls)]
        events = [await settled(first, event_id) for event_id in event_ids]

    assert [e["outputs"][0]["asset"]["sha256"] for e in events] == [hashlib.sha256(d).hexdigest() for d in datas]
    assert sorted(files.requests) == sorted(f"/files/f{i}.png" for i in range(12))  # once each, by either worker


class Gauge:
    """Counts downloads in progress and remembers the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def app(self, data: bytes) -> Starlette:
        async def slow(request: Request) -> Response:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)

            async def body() -> AsyncIterator[bytes]:
                try:
                    for at in range(0, len(data), 2048):
                        yield data[at : at + 2048]
                        await asyncio.sleep(0.02)
                finally:
                    with self.lock:
                        self.now -= 1

            return StreamingResponse(body(), headers={"Content-Length": str(len(data))})

        return Starlette(routes=[Route("/{name}", slow)])


@pytest.fixture
def gauge() -> Iterator[tuple[Gauge, str]]:
    found = Gauge()
    with run_server(found.app(generated(16 * 1024, seed=5))) as url:
        yield found, url


async def test_downloads_from_one_host_are_bounded(
    assets_settings: Callable[..., Settings], gauge: tuple[Gauge, str]
) -> None:
    meter, url = gauge
    async with app_client(assets_settings(assets_concurrency_per_host="2")) as relay:
        event_ids = [await post_result(relay, f"t-h{i}", [f"{url}/f{i}"]) for i in range(6)]
        events = [await settled(relay, event_id) for event_id in event_ids]

    assert all(e["assets"]["status"] == "complete" for e in events)
    assert meter.most == 2  # reached the bound, never past it


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as url:
        yield url


async def test_copies_on_a_redis_cluster(
    assets_settings: Callable[..., Settings], files: FileServer, cluster: str
) -> None:
    datas = [generated(10_000, seed=200 + i) for i in range(6)]
    urls = [files.add(f"c{i}.png", data, "image/png") for i, data in enumerate(datas)]
    # Eight partitions: the job streams live on different nodes and are read one by one.
    settings = assets_settings(redis_url=cluster, partitions="8")
    async with app_client(settings) as relay:
        event_ids = [await post_result(relay, f"t-c{i}", [url]) for i, url in enumerate(urls)]
        events = [await settled(relay, event_id) for event_id in event_ids]
        served = [await fetch_asset(relay, e["outputs"][0]["asset"]["url"]) for e in events]

    assert [answer.content for answer in served] == datas
