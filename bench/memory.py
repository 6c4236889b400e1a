"""Memory: Redis bytes per stored event and per delivery, and RSS of the web process and of one worker.

Bodies are the 1 KB fixtures (``bench/fixtures/1k``: as each provider documents them, with fresh random ids and
URLs per callback, and the headers a provider's client sends). Phase 1 stores ``--memory-backlog`` callbacks with no
subscription: Redis ``used_memory`` before and after gives bytes per stored event. Phase 2 subscribes
``--memory-subscriptions`` subscribers that are down (their URLs point at a port nothing listens on) and stores a
tenth as many more; the worker creates each delivery and attempts it once (refused), leaving all pending, so the
growth over phase 1's per-event figure is what the deliveries cost.

Each reading waits until ``used_memory`` settles (two readings a second apart within 0.1%, at most 20 s): right after
a fill Redis can still hold memory it frees a few seconds later (incremental rehashing keeps a dict's old table until
it is done). Read at once, one run's per-event figure came out 11% high, and its used memory then fell while
10,000 more events were stored.

With ``--baseline DIR`` the same runs, on fewer callbacks, against the relay as it was.
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
from bench.harness import Options, SectionResult, fixtures, relay_serve, unused_port, web_env
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "memory"
MB = 1024 * 1024
DAY_CALLBACKS = 100_000
RETENTION_DAYS = 30
BASELINE_BACKLOG = 20_000


def _rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / MB, 1)


def _used(client: redis.Redis) -> int:
    """``used_memory`` once it settles (see the module's docstring)."""
    deadline = time.monotonic() + 20
    used = int(client.info("memory")["used_memory"])
    while time.monotonic() < deadline:
        time.sleep(1.0)
        previous, used = used, int(client.info("memory")["used_memory"])
        if abs(used - previous) <= previous / 1000:
            break
    return used


def run(options: Options) -> SectionResult:
    data: dict[str, Any] = {"now": _measure(options, options.memory_backlog, None)}
    if options.baseline is not None:
        data["before"] = _measure(options, min(options.memory_backlog, BASELINE_BACKLOG), options.baseline)
    return SectionResult(data=data, markdown=_markdown(data))


def _measure(options: Options, count: int, root: Path | None) -> dict[str, Any]:
    bodies = fixtures("1k")
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    subscribers = options.memory_subscriptions
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as store:
        client = redis.Redis.from_url(store.url)
        env = {**web_env(store.url, secret, admin), "RELAY_DATA_DIR": tmp}
        kwargs: dict[str, Any] = {"root": root} if root is not None else {}
        with relay_serve(env, **kwargs) as web:
            web_idle = _rss_mb(web.process.pid)
            before = _used(client)
            filled = callbacks.fill(web.url, paths, bodies, count=count, nonce=secrets.token_hex(4), connections=64)
            events_only = _used(client)
            web_after = _rss_mb(web.process.pid)
            for _ in range(subscribers):
                subscribe(web.url, admin, f"http://127.0.0.1:{unused_port()}/down")
            second = max(count // 10, 1)
            callbacks.fill(web.url, paths, bodies, count=second, nonce=secrets.token_hex(4), connections=64)
            events_second = _used(client)
            with relay_worker(env, **kwargs) as worker:
                peak = 0.0
                deadline = time.monotonic() + max(300.0, second * subscribers / 100)
                attempted = 0
                while time.monotonic() < deadline:
                    peak = max(peak, _rss_mb(worker.pid))
                    # Done when every delivery had its first attempt.
                    attempted = sum(1 for _ in client.scan_iter(match="relay:*:attempts:*", count=5000))
                    if attempted >= second * subscribers:
                        break
                    time.sleep(1.0)
                worker_after = _rss_mb(worker.pid)
                peak = max(peak, worker_after)
                with_deliveries = _used(client)
        client.close()
    per_event = (events_only - before) / count
    deliveries = second * subscribers
    return {
        "backlog": count,
        "fill": filled,
        "subscriptions": subscribers,
        "second_fill": second,
        "deliveries_attempted": attempted,
        "rss_mb": {"web_idle": web_idle, "web_after_fill": web_after, "worker": worker_after, "worker_peak": peak},
        "redis_used_memory": {
            "before": before,
            "events": events_only,
            "events_second": events_second,
            "with_deliveries": with_deliveries,
        },
        "redis_bytes_per_event": round(per_event),
        "redis_bytes_per_delivery": round((with_deliveries - events_second) / deliveries),
        "redis_bytes_per_event_with_deliveries": round(
            (with_deliveries - events_only) / second,
        ),
        "retention_gb": round(per_event * DAY_CALLBACKS * RETENTION_DAYS / 1e9, 2),
        "retention_with_deliveries_gb": round(
            (with_deliveries - events_only) / second * DAY_CALLBACKS * RETENTION_DAYS / 1e9, 2
        ),
    }


def _markdown(data: dict[str, Any]) -> str:
    now = data["now"]
    before = data.get("before")
    subs = now["subscriptions"]
    columns = ["now"] + (["before"] if before else [])
    header = "| measure | now |" + (" before |" if before else "")
    lines = [
        f"**Memory**: Redis `used_memory` (INFO memory) over {now['backlog']:,} stored callbacks of the 1 KB fixtures "
        f"(before: {before['backlog']:,}), then {now['second_fill']:,} more with {subs} subscribers down, each "
        "delivery created and attempted once (refused), all pending. RSS by psutil. Retention: "
        f"{DAY_CALLBACKS:,} callbacks a day kept {RETENTION_DAYS} days (the default event TTL)."
        if before
        else f"**Memory**: Redis `used_memory` (INFO memory) over {now['backlog']:,} stored callbacks of the 1 KB "
        f"fixtures, then {now['second_fill']:,} more with {subs} subscribers down, each delivery created and "
        "attempted once (refused), all pending. RSS by psutil. Retention: "
        f"{DAY_CALLBACKS:,} callbacks a day kept {RETENTION_DAYS} days (the default event TTL).",
        "",
        header,
        "|---|---:|" + ("---:|" if before else ""),
    ]
    rows = [
        ("Redis per stored event", lambda d: f"{d['redis_bytes_per_event']:,} bytes"),
        ("Redis per delivery (pending, one attempt)", lambda d: f"{d['redis_bytes_per_delivery']:,} bytes"),
        (
            f"Redis per event with its {subs} deliveries",
            lambda d: f"{d['redis_bytes_per_event_with_deliveries']:,} bytes",
        ),
        (f"{DAY_CALLBACKS:,}/day for {RETENTION_DAYS} days: events", lambda d: f"{d['retention_gb']:.2f} GB"),
        (
            f"{DAY_CALLBACKS:,}/day for {RETENTION_DAYS} days: with {subs} deliveries each",
            lambda d: f"{d['retention_with_deliveries_gb']:.2f} GB",
        ),
        (
            "web RSS: idle / after the fill",
            lambda d: f"{d['rss_mb']['web_idle']:.0f} / {d['rss_mb']['web_after_fill']:.0f} MB",
        ),
        (
            "worker RSS with the deliveries pending (peak)",
            lambda d: f"{d['rss_mb']['worker']:.0f} ({d['rss_mb']['worker_peak']:.0f}) MB",
        ),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(data[c]) for c in columns) + " |")
    return "\n".join(lines)
