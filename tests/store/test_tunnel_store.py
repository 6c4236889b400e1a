"""TunnelStore against a real Redis: what appending records about a channel's use."""

from __future__ import annotations

import pytest
import redis.asyncio

from relay.store import keys
from relay.store.channels import Channel, ChannelFilter
from relay.store.tunnels import KNOWN_FOR_MS, TOUCH_EVERY_MS, TunnelStore

pytestmark = pytest.mark.anyio

NOW_MS = 1_700_000_000_000


async def test_appending_moves_a_channels_last_use_at_most_once_a_second(client: redis.asyncio.Redis) -> None:
    store = TunnelStore(client, max_events=100, max_bytes=1 << 20, max_age_s=3600, channel_ttl_s=86_400)
    channel = Channel.new(ChannelFilter(), "event", NOW_MS)
    await store.create(channel, NOW_MS)

    async def last_use_after_append(now_ms: int) -> float | None:
        await store.append(channel.name, [{"id": f"whk_{now_ms}", "body": b"{}"}], now_ms)
        return await client.zscore(keys.tunnels_used(), channel.name)

    first = await last_use_after_append(NOW_MS + 10)
    within = await last_use_after_append(NOW_MS + 10 + TOUCH_EVERY_MS - 1)
    later = await last_use_after_append(NOW_MS + 10 + TOUCH_EVERY_MS)
    earlier_clock = await last_use_after_append(NOW_MS + 5)  # another process's clock, or one set back

    assert first == NOW_MS + 10
    assert within == NOW_MS + 10  # no round trip for it
    assert later == NOW_MS + 10 + TOUCH_EVERY_MS
    assert earlier_clock == NOW_MS + 5
    assert len(await store.read(channel.name, "0", 10, 10)) == 4  # every entry was appended


def _store(client: redis.asyncio.Redis) -> TunnelStore:
    return TunnelStore(client, max_events=100, max_bytes=1 << 20, max_age_s=3600, channel_ttl_s=86_400)


async def test_a_channels_existence_is_remembered_for_a_second_and_forgotten_when_deleted_here(
    client: redis.asyncio.Redis,
) -> None:
    here, other = _store(client), _store(client)  # two processes' stores on one Redis
    channel, second = Channel.new(ChannelFilter(), "event", NOW_MS), Channel.new(ChannelFilter(), "event", NOW_MS)

    assert not await here.exists(channel.name, NOW_MS)
    await other.create(channel, NOW_MS)
    assert await here.exists(channel.name, NOW_MS + 1)  # a "no" is not remembered
    await other.delete(channel.name)
    assert await here.exists(channel.name, NOW_MS + KNOWN_FOR_MS)  # remembered: no round trip
    assert not await here.exists(channel.name, NOW_MS + 1 + KNOWN_FOR_MS)  # asked again

    await here.create(second, NOW_MS)
    assert await here.exists(second.name, NOW_MS)
    await here.delete(second.name)
    assert not await here.exists(second.name, NOW_MS + 1)  # deleted by this process: forgotten at once
