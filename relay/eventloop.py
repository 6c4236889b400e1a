"""The event loop of the CLI's long-running commands (``relay worker``, ``relay tunnel``): uvloop where installed.

Both spend their time on socket writes, reads and callbacks, which uvloop does in C; it is not available on
Windows, where the standard loop runs instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a uvloop event loop when uvloop is installed."""
    try:
        import uvloop
    except ImportError:  # Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
