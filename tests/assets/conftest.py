from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from relay.config import Settings
from tests.assets.files import FileServer, serve_files
from tests.conftest import ADMIN, app_client, callback_path
from tests.delivery.conftest import FAST

# Copies on, against loopback servers, on schedules compressed to tens of milliseconds.
ASSETS_FAST = {
    **FAST,
    "assets": "on",
    "assets_retry_schedule_s": "0.05",
    "assets_timeout_s": "3",
    "assets_lease_s": "2",
    "assets_wait_s": "5",
}


@pytest.fixture
def files() -> Iterator[FileServer]:
    with serve_files() as server:
        yield server


@pytest.fixture
def assets_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        return make_settings(**{**ASSETS_FAST, **overrides})

    return make


@pytest.fixture
def relay_with_assets(
    assets_settings: Callable[..., Settings],
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def factory(
        app_kwargs: dict[str, Any] | None = None, **overrides: str
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return app_client(assets_settings(**overrides), **(app_kwargs or {}))

    return factory


async def post_result(client: httpx.AsyncClient, task_id: str, urls: list[str], provider: str = "generic") -> str:
    """A provider's callback announcing a finished task with ``urls`` as its results; the new event's id."""
    path = await callback_path(client, provider)
    answer = await client.post(path, json={"taskId": task_id, "status": "completed", "result": {"outputs": urls}})
    assert answer.status_code == 200, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id


async def event_of(client: httpx.AsyncClient, event_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/events/{event_id}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def settled(client: httpx.AsyncClient, event_id: str, timeout_s: float = 8.0) -> dict[str, Any]:
    """The event once its copies are settled (none pending)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await client.get(f"/v1/events/{event_id}", headers=ADMIN)
        # A 503 is the test's Redis answering slowly on a loaded machine: not yet, like a pending copy.
        assert answer.status_code in (200, 503), answer.text
        event: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        if event.get("assets", {}).get("status") in ("complete", "incomplete"):
            return event
        assert time.monotonic() < deadline, f"copies not settled: {event.get('assets')}"
        await asyncio.sleep(0.02)


async def fetch_asset(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET an asset link as a subscriber would (the link names the relay's public URL, served in-process here)."""
    return await client.get(httpx.URL(url).raw_path.decode())
