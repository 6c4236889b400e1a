"""relay.httpserver.CoalescingTransport over a real loopback TCP connection: what each write call reaches the socket as.

The connection's own transport is wrapped in a recorder (this test's, not the relay's) that counts the writes
reaching it, so the test sees how many sends a response takes, which the peer's byte stream cannot show.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from relay.httpserver import COALESCE_BYTES, CoalescingTransport

pytestmark = pytest.mark.anyio


class Recorder:
    """A real transport that remembers each write it was given."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[CoalescingTransport, Recorder, socket.socket]]:
    """A coalescing transport on one end of a loopback connection, a plain blocking socket on the other."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    accepted.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, accepted)
    recorder = Recorder(transport)
    try:
        yield CoalescingTransport(recorder, loop), recorder, peer  # type: ignore[arg-type]
    finally:
        transport.close()
        peer.close()
        listener.close()


async def received(peer: socket.socket, size: int) -> bytes:
    """What the peer reads (in a thread: the loop must run to send what the transport buffered)."""
    return await asyncio.to_thread(_read, peer, size)


def _read(peer: socket.socket, size: int) -> bytes:
    peer.settimeout(5)
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def test_the_writes_of_one_iteration_reach_the_socket_as_one() -> None:
    async with connected() as (coalescing, recorder, peer):
        coalescing.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        coalescing.write(b"{}")
        assert recorder.writes == []  # nothing sent yet, in this iteration
        await asyncio.sleep(0)
        coalescing.write(b"next")
        await asyncio.sleep(0)

        assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"next"]
        assert await received(peer, 44) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}next"


async def test_a_large_write_goes_out_at_once_and_close_sends_what_is_pending_first() -> None:
    async with connected() as (coalescing, recorder, peer):
        coalescing.write(b"a")
        coalescing.write(b"b" * COALESCE_BYTES)
        assert recorder.writes == [b"a" + b"b" * COALESCE_BYTES]  # without waiting for the iteration to end
        coalescing.write(b"last")
        coalescing.close()

        assert await received(peer, COALESCE_BYTES + 6) == b"a" + b"b" * COALESCE_BYTES + b"last"
        assert await received(peer, 1) == b""  # then the end of the stream


async def test_abort_sends_nothing_pending() -> None:
    async with connected() as (coalescing, recorder, peer):
        coalescing.write(b"sent")
        await asyncio.sleep(0)
        coalescing.write(b"dropped")
        coalescing.abort()
        await asyncio.sleep(0)

        assert recorder.writes == [b"sent"]
        assert await received(peer, 4) == b"sent"
