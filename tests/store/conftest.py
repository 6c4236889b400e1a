"""The store tests talk to the suite's real Redis through one asyncio client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """Overrides the suite's HTTP ``client``: these tests call the store, not the app."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()
