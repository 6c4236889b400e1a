"""`relay worker` as a real process: SIGKILL mid-delivery loses nothing, SIGTERM drains."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.responses import Response

from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, app_client, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Received, Subscriber, wait_for

pytestmark = pytest.mark.anyio

TASKS = 100
STEPS = ({"status": "running", "progress": 10}, {"status": "running", "progress": 50}, {"status": "completed"})
CONCURRENCY = 16


def start_worker(redis_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    env.update(
        {
            "REDIS_URL": redis_url,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_DATA_DIR": str(tmp_path / "data"),
            "RELAY_ALLOW_PRIVATE_TARGETS": "true",
            "RELAY_DELIVERY_TIMEOUT_S": "0.5",
            "RELAY_DELIVERY_LEASE_S": "1",
            "RELAY_DELIVERY_CONCURRENCY": str(CONCURRENCY),
            "RELAY_WORKER_POLL_S": "0.02",
            "RELAY_RETRY_SCHEDULE_S": "0,0.05,0.05,0.05,0.05,0.05",
            "RELAY_SHUTDOWN_GRACE_S": "2",
            "RELAY_LOG_LEVEL": "warning",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "relay", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr.decode()


async def test_sigkill_mid_delivery_loses_nothing_and_keeps_task_order(
    redis_url: str, make_settings: Callable[..., Settings], subscriber: Subscriber, tmp_path: Path
) -> None:
    async def respond(received: Received, count: int) -> Response:
        await asyncio.sleep(0.005)  # so that deliveries are in flight when the worker dies
        return Response("ok")

    subscriber.respond = respond
    first = start_worker(redis_url, tmp_path)
    second: subprocess.Popen[bytes] | None = None
    sent: dict[str, list[str]] = {}
    try:
        async with app_client(make_settings(worker="false", allow_private_targets="true")) as relay:
            sub = await subscribe(relay, f"{subscriber.url}/hook")
            path = await callback_path(relay, "generic")
            for n in range(TASKS):
                for step in STEPS:
                    ack = (await relay.post(path, json={"taskId": f"t-{n}", **step})).json()
                    sent.setdefault(f"t-{n}", []).append(ack["event_id"])

            await wait_for(lambda: len(subscriber.received) >= 60, timeout_s=15, what="the first worker to deliver")
            first.send_signal(signal.SIGKILL)
            first.wait(5)
            at_kill = len(subscriber.received)
            second = start_worker(redis_url, tmp_path)
            total = TASKS * len(STEPS)
            await wait_for(
                lambda: len({r.msg_id for r in subscriber.received}) == total, timeout_s=20, what="every delivery"
            )
            await asyncio.sleep(0.1)
            succeeded = (await relay.get("/v1/deliveries?status=succeeded&limit=500", headers=ADMIN)).json()["data"]
            code, log = stop(second, signal.SIGTERM)
    finally:
        stop(first, signal.SIGKILL)
        if second is not None:
            stop(second, signal.SIGKILL)

    assert at_kill < total  # the kill happened mid-run
    assert len(subscriber.received) - total <= CONCURRENCY  # duplicates: at most what was in flight
    assert len(succeeded) == total
    by_task: dict[str, list[str]] = {}
    for received in subscriber.received:
        by_task.setdefault(json.loads(received.body)["task_id"], []).append(received.msg_id)
    assert {task: list(dict.fromkeys(ids)) for task, ids in by_task.items()} == sent
    assert all(event["id"] for event in subscriber.verified(sub["secret"]))
    assert code == 0, log


async def test_sigterm_lets_an_attempt_in_flight_finish(
    redis_url: str, make_settings: Callable[..., Settings], subscriber: Subscriber, tmp_path: Path
) -> None:
    async def respond(received: Received, count: int) -> Response:
        await asyncio.sleep(0.15)
        return Response("ok")

    subscriber.respond = respond
    worker = start_worker(redis_url, tmp_path)
    try:
        async with app_client(make_settings(worker="false", allow_private_targets="true")) as relay:
            await subscribe(relay, f"{subscriber.url}/hook")
            path = await callback_path(relay, "generic")
            event_id = (await relay.post(path, json={"taskId": "drain", "status": "completed"})).json()["event_id"]
            await wait_for(lambda: len(subscriber.received) == 1, timeout_s=10, what="the attempt to start")
            started = time.monotonic()
            code, log = stop(worker, signal.SIGTERM)
            elapsed = time.monotonic() - started
            delivery = (await relay.get(f"/v1/events/{event_id}", headers=ADMIN)).json()["deliveries"][0]
    finally:
        stop(worker, signal.SIGKILL)

    assert code == 0, log
    assert delivery["status"] == "succeeded"  # finished during the drain, not abandoned
    assert elapsed < 2
