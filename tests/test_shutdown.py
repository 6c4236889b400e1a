"""SIGTERM on the web process (``relay serve``, one or several worker processes): it stops accepting connections,
finishes the request in flight, then exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from relay.embedded import EmbeddedRedis
from relay.store import keys
from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.servers import unused_port


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_callback_in_flight_then_exits(tmp_path: Path, redis_url: str, workers: int) -> None:
    port = unused_port()
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_") and key != "REDIS_URL"}
    env.update({"RELAY_ADMIN_TOKEN": ADMIN_TOKEN, "RELAY_DATA_DIR": str(data_dir), "RELAY_LOG_LEVEL": "warning"})
    if workers == 1:
        env.update({"REDIS_URL": redis_url, "RELAY_SECRET_KEY": SECRET_KEY})
    # With several processes, the embedded Redis and the generated secret key reach the workers via the environment.
    process = subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: a failing test stops the worker processes too
    )
    base = f"http://127.0.0.1:{port}"
    try:
        paths = [_callback_path(base, process) for _ in range(4)]  # issued and accepted by any of the processes
        acks = [httpx.post(f"{base}{path}", json={"taskId": f"t-{n}"}).status_code for n, path in enumerate(paths)]
        body = b'{"taskId": "in-flight", "status": "completed"}'
        with socket.create_connection(("127.0.0.1", port)) as conn:
            head = f"POST {paths[0]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            refused = _connect_refused(port)
            conn.sendall(body[10:])
            conn.settimeout(5)
            answer = b""
            while chunk := conn.recv(4096):  # the server closes the connection after answering: it is shutting down
                answer += chunk
        code = process.wait(15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
    if workers == 1:
        stored = _event_count(redis_url)
    else:
        with EmbeddedRedis(data_dir) as embedded:  # started again: what the AOF kept
            stored = _event_count(embedded.url)

    assert acks == [200] * 4
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b'"duplicate":false' in answer
    # No new connections once shutting down. With --workers the supervisor keeps the listening socket open until
    # its children have exited, so the kernel still queues connections that nobody will serve (then resets them).
    assert refused or workers > 1
    assert stored == 5
    assert code == 0, stderr.decode()


def _callback_path(base: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            issued = httpx.post(
                f"{base}/v1/callback-urls",
                json={"provider": "generic"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
            return str(httpx.URL(issued.json()["url"]).path)
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "relay serve did not start"
            time.sleep(0.05)


def _connect_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _event_count(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.xlen(keys.events_stream(0)))
    finally:
        client.close()
