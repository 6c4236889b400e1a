"""The tunnel client's Server-Sent Events parser, fed the way a stream arrives: in chunks split anywhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relay.tunnel.sse import SSEParser

STREAM = (
    b": a comment\n"
    b'event: ready\ndata: {"ping_interval_s": 15}\n\n'
    b'id: 1-0\ndata: {"a":\r\ndata: 1}\r\n\r\n'  # CRLF, and data over two lines
    b"event: ping\ndata:\n\n"  # empty data is an event (only no data line at all is not)
    b"id: 9-0\n\n"
    b"id: 2-0\nretry: 10\nunknown\ndata:no-space\n\n"
    b"id: 3-0\ndata: " + b"x" * 200_000 + b"\n\n"
)
EVENTS = [
    ("ready", None, b'{"ping_interval_s": 15}'),
    ("message", "1-0", b'{"a":\n1}'),
    ("ping", None, b""),
    ("message", "2-0", b"no-space"),
    ("message", "3-0", b"x" * 200_000),
]


def parse(chunks: list[bytes]) -> list[tuple[str, str | None, bytes]]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_a_whole_stream() -> None:
    assert parse([STREAM]) == EVENTS


def test_an_event_is_given_only_once_its_blank_line_arrived() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1-0\ndata: {}\n") == []
    assert parser.feed(b"\n") == [("message", "1-0", b"{}")]


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_the_same_events_however_the_stream_is_split(cuts: list[int]) -> None:
    edges = [0, *sorted(cuts), len(STREAM)]
    assert parse([STREAM[start:end] for start, end in zip(edges, edges[1:], strict=False)]) == EVENTS


def test_a_large_event_in_small_chunks() -> None:
    assert parse([STREAM[i : i + 1000] for i in range(0, len(STREAM), 1000)]) == EVENTS
