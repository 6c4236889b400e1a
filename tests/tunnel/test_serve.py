"""`relay serve` with tunnels connected: a shutdown does not wait for the streams' graceful timeout."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import relay_process


def exited(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_relay_serve_stops_promptly_with_tunnel_streams_open(redis_url: str, tmp_path: Path) -> None:
    environ = {"REDIS_URL": redis_url, "RELAY_SECRET_KEY": SECRET_KEY, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
    ended: list[float] = []
    with relay_process(environ, tmp_path / "serve.log") as (url, pid):
        channel = httpx.post(f"{url}/v1/tunnels", json={}, headers=ADMIN).json()["channel"]
        opened = threading.Event()

        def stream() -> None:
            headers = {**ADMIN, "accept": "text/event-stream"}
            try:
                with httpx.stream("GET", f"{url}/v1/tunnels/{channel}/stream", headers=headers, timeout=30) as r:
                    for line in r.iter_lines():
                        opened.set()
                        del line
            except httpx.HTTPError:
                pass
            ended.append(time.monotonic())

        readers = [threading.Thread(target=stream, daemon=True) for _ in range(2)]
        for reader in readers:
            reader.start()
        assert opened.wait(10)
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        while not exited(pid) and time.monotonic() - started < 15:
            time.sleep(0.02)
        stopped_s = time.monotonic() - started
        for reader in readers:
            reader.join(5)

    assert len(ended) == 2  # the server ended both streams
    # uvicorn's graceful timeout in `relay serve` is 10 s: a stream holding the shutdown would take that long.
    assert stopped_s < 5, f"relay serve took {stopped_s:.1f} s to stop"
