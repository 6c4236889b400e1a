"""The relay's business actions, written once for the admin API, the dashboard and the CLI.

Routes and dashboard handlers read a request and render an answer; what an action does to the data (which
deliveries a replay creates, what enabling a subscription forgets, how a callback URL is made) lives here, so a
click in the dashboard does exactly what the matching API call does. Actions take the app's state (the stores,
settings and clock the lifespan built), raise :mod:`relay.errors` for the caller to render, and never render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from relay import ids
from relay.assets.service import Assets
from relay.config import Settings
from relay.errors import BadRequest, NotFound, UnknownProvider
from relay.events import meta_of
from relay.providers.base import Provider
from relay.store.channels import ROUTED_FIELDS, routed_entry
from relay.store.deliveries import Delivery, DeliveryStatus, DeliveryStore
from relay.store.store import Store
from relay.store.subscriptions import Subscription, SubscriptionStore
from relay.tokens import MAX_TAG_LENGTH, CallbackTokens

if TYPE_CHECKING:
    from relay.store.tunnels import TunnelStore

RECOVER_PAGE = 500


class Tunnels(Protocol):
    """The tunnel side of the app state (:class:`relay.tunnel.streams.TunnelHub`): its channels."""

    channels: TunnelStore


class AppState(Protocol):
    """What actions use of the app's state (``request.state``; see :class:`relay.app.State`)."""

    settings: Settings
    store: Store
    deliveries: DeliveryStore
    subscriptions: SubscriptionStore
    tokens: CallbackTokens
    providers: Mapping[str, Provider]
    clock: Callable[[], float]
    assets: Assets | None
    tunnels: Tunnels


def now_ms(state: AppState) -> int:
    return int(state.clock() * 1000)


def callback_url(public_url: str, provider: str, token: str) -> str:
    return f"{public_url}/hooks/{provider}/{token}"


def issue_callback_url(state: AppState, provider: object, tag: object) -> str:
    """A signed callback URL for ``provider``, its events carrying ``tag``; BadRequest/UnknownProvider if invalid."""
    if not isinstance(provider, str):
        raise BadRequest(f"provider must be a string, got {provider!r}")
    if provider not in state.providers:
        raise UnknownProvider(provider, list(state.providers))
    if tag is not None and (not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_LENGTH):
        raise BadRequest(f"tag must be a string of 1 to {MAX_TAG_LENGTH} characters")
    return callback_url(state.settings.public_url, provider, state.tokens.issue(provider, tag))


async def replay(state: AppState, event_id: str, wanted: str | None) -> list[Delivery]:
    """New deliveries of a stored event: to every enabled matching subscription, or to the one named."""
    event = await state.store.get_event(event_id)
    partition = ids.partition_of(event_id)
    if event is None or partition is None:
        raise NotFound(f"no event {event_id!r}")
    meta = meta_of(event)
    fields = {name: meta.get(name) or "" for name in ("provider", "type", "task_id", "tag")}
    if wanted is not None:
        sub = await state.subscriptions.get(wanted)
        if sub is None:
            raise NotFound(f"no subscription {wanted!r}")
        targets = [sub.id]
    else:
        subs = await state.subscriptions.all()
        targets = [s.id for s in subs if s.enabled and s.matches(fields["provider"], fields["type"], fields["tag"])]
    created = await state.deliveries.create(
        partition,
        event_id=event_id,
        provider=fields["provider"],
        event_type=fields["type"],
        task_id=fields["task_id"],
        subscription_ids=targets,
        now_ms=now_ms(state),
    )
    # No lease token: a replay is never refused (None only means a lost ingest lease).
    loaded = await state.deliveries.load(created or [], with_body=False)
    return [d for d in loaded if d is not None]


async def replay_to_channel(state: AppState, event_id: str, channel: str) -> str:
    """Put a stored event into a tunnel channel's buffer, whatever the channel's filter; its clients receive it as a
    routed event (signed anew in ``event`` mode, the provider's request in ``raw`` mode). Returns the entry id."""
    stored = await state.store.get_stored(event_id)
    if stored is None:
        raise NotFound(f"no event {event_id!r}")
    channels = state.tunnels.channels
    if await channels.get(channel) is None:
        raise NotFound("no such tunnel channel")  # the name is a credential: never echo it
    meta = meta_of(stored.meta)
    # As the router would have routed it (relay.tunnel.router).
    fields = {name: str(meta.get(name) or "") for name in ROUTED_FIELDS} | {"id": event_id}
    entry = routed_entry(fields, str(ids.ms_of(event_id, ids.EVENT_PREFIX)))
    entry_ids = await channels.append(channel, [entry], now_ms(state))
    return entry_ids[0]


async def retry(state: AppState, delivery_id: str) -> Delivery:
    """Send a delivery again now, whatever its status; NotFound for an unknown id."""
    if await state.deliveries.requeue(delivery_id, now_ms(state)) is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    found = await state.deliveries.get(delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    return found[0]


async def recover(state: AppState, subscription_id: str, since_ms: int) -> int:
    """Send again every delivery of the subscription that failed (failed or dead) since ``since_ms``; how many."""
    at_ms = now_ms(state)
    requeued = 0
    for status in (DeliveryStatus.DEAD, DeliveryStatus.FAILED):
        cursor: str | None = None
        while True:
            page, cursor = await state.deliveries.page(
                status=status, subscription_id=subscription_id, limit=RECOVER_PAGE, cursor=cursor
            )
            recent = [delivery for delivery in page if delivery.created_ms >= since_ms]
            for delivery in recent:
                if await state.deliveries.requeue(delivery.id, at_ms) is not None:
                    requeued += 1
            if cursor is None or len(recent) < len(page):
                break
    return requeued


async def get_subscription(state: AppState, subscription_id: str) -> Subscription:
    sub = await state.subscriptions.get(subscription_id)
    if sub is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return sub


def enabled_changes(sub: Subscription, enabled: bool, reason: str) -> dict[str, Any]:
    """The fields that change when a subscription is enabled or disabled by hand.

    Enabling forgets the failure streak that may have disabled it; disabling keeps an automatic reason.
    """
    if enabled:
        return {"enabled": True, "disabled_reason": "", "failing_since_ms": 0}
    return {"enabled": False, "disabled_reason": sub.disabled_reason or reason}


async def update_subscription(state: AppState, sub: Subscription, changes: Mapping[str, Any]) -> Subscription:
    try:
        return await state.subscriptions.save(replace(sub, **changes))
    except LookupError as exc:
        raise NotFound(f"no subscription {sub.id!r}") from exc


async def set_enabled(state: AppState, subscription_id: str, enabled: bool, reason: str) -> Subscription:
    sub = await get_subscription(state, subscription_id)
    return await update_subscription(state, sub, enabled_changes(sub, enabled, reason))


async def rotate_secret(state: AppState, subscription_id: str) -> Subscription:
    """A new signing secret; the previous one keeps signing for ``RELAY_SECRET_OVERLAP_S``."""
    rotated = await state.subscriptions.rotate_secret(subscription_id, now_ms(state), state.settings.secret_overlap_s)
    if rotated is None:
        raise NotFound(f"no subscription {subscription_id!r}")
    return rotated


async def retry_assets(state: AppState, event_id: str) -> dict[str, Any]:
    """Copy the event's failed files again (``RELAY_ASSETS``); returns its ``assets`` summary as it is now."""
    if state.assets is None:
        raise BadRequest("copying of events' files is off (RELAY_ASSETS)")
    return await state.assets.retry(event_id)
