"""Body limits, body and header deadlines, and slow clients, against real uvicorn servers and raw sockets."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from relay.app import create_app
from relay.config import Settings
from relay.httpserver import header_timeout_protocol
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, callback_path
from tests.servers import relay_process, run_server


@pytest.mark.anyio
async def test_per_provider_limit_with_content_length_and_chunked(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
    make_settings: Callable[..., Settings],
) -> None:
    body = json.dumps({"taskId": "t", "status": "done", "pad": "x" * 200}).encode()

    async def chunked() -> object:
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    async with client_factory(make_settings(kie_max_body_bytes="100", max_body_bytes="1000")) as client:
        kie, generic = await callback_path(client, "kie"), await callback_path(client, "generic")
        declared = await client.post(kie, content=body)
        streamed = await client.post(kie, content=chunked())
        other = await client.post(generic, content=chunked())

    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["error"] == {
        "code": "payload_too_large",
        "message": "request body exceeds the limit of 100 bytes",
    }
    assert other.status_code == 200


@contextmanager
def live(make_settings: Callable[..., Settings], header_timeout_s: float | None = None, **env: str) -> Iterator[str]:
    options: dict[str, object] = {"proxy_headers": False}
    if header_timeout_s is not None:
        options["http"] = header_timeout_protocol(header_timeout_s)
    with run_server(create_app(make_settings(**env)), **options) as url:
        yield url


def issue(url: str, provider: str = "generic") -> str:
    issued = httpx.post(f"{url}/v1/callback-urls", json={"provider": provider}, headers=ADMIN).json()["url"]
    return str(httpx.URL(issued).path)


def connect(url: str) -> socket.socket:
    host, port = httpx.URL(url).host, httpx.URL(url).port
    sock = socket.create_connection((host, port), timeout=5)
    return sock


def read_response(sock: socket.socket, timeout_s: float = 5) -> tuple[int, bytes]:
    """Status and everything the server sent until it closed (every refusal here closes the connection)."""
    sock.settimeout(timeout_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data


def test_declared_huge_body_is_refused_before_any_byte_of_it(make_settings: Callable[..., Settings]) -> None:
    with live(make_settings) as url:
        path = issue(url)
        with connect(url) as sock:
            started = time.perf_counter()
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {2**40}\r\n\r\n".encode())
            status, head = read_response(sock)
            elapsed = time.perf_counter() - started

    assert status == 413
    assert elapsed < 0.5, f"413 took {elapsed:.3f} s"


def test_chunked_flood_is_cut_off_near_the_limit(make_settings: Callable[..., Settings]) -> None:
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with live(make_settings, max_body_bytes="262144") as url:
        path = issue(url)
        with connect(url) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
            sent, refused_at, started = 0, None, time.perf_counter()
            try:
                while sent < 256 * 2**20:  # the attacker would send 256 MiB
                    if select.select([sock], [], [], 0)[0]:
                        refused_at = sent
                        break
                    sock.sendall(frame)
                    sent += len(chunk)
            except OSError:  # reset: the server answered and closed while we were still sending
                refused_at = sent
            status, _ = read_response(sock) if refused_at is not None else (0, b"")
            elapsed = time.perf_counter() - started

    assert refused_at is not None and refused_at < 16 * 2**20, f"server took {sent} bytes"
    assert status in (413, 0)  # 0: the reset raced the read; the server still answered before closing
    assert elapsed < 2


def test_memory_does_not_grow_with_the_attackers_size(tmp_path: Path, redis_url: str) -> None:
    environ = {
        "REDIS_URL": redis_url,
        "RELAY_SECRET_KEY": SECRET_KEY,
        "RELAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_LOG_LEVEL": "warning",
    }
    chunk = b"y" * 262144
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with relay_process(environ, tmp_path / "relay.log") as (url, pid):
        path = issue(url)
        before = peak_rss_kib(pid)
        for _ in range(4):
            with connect(url) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
                try:
                    for _ in range(256):  # 64 MiB each
                        sock.sendall(frame)
                except OSError:
                    pass
        after = peak_rss_kib(pid)

    assert after - before < 16 * 1024, f"peak RSS grew {after - before} KiB"


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_trickling_body_gets_408_after_the_body_deadline(make_settings: Callable[..., Settings]) -> None:
    with live(make_settings, body_timeout_s="0.3") as url:
        path = issue(url)
        with connect(url) as sock:
            started = time.perf_counter()
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode())
            status, head = 0, b""
            for _ in range(20):  # one byte every 0.1 s would take 100 s
                if select.select([sock], [], [], 0.1)[0]:
                    status, head = read_response(sock)
                    break
                sock.sendall(b" ")
            elapsed = time.perf_counter() - started

    assert status == 408
    assert json.loads(head.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert 0.3 <= elapsed < 1.0


def slow_clients(url: str, path: str, heads: int, bodies: int, refused: int = 0) -> list[socket.socket]:
    socks = []
    for _ in range(refused):  # answered 401 at once, then they keep sending a body nobody reads
        sock = connect(url)
        sock.sendall(b"POST /hooks/generic/forged HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        socks.append(sock)
    for _ in range(heads):
        sock = connect(url)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
        socks.append(sock)
    for _ in range(bodies):
        sock = connect(url)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode())
        socks.append(sock)
    return socks


def trickle(socks: list[socket.socket], url: str, path: str, seconds: float) -> tuple[set[int], list[float]]:
    """Send a byte on every slow socket each 0.1 s and a normal callback in between; returns which slow sockets
    the server closed, and the normal requests' latencies."""
    closed: set[int] = set()
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=5) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for index, sock in enumerate(socks):
                if index in closed:
                    continue
                try:
                    if select.select([sock], [], [], 0)[0] and not sock.recv(65536):
                        closed.add(index)  # EOF: the server let go (after a 408 or 401, which are read first)
                        continue
                    sock.sendall(b"a")
                except OSError:
                    closed.add(index)
            started = time.perf_counter()
            response = client.post(path, json={"taskId": f"n{len(latencies)}", "status": "done"})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            time.sleep(0.1)
    return closed, latencies


def test_slowloris_does_not_starve_others_and_is_cut_off(make_settings: Callable[..., Settings]) -> None:
    with live(make_settings, header_timeout_s=0.5, body_timeout_s="0.5") as url:
        path = issue(url)
        socks = slow_clients(url, path, heads=40, bodies=20, refused=10)
        try:
            closed, latencies = trickle(socks, url, path, seconds=1.2)
        finally:
            for sock in socks:
                sock.close()

    assert len(closed) == 70, f"{70 - len(closed)} slow clients still connected"
    assert max(latencies) < 0.5, f"normal requests took up to {max(latencies):.3f} s"


def test_without_the_head_deadline_uvicorn_keeps_header_tricklers(make_settings: Callable[..., Settings]) -> None:
    with live(make_settings) as url:
        path = issue(url)
        socks = slow_clients(url, path, heads=5, bodies=0, refused=5)
        try:
            closed, _ = trickle(socks, url, path, seconds=0.8)
        finally:
            for sock in socks:
                sock.close()

    assert closed == set()  # why relay serve installs header_timeout_protocol
