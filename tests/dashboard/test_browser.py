"""The dashboard end to end in a real headless Chromium (Debian's ``chromium``, driven by playwright).

One relay (real uvicorn on loopback with its delivery worker, real Redis), one subscriber app and one browser for
the module. The last test takes a screenshot of the events page into its tmp dir; ``python -m
tests.dashboard.screenshot`` runs it with ``RELAY_TEST_SCREENSHOT`` set to write ``docs/dashboard.png`` (the README's
picture), so a plain test run never changes a tracked file.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from starlette.responses import Response

from relay.app import create_app
from relay.config import Settings
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY
from tests.delivery.conftest import FAST
from tests.delivery.subscriber import Received, Subscriber, serve_subscriber
from tests.servers import run_server, unused_port

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found (`chromium`, `chromium-browser` or `google-chrome` on PATH): the dashboard's browser tests"
        " need it, e.g. `apt-get install chromium`",
        allow_module_level=True,
    )
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Where `python -m tests.dashboard.screenshot` wants the picture; unset, it goes to the test's tmp dir.
SCREENSHOT_ENV = "RELAY_TEST_SCREENSHOT"
TIMEOUT_MS = 8000
HISTORY_MIN = 40


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    with serve_subscriber() as found:

        async def answer(received: Received, count: int) -> Response:
            if received.path == "/flaky":
                return Response("upstream database is down", status_code=503)
            return Response('{"ok": true}', media_type="application/json")

        found.respond = answer
        yield found


class Clock:
    """The relay's clock, ``offset_s`` behind: the screenshot's traffic is sent "in the past", minute by minute.

    It only ever moves forward (the worker's timers follow it), so it starts behind and ends at the real time.
    """

    offset_s = HISTORY_MIN * 60 + 20.0

    def __call__(self) -> float:
        return time.time() - self.offset_s


CLOCK = Clock()


@pytest.fixture(scope="module")
def relay_url(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    port = unused_port()
    environ = {
        "REDIS_URL": redis_server,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "RELAY_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "RELAY_STORE_TIMEOUT_S": "1",
        # A clock set back would leave the buckets' last refill in the future; these tests are not about limits.
        "RELAY_RATE_TOKEN_PER_S": "0",
        "RELAY_RATE_ADDRESS_PER_S": "0",
        **{f"RELAY_{name.upper()}": value for name, value in FAST.items()},
    }
    with run_server(create_app(Settings.from_environ(environ), clock=CLOCK), port=port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def context(browser: Browser, relay_url: str) -> Iterator[BrowserContext]:
    found = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=relay_url)
    found.grant_permissions(["clipboard-read", "clipboard-write"], origin=relay_url)
    found.set_default_timeout(TIMEOUT_MS)
    page = found.new_page()
    log_in(page)  # the session cookie then serves every page of the module
    page.close()
    yield found
    found.close()


def api(relay_url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{relay_url}{path}", headers=ADMIN, timeout=5, **kwargs)
    assert response.is_success, response.text
    return response.json() if response.content else None


def send_callback(relay_url: str, provider: str, body: dict[str, Any], tag: str | None = None) -> str:
    url = api(relay_url, "POST", "/v1/callback-urls", json={"provider": provider, "tag": tag})["url"]
    ack = httpx.post(url, json=body, timeout=5)
    assert ack.status_code == 200, ack.text
    event_id: str = ack.json()["event_id"]
    return event_id


def wait_until(predicate: Callable[[], object], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def log_in(page: Page) -> None:
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next=%2Fdashboard$"))
    page.get_by_label("Admin token").fill("not the token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Events")).to_be_visible()


def test_a_callback_arrives_live_and_a_replay_shows_its_new_attempt(
    context: BrowserContext, relay_url: str, subscriber: Subscriber
) -> None:
    sub = api(relay_url, "POST", "/v1/subscriptions", json={"url": f"{subscriber.url}/hooks", "description": "app"})
    page = context.new_page()
    page.goto("/dashboard")
    expect(page.locator("#live-status")).to_have_text("live")
    # A marker a reload would wipe: the row must come over the live stream.
    page.evaluate("window.notReloaded = true")

    event_id = send_callback(
        relay_url, "generic", {"taskId": "img-7f3a", "status": "completed", "output": "https://cdn.example/a.png"}
    )

    row = page.locator(f'tr[data-id="{event_id}"]')
    expect(row).to_contain_text("task.succeeded")
    expect(row).to_contain_text("img-7f3a")
    expect(row.locator(".status-succeeded")).to_contain_text("1")  # delivered, and the row followed
    assert page.evaluate("window.notReloaded") is True

    row.get_by_role("link").click()
    expect(page).to_have_url(f"{relay_url}/dashboard/events/{event_id}")
    expect(page.locator("#raw-title")).to_be_visible()
    expect(page.locator("pre.code").nth(1)).to_contain_text('"taskId": "img-7f3a"')
    first = page.locator("article.delivery")
    expect(first).to_have_count(1)
    expect(first.locator("tbody tr")).to_contain_text("200")

    page.get_by_label("Replay to").select_option(sub["id"])
    page.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status").first).to_contain_text("Replay queued")
    deliveries = page.locator("article.delivery")
    expect(deliveries).to_have_count(2)
    # The new delivery's attempt shows up without a reload (the section refreshes while it is under way).
    expect(page.locator("article.delivery .status-succeeded")).to_have_count(2)
    expect(deliveries.locator("tbody tr.outcome-succeeded")).to_have_count(2)
    assert len([r for r in subscriber.at("/hooks") if r.msg_id == event_id]) == 2
    page.close()


def test_create_a_callback_url_and_copy_it(context: BrowserContext, relay_url: str) -> None:
    page = context.new_page()
    page.goto("/dashboard/callback-urls")
    page.get_by_label("Provider").select_option("kie")
    page.get_by_label("Tag").fill("order-42")
    page.get_by_role("button", name="Create callback URL").click()

    field = page.get_by_role("textbox", name="Callback URL")
    expect(field).to_have_value(re.compile(re.escape(f"{relay_url}/hooks/kie/") + r"[\w.-]+$"))
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    url = field.input_value()
    assert page.evaluate("navigator.clipboard.readText()") == url
    # The URL works: a callback sent to it arrives tagged.
    ack = httpx.post(url, json={"code": 200, "data": {"taskId": "k-1", "resultUrls": ["https://x/r.png"]}}, timeout=5)
    event = api(relay_url, "GET", f"/v1/events/{ack.json()['event_id']}")
    assert (event["provider"], event["tag"]) == ("kie", "order-42")
    page.close()


def test_screenshot_of_the_events_page(
    context: BrowserContext, relay_url: str, subscriber: Subscriber, tmp_path: Path
) -> None:
    """Forty minutes of traffic, sent through the relay on a clock set back minute by minute, then the picture."""
    api(relay_url, "POST", "/v1/subscriptions", json={"url": f"{subscriber.url}/flaky", "filter": {"tags": ["beta"]}})
    if not any(sub["url"].endswith("/hooks") for sub in api(relay_url, "GET", "/v1/subscriptions")["data"]):
        api(relay_url, "POST", "/v1/subscriptions", json={"url": f"{subscriber.url}/hooks"})
    urls = {
        (provider, tag): api(relay_url, "POST", "/v1/callback-urls", json={"provider": provider, "tag": tag})["url"]
        for provider, tag in (("generic", None), ("kie", "beta"), ("kie", None), ("replicate", None))
    }
    with httpx.Client(timeout=5) as http:
        for minutes_ago in range(HISTORY_MIN, -1, -1):
            CLOCK.offset_s = minutes_ago * 60 + 20
            for n in range(2 + (minutes_ago * 7) % 5):
                task = f"vid-{minutes_ago}-{n}"
                if n % 3 == 0:
                    body = {"code": 200, "data": {"taskId": task, "resultUrls": ["https://cdn.example/r.png"]}}
                    ack = http.post(urls["kie", "beta" if minutes_ago % 4 == 0 else None], json=body)
                elif n % 3 == 1:
                    ack = http.post(urls["generic", None], json={"taskId": task, "status": "running", "progress": 40})
                else:
                    ack = http.post(urls["replicate", None], json={"id": task, "status": "succeeded", "output": ["o"]})
            # Deliveries are created by the worker on the relay's clock: let it catch up before the minute moves on.
            last = f"/v1/events/{ack.json()['event_id']}"
            wait_until(lambda: api(relay_url, "GET", last)["deliveries"], 3)  # noqa: B023 (called right here)
    CLOCK.offset_s = 0

    page = context.new_page()
    page.goto("/dashboard")
    expect(page.locator("tr[data-id]")).to_have_count(50)
    expect(page.locator("tr[data-id] .status-pending")).to_have_count(0, timeout=10_000)
    page.reload()
    page.wait_for_timeout(200)
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "dashboard.png")
    page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.close()
