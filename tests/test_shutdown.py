"""SIGTERM on the web process: it stops accepting connections, finishes the request in flight, then exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from relay.embedded import EmbeddedRedis
from relay.store import keys
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import unused_port


def test_sigterm_finishes_the_callback_in_flight_then_exits(tmp_path: Path) -> None:
    port = unused_port()
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
        env.update(
            {
                "REDIS_URL": redis_server.url,
                "RELAY_SECRET_KEY": SECRET_KEY,
                "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
                "RELAY_DATA_DIR": str(tmp_path / "data"),
                "RELAY_LOG_LEVEL": "warning",
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    url = httpx.post(f"{base}/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN).json()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, "relay serve did not start"
                    time.sleep(0.05)
            path = httpx.URL(url["url"]).path
            body = b'{"taskId": "in-flight", "status": "completed"}'
            with socket.create_connection(("127.0.0.1", port)) as conn:
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
                time.sleep(0.1)
                process.send_signal(signal.SIGTERM)
                time.sleep(0.2)
                refused = _connect_refused(port)
                conn.sendall(body[10:])
                conn.settimeout(5)
                answer = conn.recv(4096)
            code = process.wait(15)
            stored = _event_count(redis_server.url)
        finally:
            if process.poll() is None:
                process.kill()
            _, stderr = process.communicate()

    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b'"duplicate":false' in answer
    assert refused  # no new connections once shutting down
    assert stored == 1
    assert code == 0, stderr.decode()


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _event_count(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.xlen(keys.events_stream(0)))
    finally:
        client.close()
