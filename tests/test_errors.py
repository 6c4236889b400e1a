"""The error tree is honest: 503 ``store_unavailable`` only for the store, never for any other timeout."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from relay.app import create_app
from relay.config import Settings
from relay.errors import StoreUnavailable

pytestmark = pytest.mark.anyio


async def _answer(exc: Exception, make_settings: Callable[..., Settings]) -> httpx.Response:
    async def raising(request: Request) -> Response:
        raise exc

    app = create_app(make_settings())
    app.add_route("/raise", raising)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://relay.test") as client:
        return await client.get("/raise")


async def test_a_timeout_outside_the_store_is_a_bug_not_a_store_outage(make_settings: Callable[..., Settings]) -> None:
    response = await _answer(TimeoutError(), make_settings)

    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")


async def test_the_store_missing_its_deadline_is_503(make_settings: Callable[..., Settings]) -> None:
    # Positive control: what Store.accept raises past its deadline (tests/test_durability.py drives it for real).
    response = await _answer(StoreUnavailable("the event store did not answer within 1 s"), make_settings)

    assert (response.status_code, response.json()["error"]["code"]) == (503, "store_unavailable")
