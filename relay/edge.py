"""The checks a callback passes before its body is read: the provider's IP allow-list, then the rate limits."""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import Request

from relay.clientip import check_allowed, client_address, rate_key


async def admit(request: Request, state: State, provider: str, token: str) -> None:
    """Raise ``Forbidden`` (403) or ``RateLimited`` (429) for a callback that must not go further."""
    settings = state.settings
    address = client_address(request, settings.trusted_proxies)
    check_allowed(provider, address, settings.provider_allowed_ips)
    await state.limiter.check(token, rate_key(address) if address else None, int(state.clock() * 1000))
