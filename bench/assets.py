"""Assets: copies/s and the worker's RSS while it copies events' files, on the local backend and on an
S3-compatible server (moto's standalone server, a process on loopback).

Per run: a web process stores the callbacks (one output each, served by ``bench/filesource.py``), one ``relay
worker`` started afterwards copies them with the default limits (``RELAY_ASSETS_CONCURRENCY_PER_HOST=4``: every
file comes from one host here); copies/s counts from the copier's start to the last copy recorded on its event.
Everything written (the store, temporary files, moto's data) lives in a temporary directory removed afterwards.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import redis

from bench.delivery import relay_worker
from bench.harness import Options, SectionResult, available_stacks, uvicorn_server, web_env
from relay import ids
from relay.embedded import EmbeddedRedis
from relay.store import keys
from relay.tokens import CallbackTokens
from tests.assets.s3 import create_bucket, moto_server

NAME = "assets"
MB = 1024 * 1024
SMALL, LARGE = MB, 500 * MB


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


def _settled(client: redis.Redis, event_ids: list[str]) -> tuple[int, int]:
    """(events whose copy is settled, of which failed)."""
    with client.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            pipe.get(keys.event_assets(ids.partition_of(event_id) or 0, event_id))
        rows = pipe.execute()
    done = failed = 0
    for raw in rows:
        if raw:
            state = orjson.loads(raw)["outputs"][0]["state"]
            done += state != "pending"
            failed += state == "failed"
    return done, failed


def _copier_ready(client: redis.Redis) -> bool:
    # The copier's first step takes the retention sweep's lease: it is reading jobs from then on.
    return bool(client.exists(keys.asset_sweep()))


def _one(backend: str, label: str, count: int, size: int, tmp: Path, s3_url: str | None) -> dict[str, Any]:
    secret, admin = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    path = f"/hooks/generic/{CallbackTokens([secret]).issue('generic', None)}"
    stack = available_stacks()[-1]
    run_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=tmp))
    with (
        EmbeddedRedis(run_dir / "redis") as store,
        uvicorn_server("files", "bench.filesource:app", env={}, stack=stack) as files,
    ):
        client = redis.Redis.from_url(store.url)
        env = {**web_env(store.url, secret, admin), "RELAY_ASSETS": "on", "RELAY_DATA_DIR": str(run_dir / "data")}
        env["RELAY_ASSETS_MAX_BYTES"] = str(2 * 1024 * MB)
        if s3_url is not None:
            env.update(
                RELAY_ASSETS_URL=f"s3://bench/{count}x{size}",
                AWS_ENDPOINT=s3_url,
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_REGION="us-east-1",
            )
        with uvicorn_server("relay", "relay.app:create_app", env=env, stack=stack, factory=True) as web:

            def post(index: int) -> str:
                body = {"taskId": f"b-{index}", "status": "completed", "result": {"outputs": [
                    f"{files.url}/gen/{index}/{size}"]}}  # fmt: skip
                answer = http.post(f"{web.url}{path}", json=body)
                answer.raise_for_status()
                return str(answer.json()["event_id"])

            # Stored first, copied after: the copier's speed alone, not the web process's on the same cores. One
            # client for all (a client per request spends its time loading certificates: 13 posts/s).
            with ThreadPoolExecutor(16) as pool, httpx.Client(timeout=30) as http:
                event_ids = list(pool.map(post, range(count)))
        with relay_worker(env) as worker:
            deadline = time.monotonic() + 120
            while not _copier_ready(client):
                assert worker.poll() is None, f"worker exited with {worker.returncode}"
                assert time.monotonic() < deadline, "the worker's copier did not start within 120 s"
                time.sleep(0.05)
            started = time.monotonic()
            idle_rss = peak = _rss_mb(worker.pid)
            done = failed = 0
            limit = started + max(600.0, count * size / (2 * MB))
            while time.monotonic() < limit:
                peak = max(peak, _rss_mb(worker.pid))
                done, failed = _settled(client, event_ids)
                if done == count:
                    break
                time.sleep(0.1)
            elapsed = time.monotonic() - started
        client.close()
    return {
        "backend": backend,
        "run": label,
        "files": count,
        "bytes_each": size,
        "copied": done - failed,
        "failed": failed,
        "seconds": round(elapsed, 2),
        "copies_per_s": round(count / elapsed, 3),
        "mb_per_s": round(count * size / MB / elapsed, 1),
        "worker_rss_mb": {"idle": round(idle_rss, 1), "peak": round(peak, 1)},
    }


def run(options: Options) -> SectionResult:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-assets-") as raw_tmp:
        tmp = Path(raw_tmp)
        runs = [(f"{options.assets_small:,} x 1 MB", options.assets_small, SMALL),
                (f"{options.assets_large:,} x 500 MB", options.assets_large, LARGE)]  # fmt: skip
        for label, count, size in runs:
            rows.append(_one("local", label, count, size, tmp, None))
            print(f"bench: assets {rows[-1]}", file=sys.stderr, flush=True)
        with moto_server(tmp / "moto.log") as s3_url:
            create_bucket(s3_url, "bench")
            for label, count, size in runs:
                rows.append(_one("s3", label, count, size, tmp, s3_url))
                print(f"bench: assets {rows[-1]}", file=sys.stderr, flush=True)
    data: dict[str, Any] = {"runs": rows}
    return SectionResult(data=data, markdown=_markdown(rows))


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "**Assets**: one `relay worker` copying events' files from a loopback file server (4 at a time per host, "
        "the default), to the data dir or to moto's S3 server; copies/s from the copier's start to the last copy "
        "recorded on its event. RSS: the worker process alone (not moto, not the file server), sampled by psutil "
        "every 0.1 s.",
        "",
        "| backend | files | copies/s | MB/s | worker RSS idle / peak | failed |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        rss = row["worker_rss_mb"]
        lines.append(
            f"| {row['backend']} | {row['run']} | {row['copies_per_s']:.3g} | {row['mb_per_s']} | "
            f"{rss['idle']:.0f} / {rss['peak']:.0f} MB | {row['failed']} |"
        )
    lines.append("")
    for backend in dict.fromkeys(row["backend"] for row in rows):
        peaks = {row["bytes_each"]: row["worker_rss_mb"]["peak"] for row in rows if row["backend"] == backend}
        if SMALL in peaks and LARGE in peaks:
            lines.append(f"- {backend}: peak with 500 MB files {peaks[LARGE] - peaks[SMALL]:+.0f} MB over 1 MB files")
    return "\n".join(lines)
