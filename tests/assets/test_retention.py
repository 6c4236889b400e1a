"""Copies live as long as their events (or RELAY_ASSETS_TTL_S), then are deleted from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from relay.assets.copier import Copier
from relay.assets.download import Downloader, download_client
from relay.assets.service import Assets
from relay.config import Settings
from relay.delivery.targets import TargetGuard
from relay.store import keys
from relay.store.assets import AssetStore
from tests.assets.conftest import post_result, settled
from tests.assets.files import FileServer, generated
from tests.conftest import app_client

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


async def test_expired_copies_are_deleted_and_live_ones_kept(
    assets_settings: Callable[..., Settings], files: FileServer, tmp_path: Path, redis_url: str
) -> None:
    clock = Clock()
    data = generated(10_000, seed=21)
    url = files.add("old.png", data, "image/png")
    settings = assets_settings(assets_ttl_s="60", assets_lease_s="0.5")
    sync = redis.Redis.from_url(redis_url)
    async with app_client(settings, clock=clock) as relay:
        event = await settled(relay, await post_result(relay, "t-old", [url]))
        sha = event["outputs"][0]["asset"]["sha256"]
        stored = tmp_path / "data" / "assets" / "sha256" / sha[:2] / sha
        assert stored.read_bytes() == data

        clock.offset_s = 30  # within the 60 s: kept through sweeps
        sync.delete(keys.asset_sweep())
        for _ in range(200):
            if sync.exists(keys.asset_sweep()):
                break
            await asyncio.sleep(0.02)
        swept_while_alive = bool(sync.exists(keys.asset_sweep()))
        kept = stored.exists()

        clock.offset_s = 120  # past it: deleted at the next sweep
        for _ in range(200):
            if not stored.exists():
                break
            await asyncio.sleep(0.02)
    remembered = sync.zscore(keys.asset_expiry(), sha)
    sync.close()

    assert swept_while_alive and kept
    assert not stored.exists()
    assert remembered is None


async def test_bytes_deleted_while_a_new_event_copies_them_are_stored_again(
    assets_settings: Callable[..., Settings], files: FileServer, redis_url: str
) -> None:
    """The race: the sweep has forgotten an expired file and is about to delete it when a new event's copy of the
    very same bytes is finalized. The copy must not count on the file being deleted under it."""
    data = generated(10_000, seed=22)
    url = files.add("again.png", data, "image/png")
    settings = assets_settings()
    client = aioredis.Redis.from_url(redis_url)
    assets = Assets(client, settings)
    http = download_client(5, 4)
    downloader = Downloader(http, TargetGuard(allow_private=True), assets.backend.temp_dir, max_bytes=1 << 20,
                            timeout_s=5)  # fmt: skip
    copier = Copier(assets, downloader, token="race")
    now_ms = int(time.time() * 1000)
    try:
        first = await copier.copy_one(url, now_ms - 1000, 0, "evt-old")  # its event already expired
        stored = assets.backend.local_path(first["sha256"])
        assert stored is not None and stored.read_bytes() == data

        # The sweep's steps, stopped between deciding to delete and deleting.
        [(sha, score)] = await assets.store.expired(now_ms, 10)
        until_ms = now_ms + 60_000
        assert await assets.store.forget(sha, score, until_ms)
        copying = asyncio.create_task(copier.copy_one(url, now_ms + 3_600_000, 0, "evt-new"))
        await asyncio.sleep(0.5)
        waited = not copying.done()
        await assets.backend.delete(sha)
        await assets.store.deleted(sha, until_ms)
        async with asyncio.timeout(10):
            second = await copying
        expiry = await client.zscore(keys.asset_expiry(), sha)
    finally:
        await http.aclose()
        await client.aclose()

    assert second["state"] == "copied" and second["sha256"] == sha
    assert stored.exists() and stored.read_bytes() == data  # stored again after the deletion, not lost
    assert waited  # it did not finalize on top of the file about to go
    assert expiry == now_ms + 3_600_000  # kept for the new event
    assert sorted(files.requests) == ["/files/again.png", "/files/again.png"]


async def test_a_deletion_mark_left_by_a_dead_worker_lapses(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = AssetStore(client, partitions=1, event_ttl_s=60)
    sha, now = "ab" * 32, int(time.time() * 1000)
    try:
        assert await store.reference(sha, now - 1000, now)
        [(found, score)] = await store.expired(now, 10)
        assert (found, score) == (sha, now - 1000)
        assert await store.forget(sha, score, now + 500)  # this worker dies before deleting
        during = await store.expired(now, 10), await store.reference(sha, now + 10_000, now)
        later = now + 1000
        after = await store.expired(later, 10)
        referenced = await store.reference(sha, later + 10_000, later)
        remains = await client.zscore(keys.asset_expiry(), sha)
    finally:
        await client.aclose()

    assert during == ([], False)  # while the mark holds: nobody else deletes it, nobody references it
    assert after == [(sha, -(now + 500))]  # lapsed: found again by the next sweep
    assert referenced and remains == later + 10_000  # or referenced again, and then kept
