"""`relay subscriptions ...` and `relay replay` against a real relay served by uvicorn on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from click.testing import CliRunner

from relay.app import create_app
from relay.cli import cli
from relay.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.delivery.subscriber import Subscriber
from tests.servers import run_server


def test_subscriptions_and_replay_from_the_command_line(
    fast_settings: Callable[..., Settings], subscriber: Subscriber
) -> None:
    env = {"RELAY_ADMIN_TOKEN": ADMIN_TOKEN}
    runner = CliRunner()
    with run_server(create_app(fast_settings())) as server:
        added = runner.invoke(
            cli,
            [
                "subscriptions",
                "add",
                f"{subscriber.url}/hook",
                "--provider",
                "kie",
                "--type",
                "task.succeeded",
                "--server",
                server,
            ],
            env=env,
        )
        sub_id = added.output.split()[0]
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        url = httpx.post(f"{server}/v1/callback-urls", json={"provider": "kie"}, headers=headers).json()["url"]
        callback = f"{server}{httpx.URL(url).path}"
        body = {"code": 200, "data": {"taskId": "cli", "resultUrls": ["https://cdn.example/r.png"]}}
        event_id = httpx.post(callback, json=body).json()["event_id"]
        wait_until(lambda: len(subscriber.received) == 1)
        replayed = runner.invoke(cli, ["replay", event_id, "--server", server], env=env)
        wait_until(lambda: len(subscriber.received) == 2)
        listed = runner.invoke(cli, ["subscriptions", "list", "--server", server], env=env)
        refused = runner.invoke(cli, ["subscriptions", "add", "ftp://nope", "--server", server], env=env)
        missing = runner.invoke(cli, ["replay", "evt_nope", "--server", server], env=env)
        removed = runner.invoke(cli, ["subscriptions", "remove", sub_id, "--server", server], env=env)
        after = runner.invoke(cli, ["subscriptions", "list", "--server", server], env=env)
        wrong_token = runner.invoke(cli, ["subscriptions", "list", "--server", server], env={"RELAY_ADMIN_TOKEN": "x"})

    assert added.exit_code == 0, added.output
    assert sub_id.startswith("sub_") and "secret: whsec_" in added.output
    assert listed.exit_code == 0 and sub_id in listed.output and "providers=kie types=task.succeeded" in listed.output
    assert replayed.exit_code == 0 and f"-> {sub_id} pending" in replayed.output
    assert [r.msg_id for r in subscriber.received] == [event_id, event_id]
    assert refused.exit_code == 1 and "400" in refused.output
    assert missing.exit_code == 1 and "404" in missing.output
    assert removed.exit_code == 0 and after.output == ""
    assert wrong_token.exit_code == 1 and "401" in wrong_token.output


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
