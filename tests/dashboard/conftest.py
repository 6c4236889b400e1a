from __future__ import annotations

import re

import httpx

from tests.conftest import ADMIN_TOKEN

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def log_in(client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> httpx.Response:
    """Log in through the form as a browser does; the client's cookie jar keeps the session."""
    return await client.post("/dashboard/login", data={"token": token, "next": "/dashboard"})


async def csrf_of(client: httpx.AsyncClient, path: str = "/dashboard") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, "no CSRF token in the page"
    return found.group(1)
