"""An open-loop load generator: requests at a fixed offered rate, whatever the server's answers do.

wrk is closed-loop (each connection waits for its answer before sending again) and Debian has no wrk2, so the
fixed-rate figure comes from here. Request ``i`` is *scheduled* at ``start + i / rate`` and its latency is measured
from that scheduled time, not from when it was written: a server stall therefore shows up in every request it
delayed (no coordinated omission). Each keep-alive HTTP/1.1 connection carries one request at a time; a request
that finds every connection busy opens another (up to ``max_connections``), then waits for one, its wait counted.

It is plain asyncio (uvloop when installed) with a hand-written HTTP/1.1 client, so that its own cost per request
stays small next to the server's on a shared machine.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from bench.harness import TASK_ID_PLACEHOLDER, median


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``send`` resolves to the response status once the whole response is read."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        marker = head.find(b"content-length:")
        if marker >= 0:
            length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)


def post_request(host: str, path: str, body: bytes) -> bytes:
    """One keep-alive ``POST`` of a JSON ``body``, as bytes on the wire."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


async def _run(
    host: str,
    port: int,
    build_request: Callable[[int], bytes],
    rate: float,
    duration_s: float,
    max_connections: int,
    on_done: Callable[[int, float, float, int], None] | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """``on_done(index, scheduled, written, status)`` is called for each answered request (perf_counter times)."""
    loop = asyncio.get_running_loop()
    idle: deque[_Connection] = deque()
    opened = 0
    freed = asyncio.Condition()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    total = int(rate * duration_s) if total is None else total

    async def connection() -> _Connection:
        nonlocal opened
        while True:
            while idle:
                conn = idle.popleft()
                if not conn.lost:
                    return conn
            if opened < max_connections:
                opened += 1
                transport, conn = await loop.create_connection(_Connection, host, port)
                # uvloop may call connection_made only after create_connection has returned.
                conn.transport = transport
                return conn
            async with freed:
                await freed.wait()

    async def one(index: int, scheduled: float) -> None:
        nonlocal failures
        try:
            conn = await connection()
            written = time.perf_counter()
            status = await conn.send(build_request(index))
        except (ConnectionError, OSError):
            failures += 1
            return
        latencies.append(time.perf_counter() - scheduled)
        if on_done is not None:
            on_done(index, scheduled, written, status)
        statuses[status] = statuses.get(status, 0) + 1
        idle.append(conn)
        async with freed:
            freed.notify()

    start = time.perf_counter() + 0.05
    async with asyncio.TaskGroup() as group:
        index = 0
        while index < total:
            now = time.perf_counter()
            # Catch up on everything already due in one wakeup: the loop's timer resolution is coarser than 1 ms.
            while index < total and start + index / rate <= now:
                group.create_task(one(index, start + index / rate))
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
    elapsed = time.perf_counter() - start
    latencies.sort()
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return {
        "offered_rps": rate,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "requests": total,
        "completed": len(latencies),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "connection_failures": failures,
        "connections_opened": opened,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 3),
        "p90_ms": round(_percentile(latencies, 90) * 1000, 3),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 3),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else None,
    }


def event_loop_runner() -> Callable[[Any], Any]:
    try:
        import uvloop

        return uvloop.run
    except ImportError:
        return asyncio.run


def offer(
    url: str,
    build_request: Callable[[int], bytes],
    *,
    rate: float,
    count: int,
    max_connections: int,
    on_done: Callable[[int, float, float, int], None],
) -> dict[str, Any]:
    """``count`` requests built by ``build_request(index)``, request ``index`` scheduled at ``start + index / rate``
    (an unbounded rate: all due at once, so ``max_connections`` closed-loop senders); ``on_done`` sees each answer."""
    host, port = url.removeprefix("http://").split(":")
    runner: Callable[[Any], dict[str, Any]] = event_loop_runner()
    return runner(_run(host, int(port), build_request, rate, 0.0, max_connections, on_done, count))


def run(
    url: str,
    paths: dict[str, str],
    bodies: dict[str, str],
    *,
    rate: float,
    duration_s: float,
    nonce: str,
    max_connections: int = 256,
) -> dict[str, Any]:
    """Offer ``rate`` requests/s of provider callbacks (distinct task ids) for ``duration_s``; latencies in ms."""
    host, port = url.removeprefix("http://").split(":")
    providers = sorted(paths)

    def build_request(index: int) -> bytes:
        provider = providers[index % len(providers)]
        body = bodies[provider].replace(TASK_ID_PLACEHOLDER, f"{nonce}-{index}").encode()
        return post_request(f"{host}:{port}", paths[provider], body)

    runner: Callable[[Any], dict[str, Any]] = event_loop_runner()
    return runner(_run(host, int(port), build_request, rate, duration_s, max_connections))


