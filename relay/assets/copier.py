"""The copier: the worker's loop that copies events' files before the providers' links expire.

Jobs come from Redis (:mod:`relay.store.assets`): new events through the ``relay-assets`` consumer group, retries
asked for through the API, and entries of workers that died mid-copy (taken over once their lease ran out). A job
copies every output of one event still pending, concurrently, at most ``RELAY_ASSETS_CONCURRENCY`` jobs per worker
and ``RELAY_ASSETS_CONCURRENCY_PER_HOST`` downloads per provider host. A download that fails is tried again on
``RELAY_ASSETS_RETRY_SCHEDULE_S`` unless it cannot succeed (404, refused, too large); the outcome of each output is
recorded on the event as soon as it is known, and the job's entry is acknowledged once all are settled.

One worker at a time also deletes files whose last event expired (retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from relay import ids
from relay.assets import records
from relay.assets.backends import sweep_temp
from relay.assets.download import CopyFailed, Downloader
from relay.assets.service import Assets
from relay.delivery.schedule import error_backoff_s
from relay.events import rfc3339
from relay.logs import kv
from relay.store.assets import Job
from relay.store.connect import raise_if_cancelled

logger = logging.getLogger(__name__)

# How far back the copier starts when copying is first turned on: older providers' links are likely dead.
BACKFILL_S = 3600
SWEEP_BATCH = 500
MAX_SWEEP_INTERVAL_S = 60.0
# How often a copy whose bytes are being deleted asks again (a deletion is one request to the store).
REFERENCE_POLL_S = 0.1


class Copier:
    """Copies files for one worker.

    :param assets: the shared :class:`Assets` (store, backend).
    :param downloader: downloads with the SSRF guard and the limits.
    :param token: this worker's consumer name (unique per worker process).
    """

    def __init__(
        self, assets: Assets, downloader: Downloader, *, token: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.assets = assets
        self.store = assets.store
        self.backend = assets.backend
        self.settings = assets.settings
        self.downloader = downloader
        self.token = token
        self.clock = clock
        self.lease_ms = int(self.settings.assets_lease_s * 1000)
        self.block_ms = max(10, int(min(1000, self.settings.store_timeout_s * 500)))
        self.in_flight: set[asyncio.Task[None]] = set()
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._room = asyncio.Event()
        self._stopping = False
        self._stale_at = 0.0
        self._sweep_at = 0.0

    def stop(self) -> None:
        self._stopping = True
        self._room.set()

    async def run(self) -> None:
        await self._prepare()
        failures = 0
        async with asyncio.TaskGroup() as group:
            while not self._stopping:
                try:
                    await self._step(group)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    delay = error_backoff_s(failures)
                    logger.warning(
                        "copier failed", extra=kv(failures=failures, retry_in_s=round(delay, 2), error=str(exc))
                    )
                    await self._pause(delay)
            await self._drain()

    async def _prepare(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                since_ms = int((self.clock() - BACKFILL_S) * 1000)
                await self.store.ensure_groups(max(since_ms, 0))
                removed = await sweep_temp(self.backend, 2 * self.settings.assets_timeout_s)
                logger.info(
                    "copier started",
                    extra=kv(token=self.token, store=self.backend.description, temp_removed=removed),
                )
                return
            except Exception as exc:
                failures += 1
                delay = error_backoff_s(failures)
                logger.warning("copier start failed", extra=kv(retry_in_s=round(delay, 2), error=str(exc)))
                await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._room.wait()
        self._room.clear()

    async def _step(self, group: asyncio.TaskGroup) -> None:
        free = self.settings.assets_concurrency - len(self.in_flight)
        if free <= 0:
            await self._pause(self.settings.worker_poll_s * 10)
            return
        now = self.clock()
        jobs: list[Job] = []
        if now >= self._stale_at:
            self._stale_at = now + self.settings.assets_lease_s / 2
            jobs = await self.store.claim_stale(self.token, min_idle_ms=self.lease_ms, count=free)
        if now >= self._sweep_at:
            self._sweep_at = now + min(MAX_SWEEP_INTERVAL_S, self.settings.assets_lease_s)
            await self._sweep()
        if not jobs:
            jobs = await self.store.read_new(self.token, count=free, block_ms=self.block_ms)
        for job in jobs:
            task = group.create_task(self._job(job))
            self.in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._room.set()

    async def _drain(self) -> None:
        if not self.in_flight:
            return
        _, pending = await asyncio.wait(set(self.in_flight), timeout=self.settings.shutdown_grace_s)
        for task in pending:
            task.cancel()
        if pending:
            # Their entries stay pending in Redis: another worker (or this one, restarted) takes them over.
            logger.warning("copier stopped with copies unfinished", extra=kv(count=len(pending)))

    # -- one job: the pending outputs of one event ----------------------------------------------------------------

    async def _job(self, job: Job) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                renewing = group.create_task(self._renew(job))
                await self.copy_event(job.event_id, retry=job.retry)
                renewing.cancel()
            await self.store.ack(job)
        except Exception as exc:
            # Left pending: taken over again once its lease runs out.
            errors = exc.exceptions if isinstance(exc, ExceptionGroup) else (exc,)
            logger.warning("copy job failed", extra=kv(event_id=job.event_id, error="; ".join(map(repr, errors))))

    async def _renew(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.settings.assets_lease_s / 4)
            await self.store.renew(job, self.token)
            raise_if_cancelled()

    async def copy_event(self, event_id: str, retry: bool = False) -> None:
        stored = await self.store.load(event_id)
        if stored is None:
            return
        meta = orjson.loads(stored.meta)
        if not self.assets.applies(meta):
            return
        outputs = meta["outputs"]
        states = records.parse(stored.assets, len(outputs))
        if retry:
            for state in states:
                if state["state"] == records.FAILED:
                    state["state"] = records.PENDING
        todo = [i for i, state in enumerate(states) if state["state"] == records.PENDING]
        if not todo:
            return
        if not await self.store.save(event_id, records.dump(states)):
            return
        expires_ms = ids.ms_of(event_id, ids.EVENT_PREFIX) + self.settings.assets_keep_s * 1000
        saving = asyncio.Lock()

        async def copy(index: int) -> None:
            states[index] = await self.copy_one(
                str(outputs[index].get("url")), expires_ms, states[index].get("attempts", 0), event_id
            )
            # One save at a time, each with every state known then: the last write is the newest.
            async with saving:
                await self.store.save(event_id, records.dump(states))

        async with asyncio.TaskGroup() as group:
            for index in todo:
                group.create_task(copy(index))

    async def copy_one(self, url: str, expires_ms: int, attempts: int, event_id: str) -> dict[str, Any]:
        """Copy one file, retrying on the schedule; its state, copied or failed."""
        schedule = self.settings.assets_retry_schedule_s
        for step in range(len(schedule) + 1):
            attempts += 1
            started = time.monotonic()
            try:
                copied = await self._copy(url, expires_ms)
            except CopyFailed as exc:
                last = exc.permanent or step == len(schedule)
                logger.info(
                    "asset copy failed",
                    extra=kv(
                        event_id=event_id, attempt=attempts, permanent=exc.permanent, final=last, error=exc.message
                    ),
                )
                if last:
                    return {"state": records.FAILED, "error": exc.message, "attempts": attempts,
                            "at": rfc3339(self.clock())}  # fmt: skip
                await asyncio.sleep(schedule[step])
                continue
            elapsed_ms = round((time.monotonic() - started) * 1000, 1)
            logger.info(
                "asset copied",
                extra=kv(event_id=event_id, sha256=copied["sha256"], bytes=copied["bytes"], attempt=attempts,
                         elapsed_ms=elapsed_ms),
            )  # fmt: skip
            return {**copied, "state": records.COPIED, "attempts": attempts, "at": rfc3339(self.clock())}
        raise AssertionError("unreachable")

    async def _copy(self, url: str, expires_ms: int) -> dict[str, Any]:
        try:
            host = httpx.URL(url).host
        except (httpx.InvalidURL, TypeError) as exc:
            raise CopyFailed(f"not a URL: {url[:200]!r}", permanent=True) from exc
        async with self._host_slot(host):
            got = await self.downloader.fetch(url)
        try:
            # Referenced before it is stored: a sweep running now keeps it (its expiry moved), or, if it is
            # deleting these very bytes, the copy waits for the deletion to end and stores them again.
            await self._reference(got.sha256, expires_ms)
            await self.backend.finalize(got.path, got.sha256, got.content_type)
        except Exception as exc:
            raise CopyFailed(f"storing the copy failed: {exc}", permanent=False) from exc
        finally:
            got.path.unlink(missing_ok=True)
        return {"sha256": got.sha256, "bytes": got.bytes, "content_type": got.content_type}

    async def _reference(self, sha256: str, expires_ms: int) -> None:
        deadline = time.monotonic() + 2 * self.settings.assets_lease_s
        while not await self.store.reference(sha256, expires_ms, int(self.clock() * 1000)):
            if time.monotonic() > deadline:
                raise RuntimeError("the same bytes are still being deleted")
            await asyncio.sleep(REFERENCE_POLL_S)

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        slot = self._hosts.get(host)
        if slot is None:
            if len(self._hosts) > 1000:
                self._hosts = {name: s for name, s in self._hosts.items() if s.locked()}
            slot = self._hosts[host] = asyncio.Semaphore(self.settings.assets_concurrency_per_host)
        async with slot:
            yield

    # -- retention ------------------------------------------------------------------------------------------------

    async def _sweep(self) -> None:
        if not await self.store.hold_sweep(self.token, self.lease_ms):
            return
        now_ms = int(self.clock() * 1000)
        deleted = 0
        for sha256, score in await self.store.expired(now_ms, SWEEP_BATCH):
            # Marked as being deleted for a lease at most: a worker dying here leaves a mark that lapses.
            until_ms = int(self.clock() * 1000) + self.lease_ms
            if await self.store.forget(sha256, score, until_ms):
                await self.backend.delete(sha256)
                await self.store.deleted(sha256, until_ms)
                deleted += 1
        if deleted:
            logger.info("expired assets deleted", extra=kv(count=deleted))
