"""Restart = resume: the saved channel, the relay-held position, starting options, lost counts, resending."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest

from relay.app import create_app
from relay.config import Settings
from relay.tunnel.client import TunnelClient, TunnelError, TunnelOptions
from relay.tunnel.state import TunnelState
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.servers import run_server
from tests.tunnel.conftest import RelayProcess, Target, TunnelProcess, wait_for

pytestmark = pytest.mark.anyio


@contextmanager
def relay(make_settings: Callable[..., Settings], **overrides: str) -> Iterator[str]:
    settings = make_settings(tunnel_ping_interval_s="0.2", tunnel_post_per_s="0", **overrides)
    with run_server(create_app(settings), timeout_graceful_shutdown=1) as base:
        yield base


@asynccontextmanager
async def running(client: TunnelClient, lines: list[str]) -> AsyncIterator[TunnelClient]:
    """``client.run()`` until the block ends (a clean stop: Ctrl-C), once it printed its ready line."""
    task = asyncio.create_task(client.run())
    try:
        await until(lambda: any(line.startswith("ready") for line in lines) or task.done(), "the ready line")
        if task.done():
            task.result()
        yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 8.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def started(
    http: httpx.AsyncClient, base: str, target: Target, state: Path, **options: object
) -> AsyncIterator[tuple[TunnelClient, list[str]]]:
    """``relay tunnel`` (saving its channel in ``state``) running until the block ends, and its output lines."""
    lines: list[str] = []
    opts = TunnelOptions(server=base, forward_to=f"{target.url}/hook", admin_token=ADMIN_TOKEN, **options)  # type: ignore[arg-type]
    async with running(TunnelClient(http, opts, state=TunnelState(state), echo=lines.append), lines) as client:
        yield client, lines


def channel_of(client: TunnelClient) -> str:
    assert client.channel is not None
    return client.channel


async def new_channel(http: httpx.AsyncClient, base: str, target: Target, state: Path) -> str:
    """A first run, stopped at once: the channel it created and saved in ``state``."""
    async with started(http, base, target, state) as (client, _):
        return channel_of(client)


async def post(http: httpx.AsyncClient, base: str, channel: str, *names: str) -> None:
    for name in names:
        response = await http.post(f"{base}/t/{channel}", json={"name": name})
        assert response.status_code == 200, response.text


def names(target: Target) -> list[str]:
    return [json.loads(item.body)["name"] for item in target.received]


async def test_the_same_command_resumes_its_channel_and_secret_where_it_stopped(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            async with started(http, base, target, state) as (client, first):
                channel = channel_of(client)
                await post(http, base, channel, "a", "b")
                await until(lambda: len(target.received) == 2, "the first two")
            await post(http, base, channel, "c", "d", "e")  # while nothing runs

            async with started(http, base, target, state) as (client, again):
                assert client.channel == channel
                await until(lambda: len(target.received) == 5, "the three sent in between")
                await post(http, base, channel, "f")
                await until(lambda: len(target.received) == 6, "a live one")

    assert names(target) == ["a", "b", "c", "d", "e", "f"]  # nothing lost, nothing twice
    secret_lines = [line for line in first + again if line.startswith("secret")]
    assert len(secret_lines) == 2 and secret_lines[0] == secret_lines[1]  # the same whsec_ secret
    assert f"channel  {channel}  (resumed" in "\n".join(again)
    assert oct(state.stat().st_mode & 0o777) == "0o600"


async def test_the_position_is_on_the_relay_so_another_machine_resumes_there(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            async with started(http, base, target, tmp_path / "a.json") as (client, _):
                channel, read_secret = channel_of(client), client.read_secret
                assert read_secret is not None
                await post(http, base, channel, "a", "b", "c")
                await until(lambda: len(target.received) == 3, "three on machine A")
            await post(http, base, channel, "d")

            other: list[str] = []
            options = {"channel": channel, "read_secret": read_secret, "admin_token": None}
            opts = TunnelOptions(server=base, forward_to=f"{target.url}/hook", **options)  # type: ignore[arg-type]
            machine_b = TunnelClient(http, opts, state=TunnelState(tmp_path / "b.json"), echo=other.append)
            async with running(machine_b, other):
                await until(lambda: len(target.received) == 4, "the one sent after machine A stopped")
                await asyncio.sleep(0.3)
            info = (await http.get(f"{base}/v1/tunnels/{channel}", headers=ADMIN)).json()

    assert names(target) == ["a", "b", "c", "d"]
    assert info["position"] is not None and info["failed"] == 0


async def test_from_now_skips_the_buffer_and_since_starts_at_a_time(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            channel = await new_channel(http, base, target, state)
            await post(http, base, channel, "old")
            await asyncio.sleep(0.05)
            middle_ms = int(time.time() * 1000)
            await asyncio.sleep(0.05)
            await post(http, base, channel, "buffered")

            async with started(http, base, target, state, start="now") as (_, now):
                await post(http, base, channel, "live")
                await until(lambda: len(target.received) == 1, "the live one")
            async with started(http, base, target, state, start=f"since:{middle_ms}"):
                await until(lambda: len(target.received) == 3, "what arrived since")

    assert names(target) == ["live", "buffered", "live"]
    assert any("from now on" in line for line in now)


async def test_a_resume_says_how_many_events_the_buffer_dropped(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    with relay(make_settings, tunnel_buffer_max_events="5") as base:
        async with httpx.AsyncClient() as http:
            async with started(http, base, target, state) as (client, lines):
                channel = channel_of(client)
                await post(http, base, channel, "first")
                await until(lambda: len(target.received) == 1, "the first")
            await post(http, base, channel, *[f"n{n}" for n in range(12)])

            async with started(http, base, target, state) as (_, again):
                await until(lambda: len(target.received) == 6, "the five still buffered")

    assert names(target) == ["first", "n7", "n8", "n9", "n10", "n11"]
    assert any(line.startswith("lost     7 events") for line in again), again
    assert not any(line.startswith("lost") for line in lines)  # positive control: no loss, no line


async def test_events_given_up_on_are_resent_on_request(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    target.statuses = [503, 503]
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            options = {"forward_attempts": 2, "forward_retry_delay_s": 0.01, "concurrency": 1}
            async with started(http, base, target, state, **options) as (client, _):
                channel = channel_of(client)
                await post(http, base, channel, "fails", "works")
                await until(lambda: len(target.received) == 1, "the second one")
                await until(lambda: not client.progress.pending and not client.progress.dirty, "the position sent")

            async with started(http, base, target, state) as (_, again):
                await asyncio.sleep(0.3)  # a plain restart does not resend...
                assert names(target) == ["works"]
            async with started(http, base, target, state, resend_failed=True) as (_, resent):
                await until(lambda: len(target.received) == 2, "the resent one")

    assert names(target) == ["works", "fails"]
    assert any("1 events were given up on earlier" in line for line in again)
    assert any(line.startswith("resent   1 events") for line in resent)


async def test_a_stream_needs_the_read_secret_and_a_stale_saved_channel_is_replaced(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    state = tmp_path / "tunnels.json"
    with relay(make_settings) as base:
        async with httpx.AsyncClient() as http:
            channel = await new_channel(http, base, target, state)
            assert (await http.delete(f"{base}/v1/tunnels/{channel}", headers=ADMIN)).status_code == 204

            async with started(http, base, target, state) as (client, again):
                assert client.channel != channel
            assert any("is gone" in line for line in again)

            opts = TunnelOptions(server=base, forward_to=target.url, channel=client.channel, read_secret="trk_wrong")
            with pytest.raises(TunnelError, match="no channel"):
                await TunnelClient(http, opts, echo=lambda _: None).setup()


def test_kill_9_mid_stream_then_restart_loses_nothing(
    relay_factory: Callable[..., RelayProcess], tunnel_factory: Callable[..., TunnelProcess], target: Target
) -> None:
    relay_process = relay_factory(tunnel_post_per_s="0")
    command = ("--server", relay_process.url, "--forward-to", target.url, "--raw")
    client = tunnel_factory(*command)
    client.wait_ready(20)
    channel = client.value_of("channel")
    total = 300
    with httpx.Client() as http:
        for n in range(total):
            if n == 100:
                wait_for(lambda: len(target.received) >= 20, 20, "some forwarded before the kill")
                client.proc.send_signal(signal.SIGKILL)
                client.proc.wait(5)
            http.post(f"{relay_process.url}/t/{channel}", json={"name": f"e{n:03}"})
        restarted = tunnel_factory(*command)
        restarted.wait_ready(20)
        assert restarted.value_of("channel") == channel
        wait_for(lambda: {json.loads(r.body)["name"] for r in target.received} >= {f"e{n:03}" for n in range(total)},
                 30, "every event")  # fmt: skip
    received = [json.loads(item.body)["name"] for item in target.received]
    assert set(received) == {f"e{n:03}" for n in range(total)}
    # At least once: only what was in flight or not yet acknowledged at the kill comes twice.
    assert len(received) - total < 60
