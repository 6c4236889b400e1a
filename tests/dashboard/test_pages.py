"""Dashboard pages and actions over plain HTTP, against the app with its worker, real Redis and a real subscriber."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.responses import Response

from relay.app import create_app
from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, app_client, callback_path
from tests.dashboard.conftest import csrf_of, log_in
from tests.delivery.conftest import FAST
from tests.delivery.subscriber import Received, Subscriber, serve_subscriber, wait_for
from tests.servers import run_server, unused_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:
        yield found


@pytest.fixture
async def relay(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(make_settings(**FAST)) as client:
        await log_in(client)
        yield client


async def deliveries_of(client: httpx.AsyncClient, event_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await client.get(f"/v1/events/{event_id}", headers=ADMIN)).json()["deliveries"]
    return found


async def test_event_page_shows_a_binary_body_as_hex_and_base64(relay: httpx.AsyncClient) -> None:
    path = await callback_path(relay, "generic")
    body = b"\x89PNG\r\n\x1a\n\x00\x01binary"
    event_id = (await relay.post(path, content=body, headers={"content-type": "image/png"})).json()["event_id"]

    page = await relay.get(f"/dashboard/events/{event_id}")

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "00000000  89 50 4e 47 0d 0a 1a 0a 00 01 62 69 6e 61 72 79  .PNG......binary" in text
    assert base64.b64encode(body).decode() in text
    assert "image/png" in text
    assert path.rsplit("/", 1)[1] not in text  # the callback token is a credential: the path is cut before it


async def test_event_page_pretty_prints_json_and_escapes_it(relay: httpx.AsyncClient) -> None:
    path = await callback_path(relay, "generic", tag="<b>tag</b>")
    event_id = (await relay.post(path, json={"taskId": "<script>alert(1)</script>", "status": "completed"})).json()[
        "event_id"
    ]

    page = (await relay.get(f"/dashboard/events/{event_id}")).text

    assert '"taskId": "<script>alert(1)</script>"' in html.unescape(page)  # pretty, and escaped:
    assert "<script>alert" not in page and "<b>tag</b>" not in page
    assert (await relay.get("/dashboard/events/evt_nope")).status_code == 404


async def test_subscription_health_retry_disable_and_rotate(relay: httpx.AsyncClient, subscriber: Subscriber) -> None:
    async def down(received: Received, count: int) -> Response:
        return Response("database is down", status_code=503)

    subscriber.respond = down
    sub = (await relay.post("/v1/subscriptions", json={"url": f"{subscriber.url}/in"}, headers=ADMIN)).json()
    path = await callback_path(relay, "kie")
    event_id = (await relay.post(path, json={"code": 200, "data": {"taskId": "k-1"}})).json()["event_id"]
    await wait_for(lambda: len(subscriber.received) == 4, what="four failed attempts")
    await wait_for_status(relay, event_id, "dead")

    page = (await relay.get("/dashboard/subscriptions")).text
    assert re.search(r"0\.0 %.*0 of 1", page, re.S)
    assert "503 · database is down" in page
    event_page = (await relay.get(f"/dashboard/events/{event_id}")).text
    assert event_page.count("database is down") == 4  # every attempt with its response excerpt

    subscriber.respond = ok
    csrf = await csrf_of(relay)
    dead_id = (await deliveries_of(relay, event_id))[0]["id"]
    retried = await relay.post(f"/dashboard/deliveries/{dead_id}/retry", data={"csrf": csrf})
    assert retried.headers["location"] == f"/dashboard/events/{event_id}?notice=retried"
    await wait_for_status(relay, event_id, "succeeded")
    healthy = (await relay.get("/dashboard/subscriptions")).text
    assert re.search(r"100\.0 %.*1 of 1", healthy, re.S)

    enabled = f"/dashboard/subscriptions/{sub['id']}/enabled"
    disabled = await relay.post(enabled, data={"csrf": csrf, "enabled": "false"})
    state = (await relay.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).json()
    assert disabled.status_code == 303
    assert (state["enabled"], state["disabled_reason"]) == (False, "disabled in the dashboard")
    await relay.post(enabled, data={"csrf": csrf, "enabled": "true"})
    assert (await relay.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).json()["enabled"] is True

    rotated = await relay.post(f"/dashboard/subscriptions/{sub['id']}/rotate-secret", data={"csrf": csrf})
    secrets = (await relay.get(f"/v1/subscriptions/{sub['id']}/secret", headers=ADMIN)).json()
    assert rotated.status_code == 200
    assert secrets["secret"] in rotated.text and secrets["previous_secret"] == sub["secret"]


async def ok(received: Received, count: int) -> Response:
    return Response("fine")


async def wait_for_status(client: httpx.AsyncClient, event_id: str, status: str) -> None:
    for _ in range(100):
        if [d["status"] for d in await deliveries_of(client, event_id)] == [status]:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"the delivery never became {status}")


async def test_charts_count_callbacks_by_provider_and_deliveries_by_outcome(
    relay: httpx.AsyncClient, subscriber: Subscriber
) -> None:
    await relay.post("/v1/subscriptions", json={"url": f"{subscriber.url}/in"}, headers=ADMIN)
    generic, kie = await callback_path(relay, "generic"), await callback_path(relay, "kie")
    ids = [(await relay.post(generic, json={"taskId": f"g-{n}", "status": "completed"})).json() for n in range(3)]
    await relay.post(kie, json={"code": 200, "data": {"taskId": "k-1"}})
    await wait_for(lambda: len(subscriber.received) == 4, what="four deliveries")
    await wait_for_status(relay, ids[0]["event_id"], "succeeded")

    page = (await relay.get("/dashboard")).text

    assert 'aria-label="Callbacks per minute, last hour: generic 3, kie 1"' in page
    assert re.search(r'aria-label="Deliveries per minute, last hour: succeeded [34]', page)


async def test_callback_url_form_refuses_unknown_providers(relay: httpx.AsyncClient) -> None:
    csrf = await csrf_of(relay, "/dashboard/callback-urls")

    refused = await relay.post("/dashboard/callback-urls", data={"csrf": csrf, "provider": "nope"})
    created = await relay.post("/dashboard/callback-urls", data={"csrf": csrf, "provider": "kie", "tag": "t-1"})

    assert refused.status_code == 400 and "Choose a provider" in refused.text
    url = re.search(r'id="callback-url" class="mono" readonly value="([^"]+)"', created.text)
    assert url and url.group(1).startswith("https://relay.test/hooks/kie/")
    assert (await relay.post(httpx.URL(url.group(1)).path, json={"taskId": "x", "status": "completed"})).json()[
        "received"
    ]


async def test_tunnels_page_counts_connected_clients_without_showing_channel_names(
    make_settings: Callable[..., Settings],
) -> None:
    # Plain http, as served here: the session cookie is Secure only behind an https public URL.
    settings = make_settings(tunnel_router="true", tunnel_ping_interval_s="0.1", public_url="http://127.0.0.1")
    with run_server(create_app(settings), timeout_graceful_shutdown=1) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            created = (await client.post("/v1/tunnels", json={"mode": "raw"}, headers=ADMIN)).json()
            channel = created["channel"]
            await log_in(client)
            before = (await client.get("/dashboard/tunnels")).text
            # Reading a channel needs its read secret (its name only accepts webhooks).
            reader = {"Authorization": f"Bearer {created['read_secret']}"}
            async with client.stream("GET", f"/v1/tunnels/{channel}/stream", headers=reader) as stream:
                lines = stream.aiter_lines()  # kept referenced: a collected iterator would close the stream
                await anext(lines)  # the stream is open once its first frame arrives
                during = (await client.get("/dashboard/tunnels")).text

    assert f"{channel[:6]}…" in before and "connected" not in before
    assert "1 connected" in during
    assert channel not in before + during


async def test_static_files_need_no_login_and_nothing_else_is_served(client: httpx.AsyncClient) -> None:
    css = await client.get("/dashboard/static/dashboard.css")
    missing = await client.get("/dashboard/static/..%2Fsession.py")

    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


def test_live_stream_sends_new_rows_matching_its_filter(make_settings: Callable[..., Settings]) -> None:
    port = unused_port()
    settings = make_settings(public_url=f"http://127.0.0.1:{port}")
    with run_server(create_app(settings), port=port) as url, httpx.Client(base_url=url, timeout=5) as http:
        http.post("/dashboard/login", data={"token": ADMIN_TOKEN})
        kie = http.post("/v1/callback-urls", json={"provider": "kie"}, headers=ADMIN).json()["url"]
        generic = http.post("/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN).json()["url"]
        first = http.post(kie, json={"code": 200, "data": {"taskId": "k-1"}}).json()["event_id"]
        with http.stream("GET", "/dashboard/events/stream?provider=kie") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "retry: 1000"
            frame = read_frame(lines)
            assert frame[0] == "event: rows" and first in "".join(frame)
            other = http.post(generic, json={"taskId": "g-1", "status": "completed"}).json()["event_id"]
            second = http.post(kie, json={"code": 200, "data": {"taskId": "k-2"}}).json()["event_id"]
            frame = read_frame(lines)  # the next change: one tick later
        text = "".join(frame)
        assert second in text and first in text and other not in text


def read_frame(lines: Iterator[str]) -> list[str]:
    frame: list[str] = []
    for line in lines:
        if not line and frame:
            return frame
        if line:
            frame.append(line)
    raise AssertionError("the stream ended")
