"""Group commit for one Lua script: the calls of concurrent requests go to Redis as one pipelined round trip.

A call queues its keys and arguments and waits on its own future. The first call queued schedules a flush; it
runs on the next loop iteration, by which time every request handled in the current one has queued its call too,
and sends them all as one pipeline of ``EVALSHA``. Up to ``max_in_flight`` pipelines are in flight at once (each on
its own pooled connection), so the relay parses new requests while Redis runs the previous batch; when all are in
flight, calls accumulate and go together in the next one. Each future is resolved with its own script's reply, or
its own error, so each request still answers only once its own write is acknowledged; one failing script does
not fail the others.

Each script stays atomic on its own (a pipeline is not a transaction), so a batch that fails halfway, e.g. on a
dropped connection, leaves every call either fully written or not at all; the caller answers 503 and the provider's
retry is deduplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from relay.store.cluster import is_cluster

Arg = str | bytes | int | float

# Bounds one pipeline's size, so a burst cannot make a single round trip slow for everyone in it.
MAX_BATCH = 256
# One batch being written by Redis while the next is being built is what overlaps the two processes' work.
MAX_IN_FLIGHT = 4


class _Call:
    __slots__ = ("command", "args", "future")

    def __init__(self, command: bytes, args: tuple[Arg, ...], future: asyncio.Future[Any]) -> None:
        self.command = command
        self.args = args
        self.future = future


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class ScriptWriter:
    """Runs one Lua script for many concurrent callers, batching their calls.

    :param redis: the client whose pool provides the connection; the caller owns and closes it.
    :param source: the script's Lua source; it is loaded on first use and again after Redis forgets it.
    :param max_batch: most calls per pipeline.
    :param max_in_flight: most pipelines awaiting their replies at once.
    """

    def __init__(
        self, redis: Redis, source: str, max_batch: int = MAX_BATCH, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self.redis = redis
        self.source = source
        self.sha = redis.register_script(source).sha
        self._cluster = is_cluster(redis)
        self.max_batch = max_batch
        self.batches = 0
        self._queue: list[_Call] = []
        self._slots = asyncio.Semaphore(max_in_flight)
        self._flush_scheduled = False
        # Strong references: the loop keeps only weak ones to running tasks.
        self._flushes: set[asyncio.Task[None]] = set()

    async def call(self, keys: Sequence[Arg], args: Sequence[Arg], timeout_s: float | None = None) -> Any:
        """The script's reply for these keys and arguments, once Redis has run it; ``TimeoutError`` when that takes
        longer than ``timeout_s``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        # hiredis packs in C, ten times faster than redis-py's Python packer, which dominated a batch's cost.
        parts = ("EVALSHA", self.sha, len(keys), *keys, *args)
        command = b"" if self._cluster else hiredis.pack_command(parts)  # type: ignore[arg-type]  # stub types a 1-tuple
        self._queue.append(_Call(command, parts, future))
        self._schedule_flush()
        if timeout_s is None:
            return await future
        # The deadline fails the future itself: a plain timer, cheaper per request than asyncio.timeout's
        # cancel-and-uncancel of the whole task, and a call that expires before it is sent is not written.
        expiry = loop.call_later(timeout_s, _expire, future)
        try:
            return await future
        finally:
            expiry.cancel()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            task = asyncio.create_task(self._flush())
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self) -> None:
        async with self._slots:
            self._flush_scheduled = False
            # A caller that gave up (its request timed out) before its call was sent is not written at all.
            batch = [call for call in self._queue[: self.max_batch] if not call.future.done()]
            del self._queue[: self.max_batch]
            if self._queue:
                self._schedule_flush()
            if batch:
                await self._send(batch)

    async def _send(self, calls: list[_Call]) -> None:
        self.batches += 1
        try:
            replies = await self._pipeline(calls)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                # Redis restarted or SCRIPT FLUSH ran: load the script again and resend only the calls it refused,
                # which therefore did not run.
                await self.redis.script_load(self.source)
                refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
                for i, reply in zip(refused, await self._pipeline([calls[i] for i in refused]), strict=True):
                    replies[i] = reply
        except asyncio.CancelledError:
            for call in calls:
                call.future.cancel()
            raise
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        for call, reply in zip(calls, replies, strict=True):
            if call.future.done():
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        """Write every call, then read every reply, on one pooled connection; an error reply is returned, not raised.

        Unlike redis-py's pipeline, nothing is resent on a connection error: a script may have run before the
        connection dropped, and the caller's 503 (then the provider's deduplicated retry) is the safe answer.
        """
        if self._cluster:
            return await self._cluster_pipeline(calls)
        pool = self.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(b"".join(call.command for call in calls))
            replies: list[Any] = []
            for _ in calls:
                try:
                    replies.append(await connection.read_response(disable_decoding=True))
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            # Replies may be left unread on the socket: it must not go back to the pool in sync with nothing.
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)
        return replies

    async def _cluster_pipeline(self, calls: list[_Call]) -> list[Any]:
        """A cluster has no single connection: its pipeline sends each node its share of the batch."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.execute_command(*call.args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
