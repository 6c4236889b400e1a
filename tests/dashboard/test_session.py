"""The dashboard's login: no session, no page; a wrong token, no cookie; a forged cookie or CSRF token, refused."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, callback_path
from tests.dashboard.conftest import csrf_of, log_in

pytestmark = pytest.mark.anyio
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/subscriptions", "/dashboard/events/evt_x?tab=raw"])
async def test_without_a_session_every_page_goes_to_the_login_form(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers=ADMIN)  # the API's bearer token is no session

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?" + str(httpx.QueryParams({"next": path}))
    assert (await client.get("/dashboard/events/stream")).status_code == 401


async def test_a_wrong_token_gets_no_cookie(client: httpx.AsyncClient) -> None:
    response = await log_in(client, "guess")

    assert response.status_code == 401
    assert "not the admin token" in response.text
    assert "set-cookie" not in response.headers
    assert (await client.get("/dashboard")).status_code == 303


async def test_the_right_token_sets_a_signed_strict_http_only_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard/tunnels"})

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/tunnels"
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/dashboard"):
        assert attribute.lower() in cookie.lower(), cookie
    assert ADMIN_TOKEN not in cookie and ADMIN_TOKEN not in response.headers["location"]
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_no_secure_flag_when_the_public_url_is_plain_http(
    client_factory: ClientFactory, make_settings: Callable[..., Settings]
) -> None:
    async with client_factory(make_settings(public_url="http://127.0.0.1:8000")) as client:
        response = await log_in(client)

    assert response.status_code == 303
    assert "secure" not in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/dashboard", "/dashboard\\@evil", "/v1/x"])
async def test_login_never_redirects_off_the_dashboard(client: httpx.AsyncClient, target: str) -> None:
    response = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": target})

    assert response.headers["location"] == "/dashboard"


def _forged(key: str, salt: str, payload: object) -> str:
    return str(URLSafeTimedSerializer(key, salt=salt).dumps(payload))


async def test_forged_tampered_and_foreign_cookies_are_refused(client: httpx.AsyncClient) -> None:
    await log_in(client)
    genuine = client.cookies["relay_dashboard"]
    good = (await client.get("/dashboard")).status_code
    fingerprint = URLSafeTimedSerializer(SECRET_KEY, salt="relay.dashboard").loads(genuine)["tok"]
    callback_token = (await callback_path(client, "generic")).rsplit("/", 1)[1]
    refused = {
        "other key": _forged("not-the-key", "relay.dashboard", {"sid": "s", "tok": fingerprint}),
        "other salt": _forged(SECRET_KEY, "relay.subscription", {"sid": "s", "tok": fingerprint}),
        "tampered": genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        "callback token": callback_token,
        "wrong fingerprint": _forged(SECRET_KEY, "relay.dashboard", {"sid": "s", "tok": "0" * 32}),
        "not an object": _forged(SECRET_KEY, "relay.dashboard", ["s", fingerprint]),
    }
    statuses = {}
    for name, value in refused.items():
        client.cookies.clear()
        client.cookies.set("relay_dashboard", value, domain="relay.test", path="/dashboard")
        statuses[name] = (await client.get("/dashboard")).status_code

    assert good == 200
    assert statuses == dict.fromkeys(refused, 303)


async def test_changing_the_admin_token_ends_every_session(
    client_factory: ClientFactory, make_settings: Callable[..., Settings]
) -> None:
    async with client_factory(make_settings()) as client:
        await log_in(client)
        cookie = client.cookies["relay_dashboard"]
    async with client_factory(make_settings(admin_token="a-new-token")) as client:
        client.cookies.set("relay_dashboard", cookie, domain="relay.test", path="/dashboard")
        assert (await client.get("/dashboard")).status_code == 303


async def test_actions_need_the_session_csrf_token(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "generic")
    event_id = (await client.post(path, json={"taskId": "t-1", "status": "completed"})).json()["event_id"]
    replay = f"/dashboard/events/{event_id}/replay"
    anonymous = await client.post(replay, data={"csrf": "anything"})
    await log_in(client)
    csrf = await csrf_of(client)
    other_session = str(URLSafeSerializer(SECRET_KEY, salt="relay.dashboard.csrf").dumps("another-sid"))

    without = await client.post(replay, data={"subscription_id": ""})
    forged = await client.post(replay, data={"csrf": other_session})
    as_json = await client.post(replay, json={"csrf": csrf})
    accepted = await client.post(replay, data={"csrf": csrf})
    found = await client.get(f"/v1/events/{event_id}", headers=ADMIN)

    assert [without.status_code, forged.status_code, as_json.status_code, anonymous.status_code] == [403, 403, 400, 403]
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/dashboard/events/{event_id}?notice=replayed_none"
    assert found.json()["deliveries"] == []  # no subscription: the accepted replay had nobody to send to


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    await log_in(client)
    response = await client.post("/dashboard/logout", data={"csrf": await csrf_of(client)})

    assert response.status_code == 303
    assert "relay_dashboard" not in client.cookies
    assert (await client.get("/dashboard")).status_code == 303


async def test_a_cookie_copied_before_logout_is_dead_after_it(client: httpx.AsyncClient) -> None:
    await log_in(client)
    other_browser = client.cookies["relay_dashboard"]
    use_cookie(client, None)
    await log_in(client)
    copied = client.cookies["relay_dashboard"]
    assert (await client.get("/dashboard")).status_code == 200

    await client.post("/dashboard/logout", data={"csrf": await csrf_of(client)})
    use_cookie(client, copied)  # replayed after the logout, e.g. stolen before it

    replayed = await client.get("/dashboard")
    assert replayed.status_code == 303 and "/dashboard/login" in replayed.headers["location"]
    assert (await client.get("/dashboard/events/stream")).status_code == 401
    # Only that session ended: another browser's stays logged in (the positive control).
    use_cookie(client, other_browser)
    assert (await client.get("/dashboard")).status_code == 200


def use_cookie(client: httpx.AsyncClient, value: str | None) -> None:
    client.cookies.clear()
    if value is not None:
        client.cookies.set("relay_dashboard", value, domain="relay.test", path="/dashboard")


async def test_guessing_the_token_is_slowed_down_per_address(client: httpx.AsyncClient) -> None:
    wrong = [await client.post("/dashboard/login", data={"token": f"guess-{n}"}) for n in range(10)]
    throttled = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN})

    assert [r.status_code for r in wrong] == [401] * 10
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "set-cookie" not in throttled.headers
