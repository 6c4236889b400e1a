"""Memory: RSS of the web process and of one worker with a backlog of undelivered events, and Redis bytes per event.

The subscriber is down (its URL points at a port nothing listens on), so every event stays pending: the worker
creates its delivery, attempts it once (connection refused) and schedules the retry. Redis ``used_memory`` is read
before the fill, after it (events alone) and once the worker has created and attempted every delivery.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import redis

from bench import callbacks
from bench.delivery import relay_worker, subscribe
from bench.harness import Options, SectionResult, available_stacks, fixtures, unused_port, uvicorn_server, web_env
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "memory"
MB = 1024 * 1024


def _rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / MB, 1)


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    stack = available_stacks()[-1]
    count = options.memory_backlog
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        client = redis.Redis.from_url(store.url)
        env = web_env(store.url, secret, admin)
        with uvicorn_server("relay", "relay.app:create_app", env=env, stack=stack, factory=True) as web:
            subscribe(web.url, admin, f"http://127.0.0.1:{unused_port()}/down")
            web_idle = _rss_mb(web.process.pid)
            before = _used(client)
            filled = callbacks.fill(web.url, paths, bodies, count=count, nonce=secrets.token_hex(4), connections=64)
            events_only = _used(client)
            web_after = _rss_mb(web.process.pid)
            with relay_worker(env) as worker:
                peak = 0.0
                deadline = time.monotonic() + max(120.0, count / 200)
                while time.monotonic() < deadline:
                    peak = max(peak, _rss_mb(worker.pid))
                    # Done when every event has its delivery and every delivery had its first attempt.
                    attempted = sum(1 for _ in client.scan_iter(match="relay:*:attempts:*", count=5000))
                    if attempted >= count:
                        break
                    time.sleep(1.0)
                worker_after = _rss_mb(worker.pid)
                peak = max(peak, worker_after)
                with_deliveries = _used(client)
        client.close()
    data: dict[str, Any] = {
        "backlog": count,
        "fill": filled,
        "attempted": attempted,
        "rss_mb": {"web_idle": web_idle, "web_after_fill": web_after, "worker": worker_after, "worker_peak": peak},
        "redis_used_memory": {"before": before, "events": events_only, "with_deliveries": with_deliveries},
        "redis_bytes_per_event": round((events_only - before) / count),
        "redis_bytes_per_event_with_delivery": round((with_deliveries - before) / count),
    }
    return SectionResult(data=data, markdown=_markdown(data))


def _markdown(data: dict[str, Any]) -> str:
    rss = data["rss_mb"]
    return "\n".join(
        [
            f"**Memory**: {data['backlog']:,} callbacks stored while the only subscriber is down; the worker then "
            "creates each delivery and attempts it once (refused), leaving all pending. RSS by psutil.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| web process RSS: idle / after the fill | {rss['web_idle']:.0f} / {rss['web_after_fill']:.0f} MB |",
            f"| worker RSS with the backlog pending (peak) | {rss['worker']:.0f} ({rss['worker_peak']:.0f}) MB |",
            f"| Redis per event: stored / with one pending delivery | {data['redis_bytes_per_event']:,} / "
            f"{data['redis_bytes_per_event_with_delivery']:,} bytes |",
        ]
    )
