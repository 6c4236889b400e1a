"""The embedded Redis of ``relay serve`` is supervised: killed, it comes back on the same data, loudly, and the
health checks say what is going on meanwhile."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
import redis

from relay.config import Settings
from relay.embedded import EmbeddedRedis
from tests.servers import unused_port


def redis_pid(url: str) -> int | None:
    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            return int(client.info("server")["process_id"])
    except (redis.RedisError, OSError):
        return None


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_embedded_redis_is_restarted_on_the_same_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="relay.embedded")
    with EmbeddedRedis(tmp_path, supervise=True, check_interval_s=0.05) as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("kept", "yes")
        first = redis_pid(server.url)
        assert first is not None
        os.kill(first, signal.SIGKILL)

        wait_until(lambda: redis_pid(server.url) not in (None, first), 15, "a new redis-server")
        with redis.Redis.from_url(server.url) as client:
            assert client.get("kept") == b"yes"  # the same AOF, loaded again
        # The supervisor counts the restart once the new server answers, a moment after its pid shows.
        wait_until(lambda: server.restarts == 1, 5, "the restart counted")
        second = redis_pid(server.url)
    assert any(r.levelno == logging.ERROR and "EMBEDDED REDIS DOWN" in r.getMessage() for r in caplog.records)
    assert second is not None and redis_pid(server.url) is None  # stopped with the relay, not restarted again


def test_an_unsupervised_one_stays_down(tmp_path: Path) -> None:
    """The positive control: without the supervisor (tests, `relay worker`) nothing restarts it."""
    with EmbeddedRedis(tmp_path, check_interval_s=0.05) as server:
        pid = redis_pid(server.url)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        assert redis_pid(server.url) is None


@pytest.mark.timeout(120)  # starts relay processes: slow to import on a loaded machine
def test_relay_serve_acknowledges_callbacks_again_after_its_redis_is_killed(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_") and key != "REDIS_URL"}
    env.update(RELAY_DATA_DIR=str(tmp_path / "data"), RELAY_WORKER="false", RELAY_TUNNEL_ROUTER="false")
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                assert process.poll() is None, log_path.read_text()
                return False

        wait_until(ready, 20, "relay serve")
        admin = {"Authorization": f"Bearer {(tmp_path / 'data' / 'admin_token').read_text().strip()}"}
        url = httpx.post(f"{base}/v1/callback-urls", json={"provider": "generic"}, headers=admin).json()["url"]
        before = httpx.post(url, json={"taskId": "before", "status": "completed"}).json()["event_id"]
        redis_url = f"unix://{(tmp_path / 'data' / 'redis.sock').resolve()}"
        pid = redis_pid(redis_url)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        def acknowledged() -> bool:
            return httpx.post(url, json={"taskId": "after", "status": "completed"}, timeout=5).status_code == 200

        wait_until(acknowledged, 20, "callbacks to be acknowledged again")
        assert httpx.get(f"{base}/v1/events/{before}", headers=admin).json()["task_id"] == "before"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "redis": "up"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert "EMBEDDED REDIS DOWN" in log_path.read_text()


@pytest.mark.anyio
async def test_health_checks_tell_the_truth_while_redis_is_down(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        async with client_factory(make_settings(redis_url=server.url)) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "redis": "up"}
            server.stop()
            health, ready = await client.get("/healthz"), await client.get("/readyz")
            assert health.status_code == 200 and health.json() == {"status": "degraded", "redis": "down"}
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "store_unavailable"
            server.start()
            assert (await client.get("/healthz")).json() == {"status": "ok", "redis": "up"}
    finally:
        server.stop()
