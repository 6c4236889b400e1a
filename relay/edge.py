"""The checks a callback passes before its body is read: the provider's IP allow-list, then the rate limits."""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import Request

from relay.clientip import check_allowed, client_address, rate_key


async def admit(request: Request, state: State, provider: str, token: str) -> None:
    """Raise ``Forbidden`` (403) or ``RateLimited`` (429) for a callback that must not go further."""
    settings = state.settings
    limiter = state.limiter
    if provider not in settings.provider_allowed_ips and not limiter.address.enabled:
        # Nothing needs the client's address: don't parse it (and X-Forwarded-For) per request.
        if limiter.token.enabled:
            await limiter.check(token, None, int(state.clock() * 1000))
        return
    address = client_address(request, settings.trusted_proxies)
    check_allowed(provider, address, settings.provider_allowed_ips)
    await limiter.check(token, rate_key(address) if address else None, int(state.clock() * 1000))
