"""What the callback route asks of an adapter beyond parse: verification with a key refresh, handshakes, and the
credentials a provider sends that must never be stored in the clear."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from relay.errors import SignatureInvalid
from relay.providers.base import Provider
from relay.providers.jwks import KeysUnknown

# Provider credentials in headers (Leonardo's bearer key, PiAPI's x-webhook-secret...): stored as this.
REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-webhook-secret", "x-api-key"})


async def verify(
    provider: Provider, http: httpx.AsyncClient, headers: Mapping[str, str], payload: Any, now: float, body: bytes
) -> None:
    """``provider.verify``; when it does not know the signer (keys may have rotated), refresh its keys once
    (bounded: one fetch per minute at most, 3 s each) and verify again."""
    try:
        provider.verify(headers, payload, now, body=body)
    except KeysUnknown as exc:
        refresh = getattr(provider, "refresh_keys", None)
        if refresh is None or not await refresh(http, now):
            raise SignatureInvalid(str(exc), provider=provider.name) from None
        provider.verify(headers, payload, now, body=body)


def handshake_answer(provider: Provider, payload: Any) -> bytes | None:
    handshake = getattr(provider, "handshake", None)
    answer: bytes | None = handshake(payload) if handshake is not None else None
    return answer


def redact_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if not any(name.lower() in SECRET_HEADERS for name, _ in headers):
        return headers
    return [(name, REDACTED if name.lower() in SECRET_HEADERS else value) for name, value in headers]
