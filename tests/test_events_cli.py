"""``relay events`` against a real relay: the list, the filters, and --follow printing each new event once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from relay.app import create_app
from relay.cli import cli
from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.servers import run_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def relay(make_settings: Callable[..., Settings]) -> Iterator[str]:
    with run_server(create_app(make_settings())) as url:
        yield url


def send(relay: str, provider: str, body: dict[str, object], tag: str | None = None) -> str:
    made = httpx.post(f"{relay}/v1/callback-urls", json={"provider": provider, "tag": tag}, headers=ADMIN)
    path = httpx.URL(made.json()["url"]).path
    ack = httpx.post(f"{relay}{path}", json=body)
    assert ack.status_code == 200, ack.text
    event_id: str = ack.json()["event_id"]
    return event_id


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["events", *args], env={"RELAY_ADMIN_TOKEN": ADMIN_TOKEN})
    return result.exit_code, result.stdout, result.stderr


def test_lists_events_oldest_first_with_filters(relay: str) -> None:
    first = send(relay, "kie", {"code": 200, "data": {"taskId": "k-1", "resultUrls": ["https://cdn.example/r.png"]}})
    second = send(relay, "generic", {"taskId": "g-1", "status": "running", "progress": 40}, tag="order-42")

    code, out, _ = run("--server", relay)
    assert code == 0
    lines = out.splitlines()
    assert [row.split()[1] for row in lines] == [first, second]
    assert "kie  task.succeeded  task=k-1  https://cdn.example/r.png" in lines[0]
    assert "generic  task.progress  task=g-1  progress=40  tag=order-42" in lines[1]

    code, out, _ = run("--server", relay, "--tag", "order-42")
    assert code == 0 and out.split()[1] == second and len(out.splitlines()) == 1
    code, out, _ = run("--server", relay, "--limit", "1")
    assert [row.split()[1] for row in out.splitlines()] == [second]


def test_nothing_yet_is_said_and_a_wrong_token_is_explained(relay: str) -> None:
    code, out, err = run("--server", relay)
    assert code == 0 and out == "" and "no events yet" in err

    refused = CliRunner().invoke(cli, ["events", "--server", relay], env={"RELAY_ADMIN_TOKEN": "wrong"})
    assert refused.exit_code == 1 and "401" in refused.output and "RELAY_ADMIN_TOKEN" in refused.output


@pytest.mark.timeout(120)  # starts relay processes: slow to import on a loaded machine
def test_follow_prints_each_new_event_once(relay: str, tmp_path: Path) -> None:
    before = send(relay, "generic", {"taskId": "old", "status": "completed"})
    out_path = tmp_path / "out.txt"
    env = {**os.environ, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONPATH": str(ROOT)}
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "events", "--follow", "--interval", "0.1", "--server", relay],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def printed() -> list[str]:
            return [row.split()[1] for row in out_path.read_text().splitlines() if row.startswith("20")]

        def wait_for(count: int, timeout_s: float = 15) -> None:
            deadline = time.monotonic() + timeout_s
            while len(printed()) < count:
                assert proc.poll() is None, out_path.read_text()
                assert time.monotonic() < deadline, out_path.read_text()
                time.sleep(0.05)

        wait_for(1, 40)  # the process starts: Python's imports take a while on a loaded machine
        new = [send(relay, "generic", {"taskId": f"new-{n}", "status": "completed"}) for n in range(3)]
        wait_for(4)
        time.sleep(0.5)  # several more polls: nothing is printed twice
    finally:
        proc.terminate()
        proc.wait(10)
    assert printed() == [before, *new]
