"""Public keys fetched from a JWKS URL (fal's webhook keys), cached, refreshed outside the adapters.

Adapters stay pure: they verify against :attr:`KeyCache.keys`. When no cached key verifies a callback, the
adapter raises :class:`KeysUnknown` and the callback route refreshes the cache once (at most every
``min_interval_s``, each fetch bounded by ``timeout_s``) with the app's shared HTTP client, then verifies again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from relay.errors import SignatureInvalid

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024


class KeysUnknown(SignatureInvalid):
    """No cached key verifies the signature: the keys may have rotated; refresh once, then decide."""


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ed25519_keys(jwks: object) -> tuple[Ed25519PublicKey, ...]:
    """The Ed25519 keys (``kty`` OKP, ``crv`` Ed25519) of a JWKS document; anything else is skipped."""
    found = []
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        x = entry.get("x")
        if not isinstance(x, str):
            continue
        try:
            found.append(Ed25519PublicKey.from_public_bytes(_b64url(x)))
        except (ValueError, binascii.Error):
            continue
    return tuple(found)


class KeyCache:
    def __init__(self, url: str, *, min_interval_s: float = 60.0, timeout_s: float = 3.0) -> None:
        self.url = url
        self.keys: tuple[Ed25519PublicKey, ...] = ()
        self._min_interval_s = min_interval_s
        self._timeout_s = timeout_s
        self._fetched_at = -math.inf
        self._lock = asyncio.Lock()

    async def refresh(self, http: httpx.AsyncClient, now: float) -> bool:
        """Fetch the keys again unless fetched less than ``min_interval_s`` ago; True when new keys were loaded."""
        async with self._lock:
            if now - self._fetched_at < self._min_interval_s:
                return False
            self._fetched_at = now
            try:
                async with asyncio.timeout(self._timeout_s):
                    response = await http.get(self.url, headers={"accept": "application/json"})
                response.raise_for_status()
                if len(response.content) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS document too large")
                keys = ed25519_keys(response.json())
            except (httpx.HTTPError, TimeoutError, ValueError) as exc:
                logger.warning("could not refresh the keys at %s: %s", self.url, exc)
                return False
            if not keys:
                logger.warning("no Ed25519 key in the JWKS document at %s", self.url)
                return False
            self.keys = keys
            return True
