"""``/readyz`` and the startup warning refuse a Redis that keeps nothing on disk, unless explicitly allowed."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from relay.config import Settings
from relay.embedded import redis_server_binary
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, app_client
from tests.servers import relay_process

pytestmark = pytest.mark.anyio


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server with neither AOF nor RDB save points, on a unix socket."""
    sock = tmp_path / "volatile.sock"
    args = [str(redis_server_binary()), "--port", "0", "--unixsocket", str(sock), "--dir", str(tmp_path)]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not sock.exists():
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
        time.sleep(0.01)
    try:
        yield f"unix://{sock}"
    finally:
        process.terminate()
        process.wait(10)


async def test_readyz_fails_on_volatile_redis_and_the_app_warns_loudly(
    volatile_redis: str, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="relay"):
        async with app_client(make_settings(redis_url=volatile_redis, allow_volatile_redis="false")) as client:
            volatile = await client.get("/readyz")
            redis.Redis.from_url(volatile_redis).config_set("save", "3600 1")
            with_rdb = await client.get("/readyz")

    assert volatile.status_code == 503
    assert volatile.json()["error"]["code"] == "volatile_store"
    assert "RELAY_ALLOW_VOLATILE_REDIS" in volatile.json()["error"]["message"]
    assert with_rdb.status_code == 200  # RDB save points count as persistence
    loud = [r for r in caplog.records if r.levelno == logging.ERROR and "persistence is OFF" in r.getMessage()]
    assert len(loud) == 1 and "appendonly=no save=''" in loud[0].getMessage()


async def test_an_operator_can_allow_volatile_redis(
    volatile_redis: str, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="relay"):
        async with app_client(make_settings(redis_url=volatile_redis, allow_volatile_redis="true")) as client:
            ready = await client.get("/readyz")

    assert ready.status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("allowed by RELAY_ALLOW_VOLATILE_REDIS" in r.getMessage() for r in caplog.records)


async def test_the_suites_redis_persists(redis_url: str, make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings()) as client:
        assert (await client.get("/readyz")).status_code == 200


def test_relay_serve_warns_at_start(volatile_redis: str, tmp_path: Path) -> None:
    environ = {
        "REDIS_URL": volatile_redis,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_WORKER": "false",
    }
    log_path = tmp_path / "serve.log"
    with relay_process(environ, log_path) as (url, _):
        ready = httpx.get(f"{url}/readyz")

    assert ready.status_code == 503
    assert "!! Redis persistence is OFF (appendonly=no save='')" in log_path.read_text()
