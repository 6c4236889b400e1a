"""The delivery worker's HTTP client: signed POSTs over pooled keep-alive connections to addresses just checked.

A delivery is always the same exchange: one ``POST`` with a small JSON body, answered by a status, a few headers
and a body of which the first 4 KB are kept. This client does exactly that on asyncio protocols with the C parser
``httptools`` (a general client such as httpx cost about 1 ms of CPU per request, most of the worker's time).

Every new connection resolves the host through :class:`TargetGuard` and connects to the very addresses it
approved (the SSRF check and the connect see the same answer); the ``Host`` header, TLS SNI and certificate
verification use the subscriber's hostname. Idle connections are kept per (scheme, host, port) for
``keepalive_expiry_s`` and dropped as soon as the peer closes them. Nothing else is done on the subscriber's behalf:
redirects are answers like any other, no proxies, no cookies.

Errors: :class:`TargetRefused` (the guard said no), :class:`ConnectFailed` (refused, unreachable, TLS),
:class:`ProtocolFailed` (a malformed or cut-off answer), ``TimeoutError`` (connect timeout); the caller bounds the
whole exchange with its own deadline.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httptools

from relay.delivery.targets import TargetGuard, parse_url
from relay.errors import TargetRefused

RESPONSE_KEEP_BYTES = 4096
# A longer answer is not read to its end: the connection is closed instead of reused.
RESPONSE_READ_BYTES = 65536
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class ConnectFailed(Exception):
    """No connection to any address of the subscriber (refused, unreachable, TLS handshake failed)."""


class ProtocolFailed(Exception):
    """The subscriber's answer was malformed or the connection closed before it was complete."""


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    retry_after: str | None
    body: bytes  # the first RESPONSE_KEEP_BYTES


@dataclass(frozen=True, slots=True)
class _Target:
    key: tuple[str, str, int]
    host: str
    port: int
    tls: bool
    head: bytes  # request line and Host header


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time; the parser's callbacks fill in the answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | None = None
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._retry_after: str | None = None
        self._kept = bytearray()
        self._read = 0
        self._headers_done = False
        self.received = False
        self.reusable = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolFailed(f"malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done:
            # An answer without Content-Length or chunking ends when the connection does.
            self._complete(reusable=False)
        self._fail(ProtocolFailed("the connection closed before the response was complete"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if len(self._kept) < RESPONSE_KEEP_BYTES:
            self._kept += body[: RESPONSE_KEEP_BYTES - len(self._kept)]
        self._read += len(body)
        if self._read > RESPONSE_READ_BYTES:
            self._complete(reusable=False)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200 and self._status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows on the same connection.
            self._reset()
            self.received = True
            return
        self._complete(reusable=self._parser.should_keep_alive())

    def _complete(self, reusable: bool) -> None:
        if self._waiter is not None and not self._waiter.done():
            self.reusable = reusable
            self._waiter.set_result(Answer(self._status, self._retry_after, bytes(self._kept)))
            if not reusable:
                self.close()

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    async def exchange(self, request: bytes) -> Answer:
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            raise ProtocolFailed("the connection closed before the request was sent")
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class DeliveryClient:
    """Pooled keep-alive connections to subscribers, every new one checked by the guard.

    :param guard: resolves and checks each host before a connection is opened.
    :param max_connections: most requests in flight at once (and most idle connections kept).
    :param connect_timeout_s: longest wait for a name lookup and a TCP (+TLS) connect.
    :param keepalive_expiry_s: idle connections older than this are closed, not reused (below common server
        keep-alive timeouts, 5 s for uvicorn, so a request rarely races a server closing its end).
    """

    def __init__(
        self,
        guard: TargetGuard,
        *,
        max_connections: int,
        connect_timeout_s: float,
        keepalive_expiry_s: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_expiry_s = keepalive_expiry_s
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.connections_opened = 0
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_count = 0
        self._targets: dict[str, _Target] = {}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """POST ``body`` to ``url``; a reused connection the peer had closed is retried once on a new one."""
        target = self._target(url)
        request = target.head + _header_block(headers, len(body)) + body
        async with self._slots:
            conn = self._take_idle(target.key)
            if conn is not None:
                try:
                    return await self._exchange(target, conn, request)
                except ProtocolFailed:
                    # Closed by the peer before it read anything: nothing was processed, send it again.
                    if conn.received:
                        raise
            return await self._exchange(target, await self._connect(target), request)

    async def _exchange(self, target: _Target, conn: _Connection, request: bytes) -> Answer:
        try:
            answer = await conn.exchange(request)
        except BaseException:
            conn.close()  # cancelled or failed mid-exchange: its state is unknown
            raise
        if conn.reusable and not conn.closed:
            self._put_idle(target.key, conn)
        return answer

    def _target(self, url: str) -> _Target:
        found = self._targets.get(url)
        if found is None:
            parsed = parse_url(url)
            tls = parsed.scheme == "https"
            port = parsed.port or (443 if tls else 80)
            host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS, SNI and the Host header want it
            path = parsed.raw_path.decode("ascii") or "/"
            head = f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc.decode('ascii')}\r\n".encode("ascii")
            found = _Target((parsed.scheme, host, port), host, port, tls, head)
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[url] = found
        return found

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if not conn.closed and now - conn.idle_since < self.keepalive_expiry_s:
                return conn
            conn.close()
        return None

    def _put_idle(self, key: tuple[str, str, int], conn: _Connection) -> None:
        if self._idle_count >= self.max_connections:
            self._evict()
        conn.idle_since = time.monotonic()
        self._idle.setdefault(key, []).append(conn)
        self._idle_count += 1

    def _evict(self) -> None:
        """Close the idle connection unused the longest (another host's, usually)."""
        key = min((k for k, conns in self._idle.items() if conns), key=lambda k: self._idle[k][0].idle_since)
        self._idle[key].pop(0).close()
        self._idle_count -= 1

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                addresses = await self.guard.addresses(target.host)
        except TimeoutError as exc:
            raise TimeoutError(f"looking up {target.host!r} took longer than {self.connect_timeout_s} s") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    _, conn = await loop.create_connection(
                        _Connection,
                        address,
                        target.port,
                        ssl=self.ssl_context if target.tls else None,
                        server_hostname=target.host if target.tls else None,
                    )
            except (OSError, TimeoutError) as exc:
                failure = exc
                continue
            self.connections_opened += 1
            return conn
        if isinstance(failure, TimeoutError):
            raise TimeoutError(f"connecting to {target.host!r} took longer than {self.connect_timeout_s} s")
        raise ConnectFailed(f"could not connect to {target.host!r}: {failure}")

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        self._idle_count = 0


def _header_block(headers: Mapping[str, str], length: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if name.lower() in FRAMING_HEADERS:
            continue
        raw_name, raw_value = name.encode("ascii"), value.encode("ascii")
        if not TOKEN.fullmatch(raw_name) or any(char in raw_value for char in b"\r\n\0"):
            raise ProtocolFailed(f"header {name!r} is not a valid HTTP header")
        lines.append(raw_name + b": " + raw_value + b"\r\n")
    lines.append(b"Content-Length: %d\r\n\r\n" % length)
    return b"".join(lines)


def delivery_client(guard: TargetGuard, timeout_s: float, max_connections: int) -> DeliveryClient:
    """The worker's one shared client (connect timeout: 5 s at most, and never more than the delivery timeout)."""
    return DeliveryClient(guard, max_connections=max_connections, connect_timeout_s=min(5.0, timeout_s))


__all__ = ["Answer", "ConnectFailed", "DeliveryClient", "ProtocolFailed", "TargetRefused", "delivery_client"]
