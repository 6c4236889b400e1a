"""Standard Webhooks signatures (https://www.standardwebhooks.com): outbound deliveries and signed inbound calls.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; a signature is ``v1,`` + base64 of its
HMAC-SHA256 under the secret's bytes (``whsec_`` + base64). While a secret rotates, ``webhook-signature`` holds
several signatures separated by spaces, and a verifier accepts any one it can check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

from relay.errors import SignatureInvalid

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; raises ValueError for anything else (a configuration error)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret must be 'whsec_' followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per secret, space-separated (newest first)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def webhook_headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
    }


def verify(
    secrets_: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance_s: int = 300,
    provider: str | None = None,
) -> None:
    """Raise :class:`SignatureInvalid` unless ``headers`` carry a fresh signature by one of ``secrets_``.

    Total: any missing or malformed header is a ``SignatureInvalid``, never a ValueError.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    timestamp_text = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not timestamp_text or not signatures:
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature header", provider)
    # isascii: "²".isdigit() is true, and int("²") raises ValueError.
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise SignatureInvalid("webhook-timestamp is not a unix time in seconds", provider)
    timestamp = int(timestamp_text)
    if not abs(now - timestamp) <= tolerance_s:  # written so that a NaN clock fails closed
        raise SignatureInvalid(f"webhook-timestamp is more than {tolerance_s} s away from now", provider)
    expected = [sign(secret, msg_id, timestamp, body).encode() for secret in secrets_]
    for candidate in signatures.split():
        if any(hmac.compare_digest(candidate.encode(), wanted) for wanted in expected):
            return
    raise SignatureInvalid("no webhook-signature matches", provider)
