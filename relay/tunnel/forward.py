"""Requests to the developer's local server: HTTP/1.1 on kept-alive connections, one per request in flight.

``relay tunnel`` sends the same few kinds of request to one origin as fast as the local server answers. httpx's
general machinery (pool bookkeeping, auth and redirect layers, anyio) cost several times the request itself there,
so this speaks HTTP/1.1 with h11 (the parser under httpx and uvicorn) over asyncio streams: an idle connection is
reused, a broken or non-reusable one is closed, and every request has a deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

READ_BYTES = 65_536


class ForwardError(Exception):
    """The request got no HTTP answer: ``kind`` says why (ConnectError, ReadTimeout, ProtocolError...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection


class LocalTarget:
    """Keep-alive connections to the origin of ``url`` (http or https).

    :param url: the forward target; requests go to its path, plus each request's query.
    :param tls: used for https targets (None: the default context).
    """

    def __init__(self, url: str, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self.path = parts.path or "/"
        self.query = parts.query
        self.tls = tls
        self._idle: list[_Connection] = []
        self._open: set[asyncio.StreamWriter] = set()  # every connection not yet closed, in use or idle

    def target(self, query: str) -> bytes:
        joined = "&".join(part for part in (self.query, query) if part)
        return (self.path + ("?" + joined if joined else "")).encode("latin-1", "replace")

    async def request(
        self, method: str, query: str, headers: list[tuple[str, str]], body: bytes, timeout_s: float
    ) -> int:
        """Send one request; returns the status code, or raises :class:`ForwardError`."""
        connection: _Connection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                connection, reused = await self._connection()
                try:
                    status = await self._exchange(connection, method, query, headers, body)
                except (OSError, asyncio.IncompleteReadError):
                    if not reused:
                        raise
                    # The server closed the idle connection as we reused it: the request never reached it.
                    self._close(connection)
                    connection, _ = await self._connection()
                    status = await self._exchange(connection, method, query, headers, body)
        except TimeoutError:
            self._close(connection)
            raise ForwardError("ReadTimeout" if connection is not None else "ConnectTimeout") from None
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._close(connection)
            raise ForwardError("ConnectError" if connection is None else type(exc).__name__) from None
        except h11.ProtocolError:
            self._close(connection)
            raise ForwardError("ProtocolError") from None
        except BaseException:
            self._close(connection)  # cancelled mid-request: the connection's state is unknown
            raise
        if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
            connection.h11.start_next_cycle()
            self._idle.append(connection)
        else:
            self._close(connection)
        return status

    async def _connection(self) -> tuple[_Connection, bool]:
        """An idle connection (True) or a new one (False)."""
        while self._idle:
            connection = self._idle.pop()
            # The server may have closed an idle connection (its keep-alive timeout).
            if not connection.reader.at_eof():
                return connection, True
            self._close(connection)
        context = (self.tls or ssl.create_default_context()) if self.https else None
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=context, limit=READ_BYTES)
        self._open.add(writer)
        return _Connection(reader, writer, h11.Connection(our_role=h11.CLIENT)), False

    async def _exchange(
        self, connection: _Connection, method: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> int:
        conn = connection.h11
        head = [("host", self.authority), ("content-length", str(len(body)))]
        request = h11.Request(
            method=method,
            target=self.target(query),
            headers=head + [(name, value.encode("latin-1", "replace")) for name, value in headers],  # type: ignore[misc]
        )
        connection.writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await connection.writer.drain()
        status = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(READ_BYTES)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE:
                    # EOF before the whole answer (or before any): the status so far, if there is one.
                    if status:
                        return status
                    raise asyncio.IncompleteReadError(b"", None)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status

    def _close(self, connection: _Connection | None) -> None:
        if connection is not None:
            connection.writer.close()
            self._open.discard(connection.writer)

    def close(self) -> None:
        """Close every connection now (synchronous: it must run even in a cancelled task's cleanup)."""
        self._idle = []
        writers, self._open = self._open, set()
        for writer in writers:
            writer.close()