def _large_body(task_id: str, size: int) -> bytes:
    """A generic-provider callback of about ``size`` bytes: a prediction with long logs (as Replicate's carry)."""
    lines = []
    total = 0
    step = 0
    while total < size - 400:
        line = f"step {step:07d}/1000000 | loss {((step * 7919) % 10007) / 10007:.5f} | eta {1000000 - step} s\\n"
        lines.append(line)
        total += len(line)
        step += 1
    logs = "".join(lines)
    return (
        f'{{"taskId": "{task_id}", "status": "succeeded", "logs": "{logs}", '
        f'"output": ["https://files.example.net/{task_id}/out-0.png"]}}'
    ).encode()


async def _large_senders(
    host: str, port: int, path: str, count: int, size: int, nonce: str, stop: asyncio.Event
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    loop = asyncio.get_running_loop()

    # Built once: making a megabyte in Python per request would load the generator, not the server.
    template = _large_body("@@LARGE@@", size)

    async def sender(number: int) -> None:
        sent = 0
        while not stop.is_set():
            transport, conn = await loop.create_connection(_Connection, host, port)
            conn.transport = transport
            try:
                while not stop.is_set() and not conn.lost:
                    body = template.replace(b"@@LARGE@@", f"{nonce}-{number}-{sent}".encode())
                    status = await conn.send(post_request(f"{host}:{port}", path, body))
                    statuses[status] = statuses.get(status, 0) + 1
                    sent += 1
            except (ConnectionError, OSError):
                statuses[0] = statuses.get(0, 0) + 1
            finally:
                transport.close()

    await asyncio.gather(*(sender(number) for number in range(count)))
    return statuses


def run_with_large(
    url: str,
    paths: dict[str, str],
    bodies: dict[str, str],
    *,
    rate: float,
    duration_s: float,
    rounds: int,
    nonce: str,
    senders: int,
    large_bytes: int,
    large_path: str,
) -> dict[str, Any]:
    """The open loop alone, then again while ``senders`` connections POST ``large_bytes`` bodies back to back (to
    ``large_path``, a ``generic`` callback URL: its adapter reads any JSON), alternating for ``rounds`` rounds so
    that a slow spell of a shared machine does not fall on one side only; medians of the rounds."""
    host, port = url.removeprefix("http://").split(":")
    providers = sorted(paths)
    # Just under the limit, so each is read, parsed and stored.
    size = large_bytes - 4096

    def build_request(prefix: str) -> Callable[[int], bytes]:
        def build(index: int) -> bytes:
            provider = providers[index % len(providers)]
            body = bodies[provider].replace(TASK_ID_PLACEHOLDER, f"{nonce}{prefix}-{index}").encode()
            return post_request(f"{host}:{port}", paths[provider], body)

        return build

    async def main() -> dict[str, Any]:
        idle: list[dict[str, Any]] = []
        loaded: list[dict[str, Any]] = []
        statuses: dict[int, int] = {}
        for number in range(rounds):
            idle.append(await _run(host, int(port), build_request(f"i{number}"), rate, duration_s, 256))
            stop = asyncio.Event()
            large = asyncio.create_task(
                _large_senders(host, int(port), large_path, senders, size, f"{nonce}{number}", stop)
            )
            await asyncio.sleep(1.0)  # let the large senders get going
            loaded.append(await _run(host, int(port), build_request(f"l{number}"), rate, duration_s, 256))
            stop.set()
            for status, count in (await large).items():
                statuses[status] = statuses.get(status, 0) + count
        idle_p50, loaded_p50 = median([r["p50_ms"] for r in idle]), median([r["p50_ms"] for r in loaded])
        return {
            "senders": senders,
            "large_bytes": size,
            "rounds": rounds,
            "idle": idle,
            "loaded": loaded,
            "idle_p50_ms": idle_p50,
            "idle_p99_ms": median([r["p99_ms"] for r in idle]),
            "loaded_p50_ms": loaded_p50,
            "loaded_p99_ms": median([r["p99_ms"] for r in loaded]),
            "large_answered": sum(statuses.values()),
            "large_statuses": {str(code): count for code, count in sorted(statuses.items())},
            "p50_ratio": round(loaded_p50 / idle_p50, 2) if idle_p50 else None,
            "p50_ratios": [
                round(b["p50_ms"] / a["p50_ms"], 2) if a["p50_ms"] else None for a, b in zip(idle, loaded, strict=True)
            ],
        }

    runner: Callable[[Any], dict[str, Any]] = asyncio.run
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        pass
    return runner(main())
