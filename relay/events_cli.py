"""``relay events``: did my callback arrive? The running relay's received events, oldest first, then new ones.

It reads ``GET /v1/events`` (newest first, paged) with the admin token. ``--follow`` polls it: an event is new when
its id has not been printed and it arrived no more than ``LATE_S`` before the newest one seen (ids sort by time,
and events from several web processes may land slightly out of order).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from typing import Any

import click

from relay.admin_client import SERVER_OPTION, call, server_url
from relay.names import EVENT_TYPES, PROVIDER_NAMES

PAGE = 100
MAX_PAGES = 20  # per poll: 2,000 events in one interval are printed, older ones are not looked for
LATE_S = 30.0
SEEN_MAX = 20_000


def line(event: dict[str, Any]) -> str:
    """One event in one line: time, id, provider, type, task, status/progress, tag, outputs or error."""
    parts = [event["received_at"], event["id"], event["provider"], event["type"]]
    if event.get("task_id") is not None:
        parts.append(f"task={event['task_id']}")
    if event.get("progress") is not None and event["type"] == "task.progress":
        parts.append(f"progress={event['progress']}")
    if event.get("tag") is not None:
        parts.append(f"tag={event['tag']}")
    if event.get("outputs"):
        parts.append(" ".join(output["url"] for output in event["outputs"]))
    if event.get("error"):
        parts.append(f"error={event['error'].get('message') or event['error'].get('code')}")
    return "  ".join(str(part) for part in parts)


def fetch(server: str | None, query: dict[str, str], limit: int, cursor: str | None = None) -> dict[str, Any]:
    params = {**query, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
    page: dict[str, Any] = call(server, "GET", "/v1/events", params=params)
    return page


def epoch_s(received_at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(received_at.replace("Z", "+00:00")).timestamp()


class Follower:
    """Remembers what was printed and finds what is new in the newest pages."""

    def __init__(self) -> None:
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.newest_s: float | None = None

    def remember(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.seen[event["id"]] = None
            at = epoch_s(event["received_at"])
            self.newest_s = at if self.newest_s is None else max(self.newest_s, at)
        while len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)

    def is_new(self, event: dict[str, Any]) -> bool:
        if event["id"] in self.seen:
            return False
        return self.newest_s is None or epoch_s(event["received_at"]) >= self.newest_s - LATE_S

    def poll(self, server: str | None, query: dict[str, str]) -> list[dict[str, Any]]:
        """The new events, oldest first; pages back while a whole page is new."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = fetch(server, query, PAGE, cursor)
            fresh = [event for event in page["data"] if self.is_new(event)]
            found.extend(fresh)
            cursor = page.get("next_cursor")
            if cursor is None or len(fresh) < len(page["data"]):
                break
        found.reverse()
        self.remember(found)
        return found


@click.command("events", help="List the events a running relay received, oldest first; --follow prints new ones.")
@click.option("--provider", type=click.Choice(PROVIDER_NAMES), default=None, help="Only this provider's events.")
@click.option("--type", "event_type", type=click.Choice(EVENT_TYPES), default=None, help="Only this event type.")
@click.option("--task-id", default=None, help="Only this provider task id.")
@click.option("--tag", default=None, help="Only events of callback URLs with this tag.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="How many to list first.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive (Ctrl-C stops).")
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="Seconds per poll.")
@click.option("--json", "as_json", is_flag=True, help="Print each event as one JSON line.")
@SERVER_OPTION
def events(
    provider: str | None,
    event_type: str | None,
    task_id: str | None,
    tag: str | None,
    limit: int,
    follow: bool,
    interval: float,
    as_json: bool,
    server: str | None,
) -> None:
    import httpx

    query = {
        name: value
        for name, value in (("provider", provider), ("type", event_type), ("task_id", task_id), ("tag", tag))
        if value
    }

    def show(found: list[dict[str, Any]]) -> None:
        for event in found:
            click.echo(json.dumps(event, separators=(",", ":")) if as_json else line(event))

    # The first poll's whole page counts as already there, so following never re-prints older events as new.
    first = fetch(server, query, max(limit, PAGE))["data"]
    follower = Follower()
    follower.remember(first)
    show(list(reversed(first[:limit])))
    if not first and not follow:
        click.echo(f"no events yet at {server_url(server)}{' matching the filter' if query else ''}", err=True)
    if not follow:
        return
    failing = False
    try:
        while True:
            time.sleep(interval)
            try:
                show(follower.poll(server, query))
            except click.ClickException as exc:
                # A relay restarting (local development) is waited for; anything else ends the command.
                if not isinstance(exc.__cause__, httpx.TransportError):
                    raise
                if not failing:
                    click.echo(f"relay events: {exc.message}; retrying", err=True)
                failing = True
            else:
                failing = False
    except KeyboardInterrupt:
        pass
