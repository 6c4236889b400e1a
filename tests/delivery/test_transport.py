"""The delivery client against a raw HTTP server on loopback that answers exactly the bytes each test scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from relay.delivery.targets import TargetGuard
from relay.delivery.transport import (
    RESPONSE_KEEP_BYTES,
    RESPONSE_READ_BYTES,
    ConnectFailed,
    DeliveryClient,
    ProtocolFailed,
)

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
Answerer = Callable[[int], bytes | None]  # request number (from 1) -> bytes to answer; None closes the connection


@asynccontextmanager
async def raw_server(answer: Answerer) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Reads each request head and Content-Length body, then writes ``answer(n)`` (and closes after one saying
    ``Connection: close``, or after ``X-Then-Close`` as a server ending an idle keep-alive connection does);
    yields (url, requests seen)."""
    seen: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                seen.append(head + await reader.readexactly(length))
                reply = answer(len(seen))
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply or b"X-Then-Close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/hook?x=1", seen
        for writer in writers:
            writer.close()
        await asyncio.sleep(0.01)  # let the handlers see their connections end


def client() -> DeliveryClient:
    return DeliveryClient(TargetGuard(allow_private=True), max_connections=4, connect_timeout_s=1)


async def test_keep_alive_reuses_one_connection_and_sends_one_well_formed_request() -> None:
    async with raw_server(lambda n: OK) as (url, seen):
        http = client()
        answers = [await http.post(url, {"webhook-id": "evt_1"}, b'{"a":1}') for _ in range(3)]
        await http.aclose()
    assert [(a.status_code, a.body) for a in answers] == [(200, b"ok")] * 3
    assert http.connections_opened == 1
    host = url.removeprefix("http://").split("/")[0]
    assert seen[0] == (
        f"POST /hook?x=1 HTTP/1.1\r\nHost: {host}\r\nwebhook-id: evt_1\r\nContent-Length: 7\r\n\r\n".encode()
        + b'{"a":1}'
    )


async def test_chunked_interim_and_close_delimited_answers_are_read() -> None:
    answers = {
        1: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        2: b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nuntil the end",
    }
    async with raw_server(lambda n: answers.get(n)) as (url, _):
        http = client()
        first = await http.post(url, {}, b"{}")
        second = await asyncio.wait_for(http.post(url, {}, b"{}"), 2)
        await http.aclose()
    assert (first.status_code, first.retry_after, first.body) == (429, "7", b"abcde")
    assert (second.status_code, second.body) == (500, b"until the end")


async def test_an_idle_connection_the_server_closed_is_replaced_and_the_request_sent_once() -> None:
    # Answers (keep-alive), then closes: the pooled connection is dead when the second request wants it.
    async with raw_server(lambda n: b"HTTP/1.1 204 No Content\r\nX-Then-Close: 1\r\n\r\n" if n == 1 else OK) as (
        url,
        seen,
    ):
        http = client()
        await http.post(url, {}, b"{}")
        await asyncio.sleep(0.05)
        answer = await http.post(url, {}, b"{}")
        await http.aclose()
    assert answer.status_code == 200
    assert http.connections_opened == 2
    assert len(seen) == 2


async def test_a_connection_cut_mid_answer_fails_and_headers_that_would_inject_are_refused() -> None:
    async with raw_server(lambda n: None) as (url, _):
        http = client()
        with pytest.raises(ProtocolFailed):
            await http.post(url, {}, b"{}")
        with pytest.raises(ProtocolFailed):
            await http.post(url, {"x-evil": "a\r\nHost: other"}, b"{}")
        await http.aclose()


async def test_a_malformed_answer_fails_and_its_connection_is_not_reused() -> None:
    answers = {1: b"HTTP/1.1 twohundred OK\r\n\r\n", 2: OK}
    async with raw_server(lambda n: answers.get(n)) as (url, _):
        http = client()
        with pytest.raises(ProtocolFailed, match="malformed response"):
            await http.post(url, {}, b"{}")
        answer = await http.post(url, {}, b"{}")
        await http.aclose()
    assert answer.status_code == 200  # positive control: the same server, well-formed, is read
    assert http.connections_opened == 2


async def test_an_oversized_answer_keeps_its_first_bytes_and_closes_the_connection() -> None:
    size = RESPONSE_READ_BYTES * 4
    big = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    async with raw_server(lambda n: big if n == 1 else OK) as (url, _):
        http = client()
        first = await http.post(url, {}, b"{}")
        second = await http.post(url, {}, b"{}")
        await http.aclose()
    assert (first.status_code, first.body) == (200, b"x" * RESPONSE_KEEP_BYTES)
    # Not read to its end, so not reusable: the second request went on a new connection.
    assert (second.status_code, http.connections_opened) == (200, 2)


async def test_nothing_listening_is_connect_failed() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # the port is free again: a connect is refused
    http = client()
    with pytest.raises(ConnectFailed, match="could not connect"):
        await http.post(f"http://127.0.0.1:{port}/hook", {}, b"{}")
    await http.aclose()


async def test_a_full_idle_pool_evicts_the_connection_unused_longest() -> None:
    async with raw_server(lambda n: OK) as (first_url, _), raw_server(lambda n: OK) as (second_url, _):
        http = DeliveryClient(TargetGuard(allow_private=True), max_connections=1, connect_timeout_s=1)
        await http.post(first_url, {}, b"{}")
        await http.post(second_url, {}, b"{}")  # the pool holds one: the first server's connection is closed
        await http.post(second_url, {}, b"{}")  # positive control: the kept one is reused
        assert http.connections_opened == 2
        await http.post(first_url, {}, b"{}")
        await http.aclose()
    assert http.connections_opened == 3
