"""``relay tunnel``: stream a channel from the relay and replay every event at a local URL, byte-exact.

Reconnects with capped, jittered backoff; a watchdog reconnects when nothing (not even a ping) arrives for twice
the server's ping interval (a sleeping laptop, a half-open TCP connection, a frozen server); each reconnect sends
``Last-Event-ID`` so nothing is skipped, and event ids already forwarded in this run are never forwarded again.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

STREAM_TIMEOUT = httpx.Timeout(connect=5, read=None, write=5, pool=5)
FIRST_WATCHDOG_S = 30.0
SEEN_LIMIT = 100_000


class TunnelError(Exception):
    """The tunnel cannot go on: no admin token, an unknown channel, a server that refuses."""


@dataclass(frozen=True, slots=True)
class TunnelOptions:
    """What ``relay tunnel`` was asked to do.

    :param server: the relay's base URL.
    :param forward_to: the local URL every event is replayed at.
    :param admin_token: needed to create a channel and issue callback URLs; not needed to stream one.
    :param channel: an existing channel to stream; None creates one.
    :param providers: the new channel's provider filter, and whose callback URLs to print (all when empty).
    :param raw: a new channel sends the provider's original requests instead of signed normalized events.
    :param forward_attempts: tries per event before reporting it and moving on.
    """

    server: str
    forward_to: str
    admin_token: str | None = None
    channel: str | None = None
    providers: tuple[str, ...] = ()
    raw: bool = False
    forward_attempts: int = 3
    forward_retry_delay_s: float = 0.5
    forward_timeout_s: float = 10.0
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Forwarded:
    id: str
    status: int | None
    error: str | None
    attempts: int
    elapsed_ms: float


def backoff_s(attempt: int, base_s: float, max_s: float, rand: Callable[[], float]) -> float:
    """Exponential, capped, with the upper half jittered so reconnecting clients spread out."""
    capped: float = min(max_s, base_s * 2 ** min(attempt, 30))
    return capped / 2 + capped / 2 * rand()


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str | None, str]]:
    """``(event, id, data)`` for each event of a Server-Sent Events stream (``event`` defaults to ``message``)."""
    event, entry_id, data = "message", None, list[str]()
    async for line in lines:
        if line == "":
            if data:
                yield event, entry_id, "\n".join(data)
            event, entry_id, data = "message", None, list[str]()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "id":
            entry_id = value
        elif name == "data":
            data.append(value)


class TunnelClient:
    """Streams one channel and forwards its events.

    :param http: used for the stream and the local requests; the caller owns and closes it.
    :param options: see :class:`TunnelOptions`.
    :param clock: seconds since the epoch, for the time printed on each line.
    :param echo: where the live log goes, one line per event.
    :param rand: ``[0, 1)`` source of backoff jitter.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        options: TunnelOptions,
        clock: Callable[[], float] = time.time,
        echo: Callable[[str], None] = print,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.options = options
        self.clock = clock
        self.echo = echo
        self.rand = rand
        self.server = options.server.rstrip("/")
        self.channel = options.channel
        self.last_id: str | None = None
        self.watchdog_s = FIRST_WATCHDOG_S
        self.seen: set[str] = set()
        self.forwarded = 0

    def _admin(self) -> dict[str, str]:
        if not self.options.admin_token:
            raise TunnelError("an admin token is needed: set RELAY_ADMIN_TOKEN (or pass --channel to stream one)")
        return {"authorization": f"Bearer {self.options.admin_token}"}

    async def create_channel(self) -> str:
        body = {"filter": {"providers": list(self.options.providers)}, "mode": "raw" if self.options.raw else "event"}
        response = await self.http.post(f"{self.server}/v1/tunnels", json=body, headers=self._admin())
        if response.status_code != 201:
            raise TunnelError(f"could not create a channel: {response.status_code} {response.text}")
        created: dict[str, Any] = response.json()
        self.echo(f"channel  {created['channel']}  (mode {created['mode']}; reuse it with --channel)")
        if created["mode"] == "event":
            self.echo(f"secret   {created['secret']}  (verify webhook-signature locally; shown once)")
        # Everything since the channel was created, so nothing routed before the stream opens is missed.
        self.last_id = "0"
        return str(created["channel"])

    async def print_callback_urls(self, providers: tuple[str, ...]) -> None:
        for provider in providers:
            response = await self.http.post(
                f"{self.server}/v1/callback-urls", json={"provider": provider}, headers=self._admin()
            )
            if response.status_code == 201:
                self.echo(f"{provider:<9}callback URL  {response.json()['url']}")

    async def run(self, all_providers: tuple[str, ...] = ()) -> None:
        """Set up (create a channel, print callback URLs), then stream and forward until cancelled."""
        if self.channel is None:
            self.channel = await self.create_channel()
            await self.print_callback_urls(self.options.providers or all_providers)
        self.echo(f"forwarding to {self.options.forward_to}  (Ctrl-C to stop)")
        attempt = 0
        while True:
            try:
                if await self.stream_once():
                    attempt = 0
                reason = "the server closed the stream"
            except TimeoutError:
                reason = f"nothing received for {self.watchdog_s:g} s"
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            delay = backoff_s(attempt, self.options.reconnect_base_s, self.options.reconnect_max_s, self.rand)
            attempt += 1
            self.echo(f"{self._now()}  reconnecting in {delay:.1f} s ({reason})")
            await asyncio.sleep(delay)

    async def stream_once(self) -> bool:
        """One connection: replay, then live events, until it ends. Returns whether the server said ``ready``."""
        url = f"{self.server}/v1/tunnels/{self.channel}/stream"
        headers = {"accept": "text/event-stream"}
        if self.last_id is not None:
            headers["last-event-id"] = self.last_id
        request = self.http.build_request("GET", url, headers=headers, timeout=STREAM_TIMEOUT)
        async with asyncio.timeout(self.watchdog_s):
            response = await self.http.send(request, stream=True)
        ready = False
        try:
            if response.status_code == 404:
                raise TunnelError("no such channel on this server (deleted?)")
            if response.status_code != 200:
                await response.aread()
                raise httpx.TransportError(f"stream answered {response.status_code}: {response.text[:200]}")
            events = sse_events(response.aiter_lines())
            while True:
                async with asyncio.timeout(self.watchdog_s):
                    item = await anext(events, None)
                if item is None:
                    return ready
                event, entry_id, data = item
                if event == "ready":
                    ready = True
                    self.watchdog_s = 2 * float(orjson.loads(data).get("ping_interval_s", FIRST_WATCHDOG_S / 2))
                elif event == "message" and entry_id is not None:
                    await self.handle(entry_id, orjson.loads(data))
        finally:
            await response.aclose()

    async def handle(self, entry_id: str, message: dict[str, Any]) -> None:
        event_id: str = message["id"]
        if event_id not in self.seen:
            result = await self.forward(message)
            self.echo(self.line(message, result))
            self.forwarded += 1
            if len(self.seen) >= SEEN_LIMIT:
                self.seen.clear()
            self.seen.add(event_id)
        self.last_id = entry_id

    async def forward(self, message: dict[str, Any]) -> Forwarded:
        url = self.options.forward_to
        if message["query"] and self.options.raw:
            url += ("&" if "?" in url else "?") + message["query"]
        body = base64.b64decode(message["body_base64"])
        headers = [(name, value) for name, value in message["headers"]]
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        attempt = 0
        while attempt < self.options.forward_attempts:
            attempt += 1
            try:
                response = await self.http.request(
                    message["method"], url, content=body, headers=headers, timeout=self.options.forward_timeout_s
                )
                status, error = response.status_code, None
                if status < 500:
                    break
            except httpx.TransportError as exc:
                status, error = None, type(exc).__name__
            if attempt < self.options.forward_attempts:
                await asyncio.sleep(self.options.forward_retry_delay_s * 2 ** (attempt - 1))
        return Forwarded(message["id"], status, error, attempt, (time.perf_counter() - started) * 1000)

    def line(self, message: dict[str, Any], result: Forwarded) -> str:
        outcome = str(result.status) if result.status is not None else f"ERR {result.error}"
        if result.status is None or result.status >= 500:
            outcome += f" (gave up after {result.attempts} tries; it stays in the relay)"
        return "  ".join(
            [
                self._now(),
                f"{message['provider'] or '-':<8}",
                f"{message['task_id'] or '-':<24}",
                f"{message['type']:<21}",
                outcome,
                f"{result.elapsed_ms:.0f} ms",
                message["id"],
            ]
        )

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock()).strftime("%H:%M:%S")
