"""LocalTarget, the tunnel's HTTP/1.1 client for the local server, against raw servers on loopback that answer
exactly the bytes each test gives (what a framework would normalize away: 100 Continue, chunked bodies, answers
that end at EOF, garbage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httptools
import pytest

from relay.tunnel.forward import ForwardError, LocalTarget

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@dataclass
class _Request:
    method: bytes = b""
    url: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    complete: bool = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


@dataclass
class RawServer:
    """Each request is parsed (httptools) and recorded with the connection it came on; ``answer(n)`` gives the
    bytes to write for the n-th request (0-based), then ``close_after`` says whether to close the connection."""

    answer: Callable[[int], bytes]
    close_after: Callable[[int], bool] = lambda _: False
    requests: list[tuple[int, _Request]] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                request = _Request()
                parser = httptools.HttpRequestParser(request)
                while not request.complete:
                    data = await reader.read(65_536)
                    if not data:
                        return
                    parser.feed_data(data)
                request.method = parser.get_method()
                index = len(self.requests)
                self.requests.append((number, request))
                writer.write(self.answer(index))
                await writer.drain()
                if self.close_after(index):
                    return
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(server: RawServer) -> AsyncIterator[str]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{server.port}/hook?x=1"
    finally:
        listening.close()


async def test_requests_reuse_one_kept_alive_connection_and_arrive_as_given() -> None:
    server = RawServer(answer=lambda _: OK)
    async with raw_server(server) as url:
        target = LocalTarget(url)
        headers = [("content-type", "application/json"), ("x-custom", "a b")]
        statuses = [await target.request("POST", f"n={n}", headers, b'{"n": %d}' % n, 5) for n in range(3)]
        target.close()

    assert statuses == [200, 200, 200]
    assert server.connections == 1
    number, first = server.requests[0]
    assert (first.method, first.url, first.body) == (b"POST", b"/hook?x=1&n=0", b'{"n": 0}')
    assert (b"host", f"127.0.0.1:{server.port}".encode()) in first.headers
    assert (b"content-length", b"8") in first.headers
    assert (b"x-custom", b"a b") in first.headers


async def test_informational_chunked_and_closing_answers() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
        b"HTTP/1.0 500 Oops\r\n\r\nthe body ends where the connection does",
        OK,
    ]
    server = RawServer(answer=answers.__getitem__, close_after=lambda n: n == 3)
    async with raw_server(server) as url:
        target = LocalTarget(url)
        statuses = [await target.request("POST", "", [], b"{}", 5) for _ in answers]
        target.close()

    assert statuses == [201, 202, 204, 500, 200]
    # The first two answers left the connection reusable; "connection: close" and the answer ended by EOF did not.
    assert [number for number, _ in server.requests] == [1, 1, 1, 2, 3]


async def test_an_idle_connection_the_server_closed_is_replaced_without_losing_the_request() -> None:
    server = RawServer(answer=lambda _: OK, close_after=lambda n: n == 0)
    async with raw_server(server) as url:
        target = LocalTarget(url)
        first = await target.request("POST", "", [], b"1", 5)
        await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        second = await target.request("POST", "", [], b"2", 5)
        target.close()

    assert (first, second) == (200, 200)
    assert [(number, request.body) for number, request in server.requests] == [(1, b"1"), (2, b"2")]


async def test_a_header_that_could_end_the_head_is_refused_and_nothing_is_sent() -> None:
    server = RawServer(answer=lambda _: OK)
    async with raw_server(server) as url:
        target = LocalTarget(url)
        with pytest.raises(ForwardError) as refused:
            await target.request("POST", "", [("x-evil", "a\r\nx-injected: 1")], b"{}", 5)
        with pytest.raises(ForwardError):
            await target.request("POST", "", [("bad name", "v")], b"{}", 5)
        # Positive control: the same target sends a valid request.
        assert await target.request("POST", "", [("x-fine", "1")], b"{}", 5) == 200
        target.close()

    assert refused.value.kind == "ProtocolError"
    assert [request.body for _, request in server.requests] == [b"{}"]
    assert all(name != b"x-injected" for _, request in server.requests for name, _ in request.headers)


async def test_garbage_timeouts_and_refused_connections_are_named() -> None:
    garbage = RawServer(answer=lambda _: b"SMTP ready\r\n\r\n")
    hung = RawServer(answer=lambda _: b"")
    async with raw_server(garbage) as garbage_url, raw_server(hung) as hung_url:
        kinds = []
        for url, timeout_s in ((garbage_url, 5.0), (hung_url, 0.2)):
            target = LocalTarget(url)
            with pytest.raises(ForwardError) as failed:
                await target.request("POST", "", [], b"{}", timeout_s)
            kinds.append(failed.value.kind)
            target.close()
    closed = LocalTarget(f"http://127.0.0.1:{hung.port}/")  # the server is gone now
    with pytest.raises(ForwardError) as refused:
        await closed.request("POST", "", [], b"{}", 5)

    assert kinds == ["ProtocolError", "ReadTimeout"]
    assert refused.value.kind == "ConnectError"
