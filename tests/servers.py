"""Real servers on loopback for tests: uvicorn in a thread, on an unused port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_server(app: ASGIApp, **config: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL and stops it on exit. ``port=`` picks the port
    (e.g. one the app's settings already name), else an unused one is chosen."""
    port = int(str(config.pop("port", 0))) or unused_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def relay_process(environ: dict[str, str], log_path: Path) -> Iterator[tuple[str, int]]:
    """``relay serve`` in a child process (the CLI's own logging config, stderr to ``log_path``); yields its base
    URL and pid, and stops it on exit."""
    port = unused_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(port)],
            env={**os.environ, **environ},
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"relay serve did not start: {log_path.read_text()}")
            time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(15)
