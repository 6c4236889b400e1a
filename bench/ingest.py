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
from bench.harness import Options, SectionResult, fixtures, median, uvicorn_server, wrk
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
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp)) as store:
        env = {"REDIS_URL": store.url, "RELAY_SECRET_KEY": secret, "RELAY_ADMIN_TOKEN": admin}
        with (
            uvicorn_server(BARE, "bench.bare:app", env={}) as bare,
            uvicorn_server(RELAY, "relay.app:create_app", env=env, factory=True) as relay,
        ):
            servers = {BARE: bare.url, RELAY: relay.url}
            for name, url in servers.items():
                wrk(url, paths, connections=options.connections, duration_s=options.warmup_s, nonce=f"{nonce}w{name}")
            rounds: list[dict[str, Any]] = []
            for number in range(options.rounds):
                # Alternate who goes first, so a load spike from a neighbour does not always hit the same side.
                order = [BARE, RELAY] if number % 2 == 0 else [RELAY, BARE]
                measured = {
                    name: wrk(
                        servers[name],
                        paths,
                        connections=options.connections,
                        duration_s=options.duration_s,
                        nonce=f"{nonce}r{number}{name}",
                    )
                    for name in order
                }
                measured["ratio"] = round(measured[RELAY]["rps"] / measured[BARE]["rps"], 3)
                rounds.append(measured)
            fixed_rate = {
                name: openloop.run(
                    url,
                    paths,
                    bodies,
                    rate=options.rate,
                    duration_s=options.rate_duration_s,
                    nonce=f"{nonce}o{name}",
                )
                for name, url in servers.items()
            }
        stored = _stored_events(store.url)
    data = {
        "redis": {"appendonly": "yes", "appendfsync": "everysec", "transport": "unix socket"},
        "connections": options.connections,
        "duration_s": options.duration_s,
        "providers": sorted(bodies),
        "rounds": rounds,
        "ratio_median": median([r["ratio"] for r in rounds]),
        "fixed_rate": fixed_rate,
        "events_stored": stored,
        "relay_acks_2xx": sum(r[RELAY]["requests"] - r[RELAY]["non_2xx"] for r in rounds),
    }
    return SectionResult(data=data, markdown=_markdown(data, options))


def _stored_events(url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    try:
        config = client.config_get("append*")
        length = sum(client.xlen(key) for key in client.scan_iter(match="relay:*:events", count=1000))
    finally:
        client.close()
    return {"stream_entries": length, "aof": config}


def _markdown(data: dict[str, Any], options: Options) -> str:
    rounds = data["rounds"]
    lines = [
        f"**Ingest** (wrk, {options.connections} connections, {len(rounds)} alternating rounds of "
        f"{options.duration_s:g} s, medians; open loop at {options.rate:,.0f} req/s for {options.rate_duration_s:g} s)",
        "",
        f"| endpoint | callbacks/s | p50 ack | p99 ack | p50 / p99 at {options.rate:,.0f} req/s | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in (BARE, RELAY):
        fixed = data["fixed_rate"][name]
        errors = sum(r[name]["non_2xx"] + r[name]["socket_errors"] for r in rounds)
        errors += sum(count for code, count in fixed["statuses"].items() if code != "200")
        errors += fixed["connection_failures"]
        lines.append(
            f"| {LABELS[name]} | {median([r[name]['rps'] for r in rounds]):,.0f} "
            f"| {median([r[name]['p50_ms'] for r in rounds]):.1f} ms "
            f"| {median([r[name]['p99_ms'] for r in rounds]):.1f} ms "
            f"| {fixed['p50_ms']:.1f} / {fixed['p99_ms']:.1f} ms | {errors} |"
        )
    per_round = ", ".join(f"{r['ratio']:.2f}" for r in rounds)
    lines.append(f"| **ratio relay / bare** | **{data['ratio_median']:.2f}x** (rounds: {per_round}) | | | | |")
    return "\n".join(lines)
