"""Ingest: the events stream -> one delivery per matching subscription.

Per partition, one worker at a time (a short Redis lease, fenced in the script) reads the events stream through
the consumer group (``XREADGROUP BLOCK``: a new event wakes it at once) and turns a batch of entries into
deliveries, acknowledging them in the same script call. One reader per partition keeps creation in stream order,
which is what per-task order is built on; a worker taking over a partition first re-reads the entries its
predecessor never acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.exceptions import ResponseError

from relay import ids
from relay.delivery.schedule import error_backoff_s
from relay.logs import kv
from relay.store.connect import raise_if_cancelled
from relay.store.deliveries import DeliveryStore, NewDeliveries
from relay.store.store import Store
from relay.store.subscriptions import SubscriptionCache
from relay.tasks.notify import notify_subscription_id

logger = logging.getLogger(__name__)

INGEST_BATCH = 100
Entry = tuple[int, str, dict[bytes, bytes]]


class Ingest:
    """The ingest loop of one worker.

    :param token: this worker's lease token.
    :param lease_ms: the partition lease, renewed every loop.
    :param block_ms: the longest ``XREADGROUP`` wait.
    :param created: called after deliveries were created (wakes the dispatcher).
    """

    def __init__(
        self,
        *,
        events: Store,
        deliveries: DeliveryStore,
        subscriptions: SubscriptionCache,
        partitions: int,
        token: str,
        lease_ms: int,
        block_ms: int,
        created: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events = events
        self.deliveries = deliveries
        self.subscriptions = subscriptions
        self.partitions = partitions
        self.token = token
        self.lease_ms = lease_ms
        self.block_ms = block_ms
        self.created = created
        self.clock = clock
        self._stopping = False

    def stop(self) -> None:
        """End :meth:`run` after the current read (also ends it if a cancel was swallowed mid-command)."""
        self._stopping = True

    async def run(self) -> None:
        """Until cancelled: errors (Redis down, restarted or flushed) are logged and retried with backoff."""
        owned: set[int] = set()
        failures = 0
        while not self._stopping:
            raise_if_cancelled()
            try:
                held = {p for p in range(self.partitions) if await self._hold(p)}
                for partition in sorted(held - owned):
                    await self._pending(partition)
                owned = held
                if not owned:
                    await asyncio.sleep(self.lease_ms / 4000)
                    continue
                entries = await self.deliveries.read_events(
                    sorted(owned), pending=False, count=INGEST_BATCH, block_ms=self.block_ms
                )
                if not await self._fan_out(entries):
                    owned = set()
                failures = 0
            except Exception as exc:
                owned = set()
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # Redis lost its data (FLUSHALL, a restart without persistence): the group went with the stream.
                    logger.warning("events consumer group missing; recreating it")
                    with contextlib.suppress(Exception):
                        await self.deliveries.ensure_groups()
                        continue
                failures += 1
                delay = error_backoff_s(failures)
                logger.warning("ingest failed", extra=kv(failures=failures, retry_in_s=round(delay, 2), error=str(exc)))
                owned = set()
                await asyncio.sleep(delay)

    async def _hold(self, partition: int) -> bool:
        return await self.deliveries.hold_ingest(partition, self.token, self.lease_ms)

    async def _pending(self, partition: int) -> None:
        while True:
            entries = await self.deliveries.read_events([partition], pending=True, count=INGEST_BATCH, block_ms=None)
            if not entries or not await self._fan_out(entries):
                return

    async def _fan_out(self, entries: list[Entry]) -> bool:
        """Create the deliveries of each entry, in order; False when a partition's lease was lost meanwhile."""
        if not entries:
            return True
        await self.subscriptions.refresh()
        subscriptions = self.subscriptions.enabled
        planned: list[tuple[int, str, dict[str, str], list[str]]] = []
        for partition, entry_id, fields in entries:
            text = {name.decode(): value.decode() for name, value in fields.items() if name != b"e"}
            event_id = text.get("id", "")
            received_ms = ids.ms_of(event_id, ids.EVENT_PREFIX) if ids.partition_of(event_id) is not None else 0
            matching = [
                sub.id
                for sub in subscriptions
                # A subscription gets the events received after it was created, not the stream's history.
                if received_ms >= sub.created_ms
                and sub.matches(text.get("provider", ""), text.get("type", ""), text.get("tag", ""))
            ]
            if text.get("notify") == "1":
                # The task's one notification, claimed for this event when it was stored (accept.lua).
                matching.append(notify_subscription_id(text.get("provider", ""), text.get("task_id", "")))
            planned.append((partition, entry_id, text, matching))
        by_partition: dict[int, list[NewDeliveries]] = {}
        for partition, entry_id, text, matching in planned:
            # A delivery names its event; the worker reads the event when it sends it.
            by_partition.setdefault(partition, []).append(
                NewDeliveries(
                    event_id=text.get("id", ""),
                    provider=text.get("provider", ""),
                    type=text.get("type", ""),
                    task_id=text.get("task_id", ""),
                    subscription_ids=matching,
                    entry_id=entry_id,
                )
            )
        kept = True
        now_ms = int(self.clock() * 1000)
        for partition, events in by_partition.items():
            created = await self.deliveries.create_many(partition, events, now_ms=now_ms, token=self.token)
            if created is None:
                logger.warning("ingest lease lost", extra=kv(partition=partition, token=self.token))
                kept = False
                continue
            count = sum(len(made) for made in created)
            if count:
                logger.debug("deliveries created", extra=kv(partition=partition, events=len(events), count=count))
                self.created()
        return kept
