"""``/openapi.json`` (the static relay/openapi.json) documents exactly the routes the app mounts, is valid OpenAPI,
and schemathesis finds no 500 anywhere in the running API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from schemathesis.checks import not_a_server_error
from starlette.routing import Route

from relay import __version__
from relay.app import create_app
from relay.config import Settings
from relay.openapi import openapi_document
from relay.providers import PROVIDER_NAMES
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.servers import run_server

SCHEMA = schemathesis.openapi.from_dict(openapi_document(PROVIDER_NAMES))


def mounted() -> dict[str, set[str]]:
    """Path template -> methods of every route the app serves (Starlette adds HEAD to GET routes itself)."""
    environ = {"REDIS_URL": "redis://127.0.0.1:1", "RELAY_SECRET_KEY": SECRET_KEY, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
    app = create_app(Settings.from_environ(environ))  # not started: nothing connects
    routes: dict[str, set[str]] = {}
    for route in app.routes:
        assert isinstance(route, Route), route  # a Mount would need its own walk
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {task_id:path} is {task_id} in OpenAPI
        routes.setdefault(path, set()).update(m.lower() for m in route.methods or () if m != "HEAD")
    return routes


def test_every_mounted_route_is_documented_and_nothing_else() -> None:
    documented = {path: set(item) for path, item in openapi_document(PROVIDER_NAMES)["paths"].items()}
    routes = mounted()

    # The walk saw the API, the callbacks, the smee-style tunnel and the dashboard.
    assert {"/v1/events", "/hooks/{provider}/{token}", "/t/{channel}", "/dashboard"} <= routes.keys()
    assert documented == routes


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document(PROVIDER_NAMES)

    assert document["openapi"] == "3.1.0"
    validate(document)  # the OpenAPI 3.1 schema, $refs resolved, path parameters declared


def test_a_broken_document_is_refused() -> None:
    """Positive control for the validator: the same document with one undeclared path parameter fails."""
    document = openapi_document(PROVIDER_NAMES)
    item = document["paths"]["/v1/events/{event_id}"]
    broken = {**document, "paths": {**document["paths"], "/v1/events/{event_id}": {
        "get": {**item["get"], "parameters": []}}}}  # fmt: skip

    with pytest.raises(OpenAPIValidationError):
        validate(broken)


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


def test_openapi_json_is_served_with_this_version_and_the_providers(live_url: str) -> None:
    response = httpx.get(f"{live_url}/openapi.json")
    static = json.loads(files("relay").joinpath("openapi.json").read_text(encoding="utf-8"))

    assert response.status_code == 200
    served = response.json()
    assert served["info"] == {
        "title": "relay",
        "version": __version__,
        "description": f"Providers: {', '.join(PROVIDER_NAMES)}.",
    }
    assert {**served, "info": static["info"]} == static  # all else as the file says


@SCHEMA.parametrize()
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, live_url: str, tokens: dict[str, str]) -> None:
    params = case.path_parameters or {}
    # Half the callbacks carry a genuine token, so the body, signature and store paths are fuzzed too.
    if "token" in params and params.get("provider") in tokens and len(params["token"]) % 2 == 0:
        params["token"] = tokens[params["provider"]]
    case.call_and_validate(base_url=live_url, headers=ADMIN, checks=[not_a_server_error], timeout=5)
