"""Tunnel: events/s and latency from a provider's callback to the developer's local server, through `relay tunnel`.

One relay process (uvicorn, embedded Redis), one ``relay tunnel --raw`` process, one local target (uvicorn in a
thread). Latency runs from just before the provider's POST to the target receiving the forwarded request (same
clock). Two runs: one sender at a time (latency when idle), then 8 concurrent senders (throughput).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.harness import Options, SectionResult, median
from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN_TOKEN
from tests.servers import run_server, unused_port
from tests.tunnel.conftest import RelayProcess, Target, TunnelProcess, callback_url, target_app, wait_for

NAME = "tunnel"
RUNS = (("one sender", 300, 1), ("8 senders", 1000, 8))


async def _send(url: str, prefix: str, count: int, concurrency: int, sent: dict[str, float]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def sender(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            task_id = f"{prefix}-{queue.get_nowait()}"
            sent[task_id] = time.perf_counter()
            response = await http.post(url, content=orjson.dumps({"taskId": task_id, "status": "completed"}))
            response.raise_for_status()

    async with httpx.AsyncClient(timeout=10) as http:
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(options: Options) -> SectionResult:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "RELAY_SECRET_KEY": secrets.token_urlsafe(32),
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,  # the token tests/tunnel/conftest.py helpers send
            "RELAY_LOG_LEVEL": "warning",
            "RELAY_WORKER": "false",
            "RELAY_RATE_TOKEN_PER_S": "0",
            "RELAY_RATE_ADDRESS_PER_S": "0",
        }
        target = Target()
        port = unused_port()
        relay = RelayProcess({**env, "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, Path(tmp) / "relay.log")
        with run_server(target_app(target)) as target.url:
            relay.start()
            client = TunnelProcess(["--server", relay.url, "--forward-to", target.url, "--raw"], env)
            try:
                client.wait_ready()
                url = callback_url(relay, "generic")
                for label, count, concurrency in RUNS:
                    target.received.clear()
                    sent: dict[str, float] = {}
                    started = time.perf_counter()
                    asyncio.run(_send(url, label.replace(" ", "-"), count, concurrency, sent))
                    wait_for(lambda n=count: len(target.received) >= n, timeout_s=120, what="every event")
                    finished = max(item.at for item in target.received)
                    task_ids = [orjson.loads(item.body)["taskId"] for item in target.received]
                    latencies = [(item.at - sent[t]) * 1000 for item, t in zip(target.received, task_ids, strict=True)]
                    runs.append(
                        {
                            "run": label,
                            "events": count,
                            "concurrency": concurrency,
                            "delivered": len(task_ids),
                            "unique": len(set(task_ids)),
                            "events_per_s": round(count / (finished - started)),
                            "p50_ms": round(median(latencies), 1),
                            "p99_ms": round(_percentile(latencies, 0.99), 1),
                        }
                    )
            finally:
                client.stop()
                relay.stop()
    return SectionResult(data={"runs": runs}, markdown=_markdown(runs))


def _markdown(runs: list[dict[str, Any]]) -> str:
    lines = [
        "**Tunnel**: callback POSTed to the relay → `relay tunnel --raw` → a local uvicorn target, all on one machine.",
        "",
        "| run | events | events/s | p50 | p99 | delivered / unique |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['run']} | {r['events']:,} | {r['events_per_s']:,} | {r['p50_ms']} ms | {r['p99_ms']} ms "
            f"| {r['delivered']:,} / {r['unique']:,} |"
        )
    return "\n".join(lines)
