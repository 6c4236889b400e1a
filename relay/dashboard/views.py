"""The context each page and live fragment is rendered from: one function per view, shared by pages and streams."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from relay.dashboard import chart
from relay.dashboard.tunnels import TunnelInfo
from relay.events import EVENT_TYPES
from relay.store import reports
from relay.store.deliveries import Delivery, DeliveryStatus
from relay.store.store import EventFilter
from relay.store.subscriptions import Subscription

PAGE_SIZE = 50
FILTERS = ("provider", "type", "task_id", "tag")


def event_filter(request: Request) -> tuple[EventFilter, dict[str, str]]:
    """The list filters from the query string (blank means any), and their values for the form."""
    values = {name: request.query_params.get(name, "").strip()[:200] for name in FILTERS}
    flt = EventFilter(**{name: value or None for name, value in values.items()})
    return flt, values


async def rows_context(request: Request, flt: EventFilter) -> dict[str, Any]:
    state = request.state
    rows = await reports.recent_events(state.store, flt, PAGE_SIZE)
    return {"rows": rows}


async def charts_context(request: Request) -> dict[str, Any]:
    state = request.state
    now_ms = int(state.clock() * 1000)
    found = await reports.activity(state.store, now_ms)
    colors = chart.provider_colors(sorted(set(state.providers) | set(found.callbacks)))
    return {
        "charts": [
            chart.stacked("Callbacks per minute", found.callbacks, colors),
            chart.stacked("Deliveries per minute", found.deliveries, chart.STATUS_COLORS, order=chart.STATUS_ORDER),
        ],
        "charts_truncated": found.truncated,
    }


def filter_options(request: Request) -> dict[str, Any]:
    return {"providers": sorted(request.state.providers), "event_types": EVENT_TYPES}


async def deliveries_context(request: Request, event_id: str) -> dict[str, Any]:
    """Every delivery of the event with all its attempts, and the subscriptions (for names and replay)."""
    state = request.state
    found: list[Delivery] = await state.deliveries.for_event(event_id)
    details = []
    for delivery in found:
        loaded = await state.deliveries.get(delivery.id)
        if loaded is not None:
            details.append({"delivery": loaded[0], "attempts": loaded[1]})
    subscriptions: list[Subscription] = await state.subscriptions.all()
    return {
        "deliveries": details,
        "subscriptions": subscriptions,
        "subscription_urls": {sub.id: sub.url for sub in subscriptions},
        "event_id": event_id,
        "live": any(d["delivery"].status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED) for d in details),
    }


def event_json(event: dict[str, Any]) -> str:
    """The normalized event as the API returns it (without ``raw``, shown apart), indented."""
    return orjson.dumps({k: v for k, v in event.items() if k != "raw"}, option=orjson.OPT_INDENT_2).decode()


async def subscriptions_context(request: Request) -> dict[str, Any]:
    subs: list[Subscription] = await request.state.subscriptions.all()
    health = await reports.subscription_health(request.state.store)
    return {"subscriptions": subs, "health": health, "window": reports.HEALTH_WINDOW, "nav": "subscriptions"}


async def tunnels_context(request: Request) -> dict[str, Any]:
    """Every channel with the clients connected to this process."""
    hub = request.state.tunnels
    tunnels = [
        TunnelInfo(
            channel=c.name,
            mode=c.mode,
            created_ms=c.created_ms,
            clients=hub.connected[c.name],
            filter=c.filter.to_dict(),
        )
        for c in await hub.channels.all()
    ]
    return {"tunnels": tunnels, "nav": "tunnels"}
