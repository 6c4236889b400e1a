"""Reading the relay's time-ordered indexes (sorted sets and streams) the two ways every record kind needs.

- Claiming: ``claim.lua`` leases the due members of a queue (deliveries' ``due``, tasks' ``polls``) to one caller.
- Paging: newest first through an index in batches, each batch filtered, until a page is full or
  :data:`SCAN_LIMIT` entries were read (a filter that matches little costs a bounded read, not the whole index);
  then the partitions' pages merged.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from relay.store.writer import ScriptWriter

Row = TypeVar("Row")
Item = TypeVar("Item")

SCAN_LIMIT = 20_000
"""Entries one partition's scan reads at most for one page."""


async def claim_due(claim: ScriptWriter, queue: str, now_ms: int, lease_end_ms: int, limit: int) -> list[str]:
    """Up to ``limit`` members of ``queue`` due by ``now_ms``, now leased to the caller: their score becomes
    ``lease_end_ms``, so nobody else claims them until then (``claim`` is ``load_script(redis, "claim")``)."""
    found: list[bytes] = await claim.call([queue], [now_ms, lease_end_ms, limit])
    return [raw.decode() for raw in found]


async def scan_newest(
    read: Callable[[str], Awaitable[Sequence[Row]]],
    below: Callable[[Row], str],
    keep: Callable[[Sequence[Row]], Awaitable[Iterable[Item | None]]],
    *,
    upper: str,
    limit: int,
) -> list[Item]:
    """The first ``limit`` kept items of one index, newest first, from ``upper`` down.

    ``read(upper)`` is the next batch of rows at or below a bound (newest first, empty at the end); ``below(row)``
    the exclusive bound that follows a row; ``keep(rows)`` the batch's items, None for a row filtered out.
    """
    found: list[Item] = []
    scanned = 0
    while len(found) < limit and scanned < SCAN_LIMIT:
        rows = await read(upper)
        if not rows:
            break
        for item in await keep(rows):
            if item is not None:
                found.append(item)
                if len(found) == limit:
                    break
        scanned += len(rows)
        upper = below(rows[-1])
    return found


def merge_newest(pages: Iterable[list[Item]], key: Callable[[Item], Any], limit: int) -> list[Item]:
    """The newest ``limit`` items of the partitions' pages (each newest first)."""
    return list(heapq.merge(*pages, key=key, reverse=True))[:limit]
