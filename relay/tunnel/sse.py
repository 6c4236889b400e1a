"""Reading a Server-Sent Events stream (the relay's tunnel stream) from the bytes it arrives in.

Parsed per chunk, not per line through a text decoder: a chunk holds one event or a buffer read's worth, and the
data stays bytes (it is JSON, which orjson reads as bytes). Lines end in LF or CRLF (the relay sends LF); a line
that names no field read here (a comment ``:``, ``retry``, anything else) is passed over.
"""

from __future__ import annotations

Event = tuple[str, str | None, bytes]  # (event, id, data); event defaults to "message"


class SSEParser:
    """Events completed by each chunk fed, in order; an incomplete line or event waits for the next chunk."""

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # the chunks of a line still incomplete (a large event spans many)
        self._event = "message"
        self._id: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        self._partial.append(chunk)
        if b"\n" not in chunk:
            return []
        complete, _, rest = b"".join(self._partial).rpartition(b"\n")
        self._partial = [rest] if rest else []
        events: list[Event] = []
        for line in complete.split(b"\n"):
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append((self._event, self._id, b"\n".join(self._data)))
                self._event, self._id, self._data = "message", None, []
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"id":
                self._id = value.decode(errors="replace")
            elif name == b"event":
                self._event = value.decode(errors="replace")
        return events
