"""Tasks: Redis bytes per open task, and the poller's CPU per poll next to a bare HTTP GET's.

* **Memory**: ``tasks_open`` tasks registered (Kie Market, 24-character ids, as ``POST /v1/tasks`` stores them);
  then, from an empty database again, as many with a ``notify_url`` (which adds a URL and a ``whsec_`` secret);
  Redis ``used_memory`` before and after each fill.
* **CPU per poll**: ``tasks_polls`` tasks of ``relay simulate``'s Kie stand-in (a separate process, generations
  that never end) registered past their deadline; the poller (in this process) polls each once: claim under the
  lease, GET ``recordInfo``, adapter parse, the progress event stored through accept.lua, the next poll scheduled.
  Measured side by side with the same number of bare GETs of the same endpoint through the same client at the
  same concurrency (the floor any poller pays): the ratio is what the relay adds.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from bench.harness import Options, SectionResult, unused_port
from relay.config import Settings
from relay.embedded import EmbeddedRedis
from relay.store.connect import open_redis
from relay.store.tasks import NewTask, TaskStore
from relay.tasks.poller import Poller

NAME = "tasks"
SIM_KEY = "bench-sim-key"
CONCURRENCY = 16
BATCH = 64  # registrations in flight at once: the pool's size, so none waits long for a connection


@contextmanager
def simulator(port: int) -> Iterator[str]:
    args = [sys.executable, "-m", "relay", "simulate", "--port", str(port), "--duration", "86400", "--api-key", SIM_KEY]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/_sim/config", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("relay simulate did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def _used(client: redis.asyncio.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def _register(tasks: TaskStore, count: int, prefix: str, notify: bool, now_ms: int) -> None:
    for start in range(0, count, BATCH):
        await asyncio.gather(
            *(
                tasks.register(
                    NewTask(
                        provider="kie",
                        task_id=f"{prefix}{n:018x}",
                        service="market",
                        tag="",
                        deadline_ms=now_ms + 600_000,
                        horizon_ms=now_ms + 86_400_000,
                        notify_url="https://example.com/hooks/generation-done" if notify else "",
                        notify_secret="whsec_" + "A" * 44 if notify else "",
                    ),
                    now_ms,
                )
                for n in range(start, min(start + BATCH, count))
            )
        )


async def _memory(client: redis.asyncio.Redis, settings: Settings, count: int) -> dict[str, Any]:
    tasks = TaskStore(client, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
    now_ms = int(time.time() * 1000)
    found: dict[str, Any] = {"open_tasks": count}
    # Each fill from an empty database, so both pay the same table growth.
    for name, notify in (("bytes_per_open_task", False), ("bytes_per_open_task_with_notify", True)):
        await client.flushall()
        before = await _used(client)
        await _register(tasks, count, "open", notify=notify, now_ms=now_ms)
        found[name] = round((await _used(client) - before) / count)
    await client.flushall()
    return found


async def _submit(http: httpx.AsyncClient, base: str, count: int) -> list[str]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one() -> str:
        async with limit:
            response = await http.post(
                f"{base}/api/v1/jobs/createTask",
                json={"model": "bench/model", "input": {}},
                headers={"Authorization": f"Bearer {SIM_KEY}"},
            )
            return str(response.json()["data"]["taskId"])

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _bare_gets(http: httpx.AsyncClient, base: str, task_ids: list[str]) -> float:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(task_id: str) -> None:
        async with limit:
            response = await http.get(
                f"{base}/api/v1/jobs/recordInfo",
                params={"taskId": task_id},
                headers={"authorization": f"Bearer {SIM_KEY}", "accept": "application/json"},
            )
            response.json()

    started = time.process_time()
    await asyncio.gather(*(one(task_id) for task_id in task_ids))
    return time.process_time() - started


async def _polls(client: redis.asyncio.Redis, settings: Settings, base: str, count: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
        task_ids = await _submit(http, base, count)
        tasks = TaskStore(client, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        now_ms = int(time.time() * 1000)
        for start in range(0, count, BATCH):
            await asyncio.gather(
                *(
                    tasks.register(NewTask("kie", tid, "market", "", now_ms - 1, now_ms + 86_400_000, "", ""), now_ms)
                    for tid in task_ids[start : start + BATCH]
                )
            )
        bare_cpu = await _bare_gets(http, base, task_ids)
        poller = Poller(client, settings, http=http)
        started_cpu, started = time.process_time(), time.perf_counter()
        async with asyncio.TaskGroup() as group:
            while poller.polls < count:
                if not await poller.tick(group, http):
                    await asyncio.sleep(0.001)
            while poller._in_flight:
                await asyncio.sleep(0.001)
        poll_cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
        stored = await client.xlen("relay:{p00}:events")
    return {
        "polls": poller.polls,
        "progress_events_stored": stored,
        "poller_cpu_us_per_poll": round(poll_cpu / count * 1e6),
        "bare_get_cpu_us": round(bare_cpu / count * 1e6),
        "ratio": round(poll_cpu / bare_cpu, 2),
        "polls_per_s": round(count / wall),
    }


async def _run(options: Options, redis_url: str, sim_url: str) -> dict[str, Any]:
    environ = {
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": secrets.token_urlsafe(32),
        "RELAY_ADMIN_TOKEN": secrets.token_urlsafe(16),
        "RELAY_KIE_API_KEY": SIM_KEY,
        "RELAY_KIE_API_BASE": f"{sim_url}/kie",
        "RELAY_TASKS_POLL_INTERVAL_S": "3600",
        "RELAY_TASKS_POLL_MAX_INTERVAL_S": "3600",
        "RELAY_TASKS_POLL_CONCURRENCY": str(CONCURRENCY),
        "RELAY_STORE_TIMEOUT_S": "10",
    }
    settings = Settings.from_environ(environ)
    client = open_redis(settings)  # the app's pool: bounded, a burst waits for a connection
    try:
        memory = await _memory(client, settings, options.tasks_open)
        polls = await _polls(client, settings, f"{sim_url}/kie", options.tasks_polls)
    finally:
        await client.aclose()
    return {**memory, **polls}


def run(options: Options) -> SectionResult:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        with simulator(unused_port()) as sim_url:
            data = asyncio.run(_run(options, store.url, sim_url))
    return SectionResult(data=data, markdown=_markdown(data))


def _markdown(data: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"**Tasks**: {data['open_tasks']:,} open tasks registered in Redis (twice: without and with a notify_url); "
            f"then {data['polls']:,} polls of "
            f"`relay simulate`'s Kie stand-in by the poller, next to as many bare GETs of the same endpoint "
            f"(same client, {CONCURRENCY} at a time). CPU of this process only (the simulator and Redis run apart).",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| Redis per open task: registered / with notify_url | {data['bytes_per_open_task']:,} / "
            f"{data['bytes_per_open_task_with_notify']:,} bytes |",
            f"| poller CPU per poll (bare GET) | {data['poller_cpu_us_per_poll']:,} µs "
            f"({data['bare_get_cpu_us']:,} µs), {data['ratio']}x |",
            f"| polls per second | {data['polls_per_s']:,} |",
        ]
    )
