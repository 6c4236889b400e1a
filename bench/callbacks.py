"""Provider callbacks POSTed to a relay, for the delivery and memory sections: as fast as possible (a backlog) or
at a fixed rate with each send's wall time kept (end-to-end latency is measured from it).

Both use the open-loop generator's hand-written keep-alive connection, so the load generator's own CPU stays small
next to the relay's on a shared machine.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bench.harness import TASK_ID_PLACEHOLDER
from bench.openloop import _Connection

T = TypeVar("T")


_PLACEHOLDER = re.compile(r"@@(UUID|NUM|MS|TOKEN)@@")


def fill_body(template: str, index: int, nonce: str, token: str) -> str:
    """A body from a template: the task id, and fresh random UUIDs and numbers for ``@@UUID@@``/``@@NUM@@`` (as a
    provider's result URLs and ids are), ``@@MS@@`` a time in ms, ``@@TOKEN@@`` the callback URL's token."""
    rng = random.Random(f"{nonce}-{index}")
    values = {
        "UUID": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "NUM": lambda: str(rng.randrange(10**6, 10**13)),
        "MS": lambda: str(1_764_000_000_000 + rng.randrange(10**9)),
        "TOKEN": lambda: token,
    }
    body = template.replace(TASK_ID_PLACEHOLDER, task_id(nonce, index))
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)](), body)


def _requests(url: str, paths: dict[str, str], bodies: dict[str, str], nonce: str) -> Callable[[int], bytes]:
    host_port = url.removeprefix("http://")
    providers = sorted(paths)

    def build(index: int) -> bytes:
        provider = providers[index % len(providers)]
        path = paths[provider]
        body = fill_body(bodies[provider], index, nonce, path.rsplit("/", 1)[-1]).encode()
        # The headers a provider's HTTP client typically sends, not just the minimum.
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host_port}\r\nUser-Agent: Go-http-client/2.0\r\n"
            f"Content-Type: application/json\r\nAccept-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    return build


def task_id(nonce: str, index: int) -> str:
    return f"{nonce}-{index}"


async def _connect(url: str) -> _Connection:
    host, port = url.removeprefix("http://").split(":")
    transport, conn = await asyncio.get_running_loop().create_connection(_Connection, host, int(port))
    conn.transport = transport
    return conn


def _run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop

        return uvloop.run(main)
    except ImportError:
        return asyncio.run(main)


def fill(
    url: str, paths: dict[str, str], bodies: dict[str, str], *, count: int, nonce: str, connections: int = 32
) -> dict[str, Any]:
    """POST ``count`` callbacks (distinct task ids) over ``connections`` keep-alive connections, closed loop."""
    build = _requests(url, paths, bodies, nonce)

    async def main() -> dict[str, Any]:
        statuses: dict[int, int] = {}
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            conn = await _connect(url)
            try:
                while next_index < count:
                    index, next_index = next_index, next_index + 1
                    status = await conn.send(build(index))
                    # A 503 (the store's deadline passed on a busy machine) is retried, as a provider would.
                    for _ in range(5):
                        if status != 503:
                            break
                        statuses[-503] = statuses.get(-503, 0) + 1
                        await asyncio.sleep(0.5)
                        status = await conn.send(build(index))
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                assert conn.transport is not None
                conn.transport.close()

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(connections):
                group.create_task(worker())
        elapsed = time.perf_counter() - started
        if set(statuses) - {200, -503}:
            raise RuntimeError(f"callbacks were refused: {statuses}")
        return {
            "requests": count,
            "elapsed_s": round(elapsed, 2),
            "rps": round(count / elapsed, 1),
            # -503: a 503 answered and retried (not counted again under 503).
            "statuses": {str(code): n for code, n in sorted(statuses.items())},
        }

    return _run(main())


def at_rate(
    url: str, paths: dict[str, str], bodies: dict[str, str], *, rate: float, count: int, nonce: str
) -> dict[str, float]:
    """POST ``count`` callbacks at ``rate``/s, each on a free connection; returns task id -> wall time it was sent.

    A callback is *received* by the relay when its request is written (loopback), so that is the time kept.
    """
    build = _requests(url, paths, bodies, nonce)

    async def main() -> dict[str, float]:
        idle: list[_Connection] = []
        sent: dict[str, float] = {}

        async def one(index: int) -> None:
            conn = idle.pop() if idle else await _connect(url)
            request = build(index)
            sent[task_id(nonce, index)] = time.time()
            status = await conn.send(request)
            if status != 200:
                raise RuntimeError(f"callback {index} answered {status}")
            idle.append(conn)

        start = time.perf_counter() + 0.05
        async with asyncio.TaskGroup() as group:
            for index in range(count):
                await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
                group.create_task(one(index))
        for conn in idle:
            assert conn.transport is not None
            conn.transport.close()
        return sent

    return _run(main())
