"""Real processes: `relay serve` (web) and `relay worker` (deliveries, task poller) against a `relay simulate` stand-in.

Every process (web, worker, Redis) is restarted while a task waits for its deadline: polling resumes from Redis.
The provider key reaches the simulator and nowhere else: not the logs (debug level), not the events or the API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from relay.embedded import EmbeddedRedis
from relay.simulate.app import SimConfig, Simulator, create_simulator_app
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import relay_process, run_server
from tests.tasks.conftest import SIM_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def environ(redis_url: str, sim_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    env.update(
        {
            "REDIS_URL": redis_url,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_DATA_DIR": str(data_dir),
            "RELAY_LOG_LEVEL": "debug",
            "RELAY_KIE_API_KEY": SIM_KEY,
            "RELAY_KIE_API_BASE": f"{sim_url}/kie",
            "RELAY_TASKS_TICK_S": "0.05",
            "RELAY_TASKS_POLL_INTERVAL_S": "0.2",
            "RELAY_TASKS_POLL_MAX_INTERVAL_S": "0.5",
            "RELAY_WORKER_POLL_S": "0.02",
            "RELAY_ALLOW_PRIVATE_TARGETS": "true",
        }
    )
    return env


@contextmanager
def worker_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "relay", "worker"], env=env, stdout=log, stderr=log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(15)


def test_every_process_restarted_mid_wait_then_polling_resumes_and_the_key_is_never_logged(tmp_path: Path) -> None:
    simulator = Simulator(SimConfig(api_key=SIM_KEY, duration_s=0.3, drop="all"))
    redis_server = EmbeddedRedis(tmp_path / "redis")
    logs = tmp_path / "logs"
    logs.mkdir()
    with run_server(create_simulator_app(simulator)) as sim_url:
        env = environ(redis_server.start(), sim_url, tmp_path / "data")
        web_env = {**env, "RELAY_WORKER": "false"}
        try:
            with relay_process(web_env, logs / "web1.log") as (url, web_pid), worker_process(env, logs / "w1.log") as w:
                admin = httpx.Client(base_url=url, headers=ADMIN, timeout=10)
                callback = admin.post("/v1/callback-urls", json={"provider": "kie"}).json()["url"]
                callback = url + httpx.URL(callback).path
                submitted = httpx.post(
                    f"{sim_url}/kie/api/v1/jobs/createTask",
                    json={"model": "sim/model", "callBackUrl": callback, "input": {}},
                    headers={"Authorization": f"Bearer {SIM_KEY}"},
                )
                task_id = submitted.json()["data"]["taskId"]
                registered = admin.post("/v1/tasks", json={"provider": "kie", "task_id": task_id, "service": "market",
                                                           "deadline_s": 2})  # fmt: skip
                assert registered.status_code == 201, registered.text
                registered_at = time.monotonic()
                # Everything dies before the deadline: nobody has polled yet.
                os.kill(web_pid, signal.SIGKILL)
                w.send_signal(signal.SIGKILL)
                w.wait(10)
                admin.close()
            assert simulator.log.status_calls == []
            redis_server.stop()
            time.sleep(max(0.0, registered_at + 2.5 - time.monotonic()))
            redis_server.start()

            with relay_process(web_env, logs / "web2.log") as (url, _), worker_process(env, logs / "w2.log"):
                with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as admin:
                    found = admin.get(f"/v1/tasks/kie/{task_id}", params={"wait": 20}).json()
                    listed = admin.get("/v1/tasks").text
                    events = admin.get("/v1/events").text
        finally:
            redis_server.stop()

    assert found["task"]["status"] == "succeeded", found
    assert found["task"]["polls"] >= 1
    assert [e["source"] for e in found["data"] if e["type"] == "task.succeeded"] == ["poll"]
    assert simulator.log.status_calls and simulator.log.keys_seen == {SIM_KEY}  # the key was used...
    written = "".join(path.read_text(errors="replace") for path in logs.iterdir())
    assert "task polled provider=kie" in written  # ...the poller logged at debug level...
    for text in (written, str(found), listed, events):  # ...and it appears nowhere else
        assert SIM_KEY not in text
