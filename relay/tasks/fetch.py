"""One request to a provider's status endpoint, classified; the provider's key never leaves this module's request.

Exceptions stop here: a transport error, a timeout, an error status or an unreadable answer becomes a
:class:`Fetched` with an ``error`` that is safe to store and log (the key is scrubbed from anything the provider
echoes back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from relay.delivery.schedule import parse_retry_after
from relay.events import parse_json
from relay.tasks.catalog import AUTH_HEADERS, Endpoint, StatusRequest, build_request

ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one status request brought back.

    ``payload`` is what to give the provider's adapter (None: nothing to store), ``body`` the raw answer bytes,
    ``error`` a short description when the answer was no usable one, ``retry_after_s`` a 429's wait.
    """

    request: StatusRequest
    status_code: int | None = None
    body: bytes = b""
    payload: Any = None
    error: str | None = None
    retry_after_s: float | None = None
    throttled: bool = False

    @property
    def reached(self) -> bool:
        return self.status_code is not None


def scrub(text: str, key: str) -> str:
    """``text`` cut short, with the key replaced wherever the provider echoed it."""
    if key:
        text = text.replace(key, "***")
    return text[:ERROR_CHARS]


async def fetch_status(
    http: httpx.AsyncClient,
    *,
    base: str,
    provider: str,
    endpoint: Endpoint,
    task_id: str,
    service: str,
    key: str,
    timeout_s: float,
    now: float | None = None,
) -> Fetched:
    request = build_request(endpoint, task_id, service)
    header, prefix = AUTH_HEADERS[provider]
    try:
        response = await http.request(
            request.method,
            base + request.path,
            params=request.params or None,
            data=request.form,
            json=request.json,
            headers={header: prefix + key, "accept": "application/json"},
            timeout=timeout_s,
        )
    except httpx.TimeoutException:
        return Fetched(request, error=f"no answer within {timeout_s} s", throttled=True)
    except httpx.HTTPError as exc:
        # The exception's text can name the URL (never the key, which is in a header), but is kept short anyway.
        return Fetched(request, error=scrub(f"{type(exc).__name__}: {exc}", key))
    body = response.content
    if response.status_code == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"), now if now is not None else time.time())
        return Fetched(request, 429, body, error="rate limited (429)", retry_after_s=retry_after, throttled=True)
    is_json, payload = parse_json(body)
    if response.status_code >= 400:
        detail = _message(payload) if is_json else ""
        return Fetched(request, response.status_code, body, error=scrub(f"HTTP {response.status_code} {detail}", key))
    if not is_json:
        return Fetched(request, response.status_code, body, error="answer is not JSON")
    answer = endpoint.read(payload)
    if answer.error is not None:
        return Fetched(request, response.status_code, body, error=scrub(answer.error, key))
    return Fetched(request, response.status_code, body, payload=answer.payload)


def _message(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    for name in ("msg", "message", "detail", "error", "title"):
        value = payload.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    return ""
