"""A callback with a valid token is always stored and acknowledged, whatever its JSON holds (issue 13, item 1).

Lone UTF-16 surrogates (a provider cutting an emoji), integers of hundreds of digits, NaN/Infinity, nesting past
any parser's limit and non-UTF-8 bytes: never a 500; what no adapter can read becomes ``callback.unrecognized``;
the body reads back byte for byte, through the API and on the dashboard's event page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from relay.config import Settings
from relay.providers import PROVIDER_NAMES
from tests.conftest import ADMIN, callback_path
from tests.dashboard.conftest import log_in

pytestmark = pytest.mark.anyio

CUT = "\ud83d"  # the first half of an emoji's UTF-16 pair, alone
HUGE = int("9" * 400)


def every_id(task_id: Any, **rest: Any) -> dict[str, Any]:
    """A body in which every adapter finds a task id (each looks in its provider's own place)."""
    ids = {"id": task_id, "taskId": task_id, "task_id": task_id, "jobId": task_id}
    return {**ids, **rest, "data": {"taskId": task_id, "task_id": task_id, **rest.pop("data", {})}}


def dumps(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud83d", as providers' JSON encoders do.
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return b'{"taskId": "deep", "x": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


HOSTILE: dict[str, bytes] = {
    "surrogate-task-id": dumps(every_id(f"task-{CUT}", status="completed")),
    "surrogate-error-message": dumps(
        every_id("t-err", status="failed", code=500, msg=f"cut {CUT}", error={"code": "x", "message": f"cut {CUT}"})
    ),
    "surrogate-kie-resultJson": dumps(
        every_id(
            "t-kie",
            code=200,
            data={"state": "success", "resultJson": json.dumps({"resultUrls": [f"https://a.example/{CUT}.png"]})},
        )
    ),
    "surrogate-in-url": dumps(every_id("t-url", status="completed", output=[f"https://a.example/{CUT}.png"])),
    "surrogate-key": dumps(every_id("t-key", status="completed", **{f"k{CUT}": "https://a.example/k.png"})),
    "huge-progress": dumps(every_id("t-huge", status="processing", progress=HUGE, data={"progress": HUGE})),
    "huge-negative-progress": dumps(every_id("t-neg", status="processing", progress=-HUGE, percentage=-HUGE)),
    "huge-task-id": dumps(every_id(HUGE, status="completed")),
    "huge-code": dumps(every_id("t-code", code=HUGE, status="failed", error={"code": HUGE})),
    "huge-float": b'{"taskId": "t-f", "task_id": "t-f", "id": "t-f", "progress": 1e400, "status": "running"}',
    "tiny-float": b'{"taskId": "t-t", "task_id": "t-t", "id": "t-t", "progress": 1e-400, "status": "running"}',
    "nan": b'{"taskId": "t-nan", "progress": NaN, "status": "running"}',
    "infinity": b'{"taskId": "t-inf", "progress": -Infinity}',
    "nesting-1100": nested(1100),
    "nesting-900": nested(900),
    "nesting-300": nested(300),
    "not-utf8": b'{"taskId": "t-\xff\xfe", "status": "completed"}',
}


def raw_of(content: bytes, event: dict[str, Any]) -> bytes:
    raw = event["raw"]
    if isinstance(raw, dict) and set(raw) == {"content_type", "body_base64"}:
        return base64.b64decode(raw["body_base64"])
    # A JSON body is spliced in verbatim: its bytes close the document.
    return content[content.index(b',"raw":') + len(b',"raw":') : -1]


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_body_is_stored_and_acknowledged(client: httpx.AsyncClient, provider: str, case: str) -> None:
    body = HOSTILE[case]
    path = await callback_path(client, provider)

    ack = await client.post(path, content=body, headers={"content-type": "application/json"})

    assert ack.status_code == 200, ack.text
    assert ack.json()["duplicate"] is False
    stored = await client.get(f"/v1/events/{ack.json()['event_id']}", headers=ADMIN)
    assert stored.status_code == 200
    event = json.loads(stored.content)  # the stdlib: it reads what orjson refuses (lone surrogates, big ints)
    assert raw_of(stored.content, event) == body
    assert event["provider"] == provider
    # Whatever was read out of the body is valid UTF-8 text, safe for every consumer.
    for value in (event["task_id"], json.dumps(event["error"]), json.dumps(event["outputs"])):
        assert value is None or CUT not in value
    assert event["progress"] is None or 0 <= event["progress"] <= 100

    again = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert again.status_code == 200 and again.json() == {**ack.json(), "duplicate": True}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_event_page_renders_hostile_bodies(client: httpx.AsyncClient, case: str) -> None:
    path = await callback_path(client, "generic")
    ack = await client.post(path, content=HOSTILE[case], headers={"content-type": "application/json"})
    assert ack.status_code == 200, ack.text
    await log_in(client)

    page = await client.get(f"/dashboard/events/{ack.json()['event_id']}")

    assert page.status_code == 200, page.text[:500]
    assert ack.json()["event_id"] in page.text


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_event_can_be_replayed(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
    make_settings: Callable[..., Settings],
    case: str,
) -> None:
    async with client_factory(make_settings(allow_private_targets="true")) as client:
        sub = await client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/in"}, headers=ADMIN)
        assert sub.status_code == 201, sub.text
        path = await callback_path(client, "generic")
        ack = await client.post(path, content=HOSTILE[case], headers={"content-type": "application/json"})

        replayed = await client.post(f"/v1/events/{ack.json()['event_id']}/replay", json={}, headers=ADMIN)

    assert replayed.status_code == 202, replayed.text
    assert len(replayed.json()["deliveries"]) == 1
