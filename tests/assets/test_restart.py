"""`relay worker` killed mid-copy (SIGKILL): nothing half-written is visible, and another worker redoes the copy."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from relay.config import Settings
from tests.assets.conftest import event_of, fetch_asset, post_result, settled
from tests.assets.files import FileServer, generated
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, app_client

# Two `relay worker` processes start here (several seconds each on a shared, busy 2-core machine).
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def start_worker(redis_url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RELAY_")}
    env.update(
        {
            "REDIS_URL": redis_url,
            "RELAY_SECRET_KEY": SECRET_KEY,
            "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
            "RELAY_DATA_DIR": str(data_dir),
            "RELAY_ALLOW_PRIVATE_TARGETS": "true",
            "RELAY_ALLOW_VOLATILE_REDIS": "true",
            "RELAY_ASSETS": "on",
            "RELAY_ASSETS_LEASE_S": "1",
            "RELAY_ASSETS_TIMEOUT_S": "20",
            "RELAY_WORKER_POLL_S": "0.05",
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "relay", "worker"], env=env, stdout=out, stderr=out)


async def test_a_copy_killed_midway_is_redone_and_never_half_visible(
    assets_settings: Callable[..., Settings], files: FileServer, tmp_path: Path, redis_url: str
) -> None:
    data = generated(2 * 1024 * 1024, seed=31)
    files.add("long.mp4", data, "video/mp4")
    url = f"{files.url}/slow/long.mp4?pause=0.05&chunk=65536"  # about 1.6 s; the first megabyte is on disk at 0.8 s
    data_dir = tmp_path / "data"
    temp_dir = data_dir / "assets" / "tmp"
    stored_dir = data_dir / "assets" / "sha256"
    log = tmp_path / "worker.log"
    # The web process only: it stores the callback (and creates the copier's group); workers run apart.
    async with app_client(assets_settings(worker="false")) as relay:
        event_id = await post_result(relay, "t-kill", [url])
        first = start_worker(redis_url, data_dir, log)
        try:
            deadline = time.monotonic() + 15
            while not any(p.stat().st_size >= 1 << 20 for p in temp_dir.glob("*.part")):
                assert time.monotonic() < deadline and first.poll() is None, log.read_text()
                await asyncio.sleep(0.02)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(5)
        left_behind = list(temp_dir.glob("*.part"))
        partial_sizes = [p.stat().st_size for p in left_behind]
        visible_after_kill = [p for p in stored_dir.rglob("*") if p.is_file()] if stored_dir.exists() else []
        pending = await event_of(relay, event_id)
        # Older than any live copy can be: the next worker's start removes it.
        for part in left_behind:
            os.utime(part, (time.time() - 3600, time.time() - 3600))

        second = start_worker(redis_url, data_dir, log)
        try:
            done = await settled(relay, event_id, timeout_s=20)
            served = await fetch_asset(relay, done["outputs"][0]["asset"]["url"])
        finally:
            second.terminate()
            second.wait(10)

    assert len(left_behind) == 1 and 1 << 20 <= partial_sizes[0] < len(data)
    assert visible_after_kill == []
    assert pending["assets"]["status"] == "pending"
    assert done["assets"]["status"] == "complete"
    assert served.content == data
    assert [p.read_bytes() for p in stored_dir.rglob("*") if p.is_file()] == [data]
    assert not left_behind[0].exists()
    assert files.count("/slow/long.mp4") == 2
