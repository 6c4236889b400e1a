"""The admin API's bearer token check."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from relay.errors import Unauthorized


def require_admin(request: Request) -> None:
    """Raise :class:`Unauthorized` unless the request carries ``Authorization: Bearer <RELAY_ADMIN_TOKEN>``."""
    expected = str(request.state.settings.admin_token).encode()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest on bytes: constant time, and no TypeError for non-ASCII input.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthorized("missing or wrong admin token; send `Authorization: Bearer $RELAY_ADMIN_TOKEN`")
