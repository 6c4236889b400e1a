"""A real Redis Cluster for tests: three masters from the embedded mode's ``redis-server`` binary, on loopback."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from relay.embedded import redis_server_binary

SLOTS = 16384
BUS_OFFSET = 10000  # a node also listens on its port + 10000 (the cluster bus), so ports must stay below 55536


def cluster_port() -> int:
    """A port free on loopback whose cluster-bus port is free too."""
    for _ in range(100):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + BUS_OFFSET):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _start_node(directory: Path, port: int) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True)
    args = [
        str(redis_server_binary()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "2000",
        "--appendonly", "yes",
        "--save", "",
        "--daemonize", "no",
        "--logfile", "redis.log",
    ]  # fmt: skip
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(predicate: object, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis cluster: timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def redis_cluster(directory: Path, masters: int = 3) -> Iterator[str]:
    """Start ``masters`` nodes, split the slots between them, join them; yields a ``redis+cluster://`` URL."""
    ports = [cluster_port() for _ in range(masters)]
    with ExitStack() as stack:
        clients = []
        for n, port in enumerate(ports):
            process = _start_node(directory / f"node{n}", port)
            stack.callback(_stop, process)
            client = redis.Redis(port=port, socket_timeout=2)
            stack.callback(client.close)
            clients.append(client)
        for client in clients:
            _wait(client.ping, "a node to answer")
        per_node = SLOTS // masters
        for n, client in enumerate(clients):
            end = SLOTS if n == masters - 1 else (n + 1) * per_node
            client.execute_command("CLUSTER", "ADDSLOTS", *range(n * per_node, end))
        # Every node meets every other: faster than waiting for gossip to spread the news.
        for client in clients:
            for port in ports:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        for client in clients:
            _wait(lambda c=client: _covers_all(c, masters), "every node to see every slot")
        yield f"redis+cluster://127.0.0.1:{ports[0]}"


def _covers_all(client: redis.Redis, masters: int) -> bool:
    info = client.execute_command("CLUSTER", "INFO").decode()
    if "cluster_state:ok" not in info:
        return False
    ranges = client.execute_command("CLUSTER", "SLOTS")
    return sum(int(end) - int(start) + 1 for start, end, *_ in ranges) == SLOTS and len(ranges) >= masters


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
