"""The delivery worker: events stream -> one delivery per matching subscription -> signed POSTs, retried.

Two loops run side by side, sharing a cached copy of the subscriptions (:class:`SubscriptionCache`):

* **ingest** (:mod:`relay.delivery.ingest`): per partition, one worker at a time turns new stream entries into
  deliveries, a batch per script call, and wakes dispatch at once.
* **dispatch** (:mod:`relay.delivery.dispatch`): claims due deliveries in batches under a lease, runs each attempt
  as a task under the overall and per-subscription limits, and records the outcomes (concurrent finishes share a
  round trip). :meth:`Worker.stop` drains: no more claims, in-flight attempts get ``shutdown_grace_s``, the rest
  are cancelled and handed back.

Both loops outlive Redis trouble: errors back off (exponential, jittered) and retry, a consumer group lost with
the data (FLUSHALL, a restart without persistence) is recreated, and scripts Redis forgot are loaded again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from relay.assets.copier import Copier
from relay.assets.download import Downloader, download_client
from relay.assets.service import Assets, copying
from relay.config import Settings
from relay.delivery.dispatch import Dispatcher
from relay.delivery.ingest import Ingest
from relay.delivery.schedule import error_backoff_s
from relay.delivery.targets import TargetGuard
from relay.delivery.transport import DeliveryClient, delivery_client
from relay.logs import kv
from relay.store.deliveries import DeliveryStore
from relay.store.store import RedisClient, Store
from relay.store.subscriptions import SubscriptionCache, SubscriptionStore
from relay.store.tasks import TaskStore
from relay.tasks.notify import NotifyTargets
from relay.tasks.poller import Poller

logger = logging.getLogger(__name__)

MAX_INGEST_LEASE_S = 10.0


class Worker:
    """Delivers events to subscribers.

    :param redis: the Redis client (``decode_responses=False``); not closed here.
    :param http: the outbound client, :func:`relay.delivery.transport.delivery_client`; not closed here.
    :param settings: delivery settings (``RELAY_DELIVERY_*``, ``RELAY_RETRY_*``, ...).
    :param clock: wall time in seconds, for signatures, schedules and leases.
    :param guard: the SSRF check for downloads of events' files (``RELAY_ASSETS``); the settings' by default.
    """

    def __init__(
        self,
        redis: RedisClient,
        http: DeliveryClient,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        guard: TargetGuard | None = None,
    ) -> None:
        self.settings = settings
        self.token = secrets.token_hex(8)
        self.assets: Assets | None = None
        self.copier: Copier | None = None
        if copying(settings):
            self.assets = Assets(redis, settings, clock)
            # The copier's own client: downloads are long streams, not the deliveries' short POSTs.
            self._download_http = download_client(settings.assets_timeout_s, settings.assets_concurrency * 2)
            downloader = Downloader(
                self._download_http,
                guard or TargetGuard(allow_private=settings.allow_private_targets),
                self.assets.backend.temp_dir,
                max_bytes=settings.assets_max_bytes,
                timeout_s=settings.assets_timeout_s,
            )
            self.copier = Copier(self.assets, downloader, token=self.token, clock=clock)
        self.deliveries = DeliveryStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        self.subscriptions = SubscriptionStore(redis)
        cache = SubscriptionCache(self.subscriptions)
        self.dispatcher = Dispatcher(
            deliveries=self.deliveries,
            subscriptions=cache,
            subscription_store=self.subscriptions,
            http=http,
            settings=settings,
            clock=clock,
            assets=self.assets,
            notify_targets=NotifyTargets(
                TaskStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
            ),
        )
        # Tasks past their deadline are polled where deliveries are made (relay.tasks).
        self.poller = Poller(redis, settings, clock) if settings.tasks_poller else None
        ingest_lease_ms = int(min(settings.delivery_lease_s, MAX_INGEST_LEASE_S) * 1000)
        self.ingest = Ingest(
            events=Store(
                redis,
                partitions=settings.partitions,
                dedup_ttl_s=settings.dedup_ttl_s,
                event_ttl_s=settings.event_ttl_s,
                assets=self.assets.render_meta if self.assets else None,
            ),
            deliveries=self.deliveries,
            subscriptions=cache,
            partitions=settings.partitions,
            token=self.token,
            lease_ms=ingest_lease_ms,
            # Below the Redis socket timeout (a blocked read is not a dead server) and well inside the ingest lease.
            block_ms=max(10, int(min(1000, settings.store_timeout_s * 500, ingest_lease_ms / 4))),
            created=self.dispatcher.wake,
            clock=clock,
        )
        self._stopping = False
        self._ingest_task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """Begin draining; :meth:`run` returns once in-flight attempts finished or the grace period ended."""
        self._stopping = True
        self.dispatcher.stop()
        if self.copier is not None:
            self.copier.stop()
        if self.poller is not None:
            self.poller.stop()
        self.ingest.stop()
        if self._ingest_task is not None:
            # Ingest has nothing in flight worth waiting for (each batch is one atomic script): no need to sit
            # out a blocked XREADGROUP.
            self._ingest_task.cancel()

    async def run(self) -> None:
        await self._ensure_groups()
        logger.info("worker started", extra=kv(token=self.token, partitions=self.settings.partitions))
        async with asyncio.TaskGroup() as group:
            self._ingest_task = group.create_task(self.ingest.run())
            if self.poller is not None:
                group.create_task(self.poller.run())
            if self.copier is not None:
                group.create_task(self._copy())
            if self._stopping:
                self._ingest_task.cancel()
                if self.poller is not None:
                    self.poller.stop()
            await self.dispatcher.run()
            self._ingest_task.cancel()
            # Waits without taking on the ingest task's CancelledError: a cancel of run() itself (a caller's
            # deadline) must still end it, not be swallowed here as the ingest task's own.
            await asyncio.wait([self._ingest_task])
        logger.info("worker stopped", extra=kv(token=self.token))

    async def _copy(self) -> None:
        assert self.copier is not None
        try:
            await self.copier.run()
        finally:
            await self._download_http.aclose()

    async def _ensure_groups(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                await self.deliveries.ensure_groups()
                return
            except Exception as exc:
                failures += 1
                delay = error_backoff_s(failures)
                logger.warning("creating consumer groups failed", extra=kv(retry_in_s=round(delay, 2), error=str(exc)))
                await asyncio.sleep(delay)


@asynccontextmanager
async def delivery_worker(
    redis: RedisClient, settings: Settings, guard: TargetGuard, clock: Callable[[], float] = time.time
) -> AsyncIterator[Worker]:
    """A worker as ``relay serve`` and ``relay worker`` run it: with its own outbound client (connections checked
    by ``guard`` against private targets, no redirects), closed when the block ends."""
    http = delivery_client(guard, settings.delivery_timeout_s, settings.delivery_concurrency)
    try:
        yield Worker(redis, http, settings, clock, guard)
    finally:
        await http.aclose()
