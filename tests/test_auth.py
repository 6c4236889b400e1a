"""The admin API's bearer check: every admin route refuses a missing or wrong token with a 401 JSON error."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from relay.routes import ROUTES
from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.anyio

ADMIN_ROUTES = [
    (method, route.path.replace("{provider}", "kie").replace("{task_id:path}", "t-1").replace("{event_id}", "evt_x"))
    for route in ROUTES
    # A tunnel stream's credential is its channel name, not the admin token.
    if isinstance(route, Route) and route.path.startswith("/v1/") and not route.path.endswith("/stream")
    for method in sorted((route.methods or set()) - {"HEAD"})
]
WRONG = [
    None,
    "",
    "Bearer",
    "Bearer ",
    f"Basic {ADMIN_TOKEN}",
    f"Token {ADMIN_TOKEN}",
    f"Bearer {ADMIN_TOKEN[:-1]}",
    f"Bearer {ADMIN_TOKEN}x",
    f"Bearer {ADMIN_TOKEN.upper()}",
    f"Bearer x{ADMIN_TOKEN}",
    "Bearer \u00ff\u00fe",
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize("authorization", WRONG)
async def test_wrong_or_missing_token_is_401(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization.encode("latin-1")}

    response = await client.request(method, path, headers=headers, json={"provider": "kie"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert ADMIN_TOKEN not in response.text


@pytest.mark.parametrize("authorization", [f"Bearer {ADMIN_TOKEN}", f"bearer {ADMIN_TOKEN}", f"BEARER  {ADMIN_TOKEN} "])
async def test_the_right_token_passes(client: httpx.AsyncClient, authorization: str) -> None:
    response = await client.get("/v1/events", headers={"Authorization": authorization})

    assert response.status_code == 200
