"""The channel's position survives a stop that lands while a position update is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from relay.config import Settings
from tests.tunnel.conftest import Target
from tests.tunnel.test_resume import channel_of, names, post, relay, started, until

pytestmark = pytest.mark.anyio


async def test_a_stop_during_a_position_update_still_saves_the_position(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            async with started(http, base, target, state, ack_interval_s=3600) as (client, _):
                channel = channel_of(client)
                await post(http, base, channel, "a", "b")
                await until(lambda: len(target.received) == 2, "both forwarded")
                # Ctrl-C while an update is on its way: the request is cut, the stop's flush must still send it.
                in_flight = asyncio.create_task(client.ack())
                await asyncio.sleep(0)
                in_flight.cancel()
                await asyncio.gather(in_flight, return_exceptions=True)
            # The next run resumes at the relay's position: only what came after is forwarded (the control "c").
            async with started(http, base, target, state):
                await post(http, base, channel, "c")
                await until(lambda: len(target.received) >= 3, "the event sent after the stop")
                await asyncio.sleep(0.3)  # time for a wrongly resent "a" or "b" to arrive too
    assert names(target) == ["a", "b", "c"]
