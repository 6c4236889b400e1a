from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN, PROVIDERS_DIR, callback_path
from tests.providers.contract import cases, check_event

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("adapter", "case"), cases("provider") + cases("route"))
async def test_every_published_body_is_normalized_end_to_end(
    client: httpx.AsyncClient, adapter: str, case: dict[str, Any]
) -> None:
    body = (PROVIDERS_DIR / case["file"]).read_bytes()
    path = await callback_path(client, adapter, tag="t")

    ack = (await client.post(path, content=body, headers={"content-type": "application/json"})).json()
    event = (await client.get(f"/v1/events/{ack['event_id']}", headers=ADMIN)).json()

    assert event["provider"] == adapter
    check_event(case, event)
    assert event["raw"] == json.loads(body)


async def test_admin_api_needs_the_bearer_token(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer \xc3\xa9".encode("latin-1")},
    ):
        response = await client.get("/v1/events", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    response = await client.post("/v1/callback-urls", json={"provider": "kie"})
    assert response.status_code == 401


async def test_listing_is_newest_first_with_filters_and_cursor(client: httpx.AsyncClient) -> None:
    generic = await callback_path(client, "generic", tag="a")
    kie = await callback_path(client, "kie", tag="b")
    ids = []
    for n in range(5):
        ack = await client.post(generic, json={"taskId": f"g{n}", "status": "completed"})
        ids.append(ack.json()["event_id"])
    await client.post(kie, json={"code": 500, "msg": "boom", "data": {"taskId": "k1"}})

    page1 = (await client.get("/v1/events?provider=generic&limit=2", headers=ADMIN)).json()
    page2 = (
        await client.get(f"/v1/events?provider=generic&limit=2&cursor={page1['next_cursor']}", headers=ADMIN)
    ).json()
    page3 = (
        await client.get(f"/v1/events?provider=generic&limit=2&cursor={page2['next_cursor']}", headers=ADMIN)
    ).json()
    failed = (await client.get("/v1/events?type=task.failed", headers=ADMIN)).json()
    tagged = (await client.get("/v1/events?tag=a&task_id=g3", headers=ADMIN)).json()

    listed = [event["id"] for page in (page1, page2, page3) for event in page["data"]]
    assert listed == list(reversed(ids))
    assert page3["next_cursor"] is None
    assert [(e["provider"], e["task_id"]) for e in failed["data"]] == [("kie", "k1")]
    assert [e["task_id"] for e in tagged["data"]] == ["g3"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "bad_request"),
        ("limit=abc", "bad_request"),
        ("limit=501", "bad_request"),
        ("cursor=x", "bad_request"),
    ],
)
async def test_bad_listing_parameters_are_400(client: httpx.AsyncClient, query: str, code: str) -> None:
    response = await client.get(f"/v1/events?{query}", headers=ADMIN)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_missing_things_are_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/v1/events/evt_nope",
        "/v1/events/evt_01JDXK3M8Q9Z7YB5N2W4T6R8PA00",
        "/v1/tasks/kie/none",
        "/nowhere",
    ):
        response = await client.get(path, headers=ADMIN)
        assert response.status_code == 404, path
        assert set(response.json()["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"provider": 1}',
        b'{"provider": "nope"}',
        b'{"provider": "kie", "tag": ""}',
        b'{"provider": "kie", "tag": 5}',
    ],
)
async def test_callback_url_requests_are_validated(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/v1/callback-urls", content=body, headers=ADMIN)

    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] in ("bad_request", "unknown_provider")


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "redis": "up"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
