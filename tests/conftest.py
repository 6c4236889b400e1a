from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from relay.app import create_app
from relay.config import Settings
from relay.embedded import EmbeddedRedis

ADMIN_TOKEN = "test-admin-token"
SECRET_KEY = "test-secret-key"
# The tests own their provider bodies (tests/fixtures/providers, sources in SOURCES.md there): a fresh clone runs.
PROVIDERS_DIR = Path(__file__).resolve().parent / "fixtures" / "providers"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """CLI commands run in-process (CliRunner) apply their dictConfig (handlers, ``propagate=False`` on ``relay``):
    put the logging tree back so that later tests' ``caplog`` still sees the package's records."""

    def loggers() -> dict[str, logging.Logger]:
        found = {name: lg for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
        return {**found, "": logging.getLogger()}

    saved = {name: (lg.disabled, lg.level, lg.propagate, list(lg.handlers)) for name, lg in loggers().items()}
    yield
    for name, lg in loggers().items():
        lg.disabled, lg.level, lg.propagate, lg.handlers = saved.get(name, (False, logging.NOTSET, True, []))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The suite's Redis: REDIS_URL when given, else the embedded mode's own redis-server binary."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture
def make_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings as the environment would give them; keyword arguments override RELAY_* variables."""

    def make(redis_url: str = redis_url, **overrides: str) -> Settings:
        environ = {
            "REDIS_URL": redis_url,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_PUBLIC_URL": "https://relay.test",
            "RELAY_DATA_DIR": str(tmp_path / "data"),
            "RELAY_STORE_TIMEOUT_S": "1",
            "RELAY_REDIS_STARTUP_WAIT_S": "2",
            # Delivery tests turn the in-app worker on where they need it.
            "RELAY_WORKER": "false",
            "RELAY_TUNNEL_ROUTER": "false",
            # The suite's own Redis has AOF on; an outside one (REDIS_URL) may not, and tests must not care.
            "RELAY_ALLOW_VOLATILE_REDIS": "true" if os.environ.get("REDIS_URL") else "false",
        }
        environ.update({f"RELAY_{name.upper()}": value for name, value in overrides.items()})
        return Settings.from_environ(environ)

    return make


@asynccontextmanager
async def app_client(settings: Settings, **app_kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in-process, inside its lifespan, as a uvicorn server would run it."""
    app = create_app(settings, **app_kwargs)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            # What servers do with the lifespan's state: a shallow copy into every request's scope.
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://relay.test") as client:
            yield client


@pytest.fixture
def client_factory(
    make_settings: Callable[..., Settings],
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def factory(settings: Settings | None = None, **app_kwargs: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return app_client(settings or make_settings(), **app_kwargs)

    return factory


@pytest.fixture
async def client(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_factory() as client:
        yield client


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def callback_path(client: httpx.AsyncClient, provider: str, tag: str | None = None) -> str:
    """The path of a fresh callback URL, issued through the admin API as a user would."""
    response = await client.post("/v1/callback-urls", json={"provider": provider, "tag": tag}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(httpx.URL(response.json()["url"]).path)
