"""The checks a callback passes before its body is read: the provider's IP allow-list, then the rate limits."""

from __future__ import annotations

from starlette.datastructures import State
from starlette.requests import Request

from relay.clientip import check_allowed, client_address, parse_address, rate_key

# Peer address -> its rate-limit key ("" for a peer that is not an IP address, e.g. a unix socket path).
_PEER_KEYS: dict[str, str] = {}
MAX_PEER_KEYS = 10_000


async def admit(request: Request, state: State, provider: str, token: str) -> None:
    """Raise ``Forbidden`` (403) or ``RateLimited`` (429) for a callback that must not go further."""
    settings = state.settings
    limiter = state.limiter
    if provider not in settings.provider_allowed_ips and not limiter.address.enabled:
        # Nothing needs the client's address: don't parse it (and X-Forwarded-For) per request.
        if limiter.token.enabled:
            await limiter.check(token, None, int(state.clock() * 1000))
        return
    if provider not in settings.provider_allowed_ips and not settings.trusted_proxies:
        # The usual case: the address limit on the peer itself, whose rate key is worth parsing once, not per request.
        client = request.scope.get("client")
        peer = client[0] if client else None
        key = _PEER_KEYS.get(peer) if peer is not None else None
        if key is None and peer is not None:
            parsed = parse_address(peer)
            key = rate_key(parsed) if parsed is not None else ""
            if len(_PEER_KEYS) >= MAX_PEER_KEYS:
                _PEER_KEYS.clear()
            _PEER_KEYS[peer] = key
        await limiter.check(token, key or None, int(state.clock() * 1000))
        return
    address = client_address(request, settings.trusted_proxies)
    check_allowed(provider, address, settings.provider_allowed_ips)
    await limiter.check(token, rate_key(address) if address else None, int(state.clock() * 1000))
