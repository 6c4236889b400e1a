"""`relay tasks` against a served relay, and `relay simulate` as its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
from click.testing import CliRunner

from relay.cli import cli
from tests.conftest import ADMIN_TOKEN
from tests.servers import unused_port
from tests.tasks.conftest import Sim


def test_tasks_add_list_and_show(sim: Sim, relay_server: Callable[..., AbstractContextManager[str]]) -> None:
    sim.config.drop = "all"
    runner, env = CliRunner(), {"RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
    with relay_server() as url:
        submitted = httpx.post(
            f"{sim.base('kie')}/api/v1/jobs/createTask",
            json={"model": "m", "input": {}},
            headers={"Authorization": f"Bearer {sim.config.api_key}"},
        )
        task_id = submitted.json()["data"]["taskId"]
        add = ["tasks", "add", "kie", task_id, "--service", "market", "--deadline", "0.2", "--server", url]
        added = runner.invoke(cli, [*add, "--notify-url", "http://127.0.0.1:9/none"], env=env)
        shown = runner.invoke(cli, ["tasks", "show", "kie", task_id, "--wait", "10", "--server", url], env=env)
        listed = runner.invoke(cli, ["tasks", "list", "--status", "succeeded", "--server", url], env=env)
        refused = runner.invoke(cli, ["tasks", "add", "kie", "x", "--server", url], env=env)
    assert added.exit_code == 0, added.output
    assert f"kie {task_id} waiting" in added.output and "notify secret: whsec_" in added.output
    assert shown.exit_code == 0 and f"kie {task_id} succeeded" in shown.output and "task.succeeded poll" in shown.output
    assert f"kie {task_id} succeeded" in listed.output
    assert refused.exit_code == 1 and "needs a service" in refused.output


def test_relay_simulate_serves_the_documented_shapes() -> None:
    port = unused_port()
    args = [sys.executable, "-m", "relay", "simulate", "--port", str(port), "--duration", "0.2", "--api-key", "k"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/_sim/config", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "relay simulate did not start"
                time.sleep(0.05)
        auth = {"Authorization": "Bearer k"}
        ack = httpx.post(f"{base}/kie/api/v1/jobs/createTask", json={"model": "m"}, headers=auth)
        task_id = ack.json()["data"]["taskId"]
        refused = httpx.get(f"{base}/kie/api/v1/jobs/recordInfo", params={"taskId": task_id})
        time.sleep(0.3)
        record = httpx.get(f"{base}/kie/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=auth).json()
        switched = httpx.post(f"{base}/_sim/config", json={"drop": "final"}).json()
        bad = httpx.post(f"{base}/_sim/config", json={"nope": 1})
    finally:
        process.terminate()
        process.wait(10)
    assert ack.json()["code"] == 200 and ack.json()["msg"] == "success"
    assert refused.status_code == 401
    assert record["code"] == 200 and record["data"]["taskId"] == task_id and record["data"]["state"] == "success"
    assert "resultUrls" in record["data"]["resultJson"]
    assert switched["drop"] == "final" and bad.status_code == 400
