"""A byte budget: how much memory the uploads of one worker may hold at once, whatever the files' sizes.

Uploads to object storage buffer in memory (a small file whole, a large one a few multipart parts); each upload
reserves what it will hold before starting and waits, in arrival order, until the budget has room.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class ByteBudget:
    """At most ``limit`` bytes reserved at once; a reservation larger than ``limit`` is cut to it (it runs alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @contextlib.asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        amount = max(0, min(amount, self.limit))
        if self._waiters or self.reserved + amount > self.limit:
            # First come, first served: a large upload is not starved by a stream of small ones.
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((amount, waiter))
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release(amount)  # granted just as it was cancelled: give it back
                else:
                    self._waiters.remove((amount, waiter))
                    self._grant()
                raise
        else:
            self.reserved += amount
        try:
            yield
        finally:
            self._release(amount)

    def _release(self, amount: int) -> None:
        self.reserved -= amount
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.reserved + self._waiters[0][0] <= self.limit:
            amount, waiter = self._waiters.popleft()
            self.reserved += amount
            waiter.set_result(None)
