"""What ``relay tunnel`` prints: one line per event, with provider-controlled text made safe for a terminal."""

from __future__ import annotations

import unicodedata


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
