"""Admin-token guesses through the API are throttled like dashboard logins, sharing one bucket per address."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, app_client
from tests.dashboard.conftest import log_in

pytestmark = pytest.mark.anyio
WRONG = {"Authorization": "Bearer not-the-token"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_wrong_tokens_are_throttled_and_then_even_the_right_one_waits(
    make_settings: Callable[..., Settings],
) -> None:
    clock = Clock()
    async with app_client(make_settings(), clock=clock) as client:
        legit = [(await client.get("/v1/subscriptions", headers=ADMIN)).status_code for _ in range(30)]
        guesses = [(await client.get("/v1/events", headers=WRONG)).status_code for _ in range(11)]
        throttled = await client.get("/v1/events", headers=WRONG)
        right_while_throttled = await client.get("/v1/subscriptions", headers=ADMIN)
        no_header = await client.get("/v1/subscriptions")
        clock.now += 10.5  # one more try refilled
        after_wait = await client.get("/v1/subscriptions", headers=ADMIN)

    assert legit == [200] * 30  # the right token takes nothing from the bucket
    assert guesses == [401] * 10 + [429]
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["retry-after"]) <= 10
    # Refused before the comparison: a right guess looks exactly like a wrong one.
    assert right_while_throttled.status_code == 429
    assert no_header.status_code == 401
    assert after_wait.status_code == 200


async def test_api_guesses_and_dashboard_logins_share_the_bucket(make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings(), clock=Clock()) as client:
        guesses = [(await client.get("/metrics", headers=WRONG)).status_code for _ in range(10)]
        login = await log_in(client, ADMIN_TOKEN)

    assert guesses == [401] * 10
    assert login.status_code == 429


async def test_dashboard_login_failures_throttle_the_api_too(make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings(), clock=Clock()) as client:
        logins = [(await log_in(client, "wrong")).status_code for _ in range(10)]
        api = await client.get("/v1/events", headers=ADMIN)

    assert logins == [401] * 10
    assert api.status_code == 429


async def test_callbacks_are_not_counted(make_settings: Callable[..., Settings]) -> None:
    async with app_client(make_settings(), clock=Clock()) as client:
        url = (await client.post("/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN)).json()["url"]
        path = httpx.URL(url).path
        answers = [
            (await client.post(path + "x", json={}, headers={"Authorization": "Bearer x"})).status_code
            for _ in range(15)
        ]
        api = await client.get("/v1/events", headers=ADMIN)

    assert answers == [401] * 15  # bad callback tokens are the callback limiter's business, not this one
    assert api.status_code == 200
