"""What the rest of the relay uses of assets: rendering events with their copies, holding back the deliveries of
``wait_for_assets`` subscriptions, and retrying failed copies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import orjson

from relay import ids
from relay.assets import records
from relay.assets.backends import Backend
from relay.assets.links import Links
from relay.config import Settings
from relay.errors import BadRequest, NotFound
from relay.store.assets import AssetStore
from relay.store.store import RedisClient, StoredEvent


def copying(settings: Settings) -> bool:
    """Whether any provider's files are copied."""
    return settings.assets or any(settings.provider_assets.values())


class _Wait:
    def __repr__(self) -> str:
        return "WAIT"


WAIT: Final = _Wait()
""":meth:`Assets.delivery_body` says: not yet, the subscription waits for the copies."""


class Assets:
    """Copies of events' files, as the app, the worker and the routes see them.

    :param redis: the relay's client; not closed here.
    :param settings: ``RELAY_ASSETS*`` and the signing keys for links.
    :param clock: wall time in seconds (link expiry, the wait of ``wait_for_assets``).
    """

    def __init__(self, redis: RedisClient, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.backend = Backend(settings)
        self.store = AssetStore(redis, partitions=settings.partitions, event_ttl_s=settings.event_ttl_s)
        self.links = Links(
            self.backend,
            [str(key) for key in settings.secret_keys],
            settings.public_url,
            settings.assets_link_ttl_s,
            clock,
        )

    def render_meta(self, meta: bytes, raw: bytes | None) -> bytes:
        return records.render_meta(meta, raw, self.links.url)

    def applies(self, meta: dict[str, Any]) -> bool:
        return bool(meta.get("outputs")) and self.settings.assets_for(str(meta.get("provider")))

    async def delivery_body(self, event_id: str, wait: bool) -> bytes | _Wait | None:
        """The event as it goes out now, with what was copied so far; :data:`WAIT` while a waiting subscription's
        copies are still running (within ``RELAY_ASSETS_WAIT_S`` of the event's arrival); None when the event
        expired (the delivery's own copy of it goes out)."""
        stored = await self.store.load(event_id)
        if stored is None:
            return None
        waited_s = self.clock() - ids.ms_of(event_id, ids.EVENT_PREFIX) / 1000
        if wait and waited_s < self.settings.assets_wait_s and self._pending(stored):
            return WAIT
        return stored.render(self.render_meta)

    def _pending(self, stored: StoredEvent) -> bool:
        meta = orjson.loads(stored.meta)
        if not self.applies(meta):
            return False
        return records.status(records.parse(stored.assets, len(meta["outputs"]))) == records.PENDING

    async def states(self, event_id: str) -> list[dict[str, Any]] | None:
        """Each output with the state of its copy (the dashboard's view); None when the event does not exist."""
        stored = await self.store.load(event_id)
        if stored is None:
            return None
        meta = orjson.loads(stored.meta)
        outputs = meta.get("outputs") or []
        if not self.applies(meta) and stored.assets is None:
            return []
        states = records.parse(stored.assets, len(outputs))
        found = []
        for output, state in zip(outputs, states, strict=True):
            copied = state["state"] == records.COPIED
            found.append(
                {
                    "source": output.get("url"),
                    "state": state["state"],
                    "attempts": state.get("attempts", 0),
                    "error": state.get("error"),
                    "url": self.links.url(state["sha256"], state["content_type"]) if copied else None,
                    "sha256": state.get("sha256"),
                    "bytes": state.get("bytes"),
                    "content_type": state.get("content_type"),
                }
            )
        return found

    async def retry(self, event_id: str) -> dict[str, Any]:
        """Queue the event's failed copies again; returns the event's ``assets`` summary as it is now."""
        stored = await self.store.load(event_id)
        if stored is None:
            raise NotFound(f"no event {event_id!r}")
        meta = orjson.loads(stored.meta)
        if not meta.get("outputs"):
            raise BadRequest(f"event {event_id!r} has no outputs to copy")
        if not self.settings.assets_for(str(meta.get("provider"))):
            raise BadRequest(f"copying is off for provider {meta.get('provider')!r} (RELAY_ASSETS)")
        states = records.parse(stored.assets, len(meta["outputs"]))
        for state in states:
            if state["state"] == records.FAILED:
                state["state"] = records.PENDING
                state.pop("error", None)
        if not await self.store.save(event_id, records.dump(states)):
            raise NotFound(f"no event {event_id!r}")
        await self.store.queue_retry(event_id)
        return records.summary(states)
