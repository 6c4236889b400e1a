"""TunnelStore against a real Redis: what appending records about a channel's use."""

from __future__ import annotations

import asyncio
import time

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


async def _entry_ids(client: redis.asyncio.Redis, name: str) -> list[str]:
    return [entry_id.decode() for entry_id, _ in await client.xrange(keys.tunnel_buffer(name))]


async def test_the_buffer_keeps_the_newest_entries_within_its_count_and_remembers_its_first(
    client: redis.asyncio.Redis,
) -> None:
    store = TunnelStore(client, max_events=3, max_bytes=1 << 20, max_age_s=3600, channel_ttl_s=86_400)
    name = Channel.new(ChannelFilter(), "event", NOW_MS).name
    now_ms = int(time.time() * 1000)
    one_by_one = [(await store.append(name, [{"id": f"whk_{i}"}], now_ms))[0] for i in range(5)]
    together = await store.append(name, [{"id": f"whk_x{i}"} for i in range(2)], now_ms)

    assert await _entry_ids(client, name) == [one_by_one[4], *together]
    state = await store.state(name)
    assert state["oldest"] == one_by_one[4]
    assert state["dropped_id"] == one_by_one[3]
    assert state["added"] == "7"


async def test_entries_past_the_buffers_age_are_dropped_also_when_its_state_expired_first(
    client: redis.asyncio.Redis,
) -> None:
    """The age check reads the buffer's first id from the state; without a state it reads the buffer itself."""
    store = TunnelStore(client, max_events=100, max_bytes=1 << 20, max_age_s=2, channel_ttl_s=86_400)
    names = [Channel.new(ChannelFilter(), "event", NOW_MS).name for _ in range(2)]

    async def append_to_each(event_id: str) -> list[str]:
        return [(await store.append(name, [{"id": event_id}], int(time.time() * 1000)))[0] for name in names]

    old = await append_to_each("whk_old")
    await asyncio.sleep(1.2)
    middle = await append_to_each("whk_middle")  # within the age, and keeps the buffers from expiring
    await client.delete(keys.tunnel_state(names[1]))
    await asyncio.sleep(1.2)
    new = await append_to_each("whk_new")

    for i, name in enumerate(names):
        assert await _entry_ids(client, name) == [middle[i], new[i]]
        assert (await store.state(name))["dropped_id"] == old[i]
