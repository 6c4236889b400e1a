"""Requests to the developer's local server: HTTP/1.1 on kept-alive connections, one per request in flight.

``relay tunnel`` sends the same few kinds of request to one origin as fast as the local server answers. httpx's
general machinery (pool bookkeeping, auth and redirect layers, anyio) cost several times the request itself there,
so this speaks HTTP/1.1 over asyncio streams: an idle connection is reused, a broken or non-reusable one is closed,
and every request has a deadline. The request head is written here, every part of it checked (a header that could
end the head early is refused, never sent); answers are parsed with httptools (llhttp, the C parser under uvicorn),
which replaced h11: pure Python, h11 took a third of the client's CPU per forwarded event.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

READ_BYTES = 65_536
# RFC 9110: a method and a header name are tokens; a header value has no CR, LF or NUL; a request target no space.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")


class ForwardError(Exception):
    """The request got no HTTP answer: ``kind`` says why (ConnectError, ReadTimeout, ProtocolError...)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Answer:
    """httptools' callbacks for one response: its status and whether it is complete. Informational answers
    (``100 Continue``) are parsed and passed over."""

    __slots__ = ("head", "status", "complete", "keep_alive", "parser")

    def __init__(self, head: bool) -> None:
        self.head = head  # the answer to a HEAD request: its headers are all of it, whatever length they name
        self.status = 0
        self.complete = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head and self.status >= 200:
            self.complete = True  # not reused: the parser would take the next answer for this one's body

    def on_message_complete(self) -> None:
        if self.status >= 200:
            self.complete = True
            # Only meaningful here: once the message is done the parser starts over.
            self.keep_alive = self.parser.should_keep_alive()


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reusable: bool = False


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
        self.host_header = parts.netloc.rsplit("@", 1)[-1].encode("idna")  # the authority, without credentials
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
        except (httptools.HttpParserError, httptools.HttpParserUpgrade, ValueError):
            self._close(connection)
            raise ForwardError("ProtocolError") from None
        except BaseException:
            self._close(connection)  # cancelled mid-request: the connection's state is unknown
            raise
        if connection.reusable:
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
        return _Connection(reader, writer), False

    async def _exchange(
        self, connection: _Connection, method: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> int:
        connection.reusable = False
        connection.writer.write(self._head(method, query, headers, len(body)) + body)
        await connection.writer.drain()
        answer = _Answer(head=method == "HEAD")
        while not answer.complete:
            data = await connection.reader.read(READ_BYTES)
            if not data:
                # EOF before the whole answer (or before any): the status so far, if there is one.
                if answer.status:
                    return answer.status
                raise asyncio.IncompleteReadError(b"", None)
            answer.parser.feed_data(data)
        connection.reusable = answer.keep_alive
        return answer.status

    def _head(self, method: str, query: str, headers: list[tuple[str, str]], length: int) -> bytes:
        """The request line and headers; ``ValueError`` for a part that is not valid where it goes."""
        verb, target = method.encode("latin-1", "replace"), self.target(query)
        if not _TOKEN.fullmatch(verb) or not _TARGET.fullmatch(target):
            raise ValueError("invalid request line")
        lines = [verb + b" " + target + b" HTTP/1.1", b"host: " + self.host_header, b"content-length: %d" % length]
        for name, value in headers:
            field_name = name.encode("latin-1", "replace")
            field_value = value.encode("latin-1", "replace").strip(b" \t")
            if not _TOKEN.fullmatch(field_name) or not _VALUE.fullmatch(field_value):
                raise ValueError("invalid header")
            lines.append(field_name + b": " + field_value)
        return b"\r\n".join(lines) + b"\r\n\r\n"

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
