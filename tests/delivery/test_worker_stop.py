"""Stopping a worker is bounded by its own reads, even when redis-py swallows the cancel of a blocked read.

Seen as teardowns that stalled for ``shutdown_grace_s + 5`` s: a cancel that lands inside a blocked ``XREADGROUP``
can be swallowed by redis-py, and ingest then read on until the caller's deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from relay.config import Settings
from relay.delivery.targets import TargetGuard
from relay.delivery.worker import delivery_worker
from relay.store.connect import open_redis

pytestmark = pytest.mark.anyio


async def test_ingest_ends_on_stop_without_being_cancelled(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(store_timeout_s="1")
    client = open_redis(settings)
    try:
        async with delivery_worker(client, settings, TargetGuard(allow_private=True)) as worker:
            await worker.deliveries.ensure_groups()
            task = asyncio.create_task(worker.ingest.run())
            await asyncio.sleep(0.3)
            assert not task.done()  # positive control: it reads on (blocked reads of at most block_ms) until told
            started = time.monotonic()
            worker.ingest.stop()  # no cancel at all: as if redis-py had swallowed it
            await asyncio.wait_for(task, timeout=worker.ingest.block_ms / 1000 + 2)
            assert time.monotonic() - started < worker.ingest.block_ms / 1000 + 2
    finally:
        await client.aclose(close_connection_pool=True)
