"""Start-up's objects are left out of the collector's passes (relay.heap), in a process of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ADMIN_TOKEN, SECRET_KEY

# The app's lifespan in a fresh interpreter: what the collector tracks before start-up, after it, and after a
# second app starts in the same process (tests build many; only the first start-up is frozen).
SCRIPT = """
import asyncio, gc, os
from relay.app import create_app
from relay.config import Settings

async def main():
    settings = Settings.from_environ(os.environ)
    before = gc.get_freeze_count()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        after = gc.get_freeze_count()
    again = create_app(settings)
    async with again.router.lifespan_context(again):
        print(before, after, gc.get_freeze_count(), flush=True)

asyncio.run(main())
"""


def test_start_up_is_frozen_once(redis_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path),
        "RELAY_WORKER": "false",
        "RELAY_ALLOW_VOLATILE_REDIS": "true",
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    before, after, again = map(int, done.stdout.split())
    # Everything imported and built by then (tens of thousands of objects) is frozen; the second start-up freezes
    # nothing more (frozen objects that lose their last reference are still freed, so the count may drop).
    assert before == 0 and after > 10_000 and again <= after
