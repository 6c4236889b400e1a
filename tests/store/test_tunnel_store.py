"""TunnelStore against a real Redis: what appending records about a channel's use."""

from __future__ import annotations

import pytest
import redis.asyncio

from relay.store import keys
from relay.store.channels import Channel, ChannelFilter
from relay.store.tunnels import TOUCH_EVERY_MS, TunnelStore

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
