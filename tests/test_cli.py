from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from relay.cli import cli
from relay.tokens import CallbackTokens
from tests.servers import unused_port


def test_url_prints_a_signed_callback_url(tmp_path: Path) -> None:
    env = {"RELAY_SECRET_KEY": "k1", "RELAY_PUBLIC_URL": "https://relay.example.com/", "REDIS_URL": "redis://x"}

    result = CliRunner().invoke(cli, ["url", "kie", "--tag", "order-42"], env=env)

    assert result.exit_code == 0, result.output
    url = result.output.strip()
    assert url.startswith("https://relay.example.com/hooks/kie/")
    token = CallbackTokens(["k1"]).read(url.rsplit("/", 1)[1], "kie")
    assert token.tag == "order-42"


def test_url_refuses_unknown_providers() -> None:
    result = CliRunner().invoke(cli, ["url", "nope"], env={"RELAY_SECRET_KEY": "k"})

    assert result.exit_code == 2
    assert "nope" in result.output


def test_serve_runs_on_an_embedded_redis_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_") and key != "REDIS_URL"}
    env["RELAY_DATA_DIR"] = str(tmp_path / "data")
    port = unused_port()
    base = f"http://127.0.0.1:{port}"

    def serve() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    return process
            except httpx.TransportError:
                time.sleep(0.05)
        process.kill()
        raise AssertionError(f"relay serve did not become ready: {process.communicate()[1].decode()}")

    def stop(process: subprocess.Popen[bytes]) -> str:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr.decode()
        return stderr.decode()

    url = CliRunner().invoke(cli, ["url", "generic"], env=env).output.strip()
    callback = httpx.URL(url).path
    admin_token = (tmp_path / "data" / "admin_token").read_text().strip()
    headers = {"Authorization": f"Bearer {admin_token}"}

    first = serve()
    try:
        ack = httpx.post(f"{base}{callback}", json={"taskId": "cli-1", "status": "completed"}).json()
    finally:
        log = stop(first)
    assert admin_token in log  # printed at start-up for the person who ran it
    assert (tmp_path / "data" / "appendonlydir").exists() or (tmp_path / "data" / "appendonly.aof").exists()

    second = serve()
    try:
        event = httpx.get(f"{base}/v1/events/{ack['event_id']}", headers=headers).json()
    finally:
        stop(second)
    assert event["task_id"] == "cli-1"
    assert not (tmp_path / "data" / "redis.sock").exists() or not _socket_answers(tmp_path / "data" / "redis.sock")


def _socket_answers(path: Path) -> bool:
    import socket

    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(path))
            return True
    except OSError:
        return False
