"""Who is calling: the client address behind trusted proxies, and the per-provider allow-lists.

``X-Forwarded-For`` is believed only as far as ``RELAY_TRUSTED_PROXIES`` reaches: walking the chain from the
right (the hop nearest to us), every trusted hop is skipped and the first untrusted one is the client. A peer
outside the trusted list is the client whatever headers it sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from starlette.requests import Request

from relay.config import Network
from relay.errors import Forbidden

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # "::ffff:203.0.113.9" is the IPv4 client of a dual-stack socket: the same client as "203.0.113.9".
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def resolve(peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> Address | None:
    """The client address, from the socket peer and the ``X-Forwarded-For`` header values (in order)."""
    current = parse_address(peer) if peer else None
    if current is None or not _trusted(current, proxies):
        return current
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # A garbled hop ends what we can believe; the last trusted hop stands in for the client.
            return current
        current = address
        if not _trusted(current, proxies):
            return current
    return current


def client_address(request: Request, proxies: Sequence[Network]) -> Address | None:
    peer = request.client.host if request.client else None
    return resolve(peer, request.headers.getlist("x-forwarded-for"), proxies)


def rate_key(address: Address) -> str:
    """The rate-limit identity of an address: IPv6 clients get a /64 each, so they cannot rotate around it."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False).network_address) + "/64"
    return str(address)


def check_allowed(provider: str, address: Address | None, allowed: Mapping[str, Sequence[Network]]) -> None:
    """Raise :class:`Forbidden` when ``provider`` has an allow-list and ``address`` is not on it."""
    networks = allowed.get(provider)
    if networks is None:
        return
    if address is None or not any(address in network for network in networks):
        raise Forbidden(f"client address {str(address)!r} may not call {provider!r} callbacks")
