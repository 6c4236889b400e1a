"""The dashboard's event page shows each asset with its state, and retries the failed ones."""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.assets.conftest import post_result, settled
from tests.assets.files import FileServer, generated
from tests.dashboard.conftest import csrf_of, log_in

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_event_page_lists_copies_and_failures_and_retries(
    relay_with_assets: RelayFactory, files: FileServer
) -> None:
    good = files.add("good.png", generated(1234, seed=41), "image/png")
    missing = f"{files.url}/files/missing.png"
    async with relay_with_assets() as relay:
        event_id = await post_result(relay, "t-page", [good, missing])
        event = await settled(relay, event_id)
        await log_in(relay)
        page = html.unescape((await relay.get(f"/dashboard/events/{event_id}")).text)
        files.add("missing.png", generated(99, seed=42), "image/png")
        retried = await relay.post(
            f"/dashboard/events/{event_id}/assets/retry",
            data={"csrf": await csrf_of(relay, f"/dashboard/events/{event_id}")},
        )
        after = await settled(relay, event_id)
        page_after = html.unescape((await relay.get(f"/dashboard/events/{event_id}")).text)

    assert event["assets"]["status"] == "incomplete"
    assert "Assets" in page
    assert 'class="status status-copied">copied' in page
    assert 'class="status status-failed">failed' in page
    assert "image/png, 1234 bytes" in page
    assert "HTTP 404 from the provider" in page
    assert "Retry failed copies" in page
    assert retried.status_code == 303
    assert after["assets"]["status"] == "complete"
    assert "Failed copies queued again." not in page
    assert "status-failed" not in page_after and "Retry failed copies" not in page_after
    assert "image/png, 99 bytes" in page_after
