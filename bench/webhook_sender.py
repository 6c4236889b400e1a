"""Send the tunnel section's webhooks from a process of their own, so the sender's CPU is not the bench's.

``python -m bench.webhook_sender URL PREFIX RATE COUNT CONNECTIONS`` POSTs ``COUNT`` bodies of 1 KiB, each carrying its
id ``PREFIX-nnnnn``, to ``URL`` with :func:`bench.openloop.offer`: at ``RATE`` per second (open loop), or with
``RATE`` ``inf`` as ``CONNECTIONS`` senders back to back. It prints ``{"sent": {id: time}}`` for the webhooks answered
200: the scheduled time at a fixed rate (no coordinated omission), else when the request was written.
``time.perf_counter`` is the system-wide monotonic clock on Linux, so the times compare with the target's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.openloop import offer, post_request

BODY_BYTES = 1024


def body(event_id: str) -> bytes:
    head = orjson.dumps({"id": event_id, "pad": ""})
    return head[:-2] + b"x" * max(BODY_BYTES - len(head), 0) + b'"}'


def send(url: str, prefix: str, rate: float, count: int, connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    origin = f"http://{parts.hostname}:{parts.port}"

    def request(index: int) -> bytes:
        return post_request(parts.netloc, parts.path, body(f"{prefix}-{index:05}"))

    sent: dict[str, float] = {}

    def done(index: int, scheduled: float, written: float, status: int) -> None:
        if status == 200:  # anything else the relay did not take: not the tunnel's to deliver
            sent[f"{prefix}-{index:05}"] = written if rate == float("inf") else scheduled

    offer(origin, request, rate=rate, count=count, max_connections=connections, on_done=done)
    return sent


if __name__ == "__main__":
    url, prefix, rate, count, connections, result = sys.argv[1:7]
    found = send(url, prefix, float(rate), int(count), int(connections))
    Path(result).write_bytes(orjson.dumps({"sent": found}))
