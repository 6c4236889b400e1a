"""The dashboard's Tasks pages: tracked tasks (overdue and polling first), and one task's timeline."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.dashboard.session import Session
from relay.dashboard.web import error_page, page, viewer
from relay.events import rfc3339
from relay.store.tasks import TaskRecord

LIST_SIZE = 200
# Tasks that need a look first: being polled, past their deadline without a way to poll, then still waiting.
_RANK = {"polling": 0, "overdue": 1, "waiting": 2}


def _rank(record: TaskRecord, now_ms: int) -> tuple[int, int]:
    if record.open:
        rank = _RANK.get(record.status, 2)
        if rank == 2 and record.overdue(now_ms):
            rank = 1
        return rank, record.deadline_ms
    return 3, -record.closed_ms


@viewer
async def tasks_page(request: Request, sess: Session) -> Response:
    service = request.state.tasks
    now_ms = int(request.state.clock() * 1000)
    records: list[TaskRecord] = await service.tasks.page(status=None, now_ms=now_ms, limit=LIST_SIZE, cursor=None)
    records.sort(key=lambda record: _rank(record, now_ms))
    context = {
        "tasks": [service.view(record) for record in records],
        "counts": await service.tasks.open_counts(now_ms),
        "nav": "tasks",
    }
    return page(request, "tasks.html", context, sess=sess)


@viewer
async def task_page(request: Request, sess: Session) -> Response:
    service = request.state.tasks
    provider, task_id = request.path_params["provider"], request.path_params["task_id"]
    record = await service.tasks.get(provider, task_id)
    events = await service.events(provider, task_id)
    if record is None and not events:
        return error_page(request, 404, "No such task", "It is not tracked, and no event names it.", sess)
    context = {
        "task": service.view(record) if record is not None else None,
        "provider": provider,
        "task_id": task_id,
        "timeline": timeline(record, events),
        "nav": "tasks",
    }
    return page(request, "task.html", context, sess=sess)


def timeline(record: TaskRecord | None, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Registration, every callback, poll result and terminal event, and the notification, in time order."""
    entries: list[dict[str, Any]] = []
    if record is not None:
        what = "registered" if record.origin == "registered" else "first heard of (progress callback)"
        entries.append({"at": rfc3339(record.created_ms / 1000), "kind": "registered", "text": what})
        entries.append({"at": rfc3339(record.deadline_ms / 1000), "kind": "deadline", "text": "deadline"})
    for event in events:
        source = event.get("source") or "callback"
        entries.append(
            {
                "at": event["received_at"],
                "kind": source,
                "text": f"{event['type']} ({source})",
                "event_id": event["id"],
                "status": event.get("status"),
            }
        )
    if record is not None and record.last_poll_ms:
        text = f"last of {record.polls} polls" + (f": {record.last_error}" if record.last_error else "")
        entries.append({"at": rfc3339(record.last_poll_ms / 1000), "kind": "poll", "text": text})
    return sorted(entries, key=lambda entry: str(entry["at"]))


ROUTES = [
    Route("/dashboard/tasks", tasks_page, methods=["GET"]),
    Route("/dashboard/tasks/{provider}/{task_id:path}", task_page, methods=["GET"]),
]
