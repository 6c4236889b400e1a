"""Tracked tasks in Redis: registered (or started by a progress callback), polled under a lease, closed by an event.

Life of a task (keys in :mod:`relay.store.keys`, scripts in ``scripts/``)::

    task_register.lua   waiting, in ``polls`` at its deadline (a registration merges into an existing record)
    accept.lua          a stored event moves it on: its first terminal event closes it (out of ``polls``, TTL set)
                        and claims its notification; a progress callback of an unknown task may start one
    claim.lua           its ``polls`` score becomes this poller's lease end; nobody else polls it until then
    task_polled.lua     polling | overdue, next poll scheduled (only while the lease holds)
    task_settle.lua     closed on an event stored earlier (a poll answered with a duplicate, a late registration)

A task lives in the partition of its events, so a script touching its record, ``polls`` and the events stays in one
Redis Cluster slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relay.store import keys
from relay.store.indexes import claim_due, merge_newest, scan_newest
from relay.store.store import RedisClient, load_script

OPEN_STATUSES = ("waiting", "polling", "overdue")
TERMINAL_STATUSES = ("succeeded", "failed", "timed_out")
FIELDS = (
    "provider",
    "task_id",
    "service",
    "tag",
    "status",
    "origin",
    "created_ms",
    "updated_ms",
    "deadline_ms",
    "horizon_ms",
    "polls",
    "last_poll_ms",
    "next_ms",
    "last_error",
    "last_event",
    "last_source",
    "terminal_event",
    "closed_ms",
    "notify_url",
    "notified",
)
SCAN_BATCH = 200


@dataclass(frozen=True, slots=True)
class TaskRecord:
    provider: str
    task_id: str
    service: str
    tag: str
    status: str
    origin: str
    created_ms: int
    updated_ms: int
    deadline_ms: int
    horizon_ms: int
    polls: int
    last_poll_ms: int
    next_ms: int
    last_error: str
    last_event: str
    last_source: str
    terminal_event: str
    closed_ms: int
    notify_url: str
    notified: str

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    def overdue(self, now_ms: int) -> bool:
        return self.open and now_ms >= self.deadline_ms

    @classmethod
    def from_row(cls, row: list[Any]) -> TaskRecord | None:
        if row[0] is None:
            return None
        text = {name: (value.decode() if value is not None else "") for name, value in zip(FIELDS, row, strict=True)}
        numbers = {
            name: int(text[name] or 0)
            for name in ("created_ms", "updated_ms", "deadline_ms", "horizon_ms", "polls", "last_poll_ms")
        }
        numbers["next_ms"] = int(text["next_ms"] or 0)
        numbers["closed_ms"] = int(text["closed_ms"] or 0)
        return cls(**{**text, **numbers})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class NewTask:
    provider: str
    task_id: str
    service: str
    tag: str
    deadline_ms: int
    horizon_ms: int
    notify_url: str
    notify_secret: str


class TaskStore:
    """Typed access to tracked tasks; see the module docstring for their life. The caller owns the client.

    :param partitions: ``RELAY_PARTITIONS``: a task lives in its events' partition.
    :param event_ttl_s: how long a closed task is kept (as long as its events).
    """

    def __init__(self, redis: RedisClient, *, partitions: int, event_ttl_s: int) -> None:
        self.redis = redis
        self.partitions = partitions
        self.ttl_ms = event_ttl_s * 1000
        self._register = load_script(redis, "task_register")
        self._claim = load_script(redis, "claim")
        self._polled = load_script(redis, "task_polled")
        self._settle = load_script(redis, "task_settle")

    def where(self, provider: str, task_id: str) -> tuple[int, str]:
        """The task's partition and digest."""
        return keys.partition_for(provider, task_id, self.partitions), keys.task_digest(provider, task_id)

    async def register(self, task: NewTask, now_ms: int) -> bool:
        """Create or merge the task's record; True when it was created."""
        partition, digest = self.where(task.provider, task.task_id)
        created = await self._register.call(
            [keys.task_record(partition, digest), keys.task_polls(partition), keys.tasks_index(partition)],
            [
                digest,
                now_ms,
                task.provider,
                task.task_id,
                task.service,
                task.tag,
                task.deadline_ms,
                task.horizon_ms,
                task.notify_url,
                task.notify_secret,
                self.ttl_ms,
            ],
        )
        return bool(created)

    async def get(self, provider: str, task_id: str) -> TaskRecord | None:
        partition, digest = self.where(provider, task_id)
        return (await self.load(partition, [digest]))[0]

    async def load(self, partition: int, digests: list[str]) -> list[TaskRecord | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hmget(keys.task_record(partition, digest), list(FIELDS))
            rows: list[list[Any]] = await pipe.execute()
        return [TaskRecord.from_row(row) for row in rows]

    async def notify_target(self, provider: str, task_id: str) -> tuple[str, str] | None:
        """The notify URL and signing secret of a task, or None when it has none (or expired)."""
        partition, digest = self.where(provider, task_id)
        row: list[Any] = await self.redis.hmget(keys.task_record(partition, digest), ["notify_url", "notify_secret"])
        url, secret = row
        if not url or not secret:
            return None
        return url.decode(), secret.decode()

    async def notify_secret(self, provider: str, task_id: str) -> str | None:
        partition, digest = self.where(provider, task_id)
        found: Any = await self.redis.hget(keys.task_record(partition, digest), "notify_secret")
        return found.decode() if found else None

    # -- the poller ----------------------------------------------------------------------------------------------

    async def claim(self, partition: int, now_ms: int, lease_end_ms: int, limit: int) -> list[str]:
        """Digests of tasks due for a poll (or a deadline check), now leased to the caller until ``lease_end_ms``."""
        return await claim_due(self._claim, keys.task_polls(partition), now_ms, lease_end_ms, limit)

    async def polled(
        self,
        partition: int,
        digest: str,
        *,
        lease_ms: int,
        next_ms: int | None,
        status: str,
        now_ms: int,
        error: str,
        counted: bool,
    ) -> bool:
        applied = await self._polled.call(
            [keys.task_polls(partition), keys.task_record(partition, digest)],
            [digest, lease_ms, "" if next_ms is None else next_ms, status, now_ms, error, int(counted)],
        )
        return bool(applied)

    async def settle(self, provider: str, task_id: str, status: str, event_id: str, now_ms: int) -> str | None:
        """Close the task on a stored event; returns the event id whose notification the caller must create."""
        partition, digest = self.where(provider, task_id)
        pending = await self._settle.call(
            [keys.task_record(partition, digest), keys.task_polls(partition)],
            [digest, status, event_id, now_ms, self.ttl_ms],
        )
        return pending.decode() if pending else None

    async def notify_created(self, provider: str, task_id: str) -> None:
        partition, digest = self.where(provider, task_id)
        await self.redis.hdel(keys.task_record(partition, digest), "notify_pending")

    # -- listing --------------------------------------------------------------------------------------------------

    async def page(self, *, status: str | None, now_ms: int, limit: int, cursor: int | None) -> list[TaskRecord]:
        """Newest first; ``status`` filters (``overdue``: open and past its deadline); ``cursor`` is the creation
        time (ms) of the last task of the previous page."""
        pages = [await self._scan(p, status, now_ms, limit, cursor) for p in range(self.partitions)]
        return merge_newest(pages, lambda t: t.created_ms, limit)

    async def _scan(
        self, partition: int, status: str | None, now_ms: int, limit: int, cursor: int | None
    ) -> list[TaskRecord]:
        index = keys.tasks_index(partition)

        async def read(upper: str) -> list[Any]:  # (member, score) pairs
            batch: list[Any] = await self.redis.zrevrangebyscore(
                index, upper, "-inf", start=0, num=SCAN_BATCH, withscores=True
            )
            return batch

        async def keep(batch: Sequence[Any]) -> list[TaskRecord | None]:
            records = await self.load(partition, [member.decode() for member, _ in batch])
            return [record if record is not None and _matches(record, status, now_ms) else None for record in records]

        upper = f"({cursor}" if cursor is not None else "+inf"
        return await scan_newest(read, lambda last: f"({int(last[1])}", keep, upper=upper, limit=limit)

    async def open_counts(self, now_ms: int) -> dict[str, int]:
        """How many tasks are open in all, and how many of them are past their deadline (due for a poll)."""
        total = overdue = 0
        for partition in range(self.partitions):
            total += await self.redis.zcard(keys.task_polls(partition))
            overdue += await self.redis.zcount(keys.task_polls(partition), "-inf", now_ms)
        return {"open": total, "due": overdue}


def _matches(record: TaskRecord, status: str | None, now_ms: int) -> bool:
    if status is None:
        return True
    if status == "overdue":
        return record.overdue(now_ms)
    return record.status == status
