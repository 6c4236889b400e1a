"""What a developer sees: one-line errors naming the URL, validated URLs, safe and informative event lines."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from relay.cli import cli
from relay.config import Settings
from relay.tunnel.client import TunnelClient, TunnelOptions
from relay.tunnel.output import clean
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.servers import unused_port
from tests.tunnel.conftest import Target
from tests.tunnel.test_resume import relay, running, until


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--forward-to", "localhost:3000/hooks"], "--forward-to"),
        (["--forward-to", "http://localhost:3000", "--server", "relay.example.com"], "--server"),
        (["--forward-to", "ftp://localhost/x"], "--forward-to"),
        (["--forward-to", "http://localhost:port/x"], "--forward-to"),
    ],
)
def test_urls_without_an_http_scheme_are_refused_at_once(args: list[str], named: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tunnel", *args], env={"XDG_CONFIG_HOME": str(tmp_path)})

    assert result.exit_code == 2
    assert named in result.output and "is not an http(s) URL" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_relay_is_one_line_naming_its_url(tmp_path: Path) -> None:
    server = f"http://127.0.0.1:{unused_port()}"
    env = {"XDG_CONFIG_HOME": str(tmp_path), "RELAY_ADMIN_TOKEN": "t"}
    result = CliRunner().invoke(cli, ["tunnel", "--server", server, "--forward-to", "http://localhost:3000"], env=env)

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: cannot reach the relay at {server}: ConnectError: All connection attempts failed"
    ]


def test_since_takes_a_duration(tmp_path: Path) -> None:
    args = ["tunnel", "--forward-to", "http://localhost:3000", "--since", "yesterday"]
    result = CliRunner().invoke(cli, args, env={"XDG_CONFIG_HOME": str(tmp_path)})

    assert result.exit_code == 2 and "'yesterday' is not a duration like 90s, 15m, 1h or 2d" in result.output


def test_terminal_escapes_are_removed() -> None:
    assert clean("task\x1b]0;pwned\x07\x1b[31mred\r\n") == "task?]0;pwned??[31mred??"
    assert clean("x" * 100, 10) == "xxxxxxxxx…"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_every_character_of_a_control_category_is_replaced(text: str) -> None:
    expected = "".join("?" if unicodedata.category(char)[0] == "C" else char for char in text)

    assert clean(text, limit=100) == expected


@pytest.mark.anyio
async def test_event_lines_are_informative_and_carry_no_escapes(
    make_settings: Callable[..., Settings], target: Target, tmp_path: Path
) -> None:
    with relay(make_settings, tunnel_router="true") as base:
        async with httpx.AsyncClient() as http:
            lines: list[str] = []
            options = TunnelOptions(server=base, forward_to=target.url, admin_token=ADMIN_TOKEN, raw=True)
            client = TunnelClient(http, options, echo=lines.append)
            async with running(client, lines):
                url = (await http.post(f"{base}/v1/callback-urls", json={"provider": "generic"}, headers=ADMIN)).json()
                evil = "t\x1b[2J\x1b]52;c;cHduZWQ=\x07-1"
                await http.post(url["url"].replace("https://relay.test", base), json={"taskId": evil, "status": "ok"})
                await http.post(
                    f"{base}/t/{client.channel}?x=1",
                    content=b'{"hello": "world"}',
                    headers={"content-type": "application/json"},
                )
                await until(lambda: len(target.received) == 2, "both forwarded")
                await until(lambda: sum(" 200 " in line for line in lines) == 2, "both lines")

    # The webhook may arrive first: the callback reaches the channel through the router.
    forwarded = next(json.loads(item.body) for item in target.received if b"taskId" in item.body)
    assert forwarded["taskId"] == evil  # forwarded byte-exact, only the line is cleaned
    printed = "\n".join(lines)
    assert "\x1b" not in printed and "\x07" not in printed
    event_line = next(line for line in lines if "generic" in line)
    assert "t?[2J?]52;c;cHduZWQ=?-1" in event_line
    webhook_line = next(line for line in lines if "POST /t/" in line)
    assert "application/json" in webhook_line and "18 B" in webhook_line
    assert sum(line.startswith("ready") for line in lines) == 1
