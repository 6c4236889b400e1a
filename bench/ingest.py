"""Ingest: the relay's durable ``POST /hooks/...`` against a bare Starlette endpoint, side by side.

Both run in one uvicorn process each with the same flags; the relay writes to a real Redis (the embedded
binary, AOF ``everysec``) that this section starts in a temporary directory. wrk (closed loop, same concurrency)
gives callbacks/s and ack latency, in alternating rounds so drifting machine load hits both alike; the open-loop
generator gives latency at a fixed offered rate.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

import redis

from bench import openloop
from bench.harness import (
    Options,
    SectionResult,
    Server,
    available_stacks,
    cpu_seconds,
    fixtures,
    median,
    uvicorn_server,
    web_env,
    wrk,
)
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "ingest"
BARE = "bare"
RELAY = "relay"
LABELS = {BARE: "bare Starlette (parse JSON, 200)", RELAY: "relay `POST /hooks` (stored, dedup)"}


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    nonce = secrets.token_hex(4)
    stacks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        redis_pid = _redis_pid(store.url)
        env = web_env(store.url, secret, admin)
        for stack in available_stacks():
            with (
                uvicorn_server(BARE, "bench.bare:app", env={}, stack=stack) as bare,
                uvicorn_server(RELAY, "relay.app:create_app", env=env, stack=stack, factory=True) as relay,
            ):
                stacks[stack.name] = _compare(options, [bare, relay], paths, bodies, f"{nonce}{stack.loop}", redis_pid)
        stored = _stored_events(store.url)
    data = {
        "redis": {"appendonly": "yes", "appendfsync": "everysec", "transport": "unix socket"},
        "connections": options.connections,
        "duration_s": options.duration_s,
        "providers": sorted(bodies),
        "stacks": stacks,
        "events_stored": stored,
        "relay_acks_2xx": sum(
            r[RELAY]["requests"] - r[RELAY]["non_2xx"] for stack in stacks.values() for r in stack["rounds"]
        ),
    }
    return SectionResult(data=data, markdown=_markdown(data, options))


def _compare(
    options: Options, servers: list[Server], paths: dict[str, str], bodies: dict[str, str], nonce: str, redis_pid: int
) -> dict[str, Any]:
    by_name = {server.name: server for server in servers}
    for server in servers:
        wrk(
            server.url,
            paths,
            connections=options.connections,
            duration_s=options.warmup_s,
            nonce=f"{nonce}w{server.name}",
        )
    rounds: list[dict[str, Any]] = []
    for number in range(options.rounds):
        # Alternate who goes first, so a load spike from a neighbour does not always hit the same side.
        order = [BARE, RELAY] if number % 2 == 0 else [RELAY, BARE]
        measured: dict[str, Any] = {}
        for name in order:
            pids = {"server": by_name[name].process.pid, "redis": redis_pid}
            before = {role: cpu_seconds(pid) for role, pid in pids.items()}
            result = wrk(
                by_name[name].url,
                paths,
                connections=options.connections,
                duration_s=options.duration_s,
                nonce=f"{nonce}r{number}{name}",
            )
            # CPU time per request is what neighbours on a shared machine disturb least: report it too.
            for role, pid in pids.items():
                result[f"{role}_cpu_us_per_request"] = round(
                    (cpu_seconds(pid) - before[role]) * 1e6 / max(result["requests"], 1), 1
                )
            measured[name] = result
        measured["ratio"] = round(measured[RELAY]["rps"] / measured[BARE]["rps"], 3)
        rounds.append(measured)
    fixed_rate = {
        name: openloop.run(
            server.url, paths, bodies, rate=options.rate, duration_s=options.rate_duration_s, nonce=f"{nonce}o{name}"
        )
        for name, server in by_name.items()
    }
    return {"rounds": rounds, "ratio_median": median([r["ratio"] for r in rounds]), "fixed_rate": fixed_rate}


def _redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _stored_events(url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    try:
        config = client.config_get("append*")
        length = sum(client.xlen(key) for key in client.scan_iter(match="relay:*:events", count=1000))
    finally:
        client.close()
    return {"stream_entries": length, "aof": config}


def _markdown(data: dict[str, Any], options: Options) -> str:
    lines = [
        f"**Ingest**: wrk, {options.connections} connections, medians of {options.rounds} alternating rounds of "
        f"{options.duration_s:g} s; open loop at {options.rate:,.0f} req/s for {options.rate_duration_s:g} s; "
        "Redis AOF everysec on a unix socket. CPU/req is the server process's CPU time per request (Redis's in "
        "brackets), the figure least disturbed by a busy machine.",
        "",
        f"| stack | endpoint | callbacks/s | p50 ack | p99 ack | p50 / p99 at {options.rate:,.0f} req/s "
        "| CPU/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for stack_name, stack in data["stacks"].items():
        rounds = stack["rounds"]
        for name in (BARE, RELAY):
            fixed = stack["fixed_rate"][name]
            errors = sum(r[name]["non_2xx"] + r[name]["socket_errors"] for r in rounds)
            errors += sum(count for code, count in fixed["statuses"].items() if code != "200")
            errors += fixed["connection_failures"]
            cpu = f"{median([r[name]['server_cpu_us_per_request'] for r in rounds]):.0f} µs"
            if name == RELAY:
                cpu += f" ({median([r[name]['redis_cpu_us_per_request'] for r in rounds]):.0f} µs)"
            lines.append(
                f"| {stack_name} | {LABELS[name]} | {median([r[name]['rps'] for r in rounds]):,.0f} "
                f"| {median([r[name]['p50_ms'] for r in rounds]):.1f} ms "
                f"| {median([r[name]['p99_ms'] for r in rounds]):.1f} ms "
                f"| {fixed['p50_ms']:.1f} / {fixed['p99_ms']:.1f} ms | {cpu} | {errors} |"
            )
        per_round = ", ".join(f"{r['ratio']:.2f}" for r in rounds)
        lines.append(
            f"| {stack_name} | **ratio relay / bare** | **{stack['ratio_median']:.2f}x** | | | "
            f"rounds: {per_round} | | |"
        )
    return "\n".join(lines)
