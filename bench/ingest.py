"""Ingest: ``relay serve`` as shipped against a bare Starlette endpoint on the same uvicorn stack, side by side.

The relay is the production web process (``relay serve``: uvicorn with uvloop, httptools and the request-head
deadline; no in-process worker; default settings but for rate limits raised past what one load generator sends, so
their cost is measured); the bare endpoint runs on uvicorn with uvloop and httptools. Both answer after their
work, the relay only once the accept script's reply is in. The relay writes to a real Redis (the embedded binary,
AOF ``everysec``) that this section starts in a temporary directory. wrk (closed loop, same concurrency) gives
callbacks/s and ack latency, in alternating rounds so drifting machine load hits all alike; the open-loop
generator gives latency at a fixed offered rate, then the same rate while 8 senders POST 1 MiB bodies.

With ``--baseline DIR`` (a checkout of the relay before) its ``relay serve`` runs in the same rounds, against its
own Redis, for before/after figures from one run.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from pathlib import Path
from typing import Any

import redis

from bench import openloop
from bench.harness import (
    STACKS,
    Options,
    SectionResult,
    Server,
    cpu_seconds,
    fixtures,
    median,
    relay_serve,
    uvicorn_server,
    web_env,
    wrk,
)
from relay.embedded import EmbeddedRedis
from relay.tokens import CallbackTokens

NAME = "ingest"
BARE = "bare"
RELAY = "relay"
BEFORE = "before"
LABELS = {
    BARE: "bare Starlette (parse JSON, 200)",
    RELAY: "`relay serve` (stored, dedup, rate limits on)",
    BEFORE: "`relay serve` before (baseline)",
}
LARGE_SENDERS = 8
LARGE_BODY_BYTES = 1 << 20


def run(options: Options) -> SectionResult:
    bodies = fixtures()
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    tokens = CallbackTokens([secret])
    paths = {provider: f"/hooks/{provider}/{tokens.issue(provider, None)}" for provider in bodies}
    nonce = secrets.token_hex(4)
    stack = STACKS[-1]  # uvloop + httptools, what relay serve runs
    with contextlib.ExitStack() as stack_of:
        servers: list[Server] = [stack_of.enter_context(uvicorn_server(BARE, "bench.bare:app", env={}, stack=stack))]
        redis_pids: dict[str, int] = {}
        for name, root in ((RELAY, None), (BEFORE, options.baseline)):
            if name == BEFORE and root is None:
                continue
            tmp = stack_of.enter_context(tempfile.TemporaryDirectory(prefix="relay-bench-"))
            store = stack_of.enter_context(EmbeddedRedis(Path(tmp) / "redis"))
            env = {**web_env(store.url, secret, admin), "RELAY_DATA_DIR": tmp}
            kwargs: dict[str, Any] = {"root": root} if root is not None else {}
            servers.append(stack_of.enter_context(relay_serve(env, name=name, **kwargs)))
            redis_pids[name] = _redis_pid(store.url)
        result = _compare(options, servers, paths, bodies, nonce, redis_pids)
        relay_url = next(server.url for server in servers if server.name == RELAY)
        large = openloop.run_with_large(
            relay_url,
            paths,
            bodies,
            rate=options.large_rate,
            duration_s=options.rate_duration_s / 2,
            rounds=options.rounds,
            nonce=f"{nonce}L",
            senders=LARGE_SENDERS,
            large_bytes=LARGE_BODY_BYTES,
            large_path=f"/hooks/generic/{tokens.issue('generic', None)}",
        )
    data = {
        "redis": {"appendonly": "yes", "appendfsync": "everysec", "transport": "unix socket"},
        "connections": options.connections,
        "duration_s": options.duration_s,
        "providers": sorted(bodies),
        "bare_stack": stack.name,
        "baseline": str(options.baseline) if options.baseline else None,
        **result,
        "large_bodies": large,
    }
    return SectionResult(data=data, markdown=_markdown(data, options))


def _compare(
    options: Options,
    servers: list[Server],
    paths: dict[str, str],
    bodies: dict[str, str],
    nonce: str,
    redis_pids: dict[str, int],
) -> dict[str, Any]:
    by_name = {server.name: server for server in servers}
    names = [server.name for server in servers]
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
        # Rotate who goes first, so a load spike from a neighbour does not always hit the same side.
        order = names[number % len(names) :] + names[: number % len(names)]
        measured: dict[str, Any] = {}
        for name in order:
            pids = {"server": by_name[name].process.pid}
            if name in redis_pids:
                pids["redis"] = redis_pids[name]
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
        for name in names:
            if name != BARE:
                measured[f"ratio_{name}"] = round(measured[name]["rps"] / measured[BARE]["rps"], 3)
        rounds.append(measured)
    fixed_rate = {
        name: openloop.run(
            server.url, paths, bodies, rate=options.rate, duration_s=options.rate_duration_s, nonce=f"{nonce}o{name}"
        )
        for name, server in by_name.items()
    }
    ratios = {name: median([r[f"ratio_{name}"] for r in rounds]) for name in names if name != BARE}
    return {"servers": names, "rounds": rounds, "ratio_median": ratios, "fixed_rate": fixed_rate}


def _redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _markdown(data: dict[str, Any], options: Options) -> str:
    rounds = data["rounds"]
    lines = [
        f"**Ingest**: wrk, {options.connections} connections, medians of {options.rounds} alternating rounds of "
        f"{options.duration_s:g} s; open loop at {options.rate:,.0f} req/s for {options.rate_duration_s:g} s; "
        "Redis AOF everysec on a unix socket. CPU/req is the server process's CPU time per request (its Redis's in "
        "brackets), the figure least disturbed by a busy machine.",
        "",
        f"| endpoint | callbacks/s | vs bare | p50 ack | p99 ack | p50 / p99 at {options.rate:,.0f} req/s "
        "| CPU/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in data["servers"]:
        fixed = data["fixed_rate"][name]
        errors = sum(r[name]["non_2xx"] + r[name]["socket_errors"] for r in rounds)
        errors += sum(count for code, count in fixed["statuses"].items() if code != "200")
        errors += fixed["connection_failures"]
        cpu = f"{median([r[name]['server_cpu_us_per_request'] for r in rounds]):.0f} µs"
        if name != BARE:
            cpu += f" ({median([r[name]['redis_cpu_us_per_request'] for r in rounds]):.0f} µs)"
        ratio = "1" if name == BARE else f"**{data['ratio_median'][name]:.2f}x**"
        per_round = "" if name == BARE else " (" + ", ".join(f"{r[f'ratio_{name}']:.2f}" for r in rounds) + ")"
        lines.append(
            f"| {LABELS[name]} | {median([r[name]['rps'] for r in rounds]):,.0f} | {ratio}{per_round} "
            f"| {median([r[name]['p50_ms'] for r in rounds]):.1f} ms "
            f"| {median([r[name]['p99_ms'] for r in rounds]):.1f} ms "
            f"| {fixed['p50_ms']:.1f} / {fixed['p99_ms']:.1f} ms | {cpu} | {errors} |"
        )
    large = data["large_bodies"]
    lines += [
        "",
        f"**Large bodies**: the relay at {options.large_rate:,.0f} callbacks/s (open loop) alone, then while "
        f"{large['senders']} senders POST {large['large_bytes'] / (1 << 20):.2f} MiB bodies (just under the default "
        "body limit) back to back to a `generic` callback URL, each read, parsed and stored; medians of "
        f"{large['rounds']} alternating rounds of {options.rate_duration_s / 2:g} s each.",
        "",
        "| | p50 ack | p99 ack | large bodies answered |",
        "|---|---:|---:|---:|",
        f"| idle | {large['idle_p50_ms']:.1f} ms | {large['idle_p99_ms']:.1f} ms | |",
        f"| with {large['senders']} large senders | {large['loaded_p50_ms']:.1f} ms "
        f"| {large['loaded_p99_ms']:.1f} ms | {large['large_answered']} ({large['large_statuses']}) |",
        f"| **p50 ratio loaded / idle** | **{large['p50_ratio']:.2f}x** "
        f"({', '.join(f'{ratio:.2f}' for ratio in large['p50_ratios'])}) | | |",
    ]
    return "\n".join(lines)
