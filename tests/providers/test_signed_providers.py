"""Providers that sign or authenticate their callbacks (fal, PiAPI, APIFrame v2, Leonardo) and MiniMax's handshake,
against the real app and Redis; fal's keys come from a JWKS served on loopback with the test's own key pair."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relay.config import Settings
from tests.conftest import ADMIN, PROVIDERS_DIR, callback_path
from tests.dashboard.conftest import log_in
from tests.servers import run_server

pytestmark = pytest.mark.anyio
Factory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def fixture(name: str) -> bytes:
    return (PROVIDERS_DIR / name).read_bytes()


async def events_of(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await client.get("/v1/events", headers=ADMIN)).json()["data"]
    return data


# --- fal: ED25519 over request id, user id, timestamp, sha256(body); keys from a JWKS URL ---


@dataclass
class Jwks:
    keys: list[Ed25519PrivateKey] = field(default_factory=lambda: [Ed25519PrivateKey.generate()])
    hits: int = 0

    def document(self) -> dict[str, Any]:
        public = [k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in self.keys]
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "kid": f"k{n}",
                    "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
                }
                for n, raw in enumerate(public)
            ]
        }


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    state = Jwks()

    async def serve(request: Request) -> JSONResponse:
        state.hits += 1
        return JSONResponse(state.document())

    with run_server(Starlette(routes=[Route("/.well-known/jwks.json", serve)])) as url:
        yield state, f"{url}/.well-known/jwks.json"


def fal_headers(key: Ed25519PrivateKey, body: bytes, timestamp: int, request_id: str = "req-1") -> dict[str, str]:
    message = "\n".join((request_id, "user-1", str(timestamp), hashlib.sha256(body).hexdigest())).encode()
    return {
        "content-type": "application/json",
        "x-fal-webhook-request-id": request_id,
        "x-fal-webhook-user-id": "user-1",
        "x-fal-webhook-timestamp": str(timestamp),
        "x-fal-webhook-signature": key.sign(message).hex(),
    }


@pytest.fixture
async def fal_client(
    client_factory: Factory, make_settings: Callable[..., Settings], jwks: tuple[Jwks, str]
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_factory(make_settings(fal_jwks_url=jwks[1])) as client:
        yield client


async def test_fal_signed_callback_is_stored_and_bad_ones_refused(
    fal_client: httpx.AsyncClient, jwks: tuple[Jwks, str]
) -> None:
    state, _ = jwks
    path = await callback_path(fal_client, "fal")
    body = fixture("fal_webhook_ok.json")
    now = int(time.time())
    stranger = Ed25519PrivateKey.generate()

    good = await fal_client.post(path, content=body, headers=fal_headers(state.keys[0], body, now))
    forged = await fal_client.post(path, content=body, headers=fal_headers(stranger, body, now))
    stale = await fal_client.post(path, content=body, headers=fal_headers(state.keys[0], body, now - 301))
    tampered = await fal_client.post(path, content=body + b" ", headers=fal_headers(state.keys[0], body, now))
    unsigned = await fal_client.post(path, content=body, headers={"content-type": "application/json"})

    assert good.status_code == 200, good.text
    for refused in (forged, stale, tampered, unsigned):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_signature"
    assert [event["task_id"] for event in await events_of(fal_client)] == ["123e4567-e89b-12d3-a456-426614174000"]
    # One fetch for the first callback; the forged one asked for a refresh within the minute: not fetched again.
    assert state.hits == 1


async def test_fal_key_refresh_is_bounded(fal_client: httpx.AsyncClient, jwks: tuple[Jwks, str]) -> None:
    state, _ = jwks
    path = await callback_path(fal_client, "fal")
    body = fixture("fal_webhook_ok.json")
    first = await fal_client.post(path, content=body, headers=fal_headers(state.keys[0], body, int(time.time())))
    assert first.status_code == 200 and state.hits == 1

    state.keys = [Ed25519PrivateKey.generate()]  # fal rotates its key
    error = fixture("fal_webhook_error.json")
    rotated = await fal_client.post(path, content=error, headers=fal_headers(state.keys[0], error, int(time.time())))

    # Refused while the last fetch is recent (bounded refresh); the test of the refresh itself is below.
    assert rotated.status_code == 401
    assert state.hits == 1


async def test_fal_keys_refresh_when_unknown(jwks: tuple[Jwks, str]) -> None:
    from relay.providers.jwks import KeyCache

    state, url = jwks
    cache = KeyCache(url, min_interval_s=0.0)
    async with httpx.AsyncClient() as http:
        assert await cache.refresh(http, time.time())
        old = cache.keys
        state.keys = [Ed25519PrivateKey.generate()]
        assert await cache.refresh(http, time.time())
    assert cache.keys != old and len(cache.keys) == 1 and state.hits == 2


async def test_fal_unverified_when_not_configured(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "fal")
    response = await client.post(path, content=fixture("fal_webhook_ok.json"))
    assert response.status_code == 200


# --- PiAPI: x-webhook-secret; the secret never shown ---


async def test_piapi_secret_compared_and_never_shown(
    client_factory: Factory, make_settings: Callable[..., Settings]
) -> None:
    body = fixture("piapi_webhook_midjourney_completed.json")
    secret = json.loads(body)["data"]["config"]["webhook_config"]["secret"]
    async with client_factory(make_settings(piapi_webhook_secret=secret)) as client:
        path = await callback_path(client, "piapi")
        good = await client.post(path, content=body, headers={"x-webhook-secret": secret})
        wrong = await client.post(path, content=body, headers={"x-webhook-secret": secret + "x"})
        missing = await client.post(path, content=body)
        event = (await client.get(f"/v1/events/{good.json()['event_id']}", headers=ADMIN)).json()
        await log_in(client)
        page = html.unescape((await client.get(f"/dashboard/events/{good.json()['event_id']}")).text)

    assert good.status_code == 200, good.text
    assert wrong.status_code == 401 and missing.status_code == 401
    assert event["status"] == "succeeded"
    event_fields = json.dumps({k: v for k, v in event.items() if k != "raw"})
    assert secret not in event_fields
    assert "x-webhook-secret" in page and f'"secret": "{secret}"' not in page and secret not in page.split("raw")[0]
    assert '"secret": "[redacted]"' in page


# --- APIFrame v2: HMAC-SHA256 of the body keyed by SHA-256 of the API key ---


async def test_apiframe_v2_signature(client_factory: Factory, make_settings: Callable[..., Settings]) -> None:
    api_key = "af-test-key"
    body = fixture("apiframe_v2_completed.json")
    signature = hmac.new(hashlib.sha256(api_key.encode()).digest(), body, hashlib.sha256).hexdigest()
    async with client_factory(make_settings(apiframe_api_key=api_key)) as client:
        path = await callback_path(client, "apiframe")
        good = await client.post(path, content=body, headers={"x-webhook-signature": signature})
        bad = await client.post(path, content=body + b"\n", headers={"x-webhook-signature": signature})
        missing = await client.post(path, content=body)
        stored = await events_of(client)

    assert good.status_code == 200, good.text
    assert bad.status_code == 401 and missing.status_code == 401
    assert [(e["task_id"], e["type"]) for e in stored] == [("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "task.succeeded")]


# --- Leonardo: authorization: Bearer <webhook callback API key> ---


async def test_leonardo_bearer_key(client_factory: Factory, make_settings: Callable[..., Settings]) -> None:
    body = fixture("leonardo_image_generation_complete.json")
    async with client_factory(make_settings(leonardo_webhook_api_key="abcd")) as client:
        path = await callback_path(client, "leonardo")
        good = await client.post(path, content=body, headers={"authorization": "Bearer abcd"})
        wrong = await client.post(path, content=body, headers={"authorization": "Bearer abce"})
        event = (await client.get(f"/v1/events/{good.json()['event_id']}", headers=ADMIN)).json()
        await log_in(client)
        page = html.unescape((await client.get(f"/dashboard/events/{good.json()['event_id']}")).text)

    assert good.status_code == 200 and wrong.status_code == 401
    assert event["status"] == "succeeded"
    assert "[redacted]" in page  # the stored authorization header
    assert "Bearer abcd" not in page and '"webhookCallbackApiKey": "abcd"' not in page
    assert '"webhookCallbackApiKey": "[redacted]"' in page


# --- MiniMax: the challenge handshake, then status callbacks with a file_id ---


async def test_minimax_challenge_is_echoed_and_nothing_stored(client: httpx.AsyncClient) -> None:
    challenges = json.loads((PROVIDERS_DIR / "challenges.json").read_text())
    path = await callback_path(client, "minimax")

    for case in challenges:
        started = time.monotonic()
        answer = await client.post(path, content=fixture(case["file"]), headers={"content-type": "application/json"})
        assert time.monotonic() - started < 3
        assert answer.status_code == 200
        assert answer.json() == {"challenge": case["challenge"]}
    assert await events_of(client) == []

    # Positive control: the status callback that follows is stored, its file_id kept.
    done = await client.post(path, content=fixture("minimax_video_callback_success.json"))
    event = (await client.get(f"/v1/events/{done.json()['event_id']}", headers=ADMIN)).json()
    assert (event["type"], event["refs"]) == ("task.succeeded", {"file_id": "205258526306433"})
    assert len(await events_of(client)) == 1


async def test_challenge_shaped_body_is_an_event_for_other_providers(client: httpx.AsyncClient) -> None:
    path = await callback_path(client, "generic")
    ack = await client.post(path, json={"challenge": "abc"})
    assert ack.json()["received"] is True and len(await events_of(client)) == 1
