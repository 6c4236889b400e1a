"""Per-task notifications: the task's terminal event, once, to its ``notify_url``, through the delivery worker.

A notification is an ordinary delivery (same claim, signing, retries, attempts and API) whose "subscription" is the
task itself: its id is :func:`notify_subscription_id`, and :class:`NotifyTargets` gives the dispatcher the task's
URL and ``whsec_`` secret in place of a subscription's. Which event is notified is decided once, in Redis, by the
script that closes the task (accept.lua marks the stream entry; task_settle.lua marks the task "pending" for the
caller to create it here).
"""

from __future__ import annotations

import orjson

from relay.store import keys
from relay.store.deliveries import DeliveryStore
from relay.store.store import Store
from relay.store.subscriptions import Subscription
from relay.store.tasks import TaskStore

NOTIFY_PREFIX = "task:"


def notify_subscription_id(provider: str, task_id: str) -> str:
    return NOTIFY_PREFIX + keys.task_digest(provider, task_id)[:32]


def is_notification(subscription_id: str) -> bool:
    return subscription_id.startswith(NOTIFY_PREFIX)


class NotifyTargets:
    """Resolves a notification delivery to its task's URL and secret (None when the task is gone)."""

    def __init__(self, tasks: TaskStore) -> None:
        self.tasks = tasks

    async def __call__(self, subscription_id: str, provider: str, task_id: str) -> Subscription | None:
        found = await self.tasks.notify_target(provider, task_id)
        if found is None:
            return None
        url, secret = found
        return Subscription(id=subscription_id, url=url, secret=secret, created_ms=0)


async def create_notification(
    store: Store,
    deliveries: DeliveryStore,
    tasks: TaskStore,
    *,
    provider: str,
    task_id: str,
    event_id: str,
    now_ms: int,
) -> str | None:
    """Create the pending notification of a task settled on ``event_id``, unless it exists already (a repeated
    settle after a crash); returns the delivery id created."""
    sub_id = notify_subscription_id(provider, task_id)
    existing = await deliveries.for_event(event_id)
    created: str | None = None
    if not any(delivery.subscription_id == sub_id for delivery in existing):
        rendered = await store.get_event(event_id)
        if rendered is None:
            return None
        event_type = orjson.loads(rendered).get("type")
        made = await deliveries.create(
            keys.partition_for(provider, task_id, store.partitions),
            event_id=event_id,
            provider=provider,
            event_type=event_type if isinstance(event_type, str) else "",
            task_id=task_id,
            subscription_ids=[sub_id],
            now_ms=now_ms,
        )
        created = made[0] if made else None
    await tasks.notify_created(provider, task_id)
    return created
