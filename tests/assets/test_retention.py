"""Copies live as long as their events (or RELAY_ASSETS_TTL_S), then are deleted from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from relay.config import Settings
from relay.store import keys
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
