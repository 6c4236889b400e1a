"""The tunnel channel API, in-process."""

from __future__ import annotations

import httpx
import pytest
import redis

from relay.store import keys
from tests.conftest import ADMIN

pytestmark = pytest.mark.anyio


async def test_channels_are_created_listed_and_deleted(client: httpx.AsyncClient, redis_url: str) -> None:
    created = await client.post(
        "/v1/tunnels", json={"filter": {"providers": ["kie"], "tags": ["order-42"]}, "mode": "raw"}, headers=ADMIN
    )

    assert created.status_code == 201
    channel = created.json()
    assert len(channel["channel"]) >= 32  # 24 random bytes, URL-safe base64: 192 bits
    assert channel["secret"].startswith("whsec_")
    assert channel["stream_url"] == f"https://relay.test/v1/tunnels/{channel['channel']}/stream"
    assert channel["webhook_url"] == f"https://relay.test/t/{channel['channel']}"
    assert channel["read_secret"].startswith("trk_") and len(channel["read_secret"]) >= 32
    assert channel["smee_url"] == f"https://relay.test/t/{channel['channel']}?key={channel['read_secret']}"
    assert channel["filter"] == {"providers": ["kie"], "types": [], "tags": ["order-42"]}
    listed = (await client.get("/v1/tunnels", headers=ADMIN)).json()["data"]
    assert [item["channel"] for item in listed] == [channel["channel"]]
    assert "secret" not in listed[0] and "read_secret" not in listed[0]  # shown once, at creation
    assert "smee_url" not in listed[0]  # it holds the read secret

    assert (await client.delete(f"/v1/tunnels/{channel['channel']}", headers=ADMIN)).status_code == 204
    assert (await client.delete(f"/v1/tunnels/{channel['channel']}", headers=ADMIN)).status_code == 404
    assert (await client.get("/v1/tunnels", headers=ADMIN)).json()["data"] == []
    sync = redis.Redis.from_url(redis_url)
    try:
        name = channel["channel"]
        assert not sync.exists(keys.tunnels(), keys.tunnel_buffer(name), keys.tunnel_state(name), keys.tunnels_used())
    finally:
        sync.close()


async def test_channel_api_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/tunnels", json={})).status_code == 401
    assert (await client.get("/v1/tunnels")).status_code == 401
    assert (await client.delete("/v1/tunnels/x")).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "pipe"},
        {"filter": {"providers": "kie"}},
        {"filter": {"provider": ["kie"]}},
        {"filter": {"types": [""]}},
        [],
    ],
)
async def test_bad_channel_requests_are_400(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/v1/tunnels", json=body, headers=ADMIN)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_a_stream_of_an_unknown_channel_is_404_and_a_bad_resume_id_400(client: httpx.AsyncClient) -> None:
    channel = (await client.post("/v1/tunnels", json={}, headers=ADMIN)).json()["channel"]

    assert (await client.get("/v1/tunnels/nope/stream", headers=ADMIN)).status_code == 404
    bad = await client.get(f"/v1/tunnels/{channel}/stream", headers={**ADMIN, "last-event-id": "x; DROP"})
    assert bad.status_code == 400
    bad_start = await client.get(f"/v1/tunnels/{channel}/stream", headers=ADMIN, params={"start": "yesterday"})
    assert bad_start.status_code == 400
