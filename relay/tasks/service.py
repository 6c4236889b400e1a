"""The task actions: register, read (and wait for) a task, close it on an event stored earlier, give it up.

Routes, the CLI and the poller call these; Redis is reached only through the stores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import orjson

from relay.events import NewEvent, RequestInfo, build_event, rfc3339
from relay.providers.base import TaskError, TaskUpdate
from relay.signing import new_secret
from relay.store import keys
from relay.store.deliveries import DeliveryStore
from relay.store.store import Store
from relay.store.tasks import TERMINAL_STATUSES, NewTask, TaskRecord, TaskStore
from relay.tasks.catalog import NO_SERVICE
from relay.tasks.notify import create_notification
from relay.tasks.policy import Schedule

TIMED_OUT = "task.timed_out"
TERMINAL_TYPES = {"task.succeeded": "succeeded", "task.failed": "failed", TIMED_OUT: "timed_out"}
WAIT_STEP_S = 0.25


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    provider: str
    task_id: str
    service: str
    tag: str = ""
    notify_url: str = ""
    deadline_s: float | None = None
    horizon_s: float | None = None


class TaskService:
    """Task actions over the event, delivery and task stores (all sharing one Redis client the caller owns)."""

    def __init__(
        self,
        store: Store,
        tasks: TaskStore,
        deliveries: DeliveryStore,
        schedule: Schedule,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.deliveries = deliveries
        self.schedule = schedule
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def register(self, reg: Registration) -> tuple[TaskRecord, bool, str | None]:
        """Register (or update) a task; returns its record, whether it is new, and its notify secret."""
        now_ms = self._now_ms()
        deadline_ms, horizon_ms = self.schedule.deadlines(reg.provider, now_ms, reg.deadline_s, reg.horizon_s)
        created = await self.tasks.register(
            NewTask(
                provider=reg.provider,
                task_id=reg.task_id,
                service=reg.service,
                tag=reg.tag,
                deadline_ms=deadline_ms,
                horizon_ms=horizon_ms,
                notify_url=reg.notify_url,
                notify_secret=new_secret() if reg.notify_url else "",
            ),
            now_ms,
        )
        # The result may have arrived before the registration (fast generations): close the task on it. Read
        # after the record exists, so a result stored from now on closes it in accept.lua instead.
        for event in await self.events(reg.provider, reg.task_id):
            status = TERMINAL_TYPES.get(str(event.get("type")))
            if status is not None:
                await self.settle(reg.provider, reg.task_id, status, str(event["id"]))
                break
        record = await self.tasks.get(reg.provider, reg.task_id)
        assert record is not None  # just written; it has no TTL while open, and a closed one keeps its event TTL
        secret = await self.tasks.notify_secret(reg.provider, reg.task_id) if record.notify_url else None
        return record, created, secret

    async def settle(self, provider: str, task_id: str, status: str, event_id: str) -> None:
        """Close a task on an event stored earlier, and create its notification when that falls to us."""
        now_ms = self._now_ms()
        pending = await self.tasks.settle(provider, task_id, status, event_id, now_ms)
        if pending is not None:
            await create_notification(
                self.store,
                self.deliveries,
                self.tasks,
                provider=provider,
                task_id=task_id,
                event_id=pending,
                now_ms=now_ms,
            )

    async def events(self, provider: str, task_id: str) -> list[dict[str, Any]]:
        return [orjson.loads(raw) for raw in await self.store.task_events(provider, task_id, self._now_ms())]

    async def wait(self, provider: str, task_id: str, wait_s: float) -> TaskRecord | None:
        """The task once it is closed, or as it is when ``wait_s`` has passed (checked every quarter second)."""
        deadline = time.monotonic() + wait_s
        while True:
            record = await self.tasks.get(provider, task_id)
            remaining = deadline - time.monotonic()
            if record is None or not record.open or remaining <= 0:
                return record
            await asyncio.sleep(min(WAIT_STEP_S, remaining))

    def view(self, record: TaskRecord) -> dict[str, Any]:
        """The API's view of a task: everything except its notify secret."""
        now_ms = self._now_ms()

        def at(ms: int) -> str | None:
            return rfc3339(ms / 1000) if ms else None

        return {
            "provider": record.provider,
            "task_id": record.task_id,
            "service": None if record.service in ("", NO_SERVICE) else record.service,
            "tag": record.tag or None,
            "status": record.status,
            "overdue": record.overdue(now_ms),
            "origin": record.origin,
            "created_at": at(record.created_ms),
            "updated_at": at(record.updated_ms),
            "deadline_at": at(record.deadline_ms),
            "horizon_at": at(record.horizon_ms),
            "closed_at": at(record.closed_ms),
            "polls": record.polls,
            "last_poll_at": at(record.last_poll_ms),
            "next_poll_at": at(record.next_ms) if record.open else None,
            "last_error": record.last_error or None,
            "terminal_event_id": record.terminal_event or None,
            "notify_url": record.notify_url or None,
            "notified_event_id": record.notified or None,
        }


def timed_out_event(record: TaskRecord, now_s: float, partitions: int) -> NewEvent:
    """The ``task.timed_out`` event the relay stores for a task with no result by its horizon (source ``relay``)."""
    reason = "no result by the horizon" + (f"; last error: {record.last_error}" if record.last_error else "")
    body = orjson.dumps(
        {"provider": record.provider, "task_id": record.task_id, "reason": reason, "polls": record.polls}
    )
    update = TaskUpdate(task_id=record.task_id, status="failed", error=TaskError(code="timed_out", message=reason))
    event = build_event(
        provider=record.provider,
        tag=record.tag or None,
        update=update,
        body=body,
        is_json=True,
        request=RequestInfo(method="", path="", query="", headers=[], content_type="application/json"),
        now_s=now_s,
        partitions=partitions,
        source="relay",
    )
    meta = orjson.loads(event.meta)
    meta.update(type=TIMED_OUT, status="timed_out")
    return dataclasses.replace(
        event,
        type=TIMED_OUT,
        status="timed_out",
        meta=orjson.dumps(meta),
        dedup_key=keys.dedup(event.partition, record.provider, record.task_id, "timed_out"),
    )


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES
