"""Rate limits per callback token and per client address: 429 + Retry-After, buckets with TTLs, fail open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from relay.config import Settings
from relay.embedded import EmbeddedRedis
from tests.conftest import ADMIN, app_client, callback_path

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def redis_keys(redis_url: str, pattern: str) -> dict[bytes, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {key: client.pttl(key) for key in client.keys(pattern)}
    finally:
        client.close()


async def test_token_bucket_refuses_with_429_and_retry_after_then_refills(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    clock = Clock()
    settings = make_settings(rate_token_per_s="0.5", rate_token_burst="3")
    async with app_client(settings, clock=clock) as client:
        path = await callback_path(client, "generic")
        answers = [await client.post(path, json={"taskId": f"t{i}", "status": "done"}) for i in range(4)]
        clock.now += 1.9
        still = await client.post(path, json={"taskId": "t4", "status": "done"})
        clock.now += 0.2
        refilled = await client.post(path, json={"taskId": "t4", "status": "done"})
        stored = (await client.get("/v1/events", headers=ADMIN)).json()["data"]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[3]
    assert refused.headers["retry-after"] == "2"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert still.status_code == 429 and still.headers["retry-after"] == "1"
    assert refilled.status_code == 200
    assert sorted(event["task_id"] for event in stored) == ["t0", "t1", "t2", "t4"]  # t3 was never stored
    buckets = redis_keys(redis_url, "relay:rl:*")
    assert len(buckets) == 2  # one token, one address
    ttls = {key.split(b":")[2]: ttl for key, ttl in buckets.items()}
    assert 0 < ttls[b"token"] <= 7_000  # 3 / 0.5 s to refill, + 1 s
    assert 0 < ttls[b"addr"] <= 21_000  # the defaults: 40,000 / 2,000 per s, + 1 s


async def test_address_bucket_spans_tokens_and_forwarded_clients_get_their_own(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_address_per_s="0.001", rate_address_burst="2", trusted_proxies="127.0.0.1")
    async with app_client(settings, clock=Clock()) as client:
        paths = [await callback_path(client, "generic") for _ in range(3)]
        direct = [await client.post(path, json={"taskId": path[-6:], "status": "done"}) for path in paths]
        forwarded = await client.post(
            paths[0], json={"taskId": "f", "status": "done"}, headers={"x-forwarded-for": "203.0.113.5"}
        )

    assert [r.status_code for r in direct] == [200, 200, 429]
    assert "client address" in direct[2].json()["error"]["message"]
    assert forwarded.status_code == 200


async def test_defaults_never_refuse_a_provider_burst_with_retries(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "kie")
    bodies = [{"code": 200, "data": {"taskId": f"k{i % 100}"}} for i in range(300)]  # 100 tasks, each sent 3 times

    statuses = [(await client.post(path, json=body)).status_code for body in bodies]

    assert statuses == [200] * 300


async def test_redis_down_is_503_never_429_or_500(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    settings = make_settings(redis_url=server.start(), rate_token_per_s="0.001", rate_token_burst="1")
    answers: list[Any] = []
    try:
        async with app_client(settings) as client:
            path = await callback_path(client, "generic")
            answers.append(await client.post(path, json={"taskId": "a", "status": "done"}))
            server.stop()
            started = time.monotonic()
            for task in ("b", "c", "d"):
                answers.append(await client.post(path, json={"taskId": task, "status": "done"}))
            elapsed = time.monotonic() - started
    finally:
        server.stop()

    assert [a.status_code for a in answers] == [200, 503, 503, 503]
    assert {a.json()["error"]["code"] for a in answers[1:]} == {"store_unavailable"}
    assert elapsed < 6


async def test_processes_share_a_bucket_through_redis_and_a_refusal_asks_redis(redis_url: str) -> None:
    import redis.asyncio

    from relay.errors import RateLimited
    from relay.store.ratelimit import Bucket, RateLimiter

    client = redis.asyncio.Redis.from_url(redis_url)
    bucket = Bucket(per_s=0.001, burst=5)
    first, second = (RateLimiter(client, token=bucket, address=bucket, sync_s=3600) for _ in range(2))
    now_ms = 1_700_000_000_000
    try:
        for _ in range(3):
            await first.check("tok", None, now_ms)
        await first.sync()
        # The second process has never seen the bucket: Redis says 2 are left.
        await second.check("tok", None, now_ms)
        await second.check("tok", None, now_ms)
        with pytest.raises(RateLimited):
            await second.check("tok", None, now_ms)
        # The first's copy is stale until its next sync: it lets its 2 local tokens through (the overshoot within
        # one sync interval), then asks Redis, which refuses.
        await first.check("tok", None, now_ms)
        await first.check("tok", None, now_ms)
        with pytest.raises(RateLimited):
            await first.check("tok", None, now_ms)
    finally:
        await first.aclose()
        await second.aclose()
        await client.aclose()


async def test_a_tunnel_channels_bucket_is_shared_through_its_own_key(redis_url: str) -> None:
    import redis.asyncio

    from relay.errors import RateLimited
    from relay.store import keys
    from relay.store.ratelimit import Bucket, RateLimiter

    client = redis.asyncio.Redis.from_url(redis_url)
    off, channel = Bucket(0, 0), Bucket(per_s=0.001, burst=3)
    first, second = (RateLimiter(client, token=off, address=off, channel=channel, sync_s=3600) for _ in range(2))
    now_ms = 1_700_000_000_000
    try:
        await first.check_channel("chan-a", now_ms)
        await first.check_channel("chan-a", now_ms)
        await first.sync()
        stored = await client.exists(keys.rate_tunnel("chan-a"))
        await second.check_channel("chan-a", now_ms)  # Redis says 1 is left
        with pytest.raises(RateLimited) as refused:
            await second.check_channel("chan-a", now_ms)
        await second.check_channel("chan-b", now_ms)  # another channel, another bucket
    finally:
        await first.aclose()
        await second.aclose()
        await client.aclose()

    assert stored == 1
    assert refused.value.scope == "tunnel channel"


async def test_default_limits_take_a_provider_batch(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    # Issue 13, item 7: 2,000 callbacks finished at once on one callback URL, from one provider address, with the
    # default limits: every one is stored (midjourney-proxy never retries a 429).
    async with client_factory() as client:
        path = await callback_path(client, "generic")

        async def send(n: int) -> int:
            response = await client.post(path, json={"taskId": f"batch-{n}", "status": "completed"})
            return response.status_code

        codes: list[int] = []
        for start in range(0, 2_000, 100):
            codes += await asyncio.gather(*(send(n) for n in range(start, start + 100)))

    assert codes.count(200) == 2_000, sorted(set(codes))
