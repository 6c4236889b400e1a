"""The event loop of the CLI's long-running commands (``relay worker``, ``relay tunnel``): uvloop where installed.

Both spend their time on socket writes, reads and callbacks, which uvloop does in C; it is not available on
Windows, where the standard loop runs instead.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a uvloop event loop when uvloop is installed."""
    try:
        import uvloop
    except ImportError:  # Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until it ends, or until SIGINT or SIGTERM cancels it (its cleanup runs) and this returns. A second
    signal while that cleanup runs stops at once (KeyboardInterrupt).

    asyncio's own Ctrl-C handling is not enough: it steps aside when the process inherited SIGINT as ignored (as a
    child of a process that ignores it does), and such a process could then only be killed.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if stopping:
            raise KeyboardInterrupt
        stopping = True
        task.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
