"""A misspelled field or filter value is refused, naming it, instead of being silently ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from relay.config import Settings
from tests.conftest import ADMIN, callback_path

pytestmark = pytest.mark.anyio


@pytest.fixture
async def relay(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
    make_settings: Callable[..., Settings],
) -> AsyncIterator[httpx.AsyncClient]:
    # The tunnel routes need the router's hub; private targets let the subscription URLs be loopback ones.
    async with client_factory(make_settings(tunnel_router="true", allow_private_targets="true")) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "good", "misspelled"),
    [
        ("/v1/subscriptions", {"url": "http://127.0.0.1:9/h"}, {"filters": {"providers": ["kie"]}}),
        ("/v1/subscriptions", {"url": "http://127.0.0.1:9/h"}, {"header": {"x-a": "b"}}),
        ("/v1/tunnels", {"mode": "raw"}, {"filters": {"providers": ["kie"]}}),
        ("/v1/callback-urls", {"provider": "kie"}, {"tags": "order-42"}),
    ],
)
async def test_unknown_fields_are_refused_naming_them(
    relay: httpx.AsyncClient, path: str, good: dict[str, object], misspelled: dict[str, object]
) -> None:
    refused = await relay.post(path, json={**good, **misspelled}, headers=ADMIN)
    accepted = await relay.post(path, json=good, headers=ADMIN)  # the positive control

    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unknown_field"
    assert repr(next(iter(misspelled))) in error["message"] and path in error["message"]
    assert accepted.status_code == 201, accepted.text


async def test_a_misspelled_replay_target_is_refused_not_sent_to_every_subscriber(relay: httpx.AsyncClient) -> None:
    sub = (await relay.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/h"}, headers=ADMIN)).json()
    path = await callback_path(relay, "generic")
    event_id = (await relay.post(path, json={"taskId": "t", "status": "completed"})).json()["event_id"]

    refused = await relay.post(f"/v1/events/{event_id}/replay", json={"subscripton_id": sub["id"]}, headers=ADMIN)
    deliveries_after_refusal = (await relay.get("/v1/deliveries", headers=ADMIN)).json()["data"]
    accepted = await relay.post(f"/v1/events/{event_id}/replay", json={"subscription_id": sub["id"]}, headers=ADMIN)

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_field"
    assert "'subscripton_id'" in refused.json()["error"]["message"]
    assert deliveries_after_refusal == []
    assert accepted.status_code == 202 and len(accepted.json()["deliveries"]) == 1  # the positive control


async def test_nothing_is_made_by_a_refused_body(relay: httpx.AsyncClient) -> None:
    body = {"url": "http://127.0.0.1:9/h", "filters": {"providers": ["kie"]}}
    await relay.post("/v1/subscriptions", json=body, headers=ADMIN)
    await relay.post("/v1/tunnels", json={"filters": {}}, headers=ADMIN)

    assert (await relay.get("/v1/subscriptions", headers=ADMIN)).json()["data"] == []
    assert (await relay.get("/v1/tunnels", headers=ADMIN)).json()["data"] == []


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/v1/subscriptions", {"url": "http://127.0.0.1:9/h", "filter": {"provider": ["kie"]}}, "'provider'"),
        ("/v1/subscriptions", {"url": "http://127.0.0.1:9/h", "filter": {"providers": ["kei"]}}, "'kei'"),
        ("/v1/tunnels", {"filter": {"providers": ["kei"]}}, "'kei'"),
        ("/v1/tunnels", {"filter": {"types": ["task.done"]}}, "'task.done'"),
    ],
)
async def test_unknown_filter_fields_and_values_are_refused(
    relay: httpx.AsyncClient, path: str, body: dict[str, object], named: str
) -> None:
    refused = await relay.post(path, json=body, headers=ADMIN)

    assert refused.status_code == 400, refused.text
    assert named in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [("provider=kei", "'kei'"), ("type=task.done", "'task.done'"), ("providr=kie", "'providr'")],
)
async def test_unknown_event_filters_are_refused(relay: httpx.AsyncClient, query: str, named: str) -> None:
    refused = await relay.get(f"/v1/events?{query}", headers=ADMIN)
    accepted = await relay.get("/v1/events?provider=kie&type=task.succeeded&limit=5", headers=ADMIN)

    assert refused.status_code == 400, refused.text
    assert named in refused.json()["error"]["message"]
    assert accepted.status_code == 200 and accepted.json()["data"] == []
