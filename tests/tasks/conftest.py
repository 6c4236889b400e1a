"""Fixtures for tracked tasks: the provider simulator and a relay, both real HTTP servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from relay.app import create_app
from relay.config import Settings
from relay.simulate.app import SimConfig, Simulator, create_simulator_app
from tests.conftest import ADMIN
from tests.servers import run_server

SIM_KEY = "sim-key-0123456789abcdef"
# Polling compressed from minutes to tens of milliseconds; the shape is the default's.
FAST_TASKS = {
    "worker": "true",
    "allow_private_targets": "true",
    "tasks_tick_s": "0.05",
    "tasks_poll_interval_s": "0.1",
    "tasks_poll_max_interval_s": "0.4",
    "tasks_poll_timeout_s": "2",
    "retry_schedule_s": "0,0.05,0.05",
    "retry_jitter": "0",
    "delivery_timeout_s": "1",
    "delivery_lease_s": "2",
    "worker_poll_s": "0.02",
    "shutdown_grace_s": "1",
    # A machine busy with other work must not turn a callback into a 503 (the provider's retries are compressed too).
    "store_timeout_s": "3",
}


@dataclass
class Sim:
    simulator: Simulator
    url: str

    @property
    def config(self) -> SimConfig:
        return self.simulator.config

    def base(self, provider: str) -> str:
        return f"{self.url}/{provider}"


@pytest.fixture
def sim() -> Iterator[Sim]:
    simulator = Simulator(SimConfig(api_key=SIM_KEY, duration_s=0.3, time_scale=0.001))
    with run_server(create_simulator_app(simulator)) as url:
        yield Sim(simulator, url)


def task_settings(make_settings: Callable[..., Settings], sim: Sim, **overrides: str) -> Settings:
    keys = {f"{p}_api_key": SIM_KEY for p in ("kie", "ttapi", "acedata", "replicate")}
    bases = {f"{p}_api_base": sim.base(p) for p in ("kie", "ttapi", "acedata", "replicate")}
    return make_settings(**{**FAST_TASKS, **keys, **bases, **overrides})


@contextmanager
def served_relay(settings: Settings) -> Iterator[str]:
    with run_server(create_app(settings)) as url:
        yield url


@pytest.fixture
def relay_server(make_settings: Callable[..., Settings], sim: Sim) -> Callable[..., AbstractContextManager[str]]:
    def start(**overrides: str) -> AbstractContextManager[str]:
        return served_relay(task_settings(make_settings, sim, **overrides))

    return start


@pytest.fixture
async def admin() -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(base_url: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=base_url, headers=ADMIN, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def callback_url(client: httpx.AsyncClient, provider: str) -> str:
    response = await client.post("/v1/callback-urls", json={"provider": provider})
    assert response.status_code == 201, response.text
    path = httpx.URL(response.json()["url"]).path
    return f"{client.base_url}".rstrip("/") + path


async def submit(sim: Sim, provider: str, callback: str, **fields: Any) -> str:
    """Submit a generation to the simulator as a user would; returns the provider's task id."""
    async with httpx.AsyncClient(timeout=10) as http:
        if provider == "kie":
            response = await http.post(
                f"{sim.base('kie')}/api/v1/jobs/createTask",
                json={"model": "sim/model", "callBackUrl": callback, "input": {"prompt": "a cat"}, **fields},
                headers={"Authorization": f"Bearer {SIM_KEY}"},
            )
            return str(response.json()["data"]["taskId"])
        if provider == "ttapi":
            response = await http.post(
                f"{sim.base('ttapi')}/midjourney/v1/imagine",
                json={"prompt": "a cat", "hookUrl": callback, **fields},
                headers={"TT-API-KEY": SIM_KEY},
            )
            return str(response.json()["data"]["jobId"])
        if provider == "acedata":
            response = await http.post(
                f"{sim.base('acedata')}/midjourney/imagine",
                json={"prompt": "a cat", "callback_url": callback, **fields},
                headers={"Authorization": f"Bearer {SIM_KEY}"},
            )
            return str(response.json()["task_id"])
        response = await http.post(
            f"{sim.base('replicate')}/v1/predictions",
            json={"version": "sim", "input": {"prompt": "a cat"}, "webhook": callback, **fields},
            headers={"Authorization": f"Bearer {SIM_KEY}"},
        )
        return str(response.json()["id"])


def kie_task(task_id: str, **fields: Any) -> dict[str, Any]:
    return {"provider": "kie", "task_id": task_id, "service": "market", **fields}
