"""The task poller: claims tasks past their deadline and asks their provider's status endpoint, politely.

Runs beside the delivery worker (``relay serve``'s in-app worker, ``relay worker``); any number can run. Each tick
claims the due tasks of every partition under a lease (claim.lua on ``polls``: one poller per task at a time,
across processes; a poller that dies loses its claims when the lease ends). Each claimed task is one request,
under a per-provider limit (``RELAY_TASKS_POLL_CONCURRENCY``); a 429 pauses that provider for its Retry-After.
An answer is read by the provider's adapter and stored like a callback, marked ``"source": "poll"``; its
terminal event closes the task (accept.lua). Errors are recorded on the task and the task keeps polling, on a
doubling interval, until its horizon, where the relay stores ``task.timed_out``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

import httpx

from relay import metrics
from relay.config import Settings
from relay.delivery.schedule import error_backoff_s
from relay.events import RequestInfo, build_event
from relay.logs import kv
from relay.providers import build_providers
from relay.providers.base import TERMINAL_STATUSES, Provider, TaskUpdate
from relay.store.deliveries import DeliveryStore
from relay.store.store import RedisClient, Store
from relay.store.tasks import TaskRecord, TaskStore
from relay.tasks.catalog import DEFAULT_BASES, TASK_PROVIDERS, endpoint
from relay.tasks.fetch import Fetched, fetch_status
from relay.tasks.policy import Schedule
from relay.tasks.service import TaskService, timed_out_event

logger = logging.getLogger(__name__)

# A claim outlives the slowest turn: waiting for a provider slot, the request, and recording the outcome.
LEASE_MARGIN_S = 30.0


class Poller:
    """Polls the tasks whose callbacks are late.

    :param redis: the Redis client (``decode_responses=False``); not closed here.
    :param settings: ``RELAY_TASKS_*`` and the providers' ``RELAY_<PROVIDER>_API_KEY`` / ``_API_BASE``.
    :param http: the client for status requests; when None, the poller opens its own and closes it.
    :param providers: the adapters that read answers (default: the relay's).
    """

    def __init__(
        self,
        redis: RedisClient,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
        providers: dict[str, Provider] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.http = http
        self.providers = providers if providers is not None else build_providers()
        self.schedule = Schedule.from_settings(settings)
        self.store = Store(
            redis, partitions=settings.partitions, dedup_ttl_s=settings.dedup_ttl_s, event_ttl_s=settings.event_ttl_s
        )
        self.tasks = TaskStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        deliveries = DeliveryStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        self.service = TaskService(self.store, self.tasks, deliveries, self.schedule, clock)
        self.lease_ms = int((settings.tasks_poll_timeout_s * 2 + LEASE_MARGIN_S) * 1000)
        self._limits = {provider: asyncio.Semaphore(settings.tasks_poll_concurrency) for provider in TASK_PROVIDERS}
        self._room = settings.tasks_poll_concurrency * len(TASK_PROVIDERS)
        self._paused_until_ms: dict[str, int] = {}
        self._first = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.polls = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until :meth:`stop`: Redis trouble is logged and retried with backoff; turns in flight are cancelled at
        the end (their claims lapse and another poller takes them)."""
        own = self.http is None
        http = self.http or httpx.AsyncClient(follow_redirects=False, timeout=self.settings.tasks_poll_timeout_s)
        failures = 0
        try:
            async with asyncio.TaskGroup() as group:
                while not self._stop.is_set():
                    try:
                        await self.tick(group, http)
                        failures = 0
                        delay = self.settings.tasks_tick_s
                    except Exception as exc:
                        failures += 1
                        delay = error_backoff_s(failures)
                        logger.warning(
                            "task poller failed",
                            extra=kv(failures=failures, retry_in_s=round(delay, 2), error=str(exc)),
                        )
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._stop.wait()
                for task in self._in_flight:
                    task.cancel()
        finally:
            if own:
                await http.aclose()

    async def tick(self, group: asyncio.TaskGroup, http: httpx.AsyncClient) -> int:
        """Claim what is due (as much as there is room for) and start a turn for each; returns how many."""
        started = 0
        partitions = self.settings.partitions
        # Each tick starts at the next partition, so a busy one cannot keep the others waiting for room.
        self._first = (self._first + 1) % partitions
        for offset in range(partitions):
            partition = (self._first + offset) % partitions
            room = self._room - len(self._in_flight)
            if room <= 0:
                break
            now_ms = self._now_ms()
            lease_ms = now_ms + self.lease_ms
            for digest in await self.tasks.claim(partition, now_ms, lease_ms, room):
                task = group.create_task(self._turn(http, partition, digest, lease_ms))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
                started += 1
        return started

    async def _turn(self, http: httpx.AsyncClient, partition: int, digest: str, lease_ms: int) -> None:
        try:
            await self.poll_one(http, partition, digest, lease_ms)
        except Exception as exc:
            # The claim lapses and the task is polled again; nothing is lost.
            logger.warning("task poll failed", extra=kv(digest=digest[:16], error=str(exc)))

    async def poll_one(self, http: httpx.AsyncClient, partition: int, digest: str, lease_ms: int) -> None:
        record = (await self.tasks.load(partition, [digest]))[0]
        now_ms = self._now_ms()
        if record is None or not record.open:
            await self._record(partition, digest, lease_ms, None, "", "", counted=False)
            return
        if now_ms >= record.horizon_ms:
            await self._time_out(record)
            return
        provider = record.provider
        ep = endpoint(provider, record.service)
        adapter = self.providers.get(provider)
        key = self.settings.provider_api_keys.get(provider)
        problem = None
        if ep is None:
            problem = f"no status endpoint for service {record.service!r} of {provider!r}"
        elif adapter is None:
            problem = f"no adapter for provider {provider!r}"
        elif key is None:
            problem = f"RELAY_{provider.upper()}_API_KEY is not set: the relay cannot poll {provider!r}"
        if problem is not None or ep is None or adapter is None or key is None:
            # Nothing to ask: the task waits, overdue, for a late callback until its horizon.
            logger.info("task overdue", extra=kv(provider=provider, task_id=record.task_id, reason=problem))
            metrics.task_polled(provider, "overdue")
            await self._record(partition, digest, lease_ms, record.horizon_ms, "overdue", problem or "", counted=False)
            return
        paused = self._paused_until_ms.get(provider, 0)
        if now_ms < paused:
            await self._record(partition, digest, lease_ms, paused, "polling", record.last_error, counted=False)
            return
        async with self._limits[provider]:
            fetched = await fetch_status(
                http,
                base=self.settings.provider_api_bases.get(provider, DEFAULT_BASES[provider]),
                provider=provider,
                endpoint=ep,
                task_id=record.task_id,
                service=record.service,
                key=str(key),
                timeout_s=self.settings.tasks_poll_timeout_s,
                now=now_ms / 1000,
            )
        self.polls += 1
        now_ms = self._now_ms()
        if fetched.retry_after_s is not None:
            self._paused_until_ms[provider] = now_ms + int(fetched.retry_after_s * 1000)
        update = adapter.parse(fetched.payload) if fetched.payload is not None else None
        error = fetched.error or ""
        if fetched.payload is not None and (update is None or update.task_id != record.task_id):
            error, update = "answer not understood (no task id, or another task's)", None
        next_ms = min(self.schedule.next_poll_ms(record.polls, now_ms, fetched.retry_after_s), record.horizon_ms)
        # Recorded before the event is stored: a result that closes the task then takes it out of polls for good.
        await self._record(partition, digest, lease_ms, next_ms, "polling", error, counted=fetched.reached)
        logger.info(
            "task polled",
            extra=kv(
                provider=provider,
                task_id=record.task_id,
                service=record.service,
                status_code=fetched.status_code,
                result=update.status if update else None,
                error=error or None,
            ),
        )
        outcome = "throttled" if fetched.status_code == 429 else ("error" if error else "answered")
        metrics.task_polled(provider, outcome)
        if update is not None:
            await self._store(record, fetched, update, now_ms)

    async def _store(self, record: TaskRecord, fetched: Fetched, update: TaskUpdate, now_ms: int) -> None:
        request = fetched.request
        event = build_event(
            provider=record.provider,
            tag=record.tag or None,
            update=update,
            body=fetched.body,
            is_json=True,
            # What was asked, never how: no headers (the key is one of them).
            request=RequestInfo(
                method=request.method,
                path=request.path,
                query=urlencode(request.params),
                headers=[],
                content_type="application/json",
            ),
            now_s=now_ms / 1000,
            partitions=self.settings.partitions,
            source="poll",
        )
        result = await self.store.accept(event, now_ms, timeout_s=self.settings.store_timeout_s)
        if result.duplicate and update.status in TERMINAL_STATUSES:
            # The result had arrived as a callback (or an earlier poll) without closing the task: close it now.
            await self.service.settle(record.provider, record.task_id, update.status, result.event_id)

    async def _time_out(self, record: TaskRecord) -> None:
        now_s = self.clock()
        event = timed_out_event(record, now_s, self.settings.partitions)
        result = await self.store.accept(event, int(now_s * 1000), timeout_s=self.settings.store_timeout_s)
        if result.duplicate:
            await self.service.settle(record.provider, record.task_id, "timed_out", result.event_id)
        logger.warning("task timed out", extra=kv(provider=record.provider, task_id=record.task_id, polls=record.polls))
        metrics.task_polled(record.provider, "timed_out")

    async def _record(
        self,
        partition: int,
        digest: str,
        lease_ms: int,
        next_ms: int | None,
        status: str,
        error: str,
        *,
        counted: bool,
    ) -> None:
        await self.tasks.polled(
            partition,
            digest,
            lease_ms=lease_ms,
            next_ms=next_ms,
            status=status,
            now_ms=self._now_ms(),
            error=error,
            counted=counted,
        )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)
