"""Tunnel: ``relay tunnel`` side by side with the stock smee-client, both on the relay's own ``/t/{channel}``.

One relay process (``relay serve`` as shipped, on an embedded Redis, the per-channel rate limit raised past the
load), one local target and one sender, each a lean process of its own so that their CPU is not the bench's (the
target: bench/sink.py, a bare ASGI app on uvicorn; the sender: bench/webhook_sender.py, a hand-written HTTP/1.1
client), and per round each client in turn on a fresh channel:
``relay tunnel --raw`` (relay stream format) and ``smee-client`` (npm 5.0.0, unchanged; smee format). Loads: 2,000
webhooks of 1 KiB from 16 concurrent senders (saturation: events/s from the first POST to the last forwarded
request), then paced 300/s and 600/s for a few seconds each, open loop (latency from each webhook's scheduled send
time to the target receiving it, on the system-wide monotonic clock).
Every event carries an id, so lost and duplicated ones are counted. Rounds alternate the clients; the table gives
medians and the ratio of medians.

On a busy machine the relay's own ingest (the senders' POSTs) limits both clients alike, so a first load measures the
clients alone: the same events are buffered *before* the client connects, and it drains them (``relay tunnel``
resumes at the channel's start; smee-client gets ``?after=0``); events/s from the first to the last forwarded.
``BENCH_TUNNEL_EVENTS`` and ``BENCH_TUNNEL_PACED_S`` scale the loads down for a quick look.

Start-up (issue 15: under 0.5 s): with one webhook already buffered in a channel, the time from launching
``relay tunnel --channel C --forward-to <target>`` as a new process to the target receiving that webhook, median of
``BENCH_TUNNEL_STARTUP_RUNS`` (default 7) launches; beside it, how long ``python -c "import relay.cli"`` takes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.harness import (
    ROOT,
    Options,
    SectionResult,
    Server,
    available_stacks,
    cpu_seconds,
    median,
    relay_serve,
    stop_process,
    uvicorn_server,
    web_env,
)
from bench.sink import Sink
from bench.webhook_sender import body
from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN_TOKEN
from tests.tunnel.conftest import TunnelProcess, wait_for

NAME = "tunnel"
SMEE = (
    Path(__file__).resolve().parents[1] / "tests" / "tunnel" / "js" / "node_modules" / "smee-client" / "bin" / "smee.js"
)
BURST_EVENTS = int(os.environ.get("BENCH_TUNNEL_EVENTS", "2000"))
SENDERS = 16
PACED_S = float(os.environ.get("BENCH_TUNNEL_PACED_S", "4"))
PACED = ((300, PACED_S), (600, PACED_S))  # events per second, seconds
CLIENTS = ("relay tunnel", "smee-client")
STARTUP_RUNS = int(os.environ.get("BENCH_TUNNEL_STARTUP_RUNS", "7"))


def _send(url: str, prefix: str, rate: float, count: int, connections: int) -> dict[str, float]:
    """The webhooks sent by a process of their own (bench/webhook_sender.py); event id -> send time."""
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        result = Path(tmp) / "sent.json"
        args = [sys.executable, "-m", "bench.webhook_sender", url, prefix, str(rate), str(count), str(connections)]
        # Through a file, not stdout: a pipe the event loop left non-blocking cut the result at 64 KiB once.
        subprocess.run([*args, str(result)], cwd=ROOT, capture_output=True, check=True, timeout=600)
        sent: dict[str, float] = orjson.loads(result.read_bytes())["sent"]
    return sent


def _burst(url: str, prefix: str) -> dict[str, float]:
    return _send(url, prefix, float("inf"), BURST_EVENTS, SENDERS)


def _paced(url: str, prefix: str, rate: float, duration_s: float) -> dict[str, float]:
    """Open loop: event n is sent at start + n / rate whatever happened to the earlier ones."""
    return _send(url, prefix, rate, int(rate * duration_s), 256)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def _arrivals(target: Sink, sent: dict[str, float]) -> list[tuple[str, float]]:
    """(event id, when it arrived on the monotonic clock) for every request to the target, once every event sent
    arrived (or 120 s passed: the rest are lost), in order of arrival."""
    target.wait(len(sent), timeout_s=120, distinct=True, poll_s=0.05)
    time.sleep(0.3)  # anything forwarded twice arrives by now
    return [(event_id, at) for event_id, _, at in target.stats()["arrivals"]]


def _drained(target: Sink, sent: dict[str, float]) -> dict[str, Any]:
    arrivals = _arrivals(target, sent)
    outcome = _outcome(sent, arrivals)
    times = [at for _, at in arrivals]
    outcome["events_per_s"] = round((len(sent) - 1) / (max(times) - min(times)))
    return outcome


def _outcome(sent: dict[str, float], arrivals: list[tuple[str, float]]) -> dict[str, Any]:
    ids = [event_id for event_id, _ in arrivals]
    first_at: dict[str, float] = {}
    for event_id, at in arrivals:
        first_at.setdefault(event_id, at)
    latencies = [(first_at[event_id] - sent[event_id]) * 1000 for event_id in first_at if event_id in sent]
    return {
        "events": len(sent),
        "lost": len(set(sent) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "events_per_s": round(len(first_at) / (max(first_at.values()) - min(sent.values()))) if first_at else 0,
        "p50_ms": round(median(latencies), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
    }


def _measure(relay: Server, target: Sink, client: str, env: dict[str, str], tag: str) -> dict[str, Any]:
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    channel = httpx.post(f"{relay.url}/v1/tunnels", json={"mode": "raw"}, headers=admin).json()
    url = f"{relay.url}/t/{channel['channel']}"
    target.clear()
    buffered = _burst(url, f"{tag}-drain")
    # Each client prints a line per event into a file of its own: a pipe read by this process would cost the
    # process that also runs the target.
    log = Path(env["XDG_CONFIG_HOME"]) / f"{client.replace(' ', '-')}-{tag}.log"
    if client == "relay tunnel":
        args = ["--server", relay.url, "--forward-to", target.url, "--raw", "--channel", channel["channel"]]
        command = [sys.executable, "-m", "relay", "tunnel", *args, "--key", channel["read_secret"]]
        ready = b"ready    forwarding to"
    else:
        node = shutil.which("node")
        assert node is not None and SMEE.exists(), "smee-client: node and `npm ci --prefix tests/tunnel/js` needed"
        source = f"{relay.url}/t/{channel['channel']}?key={channel['read_secret']}&after=0"
        command = [node, str(SMEE), "-u", source, "-t", target.url]
        ready = b"Forwarding"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        wait_for(lambda: ready in log.read_bytes(), 30, f"{client} to connect")
        results: dict[str, Any] = {"drain": _drained(target, buffered)}
        print(f"bench tunnel: {client} drain {results['drain']}", file=sys.stderr, flush=True)
        target.clear()
        sent = _burst(url, f"{tag}-burst")
        results["burst"] = _outcome(sent, _arrivals(target, sent))
        print(f"bench tunnel: {client} burst {results['burst']}", file=sys.stderr, flush=True)
        for rate, duration_s in PACED:
            target.clear()
            sent = _paced(url, f"{tag}-{rate}", rate, duration_s)
            results[f"paced_{rate}"] = _outcome(sent, _arrivals(target, sent))
            print(f"bench tunnel: {client} {rate}/s {results[f'paced_{rate}']}", file=sys.stderr, flush=True)
        return results
    finally:
        stop_process(process, 5)


def _installed(tmp: Path) -> tuple[Path, str]:
    """The python of a fresh virtualenv with the relay installed as users install it (``pip install .``), and what it
    is; where that fails (no package index), this interpreter, whose development tools add to the start-up."""
    venv = tmp / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)]
        subprocess.run(pip, check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"bench tunnel: start-up measured in the development environment ({exc!r})", file=sys.stderr)
        return Path(sys.executable), "the development environment (test and bench tools installed)"
    return venv / "bin" / "python", "a fresh virtualenv with `pip install .`"


def _startup(relay: Server, target: Sink, env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """Seconds from launching ``relay tunnel`` to its first forwarded event (one buffered), and to import the CLI."""
    python, where = _installed(tmp)
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    to_first: list[float] = []
    cpu: list[float] = []  # the client's CPU time by then: what the machine's load does not stretch
    imports: list[float] = []
    for n in range(STARTUP_RUNS):
        channel = httpx.post(f"{relay.url}/v1/tunnels", json={"mode": "raw"}, headers=admin).json()
        marker = f"startup-{n}"
        posted = httpx.post(f"{relay.url}/t/{channel['channel']}", content=body(marker))
        assert posted.status_code == 200, posted.text
        target.clear()
        args = ["--server", relay.url, "--forward-to", target.url, "--raw", "--channel", channel["channel"]]
        started = time.perf_counter()
        process = TunnelProcess([*args, "--key", channel["read_secret"]], env, relay=[str(python.parent / "relay")])
        try:
            target.wait(1, timeout_s=30, poll_s=0.02)
            cpu.append(cpu_seconds(process.proc.pid))
            event_id, _, at = target.stats()["arrivals"][0]
            to_first.append(at - started)
            assert event_id == marker
        finally:
            process.stop()
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "import relay.cli"], env=env, check=True, cwd=tmp)
        imports.append(time.perf_counter() - started)
    result = {
        "installed_in": where,
        "runs": STARTUP_RUNS,
        "to_first_event_s": round(median(to_first), 3),
        "to_first_event_max_s": round(max(to_first), 3),
        "cpu_to_first_event_s": round(median(cpu), 3),
        "import_cli_s": round(median(imports), 3),
    }
    print(f"bench tunnel: start-up {result}", file=sys.stderr, flush=True)
    return result


def run(options: Options) -> SectionResult:
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp, EmbeddedRedis(Path(tmp) / "redis") as redis:
        env = {
            **os.environ,
            **web_env(redis.url, secrets.token_urlsafe(32), ADMIN_TOKEN),
            # On, as shipped, so its cost is measured; raised past what the senders POST to one channel.
            "RELAY_TUNNEL_POST_PER_S": "1000000",
            "RELAY_TUNNEL_POST_BURST": "1000000",
            "XDG_CONFIG_HOME": tmp,
        }
        stack = available_stacks()[-1]
        with uvicorn_server("sink", "bench.sink:app", env={}, stack=stack) as sink, relay_serve(env) as relay:
            target = Sink(sink.url)
            startup = _startup(relay, target, env, Path(tmp))
            for n in range(options.rounds):
                order = CLIENTS if n % 2 == 0 else CLIENTS[::-1]
                rounds.append(
                    {client: _measure(relay, target, client, env, f"r{n}-{i}") for i, client in enumerate(order)}
                )
    summary = _summary(rounds)
    return SectionResult(
        data={
            "rounds": rounds,
            "summary": summary,
            "startup": startup,
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        },
        markdown=_markdown(summary, len(rounds), startup),
    )


def _summary(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary: dict[str, dict[str, float]] = {}
    for client in CLIENTS:
        runs = [r[client] for r in rounds]
        row = {
            "drain_events_per_s": median([r["drain"]["events_per_s"] for r in runs]),
            "events_per_s": median([r["burst"]["events_per_s"] for r in runs]),
        }
        for rate, _ in PACED:
            row[f"p99_ms_{rate}"] = median([r[f"paced_{rate}"]["p99_ms"] for r in runs])
        row["lost"] = sum(r[load]["lost"] for r in runs for load in r)
        row["duplicated"] = sum(r[load]["duplicated"] for r in runs for load in r)
        summary[client] = row
    return summary


def _markdown(summary: dict[str, dict[str, float]], rounds: int, startup: dict[str, Any]) -> str:
    relay, smee = summary["relay tunnel"], summary["smee-client"]
    paced = " | ".join(f"p99 at {rate}/s" for rate, _ in PACED)
    lines = [
        f"**Tunnel**: `relay tunnel` vs the stock smee-client on the relay's own `/t/{{channel}}` (median of {rounds} "
        f"alternating rounds; {BURST_EVENTS:,} x 1 KiB from {SENDERS} senders for events/s).",
        "",
        f"| client | events/s draining | events/s, 16 senders | {paced} | lost / duplicated |",
        "|---|---:|---:|" + "---:|" * len(PACED) + "---:|",
    ]
    for name, row in (("relay tunnel", relay), ("smee-client", smee)):
        cells = " | ".join(f"{row[f'p99_ms_{rate}']} ms" for rate, _ in PACED)
        lines.append(
            f"| {name} | {row['drain_events_per_s']:,.0f} | {row['events_per_s']:,.0f} | {cells} "
            f"| {row['lost']:.0f} / {row['duplicated']:.0f} |"
        )
    ratios = " | ".join(f"{relay[f'p99_ms_{rate}'] / smee[f'p99_ms_{rate}']:.2f}x" for rate, _ in PACED)
    drain = relay["drain_events_per_s"] / smee["drain_events_per_s"]
    lines.append(f"| ratio | {drain:.2f}x | {relay['events_per_s'] / smee['events_per_s']:.2f}x | {ratios} | |")
    lines += [
        "",
        f"Start-up of `relay tunnel` installed in {startup['installed_in']} (median of {startup['runs']} launches; "
        "issue 15 asks under 0.5 s):",
        "",
        "| measured | median | slowest |",
        "|---|---:|---:|",
        f"| launch to the first forwarded event (one buffered) | {startup['to_first_event_s']:.3f} s "
        f"| {startup['to_first_event_max_s']:.3f} s |",
        f"| CPU time of `relay tunnel` by then | {startup['cpu_to_first_event_s']:.3f} s | |",
        f'| `python -c "import relay.cli"` | {startup["import_cli_s"]:.3f} s | |',
    ]
    return "\n".join(lines)
