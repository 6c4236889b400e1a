"""`relay tunnel` against real relay processes on loopback, forwarding to a real local server."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable

import anyio
import httpx
import pytest

from relay.app import create_app
from relay.config import Settings
from relay.tunnel.client import TunnelClient, TunnelOptions
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.servers import run_server
from tests.tunnel.conftest import RelayProcess, Target, TunnelProcess, callback_url, wait_for

PRETTY_JSON = (
    b'{\n    "taskId": "pretty-1",\n    "status": "completed",\n'
    b'    "note": "caf\\u00e9 \xe2\x98\x95",\n    "n": 1.50\n}\n'
)
FORM = b"taskId=form-1&status=completed&url=https%3A%2F%2Fcdn.example%2Fa+b.png&empty="
BINARY = random.Random(7).randbytes(200 * 1024)


def test_raw_mode_bodies_arrive_byte_identical(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    relay = relay_factory()
    client = tunnel_factory(
        "--server", relay.url, "--forward-to", f"{target.url}/hooks", "--raw", "--provider", "generic"
    )
    url = client.value_of("generic", field=-1)  # the printed line: "generic  callback URL  <url>"
    client.wait_ready()
    sent = [
        ("application/json", PRETTY_JSON),
        ("application/x-www-form-urlencoded", FORM),
        ("application/octet-stream", BINARY),
    ]
    for content_type, body in sent:
        assert httpx.post(url, content=body, headers={"content-type": content_type, "x-trace": "t1"}).status_code == 200

    wait_for(lambda: len(target.received) == 3, what="three forwarded requests")
    assert [item.body for item in target.received] == [body for _, body in sent]
    assert [item.headers["content-type"] for item in target.received] == [ct for ct, _ in sent]
    assert all(item.headers["x-trace"] == "t1" and item.path == "/hooks" for item in target.received)
    assert "generic" in client.lines[-1] and " 200 " in client.lines[-1]


def test_event_mode_signatures_verify_with_standardwebhooks(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    relay = relay_factory()
    client = tunnel_factory("--server", relay.url, "--forward-to", target.url, "--provider", "kie")
    target.secret = client.value_of("secret")
    kie = callback_url(relay, "kie")
    body = b'{"code": 200, "msg": "success", "data": {"taskId": "k-1", "resultUrls": ["https://cdn.example/r.png"]}}'
    client.wait_ready()
    ack = httpx.post(kie, content=body).json()
    httpx.post(callback_url(relay, "generic"), json={"taskId": "other", "status": "completed"})  # filtered out

    wait_for(lambda: len(target.received) == 1, what="the signed event")
    received = target.received[0]
    assert received.verified is True
    assert received.headers["webhook-id"] == ack["event_id"]
    event = json.loads(received.body)
    assert event["id"] == ack["event_id"] and event["type"] == "task.succeeded" and event["task_id"] == "k-1"
    assert body in received.body  # the provider's bytes, verbatim inside the event
    time.sleep(0.2)
    assert len(target.received) == 1


def test_events_sent_while_disconnected_all_arrive_after_reconnect(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    ingest = relay_factory()
    streamer = relay_factory()
    client = tunnel_factory("--server", streamer.url, "--forward-to", target.url, "--raw", "--provider", "generic")
    client.wait_ready()
    url = callback_url(ingest, "generic")
    httpx.post(url, json={"taskId": "before", "status": "completed"})
    wait_for(lambda: len(target.received) == 1, what="the first event")

    streamer.stop()
    with httpx.Client() as http:
        for n in range(100):
            assert http.post(url, json={"taskId": f"t-{n:03}", "status": "completed"}).status_code == 200
    streamer.start()

    wait_for(lambda: len(target.received) == 101, timeout_s=20, what="the 100 missed events")
    # 100 tasks are forwarded concurrently: each task's events keep their order (test_forwarding.py), not all tasks.
    assert sorted(json.loads(item.body)["taskId"] for item in target.received[1:]) == [f"t-{n:03}" for n in range(100)]
    assert any("reconnecting" in line for line in client.lines)
    time.sleep(0.3)
    assert len(target.received) == 101  # nothing forwarded twice


def test_a_paused_server_is_detected_and_recovered_from(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    relay = relay_factory()
    client = tunnel_factory("--server", relay.url, "--forward-to", target.url, "--raw")
    client.wait_ready()
    url = callback_url(relay, "generic")
    assert relay.proc is not None

    relay.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: any("nothing received for" in line for line in client.lines), 5, "the watchdog")
    finally:
        relay.proc.send_signal(signal.SIGCONT)
    httpx.post(url, json={"taskId": "after-pause", "status": "completed"}, timeout=10)

    wait_for(lambda: len(target.received) == 1, timeout_s=20, what="the event sent after the pause")
    assert json.loads(target.received[0].body)["taskId"] == "after-pause"


def test_ctrl_c_exits_cleanly(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    relay = relay_factory()
    client = tunnel_factory("--server", relay.url, "--forward-to", target.url)
    client.wait_ready()

    assert client.interrupt() == 0
    assert "stopped after forwarding 0 events" in client.output()
    assert "Traceback" not in client.output()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_saves_the_position_and_exits_even_with_sigint_inherited_as_ignored(
    sig: signal.Signals, relay_factory: Callable[..., RelayProcess], relay_env: dict[str, str], target: Target
) -> None:
    """A tunnel started by a process that ignores SIGINT (a test runner, a script's background job) still stops on
    Ctrl-C: asyncio's own handling would step aside and leave it running. SIGTERM stops it the same way."""
    relay = relay_factory()
    client = TunnelProcess(["--server", relay.url, "--forward-to", target.url], relay_env, sigint_ignored=True)
    try:
        client.wait_ready()
        channel = client.value_of("channel")
        httpx.post(client.value_of("webhooks"), content=b'{"n": 1}', timeout=10)
        wait_for(lambda: len(target.received) == 1, timeout_s=20, what="the webhook at the target")
        assert client.interrupt(sig) == 0
    finally:
        client.stop()
    assert "stopped after forwarding 1 events" in client.output()
    assert "Traceback" not in client.output()
    # The position was saved: the next run would not forward the webhook again.
    position = httpx.get(f"{relay.url}/v1/tunnels/{channel}", headers=ADMIN, timeout=10).json()["position"]
    assert position is not None


def test_without_an_admin_token_creating_a_channel_is_refused(
    relay_factory: Callable[..., RelayProcess], relay_env: dict[str, str]
) -> None:
    relay = relay_factory()
    env = {k: v for k, v in relay_env.items() if k != "RELAY_ADMIN_TOKEN"}
    client = TunnelProcess(["--server", relay.url, "--forward-to", "http://127.0.0.1:9/x"], env)
    try:
        assert client.proc.wait(30) == 1
    finally:
        client.stop()
    assert "admin token is needed" in client.output()


@pytest.mark.anyio
async def test_a_failing_local_target_is_retried_then_reported_and_skipped(
    make_settings: Callable[..., Settings], target: Target
) -> None:
    target.statuses = [503, 503, 503]
    lines: list[str] = []
    with run_server(
        create_app(make_settings(tunnel_router="true", tunnel_ping_interval_s="0.2")), timeout_graceful_shutdown=1
    ) as base:
        async with httpx.AsyncClient() as http:
            options = TunnelOptions(
                server=base,
                forward_to=target.url,
                admin_token=ADMIN_TOKEN,
                raw=True,
                forward_retry_delay_s=0.01,
                concurrency=1,  # the target's 503s go to the first event, whichever it is
            )
            client = TunnelClient(http, options, echo=lines.append)
            async with anyio.create_task_group() as group:
                group.start_soon(client.run)
                with anyio.fail_after(5):
                    while not any(line.startswith("ready") for line in lines):
                        await anyio.sleep(0.02)
                url = (await http.post(f"{base}/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN)).json()
                for task_id in ("fails", "works"):
                    await http.post(url["url"].replace("https://relay.test", base), json={"taskId": task_id})
                with anyio.fail_after(5):
                    while len(target.received) < 1:
                        await anyio.sleep(0.02)
                group.cancel_scope.cancel()

    assert [json.loads(item.body)["taskId"] for item in target.received] == ["works"]
    failed = next(line for line in lines if "fails" in line)
    assert "503 (gave up after 3 tries; --resend-failed sends it again)" in failed
