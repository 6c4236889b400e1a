"""The tunnel router against a real Redis: while no channel exists it reads nothing, and a new channel gets what
is stored after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio

from relay.config import Settings
from relay.store import keys
from relay.store.channels import ROUTER_GROUP
from relay.store.tunnels import TunnelStore
from tests.conftest import ADMIN, app_client, callback_path

pytestmark = pytest.mark.anyio


async def _router_caught_up(client: redis.asyncio.Redis, partitions: int) -> bool:
    """Whether the router's group is past the newest entry of every events stream."""
    for partition in range(partitions):
        stream = keys.events_stream(partition)
        newest = (await client.xinfo_stream(stream))["last-generated-id"]
        groups = {group["name"]: group for group in await client.xinfo_groups(stream)}
        if groups[ROUTER_GROUP.encode()]["last-delivered-id"] != newest:
            return False
    return True


async def _reads(client: redis.asyncio.Redis) -> int:
    """XREADGROUP calls Redis has served since its statistics were reset."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_xreadgroup", {}).get("calls", 0))


async def test_without_channels_events_are_passed_unread_and_a_new_channel_gets_the_next(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    settings = make_settings(tunnel_router="true")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with app_client(settings) as relay:
            path = await callback_path(relay, "generic")
            await asyncio.sleep(0.2)  # past the router's start-up read of its own pending entries
            await client.config_resetstat()
            for n in range(20):
                response = await relay.post(path, json={"taskId": f"before-{n}", "status": "completed"})
                assert response.status_code == 200
            for _ in range(100):
                if await _router_caught_up(client, settings.partitions):
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the router's group never moved past the stored events")
            reads_without_channels = await _reads(client)

            channel = (await relay.post("/v1/tunnels", json={}, headers=ADMIN)).json()["channel"]
            after = (await relay.post(path, json={"taskId": "after", "status": "completed"})).json()["event_id"]
            buffers = TunnelStore(client, max_events=100, max_bytes=1 << 20, max_age_s=60, channel_ttl_s=60)
            for _ in range(40):  # each read waits up to 50 ms for an entry
                if await buffers.read(channel, "0", 100, 50):
                    break
            await asyncio.sleep(0.2)  # anything else the router would route arrives by now
            routed = await buffers.read(channel, "0", 100, 50)
            reads_with_a_channel = await _reads(client)
    finally:
        await client.aclose()

    assert reads_without_channels == 0
    # The positive control: the same count sees the router's reads once a channel exists.
    assert reads_with_a_channel > 0
    # Only what was stored after the channel existed is in its buffer.
    assert [fields[b"id"].decode() for _, fields in routed] == [after]
