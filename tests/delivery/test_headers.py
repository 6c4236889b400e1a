"""A subscription's own headers: what cannot go on the wire is refused at registration, not at every delivery."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from tests.conftest import ADMIN, callback_path
from tests.delivery.conftest import subscribe
from tests.delivery.subscriber import Subscriber, wait_for

pytestmark = pytest.mark.anyio
RelayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.mark.parametrize("value", ["Bearer tökén", "emoji 🎬", "bell\x07", "del\x7f", "nul\x00", "two\nlines"])
async def test_header_values_that_cannot_be_sent_are_refused_at_registration(
    relay_factory: RelayFactory, subscriber: Subscriber, value: str
) -> None:
    async with relay_factory() as relay:
        created = await relay.post(
            "/v1/subscriptions", json={"url": f"{subscriber.url}/h", "headers": {"x-key": value}}, headers=ADMIN
        )
        sub = await subscribe(relay, f"{subscriber.url}/h")
        patched = await relay.patch(f"/v1/subscriptions/{sub['id']}", json={"headers": {"x-key": value}}, headers=ADMIN)

    for refused in (created, patched):
        assert refused.status_code == 400, refused.text
        assert "'x-key'" in refused.json()["error"]["message"]


async def test_a_valid_header_with_spaces_and_tabs_is_delivered(
    relay_factory: RelayFactory, subscriber: Subscriber
) -> None:
    value = "Bearer abc\tdef ~!"
    async with relay_factory() as relay:
        await subscribe(relay, f"{subscriber.url}/h", headers={"X-Key": value})
        path = await callback_path(relay, "generic")
        await relay.post(path, json={"taskId": "hdr", "status": "completed"})
        await wait_for(lambda: len(subscriber.received) == 1, what="the delivery")

    assert subscriber.received[0].headers["x-key"] == value
