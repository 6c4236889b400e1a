"""Scale: ingest throughput of ``relay serve --workers N`` for N = 1, 2, 4 on this machine, and what saturates.

Each server is the production web process (``relay serve``: uvloop, httptools with the head deadline,
RELAY_WORKER=false, rate limits on but raised past one load generator) against one Redis (the embedded binary, AOF
``everysec``, unix socket). wrk drives each in alternating rounds, as in the ingest section; the CPU seconds of the
relay's processes, of Redis and of the whole machine say which runs out first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import psutil
import redis

from bench.harness import Options, SectionResult, fixtures, median, relay_serve, web_env, wrk
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "scale"
PROCESSES = (1, 2, 4)


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (``relay serve --workers N`` forks N)."""
    process = psutil.Process(pid)
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    nonce = secrets.token_hex(4)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as store:
        env = {**web_env(store.url, secret, admin), "RELAY_DATA_DIR": tmp}
        redis_pid = int(redis.Redis.from_url(store.url).info("server")["process_id"])
        for number in range(options.rounds):
            # Alternate the order, so a neighbour's load spike does not always hit the same count.
            order = PROCESSES if number % 2 == 0 else tuple(reversed(PROCESSES))
            measured: dict[str, Any] = {}
            for workers in order:
                with relay_serve(env, workers=workers) as server:
                    connections = options.connections
                    url = server.url
                    wrk(url, paths, connections=connections, duration_s=options.warmup_s, nonce=f"{nonce}w{number}")
                    cpu_before = (_tree_cpu_s(server.process.pid), _tree_cpu_s(redis_pid), _machine_busy_s())
                    result = wrk(
                        url, paths, connections=connections, duration_s=options.duration_s, nonce=f"{nonce}{number}"
                    )
                    cpu_after = (_tree_cpu_s(server.process.pid), _tree_cpu_s(redis_pid), _machine_busy_s())
                    seconds = result["duration_s"]
                    # Cores kept busy: the relay's processes, its Redis, and the whole machine (everyone's).
                    result["cores_relay"] = round((cpu_after[0] - cpu_before[0]) / seconds, 2)
                    result["cores_redis"] = round((cpu_after[1] - cpu_before[1]) / seconds, 2)
                    result["cores_machine"] = round((cpu_after[2] - cpu_before[2]) / seconds, 2)
                    measured[str(workers)] = result
            rounds.append(measured)
    data = {"processes": list(PROCESSES), "rounds": rounds, "cores": os.cpu_count()}
    return SectionResult(data=data, markdown=_markdown(data, options))


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + times.nice + getattr(times, "irq", 0) + getattr(times, "softirq", 0))


def _markdown(data: dict[str, Any], options: Options) -> str:
    rounds = data["rounds"]
    base = median([r["1"]["rps"] for r in rounds])
    lines = [
        f"**Scale**: `relay serve --workers N` (web only, rate limits on), wrk {options.connections} connections, "
        f"medians of {options.rounds} alternating rounds of {options.duration_s:g} s, one Redis (AOF everysec, unix "
        f"socket) on the same {data['cores']} cores. Cores busy: CPU seconds per second of the relay's processes, "
        "of its Redis, and of the whole machine (wrk and every neighbour included).",
        "",
        "| processes | callbacks/s | vs 1 | p50 ack | p99 ack | cores: relay / Redis / machine | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in data["processes"]:
        key = str(workers)
        rps = median([r[key]["rps"] for r in rounds])
        errors = sum(r[key]["non_2xx"] + r[key]["socket_errors"] for r in rounds)
        cores = " / ".join(
            f"{median([r[key][name] for r in rounds]):.2f}" for name in ("cores_relay", "cores_redis", "cores_machine")
        )
        lines.append(
            f"| {workers} | {rps:,.0f} | {rps / base:.2f}x | {median([r[key]['p50_ms'] for r in rounds]):.1f} ms "
            f"| {median([r[key]['p99_ms'] for r in rounds]):.1f} ms | {cores} | {errors} |"
        )
    return "\n".join(lines)
