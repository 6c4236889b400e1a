"""moto's standalone server: an S3-compatible server speaking the real protocol over HTTP, in its own process on
a loopback port. Used by the tests and by the benchmark (``bench/assets.py``), like ``tests/servers.py``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import unused_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"}


@contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """Yields the endpoint URL; stops the server on exit. Runs in the log's directory: nothing lands in the repo."""
    port = unused_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=log,
            cwd=log_path.parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log_path.read_text()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_bucket(endpoint: str, bucket: str) -> None:
    answer = httpx.put(f"{endpoint}/{bucket}")
    answer.raise_for_status()


def object_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in the bucket (ListObjectsV2 over plain HTTP)."""
    import xml.etree.ElementTree as ET

    answer = httpx.get(f"{endpoint}/{bucket}", params={"list-type": "2"})
    answer.raise_for_status()
    root = ET.fromstring(answer.content)
    return sorted(node.text or "" for node in root.iter() if node.tag.endswith("}Key"))
