"""The Procfile as a PaaS runs it: honcho starts ``web`` and ``worker`` against a real Redis; a callback goes through
to a real subscriber; SIGTERM stops both cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.delivery.subscriber import Subscriber, serve_subscriber
from tests.servers import unused_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


def wait_until(predicate: object, what: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_procfile_web_and_worker_deliver_a_callback(tmp_path: Path, subscriber: Subscriber) -> None:
    port = unused_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        env.update(
            {
                "REDIS_URL": redis_server.url,
                "RELAY_SECRET_KEY": SECRET_KEY,
                "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
                "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "RELAY_DATA_DIR": str(tmp_path / "data"),
                "RELAY_ALLOW_PRIVATE_TARGETS": "true",
                "RELAY_WORKER_POLL_S": "0.02",
                "RELAY_SHUTDOWN_GRACE_S": "2",
                "RELAY_LOG_FORMAT": "json",
                # The processes import this checkout, whatever `relay` package is installed.
                "PYTHONPATH": str(ROOT),
            }
        )
        log_path = tmp_path / "honcho.log"
        with log_path.open("wb") as log:
            honcho = subprocess.Popen(
                [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile"), "start", "-p", str(port)],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200, "web")
            with httpx.Client(base_url=base, headers=ADMIN, timeout=5) as client:
                sub = client.post("/v1/subscriptions", json={"url": f"{subscriber.url}/hook"}).json()
                url = client.post("/v1/callback-urls", json={"provider": "kie"}).json()["url"]
                ack = httpx.post(url, json={"code": 200, "data": {"taskId": "proc-1", "resultUrls": ["https://x/r"]}})
                wait_until(lambda: len(subscriber.received) == 1, "the worker to deliver")
            honcho.send_signal(signal.SIGTERM)
            honcho.wait(20)
        finally:
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
    output = log_path.read_text()

    assert ack.status_code == 200
    delivered = subscriber.verified(sub["secret"])
    assert [event["id"] for event in delivered] == [ack.json()["event_id"]]
    assert "worker started" in output  # the worker process did it, not the web one (RELAY_WORKER=false there)
    assert output.count("worker started") == 1
    assert "web.1" in output and "worker.1" in output
    assert "web.1 stopped (rc=0)" in output and "worker.1 stopped (rc=0)" in output, output
    assert "Traceback" not in output, output
