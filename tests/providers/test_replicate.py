"""Replicate prediction webhooks: parsing, and Standard Webhooks signatures made by the official package."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from standardwebhooks import Webhook

from relay.errors import SignatureInvalid
from relay.providers.replicate import ReplicateProvider
from relay.signing import new_secret
from tests.conftest import ADMIN, PROVIDERS_DIR, callback_path

SHARED = json.loads((PROVIDERS_DIR / "replicate_prediction_succeeded.json").read_text())
API_LINKS = {"get": "https://api.replicate.com/v1/predictions/p1", "cancel": "https://api.replicate.com/v1/c"}


def prediction(**fields: Any) -> dict[str, Any]:
    return {
        "id": "p1",
        "model": "black-forest-labs/flux-schnell",
        "input": {"prompt": "a cat", "image": "https://in.example/source.png"},
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting",
        "urls": API_LINKS,
        **fields,
    }


def test_shared_text_prediction_has_no_outputs() -> None:
    update = ReplicateProvider().parse(SHARED)

    assert update is not None
    assert update.task_id == "gm3qorzdhgbfurvjtvhg6dckhu"
    assert update.status == "succeeded" and update.event_type == "task.succeeded"
    assert update.outputs == ()  # "hello Alice" is text, and the urls.* API links are never results
    assert update.error is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("https://replicate.delivery/a/out.png", [("https://replicate.delivery/a/out.png", "image")]),
        (
            ["https://replicate.delivery/a/0.webp", "https://replicate.delivery/a/1.mp4"],
            [("https://replicate.delivery/a/0.webp", "image"), ("https://replicate.delivery/a/1.mp4", "video")],
        ),
        ({"audio_out": "https://replicate.delivery/x", "text": "hi"}, [("https://replicate.delivery/x", "audio")]),
        ("hello https://replicate.delivery/not-a-file.png", []),
        (["Hello", " world"], []),
        (None, []),
    ],
)
def test_outputs(output: Any, expected: list[tuple[str, str]]) -> None:
    update = ReplicateProvider().parse(prediction(status="succeeded", output=output))

    assert update is not None
    assert [(o.url, o.kind) for o in update.outputs] == expected


@pytest.mark.parametrize(
    ("status", "fields", "expected"),
    [
        ("starting", {}, ("queued", None, None)),
        ("processing", {"logs": "loading\n 10%|█ | 1/10\n 45%|████▌ | 45/100 [00:02<00:03]"}, ("processing", 45, None)),
        ("processing", {"logs": "no bar here"}, ("processing", None, None)),
        ("succeeded", {"output": "https://replicate.delivery/o.png"}, ("succeeded", 100, None)),
        ("failed", {"error": "CUDA out of memory"}, ("failed", None, ("failed", "CUDA out of memory"))),
        ("canceled", {}, ("failed", None, ("canceled", "prediction canceled"))),
    ],
)
def test_status_progress_and_error(status: str, fields: dict[str, Any], expected: tuple[Any, ...]) -> None:
    update = ReplicateProvider().parse(prediction(status=status, **fields))

    assert update is not None
    error = (update.error.code, update.error.message) if update.error else None
    assert (update.status, update.progress, error) == expected


def test_progress_steps_are_distinct_events_and_terminal_retries_are_not() -> None:
    provider = ReplicateProvider()
    states = [provider.parse(prediction(status="processing", logs=f" {p}%|██ | {p}/100")) for p in (10, 10, 50)] + [
        provider.parse(prediction(status="processing", output=["https://replicate.delivery/0.png"]))
    ]
    done = [provider.parse(prediction(status="succeeded", completed_at=at)) for at in ("t1", "t2")]

    assert len({u.dedup_state for u in states if u}) == 3
    assert len({u.dedup_state for u in done if u}) == 1


def test_unrecognized_bodies() -> None:
    provider = ReplicateProvider()
    assert provider.parse([1, 2]) is None
    assert provider.parse({"status": "succeeded"}) is None  # no prediction id


def event_keys(redis_url: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [key for key in client.keys("*") if not key.startswith(b"relay:rl:")]
    finally:
        client.close()


SECRET = new_secret()
NOW = 1_700_000_000


def signed(body: bytes, secret: str = SECRET, at: int = NOW, msg_id: str = "msg_1") -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def test_verify_accepts_the_official_signature() -> None:
    body = json.dumps(prediction(status="succeeded")).encode()

    ReplicateProvider([SECRET]).verify(signed(body), None, NOW + 299, body=body)
    ReplicateProvider([SECRET]).verify(signed(body), None, NOW - 299, body=body)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: (h, b + b" "),
        lambda h, b: (signed(b, secret=new_secret()), b),
        lambda h, b: (signed(b, at=NOW - 301), b),
        lambda h, b: (signed(b, at=NOW + 301), b),
        lambda h, b: ({**h, "webhook-id": "msg_2"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "²³"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "-1"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "9" * 400}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,%%%not-base64 v2,x ,"}, b),
        lambda h, b: ({**h, "webhook-signature": "ÿ\x00"}, b),
        lambda h, b: ({}, b),
    ],
)
def test_verify_refuses_with_signature_invalid_only(mangle: Callable[..., Any]) -> None:
    body = json.dumps(prediction(status="succeeded")).encode()
    headers, sent = mangle(signed(body), body)

    with pytest.raises(SignatureInvalid) as caught:
        ReplicateProvider([SECRET]).verify(headers, None, NOW, body=sent)
    assert caught.value.provider == "replicate"


def test_verify_is_off_without_a_secret() -> None:
    ReplicateProvider().verify({}, None, NOW, body=b"{}")


@pytest.mark.anyio
async def test_http_signed_callbacks_are_stored_and_malformed_ones_get_401(
    client_factory: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
    make_settings: Callable[..., Any],
    redis_url: str,
) -> None:
    settings = make_settings(replicate_webhook_secret=SECRET)
    body = json.dumps(prediction(status="succeeded", output=["https://replicate.delivery/0.png"])).encode()
    async with client_factory(settings, clock=lambda: float(NOW)) as client:
        path = await callback_path(client, "replicate")
        refused = [
            await client.post(path, content=body, headers=headers)
            for headers in (
                {},
                {**signed(body), "webhook-signature": "v1,@@@"},
                {**signed(body), "webhook-timestamp": "later"},
                signed(body, at=NOW - 3600),
                signed(body, secret=new_secret()),
            )
        ]
        stored_before = event_keys(redis_url)
        ok = await client.post(path, content=body, headers=signed(body))
        event = (await client.get(f"/v1/events/{ok.json()['event_id']}", headers=ADMIN)).json()

    assert [r.status_code for r in refused] == [401] * 5
    assert {r.json()["error"]["code"] for r in refused} == {"invalid_signature"}
    assert stored_before == []  # nothing of a refused callback is stored (only the rate-limit buckets exist)
    assert ok.status_code == 200
    assert event["task_id"] == "p1" and event["type"] == "task.succeeded"
    assert [o["url"] for o in event["outputs"]] == ["https://replicate.delivery/0.png"]
