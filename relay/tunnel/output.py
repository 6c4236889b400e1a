"""What ``relay tunnel`` prints: one line per event, with provider-controlled text made safe for a terminal."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable


def clean(text: str, limit: int = 80) -> str:
    """``text`` without control characters (terminal escape sequences start with one), at most ``limit`` chars."""
    # Printable ASCII, what ids and paths nearly always are, has no character of a "C" category: no scan needed.
    safe = (
        text
        if text.isascii() and text.isprintable()
        else "".join("?" if unicodedata.category(char).startswith("C") else char for char in text)
    )
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def event_line(now: str, what: list[str], outcome: str, elapsed_ms: float, event_id: str) -> str:
    return "  ".join([now, *what, outcome, f"{elapsed_ms:.0f} ms", event_id])


class Lines:
    """Lines written out together, once per event-loop iteration: a burst of forwarded events costs one write (and
    one flush) rather than one per event. :meth:`flush` writes what is pending at once (on the way out)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._pending: list[str] = []

    def __call__(self, line: str) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(line)

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            self.write("\n".join(lines))
