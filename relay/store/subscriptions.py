"""Subscriptions: where events are delivered, which ones, and the secrets that sign them."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from redis.asyncio.client import Pipeline

from relay import ids
from relay.events import rfc3339
from relay.signing import new_secret
from relay.store import keys
from relay.store.store import RedisClient


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    secret: str
    created_ms: int
    description: str = ""
    providers: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    disabled_reason: str = ""
    previous_secret: str = ""
    previous_secret_until_ms: int = 0
    failing_since_ms: int = 0
    wait_for_assets: bool = False
    """Deliver once the event's files are copied (or ``RELAY_ASSETS_WAIT_S`` passed), not as soon as it is stored."""

    def matches(self, provider: str, event_type: str, tag: str) -> bool:
        """Empty filter lists match everything; a tag filter never matches an event without a tag."""
        return (
            (not self.providers or provider in self.providers)
            and (not self.types or event_type in self.types)
            and (not self.tags or tag in self.tags)
        )

    def signing_secrets(self, now_ms: int) -> list[str]:
        """Newest first; the previous secret signs too until its overlap window ends."""
        if self.previous_secret and now_ms < self.previous_secret_until_ms:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def public(self) -> dict[str, Any]:
        """The API view: everything except the secrets."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "filter": {"providers": list(self.providers), "types": list(self.types), "tags": list(self.tags)},
            "headers": self.headers,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason or None,
            "created_at": rfc3339(self.created_ms / 1000),
            "failing_since": rfc3339(self.failing_since_ms / 1000) if self.failing_since_ms else None,
            "wait_for_assets": self.wait_for_assets,
        }

    def to_hash(self) -> dict[str, str | int]:
        return {
            "id": self.id,
            "url": self.url,
            "secret": self.secret,
            "created_ms": self.created_ms,
            "description": self.description,
            "filter": orjson.dumps({"providers": self.providers, "types": self.types, "tags": self.tags}).decode(),
            "headers": orjson.dumps(self.headers).decode(),
            "enabled": int(self.enabled),
            "disabled_reason": self.disabled_reason,
            "previous_secret": self.previous_secret,
            "previous_secret_until_ms": self.previous_secret_until_ms,
            "failing_since_ms": self.failing_since_ms,
            "wait_for_assets": int(self.wait_for_assets),
        }

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> Subscription:
        text = {name.decode(): value.decode() for name, value in raw.items()}
        flt = orjson.loads(text["filter"])
        return cls(
            id=text["id"],
            url=text["url"],
            secret=text["secret"],
            created_ms=int(text["created_ms"]),
            description=text.get("description", ""),
            providers=tuple(flt.get("providers", ())),
            types=tuple(flt.get("types", ())),
            tags=tuple(flt.get("tags", ())),
            headers=orjson.loads(text.get("headers", "{}")),
            enabled=text.get("enabled", "1") == "1",
            disabled_reason=text.get("disabled_reason", ""),
            previous_secret=text.get("previous_secret", ""),
            previous_secret_until_ms=int(text.get("previous_secret_until_ms") or 0),
            failing_since_ms=int(text.get("failing_since_ms") or 0),
            wait_for_assets=text.get("wait_for_assets", "0") == "1",
        )


class SubscriptionStore:
    """Subscriptions in Redis (keys ``relay:{subs}:*``); the caller owns the client.

    Every write also rewrites the version key in the same transaction, so a reader that saw a version has seen
    every subscription write before it (see :class:`SubscriptionCache`).
    """

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def version(self) -> bytes | None:
        found: Any = await self.redis.get(keys.subscriptions_version())
        return found  # type: ignore[no-any-return]

    @staticmethod
    def _bump(pipe: Pipeline) -> None:
        # A random token, not a counter: after a FLUSHALL a counter would restart and could repeat a value.
        pipe.set(keys.subscriptions_version(), secrets.token_hex(8))

    async def create(self, sub: Subscription) -> Subscription:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.subscription(sub.id), mapping=sub.to_hash())  # type: ignore[arg-type]
            pipe.zadd(keys.subscriptions_index(), {sub.id: sub.created_ms})
            self._bump(pipe)
            await pipe.execute()
        return sub

    async def get(self, subscription_id: str) -> Subscription | None:
        raw: Any = await self.redis.hgetall(keys.subscription(subscription_id))
        return Subscription.from_hash(raw) if raw else None

    async def all(self) -> list[Subscription]:
        """All subscriptions, oldest first."""
        found: list[Any] = await self.redis.zrange(keys.subscriptions_index(), 0, -1)
        if not found:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for raw_id in found:
                pipe.hgetall(keys.subscription(raw_id.decode()))
            rows: list[Any] = await pipe.execute()
        return [Subscription.from_hash(row) for row in rows if row]

    async def save(self, sub: Subscription) -> Subscription:
        """Write back an edited subscription (PATCH); only if it still exists."""
        key = keys.subscription(sub.id)

        async def write(pipe: Pipeline) -> None:
            if not await pipe.exists(key):
                raise LookupError(sub.id)
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(key, mapping=sub.to_hash())  # type: ignore[arg-type]
            self._bump(pipe)

        # WATCH: a concurrent DELETE must not be undone by a PATCH that read the subscription before it.
        await self.redis.transaction(write, key)
        return sub

    async def delete(self, subscription_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.subscription(subscription_id))
            pipe.zrem(keys.subscriptions_index(), subscription_id)
            self._bump(pipe)
            deleted, _, _ = await pipe.execute()
        return bool(deleted)

    async def rotate_secret(self, subscription_id: str, now_ms: int, overlap_s: int) -> Subscription | None:
        key = keys.subscription(subscription_id)
        rotated: list[Subscription] = []

        async def rotate(pipe: Pipeline) -> None:
            raw: Any = await pipe.hgetall(key)
            if not raw:
                return
            current = Subscription.from_hash(raw)
            new = replace(
                current,
                secret=new_secret(),
                previous_secret=current.secret,
                previous_secret_until_ms=now_ms + overlap_s * 1000,
            )
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(
                key,
                mapping={
                    "secret": new.secret,
                    "previous_secret": new.previous_secret,
                    "previous_secret_until_ms": new.previous_secret_until_ms,
                },
            )
            self._bump(pipe)
            rotated.append(new)

        # WATCH: two rotations at once must not both demote the same secret and lose one of the new ones.
        await self.redis.transaction(rotate, key)
        return rotated[-1] if rotated else None

    async def record_result(self, subscription_id: str, succeeded: bool, now_ms: int, disable_after_s: int) -> bool:
        """Track continuous failure; disables the subscription once it has failed for ``disable_after_s``.

        Returns True when this call disabled it.
        """
        key = keys.subscription(subscription_id)
        since_raw: Any = await self.redis.hget(key, "failing_since_ms")
        since = int(since_raw or 0)
        if succeeded:
            if since:
                await self._update(subscription_id, {"failing_since_ms": 0})
            return False
        if since == 0:
            await self._update(subscription_id, {"failing_since_ms": now_ms})
            return False
        if now_ms - since >= disable_after_s * 1000:
            return await self.disable(subscription_id, f"failing continuously since {rfc3339(since / 1000)}")
        return False

    async def disable(self, subscription_id: str, reason: str) -> bool:
        return await self._update(subscription_id, {"enabled": 0, "disabled_reason": reason})

    async def _update(self, subscription_id: str, mapping: dict[str, str | int]) -> bool:
        key = keys.subscription(subscription_id)
        updated: list[bool] = []

        async def write(pipe: Pipeline) -> None:
            # WATCH: writing fields into a subscription deleted meanwhile would leave a half hash behind.
            if await pipe.exists(key):
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
                self._bump(pipe)
                updated.append(True)

        await self.redis.transaction(write, key)
        return bool(updated)


class SubscriptionCache:
    """A worker's copy of every subscription, so that a delivery costs no subscription lookup in Redis.

    :meth:`refresh` reads the version key (one GET) and reloads everything only when it changed; the worker calls
    it once per batch, so what it acts on is as fresh as a per-delivery read at the start of that batch.
    """

    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store
        self.by_id: dict[str, Subscription] = {}
        self.enabled: list[Subscription] = []
        self._version: bytes | None = None
        self._loaded = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            version = await self.store.version()
            if self._loaded and version == self._version:
                return
            # Version first, data second: a write in between makes the next refresh reload again, never miss one.
            subs = await self.store.all()
            self.by_id = {sub.id: sub for sub in subs}
            self.enabled = [sub for sub in subs if sub.enabled]
            self._version, self._loaded = version, True

    def get(self, subscription_id: str) -> Subscription | None:
        return self.by_id.get(subscription_id)


def new_subscription(url: str, now_ms: int, **fields: Any) -> Subscription:
    return Subscription(id=ids.new_subscription_id(now_ms), url=url, secret=new_secret(), created_ms=now_ms, **fields)
