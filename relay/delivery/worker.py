"""The delivery worker: events stream -> one delivery per matching subscription -> signed POSTs, retried.

Two loops run side by side:

* **ingest**: per partition, one worker at a time (a short Redis lease, fenced in the script) reads the events
  stream through the consumer group and turns each entry into deliveries, acknowledging the entry in the same
  script. One reader per partition keeps creation in stream order, which is what per-task order is built on;
  a worker taking over a partition first re-reads the entries its predecessor never acknowledged.
* **dispatch**: claims due deliveries under a lease longer than the delivery timeout (a killed worker's claims
  come back when their lease ends), runs each attempt as a task bounded by a global semaphore-like slot count
  and a per-subscription cap (a saturated subscription's deliveries are handed back, not waited for), and
  records the outcome. :meth:`Worker.stop` drains: no more claims, in-flight attempts get ``shutdown_grace_s``,
  the rest are cancelled and handed back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from relay import ids, metrics
from relay.config import Settings
from relay.delivery.attempt import AttemptResult, DeliveryOutcome, attempt
from relay.delivery.schedule import next_attempt_at
from relay.events import rfc3339
from relay.store.deliveries import Delivery, DeliveryStore
from relay.store.store import RedisClient, Store
from relay.store.subscriptions import Subscription, SubscriptionStore

logger = logging.getLogger(__name__)

INGEST_BATCH = 100
MAX_INGEST_LEASE_S = 10.0
ERROR_BACKOFF_S = 0.5


class Worker:
    """Delivers events to subscribers.

    :param redis: the Redis client (``decode_responses=False``); not closed here.
    :param http: the outbound client, normally :func:`relay.delivery.transport.delivery_client`; not closed here.
    :param settings: delivery settings (``RELAY_DELIVERY_*``, ``RELAY_RETRY_*``, ...).
    :param clock: wall time in seconds, for signatures, schedules and leases.
    """

    def __init__(
        self,
        redis: RedisClient,
        http: httpx.AsyncClient,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.settings = settings
        self.clock = clock
        self.events = Store(
            redis, partitions=settings.partitions, dedup_ttl_s=settings.dedup_ttl_s, event_ttl_s=settings.event_ttl_s
        )
        self.deliveries = DeliveryStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        self.subscriptions = SubscriptionStore(redis)
        self.token = secrets.token_hex(8)
        self.ingest_lease_ms = int(min(settings.delivery_lease_s, MAX_INGEST_LEASE_S) * 1000)
        # Below the Redis socket timeout (a blocked read is not a dead server) and well inside the ingest lease.
        self.block_ms = max(10, int(min(1000, settings.store_timeout_s * 500, self.ingest_lease_ms / 4)))
        self._stopping: asyncio.Event | None = None
        self._ingest: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_subscription: dict[str, int] = {}

    def stop(self) -> None:
        """Begin draining; :meth:`run` returns once in-flight attempts finished or the grace period ended."""
        if self._stopping is not None:
            self._stopping.set()
        if self._ingest is not None:
            # Ingest has nothing in flight worth waiting for (each entry is one atomic script): no need to sit
            # out a blocked XREADGROUP.
            self._ingest.cancel()

    @property
    def stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def run(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        await self.deliveries.ensure_groups()
        logger.info("worker started token=%s partitions=%d", self.token, self.settings.partitions)
        async with asyncio.TaskGroup() as group:
            self._ingest = group.create_task(self._ingest_loop())
            group.create_task(self._dispatch_loop())
        logger.info("worker stopped token=%s", self.token)

    async def _pause(self, seconds: float) -> None:
        """Sleep until ``seconds`` pass, the worker is woken (new work, a free slot) or it is stopping."""
        assert self._wake is not None and self._stopping is not None
        wake, stop = asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([wake, stop], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            stop.cancel()
        self._wake.clear()

    # -- ingest ---------------------------------------------------------------------------------------------------

    async def _ingest_loop(self) -> None:
        owned: set[int] = set()
        while not self.stopping:
            try:
                held = {p for p in range(self.settings.partitions) if await self._hold(p)}
                for partition in held - owned:
                    await self._ingest_pending(partition)
                owned = held
                if not owned:
                    await self._pause(self.ingest_lease_ms / 4000)
                    continue
                entries = await self.deliveries.read_events(
                    sorted(owned), pending=False, count=INGEST_BATCH, block_ms=self.block_ms
                )
                await self._fan_out(entries)
            except Exception:
                logger.exception("ingest failed; retrying in %.1f s", ERROR_BACKOFF_S)
                owned = set()
                await asyncio.sleep(ERROR_BACKOFF_S)

    async def _hold(self, partition: int) -> bool:
        return await self.deliveries.hold_ingest(partition, self.token, self.ingest_lease_ms)

    async def _ingest_pending(self, partition: int) -> None:
        while not self.stopping:
            entries = await self.deliveries.read_events([partition], pending=True, count=INGEST_BATCH, block_ms=None)
            if not entries or not await self._fan_out(entries):
                return

    async def _fan_out(self, entries: list[tuple[int, str, dict[bytes, bytes]]]) -> bool:
        """Create the deliveries of each entry, in order; False when a partition's lease was lost meanwhile."""
        if not entries:
            return True
        subscriptions = [sub for sub in await self.subscriptions.all() if sub.enabled]
        for partition, entry_id, fields in entries:
            text = {name.decode(): value.decode() for name, value in fields.items()}
            event_id = text.get("id", "")
            received_ms = ids.ms_of(event_id, ids.EVENT_PREFIX) if ids.partition_of(event_id) is not None else 0
            matching = [
                sub.id
                for sub in subscriptions
                # A subscription gets the events received after it was created, not the stream's history.
                if received_ms >= sub.created_ms
                and sub.matches(text.get("provider", ""), text.get("type", ""), text.get("tag", ""))
            ]
            body = await self.events.get_event(event_id) if matching else None
            created = await self.deliveries.create(
                partition,
                event_id=event_id,
                body=body or b"",
                provider=text.get("provider", ""),
                event_type=text.get("type", ""),
                task_id=text.get("task_id", ""),
                subscription_ids=matching if body is not None else [],
                now_ms=self._now_ms(),
                token=self.token,
                entry_id=entry_id,
            )
            if created is None:
                logger.warning("ingest lease lost partition=%d token=%s", partition, self.token)
                return False
            if created:
                logger.info("deliveries created event_id=%s count=%d", event_id, len(created))
                assert self._wake is not None
                self._wake.set()
        return True

    # -- dispatch -------------------------------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        async with asyncio.TaskGroup() as attempts:
            start = 0
            while not self.stopping:
                try:
                    claimed = await self._claim_some(attempts, start)
                except Exception:
                    logger.exception("claiming deliveries failed; retrying in %.1f s", ERROR_BACKOFF_S)
                    await asyncio.sleep(ERROR_BACKOFF_S)
                    continue
                start = (start + 1) % self.settings.partitions
                if not claimed or len(self._in_flight) >= self.settings.delivery_concurrency:
                    await self._pause(self.settings.worker_poll_s)
            await self._drain()

    async def _claim_some(self, group: asyncio.TaskGroup, start: int) -> int:
        claimed = 0
        partitions = self.settings.partitions
        for offset in range(partitions):
            free = self.settings.delivery_concurrency - len(self._in_flight)
            if free <= 0 or self.stopping:
                break
            now_ms = self._now_ms()
            lease_ms = now_ms + int(self.settings.delivery_lease_s * 1000)
            found = await self.deliveries.claim((start + offset) % partitions, now_ms, lease_ms, free)
            if not found:
                continue
            claimed += len(found)
            for delivery_id, delivery in zip(found, await self.deliveries.load(found), strict=True):
                if delivery is None:
                    await self.deliveries.drop(delivery_id)
                elif self._per_subscription.get(delivery.subscription_id, 0) >= self._per_subscription_cap:
                    # Handed back rather than waited for, so one slow subscriber never holds a global slot.
                    await self.deliveries.release(
                        delivery_id, lease_ms, now_ms + int(self.settings.worker_poll_s * 1000)
                    )
                else:
                    self._start(group, delivery, lease_ms)
        return claimed

    @property
    def _per_subscription_cap(self) -> int:
        return self.settings.delivery_concurrency_per_subscription

    def _start(self, group: asyncio.TaskGroup, delivery: Delivery, lease_ms: int) -> None:
        sub_id = delivery.subscription_id
        self._per_subscription[sub_id] = self._per_subscription.get(sub_id, 0) + 1
        task = group.create_task(self._deliver(delivery, lease_ms))
        self._in_flight.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._in_flight.discard(task)
            left = self._per_subscription.pop(sub_id, 1) - 1
            if left > 0:
                self._per_subscription[sub_id] = left
            if self._wake is not None:
                self._wake.set()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        logger.info("draining in_flight=%d grace_s=%.1f", len(self._in_flight), self.settings.shutdown_grace_s)
        _, pending = await asyncio.wait(set(self._in_flight), timeout=self.settings.shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("drain grace ended; handed back in_flight=%d", len(pending))

    async def _deliver(self, delivery: Delivery, lease_ms: int) -> None:
        try:
            sub = await self.subscriptions.get(delivery.subscription_id)
            if sub is None or not sub.enabled:
                reason = "subscription deleted" if sub is None else f"subscription disabled: {sub.disabled_reason}"
                await self.deliveries.finish(
                    delivery,
                    lease_ms=lease_ms,
                    record=None,
                    status="dead",
                    next_ms=None,
                    now_ms=self._now_ms(),
                    error=reason,
                )
                logger.info(
                    "delivery dead delivery_id=%s event_id=%s reason=%r", delivery.id, delivery.event_id, reason
                )
                metrics.delivery_abandoned()
                return
            now = self.clock()
            result = await attempt(
                self.http,
                url=sub.url,
                msg_id=delivery.event_id,
                body=delivery.body,
                secrets=sub.signing_secrets(int(now * 1000)),
                extra_headers=sub.headers,
                timeout_s=self.settings.delivery_timeout_s,
                now=now,
            )
            await self._record(delivery, sub, lease_ms, result)
        except asyncio.CancelledError:
            # Drain ran out of time: hand the delivery back now instead of waiting for the lease to end.
            await self.deliveries.release(delivery.id, lease_ms, self._now_ms())
            raise
        except Exception:
            # Redis trouble mid-attempt: the lease ends and the delivery is claimed again; nothing is lost.
            logger.exception("delivery failed delivery_id=%s event_id=%s", delivery.id, delivery.event_id)

    async def _record(self, delivery: Delivery, sub: Subscription, lease_ms: int, result: AttemptResult) -> None:
        now_ms = self._now_ms()
        number = delivery.attempts + 1
        next_at: float | None = None
        if result.outcome is DeliveryOutcome.SUCCEEDED:
            status = "succeeded"
        elif result.outcome is DeliveryOutcome.GONE:
            status = "dead"
        else:
            next_at = next_attempt_at(
                number,
                now_ms / 1000,
                schedule=self.settings.retry_schedule_s,
                jitter=self.settings.retry_jitter,
                throttled=result.outcome.throttles,
                retry_after_s=result.retry_after_s,
                min_after_throttle_s=self.settings.retry_min_after_throttle_s,
            )
            status = "failed" if next_at is not None else "dead"
        applied = await self.deliveries.finish(
            delivery,
            lease_ms=lease_ms,
            record=_record_of(number, result),
            status=status,
            next_ms=int(next_at * 1000) if next_at is not None else None,
            now_ms=now_ms,
            status_code=result.status_code,
            error=result.error or "",
        )
        logger.info(
            "delivery attempt event_id=%s delivery_id=%s subscription_id=%s attempt=%d outcome=%s status=%s "
            "status_code=%s elapsed_ms=%.1f lease_held=%s",
            delivery.event_id,
            delivery.id,
            sub.id,
            number,
            result.outcome.value,
            status,
            result.status_code,
            result.latency_ms,
            applied,
        )
        metrics.delivery_attempted(result.outcome.value, status, result.latency_ms / 1000, delivery.received_s)
        if result.outcome is DeliveryOutcome.GONE:
            await self.subscriptions.disable(sub.id, "the subscriber answered 410 Gone")
            logger.warning("subscription disabled subscription_id=%s reason=410", sub.id)
        elif await self.subscriptions.record_result(
            sub.id, result.outcome is DeliveryOutcome.SUCCEEDED, now_ms, self.settings.subscription_disable_after_s
        ):
            logger.warning("subscription disabled subscription_id=%s reason=failing", sub.id)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


def _record_of(number: int, result: AttemptResult) -> dict[str, Any]:
    return {
        "attempt": number,
        "at": rfc3339(result.at),
        "outcome": result.outcome.value,
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "error": result.error,
        "response": result.response,
    }
