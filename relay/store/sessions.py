"""Dashboard sessions that ended server-side: a logged-out session's signed cookie is refused even if replayed.

The cookie (``relay/dashboard/session.py``) carries a random ``sid``; logging out records it here for as long as
the cookie could still be valid, so a copy of the cookie taken before the logout no longer opens the dashboard.
"""

from __future__ import annotations

from redis.asyncio import Redis

from relay.store import keys


class SessionRevocations:
    """:param redis: the app's client; the caller owns and closes it."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def revoke(self, sid: str, ttl_s: int) -> None:
        await self.redis.set(keys.dashboard_logout(sid), b"1", ex=ttl_s)

    async def revoked(self, sid: str) -> bool:
        return bool(await self.redis.exists(keys.dashboard_logout(sid)))
