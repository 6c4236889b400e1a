"""Downloads bounded in size and time, retried when it can help, and guarded against SSRF like deliveries."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from relay.assets.download import CopyFailed, Downloader
from relay.delivery.targets import TargetGuard
from tests.assets.conftest import post_result, settled
from tests.assets.files import FileServer, file_app, generated

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def copy_state(relay: httpx.AsyncClient, url: str, task_id: str) -> dict[str, object]:
    event = await settled(relay, await post_result(relay, task_id, [url]))
    output: dict[str, object] = event["outputs"][0]
    return output


async def test_a_file_over_the_limit_is_refused_before_reading(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    async with relay_with_assets(assets_max_bytes="100000") as relay:
        announced = await copy_state(relay, f"{files.url}/claims/5000000000", "t-claims")
        # Positive control: a file under the limit, same relay.
        fits = await copy_state(relay, files.add("ok.bin", generated(90_000)), "t-fits")

    assert announced["asset_error"] == "announced 5000000000 bytes, over the limit of 100000"
    assert files.count("/claims/") == 1  # over the limit cannot get better: not retried
    assert "asset" in fits


async def test_a_server_streaming_past_the_limit_is_cut_off(relay_with_assets: RelayFactory, files: FileServer) -> None:
    async with relay_with_assets(assets_max_bytes="1000000") as relay:
        endless = await copy_state(relay, f"{files.url}/endless", "t-endless")

    assert endless["asset_error"] == "sent more than the limit of 1000000 bytes"
    assert files.count("/endless") == 1


async def test_a_server_sending_less_than_it_announced_is_retried_then_failed(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    async with relay_with_assets(assets_retry_schedule_s="0.01,0.01") as relay:
        short = await copy_state(relay, f"{files.url}/short", "t-short")

    assert str(short["asset_error"]).startswith("connection failed")
    assert files.count("/short") == 3  # the first try and two retries


async def test_a_slow_server_runs_out_of_time(
    relay_with_assets: RelayFactory, files: FileServer, tmp_path: Path
) -> None:
    files.add("slow.bin", generated(100 * 1024))
    async with relay_with_assets(assets_timeout_s="0.3", assets_retry_schedule_s="0.01") as relay:
        slow = await copy_state(relay, f"{files.url}/slow/slow.bin?pause=0.05", "t-slow")

    assert slow["asset_error"] == "not downloaded within 0.3 s"
    assert files.count("/slow/") == 2
    assert list((tmp_path / "data" / "assets" / "tmp").iterdir()) == []  # partial downloads are removed


async def test_server_errors_are_retried_until_the_schedule_ends(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    async with relay_with_assets(assets_retry_schedule_s="0.01,0.01,0.01") as relay:
        failing = await copy_state(relay, f"{files.url}/status/503", "t-503")

    assert failing["asset_error"] == "HTTP 503 from the provider"
    assert files.count("/status/503") == 4


async def test_a_private_address_is_never_connected(relay_with_assets: RelayFactory, files: FileServer) -> None:
    url = files.add("private.png", generated(1000), "image/png")  # on 127.0.0.1
    async with relay_with_assets(allow_private_targets="false") as relay:
        refused = await copy_state(relay, url, "t-private")

    assert str(refused["asset_error"]).startswith("refused: host '127.0.0.1' refused")
    assert files.requests == []


class PublicDNS:
    """``cdn.example`` is a public address; whatever connects there reaches the test's app in-process."""

    async def __call__(self, host: str) -> list[str]:
        if host != "cdn.example":
            raise OSError(f"no such host {host!r}")
        return ["93.184.216.34"]


async def test_a_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    server = FileServer(url="http://cdn.example")
    data = generated(5000, seed=9)
    server.add("fine.png", data, "image/png")
    # The app answers for the public address; the relay's guard and client code are the real ones.
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=file_app(server)))
    downloader = Downloader(
        http, TargetGuard(PublicDNS(), allow_private=False), tmp_path, max_bytes=1 << 20, timeout_s=5
    )
    async with http:
        # Positive control: the same public host serves a file, and a redirect to itself is followed.
        fine = await downloader.fetch("http://cdn.example/redirect?to=/files/fine.png")
        for target in ("http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x"):
            with pytest.raises(CopyFailed) as refused:
                await downloader.fetch(f"http://cdn.example/redirect?to={target}")
            assert refused.value.permanent
            assert refused.value.message.startswith("refused:")

    assert fine.path.read_bytes() == data and fine.sha256 == hashlib.sha256(data).hexdigest()
    assert server.requests == ["/redirect", "/files/fine.png", "/redirect", "/redirect", "/redirect"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [fine.path.name]  # refused downloads left nothing
