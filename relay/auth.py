"""The admin API's bearer token check."""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from relay.errors import Unauthorized


def require_admin(request: Request) -> None:
    """Raise :class:`Unauthorized` unless the request carries ``Authorization: Bearer <RELAY_ADMIN_TOKEN>``."""
    expected = hashlib.sha256(str(request.state.settings.admin_token).encode()).digest()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Digests of both sides: compare_digest is then constant time over equal lengths, so not even the token's
    # length leaks; bytes, so non-ASCII input is no TypeError.
    if scheme.lower() != "bearer" or not hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), expected):
        raise Unauthorized("missing or wrong admin token; send `Authorization: Bearer $RELAY_ADMIN_TOKEN`")
