"""The subscriptions and deliveries admin API (no worker: deliveries stay pending unless a test runs one)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.conftest import ADMIN, callback_path

pytestmark = pytest.mark.anyio
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def api(client_factory: ClientFactory, make_settings):  # type: ignore[no-untyped-def]
    async with client_factory(make_settings(allow_private_targets="true")) as client:
        yield client


async def test_create_read_update_delete(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/subscriptions",
        json={
            "url": "http://127.0.0.1:9/hook",
            "description": "orders",
            "filter": {"providers": ["kie"], "types": ["task.succeeded"], "tags": ["a"]},
            "headers": {"X-Team": "video"},
        },
        headers=ADMIN,
    )
    sub = created.json()
    listed = (await api.get("/v1/subscriptions", headers=ADMIN)).json()["data"]
    patched = await api.patch(
        f"/v1/subscriptions/{sub['id']}", json={"enabled": False, "filter": {"providers": []}}, headers=ADMIN
    )
    secret = (await api.get(f"/v1/subscriptions/{sub['id']}/secret", headers=ADMIN)).json()
    deleted = await api.delete(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)
    gone = await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)

    assert created.status_code == 201
    assert sub["id"].startswith("sub_") and sub["secret"].startswith("whsec_")
    assert len(base64.b64decode(sub["secret"].removeprefix("whsec_"))) >= 24
    assert sub["filter"] == {"providers": ["kie"], "types": ["task.succeeded"], "tags": ["a"]}
    assert sub["headers"] == {"x-team": "video"} and sub["enabled"] is True
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False and patched.json()["filter"]["providers"] == []
    assert patched.json()["disabled_reason"] == "disabled through the API"
    assert secret["secret"] == sub["secret"] and secret["previous_secret"] is None
    assert deleted.status_code == 204 and gone.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": 5},
        {"url": "http://127.0.0.1/", "filter": {"providers": ["nope"]}},
        {"url": "http://127.0.0.1/", "filter": {"types": ["task.done"]}},
        {"url": "http://127.0.0.1/", "filter": {"colors": ["red"]}},
        {"url": "http://127.0.0.1/", "headers": {"webhook-signature": "x"}},
        {"url": "http://127.0.0.1/", "headers": {"x-a": "line\r\nbreak"}},
        {"url": "http://user:pw@127.0.0.1/"},
        {"url": "javascript:alert(1)"},
    ],
)
async def test_bad_subscriptions_are_400(api: httpx.AsyncClient, body: dict[str, object]) -> None:
    response = await api.post("/v1/subscriptions", json=body, headers=ADMIN)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"bad_request", "target_refused", "unknown_field"}


async def test_the_api_needs_the_admin_token(api: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/v1/subscriptions"),
        ("GET", "/v1/subscriptions"),
        ("GET", "/v1/deliveries"),
        ("POST", "/v1/events/evt_x/replay"),
        ("POST", "/v1/deliveries/dlv_x/retry"),
    ]:
        response = await api.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/v1/subscriptions/sub_nope"),
        ("PATCH", "/v1/subscriptions/sub_nope"),
        ("DELETE", "/v1/subscriptions/sub_nope"),
        ("POST", "/v1/subscriptions/sub_nope/rotate-secret"),
        ("GET", "/v1/deliveries/dlv_nope"),
        ("POST", "/v1/deliveries/dlv_nope/retry"),
        ("POST", "/v1/events/evt_nope/replay"),
    ]:
        response = await api.request(method, path, headers=ADMIN)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_pending_deliveries_are_listed_and_replay_makes_new_ones(api: httpx.AsyncClient) -> None:
    kie = (
        await api.post(
            "/v1/subscriptions", json={"url": "http://127.0.0.1:9/a", "filter": {"providers": ["kie"]}}, headers=ADMIN
        )
    ).json()
    every = (await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/b"}, headers=ADMIN)).json()
    path = await callback_path(api, "generic")
    event_id = (await api.post(path, json={"taskId": "t", "status": "completed"})).json()["event_id"]

    # No worker runs here: a replay creates deliveries at once, for the matching subscriptions only.
    replayed = await api.post(f"/v1/events/{event_id}/replay", headers=ADMIN)
    to_one = await api.post(f"/v1/events/{event_id}/replay", json={"subscription_id": kie["id"]}, headers=ADMIN)
    pending = (await api.get("/v1/deliveries", params={"status": "pending"}, headers=ADMIN)).json()
    of_kie = (await api.get("/v1/deliveries", params={"subscription_id": kie["id"]}, headers=ADMIN)).json()
    page = (await api.get("/v1/deliveries", params={"limit": 1}, headers=ADMIN)).json()
    next_page = (
        await api.get("/v1/deliveries", params={"limit": 1, "cursor": page["next_cursor"]}, headers=ADMIN)
    ).json()
    event = (await api.get(f"/v1/events/{event_id}", headers=ADMIN)).json()
    bad = await api.get("/v1/deliveries", params={"status": "lost"}, headers=ADMIN)

    assert replayed.status_code == 202
    assert [d["subscription_id"] for d in replayed.json()["deliveries"]] == [every["id"]]
    assert [d["subscription_id"] for d in to_one.json()["deliveries"]] == [kie["id"]]
    assert len(pending["data"]) == 2 and pending["next_cursor"] is None
    assert [d["subscription_id"] for d in of_kie["data"]] == [kie["id"]]
    assert page["data"][0]["id"] == pending["data"][0]["id"] and next_page["data"][0]["id"] == pending["data"][1]["id"]
    assert {d["id"] for d in event["deliveries"]} == {d["id"] for d in pending["data"]}
    assert event["task_id"] == "t"  # the event's own fields are unchanged
    assert bad.status_code == 400


async def test_recover_resends_what_failed_since_a_time(api: httpx.AsyncClient) -> None:
    sub = (await api.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/a"}, headers=ADMIN)).json()
    path = await callback_path(api, "generic")
    event_id = (await api.post(path, json={"taskId": "t", "status": "completed"})).json()["event_id"]
    await api.post(f"/v1/events/{event_id}/replay", headers=ADMIN)

    pending_only = await api.post(f"/v1/subscriptions/{sub['id']}/recover", params={"since": "0"}, headers=ADMIN)
    missing_since = await api.post(f"/v1/subscriptions/{sub['id']}/recover", headers=ADMIN)

    assert pending_only.status_code == 202 and pending_only.json()["requeued"] == 0  # nothing has failed yet
    assert missing_since.status_code == 400
