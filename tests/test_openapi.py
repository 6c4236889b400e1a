"""``/openapi.json`` documents every route, and schemathesis finds no 500 anywhere in the running API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from starlette.routing import Route

from relay.app import create_app
from relay.config import Settings
from relay.openapi import openapi_document
from relay.providers import PROVIDER_NAMES
from relay.routes import ROUTES
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import run_server

SCHEMA = schemathesis.openapi.from_dict(openapi_document(PROVIDER_NAMES))


def documented(path: str) -> str:
    return path.replace(":path}", "}")


def test_every_route_is_documented() -> None:
    paths = openapi_document(PROVIDER_NAMES)["paths"]
    for route in ROUTES:
        assert isinstance(route, Route)
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert documented(route.path) in paths, route.path
        assert methods <= set(paths[documented(route.path)]), route.path


@pytest.fixture(scope="module")
def live_url(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    settings = Settings.from_environ(
        {
            "REDIS_URL": redis_server,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_DATA_DIR": str(Path(tmp_path_factory.mktemp("data"))),
            "RELAY_STORE_TIMEOUT_S": "1",
            "RELAY_BODY_TIMEOUT_S": "2",
        }
    )
    with run_server(create_app(settings), proxy_headers=False) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(live_url: str) -> dict[str, str]:
    issued = {}
    for provider in PROVIDER_NAMES:
        response = httpx.post(f"{live_url}/v1/callback-urls", json={"provider": provider}, headers=ADMIN)
        issued[provider] = response.json()["url"].rsplit("/", 1)[1]
    return issued


def test_openapi_json_is_served(live_url: str) -> None:
    response = httpx.get(f"{live_url}/openapi.json")

    assert response.status_code == 200
    assert response.json()["paths"].keys() == openapi_document(PROVIDER_NAMES)["paths"].keys()


@SCHEMA.parametrize()
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, live_url: str, tokens: dict[str, str]) -> None:
    params = case.path_parameters or {}
    # Half the callbacks carry a genuine token, so the body, signature and store paths are fuzzed too.
    if "token" in params and params.get("provider") in tokens and len(params["token"]) % 2 == 0:
        params["token"] = tokens[params["provider"]]
    case.call_and_validate(base_url=live_url, headers=ADMIN, checks=[not_a_server_error], timeout=5)
