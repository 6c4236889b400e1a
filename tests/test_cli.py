from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from relay.app import create_app
from relay.cli import cli
from relay.config import CliSettings, Settings
from relay.tokens import CallbackTokens
from tests.conftest import ADMIN_TOKEN
from tests.servers import run_server, unused_port


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


@pytest.mark.parametrize(
    ("command", "name", "value", "message"),
    [
        ("serve", "PORT", "eighty", "PORT must be an integer, got 'eighty'"),
        ("serve", "WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be between 1 and 1024, got '0'"),
        ("serve", "RELAY_REDIS_STARTUP_WAIT_S", "soon", "RELAY_REDIS_STARTUP_WAIT_S must be a number, got 'soon'"),
        ("worker", "RELAY_LOG_LEVEL", "loud", "RELAY_LOG_LEVEL must be one of"),
        ("worker", "RELAY_LOG_FORMAT", "xml", "RELAY_LOG_FORMAT must be one of"),
        ("subscriptions list", "PORT", "eighty", "PORT must be an integer"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, command: str, name: str, value: str, message: str) -> None:
    env = {"RELAY_DATA_DIR": str(tmp_path / "data"), "RELAY_ADMIN_TOKEN": "t", name: value}

    result = CliRunner().invoke(cli, command.split(), env=env)

    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, ValueError) and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {message}")
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_good_settings_reach_the_commands(tmp_path: Path) -> None:
    # Positive control for the refusals above: the same variables, well formed, are read (no error).
    env = {"PORT": "8123", "WEB_CONCURRENCY": "2", "RELAY_LOG_LEVEL": "DEBUG", "RELAY_DATA_DIR": str(tmp_path)}
    local = CliSettings.from_environ(env)
    assert (local.port, local.web_concurrency, local.log_level, local.data_dir) == (8123, 2, "debug", tmp_path)


@pytest.mark.timeout(120)  # starts relay processes: slow to import on a loaded machine
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
        deadline = time.monotonic() + 40  # a bound on start-up (imports, Redis) on a loaded machine, not a check
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

    first = serve()
    try:
        admin_token = (tmp_path / "data" / "admin_token").read_text().strip()
        headers = {"Authorization": f"Bearer {admin_token}"}
        # Signed with the data dir's key, pointed at the port it was told: the running relay accepts it.
        made = CliRunner().invoke(cli, ["url", "generic", "--port", str(port)], env=env)
        assert made.exit_code == 0, made.output
        assert made.stdout.startswith(f"{base}/hooks/generic/")
        assert str((tmp_path / "data").resolve()) in made.stderr
        ack = httpx.post(made.stdout.strip(), json={"taskId": "cli-1", "status": "completed"}).json()
    finally:
        log = stop(first)
    # The start banner: the data dir, the dashboard, the token as the shell line the CLI's admin commands want.
    assert f"export RELAY_ADMIN_TOKEN={admin_token}\n" in log
    assert f"dashboard at {base}/dashboard" in log
    assert str((tmp_path / "data").resolve()) in log
    assert f"relay url kie --port {port}" in log
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


def test_url_elsewhere_fails_saying_why_and_creates_nothing(tmp_path: Path) -> None:
    env = {"RELAY_DATA_DIR": str(tmp_path / "elsewhere"), "RELAY_SECRET_KEY": "", "REDIS_URL": ""}

    result = CliRunner().invoke(cli, ["url", "kie"], env=env)

    assert result.exit_code == 1
    assert str(tmp_path / "elsewhere" / "secret_key") in result.output
    assert "--server" in result.output and "RELAY_DATA_DIR" in result.output
    # No new secret made up: a URL signed with it would be refused by the running relay.
    assert not (tmp_path / "elsewhere").exists()


def test_url_port_points_the_url_at_that_local_port() -> None:
    env = {"RELAY_SECRET_KEY": "k1", "RELAY_PUBLIC_URL": "", "PORT": "8123"}

    on_port = CliRunner().invoke(cli, ["url", "kie", "--port", "9001"], env=env)
    from_env = CliRunner().invoke(cli, ["url", "kie"], env=env)

    assert on_port.exit_code == 0 and from_env.exit_code == 0, (on_port.output, from_env.output)
    assert on_port.stdout.startswith("http://127.0.0.1:9001/hooks/kie/")
    assert from_env.stdout.startswith("http://127.0.0.1:8123/hooks/kie/")


def test_url_from_the_server_is_one_it_accepts(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(secret_key="the-servers-own-key")
    with run_server(create_app(settings)) as base:
        # Another directory, another key: asking the server gives a URL it accepts.
        env = {"RELAY_DATA_DIR": str(tmp_path / "elsewhere"), "RELAY_SECRET_KEY": "", "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
        made = CliRunner().invoke(cli, ["url", "kie", "--tag", "t-1", "--server", base], env=env)
        assert made.exit_code == 0, made.output
        body = {"code": 200, "data": {"taskId": "srv-1", "resultUrls": ["https://cdn.example/r.png"]}}
        callback = httpx.URL(made.stdout.strip()).copy_with(scheme="http", host="127.0.0.1", port=httpx.URL(base).port)
        ack = httpx.post(str(callback), json=body)
        assert ack.status_code == 200, ack.text

        refused = CliRunner().invoke(cli, ["url", "kie", "--server", base], env={**env, "RELAY_ADMIN_TOKEN": "wrong"})
        assert refused.exit_code == 1
        assert "401" in refused.output and "RELAY_ADMIN_TOKEN" in refused.output


def test_redis_url_without_secrets_says_exactly_what_to_set() -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET_KEY": "", "RELAY_ADMIN_TOKEN": ""}

    both = CliRunner().invoke(cli, ["worker"], env=env)
    one = CliRunner().invoke(cli, ["worker"], env={**env, "RELAY_ADMIN_TOKEN": "set"})

    assert both.exit_code == 2
    assert "RELAY_SECRET_KEY and RELAY_ADMIN_TOKEN not set" in both.output
    assert "export RELAY_SECRET_KEY=" in both.output and "export RELAY_ADMIN_TOKEN=" in both.output
    assert "generated in the data dir" not in both.output
    assert "RELAY_SECRET_KEY not set" in one.output and "RELAY_ADMIN_TOKEN=" not in one.output


def test_tunnel_honours_port_and_says_when_it_cannot_reach_the_relay() -> None:
    port = unused_port()  # nothing listens there
    env = {"PORT": str(port), "RELAY_PUBLIC_URL": "", "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}

    result = CliRunner().invoke(cli, ["tunnel", "--forward-to", "http://127.0.0.1:9/x"], env=env)

    assert result.exit_code == 1, result.output
    assert f"cannot reach the relay at http://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
