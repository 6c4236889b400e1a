"""`relay replay EVENT --channel C`: any stored event into a tunnel channel's buffer, forwarded like a routed one."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable

import httpx
import orjson
import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook

from relay.cli import cli
from relay.config import Settings
from tests.conftest import ADMIN
from tests.tunnel.conftest import ROOT, RelayProcess, Target, TunnelProcess, callback_url, wait_for
from tests.tunnel.test_stream import messages, read_stream, serve

PRETTY = b'{\n  "taskId": "replay-1",\n  "status": "completed",\n  "note": "caf\\u00e9",  "n": 1.50\n}\n'


@pytest.mark.timeout(120)  # starts relay processes: slow to import on a loaded machine
def test_relay_replay_puts_a_stored_event_into_a_channel_and_the_tunnel_forwards_it_byte_exact(
    relay_factory: Callable[..., RelayProcess],
    tunnel_factory: Callable[..., TunnelProcess],
    relay_env: dict[str, str],
    target: Target,
) -> None:
    relay = relay_factory(tunnel_post_per_s="0")
    stored = httpx.post(callback_url(relay, "generic"), content=PRETTY, headers={"content-type": "application/json"})
    event_id = stored.json()["event_id"]
    # Made after the event was stored: only the replay can put the event into it.
    channel = httpx.post(f"{relay.url}/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
    client = tunnel_factory(
        "--server", relay.url, "--forward-to", f"{target.url}/hook", "--raw",
        "--channel", channel["channel"], "--key", channel["read_secret"],
    )  # fmt: skip
    client.wait_ready()
    # Positive control: the client forwards what enters the channel, and the stored event is not there yet.
    assert httpx.post(f"{relay.url}/t/{channel['channel']}", content=b"marker").status_code == 200
    wait_for(lambda: len(target.received) == 1, 20, "the marker")

    replayed = subprocess.run(
        [sys.executable, "-m", "relay", "replay", event_id, "--channel", channel["channel"], "--server", relay.url],
        cwd=ROOT,
        env=relay_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replayed.returncode == 0, replayed.stderr
    assert f"{event_id} -> tunnel channel, entry " in replayed.stdout
    wait_for(lambda: len(target.received) == 2, 20, "the replayed event")

    marker, event = target.received
    assert marker.body == b"marker"
    assert event.body == PRETTY and event.path == "/hook"
    assert event.headers["content-type"] == "application/json"
    wait_for(lambda: any(event_id in line and "generic" in line for line in client.lines), 10, "its line")


@pytest.mark.anyio
async def test_replay_to_an_event_mode_channel_streams_it_signed_and_refuses_bad_requests(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(tunnel_post_per_s="0")
    with serve(settings) as base:
        async with httpx.AsyncClient(base_url=base, headers=ADMIN) as http:
            url = (await http.post("/v1/callback-urls", json={"provider": "kie"})).json()["url"]
            body = {"code": 200, "data": {"taskId": "replay-k", "resultUrls": ["https://cdn.example/r.png"]}}
            event_id = (await http.post(url.replace(settings.public_url, base), json=body)).json()["event_id"]
            channel = (await http.post("/v1/tunnels", json={"filter": {"providers": ["fal"]}})).json()
            name = channel["channel"]

            answer = await http.post(f"/v1/events/{event_id}/replay", json={"channel": name})
            rendered = (await http.get(f"/v1/events/{event_id}")).content
            refused = {
                "unknown channel": await http.post(f"/v1/events/{event_id}/replay", json={"channel": "nope"}),
                "unknown event": await http.post("/v1/events/evt_nope/replay", json={"channel": name}),
                "both": await http.post(
                    f"/v1/events/{event_id}/replay", json={"channel": name, "subscription_id": "sub_x"}
                ),
                "not a name": await http.post(f"/v1/events/{event_id}/replay", json={"channel": 5}),
                "no admin token": await http.post(
                    f"/v1/events/{event_id}/replay", json={"channel": name}, headers={"authorization": ""}
                ),
            }

        reader = {"authorization": f"Bearer {channel['read_secret']}"}
        seen = await read_stream(
            f"{base}/v1/tunnels/{name}/stream?start=position", reader, lambda got: len(messages(got)) == 1
        )

    assert answer.status_code == 202, answer.text
    assert answer.json()["deliveries"] == [] and answer.json()["event_id"] == event_id
    ((entry_id, message),) = messages(seen)  # the channel's filter (fal) did not keep a kie event out
    assert entry_id == answer.json()["entry_id"]
    assert message["id"] == event_id and message["provider"] == "kie" and message["task_id"] == "replay-k"
    sent = base64.b64decode(message["body_base64"])
    shown = orjson.loads(rendered)
    del shown["deliveries"]  # the API adds the event's deliveries; the event itself is what was sent
    assert orjson.loads(sent) == shown
    Webhook(channel["secret"]).verify(sent, dict(message["headers"]))  # signed with the channel's secret
    assert shown["type"] == "task.succeeded"
    assert {reason: r.status_code for reason, r in refused.items()} == {
        "unknown channel": 404,
        "unknown event": 404,
        "both": 400,
        "not a name": 400,
        "no admin token": 401,
    }
    assert "nope" not in refused["unknown channel"].text  # a channel name is a credential: never echoed


def test_relay_replay_takes_a_subscription_or_a_channel_not_both() -> None:
    both = CliRunner().invoke(cli, ["replay", "evt_x", "--channel", "c", "--subscription", "sub_x"])
    assert both.exit_code == 2 and "--subscription and --channel send to different places" in both.output
