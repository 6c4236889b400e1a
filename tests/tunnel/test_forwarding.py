"""Concurrent forwarding: a hung local request holds one slot, one task's events keep their order."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from relay.config import Settings
from relay.tunnel.client import TunnelClient, TunnelOptions
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.tunnel.conftest import Target
from tests.tunnel.test_resume import relay, running, until

pytestmark = pytest.mark.anyio


async def test_a_hung_request_does_not_stall_other_tasks_and_a_task_keeps_its_order(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    target.delays = {b'"slow-1"': 3.0}  # the local server takes 3 s over this one
    with relay(make_settings, tunnel_router="true") as base:
        async with httpx.AsyncClient() as http:
            lines: list[str] = []
            options = TunnelOptions(server=base, forward_to=target.url, admin_token=ADMIN_TOKEN, raw=True)
            client = TunnelClient(http, options, echo=lines.append)
            async with running(client, lines):
                url = (await http.post(f"{base}/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN)).json()
                callback = url["url"].replace("https://relay.test", base)
                sent = [("A", "slow-1", "running"), ("A", "a-2", "completed")]
                sent += [(f"B{n}", f"b-{n}", "completed") for n in range(10)]
                for task_id, mark, status in sent:
                    body = {"taskId": task_id, "status": status, "mark": mark}
                    assert (await http.post(callback, json=body)).status_code == 200
                await until(lambda: len(target.received) == 10, "the other tasks' events", timeout_s=10)
                others_done = [json.loads(item.body)["mark"] for item in target.received]
                await until(lambda: len(target.received) == 12, "task A's two events")

    marks = [json.loads(item.body)["mark"] for item in target.received]
    # Task B0..B9 went through while A's first request hung; A's second waited for its first.
    assert sorted(others_done) == sorted(f"b-{n}" for n in range(10))
    assert marks[-2:] == ["slow-1", "a-2"]
