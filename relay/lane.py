"""A lane for expensive requests: one at a time, and busy for at most a share of the time.

A large callback costs milliseconds of the event loop (reading, JSON parsing) and of a second core (compression),
which every small callback on the same process shares. Taking them one at a time bounds how many run at once but
not how much of the machine a steady stream of them takes: back to back, eight senders of 1 MiB bodies kept the
process busy and tripled the acknowledgement time of the small callbacks that are most of the traffic. After each
turn the lane therefore rests in proportion to the turn's length, so large callbacks get at most ``share`` of the
wall time while others wait; a lone one is not delayed (the rest follows its answer). A turn's length is wall
time, which includes waiting for Redis; the rest is capped, so a turn that waited out a slow Redis does not keep
the next large callbacks waiting toward their senders' timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PacedLane:
    """``async with lane.turn():`` runs one caller at a time, and keeps the lane busy at most ``share`` of the time.

    :param share: the largest fraction of wall time the lane's turns may take, over several turns (0 < share ≤ 1).
    :param max_rest_s: the longest rest after a turn, however long the turn.
    """

    def __init__(self, share: float, max_rest_s: float = 1.0) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.share = share
        self.max_rest_s = max_rest_s
        self._free = asyncio.Semaphore(1)

    def locked(self) -> bool:
        """Whether a turn is running or the lane is resting after one."""
        return self._free.locked()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self._free.acquire()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        finally:
            rest = min((loop.time() - started) * (1 / self.share - 1), self.max_rest_s)
            # Released by the loop, not here: the caller goes on (answers its request) while the lane rests.
            loop.call_later(rest, self._free.release)
