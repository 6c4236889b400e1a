"""The stock smee-client (npm, unchanged) against the relay's smee.io-compatible ``/t/{channel}``."""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.tunnel.conftest import RelayProcess, Target, callback_url, wait_for

JS = Path(__file__).parent / "js"
SMEE = JS / "node_modules" / "smee-client" / "bin" / "smee.js"
INSTALL = "npm ci --prefix tests/tunnel/js"


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js 20+, with the pinned smee-client installed under tests/tunnel/js (untracked) on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip(f"Node.js 20+ not found: the stock smee-client test needs `node` and `npm` ({INSTALL})")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < 20:
        pytest.skip(f"Node.js 20+ needed by smee-client 5, found {version or 'no version'} at {node}")
    if not SMEE.exists():
        if npm is None:
            pytest.skip(f"smee-client is not installed and npm is not found: run `{INSTALL}`")
        # One installer at a time, also across parallel pytest workers; the others find it done.
        lock = Path(tempfile.gettempdir()) / f"relay-npm-{hashlib.sha256(bytes(JS)).hexdigest()[:16]}.lock"
        with lock.open("w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            if not SMEE.exists():
                done = subprocess.run(
                    [npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund"],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if done.returncode != 0:
                    pytest.fail(f"`{INSTALL}` failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
    return node


@pytest.fixture
def smee(target: Target, tmp_path: Path, node: str) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(source: str) -> subprocess.Popen[bytes]:
        with (tmp_path / "smee.log").open("ab") as log:
            proc = subprocess.Popen([node, str(SMEE), "-u", source, "-t", f"{target.url}/smee"], stdout=log, stderr=log)
        started.append(proc)
        wait_for(lambda: b"Forwarding" in (tmp_path / "smee.log").read_bytes(), 10, "smee-client to connect")
        return proc

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)


def test_stock_smee_client_forwards_posted_webhooks_and_routed_events(
    relay_factory: Callable[..., RelayProcess], target: Target, smee: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    relay = relay_factory()
    created = httpx.post(
        f"{relay.url}/v1/tunnels", json={"filter": {"providers": ["generic"]}, "mode": "raw"}, headers=ADMIN
    ).json()
    smee(created["smee_url"])

    posted = httpx.post(
        f"{created['webhook_url']}?delivery=7",
        content=b'{ "action": "opened", "number": 42 }',
        headers={"content-type": "application/json", "x-github-event": "issues"},
    )
    assert posted.status_code == 200 and posted.json()["received"] is True
    wait_for(lambda: len(target.received) == 1, what="the posted webhook")
    httpx.post(callback_url(relay, "generic"), json={"taskId": "g-1", "status": "completed"})
    wait_for(lambda: len(target.received) == 2, what="the routed provider event")

    webhook, event = target.received
    assert json.loads(webhook.body) == {"action": "opened", "number": 42}
    assert webhook.headers["x-github-event"] == "issues" and webhook.path == "/smee"
    assert "delivery=7" in webhook.query
    assert json.loads(event.body) == {"taskId": "g-1", "status": "completed"}


def test_smee_endpoints_refuse_unknown_channels_and_plain_gets(relay_factory: Callable[..., RelayProcess]) -> None:
    relay = relay_factory()
    created = httpx.post(f"{relay.url}/v1/tunnels", json={}, headers=ADMIN).json()

    assert httpx.post(f"{relay.url}/t/not-a-channel", json={"a": 1}).status_code == 404
    # Reading: without credentials an unknown channel is refused like a known one; the admin token learns it is unknown.
    stream = {"accept": "text/event-stream"}
    assert httpx.get(f"{relay.url}/t/not-a-channel", headers=stream).status_code == 401
    assert httpx.get(f"{relay.url}/t/not-a-channel", headers={**stream, **ADMIN}).status_code == 404
    plain = httpx.get(created["smee_url"])
    assert plain.status_code == 406 and plain.json()["error"]["code"] == "not_acceptable"
