"""Delivery: signed deliveries/s of one ``relay worker`` process, and end-to-end latency callback -> subscriber.

The relay's web process (``RELAY_WORKER=false``), the subscriber (:mod:`bench.sink`, a bare ASGI app) and the
worker each run in their own process, on loopback, with the embedded Redis binary (AOF everysec) on a unix socket.

* **throughput**: a backlog of N callbacks is stored while no worker runs; then one worker starts and turns them
  into deliveries and POSTs them. deliveries/s = arrivals / (last arrival - first arrival).
* **latency**: with the worker idle, callbacks are POSTed at a fixed rate; each one's latency is the subscriber's
  arrival time minus the time the callback was sent (both wall clock, one machine).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import callbacks
from bench.harness import (
    ROOT,
    Options,
    SectionResult,
    available_stacks,
    cpu_seconds,
    fixtures,
    stop_process,
    uvicorn_server,
    web_env,
)
from bench.sink import Sink
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "delivery"
IDLE_RATE = 20.0
IDLE_COUNT = 100


@contextmanager
def relay_worker(env: Mapping[str, str], root: Path = ROOT) -> Iterator[subprocess.Popen[bytes]]:
    """``relay worker`` (from the checkout at ``root``) in a child process; SIGTERM (then SIGKILL) on exit."""
    child_env = {**os.environ, **env, "PYTHONPATH": str(root)}
    process = subprocess.Popen([sys.executable, "-m", "relay", "worker"], env=child_env, cwd=root)
    try:
        yield process
    finally:
        stop_process(process, 15)


def subscribe(web_url: str, admin: str, url: str) -> None:
    response = httpx.post(
        f"{web_url}/v1/subscriptions", json={"url": url}, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    response.raise_for_status()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def _latency(sent: dict[str, float], stats: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, float] = {}
    for task, at, _ in stats["arrivals"]:
        first.setdefault(task, at)
    latencies = [(first[task] - at) * 1000 for task, at in sent.items() if task in first]
    return {
        "sent": len(sent),
        "arrived": len(latencies),
        "p50_ms": round(_percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": round(_percentile(latencies, 99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
    }


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    nonce = secrets.token_hex(4)
    stack = available_stacks()[-1]
    backlog = options.delivery_backlog
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        env = web_env(store.url, secret, admin)
        with (
            uvicorn_server("sink", "bench.sink:app", env={}, stack=stack) as sink,
            uvicorn_server("relay", "relay.app:create_app", env=env, stack=stack, factory=True) as web,
        ):
            subscribe(web.url, admin, f"{sink.url}/hook")
            filled = callbacks.fill(web.url, paths, bodies, count=backlog, nonce=f"{nonce}b")
            with relay_worker(env) as worker:
                started = time.time()
                subscriber = Sink(sink.url)
                subscriber.wait(backlog, timeout_s=max(120.0, backlog / 50))
                stats = subscriber.stats()
                cpu = cpu_seconds(worker.pid)
                times = sorted(at for _, at, _ in stats["arrivals"])
                distinct = len({task for task, _, _ in stats["arrivals"]})
                throughput = {
                    "backlog": backlog,
                    "fill": filled,
                    "arrived": stats["count"],
                    "distinct": distinct,
                    "unsigned": stats["unsigned"],
                    "first_arrival_after_start_s": round(times[0] - started, 2) if times else None,
                    "deliveries_per_s": round((len(times) - 1) / (times[-1] - times[0]), 1) if len(times) > 1 else 0,
                    "worker_cpu_us_per_delivery": round(cpu * 1e6 / max(len(times), 1), 1),
                }
                latency = {}
                for label, rate, count in (
                    ("idle", IDLE_RATE, IDLE_COUNT),
                    ("rate", options.e2e_rate, int(options.e2e_rate * options.e2e_duration_s)),
                ):
                    subscriber.clear()
                    sent = callbacks.at_rate(web.url, paths, bodies, rate=rate, count=count, nonce=f"{nonce}{label}")
                    subscriber.wait(count, timeout_s=30)
                    result = _latency(sent, subscriber.stats())
                    latency[label] = {"rate": rate, **result}
    data = {"stack": stack.name, "throughput": throughput, "latency": latency}
    return SectionResult(data=data, markdown=_markdown(data))


def _markdown(data: dict[str, Any]) -> str:
    put, idle, rated = data["throughput"], data["latency"]["idle"], data["latency"]["rate"]
    return "\n".join(
        [
            f"**Delivery**: one `relay worker` process (default settings) to a bare ASGI subscriber on loopback; "
            f"throughput over a backlog of {put['backlog']:,} stored callbacks, e2e latency = subscriber arrival "
            "- callback sent, with the worker idle.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| signed deliveries/s (backlog) | {put['deliveries_per_s']:,.0f} |",
            f"| worker CPU per delivery | {put['worker_cpu_us_per_delivery']:,.0f} µs |",
            f"| e2e p50 / p99, {idle['rate']:g} callbacks/s | {idle['p50_ms']:.1f} / {idle['p99_ms']:.1f} ms |",
            f"| e2e p50 / p99, {rated['rate']:g} callbacks/s | {rated['p50_ms']:.1f} / {rated['p99_ms']:.1f} ms |",
            f"| delivered / duplicates / unsigned | {put['distinct']:,} / {put['arrived'] - put['distinct']} "
            f"/ {put['unsigned']} |",
        ]
    )
