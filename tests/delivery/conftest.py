from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from relay.config import Settings
from tests.conftest import ADMIN, app_client
from tests.delivery.subscriber import Subscriber, serve_subscriber

# A schedule compressed from seconds and hours to tens of milliseconds; the shape is the default's.
FAST = {
    "worker": "true",
    "allow_private_targets": "true",
    "retry_schedule_s": "0,0.05,0.05,0.05",
    "retry_jitter": "0",
    "retry_min_after_throttle_s": "0.3",
    "delivery_timeout_s": "0.5",
    "delivery_lease_s": "1.5",
    "worker_poll_s": "0.02",
    "shutdown_grace_s": "1",
}


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


@pytest.fixture
def fast_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        return make_settings(**{**FAST, **overrides})

    return make


@pytest.fixture
def relay_factory(
    fast_settings: Callable[..., Settings],
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """The app with its in-process worker, on the compressed schedule; keyword arguments override settings."""

    def factory(
        app_kwargs: dict[str, Any] | None = None, **overrides: str
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return app_client(fast_settings(**overrides), **(app_kwargs or {}))

    return factory


@pytest.fixture
async def relay(
    relay_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with relay_factory() as client:
        yield client


async def subscribe(client: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/subscriptions", json={"url": url, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
