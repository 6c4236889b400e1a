"""What every section needs: the machine's description, servers in child processes, and wrk."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
FIXTURES_DIR = BENCH_DIR / "fixtures"
TASK_ID_PLACEHOLDER = "@@TASK_ID@@"

# Both servers of a comparison run with exactly these flags; only the app differs (and the stack, when compared).
UVICORN_FLAGS = ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]


@dataclass(frozen=True)
class Stack:
    """uvicorn's event loop and HTTP parser."""

    loop: str
    http: str

    @property
    def name(self) -> str:
        return f"{self.loop}+{self.http}"


STACKS = (Stack("asyncio", "h11"), Stack("uvloop", "httptools"))


def available_stacks() -> list[Stack]:
    return [stack for stack in STACKS if all(_version_of(m) for m in (stack.loop, stack.http) if m != "asyncio")]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _version_of(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def machine() -> dict[str, Any]:
    """Facts that make two runs comparable, and the load average that says how noisy this one was."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "uvicorn": _version_of("uvicorn"),
        "uvloop": _version_of("uvloop"),
        "httptools": _version_of("httptools"),
        "redis_py": _version_of("redis"),
        "hiredis": _version_of("hiredis"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def web_env(redis_url: str, secret: str, admin: str) -> dict[str, str]:
    """The relay as the production web process runs it (no in-process worker, the default info logs, which write a
    line per callback), for a load generator."""
    return {
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": secret,
        "RELAY_ADMIN_TOKEN": admin,
        "RELAY_WORKER": "false",
        "RELAY_ALLOW_PRIVATE_TARGETS": "true",
        # On, as shipped, so their cost is measured; raised, since one load generator on one address and a handful
        # of tokens is far past what one provider sends.
        "RELAY_RATE_TOKEN_PER_S": "1000000",
        "RELAY_RATE_TOKEN_BURST": "1000000",
        "RELAY_RATE_ADDRESS_PER_S": "1000000",
        "RELAY_RATE_ADDRESS_BURST": "1000000",
    }


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (a graceful drain), then SIGKILL if it is still running after ``timeout_s``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Server:
    """A uvicorn child process serving one app on loopback."""

    name: str
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def uvicorn_server(
    name: str, app: str, env: Mapping[str, str], stack: Stack, factory: bool = False
) -> Iterator[Server]:
    """Serve ``app`` (``module:attr``) with one uvicorn process; stop it (SIGTERM, then SIGKILL) on exit."""
    port = unused_port()
    args = [sys.executable, "-m", "uvicorn", app, *UVICORN_FLAGS, "--loop", stack.loop, "--http", stack.http]
    args += ["--port", str(port)]
    if factory:
        args.append("--factory")
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(args, env=child_env, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process, timeout_s=120)
        yield Server(name=name, url=f"http://127.0.0.1:{port}", process=process)
    finally:
        stop_process(process, 10)


@contextmanager
def relay_serve(
    env: Mapping[str, str], *, workers: int = 1, root: Path = ROOT, name: str = "relay"
) -> Iterator[Server]:
    """``relay serve`` (the shipped web server: uvicorn, its protocol and flags) from the checkout at ``root``."""
    port = unused_port()
    args = [sys.executable, "-m", "relay", "serve", "--port", str(port), "--workers", str(workers)]
    child_env = {**os.environ, **env, "PYTHONPATH": str(root)}
    process = subprocess.Popen(args, env=child_env, cwd=root, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # A busy shared machine can take a minute to start a Python server and its embedded Redis.
        _wait_for_port(port, process, timeout_s=120)
        yield Server(name=name, url=f"http://127.0.0.1:{port}", process=process)
    finally:
        stop_process(process, 20)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server on port {port} did not listen within {timeout_s} s") from None
            time.sleep(0.05)


def fixtures(subdir: str = "") -> dict[str, str]:
    """Provider name -> a real callback body of that provider, its task id replaced by the placeholder.

    ``subdir="1k"``: bodies of about 1 KB shaped as each provider documents them, with ``@@UUID@@``, ``@@NUM@@``,
    ``@@MS@@`` and ``@@TOKEN@@`` placeholders (``bench.callbacks.fill_body``), for the memory section."""
    return {path.stem: path.read_text() for path in sorted((FIXTURES_DIR / subdir).glob("*.json"))}


def wrk(url: str, paths: Mapping[str, str], *, connections: int, duration_s: float, nonce: str) -> dict[str, Any]:
    """Closed-loop load with wrk and ``bench/post.lua``: callbacks/s and latency percentiles (ms)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    env = {
        **os.environ,
        "BENCH_FIXTURES": str(FIXTURES_DIR),
        "BENCH_PATHS": ",".join(f"{provider}={path}" for provider, path in paths.items()),
        "BENCH_NONCE": nonce,
    }
    args = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "post.lua"),
        url,
    ]
    completed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=True)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            return result
    raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")


@dataclass(frozen=True)
class Options:
    """What the runner's command line sets for every section."""

    duration_s: float = 10.0
    warmup_s: float = 2.0
    rounds: int = 3
    connections: int = 64
    rate: float = 1000.0
    rate_duration_s: float = 10.0
    # The large-body figure needs headroom: at a rate near saturation both sides just queue.
    large_rate: float = 500.0
    delivery_backlog: int = 20_000
    e2e_rate: float = 200.0
    e2e_duration_s: float = 5.0
    memory_backlog: int = 100_000
    memory_subscriptions: int = 3
    # A checkout of the relay as it was (e.g. `git archive <commit> | tar -x -C DIR`): sections that support it
    # run it side by side with this one, for before/after figures from one run.
    baseline: Path | None = None
    tasks_open: int = 100_000
    tasks_polls: int = 2_000
    assets_small: int = 1_000
    assets_large: int = 10


@dataclass
class SectionResult:
    """A section's output: ``data`` goes to the JSON file, ``markdown`` (a heading and a table) to the README."""

    data: dict[str, Any]
    markdown: str


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
