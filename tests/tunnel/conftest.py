"""Real processes on loopback for the tunnel: relay servers, `relay tunnel` clients, and a recording local target."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.tunnel.sse import Event, SSEParser
from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.servers import run_server, unused_port

ROOT = Path(__file__).resolve().parents[2]


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Each event of a stream read as byte chunks (``response.aiter_bytes()``), with the client's own parser."""
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool | None = None


@dataclass
class Target:
    """A local server that records every request; ``statuses`` answers the first requests with these codes."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    secret: str | None = None
    # Requests whose body contains a key are answered only after that many seconds (a slow or hung local server).
    delays: dict[bytes, float] = field(default_factory=dict)


def target_app(target: Target) -> Starlette:
    async def record(request: Request) -> Response:
        body = await request.body()
        delay_s = next((delay for key, delay in target.delays.items() if key in body), 0.0)
        if delay_s:
            await asyncio.sleep(delay_s)
        item = Received(
            request.method, request.url.path, request.url.query, dict(request.headers), body, time.perf_counter()
        )
        if target.secret is not None:
            from standardwebhooks import Webhook

            try:
                Webhook(target.secret).verify(body, dict(request.headers))
                item.verified = True
            except Exception:
                item.verified = False
        status = target.statuses.pop(0) if target.statuses else 200
        if status < 500:
            target.received.append(item)
        return JSONResponse({"ok": status < 500}, status_code=status)

    return Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST", "PUT"])])


@pytest.fixture
def target() -> Iterator[Target]:
    found = Target()
    with run_server(target_app(found)) as url:
        found.url = url
        yield found


class RelayProcess:
    """``uvicorn relay.app:create_app --factory`` in its own process, so it can be paused and killed."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> RelayProcess:
        args = [sys.executable, "-m", "uvicorn", "relay.app:create_app", "--factory"]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        # Open SSE streams never finish on their own: do not let them hold a shutdown for long.
        args += ["--timeout-graceful-shutdown", "1"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout_s, "the relay process to answer")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"relay exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def relay_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_STORE_TIMEOUT_S": "2",
        "RELAY_TUNNEL_PING_INTERVAL_S": "0.2",
        # `relay tunnel` saves its channels here (never in the real ~/.config).
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


@pytest.fixture
def relay_factory(relay_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., RelayProcess]]:
    started: list[RelayProcess] = []

    def make(port: int | None = None, **overrides: str) -> RelayProcess:
        port = port or unused_port()
        env = {**relay_env, "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        env.update({f"RELAY_{name.upper()}": value for name, value in overrides.items()})
        process = RelayProcess(env, port, tmp_path / f"relay-{port}.log")
        started.append(process)
        return process.start()

    yield make
    for process in started:
        process.stop()


class TunnelProcess:
    """``relay tunnel`` as a user runs it; its output lines are collected as they come."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        relay: Sequence[str] = (sys.executable, "-m", "relay"),
        sigint_ignored: bool = False,
    ) -> None:
        """``sigint_ignored``: started with SIGINT ignored, as the child of a process that ignores it is."""
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [*relay, "tunnel", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def value_of(self, label: str, field: int = 1) -> str:
        # Generous: starting Python takes seconds on a loaded machine.
        wait_for(lambda: any(line.startswith(label) for line in self.lines), 30, f"{label!r} in the output")
        line = next(line for line in self.lines if line.startswith(label))
        return line.split()[field]

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        wait_for(lambda: any(line.startswith("ready") for line in self.lines), timeout_s, "the tunnel to be ready")

    def interrupt(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(10)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def tunnel_factory(relay_env: dict[str, str]) -> Iterator[Callable[..., TunnelProcess]]:
    started: list[TunnelProcess] = []

    def make(*args: str) -> TunnelProcess:
        process = TunnelProcess(list(args), relay_env)
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


def callback_url(relay: RelayProcess, provider: str) -> str:
    response = httpx.post(
        f"{relay.url}/v1/callback-urls",
        json={"provider": provider},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])
