"""Dispatch: claim due deliveries under a lease, attempt them with bounded concurrency, record the outcomes.

A claim takes a batch of due deliveries in one script call; its lease (longer than the delivery timeout) hands them
back to other workers if this one dies. Concurrency is bounded overall (``delivery_concurrency``) and per
subscription (``delivery_concurrency_per_subscription``), so one slow subscriber never holds the others' slots.
A claimed delivery whose subscription is at its limit waits *parked* in this worker (at most as many per
subscription as the limit) and starts as soon as one of that subscription's attempts ends; claims are sized to what
can start or park, so deliveries are not claimed only to be handed back. A parked delivery whose lease has run too
short for a whole attempt is handed back instead of started.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from relay import metrics
from relay.assets.service import WAIT, Assets
from relay.config import Settings
from relay.delivery.attempt import AttemptResult, DeliveryOutcome, attempt
from relay.delivery.schedule import error_backoff_s, next_attempt_at
from relay.delivery.transport import DeliveryClient
from relay.events import rfc3339
from relay.logs import kv
from relay.store.deliveries import Delivery, DeliveryStatus, DeliveryStore
from relay.store.subscriptions import Subscription, SubscriptionCache, SubscriptionStore
from relay.tasks.notify import is_notification

logger = logging.getLogger(__name__)

Parked = tuple[Delivery, int]  # the delivery and its lease end (ms)
# How often a delivery waiting for its event's copies (``wait_for_assets``) looks again.
ASSET_WAIT_POLL_MS = 500
# (subscription id, provider, task id) -> the target of a per-task notification (relay.tasks.notify).
NotifyTargets = Callable[[str, str, str], Awaitable[Subscription | None]]


class Dispatcher:
    """The dispatch loop of one worker; :meth:`run` returns after :meth:`stop` and the drain."""

    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        subscriptions: SubscriptionCache,
        subscription_store: SubscriptionStore,
        http: DeliveryClient,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        assets: Assets | None = None,
        notify_targets: NotifyTargets | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.assets = assets
        self.notify_targets = notify_targets
        self.subscriptions = subscriptions
        self.subscription_store = subscription_store
        self.http = http
        self.settings = settings
        self.clock = clock
        self.concurrency = settings.delivery_concurrency
        self.cap = settings.delivery_concurrency_per_subscription
        self.lease_ms = int(settings.delivery_lease_s * 1000)
        # A parked delivery starts only while its lease still covers a whole attempt with room to record it.
        self.start_by_ms = int((settings.delivery_lease_s - settings.delivery_timeout_s) * 500)
        self.in_flight: set[asyncio.Task[None]] = set()
        self._running: dict[str, int] = {}
        self._parked: dict[str, deque[Parked]] = {}
        self._parked_count = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_partition = 0
        self._probed_ms = 0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        async with asyncio.TaskGroup() as group:
            while not self._stopping:
                try:
                    await self._start_parked(group)
                    more = await self._claim(group)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    delay = error_backoff_s(failures)
                    logger.warning(
                        "claiming failed", extra=kv(failures=failures, retry_in_s=round(delay, 2), error=str(exc))
                    )
                    await self._pause(delay)
                    continue
                if not more:
                    await self._pause(self.settings.worker_poll_s)
            await self._drain()

    async def _pause(self, seconds: float) -> None:
        """Until ``seconds`` pass or something happens: new deliveries, an attempt ended, stop."""
        if not self._wake.is_set():
            try:
                async with asyncio.timeout(seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
        self._wake.clear()

    # -- claiming -------------------------------------------------------------------------------------------------

    def _budget(self, probe: bool) -> int:
        """How many deliveries may be claimed now: what could start or park, overall and per known subscription.

        A ``probe`` (once per poll interval) adds room for deliveries of subscriptions the cache does not count
        (disabled or deleted, to be finished as dead), which would otherwise wait for room that never comes.
        """
        overall = 2 * self.concurrency - len(self.in_flight) - self._parked_count
        room = self.cap if probe else 0
        for sub in self.subscriptions.enabled:
            room += max(0, 2 * self.cap - self._running.get(sub.id, 0) - len(self._parked.get(sub.id, ())))
            if room >= overall:
                break
        return max(0, min(overall, room))

    async def _claim(self, group: asyncio.TaskGroup) -> bool:
        """Claim and start (or park) a batch; True when more may be due and could be taken right away."""
        now_ms = self._now_ms()
        probe = now_ms - self._probed_ms >= self.settings.worker_poll_s * 1000
        budget = self._budget(probe)
        # Waiting for room for half a batch, not claiming one delivery per ended attempt, keeps claims few and
        # large, while the parked half keeps the subscription busy during the claim's round trips.
        if budget == 0 or (budget < max(1, self.cap // 2) and (self.in_flight or self._parked_count)):
            return False
        if probe:
            self._probed_ms = now_ms
        partitions = self.settings.partitions
        lease_ms = now_ms + self.lease_ms
        first = self._next_partition % partitions
        _, found = await asyncio.gather(
            self.subscriptions.refresh(), self.deliveries.claim(first, now_ms, lease_ms, budget)
        )
        for offset in range(1, partitions):
            if len(found) >= budget:
                break
            partition = (first + offset) % partitions
            found += await self.deliveries.claim(partition, now_ms, lease_ms, budget - len(found))
        self._next_partition = (self._next_partition + 1) % partitions
        if not found:
            return False
        handed_back: list[str] = []
        gone: list[str] = []
        for delivery_id, delivery in zip(found, await self.deliveries.load(found), strict=True):
            if delivery is None:
                gone.append(delivery_id)
            elif self._can_start(delivery.subscription_id):
                self._start(group, delivery, lease_ms)
            elif len(self._parked.get(delivery.subscription_id, ())) < self.cap:
                self._parked.setdefault(delivery.subscription_id, deque()).append((delivery, lease_ms))
                self._parked_count += 1
            else:
                handed_back.append(delivery_id)
        await asyncio.gather(
            *(self.deliveries.drop(delivery_id) for delivery_id in gone),
            *(self._hand_back(delivery_id, lease_ms) for delivery_id in handed_back),
        )
        return len(found) == budget and self._budget(False) > 0

    def _can_start(self, subscription_id: str) -> bool:
        return len(self.in_flight) < self.concurrency and self._running.get(subscription_id, 0) < self.cap

    async def _hand_back(self, delivery_id: str, lease_ms: int) -> None:
        await self.deliveries.release(delivery_id, lease_ms, self._now_ms() + int(self.settings.worker_poll_s * 1000))

    async def _start_parked(self, group: asyncio.TaskGroup) -> None:
        if not self._parked_count:
            return
        now_ms = self._now_ms()
        stale: list[Parked] = []
        for sub_id, queue in list(self._parked.items()):
            while queue and self._can_start(sub_id):
                delivery, lease_ms = queue.popleft()
                self._parked_count -= 1
                if lease_ms - now_ms >= self.lease_ms - self.start_by_ms:
                    self._start(group, delivery, lease_ms)
                else:
                    stale.append((delivery, lease_ms))
            if not queue:
                del self._parked[sub_id]
        if stale:
            await asyncio.gather(*(self.deliveries.release(d.id, lease, now_ms) for d, lease in stale))

    def _start(self, group: asyncio.TaskGroup, delivery: Delivery, lease_ms: int) -> None:
        sub_id = delivery.subscription_id
        self._running[sub_id] = self._running.get(sub_id, 0) + 1
        task = group.create_task(self._deliver(delivery, lease_ms))
        self.in_flight.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self.in_flight.discard(task)
            left = self._running.pop(sub_id, 1) - 1
            if left > 0:
                self._running[sub_id] = left
            self._wake.set()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        parked = [item for queue in self._parked.values() for item in queue]
        self._parked.clear()
        self._parked_count = 0
        if parked:
            # Never started: hand them back now rather than let their leases run out.
            now_ms = self._now_ms()
            results = await asyncio.gather(
                *(self.deliveries.release(d.id, lease, now_ms) for d, lease in parked), return_exceptions=True
            )
            logger.info(
                "handed back", extra=kv(parked=len(parked), failed=sum(isinstance(r, Exception) for r in results))
            )
        if not self.in_flight:
            return
        logger.info(
            "draining", extra=kv(in_flight=len(self.in_flight), grace_s=round(self.settings.shutdown_grace_s, 1))
        )
        _, pending = await asyncio.wait(set(self.in_flight), timeout=self.settings.shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("drain grace ended; handed back", extra=kv(in_flight=len(pending)))

    # -- one delivery ---------------------------------------------------------------------------------------------

    async def _deliver(self, delivery: Delivery, lease_ms: int) -> None:
        try:
            sub = await self._target(delivery)
            if sub is None or not sub.enabled or delivery.body is None:
                if delivery.body is None:
                    # A delivery names its event; past RELAY_EVENT_TTL_S there is nothing left to send.
                    reason = "event expired"
                elif sub is None:
                    reason = "subscription deleted"
                else:
                    reason = f"subscription disabled: {sub.disabled_reason}"
                await self.deliveries.finish(
                    delivery,
                    lease_ms=lease_ms,
                    record=None,
                    status=DeliveryStatus.DEAD,
                    next_ms=None,
                    now_ms=self._now_ms(),
                    error=reason,
                )
                logger.info(
                    "delivery dead", extra=kv(delivery_id=delivery.id, event_id=delivery.event_id, reason=reason)
                )
                metrics.delivery_abandoned()
                return
            body = delivery.body
            if self.assets is not None:
                # Rendered now, with the files copied so far: a retry tomorrow carries links that still work.
                found = await self.assets.delivery_body(delivery.event_id, sub.wait_for_assets)
                if found is WAIT:
                    await self.deliveries.release(delivery.id, lease_ms, self._now_ms() + ASSET_WAIT_POLL_MS)
                    return
                if isinstance(found, bytes):
                    body = found
            now = self.clock()
            result = await attempt(
                self.http,
                url=sub.url,
                msg_id=delivery.event_id,
                body=body,
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
        except Exception as exc:
            # Redis trouble mid-attempt: the lease ends and the delivery is claimed again; nothing is lost.
            logger.warning(
                "delivery not recorded", extra=kv(delivery_id=delivery.id, event_id=delivery.event_id, error=str(exc))
            )

    async def _target(self, delivery: Delivery) -> Subscription | None:
        if is_notification(delivery.subscription_id):
            if self.notify_targets is None:
                return None
            return await self.notify_targets(delivery.subscription_id, delivery.provider, delivery.task_id)
        return self.subscriptions.get(delivery.subscription_id)

    async def _record(self, delivery: Delivery, sub: Subscription, lease_ms: int, result: AttemptResult) -> None:
        now_ms = self._now_ms()
        number = delivery.attempts + 1
        next_at: float | None = None
        succeeded = result.outcome is DeliveryOutcome.SUCCEEDED
        if succeeded:
            status = DeliveryStatus.SUCCEEDED
        elif result.outcome is DeliveryOutcome.GONE:
            status = DeliveryStatus.DEAD
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
            status = DeliveryStatus.FAILED if next_at is not None else DeliveryStatus.DEAD
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
            "delivery attempt",
            extra=kv(
                event_id=delivery.event_id,
                delivery_id=delivery.id,
                subscription_id=sub.id,
                attempt=number,
                outcome=result.outcome.value,
                status=status,
                status_code=result.status_code,
                elapsed_ms=round(result.latency_ms, 1),
                lease_held=applied,
            ),
        )
        metrics.delivery_attempted(result.outcome.value, status, result.latency_ms / 1000, delivery.received_s)
        disable_after_s = self.settings.subscription_disable_after_s
        if is_notification(sub.id):
            return  # a task's notify URL is no subscription: nothing to disable or mark failing
        if result.outcome is DeliveryOutcome.GONE:
            await self.subscription_store.disable(sub.id, "the subscriber answered 410 Gone")
            logger.warning("subscription disabled reason=410", extra=kv(subscription_id=sub.id))
        elif succeeded and not sub.failing_since_ms:
            # As the cache last saw it, nothing to clear; a change since then would have changed the version.
            return
        elif not succeeded and sub.failing_since_ms and now_ms - sub.failing_since_ms < disable_after_s * 1000:
            return
        elif await self.subscription_store.record_result(sub.id, succeeded, now_ms, disable_after_s):
            logger.warning("subscription disabled reason=failing", extra=kv(subscription_id=sub.id))

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
