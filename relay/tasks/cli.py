"""``relay tasks``: register, list and show tracked tasks of a running relay (admin API)."""

from __future__ import annotations

import click

from relay.admin_client import SERVER_OPTION, call


@click.group(help="Track generations: the relay polls the provider when their callbacks are late (docs/tasks.md).")
def tasks() -> None:
    pass


@tasks.command("add", help="Track PROVIDER's task TASK_ID; prints its status (and notify secret).")
@click.argument("provider")
@click.argument("task_id")
@click.option("--service", default=None, help="The provider's API family, e.g. market, mj, suno (Kie).")
@click.option("--tag", default=None)
@click.option("--notify-url", default=None, help="Receives the task's terminal event once, signed.")
@click.option("--deadline", "deadline_s", type=float, default=None, help="Seconds before the relay starts polling.")
@SERVER_OPTION
def tasks_add(
    provider: str,
    task_id: str,
    service: str | None,
    tag: str | None,
    notify_url: str | None,
    deadline_s: float | None,
    server: str | None,
) -> None:
    body = {"provider": provider, "task_id": task_id, "service": service, "tag": tag, "notify_url": notify_url}
    if deadline_s is not None:
        body["deadline_s"] = deadline_s  # type: ignore[assignment]
    task = call(server, "POST", "/v1/tasks", json={k: v for k, v in body.items() if v is not None})
    click.echo(f"{task['provider']} {task['task_id']} {task['status']} deadline {task['deadline_at']}")
    if task.get("notify_secret"):
        click.echo(f"notify secret: {task['notify_secret']}")


@tasks.command("list", help="List tracked tasks, newest first.")
@click.option("--status", default=None, help="overdue, waiting, polling, succeeded, failed or timed_out.")
@SERVER_OPTION
def tasks_list(status: str | None, server: str | None) -> None:
    params = {"status": status} if status else {}
    for task in call(server, "GET", "/v1/tasks", params=params)["data"]:
        overdue = " overdue" if task["overdue"] else ""
        click.echo(f"{task['provider']} {task['task_id']} {task['status']}{overdue} polls={task['polls']}")


@tasks.command("show", help="Show a task and its events; --wait N waits up to N s for its result.")
@click.argument("provider")
@click.argument("task_id")
@click.option("--wait", "wait_s", type=click.IntRange(0, 60), default=0)
@SERVER_OPTION
def tasks_show(provider: str, task_id: str, wait_s: int, server: str | None) -> None:
    found = call(server, "GET", f"/v1/tasks/{provider}/{task_id}", params={"wait": wait_s} if wait_s else {})
    task = found["task"]
    if task is not None:
        click.echo(f"{task['provider']} {task['task_id']} {task['status']} polls={task['polls']}")
        if task["last_error"]:
            click.echo(f"last error: {task['last_error']}")
    for event in found["data"]:
        click.echo(f"{event['received_at']} {event['type']} {event.get('source', 'callback')} {event['id']}")
