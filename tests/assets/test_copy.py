"""Copies end to end on the local backend: callback -> worker copies -> event shows them -> links serve the bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import orjson
import pytest

from tests.assets.conftest import event_of, fetch_asset, post_result, settled
from tests.assets.files import FileServer, generated
from tests.conftest import ADMIN, callback_path

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "assets" / "sha256").rglob("*") if p.is_file())


async def test_outputs_are_copied_and_served_byte_for_byte(
    relay_with_assets: RelayFactory, files: FileServer, tmp_path: Path
) -> None:
    image = generated(300_000, seed=1)
    video = generated(3_000_000, seed=2)
    urls = [files.add("cat.png", image, "image/png"), files.add("clip.mp4", video, "video/mp4")]
    async with relay_with_assets() as relay:
        path = await callback_path(relay, "generic")
        raw = orjson.dumps({"taskId": "t-1", "status": "completed", "result": {"outputs": urls}})
        ack = await relay.post(path, content=raw, headers={"Content-Type": "application/json"})
        event = await settled(relay, ack.json()["event_id"])
        served = [await fetch_asset(relay, output["asset"]["url"]) for output in event["outputs"]]

    assert event["assets"] == {"status": "complete", "copied": 2, "failed": 0, "total": 2}
    assert [o["url"] for o in event["outputs"]] == urls  # the provider's URLs stay as they were
    for output, data, content_type, answer in zip(
        event["outputs"], [image, video], ["image/png", "video/mp4"], served, strict=True
    ):
        assert output["asset"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert output["asset"]["bytes"] == len(data)
        assert output["asset"]["content_type"] == content_type
        assert answer.status_code == 200
        assert answer.content == data
        assert answer.headers["content-type"] == content_type
    # The stored raw body stays byte-exact: the rendered event ends with the provider's bytes verbatim.
    assert event["raw"] == orjson.loads(raw)
    assert [p.read_bytes() for p in stored_files(tmp_path / "data")] == sorted(
        [image, video], key=lambda d: hashlib.sha256(d).hexdigest()
    )


async def test_the_same_bytes_are_stored_once(
    relay_with_assets: RelayFactory, files: FileServer, tmp_path: Path
) -> None:
    data = generated(50_000, seed=3)
    first, second = files.add("a.png", data, "image/png"), files.add("b.png", data, "image/png")
    async with relay_with_assets() as relay:
        one = await settled(relay, await post_result(relay, "t-a", [first]))
        two = await settled(relay, await post_result(relay, "t-b", [second]))

    assert one["outputs"][0]["asset"]["sha256"] == two["outputs"][0]["asset"]["sha256"]
    assert files.count("/files/a.png") == 1 and files.count("/files/b.png") == 1  # both downloaded...
    assert [p.read_bytes() for p in stored_files(tmp_path / "data")] == [data]  # ...stored once


async def test_a_failed_copy_is_recorded_and_the_retry_route_copies_it(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    late = generated(20_000, seed=4)
    url = f"{files.url}/files/late.png"  # not there yet: 404, which no retry can fix
    async with relay_with_assets() as relay:
        event_id = await post_result(relay, "t-late", [url])
        failed = await settled(relay, event_id)
        files.add("late.png", late, "image/png")
        retried = await relay.post(f"/v1/events/{event_id}/assets/retry", headers=ADMIN)
        copied = await settled(relay, event_id)
        served = await fetch_asset(relay, copied["outputs"][0]["asset"]["url"])

    assert failed["assets"] == {"status": "incomplete", "copied": 0, "failed": 1, "total": 1}
    assert failed["outputs"][0]["asset_error"] == "HTTP 404 from the provider"
    assert "asset" not in failed["outputs"][0]
    assert files.count("/files/late.png") == 2  # a 404 is not retried by the schedule; once more by the route
    assert retried.status_code == 202
    assert retried.json()["assets"]["status"] == "pending"
    assert copied["assets"]["status"] == "complete"
    assert served.content == late


async def test_the_ack_does_not_wait_for_the_copy(relay_with_assets: RelayFactory, files: FileServer) -> None:
    files.add("big.bin", generated(40 * 1024, seed=5))
    url = f"{files.url}/slow/big.bin?pause=0.05"  # about 2 s to download
    async with relay_with_assets() as relay:
        event_id = await post_result(relay, "t-slow", [url])
        right_after = await event_of(relay, event_id)
        done = await settled(relay, event_id)

    assert right_after.get("assets", {"status": "pending"})["status"] == "pending"
    assert done["assets"]["status"] == "complete"


async def test_events_without_outputs_or_with_copying_off_are_unchanged(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    url = files.add("k.png", generated(1000), "image/png")
    async with relay_with_assets(generic_assets="off") as relay:
        off = await post_result(relay, "t-off", [url])
        path = await callback_path(relay, "generic")
        no_outputs = (await relay.post(path, json={"taskId": "t-none", "status": "processing"})).json()["event_id"]
        # A positive control through the same worker: another provider's event with outputs is copied.
        control = await settled(relay, await post_result(relay, "t-on", [url], provider="kie"))
        events = [await event_of(relay, off), await event_of(relay, no_outputs)]

    assert control["assets"]["status"] == "complete"
    assert all("assets" not in event for event in events)
    assert files.count("/files/k.png") == 1


async def test_asset_links_are_signed(relay_with_assets: RelayFactory, files: FileServer) -> None:
    url = files.add("s.png", generated(1000), "image/png")
    async with relay_with_assets() as relay:
        event = await settled(relay, await post_result(relay, "t-s", [url]))
        link = httpx.URL(event["outputs"][0]["asset"]["url"]).raw_path.decode()
        good = await relay.get(link)
        tampered = await relay.get(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
        made_up = await relay.get("/assets/" + "0" * 64)

    assert good.status_code == 200
    assert tampered.status_code == 404 and tampered.json()["error"]["code"] == "invalid_asset_link"
    assert made_up.status_code == 404


async def test_a_providers_html_is_served_inert(relay_with_assets: RelayFactory, files: FileServer) -> None:
    page = b"<script>fetch('/dashboard')</script>"
    url = files.add("page.html", page, "text/html")
    async with relay_with_assets() as relay:
        event = await settled(relay, await post_result(relay, "t-html", [url]))
        served = await fetch_asset(relay, event["outputs"][0]["asset"]["url"])

    assert served.content == page
    assert "sandbox" in served.headers["content-security-policy"]
    assert "default-src 'none'" in served.headers["content-security-policy"]
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_a_compressed_transfer_is_stored_decoded(relay_with_assets: RelayFactory, files: FileServer) -> None:
    data = b"a very compressible line\n" * 4000
    files.add("log.txt", data, "text/plain")
    async with relay_with_assets() as relay:
        event = await settled(relay, await post_result(relay, "t-gzip", [f"{files.url}/gzip/log.txt"]))
        served = await fetch_asset(relay, event["outputs"][0]["asset"]["url"])

    assert event["outputs"][0]["asset"]["bytes"] == len(data)
    assert served.content == data
