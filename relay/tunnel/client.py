"""``relay tunnel``: stream a channel from the relay and replay every event at a local URL, byte-exact.

Restart = resume: the channel and its secrets are saved locally (:mod:`relay.tunnel.state`), and the relay keeps the
channel's *position*, moved only past entries the local server answered (or the client gave up on, which the
relay records so ``--resend-failed`` can send them again). A new run, on this machine or another, starts there.

Forwarding is concurrent (``concurrency`` requests in flight on keep-alive connections) while one task's events stay
in order, so a slow or hung local request holds one slot, not the stream. Reconnects use capped, jittered backoff;
a watchdog reconnects when nothing (not even a ping) arrives for twice the server's ping interval; each reconnect
sends ``Last-Event-ID``, and event ids already forwarded in this run are never forwarded again.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from relay.admin_client import describe, relay_error, unreachable
from relay.tunnel.forward import ForwardError, LocalTarget
from relay.tunnel.output import clean, event_line, size_text
from relay.tunnel.sse import SSEParser
from relay.tunnel.state import SavedChannel, TunnelState, state_key

STREAM_TIMEOUT = httpx.Timeout(connect=5, read=None, write=5, pool=5)
API_TIMEOUT = httpx.Timeout(10, connect=5)
FIRST_WATCHDOG_S = 30.0
SEEN_LIMIT = 100_000
FLUSH_TIMEOUT_S = 2.0


class TunnelError(Exception):
    """The tunnel cannot go on: no credential, an unknown channel, an unreachable or refusing server."""


@dataclass(frozen=True, slots=True)
class TunnelOptions:
    """What ``relay tunnel`` was asked to do.

    :param server: the relay's base URL.
    :param forward_to: the local URL every event is replayed at.
    :param admin_token: needed to create a channel and issue callback URLs; not needed to resume one.
    :param channel: an existing channel to stream; None reuses the saved one of this command, or creates one.
    :param read_secret: the channel's read secret (for ``channel`` when it is not saved here).
    :param providers: the new channel's provider filter, and whose callback URLs to print (all when empty).
    :param raw: a new channel sends the provider's original requests instead of signed normalized events.
    :param start: ``position`` (resume), ``now``, or ``since:<unix ms>``.
    :param resend_failed: first put the entries an earlier run gave up on back into the channel.
    :param concurrency: local requests in flight at most.
    :param forward_attempts: tries per event before reporting it as failed and moving on.
    """

    server: str
    forward_to: str
    admin_token: str | None = None
    channel: str | None = None
    read_secret: str | None = None
    providers: tuple[str, ...] = ()
    raw: bool = False
    start: str = "position"
    resend_failed: bool = False
    concurrency: int = 16
    forward_attempts: int = 3
    forward_retry_delay_s: float = 0.5
    forward_timeout_s: float = 10.0
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 10.0
    ack_interval_s: float = 0.1


@dataclass(frozen=True, slots=True)
class Forwarded:
    id: str
    status: int | None
    error: str | None
    attempts: int
    elapsed_ms: float

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


def backoff_s(attempt: int, base_s: float, max_s: float, rand: Callable[[], float]) -> float:
    """Exponential, capped, with the upper half jittered so reconnecting clients spread out."""
    capped: float = min(max_s, base_s * 2 ** min(attempt, 30))
    return capped / 2 + capped / 2 * rand()


@dataclass
class Progress:
    """Which received entries are handled; the position is the newest entry with every earlier one handled."""

    pending: dict[str, list[Any]] = field(default_factory=dict)  # entry id -> [n, handled], in stream order
    position: tuple[str, int] | None = None
    failed: list[tuple[str, int]] = field(default_factory=list)
    dirty: bool = False

    def received(self, entry_id: str, n: int) -> None:
        self.pending[entry_id] = [n, False]

    def handled(self, entry_id: str, failed: bool = False) -> None:
        item = self.pending.get(entry_id)
        if item is None:
            return
        item[1] = True
        if failed:
            self.failed.append((entry_id, item[0]))
        while self.pending:
            first = next(iter(self.pending))
            n, done = self.pending[first]
            if not done:
                break
            del self.pending[first]
            self.position = (first, n)
            self.dirty = True


class TunnelClient:
    """Streams one channel and forwards its events.

    :param http: talks to the relay (stream and API); the caller owns and closes it.
    :param options: see :class:`TunnelOptions`.
    :param state: where channels are saved between runs; None saves nothing.
    :param clock: seconds since the epoch, for the time printed on each line.
    :param echo: where the live log goes, one line per event.
    :param rand: ``[0, 1)`` source of backoff jitter.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        options: TunnelOptions,
        state: TunnelState | None = None,
        clock: Callable[[], float] = time.time,
        echo: Callable[[str], None] = print,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.local = LocalTarget(options.forward_to)
        self.options = options
        self.state = state
        self.clock = clock
        self.echo = echo
        self.rand = rand
        self.server = options.server.rstrip("/")
        self.channel = options.channel
        self.read_secret = options.read_secret
        self.failed_before = 0
        self.last_id: str | None = None
        self.watchdog_s = FIRST_WATCHDOG_S
        self.seen: set[str] = set()
        self.forwarded = 0
        self.progress = Progress()
        self.slots = asyncio.Semaphore(options.concurrency)
        self.chains: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.ready = False

    # --- setup ---

    async def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, f"{self.server}{path}", timeout=API_TIMEOUT, **kwargs)
        except httpx.HTTPError as exc:
            raise TunnelError(unreachable(self.server, exc)) from exc

    def _admin(self, why: str) -> dict[str, str]:
        if not self.options.admin_token:
            raise TunnelError(f"an admin token is needed to {why}: set RELAY_ADMIN_TOKEN (or run `relay serve` here)")
        return {"authorization": f"Bearer {self.options.admin_token}"}

    def _reader(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.read_secret or self.options.admin_token or ''}"}

    def _key(self) -> str:
        mode = "raw" if self.options.raw else "event"
        return state_key(self.server, self.options.forward_to, mode, self.options.providers)

    async def lookup(self) -> dict[str, Any] | None:
        """The channel as the relay has it (position, failed count), or None when it is gone."""
        response = await self._api("GET", f"/v1/tunnels/{self.channel}", headers=self._reader())
        if response.status_code in (401, 404):
            return None
        if response.status_code != 200:
            raise TunnelError(f"the relay at {self.server} answered {response.status_code}: {error_text(response)}")
        found: dict[str, Any] = response.json()
        return found

    async def create_channel(self) -> SavedChannel:
        body = {"filter": {"providers": list(self.options.providers)}, "mode": "raw" if self.options.raw else "event"}
        response = await self._api("POST", "/v1/tunnels", json=body, headers=self._admin("create a channel"))
        if response.status_code != 201:
            raise TunnelError(f"the relay at {self.server} refused a new channel: {error_text(response)}")
        created: dict[str, Any] = response.json()
        return SavedChannel(created["channel"], created["read_secret"], created["secret"], created["mode"])

    async def setup(self) -> None:
        """Find the channel to stream: the one named, the one saved for this command, or a new one."""
        saved: SavedChannel | None = None
        if self.channel is not None:
            saved = self.state.find(self.channel) if self.state else None
            self.read_secret = self.read_secret or (saved.read_secret if saved else None)
            if not (self.read_secret or self.options.admin_token):
                raise TunnelError(f"channel {self.channel!r}: pass its read secret (--key) or set RELAY_ADMIN_TOKEN")
            info = await self.lookup()
            if info is None:
                raise TunnelError(f"no channel {self.channel!r} at {self.server} (expired or deleted?)")
            how = "resumed"
        else:
            saved = self.state.get(self._key()) if self.state else None
            info = None
            if saved is not None:
                self.channel, self.read_secret = saved.channel, saved.read_secret
                info = await self.lookup()
                if info is None:
                    self.echo(f"channel  {saved.channel} is gone from {self.server} (expired?): creating a new one")
            how = "resumed"
            if info is None:
                saved = await self.create_channel()
                self.channel, self.read_secret = saved.channel, saved.read_secret
                if self.state is not None:
                    self.state.save(self._key(), saved)
                info = {"failed": 0}
                how = "new"
        where = f"; saved in {self.state.path}" if self.state is not None and saved is not None else ""
        self.echo(f"channel  {self.channel}  ({how}{where})")
        if saved is not None and saved.mode == "event":
            self.echo(f"secret   {saved.secret}  (verify webhook-signature locally; the same every run)")
        self.echo(f"webhooks {self.server}/t/{self.channel}  (any sender may POST here; it cannot read the tunnel)")
        self.failed_before = int(info.get("failed") or 0)

    async def print_callback_urls(self, providers: tuple[str, ...]) -> None:
        if not self.options.admin_token:
            return
        headers = self._admin("issue callback URLs")
        # All at once: one request each, one after the other, was most of the start-up once Python had started.
        responses = await asyncio.gather(
            *(self._api("POST", "/v1/callback-urls", json={"provider": p}, headers=headers) for p in providers)
        )
        for provider, response in zip(providers, responses, strict=True):
            if response.status_code == 201:
                self.echo(f"{provider:<8} callback URL  {response.json()['url']}")

    async def resend_failed(self) -> None:
        response = await self._api("POST", f"/v1/tunnels/{self.channel}/resend", headers=self._reader())
        if response.status_code != 200:
            raise TunnelError(f"the relay at {self.server} refused to resend: {error_text(response)}")
        result = response.json()
        gone = f"; {result['gone']} no longer in the buffer" if result["gone"] else ""
        self.echo(f"resent   {result['resent']} events given up on earlier{gone}")

    # --- running ---

    async def run(self, all_providers: tuple[str, ...] = ()) -> None:
        """Set up (channel, callback URLs), then stream and forward until cancelled."""
        await self.setup()
        await self.print_callback_urls(self.options.providers or all_providers)
        if self.options.resend_failed:
            await self.resend_failed()
        elif self.failed_before:
            self.echo(
                f"note     {self.failed_before} events were given up on earlier; --resend-failed sends them again"
            )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._ack_loop())
                await self._stream_loop(group)
        finally:
            self.local.close()
            await self.flush()

    async def _stream_loop(self, group: asyncio.TaskGroup) -> None:
        attempt = 0
        while True:
            try:
                if await self.stream_once(group):
                    attempt = 0
                reason = "the server closed the stream"
            except TimeoutError:
                reason = f"nothing received for {self.watchdog_s:g} s"
            except httpx.TransportError as exc:
                reason = describe(exc)
            delay = backoff_s(attempt, self.options.reconnect_base_s, self.options.reconnect_max_s, self.rand)
            attempt += 1
            self.echo(f"{self._now()}  reconnecting to {self.server} in {delay:.1f} s ({reason})")
            await asyncio.sleep(delay)

    async def stream_once(self, group: asyncio.TaskGroup) -> bool:
        """One connection: replay, then live events, until it ends. Returns whether the server said ``ready``."""
        url = f"{self.server}/v1/tunnels/{self.channel}/stream"
        headers = {"accept": "text/event-stream", **self._reader()}
        params: dict[str, str] = {}
        if self.last_id is not None:
            headers["last-event-id"] = self.last_id
        else:
            params["start"] = self.options.start
        request = self.http.build_request("GET", url, headers=headers, params=params, timeout=STREAM_TIMEOUT)
        async with asyncio.timeout(self.watchdog_s):
            response = await self.http.send(request, stream=True)
        ready = False
        try:
            if response.status_code in (401, 404):
                raise TunnelError(f"channel {self.channel!r} is gone from {self.server} (deleted or expired)")
            if response.status_code != 200:
                await response.aread()
                raise httpx.TransportError(f"stream answered {response.status_code}: {error_text(response)}")
            parser = SSEParser()
            chunks = response.aiter_bytes()
            loop = asyncio.get_running_loop()
            # One watchdog for the connection, moved on at each chunk (not a timeout per event); it is off while the
            # events are handled, which waits for a free forwarding slot however long the local server takes.
            async with asyncio.timeout(None) as watchdog:
                while True:
                    watchdog.reschedule(loop.time() + self.watchdog_s)
                    chunk = await anext(chunks, None)
                    watchdog.reschedule(None)
                    if chunk is None:
                        return ready
                    for event, entry_id, data in parser.feed(chunk):
                        if event == "ready":
                            ready = True
                            self.on_ready(orjson.loads(data))
                        elif event == "message" and entry_id is not None:
                            await self.handle(entry_id, orjson.loads(data), group)
        finally:
            await response.aclose()

    def on_ready(self, info: dict[str, Any]) -> None:
        self.watchdog_s = 2 * float(info.get("ping_interval_s", FIRST_WATCHDOG_S / 2))
        if self.ready:
            return
        self.ready = True
        start = self.options.start
        since = "from now on" if start == "now" else "resuming where the last run stopped"
        if start.startswith("since:"):
            since = f"from {self._time(int(start[6:]) / 1000)} on"
        self.echo(f"ready    forwarding to {self.options.forward_to}  ({since}; Ctrl-C to stop)")
        if info.get("lost"):
            self.echo(
                f"lost     {info['lost']} events: the relay's buffer dropped them before this run resumed "
                "(RELAY_TUNNEL_BUFFER_MAX_*)"
            )
        if info.get("dropped_before_ms"):
            self.echo(f"lost     events before {self._time(info['dropped_before_ms'] / 1000)}: no longer buffered")

    async def handle(self, entry_id: str, message: dict[str, Any], group: asyncio.TaskGroup) -> None:
        self.last_id = entry_id
        self.progress.received(entry_id, int(message.get("n") or 0))
        event_id: str = message["id"]
        if event_id in self.seen:
            self.progress.handled(entry_id)
            return
        if len(self.seen) >= SEEN_LIMIT:
            self.seen.clear()
        self.seen.add(event_id)
        await self.slots.acquire()
        key = (message["provider"], message["task_id"]) if message.get("task_id") else None
        before = self.chains.get(key) if key else None
        task = group.create_task(self._forward_in_turn(entry_id, message, before))
        if key is not None:
            self.chains[key] = task
            task.add_done_callback(functools.partial(self._chain_done, key))

    def _chain_done(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self.chains.get(key) is task:
            del self.chains[key]

    async def _forward_in_turn(self, entry_id: str, message: dict[str, Any], before: asyncio.Task[None] | None) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # the same task's earlier event first, whatever became of it
            result = await self.forward(message)
            self.echo(self.line(message, result))
            self.forwarded += 1
            self.progress.handled(entry_id, failed=result.failed)
        finally:
            self.slots.release()

    async def forward(self, message: dict[str, Any]) -> Forwarded:
        body = base64.b64decode(message["body_base64"])
        headers = [(name, value) for name, value in message["headers"]]
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        attempt = 0
        while attempt < self.options.forward_attempts:
            attempt += 1
            try:
                status, error = (
                    await self.local.request(
                        message["method"], message["query"], headers, body, self.options.forward_timeout_s
                    ),
                    None,
                )
                if status < 500:
                    break
            except ForwardError as exc:
                status, error = None, exc.kind
            if attempt < self.options.forward_attempts:
                await asyncio.sleep(self.options.forward_retry_delay_s * 2 ** (attempt - 1))
        return Forwarded(message["id"], status, error, attempt, (time.perf_counter() - started) * 1000)

    # --- position ---

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.ack_interval_s)
            await self.ack()

    async def ack(self) -> bool:
        """Send the position (and the given-up entries) to the relay; keeps them for the next try on failure."""
        progress = self.progress
        if not progress.dirty or progress.position is None:
            return True
        position, failed = progress.position, list(progress.failed)
        progress.dirty = False
        body = {"position": position[0], "n": position[1], "failed": [list(item) for item in failed]}
        try:
            response = await self.http.post(
                f"{self.server}/v1/tunnels/{self.channel}/position", json=body, headers=self._reader(), timeout=5
            )
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        except BaseException:
            # Cancelled mid-request (Ctrl-C while the periodic ack was in flight): the flush on the way out must still
            # send this position, or the next run forwards these events again. Sending it twice is harmless.
            progress.dirty = True
            raise
        if ok:
            del progress.failed[: len(failed)]
        else:
            progress.dirty = True
        return ok

    async def flush(self) -> None:
        """On the way out: the last position, so the next run does not forward these events again."""
        if self.channel is None:
            return
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT_S):
                await self.ack()
        except TimeoutError:
            pass

    # --- output ---

    def line(self, message: dict[str, Any], result: Forwarded) -> str:
        outcome = str(result.status) if result.status is not None else f"ERR {result.error}"
        if result.failed:
            outcome += f" (gave up after {result.attempts} tries; --resend-failed sends it again)"
        if message["provider"] is None:
            content_type = next((v for k, v in message["headers"] if k == "content-type"), "-")
            encoded: str = message["body_base64"]
            size = size_text(len(encoded) * 3 // 4 - encoded[-2:].count("="))
            what = [f"{clean(message['method'])} {clean(message['path'], 40)}", clean(content_type, 32), size]
        else:
            what = [
                f"{clean(message['provider']):<8}",
                f"{clean(message['task_id'] or '-', 40):<24}",
                f"{clean(message['type']):<21}",
            ]
        return event_line(self._now(), what, outcome, result.elapsed_ms, clean(message["id"]))

    def _now(self) -> str:
        return self._time(self.clock())

    @staticmethod
    def _time(seconds: float) -> str:
        return _clock_time(int(seconds))


@functools.lru_cache(maxsize=4)
def _clock_time(second: int) -> str:
    # Every event line shows the time: formatted once per second, not once per event.
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")


def error_text(response: httpx.Response) -> str:
    return clean(f"{response.status_code} {relay_error(response)}", 240)
