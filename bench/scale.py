"""Scale: ingest throughput of ``relay serve --workers N`` for N = 1, 2, ... on this machine.

Each server is the production web process (``relay serve``: h11 with the head deadline, RELAY_WORKER=false, rate
limits off since wrk is one client address) against one Redis (the embedded binary, AOF ``everysec``, unix
socket). wrk drives each in alternating rounds, as in the ingest section.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import (
    ROOT,
    Options,
    SectionResult,
    _wait_for_port,
    fixtures,
    median,
    stop_process,
    unused_port,
    web_env,
    wrk,
)
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "scale"
PROCESSES = (1, 2)


@contextmanager
def relay_serve(workers: int, env: Mapping[str, str]) -> Iterator[tuple[str, int]]:
    port = unused_port()
    args = [sys.executable, "-m", "relay", "serve", "--port", str(port), "--workers", str(workers)]
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(args, env=child_env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process, timeout_s=30)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        stop_process(process, 20)


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    nonce = secrets.token_hex(4)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        env = {**web_env(store.url, secret, admin), "RELAY_DATA_DIR": tmp}
        for number in range(options.rounds):
            # Alternate the order, so a neighbour's load spike does not always hit the same count.
            order = PROCESSES if number % 2 == 0 else tuple(reversed(PROCESSES))
            measured: dict[str, Any] = {}
            for workers in order:
                with relay_serve(workers, env) as (url, _):
                    connections = options.connections
                    wrk(url, paths, connections=connections, duration_s=options.warmup_s, nonce=f"{nonce}w{number}")
                    measured[str(workers)] = wrk(
                        url, paths, connections=connections, duration_s=options.duration_s, nonce=f"{nonce}{number}"
                    )
            rounds.append(measured)
    data = {"processes": list(PROCESSES), "rounds": rounds, "cores": os.cpu_count()}
    return SectionResult(data=data, markdown=_markdown(data, options))


def _markdown(data: dict[str, Any], options: Options) -> str:
    rounds = data["rounds"]
    base = median([r["1"]["rps"] for r in rounds])
    lines = [
        f"**Scale**: `relay serve --workers N` (web only), wrk {options.connections} connections, medians of "
        f"{options.rounds} alternating rounds of {options.duration_s:g} s, one Redis (AOF everysec, unix socket) "
        f"on the same {data['cores']} cores.",
        "",
        "| processes | callbacks/s | vs 1 | p50 ack | p99 ack | errors |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in data["processes"]:
        key = str(workers)
        rps = median([r[key]["rps"] for r in rounds])
        errors = sum(r[key]["non_2xx"] + r[key]["socket_errors"] for r in rounds)
        lines.append(
            f"| {workers} | {rps:,.0f} | {rps / base:.2f}x | {median([r[key]['p50_ms'] for r in rounds]):.1f} ms "
            f"| {median([r[key]['p99_ms'] for r in rounds]):.1f} ms | {errors} |"
        )
    return "\n".join(lines)
