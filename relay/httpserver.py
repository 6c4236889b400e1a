"""uvicorn's httptools protocol (the C parser) with a deadline on request heads.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a client takes to send a
request's head: any byte received cancels the keep-alive timer, so a client trickling one header byte a second
holds its connection forever (slowloris). This protocol closes a connection whose request head has not fully
arrived ``timeout_s`` after the connection opened or the previous response ended. Bodies are bounded in the app
(``relay.bodies``, ``RELAY_BODY_TIMEOUT_S``); a body the app answered without reading (a 401 for a bad token)
would otherwise be read and discarded for as long as the client sends it, so it gets the same ``timeout_s``.

The subclass uses only what uvicorn documents for ``Config(http=...)`` (a protocol class) and the httptools parser
callbacks the class implements (``on_headers_complete``, ``on_message_complete``, ``on_response_complete``); it
counts heads, messages and responses itself rather than reading uvicorn's request cycle. It replaced an ``h11``
subclass: the pure-Python parser cost about a third of the relay's CPU per callback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_BODY = b'{"error": {"code": "request_timeout", "message": "request head not received in time"}}'
# Written raw: no request cycle exists to answer through before a head has arrived.
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + f"content-length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


def header_timeout_protocol(timeout_s: float) -> type[HttpToolsProtocol]:
    """An ``HttpToolsProtocol`` subclass for ``uvicorn.Config(http=...)`` that gives request heads ``timeout_s``."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _head_deadline: asyncio.TimerHandle | None = None
        _bytes_since_armed = 0
        # Requests whose head arrived, whose body was fully received, and that were answered, on this connection.
        _heads = 0
        _messages = 0
        _responses = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._bytes_since_armed += len(data)
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._heads += 1
            if self._heads > self._responses:
                self._disarm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._messages += 1
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._responses += 1
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            # An event stream (a tunnel) never completes by itself: it would hold the shutdown for the whole
            # graceful timeout. End it now; its client reconnects and resumes from Last-Event-ID.
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete and _is_event_stream(cycle.scope):
                self.transport.close()
                return
            super().shutdown()

        def _arm(self) -> None:
            self._disarm()
            self._bytes_since_armed = 0
            if not self.transport.is_closing():
                self._head_deadline = self.loop.call_later(timeout_s, self._head_timeout)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_timeout(self) -> None:
            self._head_deadline = None
            if self.transport.is_closing() or self._heads > self._responses:
                return  # a request is being handled (a pipelined one's head arrived in time): the app bounds it
            if self._messages < self._heads:
                # Answered without reading its body, which is still arriving: nothing more to say.
                self.transport.close()
                return
            if self._bytes_since_armed:
                self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()

    return HeaderTimeoutProtocol


def _is_event_stream(scope: Any) -> bool:
    return any(name == b"accept" and b"text/event-stream" in value for name, value in scope.get("headers", ()))


_PROTOCOLS: dict[float, type[HttpToolsProtocol]] = {}


class HeaderTimeoutProtocolFactory:
    """What ``uvicorn.Config(http=...)`` needs for ``--workers N``: uvicorn pickles its config into every worker
    process, and a class made by :func:`header_timeout_protocol` cannot be pickled; this callable can."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> HttpToolsProtocol:
        protocol = _PROTOCOLS.get(self.timeout_s)
        if protocol is None:
            protocol = _PROTOCOLS[self.timeout_s] = header_timeout_protocol(self.timeout_s)
        return protocol(*args, **kwargs)
