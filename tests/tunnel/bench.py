"""Tunnel throughput and latency, callback -> local receipt, in one run on loopback.

    python -m tests.tunnel.bench [events] [concurrency]

One relay process (uvicorn, embedded Redis), one `relay tunnel --raw` process, one local target (uvicorn thread).
Latency is from just before the provider's POST to the target receiving the forwarded request (same clock).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN_TOKEN
from tests.servers import run_server, unused_port
from tests.tunnel.conftest import RelayProcess, Target, TunnelProcess, callback_url, target_app, wait_for


async def send(url: str, count: int, concurrency: int, sent: dict[str, float]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            sent[f"b-{n}"] = time.perf_counter()
            response = await http.post(url, content=orjson.dumps({"taskId": f"b-{n}", "status": "completed"}))
            response.raise_for_status()

    async with httpx.AsyncClient(timeout=10) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))


def main(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "RELAY_SECRET_KEY": "bench",
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_LOG_LEVEL": "warning",
        }
        target = Target()
        port = unused_port()
        relay = RelayProcess({**env, "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}, port, Path(tmp) / "relay.log")
        with run_server(target_app(target)) as target.url:
            relay.start()
            client = TunnelProcess(["--server", relay.url, "--forward-to", target.url, "--raw"], env)
            try:
                wait_for(lambda: any(line.startswith("forwarding to") for line in client.lines), what="the tunnel")
                url = callback_url(relay, "generic")
                sent: dict[str, float] = {}
                started = time.perf_counter()
                asyncio.run(send(url, count, concurrency, sent))
                wait_for(lambda: len(target.received) >= count, timeout_s=120, what="every event")
                finished = max(item.at for item in target.received)
            finally:
                client.stop()
                relay.stop()
    latencies = sorted((item.at - sent[orjson.loads(item.body)["taskId"]]) * 1000 for item in target.received)
    ids = [orjson.loads(item.body)["taskId"] for item in target.received]
    print(f"events={count} concurrency={concurrency} delivered={len(ids)} unique={len(set(ids))}")
    print(f"throughput={count / (finished - started):.0f} events/s")
    print(
        f"latency_ms p50={statistics.median(latencies):.1f} "
        f"p99={latencies[int(len(latencies) * 0.99) - 1]:.1f} max={latencies[-1]:.1f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 8)
